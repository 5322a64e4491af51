"""``POST /thrift/<service>`` in one process: which protocol a body is read in, and the
permission read from the message (backends stubbed)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
from thrift.Thrift import TApplicationException
from thrift.transport.TTransport import TMemoryBuffer
from werkzeug.test import Client

from gateway.app import create_app
from gateway.config import Settings
from gateway.errors import InvalidThrift, UnsupportedMediaType
from gateway.http.thrift_over_http import client_protocol
from tests.stubs import StubBackends
from thrift_idl.gen.calculator import Calculator


@pytest.mark.parametrize(("content_type", "body", "protocol"), [
    ("application/x-thrift", b"\x80\x01\x00\x01", "binary"),
    ("application/x-thrift", b"\x82\x21", "compact"),
    ("application/x-thrift", b'[1,"add",1,0,{}]', "json"),
    ("Application/X-Thrift; protocol=tcompact", b"\x80", "compact"),  # declared: held to, whatever the bytes
    ("application/vnd.apache.thrift.json; charset=utf-8", b"[", "json"),
    ("application/vnd.apache.thrift.binary", b"", "binary"),
    ("application/vnd.apache.thrift.compact", b"\x82", "compact"),
])
def test_the_protocol_of_a_body(content_type: str, body: bytes, protocol: str) -> None:
    assert client_protocol(content_type, body) == protocol


@pytest.mark.parametrize(("content_type", "body", "error"), [
    ("application/json", b"[", UnsupportedMediaType), ("", b"\x80", UnsupportedMediaType),
    ("application/x-thrift; protocol=TXML", b"\x80", UnsupportedMediaType),
    ("application/x-thrift", b"", InvalidThrift), ("application/x-thrift", b"{", InvalidThrift),
])
def test_what_is_refused(content_type: str, body: bytes, error: type) -> None:
    with pytest.raises(error):
        client_protocol(content_type, body)


def _add_message() -> bytes:
    out = TMemoryBuffer()
    Calculator.Client(TBinaryProtocol(out)).send_add(1, 2)
    return out.getvalue()


@pytest.fixture
def app(tmp_path: Path) -> Any:
    keys = tmp_path / "keys"
    keys.write_text(f"adder {hashlib.sha256(b'adder').hexdigest()} calculator.add\n"
                    f"reader {hashlib.sha256(b'reader').hexdigest()} cache.get\n")
    stubs = StubBackends()
    stubs.calc_pool.outcome = 3
    return create_app(Settings(auth="api_key", api_keys_file=str(keys), runtime_dir=str(tmp_path), access_log=""),
                      backends=stubs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("key", "status"), [("adder", 200), ("reader", 403), (None, 401)])
def test_the_permission_is_the_method_read_from_the_message(app: Any, key: str | None, status: int) -> None:
    headers = {"Content-Type": "application/x-thrift", **({"X-API-Key": key} if key else {})}
    response = Client(app).post("/thrift/calculator", data=_add_message(), headers=headers)
    assert response.status_code == status
    if status == 200:
        assert Calculator.Client(TBinaryProtocol(TMemoryBuffer(response.get_data()))).recv_add() == 3
    else:
        assert response.headers["Content-Type"] == "application/problem+json"


def test_a_multiplexed_name_of_another_service_is_unknown_and_permissions_come_first(app: Any) -> None:
    out = TMemoryBuffer()
    Calculator.Client(TMultiplexedProtocol(TBinaryProtocol(out), "cache")).send_add(1, 2)
    headers = {"Content-Type": "application/x-thrift", "X-API-Key": "adder"}
    response = Client(app).post("/thrift/calculator", data=out.getvalue(), headers=headers)
    assert response.status_code == 200
    with pytest.raises(TApplicationException) as info:
        Calculator.Client(TBinaryProtocol(TMemoryBuffer(response.get_data()))).recv_add()
    assert info.value.type == TApplicationException.UNKNOWN_METHOD
    # A client without the permission is refused before it learns a method does not exist.
    out = TMemoryBuffer()
    Calculator.Client(TBinaryProtocol(out)).send_divide(1, 2)
    reader = {"Content-Type": "application/x-thrift", "X-API-Key": "reader"}
    assert Client(app).post("/thrift/calculator", data=out.getvalue(), headers=reader).status_code == 403
