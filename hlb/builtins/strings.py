"""``string`` builtins: formatting, templates, image manifests and facts of the local machine.

"Local" is the machine running hlb (the client), not the BuildKit daemon.
``manifest`` asks the image's registry, through the registry client the
compiler offers as ``manifests`` (see ``hlb.resolver.ManifestResolver``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex as _shlex
import signal
import subprocess
import sys
from dataclasses import dataclass

from hlb.builtins.call import Call, image_ref, platform_args
from hlb.builtins.gofmt import sprintf
from hlb.builtins.gotemplate import TemplateError, execute
from hlb.builtins.registry import builtin, flags
from hlb.diagnostics import catalog as cat
from hlb.llb.platform import Platform, normalize_arch
from hlb.resolver import ManifestResolver, ResolveError

STDERR_LINES = 10  # the last lines of a failing localRun's stderr that its diagnostic shows

# -- option values -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateField:
    name: str
    value: str


# -- formatting -------------------------------------------------------------------------


@builtin("string format(string formatString, variadic string values)")
def format_(call: Call, format_string: str, *values: str) -> str:
    """Format the values into `formatString`, as Go's `fmt.Sprintf` does.

    The values are strings: `%s` and `%v` print one, `%q` quotes it, `%x` is
    its hex bytes, `%%` is a percent sign; widths and precisions (`%-10s`,
    `%.3s`) apply. A missing, extra or non-string use prints Go's text:
    `%!s(MISSING)`, `%!(EXTRA string=x)`, `%!d(string=x)`.

    Example: `format "%s/%s:%s" "registry.example.com" "app" "v1.2.3"`
    """
    return sprintf(format_string, values)


@builtin("string template(string text)")
def template(call: Call, text: str) -> str:
    """Execute `text` as a Go `text/template` and give its output.

    The data are the `stringField`s: `{{.name}}`, `{{ .name }}`, `{{if .x}}…{{else}}…{{end}}`,
    `{{with .x}}…{{end}}`, `{{/* comments */}}` and the `{{-`/`-}}` trim markers
    work as in Go (a non-empty string is true); variables, pipelines, functions and
    `range` are not supported. A parse error or an unknown field fails the build.

    Example: `template "FROM {{.base}}" with stringField("base", "alpine:3.20")`
    """
    data = {f.name: f.value for f in call.options.of(TemplateField)}
    try:
        return execute(text, data)
    except TemplateError as e:
        hint = None
        if "no entry for key" in str(e):
            known = ", ".join(f"`{k}`" for k in sorted(data)) or "none"
            hint = f"set it with `stringField`; the fields set are {known}"
        call.fail(cat.invalid_value(call.arg_span(0), str(e), hint=hint))


@builtin("option::template stringField(string name, string value)")
def string_field(call: Call, name: str, value: str) -> TemplateField:
    """Make `value` available to the template as the field `{{.name}}`.

    Repeat it for several fields (a later one with the same name wins); a
    field the template uses but no `stringField` sets fails the build.

    Example: `template "v{{.version}}" with stringField("version", "1.2.3")`
    """
    return TemplateField(name, value)


# -- image manifests ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManifestPlatform:
    platform: Platform


NO_REGISTRY = "this compilation has no registry client; `manifest` is evaluated only when compiling with one"


@builtin("string manifest(string ref) binds (string digest, string config, string index)")
def manifest(call: Call, ref: str) -> str:
    """Fetch an image's manifest for the build's platform from its registry, as JSON.

    The reference is normalised as for `image`; `platform` picks another
    platform of a multi-platform image. Binds `digest` (what the reference
    resolves to), `config` (the image config JSON) and `index` (the index JSON;
    an error for a single-platform image). Needs access to the registry.

    Example: `manifest "alpine:3.20" as (digest alpineDigest, config alpineConfig)`
    """
    parsed = image_ref(call, ref)
    chosen = call.options.last(ManifestPlatform)
    wanted = chosen.platform if chosen else call.ctx.platform
    need = f"`manifest` needs registry access to fetch `{parsed}`"
    resolver: ManifestResolver = call.needs(call.ctx.manifests, call.span, need, NO_REGISTRY)
    try:
        resolved = resolver.manifest(str(parsed), wanted)
    except ResolveError as e:  # its message names the reference and the cause
        call.fail(cat.invalid_value(call.arg_span(0), str(e)))
    if "digest" in call.binds:
        return resolved.digest
    if "config" in call.binds:
        return resolved.config.decode("utf-8", "replace")
    if "index" in call.binds:
        if resolved.index is None:
            call.fail(
                cat.invalid_value(
                    call.arg_span(0),
                    f"`{parsed}` has no manifest index",
                    hint="it is a single-platform image; bind `digest` or `config` instead",
                )
            )
        return resolved.index.decode("utf-8", "replace")
    return resolved.manifest.decode("utf-8", "replace")


@builtin("option::manifest platform(string os, string arch)")
def manifest_platform(call: Call, os_: str, arch: str) -> ManifestPlatform:
    """Fetch the manifest of this platform instead of the build's platform.

    Picks the platform's entry of a multi-platform image (an index); a
    single-platform image must be for this platform.

    Example: `manifest "alpine:3.20" with platform("linux", "arm64")`
    """
    return ManifestPlatform(platform_args(call, os_, arch))


# -- the local machine -------------------------------------------------------------------------


@builtin("string localArch()")
def local_arch(call: Call) -> str:
    """The CPU architecture of the machine running hlb.

    Spelled as Go and OCI platforms spell it: `amd64`, `arm64`, ….

    Example: `localArch`
    """
    return go_arch(_machine())


@builtin("string localOs()")
def local_os(call: Call) -> str:
    """The operating system of the machine running hlb.

    Spelled as Go and OCI platforms spell it: `linux`, `darwin`, `windows`.

    Example: `localOs`
    """
    return go_os(_system())


@builtin("string localCwd()")
def local_cwd(call: Call) -> str:
    """The working directory hlb was started in.

    An absolute path of the machine running hlb (not the module's directory).

    Example: `localCwd`
    """
    return _cwd()


@builtin("string localEnv(string key)")
def local_env(call: Call, key: str) -> str:
    """The value of an environment variable of the hlb process.

    An unset variable gives the empty string.

    Example: `localEnv "GITHUB_SHA"`
    """
    return os.environ.get(key, "")


@builtin("string localRun(string command, variadic string args)")
def local_run(call: Call, command: str, *args: str) -> str:
    """Run a command on the machine running hlb and give its standard output.

    One argument runs through `/bin/sh -c` (unless `shlex`), several are the argv
    as given, in the module's directory with hlb's environment, once per build
    (every platform of `--platform a,b` gets that output); trailing newlines
    are trimmed, and a non-zero exit fails unless `ignoreError`.

    Example: `localRun "git rev-parse --short HEAD"`
    """
    if not call.ctx.local_run:
        call.fail(
            cat.invalid_value(
                call.span,
                "`localRun` would run a command on this machine, and --no-local-run is given",
                hint="drop --no-local-run to run it (its output is part of the build, so compiling needs it)",
            )
        )
    argv = _local_argv(call, command, args)
    only_stderr = LOCAL_RUN["onlyStderr"].given(call.options)
    merged = LOCAL_RUN["includeStderr"].given(call.options) and not only_stderr
    cwd = call.module_dir

    def run() -> subprocess.CompletedProcess[bytes]:
        return _run_group(
            argv,
            cwd=cwd,
            stdout=subprocess.DEVNULL if only_stderr else subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        )

    # one run per build: the compiles of its other platforms take this one's output (hlb.resolver.LocalRuns)
    shared = call.ctx.local_runs
    key = ("localRun", tuple(argv), cwd, only_stderr, merged, tuple(sorted(os.environ.items())))
    try:
        proc = shared.once(key, run) if shared is not None else run()
    except OSError as e:
        call.fail(cat.invalid_value(call.arg_span(0), f"`localRun` could not start `{argv[0]}`: {e.strerror or e}"))
    output = proc.stderr if only_stderr else proc.stdout
    if proc.returncode != 0 and not LOCAL_RUN["ignoreError"].given(call.options):
        errors = (proc.stdout if merged else proc.stderr).decode("utf-8", "replace").rstrip("\n").splitlines()
        status = f"status {proc.returncode}" if proc.returncode > 0 else f"signal {-proc.returncode}"
        notes = [*errors[-STDERR_LINES:], "use `with ignoreError` to take its output anyway"]
        call.fail(cat.build_failed(call.span, f"`localRun` command `{_shlex.join(argv)}` exited with {status}", notes))
    return output.decode("utf-8", "replace").rstrip("\n")


def _run_group(argv: list[str], *, cwd: str, stdout: int, stderr: int) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in a process group of its own; if hlb is interrupted (Ctrl-C, SIGTERM), kill the whole group,
    so no grandchild (`sh -c "sleep 60"`'s sleep) outlives hlb."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=dict(os.environ), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _local_argv(call: Call, command: str, args: tuple[str, ...]) -> list[str]:
    call.host_text(command, 0, "a command")
    for i, a in enumerate(args):
        call.host_text(a, i + 1, "an argument of a command")
    if args:
        return [command, *args]
    if not LOCAL_RUN["shlex"].given(call.options):
        return ["/bin/sh", "-c", command]
    try:
        words = _shlex.split(command)
    except ValueError as e:
        call.fail(cat.invalid_value(call.arg_span(0), f"cannot split the command into words: {e}"))
    if not words:
        call.fail(cat.invalid_value(call.arg_span(0), "`localRun` needs a command"))
    return words


LOCAL_RUN = flags(
    "option::localRun",
    {
        "ignoreError": """Use the output even when the command exits with a non-zero status.

    The command must still start: a missing program is an error.

    Example: `localRun "git describe --tags" with ignoreError`
    """,
        "includeStderr": """Capture standard error too, interleaved with standard output.

    Trailing newlines are trimmed as for standard output alone.

    Example: `localRun "go version" with includeStderr`
    """,
        "onlyStderr": """Capture standard error only, discarding standard output.

    For tools that print what you need there, such as `java -version`.

    Example: `localRun "java -version" with onlyStderr`
    """,
        "shlex": """Split a one-argument command into words instead of running it with `/bin/sh -c`.

    The words follow shell quoting rules and run directly; commands of
    several arguments are unaffected.

    Example: `localRun "git rev-parse HEAD" with shlex`
    """,
    },
)


# -- the client machine, read through these so tests can stand in for it -----------------------


def _machine() -> str:
    return platform.machine()


def _system() -> str:
    return sys.platform


def _cwd() -> str:
    return os.getcwd()


_GO_ARCH = {"armv7l": "arm", "armv6l": "arm", "armv8l": "arm", "ppc64le": "ppc64le", "i86pc": "amd64", "amd64": "amd64"}
_GO_OS = {"win32": "windows", "cygwin": "windows", "msys": "windows"}


def go_arch(machine: str) -> str:
    """GOARCH for a `uname -m` machine name (`x86_64` is `amd64`, `aarch64` is `arm64`)."""
    m = machine.lower()
    return _GO_ARCH.get(m) or normalize_arch(m)


def go_os(platform: str) -> str:
    """GOOS for a `sys.platform` value (`linux`, `darwin`, `win32` is `windows`, `freebsd14` is `freebsd`)."""
    if platform in _GO_OS:
        return _GO_OS[platform]
    return platform.rstrip("0123456789")
