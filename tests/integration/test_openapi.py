"""/openapi.json describes the gateway truthfully; schemathesis holds it to that."""

from __future__ import annotations

import re
import subprocess

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.system_tools import ensure_debian_package

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fits_the_document(url: str, paths: str = "/", max_examples: int = 15) -> int:
    """Generated requests to every operation of ``url``'s /openapi.json whose path starts
    with ``paths``: no 5xx, and every answer's status, type and body as documented.
    Returns how many operations were driven."""
    # schemathesis's own pytest plugin does not run under pytest 9 yet: drive each
    # operation's hypothesis strategy directly, a bounded number of examples each.
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(paths)]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(checks=CHECKS)

        check()
    return len(operations)


def test_no_5xx_and_every_answer_fits_the_document(gw: str) -> None:
    assert fits_the_document(gw) > 20


def test_the_document_covers_every_route(gw: str) -> None:
    document = requests.get(f"{gw}/openapi.json").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in ("/add/{a}/{b}", "/calc/{op}/{a}/{b}", "/calc", "/cache/{key}", "/set", "/get/{key}",
                 "/healthz", "/readyz", "/metrics", "/rpc", "/rpc/calculator/add", "/rpc/cache/get"):
        assert path in paths, path
    add = paths["/rpc/calculator/add"]["post"]
    assert add["requestBody"]["content"]["application/json"]["schema"]["properties"]["a"]["maximum"] == 2**63 - 1
    assert "CalculatorError" in add["responses"]["400"]["description"]
    assert set(paths["/cache/{key}"]) == {"get", "put", "delete"}


def test_docs_page_and_its_assets_are_served_locally(gw: str) -> None:
    page = requests.get(f"{gw}/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "http" not in page.text.replace("/openapi.json", "")  # no CDN: every asset is ours
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js"):
        assert requests.get(f"{gw}/docs/assets/{asset}").status_code == 200
    assert requests.get(f"{gw}/docs/assets/index.html").status_code == 404


def test_docs_render_every_route_in_headless_chromium(gw: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    chromium = ensure_debian_package("chromium", "chromium")
    if chromium is None:
        pytest.skip("chromium is missing and cannot be installed here (needs root and apt)")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path}", "--virtual-time-budget=15000", "--dump-dom", f"{gw}/docs"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    rendered = set(re.findall(r'data-path="([^"]+)"', dom))
    for path in ("/add/{a}/{b}", "/calc", "/cache/{key}", "/healthz", "/rpc/calculator/add", "/rpc/cache/put"):
        assert path in rendered, (path, sorted(rendered)[:10], dom[:500])
