"""``fs`` sources other than ``scratch`` and ``image``, and the options of every source.

``http``, ``git``, ``local`` and ``frontend`` (and the ``option::image``
options) are declared and type-checked here; they are compiled from issue #4 on.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

_DIGEST = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"  # a digest for examples

# -- option::image -----------------------------------------------------------------

declare(
    "option::image resolve()",
    """Resolve the image's config and apply it to the filesystem.

    Accepted for compatibility with openllb/hlb and has no effect: with a
    BuildKit connection every `image` config (env, working directory, user,
    entrypoint) is resolved and inherited anyway.

    Example: `image "busybox:latest" with resolve`
    """,
)

declare(
    "option::image platform(string os, string arch)",
    """Pick this platform's variant of a multi-platform image.

    Without it the image is resolved for the build's platform (`--platform`,
    else `linux/` and the architecture of the machine running hlb). The
    source op records the chosen platform, so later `run`s execute on it.

    Example: `image "alpine:3.20" with platform("linux", "arm64")`
    """,
)

# -- http ----------------------------------------------------------------------------

declare(
    "fs http(string url)",
    """A filesystem holding one file downloaded from an HTTP(S) URL.

    BuildKit, not the machine running hlb, performs the GET request and caches
    the download. The file is named after the URL's last path element unless
    `filename` says otherwise. Options: `checksum`, `chmod`, `filename`.

    Example: `http "https://dl.example.com/tool-1.0.tar.gz"`
    """,
)

declare(
    "option::http checksum(string digest)",
    f"""Fail the build unless the downloaded file has this digest.

    The digest is written `algorithm:hex`, as in OCI descriptors
    (`sha256:…`); a mismatch is reported when BuildKit fetches the file.

    Example: `http "https://dl.example.com/tool" with checksum("{_DIGEST}")`
    """,
)

declare(
    "option::http chmod(int filemode)",
    """Set the permissions of the downloaded file.

    Useful for binaries, which are otherwise not executable.

    Example: `http "https://dl.example.com/tool" with chmod(0o755)`
    """,
)

declare(
    "option::http filename(string name)",
    """Name the downloaded file `name`.

    Without it the file is named after the last element of the URL's path.

    Example: `http "https://dl.example.com/download?v=1.0" with filename("tool.tar.gz")`
    """,
)

# -- git ------------------------------------------------------------------------------

declare(
    "fs git(string remote, string ref)",
    """A filesystem with a git repository checked out at `ref`.

    BuildKit clones `remote` and checks out the branch, tag or commit `ref`.
    The `.git` directory is left out unless `keepGitDir` is given.

    Example: `git "https://github.com/openllb/hlb.git" "master"`
    """,
)

declare(
    "option::git keepGitDir()",
    """Keep the repository's `.git` directory in the checkout.

    Needed by builds that run `git describe` or read commit metadata.

    Example: `git "https://github.com/openllb/hlb.git" "master" with keepGitDir`
    """,
)

# -- local ----------------------------------------------------------------------------

declare(
    "fs local(string path)",
    """A filesystem with files of the machine running hlb, synced to BuildKit.

    A relative path is relative to the directory of the module that calls
    `local`, and `~/` is the home directory. A directory is synced whole; a
    single file is synced alone (its include and exclude patterns are ignored).
    Options: `includePatterns`, `excludePatterns`.

    Example: `local "."`
    """,
)

declare(
    "option::local includePatterns(variadic string pattern)",
    """Sync only the files matching one of these patterns.

    Patterns use the `.dockerignore` syntax and are relative to the synced
    directory. Ignored when the path is a single file.

    Example: `local "." with includePatterns("go.mod", "go.sum", "**/*.go")`
    """,
)

declare(
    "option::local excludePatterns(variadic string pattern)",
    """Do not sync the files matching one of these patterns.

    Patterns use the `.dockerignore` syntax and are relative to the synced
    directory. Ignored when the path is a single file.

    Example: `local "." with excludePatterns(".git", "node_modules")`
    """,
)

# -- frontend -------------------------------------------------------------------------

declare(
    "fs frontend(string source)",
    """The filesystem produced by a BuildKit gateway frontend image.

    `source` is an image reference of a frontend (such as
    `docker/dockerfile`); it runs as a separate build while the module is
    compiled, and its result and image config become this filesystem.
    Options: `input`, `opt`.

    Example: `frontend "docker/dockerfile:1"`
    """,
)

declare(
    "option::frontend input(string key, fs value)",
    """Hand a filesystem to the frontend under `key`.

    What keys a frontend reads is up to the frontend; the Dockerfile frontend
    reads `context` and `dockerfile`.

    Example: `frontend "docker/dockerfile:1" with option { input "context" fs { local "."; }; }`
    """,
)

declare(
    "option::frontend opt(string key, string value)",
    """Hand a key-value option to the frontend.

    What options a frontend reads is up to the frontend; the Dockerfile
    frontend reads, for example, `target` and `build-arg:NAME`.

    Example: `frontend "docker/dockerfile:1" with option { opt "target" "release"; }`
    """,
)
