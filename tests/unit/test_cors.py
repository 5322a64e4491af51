"""gateway/security/cors.py in-process: which requests are preflights, which origins are
answered, and exactly which headers each answer carries.

The integration test (tests/integration/test_security.py) checks one allowed origin end
to end; these check the rules behind it: the README's and the contract's promise that a
preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an
allowed origin gets the ``Access-Control-*`` headers, that answers echo the origin and
expose ``X-Request-ID`` and the ``RateLimit-*`` headers, and that anything else gets none.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.security.cors import Cors

ALLOWED = "https://a.example"
OTHER = "https://b.example"


def preflight(origin: str | None = ALLOWED, method: str = "OPTIONS", request_method: str | None = "PUT"
              ) -> dict[str, Any]:
    """A WSGI environ as a browser's preflight leaves it (headers as HTTP_*)."""
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": "/cache/k"}
    if origin is not None:
        environ["HTTP_ORIGIN"] = origin
    if request_method is not None:
        environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] = request_method
    return environ


def listed(value: str) -> set[str]:
    """A comma-separated header value as a set of lower-case tokens."""
    return {item.strip().lower() for item in value.split(",")}


# Preflight detection --------------------------------------------------------------------------

def test_a_preflight_is_options_with_origin_and_a_requested_method() -> None:
    assert Cors.is_preflight(preflight())


@pytest.mark.parametrize("environ", [
    preflight(method="GET"),  # a simple cross-origin request, not a preflight
    preflight(method="POST"),
    preflight(origin=None),  # OPTIONS from a non-browser client (curl -X OPTIONS)
    preflight(request_method=None),  # OPTIONS with Origin but no method asked for
    {"REQUEST_METHOD": "OPTIONS"},
], ids=["get", "post", "no-origin", "no-request-method", "bare-options"])
def test_anything_else_is_not_a_preflight(environ: dict[str, Any]) -> None:
    assert not Cors.is_preflight(environ)


def test_an_empty_origin_header_still_makes_a_preflight_but_is_not_answered() -> None:
    # "Origin:" with no value is present (so it is a preflight), but it names no origin
    # the setting could list: no Access-Control-* answer for it.
    environ = preflight(origin="")
    assert Cors.is_preflight(environ)
    assert Cors((ALLOWED,)).preflight_headers(environ) is None


# Allowed and denied origins -------------------------------------------------------------------

def test_listed_origins_are_allowed_and_others_are_not() -> None:
    cors = Cors((ALLOWED, OTHER))
    assert cors.allowed(ALLOWED) and cors.allowed(OTHER)
    assert not cors.allowed("https://c.example")
    assert not cors.allowed(None)  # a same-origin or non-browser request


@pytest.mark.parametrize("near_miss", [
    "https://a.example/",  # a trailing slash: browsers never send one, and it is not the origin
    "http://a.example",  # another scheme is another origin
    "https://a.example:8443",  # another port too
    "https://evil.a.example",
    "https://a.example.evil",
])
def test_origins_match_exactly_not_by_prefix_suffix_or_case(near_miss: str) -> None:
    assert not Cors((ALLOWED,)).allowed(near_miss)


def test_scheme_and_host_are_compared_without_case() -> None:
    # Browsers send them lower-case; a configured https://App.Example must still match.
    assert Cors(("https://App.Example",)).allowed("https://app.example")
    assert Cors((ALLOWED,)).allowed("https://A.EXAMPLE")


def test_star_allows_every_origin_but_still_needs_one() -> None:
    cors = Cors(("*",))
    assert cors.allowed("https://anything.example") and cors.allowed("null")
    assert not cors.allowed(None)


def test_star_among_listed_origins_allows_every_origin() -> None:
    assert Cors((ALLOWED, "*")).allowed("https://c.example")


# The preflight's answer -----------------------------------------------------------------------

def test_a_preflight_from_an_allowed_origin_gets_every_access_control_header() -> None:
    headers = Cors((ALLOWED,)).preflight_headers(preflight())
    assert headers is not None
    found = dict(headers)
    assert len(found) == len(headers)  # each header once
    assert found["Access-Control-Allow-Origin"] == ALLOWED
    assert found["Vary"] == "Origin"  # caches must not serve one origin's answer to another
    assert {"get", "head", "post", "put", "delete", "options"} <= listed(found["Access-Control-Allow-Methods"])
    # What a browser client sends beyond the safelisted headers: credentials, JSON, the
    # request id and the trace context.
    assert {"authorization", "content-type", "x-api-key", "x-request-id", "traceparent", "tracestate"} \
        <= listed(found["Access-Control-Allow-Headers"])
    assert int(found["Access-Control-Max-Age"]) > 0


def test_a_preflight_echoes_the_origin_even_under_star() -> None:
    # The origin itself, never "*": a browser refuses "*" on a request that carries an
    # Authorization header the client set, and clients of the gateway do.
    headers = Cors(("*",)).preflight_headers(preflight(origin="https://random.example"))
    assert headers is not None
    assert dict(headers)["Access-Control-Allow-Origin"] == "https://random.example"


def test_a_preflight_from_another_origin_gets_no_answer() -> None:
    cors = Cors((ALLOWED,))
    assert cors.preflight_headers(preflight(origin=OTHER)) is None
    assert cors.preflight_headers(preflight(origin=None)) is None


# Every other answer ---------------------------------------------------------------------------

def test_answers_to_an_allowed_origin_echo_it_and_expose_the_gateways_headers() -> None:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/add/1/2", "HTTP_ORIGIN": ALLOWED}
    headers = Cors((ALLOWED, OTHER)).answer_headers(environ)
    found = dict(headers)
    assert len(found) == len(headers)
    assert found["Access-Control-Allow-Origin"] == ALLOWED  # this origin, not the list
    assert found["Vary"] == "Origin"
    # The README: X-Request-ID and the RateLimit-* headers; a 429's Retry-After and the
    # trace context too, or a browser client could not read them.
    assert {"x-request-id", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after",
            "traceparent"} <= listed(found["Access-Control-Expose-Headers"])


def test_answers_under_star_echo_the_origin() -> None:
    headers = Cors(("*",)).answer_headers({"REQUEST_METHOD": "GET", "HTTP_ORIGIN": "https://x.example"})
    assert dict(headers)["Access-Control-Allow-Origin"] == "https://x.example"


@pytest.mark.parametrize("origin", [OTHER, None, ""])
def test_answers_to_other_origins_carry_no_cors_headers_but_vary(origin: str | None) -> None:
    # No Access-Control-* at all; Vary: Origin, so that a shared cache never serves this
    # answer to an allowed origin.
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET"}
    if origin is not None:
        environ["HTTP_ORIGIN"] = origin
    assert Cors((ALLOWED,)).answer_headers(environ) == [("Vary", "Origin")]


def test_cors_reads_only_the_environ_it_is_given() -> None:
    # The same Cors answers many requests (one per worker): no origin is remembered
    # from one request to the next.
    cors = Cors((ALLOWED, OTHER))
    first = dict(cors.answer_headers({"HTTP_ORIGIN": ALLOWED}))
    second = dict(cors.answer_headers({"HTTP_ORIGIN": OTHER}))
    assert first["Access-Control-Allow-Origin"] == ALLOWED and second["Access-Control-Allow-Origin"] == OTHER
    assert cors.answer_headers({}) == [("Vary", "Origin")]
