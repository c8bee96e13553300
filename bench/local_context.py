"""Sending a local context to the daemon: `hlb run` against `docker buildx build`, same engine, same files.

    eval "$(scripts/engine env)"
    .venv/bin/python bench/local_context.py                 # 1 GiB in 4096 files of 256 KiB
    .venv/bin/python bench/local_context.py --mib 256       # RSS must not grow with the context
    .venv/bin/python bench/local_context.py --hlb "A/.venv/bin/python -m hlb" --hlb "B/.venv/bin/python -m hlb"

Each tool builds the equivalent of `FROM scratch` + `COPY . /` (hlb: `copy fs { local DIR } "/" "/"`,
no export; buildx: `--output type=cacheonly`), runs interleaved:

* cold: the context directory is renamed first (same files, new path), so neither tool's
  incremental-transfer state applies (the daemon keys it by the session's shared key and the
  source's path) and every byte is sent;
* warm: one file is rewritten, the directory stays where it is: the daemon compares the listing
  with its previous copy and asks for the one changed file (the COPY still runs again).

Reported per run: wall time of the whole command, MB/s (context size / wall), the daemon's own
"transferring" line (bytes and seconds it measured for the context), and the client's peak RSS
(getrusage of the finished command and all its children, via a small wrapper process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILDX = Path("/var/lib/hlb-engine/prefix/usr/libexec/docker/cli-plugins/docker-buildx")
WRAPPER = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "sys.stderr.buffer.write(r.stderr)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(r.returncode)\n"
)
TRANSFER = re.compile(r"transferring (?:context|hlb-[0-9a-f]+): ([\d.]+)([kMG]?B) (?:([\d.]+)s )?done")
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def make_context(where: Path, mib: int, file_kib: int) -> Path:
    ctx = where / "ctx-0"
    count = mib * 1024 // file_kib
    ctx.mkdir(parents=True)
    for i in range(count):
        sub = ctx / f"d{i // 256:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(file_kib * 1024))
    return ctx


def measure(cmd: list[str], cwd: Path) -> dict[str, float | str]:
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], cwd=cwd, capture_output=True, text=True)
    wall = time.monotonic() - start
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{r.stderr[-3000:]}")
    m = TRANSFER.findall(r.stderr)
    sent = max((float(n) * UNITS[u] for n, u, _ in m), default=0.0)
    secs = max((float(s) for _, _, s in m if s), default=0.0)
    return {"wall": wall, "rss_mib": int(r.stdout.split()[-1]) / 1024, "daemon_bytes": sent, "daemon_s": secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024, help="context size")
    ap.add_argument("--file-kib", type=int, default=256, help="size of each file")
    ap.add_argument("--runs", type=int, default=3, help="cold and warm runs per tool")
    ap.add_argument("--tools", default="hlb,buildx")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--hlb",
        action="append",
        help="the hlb command, split on spaces (default: this checkout's `.venv/bin/python -m hlb`); repeat it to "
        "compare several (e.g. two commits): tools hlb1, hlb2... replace hlb, all interleaved",
    )
    args = ap.parse_args()
    if not os.environ.get("DOCKER_HOST"):
        raise SystemExit('set DOCKER_HOST first: eval "$(scripts/engine env)"')
    hlbs = args.hlb or [f"{ROOT / '.venv/bin/python'} -m hlb"]
    commands = {"hlb": hlbs[0]} if len(hlbs) == 1 else {f"hlb{i + 1}": h for i, h in enumerate(hlbs)}
    tools = [n for t in args.tools.split(",") for n in (commands if t == "hlb" else [t])]
    for name, command in commands.items():
        print(f"{name} = {command}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="hlb-bench-ctx-"))
    try:
        t0 = time.monotonic()
        ctx = make_context(work, args.mib, args.file_kib)
        print(
            f"context: {args.mib} MiB in {args.mib * 1024 // args.file_kib} files, made in "
            f"{time.monotonic() - t0:.1f}s at {work}",
            file=sys.stderr,
        )
        dockerfile = work / "Dockerfile"
        dockerfile.write_text("FROM scratch\nCOPY . /\n")
        size = args.mib * 1024 * 1024
        results: dict[str, dict[str, list[dict[str, float | str]]]] = {t: {"cold": [], "warm": []} for t in tools}
        n = 0
        for run in range(args.runs):
            for kind in ("cold", "warm"):
                if kind == "cold":  # a path neither tool has sent before
                    n += 1
                    fresh = work / f"ctx-{n}"
                    ctx.rename(fresh)
                    ctx = fresh
                for tool in tools[run % len(tools) :] + tools[: run % len(tools)]:  # each run starts elsewhere
                    # New bytes in one file before every command: warm, the one file to send; cold too, so that no
                    # command's copy step is a cache hit on the same content that another sent just before.
                    (ctx / "d000" / "f00000.bin").write_bytes(os.urandom(args.file_kib * 1024))
                    build_dir = work / f"{tool}-{ctx.name}"  # hlb's session shared key follows the cwd
                    build_dir.mkdir(exist_ok=True)
                    if tool in commands:
                        hlb_file = build_dir / "build.hlb"
                        hlb_file.write_text(f'fs default() {{\n\tcopy fs {{ local "{ctx}"; }} "/" "/"\n}}\n')
                        cmd = [*commands[tool].split(), "run", str(hlb_file)]
                    else:
                        cmd = [
                            str(BUILDX),
                            "build",
                            "--progress",
                            "plain",
                            "-f",
                            str(dockerfile),
                            "--output",
                            "type=cacheonly",
                            str(ctx),
                        ]
                    m = measure(cmd, build_dir)
                    m["mb_s"] = size / 1e6 / float(m["wall"])
                    results[tool][kind].append(m)
                    print(
                        f"run {run + 1} {kind:4} {tool:6}: {m['wall']:6.2f}s {m['mb_s']:7.1f} MB/s  "
                        f"rss {m['rss_mib']:6.1f} MiB  daemon: {float(m['daemon_bytes']) / 1e6:8.1f} MB "
                        f"in {m['daemon_s']}s",
                        file=sys.stderr,
                    )
        machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"
        print(f"\n{args.mib} MiB, {args.mib * 1024 // args.file_kib} files, {args.runs} runs; {machine}")
        print("| tool | case | wall median (s) | MB/s | daemon transfer (MB in s) | peak RSS max (MiB) |")
        print("|---|---|---|---|---|---|")
        for tool in tools:
            for kind in ("cold", "warm"):
                ms = results[tool][kind]
                wall = statistics.median(float(m["wall"]) for m in ms)
                sent = statistics.median(float(m["daemon_bytes"]) for m in ms) / 1e6
                secs = statistics.median(float(m["daemon_s"]) for m in ms)
                rss = max(float(m["rss_mib"]) for m in ms)
                print(
                    f"| {tool} | {kind} | {wall:.2f} | {size / 1e6 / wall:.0f} | {sent:.1f} in {secs:.1f} | {rss:.1f} |"
                )
        if args.json:
            print(json.dumps(results))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
