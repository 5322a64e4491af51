"""Permissions come from the route that matched, end to end: paths sent as written
(``//add/1/2``, ``///rpc/...``) through real Gunicorn to real backends, and nothing a
refused request asked for is stored. (The in-process tests, tests/unit/test_route_table.py,
cover every spelling on both code paths.)"""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from tests.harness import Backend, Gateway


@pytest.fixture(scope="module")
def gateway(log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, dict[str, str]]]:
    keys_file = tmp_path_factory.mktemp("keys") / "api-keys.txt"
    keys = {name: secrets.token_urlsafe(32) for name in ("nothing", "reader", "admin")}
    # A client with no permission at all (the keys CLI insists on one): written by hand.
    keys_file.write_text(f"nothing {hashlib.sha256(keys['nothing'].encode()).hexdigest()}\n"
                         f"reader {hashlib.sha256(keys['reader'].encode()).hexdigest()} cache.get\n"
                         f"admin {hashlib.sha256(keys['admin'].encode()).hexdigest()} *\n")
    procs = [Backend("calculator", log_dir), Backend("cache", log_dir)]
    try:
        procs.append(Gateway(log_dir, [procs[0].address], [procs[1].address],
                             env={"GATEWAY_AUTH": "api_key", "GATEWAY_API_KEYS_FILE": str(keys_file)}))
        yield procs[2], keys  # type: ignore[misc]
    finally:
        for proc in procs:
            proc.stop()


def _send(gw: Gateway, method: str, path: str, key: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    """One request with the path exactly as written (requests would normalise it)."""
    conn = http.client.HTTPConnection(urlsplit(gw.url).netloc, timeout=10)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers={"X-API-Key": key})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "//add/1/2", None), ("POST", "///rpc/calculator/multiply", {"a": 2, "b": 3}),
    ("GET", "//metrics", None), ("PUT", "//cache/slashed", {"value": 1}),
])
def test_a_key_without_permissions_is_refused_with_leading_slashes(
        gateway: tuple[Gateway, dict[str, str]], method: str, path: str, body: dict[str, object] | None) -> None:
    gw, keys = gateway
    status, data = _send(gw, method, path, keys["nothing"], body)
    assert status == 403, data
    assert json.loads(data)["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "//cache/k1", {"value": 1}), ("POST", "//set", {"key": "k1", "value": 1}),
    ("POST", "//rpc/cache/put", {"key": "k1", "value": "MQ=="}),
])
def test_a_reader_cannot_write_through_leading_slashes_and_nothing_is_stored(
        gateway: tuple[Gateway, dict[str, str]], method: str, path: str, body: dict[str, object]) -> None:
    gw, keys = gateway
    assert _send(gw, method, path, keys["reader"], body)[0] == 403
    assert _send(gw, "GET", "/cache/k1", keys["admin"])[0] == 404  # not stored


def test_a_reader_cannot_delete_through_leading_slashes(gateway: tuple[Gateway, dict[str, str]]) -> None:
    gw, keys = gateway
    assert _send(gw, "PUT", "/cache/kept", keys["admin"], {"value": 7})[0] == 200
    assert _send(gw, "DELETE", "//cache/kept", keys["reader"])[0] == 403
    status, data = _send(gw, "GET", "//cache/kept", keys["reader"])
    assert (status, json.loads(data)) == (200, {"key": "kept", "value": 7})
