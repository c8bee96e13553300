"""``fs`` operations between filesystems: ``rm``, ``copy``, ``merge``, ``diff``, and their options.

Declared and type-checked here; compiled from issue #4 on. Relative paths
of file operations are resolved against the filesystem's working directory.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

# -- rm -----------------------------------------------------------------------------

declare(
    "fs rm(string path)",
    """Remove a file or directory (recursively) from the filesystem.

    A missing path fails the build unless `allowNotFound` is given.
    Options: `allowNotFound`, `allowWildcard`.

    Example: `rm "/var/cache/apk"`
    """,
)

declare(
    "option::rm allowNotFound()",
    """Succeed when the path to remove does not exist.

    The filesystem is then unchanged.

    Example: `rm "/tmp/build.log" with allowNotFound`
    """,
)

declare(
    "option::rm allowWildcard()",
    """Read the path as a wildcard pattern and remove every match.

    `*`, `?` and `[…]` match within one path element.

    Example: `rm "/tmp/*.log" with allowWildcard`
    """,
)

# -- copy ----------------------------------------------------------------------------

declare(
    "fs copy(fs input, string src, string dst)",
    """Copy `src` of another filesystem to `dst` of this one.

    A directory is copied as a whole, or only what it holds with
    `contentsOnly`. A relative `dst` joins the working directory. Options: `followSymlinks`, `contentsOnly`, `unpack`,
    `createDestPath`, `allowWildcard`, `allowEmptyWildcard`, `chown`, `chmod`,
    `createdTime`, `includePatterns`, `excludePatterns`.

    Example: `copy fs { local "."; } "src" "/app/src"`
    """,
)

declare(
    "option::copy followSymlinks()",
    """Copy what a symlink at `src` points to instead of the symlink itself.

    The link is resolved inside the input filesystem.

    Example: `copy src "/usr/bin/python3" "/opt/python3" with followSymlinks`
    """,
)

declare(
    "option::copy contentsOnly()",
    """When `src` is a directory, copy what it holds rather than the directory itself.

    The entries of `src` land directly in `dst`.

    Example: `copy src "/build/out" "/app" with contentsOnly`
    """,
)

declare(
    "option::copy unpack()",
    """When `src` is an archive (tar, optionally compressed), extract it into `dst`.

    A file that is not an archive is copied as is.

    Example: `copy src "/downloads/tool.tar.gz" "/opt/tool" with unpack`
    """,
)

declare(
    "option::copy createDestPath()",
    """Create the missing parent directories of `dst`.

    Without it a missing parent fails the build.

    Example: `copy src "/config.yaml" "/etc/app/conf.d/config.yaml" with createDestPath`
    """,
)

declare(
    "option::copy allowWildcard()",
    """Read `src` as a wildcard pattern and copy every match.

    `*`, `?` and `[…]` match within one path element; no match is an error
    unless `allowEmptyWildcard`.

    Example: `copy src "/src/*.go" "/app/" with allowWildcard`
    """,
)

declare(
    "option::copy allowEmptyWildcard()",
    """Succeed when the wildcard `src` matches nothing.

    Nothing is copied then; use it with `allowWildcard`.

    Example: `copy src "/docs/*.md" "/app/docs/" with option { allowWildcard; allowEmptyWildcard; }`
    """,
)

declare(
    "option::copy chown(string owner)",
    """Give the copied files this owner, `user:group` (names or numeric ids).

    Names are looked up in `/etc/passwd` and `/etc/group` of this filesystem.

    Example: `copy src "/app" "/app" with chown("1000:1000")`
    """,
)

declare(
    "option::copy chmod(int filemode)",
    """Give the copied files these permissions.

    Without it the files keep the permissions they have in the input.

    Example: `copy src "/entrypoint.sh" "/entrypoint.sh" with chmod(0o755)`
    """,
)

declare(
    "option::copy createdTime(string created)",
    """Set the modification time of the copied files, written in RFC 3339.

    A fixed time makes the layer reproducible across builds.

    Example: `copy src "/app" "/app" with createdTime("2020-01-01T00:00:00Z")`
    """,
)

declare(
    "option::copy includePatterns(variadic string pattern)",
    """Copy only the files under `src` that match one of these patterns.

    Ignored when `src` is a single file.

    Example: `copy src "/" "/app" with includePatterns("**/*.go", "go.mod")`
    """,
)

declare(
    "option::copy excludePatterns(variadic string pattern)",
    """Skip the files under `src` that match one of these patterns.

    Ignored when `src` is a single file.

    Example: `copy src "/" "/app" with excludePatterns("**/*_test.go")`
    """,
)

# -- merge and diff ---------------------------------------------------------------------

declare(
    "fs merge(variadic fs inputs)",
    """Stack the inputs on top of the current filesystem (a BuildKit merge op).

    Later inputs win where paths collide. Unlike a chain of `copy`s, each
    input stays its own layer, so changing one does not invalidate the others.
    At least one input is required.

    Example: `merge fs { scratch; mkfile "/a" 0o644 "a"; } fs { scratch; mkfile "/b" 0o644 "b"; }`
    """,
)

declare(
    "fs diff(fs base)",
    """The changes the current filesystem made on top of `base` (a BuildKit diff op).

    The result holds only the added, changed and deleted paths; merged onto
    another filesystem it replays them there.

    Example: `diff fs { image "alpine:3.20"; }`
    """,
)
