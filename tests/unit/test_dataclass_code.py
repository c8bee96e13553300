"""The cache of dataclasses' generated code: classes made from it behave as Python makes them, it is read only by
the interpreter that wrote it, and only the ``hlb`` command installs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hlb.dataclass_code import MAGIC, CodeCache

ROOT = Path(__file__).resolve().parents[2]

# Every kind of method dataclasses writes, exercised; prints what each did as JSON.
CLASSES = textwrap.dedent(
    """
    import dataclasses, json, sys
    from dataclasses import InitVar, dataclass, field

    @dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 2
        tags: tuple[str, ...] = ()

    @dataclass(order=True)
    class Version:
        major: int
        minor: int = 0
        notes: list[str] = field(default_factory=list, compare=False, repr=False)

    @dataclass(kw_only=True, eq=False)
    class Options:
        name: str
        total: int = field(init=False, default=0)
        scale: InitVar[int] = 1

        def __post_init__(self, scale):
            self.total = len(self.name) * scale

    @dataclass(unsafe_hash=True)
    class Key:
        a: str
        b: int = field(default=0, hash=False)

    out = {}
    p = Point(1)
    out["point"] = [repr(p), p == Point(1, 2), hash(p) == hash(Point(1, 2)), p.y]
    try:
        p.x = 3
        out["frozen"] = "assigned"
    except dataclasses.FrozenInstanceError as e:
        out["frozen"] = type(e).__name__
    try:
        Point()
    except TypeError as e:
        out["missing"] = str(e)
    v = Version(1, notes=["n"])
    out["version"] = [repr(v), v < Version(1, 1), v == Version(1), Version(1).notes is not Version(1).notes]
    o = Options(name="abc", scale=3)
    out["options"] = [repr(o), o.total, o == Options(name="abc", scale=3)]
    try:
        Options("abc")
    except TypeError as e:
        out["kw_only"] = str(e)
    out["key"] = [hash(Key("k", 1)) == hash(Key("k", 2)), Key("k", 1) == Key("k", 2)]
    out["signature"] = [Point.__doc__, Options.__init__.__qualname__, Version.__eq__.__code__.co_filename]
    print(json.dumps(out))
    """
)


def _run(code: str, cache_dir: Path | None) -> tuple[dict[str, object], int | None]:
    """``code`` in a new interpreter, with the cache installed from ``cache_dir`` when given; its JSON output and
    how many texts it compiled (None without a cache)."""
    prelude = ""
    if cache_dir is not None:
        prelude = (
            "from pathlib import Path\nfrom hlb import dataclass_code\n"
            f"_cache = dataclass_code.install(Path({str(cache_dir)!r}), 'test')\n"
        )
    report = "\nprint(_cache.compiled)\n" if cache_dir is not None else "\nprint('none')\n"
    env = {k: v for k, v in os.environ.items() if k != "HLB_NO_CODE_CACHE"}
    p = subprocess.run(
        [sys.executable, "-c", prelude + code + report], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    first, second = p.stdout.splitlines()
    return json.loads(first), None if second == "none" else int(second)


def test_classes_from_the_cache_behave_as_python_makes_them(tmp_path: Path) -> None:
    plain, _ = _run(CLASSES, None)
    first, compiled = _run(CLASSES, tmp_path)
    assert compiled and compiled >= 10  # every method of every class was compiled once, and saved
    again, compiled_again = _run(CLASSES, tmp_path)
    assert compiled_again == 0  # all of it read from the file
    assert plain == first == again
    assert plain["frozen"] == "FrozenInstanceError"
    assert plain["signature"][2] == "<string>"


def test_the_file_is_rewritten_only_when_something_was_compiled(tmp_path: Path) -> None:
    _run(CLASSES, tmp_path)
    (path,) = tmp_path.iterdir()
    before = path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    _run(CLASSES, tmp_path)
    assert path.stat().st_mtime_ns == before - 10**9


@pytest.mark.parametrize(
    "content",
    [b"", b"not ours", MAGIC + b"Python 0.1 (other) cpython-01 -O0\n" + b"\x00" * 8, MAGIC],
    ids=["empty", "foreign", "other-interpreter", "torn"],
)
def test_a_file_that_cannot_be_read_is_empty_and_is_replaced(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "codes.bin"
    path.write_bytes(content)
    cache = CodeCache(path)
    assert cache.codes == {}
    namespace: dict[str, object] = {}
    cache.exec("x = 40 + 2", namespace, namespace)
    assert namespace["x"] == 42
    cache.save()
    assert CodeCache(path).codes.keys() == {"x = 40 + 2"}


def test_a_corrupt_body_after_a_valid_header_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "codes.bin"
    cache = CodeCache(path)
    cache.code("y = 1")
    cache.save()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5])
    assert CodeCache(path).codes == {}


def test_exec_without_namespaces_uses_the_callers(tmp_path: Path) -> None:
    cache = CodeCache(tmp_path / "codes.bin")
    seen: list[object] = []
    cache.exec("seen.append((__name__, tmp_path))")  # the caller's globals and locals, as the builtin's
    exec("seen.append((__name__, tmp_path))")
    assert seen == [(__name__, tmp_path)] * 2


def test_a_file_of_mostly_unused_texts_keeps_only_what_this_process_used(tmp_path: Path) -> None:
    path = tmp_path / "codes.bin"
    cache = CodeCache(path)
    for i in range(5):
        cache.code(f"v = {i}")
    cache.save()
    later = CodeCache(path)  # uses 2 of the 6 texts: the 4 others are dropped
    later.code("v = 1")
    later.code("w = 2")
    later.save()
    assert CodeCache(path).codes.keys() == {"v = 1", "w = 2"}
    again = CodeCache(path)  # uses 2 of 3: the other is kept (another command's path may need it)
    again.code("v = 1")
    again.code("x = 3")
    again.save()
    assert CodeCache(path).codes.keys() == {"v = 1", "w = 2", "x = 3"}


def test_only_the_hlb_command_installs_it(tmp_path: Path) -> None:
    """A program using hlb as a library keeps its dataclasses as they are; the command writes one file per
    subcommand, and HLB_NO_CODE_CACHE turns it off."""
    library = subprocess.run(
        [sys.executable, "-c", "import dataclasses, hlb.api; print('exec' in vars(dataclasses))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert library.stdout.strip() == "False"
    module = tmp_path / "m.hlb"
    module.write_text('fs default() {\n\timage "busybox"\n}\n')
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("HLB_NO_CODE_CACHE", None)
    command = [sys.executable, "-c", "from hlb.cli.main import main; main()", "check", str(module)]
    subprocess.run(command, env=env, check=True, capture_output=True)
    names = sorted(p.name for p in (tmp_path / "cache" / "hlb").glob("dataclass-code-*"))
    assert names == [f"dataclass-code-{sys.implementation.cache_tag}-check.bin"]
    off = {**env, "XDG_CACHE_HOME": str(tmp_path / "off"), "HLB_NO_CODE_CACHE": "1"}
    subprocess.run(command, env=off, check=True, capture_output=True)
    assert not list((tmp_path / "off" / "hlb").glob("dataclass-code-*"))


def test_a_file_others_could_write_is_not_run(tmp_path: Path) -> None:
    path = tmp_path / "codes.bin"
    cache = CodeCache(path)
    cache.code("z = 3")
    cache.save()
    assert CodeCache(path).codes.keys() == {"z = 3"}
    path.chmod(0o666)
    assert CodeCache(path).codes == {}


def test_bytes_compile_without_this_modules_future_imports(tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    with pytest.raises(NameError):  # evaluated annotations, as the builtin exec called from dataclasses does
        CodeCache(None).exec(b"def f(x: undefined_name): pass", namespace, namespace)
