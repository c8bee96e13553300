"""`hlb lint`'s cache-mount findings, judged on the compiled mounts (ids as compiled, bases, modules)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hlb.api import compile_source
from hlb.llb import Platform
from hlb.source import SourceFile

Run = Callable[[list[str]], tuple[int, str, str]]  # the `hlb` fixture of conftest.py


def write(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path / "build.hlb"


def warnings(err: str) -> list[tuple[str, str]]:
    """(location, slug) of every warning printed."""
    out = []
    for line in err.splitlines():
        if ": warning: " in line:
            where, rest = line.split(": warning: ", 1)
            out.append((where.rsplit("/", 1)[-1], rest.rsplit("[", 1)[1].rstrip("]")))
    return out


def test_a_trailing_slash_is_the_same_cache_so_mixed_sharing_is_reported(tmp_path: Path, hlb: Run) -> None:
    build = write(
        tmp_path,
        **{
            "build.hlb": """fs default() {
	image "node:alpine"
	run "npm ci" with option { cacheMount "/root/.npm/" with sharing("locked"); }
	run "npm test" with option { cacheMount "/root/.npm"; }
}
"""
        },
    )
    code, _, err = hlb(["lint", str(build)])
    assert code == 1
    assert warnings(err) == [("build.hlb:4:31", "cache-sharing-conflict")]
    assert "cache `/root/.npm` is used with sharing `shared` here and `locked` at" in err
    assert "^^^ sharing `shared`" in err and "--- sharing `locked`" in err  # a caret at each of the two


def test_a_relative_mount_point_is_the_cache_of_its_absolute_path(tmp_path: Path, hlb: Run) -> None:
    build = write(
        tmp_path,
        **{
            "build.hlb": """fs default() {
	image "node:alpine"
	dir "/root"
	run "npm ci" with option { cacheMount ".npm" with sharing("private"); }
	run "npm test" with option { cacheMount "/root/.npm"; }
}
"""
        },
    )
    code, _, err = hlb(["lint", str(build)])
    assert code == 1 and warnings(err) == [("build.hlb:5:31", "cache-sharing-conflict")]


def test_one_id_with_different_owners_is_two_caches(tmp_path: Path, hlb: Run) -> None:
    build = write(
        tmp_path,
        **{
            "build.hlb": """fs default() {
	image "node:alpine"
	run "npm ci" with option { cacheMount "/c" with option { uid 1000; gid 1000; }; }
	run "npm test" with option { cacheMount "/c"; }
	run "npm pack" with option { cacheMount "/c" with option { uid 1000; gid 1000; }; }
	run "npm run" with option { mount scratch "/d" with cache("/c", "shared"); }
}
"""
        },
    )
    code, _, err = hlb(["lint", str(build)])
    assert code == 1
    # The first use names the cache; the plain mount (4) is a second cache; 5 is the first one again, and the
    # `mount ... with cache` (6) has no base either, so it is the second cache again: one finding.
    assert warnings(err) == [("build.hlb:4:31", "cache-base-conflict")]
    assert (
        "cache id `/c` is used with no uid, gid or mode here and with uid 1000, gid 1000, mode 0o755 at "
        f"{build}:3:29: BuildKit keeps a separate cache for each" in err
    )
    assert "^ no uid, gid or mode" in err and "- uid 1000, gid 1000, mode 0o755" in err


def test_a_mode_alone_makes_another_cache(tmp_path: Path, hlb: Run) -> None:
    build = write(
        tmp_path,
        **{
            "build.hlb": """fs a() {
	image "busybox"
	run "true" with option { cacheMount "/c" with mode(0o700); }
}

fs b() {
	image "busybox"
	run "true" with option { cacheMount "/c" with mode(0o755); }
}
"""
        },
    )
    code, _, err = hlb(["lint", str(build)])
    assert code == 1 and warnings(err) == [("build.hlb:8:27", "cache-base-conflict")]
    assert "mode 0o755 here and with uid 0, gid 0, mode 0o700" in err


LIB = """export build

fs build() {
	image "busybox"
	run "make" with option { cacheMount "/cache"; }
}
"""


def test_a_modules_default_id_that_the_importer_uses_is_reported_at_the_module(tmp_path: Path, hlb: Run) -> None:
    build = write(
        tmp_path,
        **{
            "lib.hlb": LIB,
            "build.hlb": """import lib from "./lib.hlb"

fs default() {
	image "busybox"
	run "make" with option { cacheMount "/cache"; }
}

fs tools() {
	lib.build
}
""",
        },
    )
    code, _, err = hlb(["lint", str(build)])
    assert code == 1
    assert warnings(err) == [("lib.hlb:5:27", "cache-id-collision")]
    assert "cache `/cache` of module `lib` is also used by" in err and "they share one cache" in err
    assert "^^^ the id defaults to the mount point" in err
    assert f"= also used here: {build}:5:27" in err
    assert 'hint: give the module\'s mount an id of its own, e.g. `with id("lib/cache")`' in err


def test_two_imported_modules_with_one_default_id_collide_even_when_the_importer_has_none(
    tmp_path: Path, hlb: Run
) -> None:
    build = write(
        tmp_path,
        **{
            "lib.hlb": LIB,
            "other.hlb": LIB,
            "build.hlb": 'import lib from "./lib.hlb"\nimport other from "./other.hlb"\n\n'
            "fs default() {\n\tlib.build\n}\n\nfs more() {\n\tother.build\n}\n",
        },
    )
    code, _, err = hlb(["lint", str(build)])
    assert code == 1 and warnings(err) == [("other.hlb:5:27", "cache-id-collision")]
    assert "cache `/cache` of module `other` is also used by module `lib`" in err


def test_explicit_ids_across_modules_and_namespaced_ids_are_not_findings(tmp_path: Path, hlb: Run) -> None:
    build = write(
        tmp_path,
        **{
            "lib.hlb": LIB.replace('cacheMount "/cache"', 'cacheMount "/cache" with id("lib/cache")'),
            "shared.hlb": LIB.replace('cacheMount "/cache"', 'cacheMount "/ccache" with id("ccache")'),
            "build.hlb": """import lib from "./lib.hlb"
import shared from "./shared.hlb"

fs default() {
	image "busybox"
	run "make" with option { cacheMount "/cache"; cacheMount "/ccache" with id("ccache"); }
}

fs modules() {
	lib.build
	shared.build
}
""",
        },
    )
    assert hlb(["lint", str(build)]) == (0, "", "")


def test_functions_lint_cannot_compile_are_skipped_and_the_rest_is_linted(tmp_path: Path, hlb: Run) -> None:
    build = write(
        tmp_path,
        **{
            "build.hlb": """import remote from fs { image "127.0.0.1:1/nothing:here"; }

fs resolved() {
	image "busybox" with resolve
	run "true" with option { cacheMount "/c" with sharing("locked"); }
}

fs fetched() {
	remote.build
	run "true" with option { cacheMount "/c" with sharing("private"); }
}

fs param(string p) {
	image p
	run "true" with option { cacheMount "/c" with sharing("private"); }
}

fs a() {
	image "busybox"
	run "true" with option { cacheMount "/c" with sharing("locked"); }
}

fs b() {
	image "busybox"
	run "true" with option { cacheMount "/c/"; }
}
"""
        },
    )
    code, out, err = hlb(["lint", str(build)])
    assert code == 1 and out == ""
    assert warnings(err) == [("build.hlb:25:27", "cache-sharing-conflict")]
    assert "Traceback" not in err and "internal error" not in err and "error:" not in err


def test_a_function_called_with_arguments_is_linted_with_them(tmp_path: Path, hlb: Run) -> None:
    build = write(
        tmp_path,
        **{
            "build.hlb": """fs cached(string mode) {
	image "busybox"
	run "true" with option { cacheMount "/c" with sharing(mode); }
}

fs a() { cached "locked"; }

fs b() { cached "shared"; }
"""
        },
    )
    code, _, err = hlb(["lint", str(build)])
    assert code == 1 and warnings(err) == [("build.hlb:3:27", "cache-sharing-conflict")]
    assert "sharing `shared` here and `locked` elsewhere" in err  # one call written, two compiled mounts


def test_fix_leaves_cache_findings_alone(tmp_path: Path, hlb: Run) -> None:
    text = """import unused from "./lib.hlb"

fs default() {
	image "busybox"
	run "a" with option { cacheMount "/c/" with sharing("locked"); }
	run "b" with option { cacheMount "/c" with uid(1000); }
}

group all() {
	parallel default
}
"""
    build = write(tmp_path, **{"lib.hlb": LIB, "build.hlb": text})
    code, _, err = hlb(["lint", "--fix", str(build)])
    assert code == 1 and "fixed 3 findings" in err
    fixed = build.read_text()
    assert "import unused" not in fixed and "\tstage default\n" in fixed
    for line in text.splitlines()[3:6]:
        assert line in fixed.splitlines()
    assert [slug for _, slug in warnings(err)] == ["cache-base-conflict"]


def test_a_finding_in_an_imported_module_is_shown_once_when_both_files_are_linted(tmp_path: Path, hlb: Run) -> None:
    lib = LIB + '\nfs other() {\n\timage "busybox"\n'
    lib += '\trun "x" with option { cacheMount "/cache" with sharing("locked"); }'
    lib += "\n}\n"
    write(tmp_path, **{"lib.hlb": lib, "build.hlb": 'import lib from "./lib.hlb"\n\nfs default() {\n\tlib.build\n}\n'})
    code, _, err = hlb(["lint", str(tmp_path)])
    assert code == 1 and warnings(err) == [("lib.hlb:10:24", "cache-sharing-conflict")]


def test_default_cache_ids_are_the_mount_point_cleaned_as_go_does() -> None:
    src = SourceFile(
        "build.hlb",
        'fs default() {\n\timage "busybox"\n'
        '\trun "true" with option { cacheMount "//root/.npm/"; cacheMount "/a/../c"; }\n}\n',
    )
    fs = compile_source(src, ["default"], Platform("linux", "amd64")).targets[0].fs
    assert fs is not None and fs.state.output is not None
    mounts = {m.target: m.cache_id for m in fs.state.output.vertex.mounts if m.cache_id}  # type: ignore[attr-defined]
    assert mounts == {"/root/.npm": "/root/.npm", "/c": "/c"}


def test_lint_does_not_import_grpc(tmp_path: Path) -> None:
    """The lint command's own imports (compiling included) stay off grpc (`hlb.cli.main` loads every command)."""
    build = write(
        tmp_path,
        **{"build.hlb": 'fs default() {\n\timage "busybox"\n\trun "x" with option { cacheMount "/c"; }\n}\n'},
    )
    code = (
        "import argparse, sys\nfrom hlb.cli.lint import run_lint\n"
        f"status = run_lint(argparse.Namespace(files=[{str(build)!r}], fix=False))\n"
        "loaded = sorted(m for m in sys.modules if m == 'grpc' or m.startswith('grpc.'))\n"
        "print(status, loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.stdout.strip() == "0 []", result.stderr
