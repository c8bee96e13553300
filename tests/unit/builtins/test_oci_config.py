"""The image config builtins and the OCI image config JSON an export of an fs writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hlb.api import compile_source
from hlb.builtins import image_config
from hlb.builtins.call import Call
from hlb.builtins.spec import Builtin
from hlb.diagnostics import Diagnostic, HlbError
from hlb.llb import Platform, SourceLocation, State
from hlb.llb.dump import to_json
from hlb.oci_config import oci_config
from hlb.resolver import ImageResolver
from hlb.source import SourceFile, Span
from hlb.values import Attachment, FsValue, History, ImageSpec, Options

AMD64 = Platform("linux", "amd64")
FILE = SourceFile("t.hlb", "")


class FakeContext:
    platform = AMD64
    resolver: ImageResolver | None = None

    def locations(self, span: Span) -> tuple[SourceLocation, ...]:
        return ()

    def attach(self, item: Attachment) -> None:
        raise AssertionError("image config builtins attach nothing")

    def module_dir(self, span: Span) -> str:
        return "/"


def apply(fs: FsValue, b: Builtin, *args: str) -> FsValue:
    assert b.lower is not None
    span = Span(FILE, 0, 0)
    result = b.lower(Call(b.name, span, (span,) * len(args), fs, Options(), FakeContext()), *args)
    assert isinstance(result, FsValue)
    return result


def config_of(fs: FsValue, **kw: Any) -> Any:
    return json.loads(oci_config(fs, AMD64, **kw))


def compiled(tmp_path: Path, body: str) -> FsValue:
    path = tmp_path / "build.hlb"
    path.write_text("fs default() {\n" + body + "}\n")
    fs = compile_source(SourceFile.read(path), ["default"], AMD64).targets[0].fs
    assert fs is not None
    return fs


def digests(fs: FsValue) -> list[str]:
    return [op["digest"] for op in json.loads(to_json(fs.state.marshal(AMD64)))["ops"]]


def error(tmp_path: Path, body: str) -> Diagnostic:
    path = tmp_path / "build.hlb"
    path.write_text("fs default() {\n" + body + "}\n")
    with pytest.raises(HlbError) as e:
        compile_source(SourceFile.read(path), ["default"], AMD64)
    (d,) = [d for d in e.value.diagnostics if d.is_error]
    return d


# -- oci_config -------------------------------------------------------------------------------


def test_scratch_is_a_platform_the_default_path_a_working_dir_and_no_layers() -> None:
    # Without a PATH of its own, the image keeps the default PATH the daemon ran its steps with.
    assert oci_config(FsValue.scratch(), AMD64) == (
        b'{"architecture":"amd64","os":"linux","config":{"Env":'
        b'["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"},'
        b'"rootfs":{"type":"layers","diff_ids":[]}}'
    )


def test_env_dir_user_and_platform_come_from_the_state() -> None:
    state = State(env=(("PATH", "/bin"), ("A", "1")), cwd="/src", user="app", platform=Platform("linux", "arm", "v7"))
    assert config_of(FsValue(state)) == {
        "architecture": "arm",
        "os": "linux",
        "variant": "v7",
        "config": {"User": "app", "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/src"},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    # The given platform is only the default.
    assert config_of(FsValue(State()))["architecture"] == "amd64"
    assert json.loads(oci_config(FsValue(State()), Platform("linux", "arm64")))["architecture"] == "arm64"


BASE = {
    "created": "2024-05-01T10:00:00Z",
    "author": "someone",
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "Hostname": "",
        "Env": ["PATH=/usr/bin"],
        "Cmd": ["sh"],
        "Healthcheck": {"Test": ["CMD", "true"]},
        "ArgsEscaped": True,
        "WorkingDir": "/",
        "Labels": {"b": "base", "z": "base"},
        "ExposedPorts": {"22/tcp": {}},
        "OnBuild": None,
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]},
    "history": [{"created": "2024-05-01T10:00:00Z", "created_by": "ADD rootfs.tar /"}],
    "container_config": {"Cmd": ["/bin/sh", "-c", '#(nop) CMD ["sh"]']},
    "docker_version": "24.0.0",
}


def test_a_base_config_is_inherited_and_hlb_history_follows_its_own() -> None:
    # As `image` leaves it after resolving: the base's env and working dir are on the state.
    fs = FsValue(State(env=(("PATH", "/usr/bin"),), platform=AMD64), ImageSpec(base=json.dumps(BASE)))
    fs = apply(fs, image_config.label, "a", "hlb")
    fs = apply(fs, image_config.label, "z", "hlb")
    fs = apply(fs, image_config.expose, "8080")
    fs = fs.history("RUN /bin/sh -c make")
    assert list(config_of(fs)) == [
        "created", "author", "architecture", "os", "config", "rootfs", "history", "docker_version"
    ]  # fmt: skip
    assert config_of(fs) == {
        "created": "0001-01-01T00:00:00Z",  # hlb wrote history: dated as openllb/hlb dates it
        "author": "someone",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "ExposedPorts": {"22/tcp": {}, "8080/tcp": {}},
            "Env": ["PATH=/usr/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/",
            "Labels": {"a": "hlb", "b": "base", "z": "hlb"},
            "ArgsEscaped": True,
            "Hostname": "",
            "Healthcheck": {"Test": ["CMD", "true"]},
            "OnBuild": None,
        },
        "rootfs": {"type": "layers", "diff_ids": []},  # BuildKit's exporter fills the layers in
        "history": [
            {"created": "2024-05-01T10:00:00Z", "created_by": "ADD rootfs.tar /"},
            {
                "created": "0001-01-01T00:00:00Z",
                "created_by": "LABEL a=hlb z=hlb",
                "comment": "hlb.v0",
                "empty_layer": True,
            },
            {"created": "0001-01-01T00:00:00Z", "created_by": "RUN /bin/sh -c make", "comment": "hlb.v0"},
        ],
        "docker_version": "24.0.0",
    }


def test_without_hlb_history_the_base_creation_time_stays() -> None:
    fs = FsValue(State(platform=AMD64), ImageSpec(base=json.dumps(BASE)))
    assert config_of(fs)["created"] == "2024-05-01T10:00:00Z"


def test_an_entrypoint_keeps_the_inherited_cmd_as_openllb_hlb_does_and_cmd_clears_it() -> None:
    fs = FsValue(State(platform=AMD64), ImageSpec(base=json.dumps(BASE)))
    with_entrypoint = apply(fs, image_config.entrypoint, "/app", "--flag")
    config = config_of(with_entrypoint)["config"]
    assert config["Entrypoint"] == ["/app", "--flag"] and config["Cmd"] == ["sh"]
    assert "ArgsEscaped" not in config  # it described the base's own command line
    cleared = config_of(apply(with_entrypoint, image_config.cmd))["config"]
    assert "Cmd" not in cleared and cleared["Entrypoint"] == ["/app", "--flag"]
    assert "Entrypoint" not in config_of(apply(with_entrypoint, image_config.entrypoint))["config"]


def test_container_config_is_the_last_history_entry_and_the_labels() -> None:
    fs = apply(FsValue.scratch(), image_config.label, "k", "v")
    assert config_of(fs, container_config=True)["container_config"] == {"Cmd": ["LABEL k=v"], "Labels": {"k": "v"}}
    assert config_of(FsValue.scratch(), container_config=True)["container_config"] == {"Cmd": None, "Labels": None}


def test_the_json_is_escaped_as_go_writes_it() -> None:
    fs = apply(FsValue.scratch(), image_config.label, "html", "<a href='x'>&</a>\u2028é")
    assert b'"html":"\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e\\u2028\xc3\xa9"' in oci_config(fs, AMD64)
    assert oci_config(fs, AMD64) == oci_config(fs, AMD64)


# -- the builtins, compiled -----------------------------------------------------------------------


def test_image_config_builtins_keep_the_llb_and_set_the_config(tmp_path: Path) -> None:
    plain = compiled(tmp_path, '\timage "busybox"\n')
    fs = compiled(
        tmp_path,
        '\timage "busybox"\n\tentrypoint "/bin/app"\n\tcmd "serve"\n\tlabel "k" "v"\n'
        '\texpose "80" "53/udp"\n\tvolumes "/data"\n\tstopSignal "15"\n',
    )
    assert digests(fs) == digests(plain)  # the same ops (their source locations differ)
    assert fs.image == ImageSpec(
        entrypoint=("/bin/app",),
        cmd=("serve",),
        labels=(("k", "v"),),
        exposed_ports=("80/tcp", "53/udp"),
        volumes=("/data",),
        stop_signal="15",
        history=(History('ENTRYPOINT ["/bin/app"]', True), History("LABEL k=v", True)),
    )


def test_labels_after_another_history_entry_start_a_new_one(tmp_path: Path) -> None:
    fs = compiled(tmp_path, '\tlabel "a" "1"\n\tdir "/x"\n\tlabel "b" "2"\n\tlabel "c" "3"\n')
    assert [h.created_by for h in fs.image.history] == ["LABEL a=1", "WORKDIR /x", "LABEL b=2 c=3"]


def test_entrypoint_history_quotes_as_go_does(tmp_path: Path) -> None:
    fs = compiled(tmp_path, '\tentrypoint "sh" "-c" "echo \\"hi\\"\\n"\n')
    assert fs.image.history[0].created_by == 'ENTRYPOINT ["sh" "-c" "echo \\"hi\\"\\n"]'


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        ('\texpose "http"\n', "invalid port `http`", "a port is `number` or `number/protocol`"),
        ('\texpose "80" "70000"\n', "invalid port `70000`: ports are 1 to 65535, low to high", None),
        ('\texpose "90-80"\n', "invalid port `90-80`: ports are 1 to 65535, low to high", None),
        ('\texpose "80/tcpp"\n', "invalid port protocol `tcpp`", "did you mean `tcp`?"),
        ('\tstopSignal "SIGQUT"\n', "invalid signal `SIGQUT`", "did you mean `SIGQUIT`?"),
        ('\tstopSignal "0"\n', "invalid signal `0`", None),
        ('\tvolumes "/a" ""\n', "a volume needs a path", None),
        ('\tlabel "" "v"\n', "a label needs a key", None),
    ],
)
def test_invalid_values_are_diagnostics_at_the_argument(
    tmp_path: Path, body: str, message: str, hint: str | None
) -> None:
    d = error(tmp_path, body)
    assert d.message == message
    assert d.primary.span.begin.line == 2
    if hint:
        assert d.hint is not None and d.hint.startswith(hint)
    if '"70000"' in body:
        assert d.primary.span.begin.column == len('\texpose "80" ') + 1  # the second port


@pytest.mark.parametrize("signal", ["SIGTERM", "term", "QUIT", "9", "SIGRTMIN+3", "RTMAX-1"])
def test_docker_signal_names_and_numbers_are_accepted(tmp_path: Path, signal: str) -> None:
    assert compiled(tmp_path, f'\tstopSignal "{signal}"\n').image.stop_signal == signal
