"""hlb.llb.wire follows protobuf-go's deterministic encoding rule by rule."""

from __future__ import annotations

from hlb._proto import ops_pb2 as pb
from hlb.llb import wire


def test_map_keys_are_sorted_bytewise_even_when_one_prefixes_another() -> None:
    md = pb.OpMetadata()
    for key in ("exec.mount.cache.sharing", "exec.mount.cache", "a", "ab", "B"):
        md.caps[key] = True
    data = wire.marshal(md)
    parsed = [e for e in _entries(data, 5)]
    assert parsed == sorted(parsed, key=lambda k: k.encode())
    assert parsed.index("exec.mount.cache") < parsed.index("exec.mount.cache.sharing")


def _entries(data: bytes, field: int) -> list[str]:
    """Keys of map `field` in wire order (tiny decoder for string-keyed entries)."""
    keys, i = [], 0
    while i < len(data):
        tag, i = _varint(data, i)
        length, i = _varint(data, i)
        body = data[i : i + length]
        i += length
        if tag >> 3 == field:
            klen, j = _varint(body, 1)
            keys.append(body[j : j + klen].decode())
    return keys


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def test_map_entries_always_carry_key_and_value() -> None:
    src = pb.SourceOp(identifier="x")
    src.attrs[""] = ""
    assert wire.marshal(src) == bytes.fromhex("0a0178") + bytes.fromhex("12040a001200")


def test_oneof_is_written_after_platform_and_constraints() -> None:
    op = pb.Op(source=pb.SourceOp(identifier="i"))
    op.platform.OS = "linux"
    op.constraints.SetInParent()
    data = wire.marshal(op)
    # platform (field 10, tag 0x52), constraints (11, 0x5a), then source (3, 0x1a)
    assert data == bytes.fromhex("520712056c696e75785a001a030a0169")
    # Python's own serializer writes by field number; the bytes differ only in order.
    assert op.SerializeToString(deterministic=True) != data
    assert sorted(op.SerializeToString(deterministic=True)) == sorted(data)


def test_zero_oneof_member_is_written() -> None:
    u = pb.UserOpt(byID=0)
    assert wire.marshal(u) == bytes.fromhex("1000")


def test_negative_int64_is_a_ten_byte_varint() -> None:
    m = pb.Mount(input=-1, dest="/")
    assert wire.marshal(m) == bytes.fromhex("08ffffffffffffffffff011a012f")


def test_repeated_numbers_are_packed() -> None:
    meta = pb.Meta(args=["a"], validExitCodes=[0, 1, 255])
    assert wire.marshal(meta) == bytes.fromhex("0a016162040001ff01")


def test_messages_without_oneofs_or_maps_match_python_and_round_trip() -> None:
    samples = [
        pb.Meta(args=["sh", "-c", "x"], env=["A=1"], cwd="/w", user="1:2", removeMountStubsRecursive=True),
        pb.Mount(input=0, dest="/c", output=-1, mountType=pb.MountType.CACHE, cacheOpt=pb.CacheOpt(ID="x", sharing=2)),
        pb.FileActionMkFile(path="/a", mode=0o644, data=b"\x00\xff", timestamp=-1),
    ]
    for msg in samples:
        data = wire.marshal(msg)
        assert data == msg.SerializeToString(deterministic=True)
        back = type(msg)()
        back.ParseFromString(data)
        assert back == msg
