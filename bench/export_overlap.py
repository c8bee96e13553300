#!/usr/bin/env python3
"""Image and cache export of one build: overlapped (hlb's plan) against sequential, and against buildx.

The build writes one large layer of random bytes (default 300 MiB) on busybox, then exports it twice: pushed as
an image and exported as a `mode=max` registry cache, both to the loopback registry. Three ways, interleaved,
each round with new refs and a new layer (nothing is found in the registry or the build cache):

* `overlapped`: `hlb run -t release --cache-to ...`: hlb's plan runs two concurrent solves of one graph, one
  pushing the image, one exporting the cache; the daemon builds the graph once.
* `sequential`: the same compiled plan with the cache export moved onto the push solve: one solve that exports
  the image, then the cache (what BuildKit before v0.28 does with both in one solve; what hlb did before).
* `buildx`: `docker buildx build --push --cache-to type=registry,...,mode=max` of the equivalent Dockerfile on
  the same engine (one solve, so sequential too).

    .venv/bin/python bench/export_overlap.py [--mib N] [--runs R] [--stream-mbit M]

On loopback the registry, the daemon and the compression share the machine's two cores and one disk, so two
uploads at once mostly split them. `--stream-mbit M` puts a proxy in front of the registry that carries each TCP
connection at M Mbit/s, as a registry across a network does (one stream's throughput is bounded by its window
and round trip); that is where exporting the image and the cache at once pays.

Needs the engine (scripts/engine up). Prints the median wall time of each and the ratios; raw samples go to
bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from results_file import save  # noqa: E402
from warm_noop import engine_env  # noqa: E402

REGISTRY = "127.0.0.1:5000"
THROTTLED_PORT = 5055

HLB = """\
fs release() {{
	image "busybox:latest"
	run "dd if=/dev/urandom of=/big bs=1048576 count={mib} 2>/dev/null; echo {nonce}" with network("none")
	dockerPush "{image}"
}}
"""

DOCKERFILE = """\
FROM busybox:latest
RUN dd if=/dev/urandom of=/big bs=1048576 count={mib} 2>/dev/null; echo {nonce}
"""


def refs(nonce: str, registry: str) -> tuple[str, str]:
    return f"{registry}/hlb-bench/{nonce}/app:x", f"{registry}/hlb-bench/{nonce}/cache:x"


class StreamThrottle:
    """A loopback TCP proxy to the registry that carries each connection at ``mbit`` Mbit/s each way."""

    def __init__(self, mbit: float, port: int = THROTTLED_PORT) -> None:
        self.rate = mbit * 1e6 / 8  # bytes per second per connection and direction
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 5000))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        start, sent = time.monotonic(), 0
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
                sent += len(data)
                ahead = sent / self.rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()


def one_solve(build: str, cache: str) -> int:
    """The sequential form: the plan's push solve with the cache export on it, run as one solve."""
    from hlb.address import resolve
    from hlb.api import compile_source, load
    from hlb.build.runner import Runner
    from hlb.llb import default_platform
    from hlb.progress.display import PlainProgress
    from hlb.solver.client import BuildkitClient
    from hlb.values import CacheEntry

    platform = default_platform()
    plan = compile_source(load(build), ["release"], platform).plan(platform)
    (push,) = plan.solves
    push.cache_exports = (CacheEntry("registry", {"ref": cache, "mode": "max"}),)
    with BuildkitClient(resolve()) as client, open(os.devnull, "w") as quiet:
        runner = Runner(client, load(build), False, many=False, progress=PlainProgress(quiet))
        return runner.solve(push)


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=300, help="size of the random layer (default 300 MiB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stream-mbit", type=float, default=0, help="carry each registry connection at M Mbit/s")
    parser.add_argument("--one-solve", nargs=2, metavar=("BUILD", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_solve:
        return one_solve(*args.one_solve)
    env = engine_env()
    python = str(ROOT / ".venv" / "bin" / "python")
    prefix = Path(env.get("HLB_ENGINE_PREFIX", "/var/lib/hlb-engine/prefix"))
    samples: dict[str, list[float]] = {"overlapped": [], "sequential": [], "buildx": []}
    throttle = StreamThrottle(args.stream_mbit) if args.stream_mbit else None
    registry = f"127.0.0.1:{throttle.port}" if throttle else REGISTRY
    with tempfile.TemporaryDirectory(prefix="hlb-bench-") as tmp:
        work = Path(tmp)
        plugins = work / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-buildx").symlink_to(prefix / "usr/libexec/docker/cli-plugins/docker-buildx")
        env["DOCKER_CONFIG"] = str(work / "docker-config")
        ctx = work / "ctx"
        ctx.mkdir()
        for run in range(args.runs):
            order = list(samples)[run % 3 :] + list(samples)[: run % 3]
            for way in order:
                nonce = uuid.uuid4().hex[:12]
                image, cache = refs(nonce, registry)
                build = work / f"{nonce}.hlb"
                build.write_text(HLB.format(mib=args.mib, nonce=nonce, image=image))
                if way == "overlapped":
                    cmd = [python, "-m", "hlb", "run", "--progress", "plain", "-t", "release"]
                    cmd += ["--cache-to", f"type=registry,ref={cache},mode=max", str(build)]
                elif way == "sequential":
                    cmd = [python, str(Path(__file__).resolve()), "--one-solve", str(build), cache]
                else:
                    (ctx / "Dockerfile").write_text(DOCKERFILE.format(mib=args.mib, nonce=nonce))
                    cmd = ["docker", "buildx", "build", "--progress", "plain", "--push", "-t", image]
                    cmd += ["--cache-to", f"type=registry,ref={cache},mode=max", str(ctx)]
                took = timed(cmd, env, work)
                samples[way].append(took)
                print(f"run {run + 1} {way}: {took:.2f}s", flush=True)
    if throttle:
        throttle.close()
    med = {k: statistics.median(v) for k, v in samples.items()}
    link = f", {args.stream_mbit:g} Mbit/s per stream" if throttle else ", loopback"
    print(
        f"median over {args.runs} runs, {args.mib} MiB layer{link}: overlapped {med['overlapped']:.2f}s, "
        f"sequential {med['sequential']:.2f}s, buildx {med['buildx']:.2f}s; "
        f"overlapped/sequential {med['overlapped'] / med['sequential']:.2f}, "
        f"overlapped/buildx {med['overlapped'] / med['buildx']:.2f}"
    )
    record = {"mib": args.mib, "stream_mbit": args.stream_mbit, "samples": samples}
    save("export_overlap", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
