"""``string`` builtins: formatting, templates, image manifests and facts of the local machine.

Declared and type-checked here; compiled from issue #4 on. "Local" is the
machine running hlb (the client), not the BuildKit daemon.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

# -- formatting -------------------------------------------------------------------------

declare(
    "string format(string formatString, variadic string values)",
    """Format the values into `formatString`, as Go's `fmt.Sprintf` does.

    The values are strings, so `%s` (and `%q`) are the verbs to use; `%%` is
    a literal percent sign.

    Example: `format "%s/%s:%s" "registry.example.com" "app" "v1.2.3"`
    """,
)

declare(
    "string template(string text)",
    """Execute `text` as a Go `text/template` and give its output.

    The template's data are the fields set with `stringField`, read as
    `{{.name}}`.

    Example: `template "FROM {{.base}}" with stringField("base", "alpine:3.20")`
    """,
)

declare(
    "option::template stringField(string name, string value)",
    """Make `value` available to the template as the field `{{.name}}`.

    Repeat it for several fields; a field the template uses but no
    `stringField` sets prints as `<no value>`.

    Example: `template "v{{.version}}" with stringField("version", "1.2.3")`
    """,
)

# -- image manifests ------------------------------------------------------------------------

declare(
    "string manifest(string ref) binds (string digest, string config, string index)",
    """Fetch the manifest of an image from its registry, as JSON.

    The reference is normalised as for `image`; the manifest is the one for
    the build's platform unless `platform` picks another. Binds `digest` (what
    the reference resolves to), `config` (the image config JSON) and `index`
    (the multi-platform index JSON; an error without one). Option: `platform`.

    Example: `manifest "alpine:3.20" as (digest alpineDigest, config alpineConfig)`
    """,
)

declare(
    "option::manifest platform(string os, string arch)",
    """Fetch the manifest of this platform instead of the build's platform.

    Applies when the reference names a multi-platform image (an index).

    Example: `manifest "alpine:3.20" with platform("linux", "arm64")`
    """,
)

# -- the local machine -------------------------------------------------------------------------

declare(
    "string localArch()",
    """The CPU architecture of the machine running hlb.

    Spelled as Go and OCI platforms spell it: `amd64`, `arm64`, ….

    Example: `localArch`
    """,
)

declare(
    "string localOs()",
    """The operating system of the machine running hlb.

    Spelled as Go and OCI platforms spell it: `linux`, `darwin`, `windows`.

    Example: `localOs`
    """,
)

declare(
    "string localCwd()",
    """The working directory hlb was started in.

    An absolute path of the machine running hlb (not the module's directory).

    Example: `localCwd`
    """,
)

declare(
    "string localEnv(string key)",
    """The value of an environment variable of the hlb process.

    An unset variable gives the empty string.

    Example: `localEnv "GITHUB_SHA"`
    """,
)

declare(
    "string localRun(string command, variadic string args)",
    """Run a command on the machine running hlb and give its standard output.

    One argument runs through `/bin/sh -c` (unless `shlex`), several are the
    argv as given. It runs in the module's directory with hlb's environment;
    trailing newlines are trimmed, and a non-zero exit fails unless
    `ignoreError`. Options: `ignoreError`, `includeStderr`, `onlyStderr`, `shlex`.

    Example: `localRun "git rev-parse --short HEAD"`
    """,
)

declare(
    "option::localRun ignoreError()",
    """Use the output even when the command exits with a non-zero status.

    The command must still start: a missing program is an error.

    Example: `localRun "git describe --tags" with ignoreError`
    """,
)

declare(
    "option::localRun includeStderr()",
    """Capture standard error too, interleaved with standard output.

    Trailing newlines are trimmed as for standard output alone.

    Example: `localRun "go version" with includeStderr`
    """,
)

declare(
    "option::localRun onlyStderr()",
    """Capture standard error only, discarding standard output.

    For tools that print what you need there, such as `java -version`.

    Example: `localRun "java -version" with onlyStderr`
    """,
)

declare(
    "option::localRun shlex()",
    """Split a one-argument command into words instead of running it with `/bin/sh -c`.

    The words follow shell quoting rules and run directly; commands of
    several arguments are unaffected.

    Example: `localRun "git rev-parse HEAD" with shlex`
    """,
)
