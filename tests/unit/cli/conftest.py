"""Running the `hlb` command line in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hlb.cli.main import main

Run = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def hlb(capsys: pytest.CaptureFixture[str]) -> Run:
    """``hlb(argv)`` -> (exit code, stdout, stderr); argparse exits count as exit codes."""

    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            code = main(argv)
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
