"""`hlb run --debug`: every phase of a run, timestamped, in the order it happens."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Engine

MARK = re.compile(r"^hlb: debug: +([\d.]+)s +\+[\d.]+s  (\S+) +(.*)$", re.M)


def test_debug_marks_each_phase_of_a_run_in_order(engine: Engine, tmp_path: Path, nonce: str) -> None:
    build = tmp_path / "build.hlb"
    build.write_text(f'fs default() {{\n\timage "busybox:latest"\n\trun "echo {nonce}"\n}}\n')
    warm = engine.hlb("run", str(build))
    assert warm.returncode == 0, warm.stderr
    assert "hlb: debug:" not in warm.stderr  # off unless asked for
    r = engine.hlb("run", "--debug", str(build))
    assert r.returncode == 0, r.stderr
    marks = [(float(t), thread, what) for t, thread, what in MARK.findall(r.stderr)]
    main = [what for _, thread, what in marks if thread == "main"]
    wanted = ["arguments parsed", "compiled", "connect to", "connected", "session", "solve", "solve", "solve"]
    wanted += ["session", "session", "run record saved", "client closed", "build finished", "exit"]
    found = iter(main)
    for w in wanted:  # in this order (other marks may come between)
        assert any(m.startswith(w) for m in found), (w, main)
    assert any(thread == "hlb-status" and what == "first status" for _, thread, what in marks), r.stderr
    solve = next(what.split()[1] for _, _, what in marks if what.startswith("solve ") and what.endswith(" sent"))
    assert f"solve {solve} done" in main and f"solve {solve} status drained" in main
    times = [t for t, _, _ in marks]
    assert times == sorted(times)
