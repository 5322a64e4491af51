"""The backends' handlers and processors, in memory."""

from __future__ import annotations

import pytest
from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.Thrift import TApplicationException
from thrift.transport.TTransport import TMemoryBuffer

from backends.cache import CacheHandler
from backends.cache_store import MemoryStore
from backends.calculator import CalculatorHandler
from thrift_idl.gen.cache.ttypes import InvalidKey, InvalidTtl, NotFound, TooLarge
from thrift_idl.gen.calculator import Calculator
from thrift_idl.gen.calculator.ttypes import CalculatorError

I64_MAX, I64_MIN = 2**63 - 1, -(2**63)


@pytest.mark.parametrize(("a", "b", "q"), [(-7, 2, -3), (7, -2, -3), (-7, -2, 3), (7, 2, 3), (0, 5, 0),
                                           (I64_MIN, 1, I64_MIN), (I64_MAX, -1, -I64_MAX)])
def test_divide_truncates_toward_zero(a: int, b: int, q: int) -> None:
    assert CalculatorHandler().divide(a, b) == q


@pytest.mark.parametrize(("method", "a", "b", "code"), [
    ("divide", 1, 0, "division_by_zero"), ("divide", I64_MIN, -1, "overflow"), ("add", I64_MAX, 1, "overflow"),
    ("subtract", I64_MIN, 1, "overflow"), ("multiply", I64_MIN, -1, "overflow"),
])
def test_calculator_errors_are_declared(method: str, a: int, b: int, code: str) -> None:
    with pytest.raises(CalculatorError) as info:
        getattr(CalculatorHandler(), method)(a, b)
    assert info.value.code == code


def _call(processor, method: str, *args):
    """Run one call through the generated client and processor over memory buffers."""
    request = TMemoryBuffer()
    client = Calculator.Client(TBinaryProtocolAccelerated(request))
    getattr(client, f"send_{method}")(*args)
    reply = TMemoryBuffer()
    processor.process(TBinaryProtocolAccelerated(TMemoryBuffer(request.getvalue())), TBinaryProtocolAccelerated(reply))
    client._iprot = TBinaryProtocolAccelerated(TMemoryBuffer(reply.getvalue()))
    return getattr(client, f"recv_{method}")()


def test_an_undeclared_handler_error_is_answered_with_an_application_exception() -> None:
    class Broken(CalculatorHandler):
        def add(self, a: int, b: int) -> int:
            raise RuntimeError("bug")

    processor = Calculator.Processor(Broken())
    with pytest.raises(TApplicationException) as info:
        _call(processor, "add", 1, 2)
    assert info.value.type == TApplicationException.INTERNAL_ERROR
    assert _call(processor, "subtract", 5, 2) == 3  # and the processor keeps serving


def test_overflow_is_a_declared_reply_not_an_encoder_crash() -> None:
    with pytest.raises(CalculatorError):
        _call(Calculator.Processor(CalculatorHandler()), "multiply", I64_MAX, I64_MAX)


def make_cache(max_memory: int = 10_000) -> CacheHandler:
    return CacheHandler(MemoryStore(max_memory), max_memory)


def test_cache_handler_round_trip() -> None:
    cache = make_cache()
    cache.put("k", b"v", None)
    assert cache.get("k") == b"v"
    cache.remove("k")
    with pytest.raises(NotFound):
        cache.get("k")
    with pytest.raises(NotFound):
        cache.remove("k")
    stats = cache.stats()
    assert (stats.items, stats.hits, stats.misses) == (0, 1, 1)


def test_cache_handler_enforces_the_rules_itself() -> None:
    cache = make_cache(max_memory=100)
    with pytest.raises(InvalidKey):
        cache.put("has space", b"v", None)
    with pytest.raises(InvalidKey):
        cache.get("x" * 251)
    with pytest.raises(TooLarge):
        cache.put("k", b"x" * 100, None)  # key + value + bookkeeping over --max-memory
    with pytest.raises(TooLarge):
        make_cache(300).put("k", b"x" * 60, None)  # 61 bytes of key and value, 301 with the entry's own cost
    with pytest.raises(TooLarge):
        make_cache(10 * 1024 * 1024).put("k", b"x" * (1024 * 1024 + 1), None)
    with pytest.raises(InvalidTtl):
        make_cache(1000).put("k", b"v", 0)
    assert cache.stats().items == 0
