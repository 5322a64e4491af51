"""A request's deadline from its headers (gateway/http/deadlines.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from werkzeug.test import Client

from gateway.app import create_app
from gateway.config import Settings
from gateway.errors import InvalidArgument
from gateway.http.deadlines import from_headers
from tests.stubs import StubBackends


@pytest.mark.parametrize(("header", "value", "seconds"), [
    ("HTTP_GRPC_TIMEOUT", "250m", 0.25), ("HTTP_GRPC_TIMEOUT", "2S", 2.0), ("HTTP_GRPC_TIMEOUT", "1M", 60.0),
    ("HTTP_GRPC_TIMEOUT", "1H", 3600.0), ("HTTP_GRPC_TIMEOUT", "1500u", 0.0015), ("HTTP_GRPC_TIMEOUT", "7n", 7e-9),
    ("HTTP_GRPC_TIMEOUT", "99999999m", 99999.999), ("HTTP_GRPC_TIMEOUT", "0m", 0.0),
    ("HTTP_CONNECT_TIMEOUT_MS", "300", 0.3), ("HTTP_CONNECT_TIMEOUT_MS", "0", 0.0),
    ("HTTP_CONNECT_TIMEOUT_MS", "9999999999", 9999999.999),
])
def test_both_formats_and_their_units(header: str, value: str, seconds: float) -> None:
    assert from_headers({header: value}, 100.0) == pytest.approx(100.0 + seconds)


def test_no_header_no_deadline_and_both_the_earlier() -> None:
    assert from_headers({}, 5.0) is None
    both = {"HTTP_GRPC_TIMEOUT": "2S", "HTTP_CONNECT_TIMEOUT_MS": "500"}
    assert from_headers(both, 0.0) == pytest.approx(0.5)


@pytest.mark.parametrize(("header", "name", "value"), [
    ("HTTP_GRPC_TIMEOUT", "Grpc-Timeout", "5"), ("HTTP_GRPC_TIMEOUT", "Grpc-Timeout", "5s"),
    ("HTTP_GRPC_TIMEOUT", "Grpc-Timeout", "123456789S"), ("HTTP_GRPC_TIMEOUT", "Grpc-Timeout", "-1S"),
    ("HTTP_GRPC_TIMEOUT", "Grpc-Timeout", "1.5S"), ("HTTP_GRPC_TIMEOUT", "Grpc-Timeout", ""),
    ("HTTP_GRPC_TIMEOUT", "Grpc-Timeout", "٣S"), ("HTTP_CONNECT_TIMEOUT_MS", "Connect-Timeout-Ms", "-1"),
    ("HTTP_CONNECT_TIMEOUT_MS", "Connect-Timeout-Ms", "1e3"), ("HTTP_CONNECT_TIMEOUT_MS", "Connect-Timeout-Ms", "12345678901"),
    ("HTTP_CONNECT_TIMEOUT_MS", "Connect-Timeout-Ms", "250ms"),
])
def test_a_malformed_value_is_invalid_argument_naming_the_header(header: str, name: str, value: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^{name}: "):
        from_headers({header: value}, 0.0)


def test_a_malformed_header_is_read_after_the_guard(tmp_path: Path) -> None:
    """No key and a bogus Grpc-Timeout: 401 (and counted by the rate limit), not 400."""
    keys = tmp_path / "keys"
    keys.write_text(f"adder {hashlib.sha256(b'adder').hexdigest()} calculator.add\n")
    stubs = StubBackends()
    stubs.calc_pool.outcome = 3
    app = create_app(Settings(auth="api_key", api_keys_file=str(keys), runtime_dir=str(tmp_path), access_log=""),
                     backends=stubs)  # type: ignore[arg-type]
    client = Client(app)
    assert client.get("/add/1/2", headers={"Grpc-Timeout": "bogus"}).status_code == 401
    answer = client.get("/add/1/2", headers={"Grpc-Timeout": "bogus", "X-API-Key": "adder"})
    assert answer.status_code == 400 and answer.get_json()["detail"].startswith("Grpc-Timeout: ")
    assert client.get("/add/1/2", headers={"Grpc-Timeout": "2S", "X-API-Key": "adder"}).get_json() == {"result": 3}
    assert client.get("/healthz", headers={"Grpc-Timeout": "bogus"}).status_code == 200  # no backend call
