"""Builtins that are declared and type-checked, and compiled from issue #4 on.

Each entry is the builtin's signature (as in openllb/hlb's ``builtin.hlb``),
its documentation with an example, and the accepted values of enum-like
string parameters. Moving a builtin to a module with a lowering
(``@builtin``) removes it from here; the registry refuses a duplicate.
"""

from __future__ import annotations

from hlb.builtins.registry import declare

NETWORK_MODES = ("unset", "host", "none")
SECURITY_MODES = ("sandbox", "insecure")

_DECLARED: list[tuple[str, str, dict[str, tuple[str, ...]]]] = [
    # -- image options -----------------------------------------------------------
    (
        "option::image resolve()",
        "Resolve the image's config (env, working dir, user). Accepted for compatibility: "
        'configs are always resolved.\n\nExample: `image "busybox" with resolve`',
        {},
    ),
    (
        "option::image platform(string os, string arch)",
        "Pull the image for this platform instead of the default one.\n\n"
        'Example: `image "busybox" with platform("linux", "arm64")`',
        {},
    ),
    # -- http ----------------------------------------------------------------------
    (
        "fs http(string url)",
        'A file downloaded over HTTP(S) as the filesystem.\n\nExample: `http "https://example.com/tool.tar.gz"`',
        {},
    ),
    (
        "option::http checksum(string digest)",
        "Fail unless the download has this digest.\n\n"
        'Example: `http "https://example.com/a" with checksum("sha256:0123456789abcdef0123456789abcdef'
        '0123456789abcdef0123456789abcdef")`',
        {},
    ),
    (
        "option::http chmod(int filemode)",
        'The permissions of the downloaded file.\n\nExample: `http "https://example.com/tool" with chmod(0o755)`',
        {},
    ),
    (
        "option::http filename(string name)",
        'The name of the downloaded file.\n\nExample: `http "https://example.com/t?v=1" with filename("tool")`',
        {},
    ),
    # -- git ------------------------------------------------------------------------
    (
        "fs git(string remote, string ref)",
        "A git repository checked out at a branch, tag or commit.\n\n"
        'Example: `git "https://github.com/openllb/hlb.git" "main"`',
        {},
    ),
    (
        "option::git keepGitDir()",
        'Keep the `.git` directory in the checkout.\n\nExample: `git "https://x/y.git" "main" with keepGitDir`',
        {},
    ),
    # -- local ------------------------------------------------------------------------
    (
        "fs local(string path)",
        "A directory (or one file) of the machine running hlb, relative to the module's directory, "
        'synced to BuildKit through the session.\n\nExample: `local "."`',
        {},
    ),
    (
        "option::local includePatterns(variadic string pattern)",
        'Sync only the paths matching these patterns.\n\nExample: `local "." with includePatterns("src", "go.*")`',
        {},
    ),
    (
        "option::local excludePatterns(variadic string pattern)",
        'Do not sync the paths matching these patterns.\n\nExample: `local "." with excludePatterns(".git")`',
        {},
    ),
    # -- frontend ---------------------------------------------------------------------
    (
        "fs frontend(string source)",
        "The result of a BuildKit gateway frontend image (such as a Dockerfile frontend).\n\n"
        'Example: `frontend "docker/dockerfile"`',
        {},
    ),
    (
        "option::frontend input(string key, fs value)",
        "Pass a filesystem to the frontend under a key.\n\n"
        'Example: `frontend "docker/dockerfile" with option { input "context" fs { local "."; }; }`',
        {},
    ),
    (
        "option::frontend opt(string key, string value)",
        "Pass an option to the frontend.\n\n"
        'Example: `frontend "docker/dockerfile" with option { opt "target" "release"; }`',
        {},
    ),
    # -- run and its options ----------------------------------------------------------
    (
        "fs shell(variadic string arg)",
        'Declared by HLB without an implementation; use `run`.\n\nExample: `shell "echo hi"`',
        {},
    ),
    ("option::run readonlyRootfs()", 'Mount `/` read-only.\n\nExample: `run "ls" with readonlyRootfs`', {}),
    (
        "option::run ignoreCache()",
        'Always run this step: it never hits the build cache.\n\nExample: `run "date" with ignoreCache`',
        {},
    ),
    (
        "option::run network(string networkmode)",
        "The network of the step: `unset` (default), `host` (needs the network.host entitlement) or `none`.\n\n"
        'Example: `run "curl x" with network("host")`',
        {"networkmode": NETWORK_MODES},
    ),
    (
        "option::run security(string securitymode)",
        "`sandbox` (default) or `insecure` (privileged; needs the security.insecure entitlement).\n\n"
        'Example: `run "mount -t tmpfs none /mnt" with security("insecure")`',
        {"securitymode": SECURITY_MODES},
    ),
    (
        "option::run shlex()",
        "Split a single-argument command into words instead of running it with `/bin/sh -c`.\n\n"
        'Example: `run "ls -l /" with shlex`',
        {},
    ),
    (
        "option::run host(string hostname, string address)",
        'Add an `/etc/hosts` entry.\n\nExample: `run "ping -c1 db" with host("db", "10.0.0.2")`',
        {},
    ),
    (
        "option::run ssh()",
        "Mount the SSH agent socket of the machine running hlb (`$SSH_AUTH_SOCK`).\n\n"
        'Example: `run "git clone git@github.com:org/private.git" with ssh`',
        {},
    ),
    (
        "option::run forward(string src, string dest)",
        "Forward a local `unix://` or `tcp://` socket into the step at `dest`.\n\n"
        'Example: `run "docker ps" with forward("unix:///var/run/docker.sock", "/var/run/docker.sock")`',
        {},
    ),
    (
        "option::run secret(string localPath, string mountPoint)",
        "Mount a local file (or each file of a directory) as a secret, never stored in the image or cache.\n\n"
        'Example: `run "cat /run/secrets/token" with secret("./token", "/run/secrets/token")`',
        {},
    ),
    ("option::forward uid(int id)", 'Owner of the socket.\n\nExample: `forward "unix:///s" "/s" with uid(1000)`', {}),
    ("option::forward gid(int id)", 'Group of the socket.\n\nExample: `forward "unix:///s" "/s" with gid(1000)`', {}),
    (
        "option::forward mode(int filemode)",
        'Permissions of the socket.\n\nExample: `forward "unix:///s" "/s" with mode(0o600)`',
        {},
    ),
    (
        "option::ssh target(string mountPoint)",
        'Where the agent socket is mounted.\n\nExample: `ssh with target("/ssh-agent")`',
        {},
    ),
    (
        "option::ssh localPaths(variadic string path)",
        "Forward these key files or sockets instead of `$SSH_AUTH_SOCK`.\n\n"
        'Example: `ssh with localPaths("~/.ssh/id")`',
        {},
    ),
    ("option::ssh uid(int id)", "Owner of the agent socket.\n\nExample: `ssh with uid(1000)`", {}),
    ("option::ssh gid(int id)", "Group of the agent socket.\n\nExample: `ssh with gid(1000)`", {}),
    ("option::ssh mode(int filemode)", "Permissions of the agent socket.\n\nExample: `ssh with mode(0o600)`", {}),
    ("option::secret uid(int id)", 'Owner of the secret.\n\nExample: `secret "./t" "/t" with uid(1000)`', {}),
    ("option::secret gid(int id)", 'Group of the secret.\n\nExample: `secret "./t" "/t" with gid(1000)`', {}),
    (
        "option::secret mode(int filemode)",
        'Permissions of the secret.\n\nExample: `secret "./t" "/t" with mode(0o400)`',
        {},
    ),
    (
        "option::secret includePatterns(variadic string pattern)",
        'For a directory: only these files.\n\nExample: `secret "./keys" "/keys" with includePatterns("*.pem")`',
        {},
    ),
    (
        "option::secret excludePatterns(variadic string pattern)",
        'For a directory: not these files.\n\nExample: `secret "./keys" "/keys" with excludePatterns("*.pub")`',
        {},
    ),
    ("option::mount tmpfs()", 'Mount an empty tmpfs.\n\nExample: `mount scratch "/tmp" with tmpfs`', {}),
    (
        "option::mount sourcePath(string path)",
        'Mount a sub-directory of the input.\n\nExample: `mount fs { local "."; } "/src" with sourcePath("src")`',
        {},
    ),
    # -- file operations -------------------------------------------------------------
    (
        "option::mkdir chown(string owner)",
        'The owner, `user:group`.\n\nExample: `mkdir "/d" 0o755 with chown("1000:1000")`',
        {},
    ),
    (
        "option::mkdir createdTime(string created)",
        'The creation time, RFC 3339.\n\nExample: `mkdir "/d" 0o755 with createdTime("2020-01-01T00:00:00Z")`',
        {},
    ),
    (
        "option::mkfile chown(string owner)",
        'The owner, `user:group`.\n\nExample: `mkfile "/f" 0o644 "x" with chown("1000:1000")`',
        {},
    ),
    (
        "option::mkfile createdTime(string created)",
        'The creation time, RFC 3339.\n\nExample: `mkfile "/f" 0o644 "x" with createdTime("2020-01-01T00:00:00Z")`',
        {},
    ),
    ("fs rm(string path)", 'Remove a file or directory.\n\nExample: `rm "/var/cache/apt"`', {}),
    (
        "option::rm allowNotFound()",
        'Do not fail when the path is missing.\n\nExample: `rm "/x" with allowNotFound`',
        {},
    ),
    (
        "option::rm allowWildcard()",
        'Treat the path as a wildcard.\n\nExample: `rm "/tmp/*.log" with allowWildcard`',
        {},
    ),
    (
        "fs copy(fs input, string src, string dst)",
        "Copy `src` from another filesystem to `dst` in this one.\n\n"
        'Example: `copy fs { local "."; } "src" "/app/src"`',
        {},
    ),
    (
        "option::copy followSymlinks()",
        'Copy what symlinks point to.\n\nExample: `copy src "/l" "/d" with followSymlinks`',
        {},
    ),
    (
        "option::copy contentsOnly()",
        'Copy a directory\'s contents, not the directory.\n\nExample: `copy src "/d" "/" with contentsOnly`',
        {},
    ),
    (
        "option::copy unpack()",
        'Unpack archives while copying.\n\nExample: `copy src "/a.tar.gz" "/opt" with unpack`',
        {},
    ),
    (
        "option::copy createDestPath()",
        'Create missing parents of `dst`.\n\nExample: `copy src "/a" "/x/y/a" with createDestPath`',
        {},
    ),
    (
        "option::copy allowWildcard()",
        'Treat `src` as a wildcard.\n\nExample: `copy src "/*.go" "/app/" with allowWildcard`',
        {},
    ),
    (
        "option::copy allowEmptyWildcard()",
        'Do not fail when the wildcard matches nothing.\n\nExample: `copy src "/*.md" "/d/" with allowEmptyWildcard`',
        {},
    ),
    (
        "option::copy chown(string owner)",
        'Owner of the copies.\n\nExample: `copy src "/a" "/a" with chown("1000:1000")`',
        {},
    ),
    (
        "option::copy chmod(int filemode)",
        'Permissions of the copies.\n\nExample: `copy src "/a" "/a" with chmod(0o644)`',
        {},
    ),
    (
        "option::copy createdTime(string created)",
        "Creation time of the copies, RFC 3339.\n\n"
        'Example: `copy src "/a" "/a" with createdTime("2020-01-01T00:00:00Z")`',
        {},
    ),
    (
        "option::copy includePatterns(variadic string pattern)",
        'Copy only matching paths.\n\nExample: `copy src "/" "/app" with includePatterns("*.go")`',
        {},
    ),
    (
        "option::copy excludePatterns(variadic string pattern)",
        'Skip matching paths.\n\nExample: `copy src "/" "/app" with excludePatterns("*_test.go")`',
        {},
    ),
    (
        "fs merge(variadic fs inputs)",
        "Stack filesystems on top of the current one (a BuildKit merge op).\n\n"
        'Example: `merge fs { image "busybox"; } fs { scratch; mkfile "/a" 0o644 "a"; }`',
        {},
    ),
    (
        "fs diff(fs base)",
        "What the current filesystem changed relative to `base` (a BuildKit diff op).\n\n"
        'Example: `diff fs { image "busybox"; }`',
        {},
    ),
    # -- exporters -----------------------------------------------------------------------
    (
        "fs dockerPush(string ref) binds (string digest)",
        "Push the filesystem as an image to a registry; `as digest` binds the pushed digest.\n\n"
        'Example: `dockerPush "127.0.0.1:5000/app:latest"`',
        {},
    ),
    (
        "option::dockerPush stargz()",
        'Push estargz-compressed layers (lazy pulling).\n\nExample: `dockerPush "127.0.0.1:5000/app" with stargz`',
        {},
    ),
    (
        "fs dockerLoad(string ref)",
        'Load the filesystem as an image into the Docker engine.\n\nExample: `dockerLoad "app:dev"`',
        {},
    ),
    ("fs download(string localPath)", 'Write the filesystem to a local directory.\n\nExample: `download "./out"`', {}),
    (
        "fs downloadTarball(string localPath)",
        'Write the filesystem as a tarball.\n\nExample: `downloadTarball "./out.tar"`',
        {},
    ),
    (
        "fs downloadOCITarball(string localPath)",
        'Write the filesystem as an OCI image tarball.\n\nExample: `downloadOCITarball "./image.tar"`',
        {},
    ),
    (
        "fs downloadDockerTarball(string localPath, string ref)",
        "Write the filesystem as a `docker load` tarball named `ref`.\n\n"
        'Example: `downloadDockerTarball "./image.tar" "app:dev"`',
        {},
    ),
    # -- image config ---------------------------------------------------------------------
    (
        "fs entrypoint(variadic string args)",
        'The image\'s entrypoint.\n\nExample: `entrypoint "/bin/app" "--serve"`',
        {},
    ),
    ("fs cmd(variadic string args)", 'The image\'s default command.\n\nExample: `cmd "--help"`', {}),
    (
        "fs label(string key, string value)",
        'An image label.\n\nExample: `label "org.opencontainers.image.title" "app"`',
        {},
    ),
    ("fs expose(variadic string ports)", 'Ports the image listens on.\n\nExample: `expose "8080/tcp"`', {}),
    ("fs volumes(variadic string mountpoints)", 'The image\'s volumes.\n\nExample: `volumes "/data"`', {}),
    (
        "fs stopSignal(string signal)",
        'The signal that stops a container of the image.\n\nExample: `stopSignal "SIGTERM"`',
        {},
    ),
    # -- strings ------------------------------------------------------------------------------
    (
        "string format(string formatString, variadic string values)",
        'Go-style `%s` formatting.\n\nExample: `format "%s:%s" "app" "latest"`',
        {},
    ),
    ("string localArch()", "The CPU architecture of the machine running hlb.\n\nExample: `localArch`", {}),
    ("string localCwd()", "The working directory of hlb.\n\nExample: `localCwd`", {}),
    ("string localEnv(string key)", 'An environment variable of hlb.\n\nExample: `localEnv "HOME"`', {}),
    ("string localOs()", "The operating system of the machine running hlb.\n\nExample: `localOs`", {}),
    (
        "string localRun(string command, variadic string args)",
        'Run a command on the machine running hlb and use its output.\n\nExample: `localRun "git rev-parse HEAD"`',
        {},
    ),
    (
        "option::localRun ignoreError()",
        'Use the output even if the command fails.\n\nExample: `localRun "false" with ignoreError`',
        {},
    ),
    (
        "option::localRun includeStderr()",
        'Include stderr in the output.\n\nExample: `localRun "make" with includeStderr`',
        {},
    ),
    ("option::localRun onlyStderr()", 'Use only stderr.\n\nExample: `localRun "make" with onlyStderr`', {}),
    (
        "option::localRun shlex()",
        'Split the command into words instead of `/bin/sh -c`.\n\nExample: `localRun "ls -l" with shlex`',
        {},
    ),
    (
        "string manifest(string ref) binds (string digest, string config, string index)",
        "An image's manifest as JSON; `as (digest d, config c, index i)` binds its parts.\n\n"
        'Example: `manifest "busybox:latest"`',
        {},
    ),
    (
        "option::manifest platform(string os, string arch)",
        'The platform whose manifest to resolve.\n\nExample: `manifest "busybox" with platform("linux", "arm64")`',
        {},
    ),
    (
        "string template(string text)",
        'A Go text/template.\n\nExample: `template "v{{.version}}" with stringField("version", "1")`',
        {},
    ),
    (
        "option::template stringField(string name, string value)",
        'A field of the template\'s data.\n\nExample: `template "{{.a}}" with stringField("a", "x")`',
        {},
    ),
    # -- pipelines ------------------------------------------------------------------------------
    (
        "pipeline stage(variadic pipeline pipelines)",
        "After what came before, build all the arguments in parallel (`fs` values are one solve each).\n\n"
        'Example: `stage fs { image "alpine"; } fs { image "busybox"; }`',
        {},
    ),
]

for _signature, _doc, _choices in _DECLARED:
    declare(_signature, _doc, choices=_choices)
