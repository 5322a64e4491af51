"""The transports' framing on its own: THeader frames, frame limits."""

from __future__ import annotations

import struct

import pytest

from thrift_wire import framing
from thrift_wire.limits import MAX_FRAME_BYTES
from thrift_wire.sockets import send_all


def test_theader_frames_round_trip() -> None:
    header = framing.Header()
    frame = header.wrap(b"\x80\x01message", protocol_id=2, seqid=42, headers={"request-id": "abc-123", "é": "ü"})
    (size,) = struct.unpack_from("!I", frame)
    assert size == len(frame) - 4 and frame[4:6] == framing.THEADER_MAGIC
    assert framing.split_theader(frame[4:]) == ({"request-id": "abc-123", "é": "ü"}, b"\x80\x01message", 42, 2)
    assert header.unwrap(header.wrap(b"m", seqid=1)) == framing.Frame(b"m", len(header.wrap(b"m", seqid=1)), {}, 1, 0)
    assert header.unwrap(frame[:-1]) is None  # not all there yet


@pytest.mark.parametrize("body", [b"\x0f\xff\x00\x00", b"\x0f\xff\x00\x00\x00\x00\x00\x01\x00\x09" + b"\x00" * 8,
                                  b"\x0f\xff\x00\x00\x00\x00\x00\x01\x00\x01\x01\x00\x00\x00",  # protocol 1
                                  b"\x0f\xff\x00\x00\x00\x00\x00\x01\x00\x01\x00\x01\x01\x00"])  # a transform
def test_broken_theader_frames_are_refused(body: bytes) -> None:
    with pytest.raises(framing.FrameError):
        framing.split_theader(body)


def test_frame_limits() -> None:
    for cls in (framing.Framed, framing.Header):
        with pytest.raises(framing.FrameTooLarge):
            cls().unwrap(struct.pack("!i", MAX_FRAME_BYTES + 1))
        with pytest.raises(framing.FrameTooLarge):
            cls().unwrap(struct.pack("!i", -1))
    with pytest.raises(framing.FrameTooLarge):
        framing.Unframed().unwrap(b"\x80" * (MAX_FRAME_BYTES + 1))


class _ShortWrites:
    """A socket whose ``send`` takes at most 3 bytes, as a full send buffer would."""

    def __init__(self) -> None:
        self.sent = b""

    def send(self, data: bytes) -> int:
        self.sent += bytes(data[:3])
        return min(3, len(data))

    def sendall(self, data: bytes) -> None:
        self.sent += bytes(data)


def test_send_all_sends_the_rest_when_one_send_takes_only_part() -> None:
    sock = _ShortWrites()
    send_all(sock, b"0123456789")
    assert sock.sent == b"0123456789"


def _theader_body(block: bytes, message: bytes = b"msg") -> bytes:
    block += b"\x00" * (-len(block) % 4)
    return struct.pack("!HHIH", 0x0FFF, 0, 7, len(block) // 4) + block + message


@pytest.mark.parametrize(("block", "expected"), [
    (b"\x00\x00", 0),  # binary, no transforms: one byte each
    (b"\x02\x00", 2),  # compact
    (b"\x02\x00\x01\x01\x01k\x02vv", 2),  # and a key/value header
])
def test_the_usual_theader_start_is_read_as_any_other(block: bytes, expected: int) -> None:
    headers, message, seqid, protocol_id = framing.split_theader(_theader_body(block))
    assert (protocol_id, seqid, message) == (expected, 7, b"msg")
    assert headers == ({"k": "vv"} if len(block) > 2 else {})


@pytest.mark.parametrize(("block", "error"), [
    (b"\x01\x00", "neither binary"),  # protocol 1 (JSON) is not THeader's
    (b"\x00\x01\x01", "transforms"),  # zlib
])
def test_an_unusual_theader_start_takes_the_careful_path(block: bytes, error: str) -> None:
    with pytest.raises(framing.FrameError, match=error):
        framing.split_theader(_theader_body(block))


def test_a_protocol_id_written_as_a_long_varint_is_still_read() -> None:
    # 0x80 0x00 is the varint 0 in two bytes: protocol 0, then transforms 0.
    assert framing.split_theader(_theader_body(b"\x80\x00\x00"))[3] == 0
