"""Serialize protobuf messages exactly as protobuf-go's deterministic marshal does.

Op digests are sha256 of the bytes, so they must match BuildKit's Go client
(v0.18+ daemons re-serialize ops with protobuf-go and use *those* digests for
progress, metadata and source maps). Python's serializer differs from Go's in
two ways (see tests/data/llb-golden/README.md):

1. Go writes the members of a real ``oneof`` after all other fields
   (``pb.Op``: inputs=1, platform=10, constraints=11, then exec/source/file...);
   Python writes strictly by field number.
2. Go sorts map entries bytewise by key and always writes both key and value;
   upb's deterministic order puts a key after longer keys it prefixes.

This encoder walks the message descriptor and writes the Go order. Presence
follows proto3 as both libraries implement it: zero scalars are omitted
except oneof members; set sub-messages are written even when empty; repeated
numeric fields are packed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor as FD
from google.protobuf.message import Message

_VARINT_TYPES = frozenset({FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_INT32, FD.TYPE_UINT32, FD.TYPE_BOOL, FD.TYPE_ENUM})
_ZIGZAG = frozenset({FD.TYPE_SINT32, FD.TYPE_SINT64})
_FIXED64 = {FD.TYPE_FIXED64: "<Q", FD.TYPE_SFIXED64: "<q", FD.TYPE_DOUBLE: "<d"}
_FIXED32 = {FD.TYPE_FIXED32: "<I", FD.TYPE_SFIXED32: "<i", FD.TYPE_FLOAT: "<f"}
_LEN = frozenset({FD.TYPE_STRING, FD.TYPE_BYTES, FD.TYPE_MESSAGE})


def marshal(msg: Message) -> bytes:
    out = bytearray()
    _message(msg, out)
    return bytes(out)


def _varint(value: int, out: bytearray) -> None:
    if value < 0:
        value += 1 << 64
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _tag(number: int, wire_type: int, out: bytearray) -> None:
    _varint((number << 3) | wire_type, out)


def _is_repeated(fd: FD) -> bool:
    return bool(fd.is_repeated)


def _is_map(fd: FD) -> bool:
    if fd.type != FD.TYPE_MESSAGE or not _is_repeated(fd):
        return False
    assert fd.message_type is not None
    return bool(fd.message_type.GetOptions().map_entry)


def _in_real_oneof(fd: FD) -> bool:
    oneof = fd.containing_oneof
    return oneof is not None and not getattr(oneof, "is_synthetic", False)


def _message(msg: Message, out: bytearray) -> None:
    fields = msg.ListFields()  # set fields, in field-number order
    regular = [(fd, v) for fd, v in fields if not _in_real_oneof(fd)]
    oneofs = [(fd, v) for fd, v in fields if _in_real_oneof(fd)]
    for fd, value in regular + oneofs:
        if _is_map(fd):
            _map(fd, value, out)
        elif _is_repeated(fd):
            _repeated(fd, value, out)
        else:
            _single(fd, value, out)


def _map(fd: FD, container: Any, out: bytearray) -> None:
    entry_type = fd.message_type
    assert entry_type is not None
    key_fd = entry_type.fields_by_number[1]
    val_fd = entry_type.fields_by_number[2]
    for key in sorted(container, key=_map_key):
        entry = bytearray()
        _single(key_fd, key, entry)  # Go writes key and value even when zero
        _single(val_fd, container[key], entry)
        _tag(fd.number, 2, out)
        _varint(len(entry), out)
        out += entry


def _map_key(key: Any) -> Any:
    return key.encode("utf-8") if isinstance(key, str) else key


def _repeated(fd: FD, values: Iterable[Any], out: bytearray) -> None:
    if fd.type in _LEN or not fd.is_packed:
        for v in values:
            _single(fd, v, out)
        return
    packed = bytearray()
    for v in values:
        _scalar(fd, v, packed)
    _tag(fd.number, 2, out)
    _varint(len(packed), out)
    out += packed


def _single(fd: FD, value: Any, out: bytearray) -> None:
    t = fd.type
    if t == FD.TYPE_MESSAGE:
        body = bytearray()
        _message(value, body)
        _tag(fd.number, 2, out)
        _varint(len(body), out)
        out += body
    elif t in (FD.TYPE_STRING, FD.TYPE_BYTES):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        _tag(fd.number, 2, out)
        _varint(len(data), out)
        out += data
    else:
        _tag(fd.number, _wire_type(t), out)
        _scalar(fd, value, out)


def _wire_type(t: int) -> int:
    if t in _FIXED64:
        return 1
    if t in _FIXED32:
        return 5
    return 0


def _scalar(fd: FD, value: Any, out: bytearray) -> None:
    t = fd.type
    if t in _VARINT_TYPES:
        _varint(int(value), out)
    elif t in _ZIGZAG:
        bits = 64 if t == FD.TYPE_SINT64 else 32
        v = int(value)
        _varint((v << 1) ^ (v >> (bits - 1)), out)
    elif t in _FIXED64:
        out += struct.pack(_FIXED64[t], value)
    elif t in _FIXED32:
        out += struct.pack(_FIXED32[t], value)
    else:  # pragma: no cover - groups are not used by BuildKit
        raise TypeError(f"unsupported field type {t} for {fd.full_name}")
