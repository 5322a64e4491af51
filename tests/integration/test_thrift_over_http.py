"""Thrift clients over HTTP through the gateway: Apache's own ``THttpClient`` (the seed
design's client) in every protocol against ``POST /thrift/<service>``, the calls going on
to our backends in THeader, the replies coming back in the client's protocol."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.protocol.TJSONProtocol import TJSONProtocol
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
from thrift.Thrift import TApplicationException
from thrift.transport.THttpClient import THttpClient
from thrift.transport.TTransport import TMemoryBuffer

from tests.problems import assert_problem
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.cache.ttypes import NotFound
from thrift_idl.gen.calculator import Calculator
from thrift_idl.gen.calculator.ttypes import CalculatorError

PROTOCOLS = {"binary": TBinaryProtocol, "compact": TCompactProtocol, "json": TJSONProtocol}


def _client(gw: str, service: str, module: Any, protocol: str, multiplexed: bool = False) -> Any:
    transport = THttpClient(f"{gw}/thrift/{service}")
    proto: Any = PROTOCOLS[protocol](transport)
    if multiplexed:
        proto = TMultiplexedProtocol(proto, service)
    return module.Client(proto)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_apaches_thttpclient_calls_the_calculator_in_every_protocol(gw: str, protocol: str) -> None:
    calculator = _client(gw, "calculator", Calculator, protocol)
    assert calculator.add(2, 3) == 5
    assert calculator.add(2 ** 62, 2 ** 62 - 1) == 2 ** 63 - 1
    calculator.ping()
    with pytest.raises(CalculatorError) as declared:  # a declared exception, as the backend sent it
        calculator.divide(1, 0)
    assert declared.value.code == "division_by_zero"


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_the_cache_with_binary_values_and_its_not_found(gw: str, protocol: str) -> None:
    cache = _client(gw, "cache", Cache, protocol)
    value = bytes(range(256))
    cache.put(f"thttp-{protocol}", value, 60)
    assert cache.get(f"thttp-{protocol}") == value
    with pytest.raises(NotFound):
        cache.get(f"thttp-missing-{protocol}")


def test_a_multiplexed_name_is_accepted(gw: str) -> None:
    assert _client(gw, "calculator", Calculator, "binary", multiplexed=True).multiply(6, 7) == 42


def test_an_unknown_method_is_a_thrift_application_exception(gw: str) -> None:
    wrong = _client(gw, "calculator", Cache, "compact")  # a Cache call sent to the Calculator
    with pytest.raises(TApplicationException) as info:
        wrong.get("k")
    assert info.value.type == TApplicationException.UNKNOWN_METHOD


def _message(protocol: str) -> bytes:
    """The bytes of one ``add(20, 22)`` call in ``protocol``."""
    out = TMemoryBuffer()
    Calculator.Client(PROTOCOLS[protocol](out)).send_add(20, 22)
    return out.getvalue()


@pytest.mark.parametrize(("content_type", "protocol"), [
    ("application/vnd.apache.thrift.json; charset=utf-8", "json"),
    ("application/vnd.apache.thrift.compact", "compact"),
    ("application/x-thrift; protocol=TBINARY", "binary"),
    ("application/x-thrift", "json"),
])
def test_the_answer_is_in_the_clients_protocol_and_content_type(gw: str, content_type: str, protocol: str) -> None:
    response = requests.post(f"{gw}/thrift/calculator", data=_message(protocol),
                             headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == content_type
    assert Calculator.Client(PROTOCOLS[protocol](TMemoryBuffer(response.content))).recv_add() == 42


@pytest.mark.parametrize(("content_type", "body", "status", "code"), [
    ("text/plain", "binary", 415, "unsupported_media_type"),
    ("application/x-thrift; protocol=TXML", "binary", 415, "unsupported_media_type"),
    ("application/x-thrift; protocol=TCOMPACT", "binary", 400, "invalid_thrift"),  # declared, so held to
    ("application/x-thrift", b"GET / HTTP/1.1", 400, "invalid_thrift"),
    ("application/vnd.apache.thrift.binary", b"\x80\x01\x00\x01\x00\x00", 400, "invalid_thrift"),
])
def test_what_http_refuses_is_a_problem_document(gw: str, content_type: str, body: Any, status: int,
                                                  code: str) -> None:
    data = _message(body) if isinstance(body, str) else body
    response = requests.post(f"{gw}/thrift/calculator", data=data, headers={"Content-Type": content_type}, timeout=10)
    assert_problem(response, status, code)


def test_an_unknown_service_is_404_and_another_method_405(gw: str) -> None:
    assert_problem(requests.post(f"{gw}/thrift/nothing", data=_message("binary"),
                                 headers={"Content-Type": "application/x-thrift"}, timeout=10), 404, "not_found")
    response = requests.get(f"{gw}/thrift/calculator", timeout=10)
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["Allow"].replace(" ", "").split(",") == ["POST"]
