"""The flags that name a daemon (``--addr``, ``--context``, buildctl's TLS flags) and the addresses they resolve
to, shared by the commands that talk to one: ``run``, ``compile``, ``cache``, ``explain``."""

from __future__ import annotations

import argparse

from hlb.address import Address, AddressError, TLSConfig, resolve, several


def add_address_flags(p: argparse.ArgumentParser) -> None:
    """``--addr`` and buildctl's TLS flags."""
    p.add_argument(
        "--addr",
        action="append",
        metavar="ADDRESS",
        help="the BuildKit daemon: unix://PATH, tcp://HOST:PORT, docker-container://NAME, "
        "kube-pod://POD?namespace=NS&context=CTX, ssh://USER@HOST[:PORT] or docker:// for a Docker engine "
        "(default: $BUILDKIT_HOST, else the Docker engine the docker CLI uses: --context, $DOCKER_HOST, "
        "$DOCKER_CONTEXT, the current docker context, the default socket); repeatable or comma-separated for "
        "several daemons: `hlb run` builds each target on one of them",
    )
    p.add_argument(
        "--context",
        metavar="NAME",
        help="build on the Docker engine of this docker context, as `docker --context NAME` (`docker context ls`)",
    )
    p.add_argument("--tlscacert", metavar="FILE", help="CA certificate to verify a tcp:// daemon with")
    p.add_argument("--tlscert", metavar="FILE", help="client certificate for a tcp:// daemon (with --tlskey)")
    p.add_argument("--tlskey", metavar="FILE", help="key of the client certificate")
    p.add_argument("--tlsservername", metavar="NAME", help="server name to verify (default: the address's host)")


def address_of(args: argparse.Namespace) -> Address:
    """The daemon the flags and the environment name; raises AddressError (also for several)."""
    addresses = addresses_of(args)
    if len(addresses) > 1:
        names = ", ".join(a.url for a in addresses)
        raise AddressError(f"`hlb {args.command}` works on one daemon; {addresses[0].source} names {len(addresses)}: "
                           f"{names} (give one with --addr)")  # fmt: skip
    return addresses[0]


def addresses_of(args: argparse.Namespace) -> list[Address]:
    """The daemons the flags and the environment name: one, or a fleet (several --addr, or commas in
    --addr or BUILDKIT_HOST); raises AddressError."""
    files = (args.tlscacert, args.tlscert, args.tlskey, args.tlsservername)
    tls = TLSConfig(*files) if any(files) else None
    if args.context is None:
        fleet = several(args.addr or (), tls=tls)
        if fleet:
            return fleet
    elif args.addr and len(args.addr) > 1:
        raise AddressError(f"conflicting options: --context {args.context} and --addr: give one of them")
    return [resolve(args.addr[0] if args.addr else None, tls=tls, context=args.context)]
