"""Assertions on the gateway's answers, shared by the HTTP-level tests."""

from __future__ import annotations

from typing import Any


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem document with this status and code."""
    assert response.status_code == status, (response.status_code, _text(response))
    assert response.headers["Content-Type"] == "application/problem+json", response.headers
    body = response.json() if callable(response.json) else response.json
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["title"] and body["detail"]
    return body


def _text(response: Any) -> str:
    return response.text if hasattr(response, "text") else response.get_data(as_text=True)
