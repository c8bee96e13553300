"""Several BuildKit daemons: each target built on one of them, always the same one.

A target is placed by rendezvous (highest-random-weight) hashing of its name:
every daemon gets a weight ``hash(daemon, target)`` and the heaviest wins. The
same target lands on the same daemon on every run and every machine that names
the same daemons (in any order), so its cache mounts and local build cache stay
warm there; adding a daemon moves only the targets that now weigh most on it
(about one in N+1), removing one moves only its own. This is what buildx's
kubernetes driver calls sticky load balancing.

A solve belongs to the requested target whose evaluation started it (its side
solves, its pushes), so a target's steps are built and cached on one daemon.
A daemon that cannot be reached is an error naming it: its targets are never
moved to another daemon, where their caches are cold.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from hlb.address import Address
from hlb.compiler.plan import Solve
from hlb.solver.client import BuildkitClient
from hlb.transport import TransportError


def weight(daemon: str, key: str) -> int:
    """The weight of ``daemon`` for ``key``: 64 bits of a hash of both, the same on every machine."""
    digest = hashlib.blake2b(f"{daemon}\0{key}".encode(), digest_size=8, person=b"hlb-fleet").digest()
    return int.from_bytes(digest, "big")


def choose(key: str, daemons: Sequence[str]) -> int:
    """The index of the daemon ``key`` goes to: the heaviest (ties, which 64 bits make unlikely, by name)."""
    if not daemons:
        raise ValueError("no daemons to choose from")
    return max(range(len(daemons)), key=lambda i: (weight(daemons[i], key), daemons[i]))


def key_of(solve: Solve) -> str:
    """What places a solve: the requested target it belongs to."""
    return solve.target or solve.title


class Unreachable(TransportError):
    """Daemons of the fleet that cannot be reached, each with its reason and the targets placed on it."""

    def __init__(self, failures: Sequence[tuple[Address, str, Sequence[str]]]) -> None:
        self.failures = list(failures)
        super().__init__("; ".join(reason for _, reason, _ in failures))


class Fleet:
    """The daemons of several ``--addr``: a client for each, opened when a solve placed on it needs it
    (:meth:`connect` opens those of a plan up front)."""

    def __init__(
        self, addresses: Sequence[Address], connect: Callable[[Address], BuildkitClient] = BuildkitClient
    ) -> None:
        if len(addresses) < 2:
            raise ValueError("a fleet has two daemons or more")
        self.addresses = tuple(addresses)
        self._names = [a.url for a in self.addresses]
        self._connect = connect
        self._clients: dict[int, BuildkitClient] = {}
        self._lock = threading.Lock()
        self._cancelled = False

    def place(self, key: str) -> Address:
        """The daemon of the target named ``key``."""
        return self.addresses[choose(key, self._names)]

    def address_for(self, solve: Solve) -> Address:
        return self.place(key_of(solve))

    def client_for(self, solve: Solve) -> BuildkitClient:
        """The client of ``solve``'s daemon (connected now if it is not yet); raises TransportError."""
        i = choose(key_of(solve), self._names)
        with self._lock:
            client = self._clients.get(i)
        if client is None:
            client = self._open(i)
        return client

    def _open(self, i: int) -> BuildkitClient:
        client = self._connect(self.addresses[i])
        with self._lock:
            if i in self._clients:  # another thread connected it meanwhile
                other = self._clients[i]
                client.close()
                return other
            self._clients[i] = client
            if self._cancelled:
                client.cancel()
        return client

    def connect(self, solves: Sequence[Solve]) -> None:
        """Connect, in parallel, to every daemon a solve of ``solves`` is placed on; raises
        :class:`Unreachable` naming each daemon that cannot be reached and the targets placed on it."""
        targets: dict[int, list[str]] = {}
        for s in solves:
            names = targets.setdefault(choose(key_of(s), self._names), [])
            if key_of(s) not in names:
                names.append(key_of(s))
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            futures = {i: pool.submit(self._open, i) for i in sorted(targets)}
        failures = []
        for i, future in futures.items():
            error = future.exception()
            if error is not None:
                if not isinstance(error, TransportError):
                    raise error
                failures.append((self.addresses[i], str(error), targets[i]))
        if failures:
            raise Unreachable(failures)

    def first(self) -> BuildkitClient:
        """A connected client (the first daemon's that is open), for what any daemon can answer."""
        with self._lock:
            if self._clients:
                return self._clients[min(self._clients)]
        return self._open(0)

    def cancel(self) -> None:
        """Cancel every solve in flight on every daemon (Ctrl-C)."""
        with self._lock:
            self._cancelled = True
            clients = list(self._clients.values())
        for client in clients:
            client.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
