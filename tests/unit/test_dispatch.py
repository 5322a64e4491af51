"""The backends' dispatch answers every call byte for byte as the generated processor
does, in every format a client may use."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from thrift.Thrift import TApplicationException

from backends.cache import CacheHandler
from backends.cache_store import MemoryStore
from backends.calculator import CalculatorHandler
from backends.dispatch import Dispatcher
from tests.gen.showcase import Showcase
from tests.gen.showcase.ttypes import Point
from tests.showcase_backend import ShowcaseHandler
from tests.unit.test_codec import FORMATS, Duplex, apache_protocol, apache_serves
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.calculator import Calculator
from thrift_wire.codec import Format, ServerCodec
from thrift_wire.methods import ServiceMethods


class Broken(CalculatorHandler):
    def add(self, a: int, b: int) -> int:
        raise RuntimeError("a bug")

    def subtract(self, a: int, b: int) -> int:
        raise TApplicationException(TApplicationException.UNKNOWN, "refused")


def _message(fmt: Format, client_class: type, method: str, *args: Any) -> bytes:
    out = Duplex()
    getattr(client_class(apache_protocol(fmt, out)), f"send_{method}")(*args)
    return out.written.getvalue()


def _ours(dispatcher: Dispatcher, fmt: Format, request: bytes) -> bytes:
    codec = ServerCodec(fmt)
    codec.feed(request)
    call = codec.next_call(dispatcher.lookup)
    reply = dispatcher.answer(call)
    return b"" if reply is None else codec.encode_reply(call, reply.name, reply.type, reply.value, reply.spec)


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


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.protocol != "json"], ids=str)
@pytest.mark.parametrize("call", CALLS, ids=[f"{c[0]}.{c[1]}" for c in CALLS])
def test_the_answer_is_the_generated_processors(call: tuple[Any, ...], fmt: Format) -> None:
    service, method, *args = call
    module, make_handler = SERVICES[service]
    generated_handler, our_handler = make_handler(), make_handler()
    processor, dispatcher = module.Processor(generated_handler), Dispatcher(ServiceMethods(module), our_handler)
    for _ in range(2):  # twice: the cache's second put/get sees the first one's effect
        message = _message(fmt, module.Client, method, *args)
        assert _ours(dispatcher, fmt, message) == apache_serves(processor, fmt, message)


def test_json_answers_decode_as_the_generated_processors_do() -> None:
    # TJSONProtocol writes doubles and field order alike, but compare decoded values:
    # the byte form is Apache's own either way.
    fmt = Format("framed", "json")
    processor, dispatcher = Calculator.Processor(CalculatorHandler()), Dispatcher(ServiceMethods(Calculator),
                                                                                 CalculatorHandler())
    message = _message(fmt, Calculator.Client, "divide", -7, 2)
    assert _ours(dispatcher, fmt, message) == apache_serves(processor, fmt, message)


def test_an_unknown_method_is_answered_as_the_generated_processor_does() -> None:
    fmt = Format("framed", "binary")
    out = Duplex()
    prot = apache_protocol(fmt, out)
    prot.writeMessageBegin("modulo", 1, 9)
    Calculator.ping_args().write(prot)
    prot.writeMessageEnd()
    prot.trans.flush()
    message = out.written.getvalue()
    ours = _ours(Dispatcher(ServiceMethods(Calculator), CalculatorHandler()), fmt, message)
    assert ours == apache_serves(Calculator.Processor(CalculatorHandler()), fmt, message)


def test_a_truncated_argument_struct_is_an_error_as_in_the_generated_processor() -> None:
    fmt = Format("framed", "binary")
    message = _message(fmt, Calculator.Client, "add", 1, 2)
    truncated = (len(message) - 9).to_bytes(4, "big") + message[4:-5]
    with pytest.raises(Exception):
        apache_serves(Calculator.Processor(CalculatorHandler()), fmt, truncated)
    with pytest.raises(Exception):
        _ours(Dispatcher(ServiceMethods(Calculator), CalculatorHandler()), fmt, truncated)
