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

Large bytes and string fields (an mkfile's data, a source map's file) are written by reference: a
:class:`Writer` keeps small fields in a bytearray and a large field's bytes as a part of their own, and a
nested message's parts are taken over by its parent, not copied into it, so the bytes of a 10 MB field
are copied once, when the parts are joined at the end (a bytearray per level of nesting copied them once
per level).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor as FD
from google.protobuf.message import Message

_VARINT_TYPES = frozenset({FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_INT32, FD.TYPE_UINT32, FD.TYPE_BOOL, FD.TYPE_ENUM})
_ZIGZAG = frozenset({FD.TYPE_SINT32, FD.TYPE_SINT64})
_FIXED64 = {FD.TYPE_FIXED64: "<Q", FD.TYPE_SFIXED64: "<q", FD.TYPE_DOUBLE: "<d"}
_FIXED32 = {FD.TYPE_FIXED32: "<I", FD.TYPE_SFIXED32: "<i", FD.TYPE_FLOAT: "<f"}
_LEN = frozenset({FD.TYPE_STRING, FD.TYPE_BYTES, FD.TYPE_MESSAGE})
_LARGE = 1 << 12  # a bytes or string field at least this long is kept by reference


class Writer:
    """Encoded fields: small ones in :attr:`buf`, large bytes as parts of their own (never copied until
    :meth:`getvalue`)."""

    __slots__ = ("parts", "buf", "_parts_size")

    def __init__(self) -> None:
        self.parts: list[bytes | bytearray] = []
        self.buf = bytearray()
        self._parts_size = 0

    def __len__(self) -> int:
        return self._parts_size + len(self.buf)

    def _flush(self) -> None:
        if self.buf:
            self.parts.append(self.buf)
            self._parts_size += len(self.buf)
            self.buf = bytearray()

    def data(self, data: bytes) -> None:
        """Raw bytes: appended to the buffer when small, else kept as a part."""
        if len(data) < _LARGE:
            self.buf += data
            return
        self._flush()
        self.parts.append(data)
        self._parts_size += len(data)

    def adopt(self, other: Writer) -> None:
        """Append ``other``'s bytes, taking over its large parts by reference."""
        if other.parts:
            self._flush()
            self.parts.extend(other.parts)
            self._parts_size += other._parts_size
        self.buf += other.buf

    def bytes_field(self, number: int, data: bytes) -> None:
        """A length-delimited field of ``data`` (bytes, a string's UTF-8, an encoded message)."""
        _tag(number, 2, self.buf)
        _varint(len(data), self.buf)
        self.data(data)

    def message_field(self, number: int, body: Writer) -> None:
        """A length-delimited field whose content is ``body``'s bytes."""
        _tag(number, 2, self.buf)
        _varint(len(body), self.buf)
        self.adopt(body)

    def message(self, msg: Message) -> None:
        """The fields of ``msg``, in protobuf-go's order."""
        _message(msg, self)

    def getvalue(self) -> bytes:
        if not self.parts:
            return bytes(self.buf)
        return b"".join([*self.parts, self.buf])


def marshal(msg: Message) -> bytes:
    out = Writer()
    _message(msg, out)
    return out.getvalue()


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


def _is_map(fd: FD, value: Any) -> bool:
    # A map field's value is a map container (both protobuf implementations register theirs as Mappings);
    # asking the descriptor (`message_type.GetOptions().map_entry`) would import descriptor_pb2 (~2 ms).
    return fd.type == FD.TYPE_MESSAGE and isinstance(value, Mapping)


def _in_real_oneof(fd: FD) -> bool:
    oneof = fd.containing_oneof
    return oneof is not None and not getattr(oneof, "is_synthetic", False)


def _message(msg: Message, out: Writer) -> None:
    fields = msg.ListFields()  # set fields, in field-number order
    regular = [(fd, v) for fd, v in fields if not _in_real_oneof(fd)]
    oneofs = [(fd, v) for fd, v in fields if _in_real_oneof(fd)]
    for fd, value in regular + oneofs:
        if _is_map(fd, value):
            _map(fd, value, out)
        elif _is_repeated(fd):
            _repeated(fd, value, out)
        else:
            _single(fd, value, out)


def _map(fd: FD, container: Any, out: Writer) -> None:
    entry_type = fd.message_type
    assert entry_type is not None
    key_fd = entry_type.fields_by_number[1]
    val_fd = entry_type.fields_by_number[2]
    for key in sorted(container, key=_map_key):
        entry = Writer()
        _single(key_fd, key, entry)  # Go writes key and value even when zero
        _single(val_fd, container[key], entry)
        out.message_field(fd.number, entry)


def _map_key(key: Any) -> Any:
    return key.encode("utf-8") if isinstance(key, str) else key


def _repeated(fd: FD, values: Iterable[Any], out: Writer) -> None:
    if fd.type in _LEN or not fd.is_packed:
        for v in values:
            _single(fd, v, out)
        return
    packed = bytearray()
    for v in values:
        _scalar(fd, v, packed)
    _tag(fd.number, 2, out.buf)
    _varint(len(packed), out.buf)
    out.buf += packed


def _single(fd: FD, value: Any, out: Writer) -> None:
    t = fd.type
    if t == FD.TYPE_MESSAGE:
        body = Writer()
        _message(value, body)
        out.message_field(fd.number, body)
    elif t in (FD.TYPE_STRING, FD.TYPE_BYTES):
        out.bytes_field(fd.number, value.encode("utf-8") if isinstance(value, str) else value)
    else:
        _tag(fd.number, _wire_type(t), out.buf)
        _scalar(fd, value, out.buf)


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
