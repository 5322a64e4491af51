"""Peers that lie about lengths or send garbage: nobody allocates it, nobody dies."""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Callable

import pytest
import requests

from tests.harness import Backend, Gateway, Process, accept_forever, assert_closed_by_peer
from tests.problems import assert_problem

TWO_GIB = 2**31 - 1


def frame(body: bytes) -> bytes:
    return struct.pack("!i", len(body)) + body


def reply_header(name: bytes, seqid: int, message_type: int = 2) -> bytes:
    return struct.pack("!iI", -0x7FFF0000 | message_type, len(name)) + name + struct.pack("!i", seqid)


class FakeBackend:
    """Accepts Thrift calls and answers each with ``answer(method, seqid)`` bytes."""

    def __init__(self, answer: Callable[[bytes, int], bytes]) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        accept_forever(self.sock, self._connection)

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            while True:
                head = conn.recv(4, socket.MSG_WAITALL)
                if len(head) < 4:
                    return
                body = conn.recv(struct.unpack("!i", head)[0], socket.MSG_WAITALL)
                name_len = struct.unpack_from("!I", body, 4)[0]
                name = body[8 : 8 + name_len]
                seqid = struct.unpack_from("!i", body, 8 + name_len)[0]
                conn.sendall(self.answer(name, seqid))

    def close(self) -> None:
        self.sock.close()


def i64_success(value: int) -> bytes:
    return b"\x0a\x00\x00" + struct.pack("!q", value) + b"\x00"  # field 0, i64, then STOP


ANSWERS = {
    "a frame announcing 2 GiB": lambda name, seqid: struct.pack("!i", TWO_GIB) + b"x" * 64,
    "a string announcing 2 GiB": lambda name, seqid: frame(
        reply_header(name, seqid) + b"\x0c\x00\x01" + b"\x0b\x00\x02" + struct.pack("!i", TWO_GIB) + b"abc"),
    "invalid UTF-8 in a string": lambda name, seqid: frame(
        reply_header(name, seqid) + b"\x0c\x00\x01" + b"\x0b\x00\x02" + struct.pack("!i", 2) + b"\xff\xfe\x00\x00"),
    "garbage": lambda name, seqid: b"\x00\x00\x00\x08garbage!",
    "a reply to another call": lambda name, seqid: frame(reply_header(name, seqid + 1) + i64_success(5)),
    "a list announcing 2 G items": lambda name, seqid: frame(
        reply_header(name, seqid) + b"\x0f\x00\x00\x0b" + struct.pack("!i", TWO_GIB)),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_the_gateway_answers_502_and_lives(procs: list[Process], log_dir: Path, answer: str) -> None:
    fake = FakeBackend(ANSWERS[answer])
    cache = Backend("cache", log_dir)
    procs.append(cache)
    gateway = Gateway(log_dir, [f"127.0.0.1:{fake.port}"], [cache.address])
    procs.append(gateway)
    try:
        for _ in range(3):
            assert_problem(requests.get(f"{gateway.url}/add/1/2"), 502, "bad_gateway")
        assert requests.put(f"{gateway.url}/cache/still", json={"value": 1}).status_code == 200
        assert gateway.alive()
    finally:
        fake.close()


def call_frame(method: bytes, args: bytes) -> bytes:
    return frame(struct.pack("!iI", -0x7FFF0000 | 1, len(method)) + method + struct.pack("!i", 1) + args)


@pytest.mark.parametrize(("name", "payload"), [
    ("cache", call_frame(b"get", b"\x0b\x00\x01" + struct.pack("!i", TWO_GIB) + b"key")),
    ("cache", call_frame(b"put", b"\x0b\x00\x01\x00\x00\x00\x01k\x0b\x00\x02" + struct.pack("!i", TWO_GIB))),
    ("calculator", struct.pack("!i", TWO_GIB) + b"\x80\x01"),
    ("calculator", call_frame(b"add", b"\x0a\x00\x01" + b"\x00" * 3)),  # a truncated i64
])
def test_a_backend_closes_the_connection_and_lives(procs: list[Process], log_dir: Path, name: str, payload: bytes) -> None:
    backend = Backend(name, log_dir)
    procs.append(backend)
    with socket.create_connection(("127.0.0.1", backend.port), timeout=10) as sock:
        sock.sendall(payload)
        assert_closed_by_peer(sock)
    assert backend.alive()
    with socket.create_connection(("127.0.0.1", backend.port), timeout=10) as sock:
        sock.sendall(call_frame(b"ping", b"\x00"))
        assert len(sock.recv(4, socket.MSG_WAITALL)) == 4  # still answering
