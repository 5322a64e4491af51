"""Thrift clients over HTTP through the gateway: Apache's own ``THttpClient`` (the seed
design's client) in every protocol against ``POST /thrift/<service>``, the calls going on
to our backends in THeader, the replies coming back in the client's protocol."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.protocol.TJSONProtocol import TJSONProtocol
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport.THttpClient import THttpClient
from thrift.transport.TTransport import TMemoryBuffer, TTransportException

from tests.gen.interop import Interop
from tests.gen.interop.ttypes import Xception, Xtruct
from tests.harness import Backend, Gateway, wait_for
from tests.problems import assert_problem
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.cache.ttypes import NotFound
from thrift_idl.gen.calculator import Calculator
from thrift_idl.gen.calculator.ttypes import CalculatorError

# What Apache's THttpClient raises when the answer is not a Thrift reply (it does not look
# at the HTTP status: it reads the problem document as if it were one).
THTTP_REFUSED = (TProtocolException, TTransportException, EOFError)
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


# Against a framed server of the thrift package, through a gateway with API keys and an
# exposure that leaves some methods out.

@pytest.fixture(scope="module")
def framed(log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    keys_file = tmp_path_factory.mktemp("thttp-keys") / "keys"
    keys = {"caller": "caller-key-0123456789", "other": "other-key-0123456789"}
    keys_file.write_text(f"caller {hashlib.sha256(keys['caller'].encode()).hexdigest()} it.*\n"
                         f"other {hashlib.sha256(keys['other'].encode()).hexdigest()} calculator.*\n")
    server = Backend("interop-thttp", log_dir, module="tests.interop_server", args=("--transport", "framed"))
    gateway = None
    try:
        gateway = Gateway(log_dir, ["off"], ["off"], env={
            "GATEWAY_RPC_SERVICES": f"it=tests.gen.interop.Interop@{server.address}"
                                    "?methods=testString|testOneway|lastOneway|testException|testStruct",
            "GATEWAY_AUTH": "api_key", "GATEWAY_API_KEYS_FILE": str(keys_file)})
        yield gateway.url, keys
    finally:
        for proc in (gateway, server):
            if proc is not None:
                proc.stop()


def _interop(url: str, key: str, protocol: str = "binary") -> Any:
    transport = THttpClient(f"{url}/thrift/it")
    transport.setCustomHeaders({"X-API-Key": key})  # how a THttpClient user authenticates
    return Interop.Client(PROTOCOLS[protocol](transport))


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_a_framed_server_behind_thttpclient_with_auth(framed: tuple[str, dict[str, str]], protocol: str) -> None:
    url, keys = framed
    client = _interop(url, keys["caller"], protocol)
    assert client.testString("héllo ✓") == "héllo ✓"
    thing = Xtruct(string_thing="s", byte_thing=1, i32_thing=-3, i64_thing=2 ** 40)
    assert client.testStruct(thing) == thing
    with pytest.raises(Xception) as declared:
        client.testException("Xception")
    assert declared.value.errorCode == 1001
    client.testOneway(17)  # oneway: sent, nothing to wait for
    wait_for(lambda: client.testString("x") == "x" and _last_oneway(url, keys) == 17, 5, "the oneway call to land")


def _last_oneway(url: str, keys: dict[str, str]) -> int:
    return _interop(url, keys["caller"]).lastOneway()


def test_an_unexposed_method_is_unknown_whoever_asks(framed: tuple[str, dict[str, str]]) -> None:
    url, keys = framed
    with pytest.raises(TApplicationException) as info:
        _interop(url, keys["caller"]).testI32(5)
    assert info.value.type == TApplicationException.UNKNOWN_METHOD


def test_without_the_permission_or_a_key_http_refuses(framed: tuple[str, dict[str, str]]) -> None:
    url, keys = framed
    body = _interop_message("testString", "x")
    for headers, status in (({"X-API-Key": keys["other"]}, 403), ({}, 401)):
        response = requests.post(f"{url}/thrift/it", data=body,
                                 headers={"Content-Type": "application/x-thrift", **headers}, timeout=10)
        assert response.status_code == status
    with pytest.raises(THTTP_REFUSED):  # THttpClient reads the 403's problem document as a reply: it cannot
        _interop(url, keys["other"]).testString("x")


def test_the_reply_carries_the_clients_sequence_id(framed: tuple[str, dict[str, str]]) -> None:
    url, keys = framed
    for seqid in (0, 7, 2 ** 31 - 1, -5):
        response = requests.post(f"{url}/thrift/it", data=_interop_message("testString", "x", seqid),
                                 headers={"Content-Type": "application/x-thrift", "X-API-Key": keys["caller"]},
                                 timeout=10)
        assert response.status_code == 200
        _, mtype, got = TBinaryProtocol(TMemoryBuffer(response.content)).readMessageBegin()
        assert (mtype, got) == (TMessageType.REPLY, seqid)


def _interop_message(method: str, thing: str, seqid: int = 0) -> bytes:
    out = TMemoryBuffer()
    client = Interop.Client(TBinaryProtocol(out))
    client._seqid = seqid
    getattr(client, f"send_{method}")(thing)
    return out.getvalue()
