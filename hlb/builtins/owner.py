"""The ``uid``/``gid``/``mode`` options, declared once for every mount that takes them.

``cacheMount`` (the cache directory), ``ssh`` (the agent socket), ``forward``
(the forwarded socket) and ``secret`` (the secret files) each take the three;
:func:`declare_owner_options` declares them for one option type from a
description of what they set, and :func:`owner_of` reads them back.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from hlb.builtins.call import Call, owner_id, permissions
from hlb.builtins.registry import declare
from hlb.values import Options


@dataclass(frozen=True, slots=True)
class Owner:
    """One ``uid``, ``gid`` or ``mode`` option (the others None); later ones win field by field."""

    uid: int | None = None
    gid: int | None = None
    mode: int | None = None


def owner_of(options: Options, default_mode: int) -> tuple[int, int, int]:
    """(uid, gid, mode) of ``options``: the last of each given, else root and ``default_mode``."""
    owners = options.of(Owner)
    uid = next((o.uid for o in reversed(owners) if o.uid is not None), 0)
    gid = next((o.gid for o in reversed(owners) if o.gid is not None), 0)
    mode = next((o.mode for o in reversed(owners) if o.mode is not None), default_mode)
    return uid, gid, mode


@dataclass(frozen=True, slots=True)
class Owned:
    """What the owner options of one option type set, for their documentation.

    ``what``: "the cache directory"; ``default_mode`` and ``mode_text`` (what it
    means, "usable by its owner only"); ``note``: a sentence for all three;
    ``example``: a call the options are added to (`with uid(1000)`...);
    ``example_mode``: the mode its example sets.
    """

    what: str
    default_mode: int
    mode_text: str
    example: str
    example_mode: int
    note: str = ""


def declare_owner_options(option: str, owned: Owned) -> None:
    """Declare ``uid``, ``gid`` and ``mode`` of ``option::<option>``."""
    mode = f"0o{owned.example_mode:o}"

    def doc(summary: str, behaviour: str, example: str) -> str:
        text = textwrap.fill(f"{behaviour} {owned.note}".strip(), 76)
        return f"{summary} {owned.what}.\n\n{text}\n\nExample: `{owned.example} with {example}`"

    def uid(call: Call, id: int) -> Owner:
        return Owner(uid=owner_id(call, id))

    def gid(call: Call, id: int) -> Owner:
        return Owner(gid=owner_id(call, id))

    def filemode(call: Call, filemode: int) -> Owner:
        return Owner(mode=permissions(call, filemode))  # the hint's example as before: 0o600

    default = "The default is 0 (root); set it when the command runs as another"
    declare(f"option::{option} uid(int id)", doc("Set the numeric owner of", f"{default} user.", "uid(1000)"), uid)
    declare(f"option::{option} gid(int id)", doc("Set the numeric group of", f"{default} group.", "gid(1000)"), gid)
    declare(
        f"option::{option} mode(int filemode)",
        doc("Set the permissions of", f"The default is 0o{owned.default_mode:o}, {owned.mode_text}.", f"mode({mode})"),
        filemode,
    )
