"""Exporters: builtins that send the current filesystem somewhere as a side effect.

Each one starts a separate solve of the filesystem with a BuildKit exporter
and gives back the filesystem unchanged, so a block can go on after it. The
side solve is an :class:`~hlb.values.Effect` on the returned value; the solve
plan (:mod:`hlb.compiler.plan`) runs it beside the target's own solve, and the
build fails when it fails. Which exporter the daemon really runs (``moby`` on
the Docker engine for ``dockerLoad``) is the solver's choice.
"""

from __future__ import annotations

import os

from hlb.builtins.call import Call, image_ref
from hlb.builtins.registry import builtin, flag
from hlb.diagnostics import catalog as cat
from hlb.source import client_path
from hlb.values import Effect, Exporter, FsValue


def _ref(call: Call, ref: str, arg: int = 0) -> str:
    return str(image_ref(call, ref, arg))


def _local_path(call: Call, path: str, file: bool = False) -> str:
    """The absolute destination of a download; ``file``: a tarball, which needs a file name."""
    if not path.strip():
        call.fail(cat.invalid_value(call.arg_span(0), "the local path is empty", hint='for example: "./dist"'))
    if file and path.endswith(("/", os.sep)):
        call.fail(
            cat.invalid_value(
                call.arg_span(0),
                f"`{path}` names a directory, and a tarball needs a file",
                hint='for example: "./dist/rootfs.tar"',
            )
        )
    return client_path(call.host_text(path, 0), call.module_dir)


def _export(call: Call, title: str, exporter: Exporter, image_name: str = "") -> FsValue:
    fs = call.fs
    effect = Effect(call.name, title, fs, call.span, (exporter,), image_name=image_name)
    return fs.with_effects(effect)


@builtin("fs dockerPush(string ref) binds (string digest)")
def docker_push(call: Call, ref: str) -> FsValue | str:
    """Push the filesystem as an image to a registry.

    The reference is normalised as for `image`; the image config carries what
    `env`, `dir`, `user`, `entrypoint` and the other config builtins set.
    `as digest` binds the digest of the pushed manifest. Option: `stargz`.

    Example: `dockerPush "127.0.0.1:5000/app:latest" as appDigest`
    """
    name = _ref(call, ref)
    attrs = {"name": name, "push": "true"}
    if STARGZ.given(call.options):
        attrs.update({"compression": "estargz", "oci-mediatypes": "true", "force-compression": "true"})
    if "digest" in call.binds:
        # `as digest`: the push happens now, and its digest is the value of the bind.
        effect = Effect(
            call.name, f"dockerPush {name}", call.fs, call.span, (Exporter("image", attrs),), image_name=name
        )
        return call.ctx.push_now(effect)
    return _export(call, f"dockerPush {name}", Exporter("image", attrs), name)


STARGZ = flag(
    "option::dockerPush stargz()",
    """Push the layers compressed as eStargz, which runtimes can pull lazily.

    eStargz layers are ordinary gzip layers to other runtimes, so the image
    still runs everywhere. Not available on the Docker engine backend.

    Example: `dockerPush "127.0.0.1:5000/app:latest" with stargz`
    """,
)


@builtin("fs dockerLoad(string ref)")
def docker_load(call: Call, ref: str) -> FsValue:
    """Load the filesystem as an image named `ref` into the local Docker engine.

    Built on the Docker engine, the image goes into that engine; built on another
    BuildKit daemon (`--addr kube-pod://...`), into the engine `docker` uses
    (`DOCKER_HOST`, `DOCKER_CONTEXT`, the current docker context, the default
    socket). The image is then available to `docker run`.

    Example: `dockerLoad "app:dev"`
    """
    name = _ref(call, ref)
    return _export(call, f"dockerLoad {name}", Exporter("docker", {"name": name}), name)


@builtin("fs download(string localPath)")
def download(call: Call, local_path: str) -> FsValue:
    """Write the filesystem's files into a directory of the machine running hlb.

    A relative path is relative to the module's directory; existing files are
    overwritten.

    Example: `download "./dist"`
    """
    dest = _local_path(call, local_path)
    return _export(call, f"download {local_path}", Exporter("local", {}, dest))


@builtin("fs downloadTarball(string localPath)")
def download_tarball(call: Call, local_path: str) -> FsValue:
    """Write the filesystem's files as a tar archive to a file of the machine running hlb.

    A relative path is relative to the module's directory.

    Example: `downloadTarball "./dist/rootfs.tar"`
    """
    dest = _local_path(call, local_path, file=True)
    return _export(call, f"downloadTarball {local_path}", Exporter("tar", {}, dest))


@builtin("fs downloadOCITarball(string localPath)")
def download_oci_tarball(call: Call, local_path: str) -> FsValue:
    """Write the filesystem as an OCI image layout tarball to a file of the machine running hlb.

    The image config is included, as for `dockerPush`. On a Docker engine it
    needs the containerd image store.

    Example: `downloadOCITarball "./dist/app-oci.tar"`
    """
    dest = _local_path(call, local_path, file=True)
    return _export(call, f"downloadOCITarball {local_path}", Exporter("oci", {}, dest))


@builtin("fs downloadDockerTarball(string localPath, string ref)")
def download_docker_tarball(call: Call, local_path: str, ref: str) -> FsValue:
    """Write the filesystem as an image tarball, named `ref`, that `docker load` accepts.

    The image config is included, as for `dockerPush`. On a Docker engine it
    needs the containerd image store.

    Example: `downloadDockerTarball "./dist/app.tar" "app:dev"`
    """
    dest = _local_path(call, local_path, file=True)
    name = _ref(call, ref, arg=1)
    return _export(call, f"downloadDockerTarball {local_path}", Exporter("docker", {"name": name}, dest), name)
