"""The backends' direct dispatch answers every call byte for byte as the generated
processor does, and leaves to it whatever is not an ordinary call."""

from __future__ import annotations

import struct
from typing import Any, Callable

import pytest
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport.TTransport import TMemoryBuffer

from backends.cache import CacheHandler
from backends.cache_store import MemoryStore
from backends.calculator import CalculatorHandler
from backends.dispatch import Dispatcher
from tests.gen.showcase import Showcase
from tests.gen.showcase.ttypes import Point
from tests.showcase_backend import ShowcaseHandler
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.calculator import Calculator


class Broken(CalculatorHandler):
    def add(self, a: int, b: int) -> int:
        raise RuntimeError("a bug")

    def subtract(self, a: int, b: int) -> int:
        raise TApplicationException(TApplicationException.UNKNOWN, "refused")


def _message(client_class: type, method: str, *args: Any) -> bytes:
    out = TMemoryBuffer()
    getattr(client_class(TBinaryProtocolAccelerated(out)), f"send_{method}")(*args)
    return out.getvalue()


def _generated(processor: Any, message: bytes) -> bytes:
    out = TMemoryBuffer()
    processor.process(TBinaryProtocolAccelerated(TMemoryBuffer(message)), TBinaryProtocolAccelerated(out))
    return out.getvalue()


def _cache_handler() -> CacheHandler:
    return CacheHandler(MemoryStore(1 << 20), 1 << 20)


SERVICES: dict[str, tuple[Any, Callable[[], Any]]] = {
    "calculator": (Calculator, CalculatorHandler),
    "broken": (Calculator, Broken),
    "cache": (Cache, _cache_handler),
    "showcase": (Showcase, ShowcaseHandler),
}

CALLS = [
    ("calculator", "add", 2, 3), ("calculator", "divide", -7, 2), ("calculator", "divide", 1, 0),
    ("calculator", "add", 2**63 - 1, 1), ("calculator", "ping"),
    ("broken", "add", 1, 2), ("broken", "subtract", 1, 2), ("broken", "multiply", 3, 4),
    ("cache", "put", "k", b"v", 60), ("cache", "get", "missing"), ("cache", "put", "", b"v", None),
    ("cache", "stats"), ("cache", "remove", "k"),
    ("showcase", "move", Point(x=1, y=2), 3, None), ("showcase", "refuse", "no", 7), ("showcase", "mix", 1, 2),
    ("showcase", "notify", "hello"), ("showcase", "notifications"),
]


@pytest.mark.parametrize("call", CALLS, ids=[f"{c[0]}.{c[1]}" for c in CALLS])
def test_the_answer_is_the_generated_processors(call: tuple[Any, ...]) -> None:
    service, method, *args = call
    module, make_handler = SERVICES[service]
    generated_handler, our_handler = make_handler(), make_handler()
    processor, dispatcher = module.Processor(generated_handler), Dispatcher(module, our_handler)
    for _ in range(2):  # twice: the cache's second put/get sees the first one's effect
        message = _message(module.Client, method, *args)
        assert dispatcher.answer(message) == _generated(processor, message)


def _with_header(message: bytes, version: int) -> bytes:
    return struct.pack("!i", version) + message[4:]


@pytest.mark.parametrize("message", [
    _message(Calculator.Client, "add", 1, 2)[:4] + struct.pack("!i", 6) + b"modulo" + b"\x00" * 5,  # unknown method
    _with_header(_message(Calculator.Client, "add", 1, 2), TBinaryProtocol.VERSION_1 | TMessageType.ONEWAY),
    _with_header(_message(Calculator.Client, "add", 1, 2), TBinaryProtocol.VERSION_1 | TMessageType.REPLY),
    _with_header(_message(Calculator.Client, "add", 1, 2), 0x7FFF0001),  # not a strict header
    _message(Calculator.Client, "add", 1, 2)[:4] + struct.pack("!i", 1000) + b"add" + b"\x00" * 8,
    _message(Calculator.Client, "add", 1, 2)[:4] + struct.pack("!i", -3) + b"add" + b"\x00" * 8,
    b"\x80\x01\x00\x01",
])
def test_what_is_not_an_ordinary_call_is_left_to_the_generated_processor(message: bytes) -> None:
    assert Dispatcher(Calculator, CalculatorHandler()).answer(message) is None


def test_a_truncated_argument_struct_is_an_error_as_in_the_generated_processor() -> None:
    message = _message(Calculator.Client, "add", 1, 2)[:-5]
    with pytest.raises(Exception):
        _generated(Calculator.Processor(CalculatorHandler()), message)
    with pytest.raises(Exception):
        Dispatcher(Calculator, CalculatorHandler()).answer(message)
