"""A request's deadline from its headers (gateway/http/deadlines.py)."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidArgument
from gateway.http.deadlines import from_headers


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
