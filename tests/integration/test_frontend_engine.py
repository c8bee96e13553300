"""`frontend` on the real engine: the daemon's Dockerfile frontend run while compiling, its result built on.

The Dockerfile's steps run (evaluated) while compiling; the final solve re-uses
their ops byte for byte, so the daemon finds them in its cache.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Engine

from hlb.llb import Mkfile, Platform, State
from hlb.resolver import FrontendError
from hlb.solver.gateway import GatewayResolver


def program(dockerfile: str, content: str) -> str:
    dockerfile = dockerfile.replace("\n", "\\n").replace('"', '\\"')
    return f"""fs default() {{
	frontend "dockerfile.v0" with option {{
		input "context" fs {{
			scratch
			mkfile "/a.txt" 0o644 "{content}"
		}}
		input "dockerfile" fs {{
			scratch
			mkfile "/Dockerfile" 0o644 "{dockerfile}"
		}}
	}}
	run "cat /a.txt; test \\"$FROM_DOCKERFILE\\" = 1"
}}
"""


def test_a_dockerfile_result_is_built_on_with_its_env(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    dockerfile = f"FROM busybox:latest\nENV FROM_DOCKERFILE=1\nCOPY a.txt /a.txt\nRUN cat /a.txt && sleep 3 # {nonce}"
    build.write_text(program(dockerfile, f"hi-{nonce}"))
    result = engine.hlb("run", "--progress", "plain", str(build))
    assert result.returncode == 0, result.stderr
    run = re.search(r"^#(\d+) /bin/sh -c 'cat /a.txt; test ", result.stderr, re.M)
    assert run is not None, result.stderr
    assert re.search(rf"^#{run.group(1)} hi-{nonce}$", result.stderr, re.M), result.stderr  # the Dockerfile's file
    # The Dockerfile's ops are in the final graph under their own names, and with their own
    # digests: the daemon re-uses the RUN that ran while compiling instead of running it again.
    assert re.search(rf"^#\d+ \[3/3\] RUN cat /a.txt && sleep 3 # {nonce}$", result.stderr, re.M), result.stderr
    took = re.search(r"^hlb: default: .* in (\d+\.\d+)s$", result.stderr, re.M)
    assert took is not None and float(took.group(1)) < 3, result.stderr


def test_a_failing_dockerfile_step_is_one_line_at_the_frontend_call(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(program(f"FROM busybox:latest\nRUN echo {nonce} && exit 1", "hi"))
    result = engine.hlb("run", "--progress", "plain", str(build))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line and "frontend `dockerfile.v0`" in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"{build}:2:2: error"), result.stderr  # at the `frontend` call
    assert f'process "/bin/sh -c echo {nonce} && exit 1" did not complete successfully: exit code: 1' in errors[0]
    assert "Traceback" not in result.stderr


def test_the_gateway_build_stays_usable_after_a_frontend_failure(engine: Engine, nonce: str) -> None:
    platform = Platform("linux", "amd64")

    def dockerfile(text: str) -> dict[str, object]:
        return {"dockerfile": State().file(Mkfile("/Dockerfile", 0o644, text.encode())).marshal(platform)}

    with engine.client() as client, GatewayResolver(client) as resolver:
        try:
            resolver.frontend("dockerfile.v0", {}, dockerfile("FRM busybox"), platform)  # type: ignore[arg-type]
        except FrontendError as e:
            assert str(e).startswith("frontend `dockerfile.v0` failed: dockerfile parse error on line 1"), e
            assert "\n" not in str(e)
        else:
            raise AssertionError("a Dockerfile syntax error was accepted")
        text = f"FROM busybox:latest\nENV NONCE={nonce}\nWORKDIR /src\nUSER nobody"
        ok = resolver.frontend("dockerfile.v0", {}, dockerfile(text), platform)  # type: ignore[arg-type]
        assert ok.definition is not None and ok.image_config is not None
        assert f'"NONCE={nonce}"' in ok.image_config.decode()
        empty = resolver.frontend("dockerfile.v0", {}, dockerfile("FROM scratch"), platform)  # type: ignore[arg-type]
        assert empty.definition is None  # no ref: scratch
        assert resolver.resolve("busybox:latest", platform).digest.startswith("sha256:")
