"""Options of ``mkdir`` and ``mkfile`` (``option::mkdir``, ``option::mkfile``), and the parsing
of owners and RFC 3339 times that ``copy`` shares with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hlb.builtins.call import Call
from hlb.builtins.registry import declare, flag
from hlb.diagnostics import catalog as cat
from hlb.llb import Chown
from hlb.values import Options

OWNER_HINT = 'write `user:group` or `user`, with names or numeric ids, for example "1000:1000" or "app:app"'
TIME_HINT = 'write the time in RFC 3339, for example "2020-01-01T00:00:00Z" or "2020-01-01T12:00:00.5+02:00"'

# -- option values -------------------------------------------------------------


CREATE_PARENTS = flag(
    "option::mkdir createParents()",
    """Create missing parent directories, like `mkdir -p`.

    The parents get the same permissions as the directory; an existing
    directory is then no error either.

    Example: `mkdir "/a/b/c" 0o755 with createParents`
    """,
)


@dataclass(frozen=True, slots=True)
class FileChown:
    owner: Chown


@dataclass(frozen=True, slots=True)
class CreatedTime:
    unix_nanos: int


def owner_of(options: Options) -> Chown | None:
    o = options.last(FileChown)
    return o.owner if o else None


def timestamp_of(options: Options) -> int:
    """The last ``createdTime`` in unix nanoseconds; -1 (unset) without one."""
    t = options.last(CreatedTime)
    return t.unix_nanos if t else -1


def declare_file_options(option: str, what: str, example: str) -> None:
    """Declare ``chown`` and ``createdTime`` of ``option::<option>`` (``mkdir``, ``mkfile``, ``copy``).

    ``what`` names the files they apply to ("the new directory"); ``example`` is a call they are added to.
    """

    def chown(call: Call, owner: str) -> FileChown:
        return FileChown(lower_owner(call, owner))

    def created_time(call: Call, created: str) -> CreatedTime:
        return CreatedTime(lower_time(call, created))

    declare(
        f"option::{option} chown(string owner)",
        f"""Give {what} this owner, `user:group` (names or numeric ids).

        Names are resolved in this filesystem's `/etc/passwd` and `/etc/group`.

        Example: `{example} with chown("1000:1000")`""",
        chown,
    )
    declare(
        f"option::{option} createdTime(string created)",
        f"""Set the modification time of {what}, written in RFC 3339.

        A fixed time makes the layer reproducible across builds.

        Example: `{example} with createdTime("2020-01-01T00:00:00Z")`""",
        created_time,
    )


declare_file_options("mkdir", "the new directory", 'mkdir "/out" 0o755')
declare_file_options("mkfile", "the new file", 'mkfile "/VERSION" 0o644 "1.0.0"')


# -- owners ------------------------------------------------------------------------


def lower_owner(call: Call, text: str) -> Chown:
    try:
        return parse_owner(text)
    except ValueError as e:
        call.fail(cat.invalid_value(call.arg_span(0), f"invalid owner `{text}`: {e}", hint=OWNER_HINT))


_ID = re.compile(r"\+?[0-9]+")
_MAX_ID = 2**31 - 1  # Go parses ids as int32 and takes anything larger for a name


def parse_owner(text: str) -> Chown:
    """Go's ``llb.WithUser``: `user[:group]`, each a numeric id, `root` (id 0) or a name.

    Where Go would silently give root (an empty part) or wrap a negative id, this
    raises ValueError.
    """
    user, sep, group = text.partition(":")
    return Chown(_owner_part(user, "user"), _owner_part(group, "group") if sep else None)


def _owner_part(part: str, what: str) -> int | str:
    if not part:
        raise ValueError(f"the {what} is empty")
    if part == "root":
        return 0
    if part.startswith("-") and _ID.fullmatch(part[1:]):
        raise ValueError(f"the {what} id {part} is negative")
    if _ID.fullmatch(part):
        if int(part) > _MAX_ID:
            raise ValueError(f"the {what} id {part} is larger than {_MAX_ID}")
        return int(part)
    if ":" in part or any(c.isspace() for c in part):
        raise ValueError(f"the {what} name `{part}` contains {'`:`' if ':' in part else 'a space'}")
    return part


# -- times --------------------------------------------------------------------------


def lower_time(call: Call, text: str) -> int:
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        call.fail(cat.invalid_value(call.arg_span(0), f"invalid time `{text}`: {e}", hint=TIME_HINT))


_RFC3339 = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:[.,](?P<frac>[0-9]+))?(?P<zone>Z|(?P<sign>[+-])(?P<zh>[0-9]{2}):(?P<zm>[0-9]{2}))"
)


def parse_rfc3339(text: str) -> int:
    """Go's ``time.Parse(time.RFC3339, text).UnixNano()``: the time in unix nanoseconds.

    Fractional seconds are accepted (digits past nanoseconds are dropped, as Go does).
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError("not an RFC 3339 time (YYYY-MM-DDThh:mm:ss[.fraction] and `Z` or an offset like +02:00)")
    y, mo, d, h, mi, s = (int(m[k]) for k in ("y", "mo", "d", "h", "mi", "s"))
    if not 1 <= mo <= 12:
        raise ValueError(f"month {m['mo']} is out of range")
    if not 1 <= d <= _days_in_month(y, mo):
        raise ValueError(f"day {m['d']} is out of range")
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"time of day {m['h']}:{m['mi']}:{m['s']} is out of range")
    offset = 0
    if m["sign"]:
        zh, zm = int(m["zh"]), int(m["zm"])
        if zh > 23 or zm > 59:
            raise ValueError(f"time zone offset {m['zone']} is out of range")
        offset = (zh * 3600 + zm * 60) * (-1 if m["sign"] == "-" else 1)
    seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
    nanos = int((m["frac"] or "")[:9].ljust(9, "0"))
    return seconds * 1_000_000_000 + nanos


def _days_in_month(y: int, mo: int) -> int:
    if mo == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if mo in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, mo: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (year 0 included, as Go allows)."""
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
