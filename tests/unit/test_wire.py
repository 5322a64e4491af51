from __future__ import annotations

import struct

import pytest

from thrift_idl import wire


def test_theader_frames_round_trip() -> None:
    frame = wire.theader_frame(b"\x80\x01message", 42, {"request-id": "abc-123", "é": "ü"})
    (size,) = struct.unpack_from("!I", frame)
    assert size == len(frame) - 4 and frame[4:6] == wire.THEADER_MAGIC
    headers, message, seqid = wire.split_theader(frame[4:])
    assert (headers, message, seqid) == ({"request-id": "abc-123", "é": "ü"}, b"\x80\x01message", 42)
    assert wire.split_theader(wire.theader_frame(b"m", 1, {})[4:]) == ({}, b"m", 1)


@pytest.mark.parametrize("body", [b"\x0f\xff\x00\x00", b"\x0f\xff\x00\x00\x00\x00\x00\x01\x00\x09" + b"\x00" * 8,
                                  b"\x0f\xff\x00\x00\x00\x00\x00\x01\x00\x01\x02\x00\x00\x00"])
def test_broken_theader_frames_are_refused(body: bytes) -> None:
    with pytest.raises(wire.FrameError):
        wire.split_theader(body)


def chunks(data: bytes, size: int):  # type: ignore[no-untyped-def]
    parts = [data[i : i + size] for i in range(0, len(data), size)]

    def recv(_: int) -> bytes:
        return parts.pop(0) if parts else b""

    return recv


def test_frame_reader_splits_pipelined_frames_and_reassembles_split_ones() -> None:
    stream = struct.pack("!i", 3) + b"one" + struct.pack("!i", 5) + b"three" + struct.pack("!i", 0)
    for size in (1, 3, 100):
        reader, bodies = wire.FrameReader(), []
        for start in range(0, len(stream), size):
            reader.feed(stream[start : start + size])
            while (body := reader.next_body()) is not None:
                bodies.append(body)
        assert bodies == [b"one", b"three", b""] and not reader.buffered


def test_frame_limits() -> None:
    with pytest.raises(wire.FrameTooLarge):
        reader = wire.FrameReader()
        reader.feed(struct.pack("!i", wire.MAX_FRAME_BYTES + 1))
        reader.next_body()
    with pytest.raises(wire.FrameTooLarge):
        wire.read_frame_body(chunks(struct.pack("!i", -1), 100))
    with pytest.raises(wire.FrameError):
        wire.read_frame_body(chunks(struct.pack("!i", 1) + b"ab", 100))  # more than one frame


class _ShortWrites:
    """A socket whose ``send`` takes at most 3 bytes, as a full send buffer would."""

    def __init__(self) -> None:
        self.sent = b""

    def send(self, data: bytes) -> int:
        self.sent += bytes(data[:3])
        return min(3, len(data))

    def sendall(self, data: bytes) -> None:
        self.sent += bytes(data)


def test_send_frame_sends_the_rest_when_one_send_takes_only_part() -> None:
    sock = _ShortWrites()
    wire.send_frame(sock, b"0123456789")
    assert sock.sent == b"0123456789"
