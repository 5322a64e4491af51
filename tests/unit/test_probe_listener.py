"""GATEWAY_PROBE_BIND's address rules and the probe listener's filter, without sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.config import ConfigError
from gateway.http import probe_listener
from gateway.http.probe_listener import ProbeListenerOnly, probe_bind


@pytest.mark.parametrize("value", ["0.0.0.0:8001", "127.0.0.1:1", "[::1]:65535", "gateway.internal:8001"])
def test_a_host_and_port_is_accepted(value: str) -> None:
    assert probe_bind({"GATEWAY_PROBE_BIND": value}) == value


@pytest.mark.parametrize("value", ["", "   "])
def test_unset_or_empty_is_off(value: str) -> None:
    assert probe_bind({"GATEWAY_PROBE_BIND": value}) is None and probe_bind({}) is None


@pytest.mark.parametrize("value", ["8001", "host", "h:0", "h:65536", "::1:8001", "unix:/run/p.sock", "h:80 x"])
def test_anything_else_is_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_PROBE_BIND"):
        probe_bind({"GATEWAY_PROBE_BIND": value})


def _call(app: Any, server: tuple[str, str], path: str) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"SERVER_NAME": server[0], "SERVER_PORT": server[1], "PATH_INFO": path,
                         "HTTP_HOST": "127.0.0.1:8000"}, start_response))
    return seen["status"], seen["headers"], body


def _inner(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"inner":true}']


def test_only_the_probe_paths_pass_on_the_probe_listener() -> None:
    app = ProbeListenerOnly(_inner, {("127.0.0.1", "8001")}, json.dumps)
    for path in ("/healthz", "/readyz"):
        assert _call(app, ("127.0.0.1", "8001"), path)[0] == "200 OK"
    status, headers, body = _call(app, ("127.0.0.1", "8001"), "/add/1/2")
    assert status.startswith("404") and headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["code"] == "not_found" and headers["X-Request-ID"]
    # Another listener (same port on another address included) is not restricted.
    assert _call(app, ("127.0.0.1", "8000"), "/add/1/2")[0] == "200 OK"
    assert _call(app, ("10.0.0.5", "8001"), "/add/1/2")[0] == "200 OK"


@pytest.mark.parametrize(("bind", "server"), [("localhost:8001", ("127.0.0.1", "8001")),
                                              ("127.0.0.1:8001", ("127.0.0.1", "8001")),
                                              ("[::1]:8001", ("::1", "8001"))])
def test_without_the_masters_record_the_configured_address_is_restricted_by_what_it_resolves_to(
        monkeypatch: pytest.MonkeyPatch, bind: str, server: tuple[str, str]) -> None:
    # Run by a server that did not record the probe socket (not our gunicorn.conf.py): the
    # configured address is used, a name by its addresses - Gunicorn's SERVER_NAME is the
    # socket's address, so a name alone would let every route through the probe port.
    monkeypatch.setattr(probe_listener, "_listening", set())
    monkeypatch.setenv("GATEWAY_PROBE_BIND", bind)
    app = probe_listener.restrict(_inner, json.dumps)
    assert _call(app, server, "/add/1/2")[0].startswith("404")
    assert _call(app, server, "/healthz")[0] == "200 OK"
    assert _call(app, (server[0], "8000"), "/add/1/2")[0] == "200 OK"

