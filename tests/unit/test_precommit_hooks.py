""".pre-commit-hooks.yaml: a manifest pre-commit accepts, whose entries run as pre-commit runs them (the installed
console script, the staged files as arguments, from the repository's root)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HOOKS: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
BY_ID = {hook["id"]: hook for hook in HOOKS}
# pre-commit's manifest schema (pre_commit/clientlib.py MANIFEST_HOOK_DICT in pre-commit 4.7.0): its keys.
REQUIRED = {"id", "name", "entry", "language"}
OPTIONAL = {
    "alias",
    "files",
    "exclude",
    "types",
    "types_or",
    "exclude_types",
    "additional_dependencies",
    "args",
    "always_run",
    "fail_fast",
    "pass_filenames",
    "description",
    "language_version",
    "log_file",
    "require_serial",
    "stages",
    "verbose",
    "minimum_pre_commit_version",
}
FORMATTED = 'fs default() {\n\timage "busybox"\n}\n'
UNFORMATTED = 'fs   default( ) {\n    image "busybox"\n}'
UNUSED = 'string unusedName() {\n\t"x"\n}\n\nfs default() {\n\timage "busybox"\n}\n'


def test_the_manifest_offers_format_format_check_and_lint() -> None:
    assert [hook["id"] for hook in HOOKS] == ["hlb-format", "hlb-format-check", "hlb-lint"]
    for hook in HOOKS:
        assert hook.keys() >= REQUIRED and hook.keys() <= REQUIRED | OPTIONAL, hook["id"]
        assert hook["language"] == "python" and all(isinstance(hook[k], str) for k in REQUIRED)


@pytest.mark.parametrize("hook", HOOKS, ids=[hook["id"] for hook in HOOKS])
def test_each_hook_takes_hlb_files_only(hook: dict[str, Any]) -> None:
    files = re.compile(hook["files"])
    for name in ("build.hlb", "ci/release.hlb", "a b/x.hlb"):
        assert files.search(name), name
    for name in ("hlb.py", "build.hlb.orig", "README.md", "hlbfile"):
        assert not files.search(name), name


def test_each_entry_is_a_console_script_of_the_package() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for hook in HOOKS:
        assert shlex.split(hook["entry"])[0] in scripts


def run_hook(hook_id: str, cwd: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """The hook's entry as pre-commit runs it: through the console script pip installed, files appended."""
    command, *args = shlex.split(BY_ID[hook_id]["entry"])
    script = Path(sys.executable).parent / command
    assert script.exists(), f"{script}: scripts/setup installs hlb's console script"
    return subprocess.run([str(script), *args, *files], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_hlb_format_check_lists_what_would_change_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "good.hlb").write_text(FORMATTED)
    (tmp_path / "ugly.hlb").write_text(UNFORMATTED)
    assert run_hook("hlb-format-check", tmp_path, "good.hlb").returncode == 0
    r = run_hook("hlb-format-check", tmp_path, "good.hlb", "ugly.hlb")
    assert r.returncode == 1 and "would reformat ugly.hlb" in r.stderr and "good.hlb" not in r.stderr
    assert (tmp_path / "ugly.hlb").read_text() == UNFORMATTED


def test_hlb_format_rewrites_the_files_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "good.hlb").write_text(FORMATTED)
    (tmp_path / "ugly.hlb").write_text(UNFORMATTED)
    r = run_hook("hlb-format", tmp_path, "good.hlb", "ugly.hlb")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert (tmp_path / "ugly.hlb").read_text() == FORMATTED == (tmp_path / "good.hlb").read_text()
    assert run_hook("hlb-format-check", tmp_path, "ugly.hlb").returncode == 0


def test_hlb_format_fails_on_a_module_it_cannot_parse(tmp_path: Path) -> None:
    (tmp_path / "broken.hlb").write_text("fs default() {\n")
    r = run_hook("hlb-format", tmp_path, "broken.hlb")
    assert r.returncode == 1 and "broken.hlb:1:" in r.stderr


def test_hlb_lint_passes_a_clean_module_and_fails_on_findings_and_errors(tmp_path: Path) -> None:
    (tmp_path / "good.hlb").write_text(FORMATTED)
    (tmp_path / "unused.hlb").write_text(UNUSED)
    (tmp_path / "wrong.hlb").write_text("fs default() {\n\timage 1\n}\n")
    assert run_hook("hlb-lint", tmp_path, "good.hlb").returncode == 0
    r = run_hook("hlb-lint", tmp_path, "good.hlb", "unused.hlb", "wrong.hlb")
    assert r.returncode == 1
    assert "unused.hlb:1:8: warning: function `unusedName` is never used [unused]" in r.stderr
    assert "wrong.hlb:2:8: error:" in r.stderr and "[type-mismatch]" in r.stderr
