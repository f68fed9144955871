"""The docker stream demultiplexer: frames split anywhere, per-stream cap, nothing lost below it."""
from __future__ import annotations

import random
import struct

from sandbox.docker_backend import _Demux


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_frames_split_at_every_byte_boundary_are_reassembled():
    data = frame(1, b"hello ") + frame(2, b"err") + frame(1, b"world") + frame(1, b"")
    for cut in range(len(data) + 1):
        d = _Demux(cap=1024)
        d.feed(data[:cut])
        d.feed(data[cut:])
        assert (bytes(d.out[1]), bytes(d.out[2]), d.truncated) == (b"hello world", b"err", False)


def test_cap_per_stream_and_truncated_flag():
    rng = random.Random(0)
    out = b"".join(bytes([rng.randrange(256)]) * rng.randrange(1, 5000) for _ in range(200))
    data = b"".join(frame(1, out[i:i + 4096]) for i in range(0, len(out), 4096)) + frame(2, b"e")
    d = _Demux(cap=10_000, extra_err=3)
    pos = 0
    while pos < len(data):
        step = rng.randrange(1, 70_000)
        d.feed(data[pos:pos + step])
        pos += step
    assert bytes(d.out[1]) == out[:10_000] and d.truncated
    assert bytes(d.out[2]) == b"e"
    d2 = _Demux(cap=4, extra_err=3)
    d2.feed(frame(2, b"1234567"))
    assert bytes(d2.out[2]) == b"1234567" and not d2.truncated
