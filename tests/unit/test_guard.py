"""gateway/http/guard.py in-process: the WSGI ``Guard`` driven with crafted environs,
behind the real ``RouteMatcher`` and in front of an inner app that records what reaches it.

The integration tests (test_security.py, test_route_permissions.py) check a few of these
answers through Gunicorn; these check each rule of the guard's order on its own - CORS
preflight first, OPEN routes untouched, authentication (401), the matched route's
permission (403), the rate limit (429) - and that nothing refused reaches the inner app.
The rate limiter is the real host table, in a file in a tmp dir.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import pytest

from gateway.config import Settings
from gateway.errors import Forbidden, Unauthenticated
from gateway.http import guard as guard_module
from gateway.http.guard import Guard
from gateway.http.problems import PROBLEM_TYPE
from gateway.http.routing import (
    AUTHENTICATED,
    DEFERRED,
    MATCH_ENVIRON_KEY,
    OPEN,
    Route,
    RouteMatcher,
    RouteTable,
    needs,
)
from gateway.security.auth import ApiKeys, Authenticator, Client
from gateway.security.cors import Cors
from gateway.security.permissions import CLIENT_ENVIRON_KEY, require
from gateway.security.ratelimit import HostStorage, RateLimiter

ORIGIN = "https://app.example"
KEYS = {"admin": ("*",), "adder": ("calculator.add",), "reader": ("cache.get",), "nobody": ()}


def _handler(**params: str) -> None:  # the guard never calls handlers; routes need one
    raise AssertionError("not called")


# A table shaped like gateway/http/routes.py's: one route of each kind of Access.
TABLE = RouteTable([
    Route("GET", "/healthz", _handler, OPEN),
    Route("GET", "/add/<a>/<b>", _handler, needs("calculator.add")),
    Route("GET", "/calc/<op>/<a>/<b>", _handler, needs("calculator.{op}")),
    Route("POST", "/calc", _handler, DEFERRED),
    Route("GET", "/cache/<key:key>", _handler, needs("cache.get")),
    Route("PUT", "/cache/<key:key>", _handler, needs("cache.put")),
    Route("GET", "/metrics", _handler, needs("metrics")),
    Route("GET", "/rpc", _handler, AUTHENTICATED),
])


class Inner:
    """The app behind the guard: answers 200 and records every environ that reached it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.seen.append(environ)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "3")])
        return [b"{}\n"]


class Answer:
    """What the guard (or the app behind it) answered: status, headers, body."""

    def __init__(self, app: Any, environ: dict[str, Any]) -> None:
        self.calls = 0

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            self.calls += 1
            self.status = int(status.split(" ", 1)[0])
            self.status_line = status
            self.header_list = list(headers)

        self.body = b"".join(app(environ, start_response))
        assert self.calls == 1, "start_response called once per request"
        self.headers = {name.lower(): value for name, value in self.header_list}

    def problem(self) -> dict[str, Any]:
        """The body as the problem document every refusal is."""
        assert self.headers["content-type"] == PROBLEM_TYPE
        assert int(self.headers["content-length"]) == len(self.body)
        document = json.loads(self.body)
        assert document["status"] == self.status
        assert {"type", "title", "status", "detail", "code"} <= set(document)
        return document


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # as Flask's encode_compact


def environ(method: str, path: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    """A WSGI environ as Gunicorn leaves it; ``key`` sent as X-API-Key."""
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "REMOTE_ADDR": "192.0.2.1",
                           "wsgi.input": None}
    if key is not None:
        env["HTTP_X_API_KEY"] = key
    env.update(extra)
    return env


def api_keys() -> ApiKeys:
    # Each client's key is "key-<name>"; the file would hold its SHA-256.
    return ApiKeys([(hashlib.sha256(f"key-{name}".encode()).digest(), Client(name, granted))
                    for name, granted in KEYS.items()])


def limiter(tmp_path: Path, rate: str = "2/hour", slots: int = 256) -> RateLimiter:
    path = tmp_path / "rate-limits.bin"
    HostStorage.create(path, slots)
    return RateLimiter(rate, HostStorage(path, slots))


def stack(inner: Inner, **guard_options: Any) -> RouteMatcher:
    """The request's path through the app: the matcher, then the guard, then the app."""
    return RouteMatcher(TABLE, Guard(inner, dumps, **guard_options))


# OPEN routes and unmatched paths --------------------------------------------------------------

def test_open_routes_need_nothing_and_are_never_limited(tmp_path: Path) -> None:
    inner = Inner()
    app = stack(inner, auth=api_keys(), limiter=limiter(tmp_path, "1/hour"))
    for _ in range(3):  # past the limit of 1
        answer = Answer(app, environ("GET", "/healthz"))
        assert answer.status == 200 and "ratelimit-limit" not in answer.headers
    assert len(inner.seen) == 3
    assert CLIENT_ENVIRON_KEY not in inner.seen[0]  # nobody was authenticated


def test_head_of_an_open_route_is_open_too() -> None:
    inner = Inner()
    assert Answer(stack(inner, auth=api_keys()), environ("HEAD", "/healthz")).status == 200


def test_an_unmatched_path_needs_valid_credentials_only() -> None:
    inner = Inner()
    app = stack(inner, auth=api_keys())
    assert Answer(app, environ("GET", "/no/such/route")).status == 401
    assert Answer(app, environ("GET", "/no/such/route", key="wrong")).status == 401
    # A client with no permissions at all passes: the route that does not exist answers
    # (404) from behind the guard, and its absence is no secret to a known client.
    answer = Answer(app, environ("GET", "/no/such/route", key="key-nobody"))
    assert answer.status == 200 and len(inner.seen) == 1
    assert inner.seen[0][CLIENT_ENVIRON_KEY] == Client("nobody", ())


def test_a_method_the_route_does_not_have_is_unmatched() -> None:
    # DELETE /add/1/2 matches no route: credentials only, no calculator.add needed.
    inner = Inner()
    answer = Answer(stack(inner, auth=api_keys()), environ("DELETE", "/add/1/2", key="key-nobody"))
    assert answer.status == 200 and len(inner.seen) == 1


# 401 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [None, "", "key-unknown"], ids=["no-key", "empty-key", "unknown-key"])
def test_no_or_bad_credentials_are_401_with_www_authenticate(key: str | None) -> None:
    inner = Inner()
    answer = Answer(stack(inner, auth=api_keys()), environ("GET", "/add/1/2", key=key))
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.problem()["code"] == "unauthenticated"
    assert inner.seen == []


def test_the_401_says_why_without_echoing_the_key() -> None:
    answer = Answer(stack(Inner(), auth=api_keys()), environ("GET", "/rpc", key="sekrit-guess"))
    detail = answer.problem()["detail"]
    assert detail and "sekrit-guess" not in detail


def test_an_authenticated_route_takes_any_valid_credentials() -> None:
    inner = Inner()
    assert Answer(stack(inner, auth=api_keys()), environ("GET", "/rpc", key="key-nobody")).status == 200
    assert inner.seen[0][CLIENT_ENVIRON_KEY].name == "nobody"


# 403: the matched route's permission ----------------------------------------------------------

@pytest.mark.parametrize(("key", "method", "path", "status"), [
    ("key-adder", "GET", "/add/1/2", 200),
    ("key-reader", "GET", "/add/1/2", 403),
    ("key-adder", "GET", "/calc/add/1/2", 200),  # calculator.{op} filled from the path
    ("key-adder", "GET", "/calc/divide/1/2", 403),
    ("key-reader", "GET", "/cache/k", 200),
    ("key-reader", "HEAD", "/cache/k", 200),  # HEAD needs what GET needs, no more ...
    ("key-adder", "HEAD", "/cache/k", 403),  # ... and no less
    ("key-reader", "PUT", "/cache/k", 403),  # a reader cannot write
    ("key-reader", "GET", "/metrics", 403),
    ("key-admin", "GET", "/metrics", 200),
    ("key-nobody", "GET", "/cache/a/b/c", 403),
])
def test_the_permission_checked_is_the_matched_routes(key: str, method: str, path: str, status: int) -> None:
    inner = Inner()
    answer = Answer(stack(inner, auth=api_keys()), environ(method, path, key=key))
    assert answer.status == status
    assert len(inner.seen) == (1 if status == 200 else 0)


def test_a_403_is_a_problem_naming_the_client_and_the_permission() -> None:
    answer = Answer(stack(Inner(), auth=api_keys()), environ("GET", "/calc/divide/1/2", key="key-adder"))
    document = answer.problem()
    assert document["code"] == "forbidden"
    assert "adder" in document["detail"] and "calculator.divide" in document["detail"]
    assert "www-authenticate" not in answer.headers  # the credentials were fine


def test_leading_slashes_do_not_reach_a_route_around_its_permission() -> None:
    # The matcher normalises //cache/k before matching; the guard checks that match.
    inner = Inner()
    answer = Answer(stack(inner, auth=api_keys()), environ("PUT", "//cache/k", key="key-reader"))
    assert answer.status == 403 and inner.seen == []


def test_the_guard_reads_the_match_not_the_path() -> None:
    # The one reading of the path is the matcher's: an environ whose match names the
    # metrics route is checked for "metrics", whatever PATH_INFO says - and one with no
    # match (None) needs credentials only, even on a path a route would match.
    inner = Inner()
    guard = Guard(inner, dumps, auth=api_keys())
    metrics_match = TABLE.match("GET", "/metrics")
    assert metrics_match is not None
    refused = Answer(guard, environ("GET", "/add/1/2", key="key-adder", **{MATCH_ENVIRON_KEY: metrics_match}))
    assert refused.status == 403 and "'metrics'" in refused.problem()["detail"]
    passed = Answer(guard, environ("GET", "/metrics", key="key-nobody", **{MATCH_ENVIRON_KEY: None}))
    assert passed.status == 200 and len(inner.seen) == 1


def test_a_deferred_route_passes_with_the_client_left_for_its_handler() -> None:
    # POST /calc: the guard cannot know the operation; the handler calls require() once
    # it has read the body, with the client the guard authenticated.
    inner = Inner()
    answer = Answer(stack(inner, auth=api_keys()), environ("POST", "/calc", key="key-adder"))
    assert answer.status == 200
    seen = inner.seen[0]
    assert seen[CLIENT_ENVIRON_KEY] == Client("adder", ("calculator.add",))
    require(seen, "calculator.add")
    with pytest.raises(Forbidden):
        require(seen, "calculator.divide")


def test_a_deferred_route_still_needs_credentials() -> None:
    inner = Inner()
    assert Answer(stack(inner, auth=api_keys()), environ("POST", "/calc")).status == 401
    assert inner.seen == []


# 429: the rate limit --------------------------------------------------------------------------

def test_the_limit_counts_each_client_and_answers_429_past_it(tmp_path: Path) -> None:
    inner = Inner()
    app = stack(inner, auth=api_keys(), limiter=limiter(tmp_path, "2/hour"))
    first, second, third = (Answer(app, environ("GET", "/add/1/2", key="key-adder")) for _ in range(3))
    assert (first.status, second.status, third.status) == (200, 200, 429)
    assert len(inner.seen) == 2  # the third never reached the app
    # Every limited answer says where the client stands, the passed ones included.
    assert (first.headers["ratelimit-limit"], first.headers["ratelimit-remaining"]) == ("2", "1")
    assert second.headers["ratelimit-remaining"] == "0"
    assert third.headers["ratelimit-limit"] == "2" and third.headers["ratelimit-remaining"] == "0"
    reset = int(third.headers["ratelimit-reset"])
    assert 3590 <= reset <= 3600  # seconds until the hour's window ends
    assert int(third.headers["retry-after"]) == reset
    document = third.problem()
    assert document["code"] == "rate_limited" and "2 requests" in document["detail"]
    assert sum(name.lower() == "retry-after" for name, _ in third.header_list) == 1


def test_each_client_has_its_own_budget_by_name_whatever_its_address(tmp_path: Path) -> None:
    app = stack(Inner(), auth=api_keys(), limiter=limiter(tmp_path, "1/hour"))
    assert Answer(app, environ("GET", "/rpc", key="key-adder", REMOTE_ADDR="192.0.2.1")).status == 200
    # The same client from another address: the same budget, spent.
    assert Answer(app, environ("GET", "/rpc", key="key-adder", REMOTE_ADDR="192.0.2.2")).status == 429
    # Another client from the first address: its own budget.
    assert Answer(app, environ("GET", "/rpc", key="key-reader", REMOTE_ADDR="192.0.2.1")).status == 200


def test_without_auth_the_budget_is_the_remote_addresses(tmp_path: Path) -> None:
    inner = Inner()
    app = stack(inner, limiter=limiter(tmp_path, "1/hour"))
    assert Answer(app, environ("GET", "/add/1/2", REMOTE_ADDR="192.0.2.1")).status == 200
    assert Answer(app, environ("GET", "/add/1/2", REMOTE_ADDR="192.0.2.1")).status == 429
    assert Answer(app, environ("GET", "/add/1/2", REMOTE_ADDR="192.0.2.2")).status == 200
    assert len(inner.seen) == 2


def test_one_budget_across_routes(tmp_path: Path) -> None:
    # The limit is the client's, not a route's: /add and /rpc draw on one budget.
    app = stack(Inner(), auth=api_keys(), limiter=limiter(tmp_path, "1/hour"))
    assert Answer(app, environ("GET", "/add/1/2", key="key-admin")).status == 200
    assert Answer(app, environ("GET", "/rpc", key="key-admin")).status == 429


def test_a_full_host_table_is_503_overloaded_and_reaches_nothing(tmp_path: Path) -> None:
    # 16 slots are one bucket: 16 live clients fill it, and the 17th is refused rather
    # than counted in a live client's place (see ratelimit.HostStorage).
    inner = Inner()
    app = stack(inner, limiter=limiter(tmp_path, "5/hour", slots=16))
    for n in range(16):
        assert Answer(app, environ("GET", "/add/1/2", REMOTE_ADDR=f"192.0.2.{n}")).status == 200
    refused = Answer(app, environ("GET", "/add/1/2", REMOTE_ADDR="198.51.100.1"))
    assert refused.status == 503 and refused.problem()["code"] == "overloaded"
    assert int(refused.headers["retry-after"]) >= 1
    assert len(inner.seen) == 16


# CORS ---------------------------------------------------------------------------------------

def preflight(path: str = "/cache/k", origin: str = ORIGIN) -> dict[str, Any]:
    return environ("OPTIONS", path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT",
                   HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type")


def test_a_preflight_is_answered_before_auth_and_is_not_counted(tmp_path: Path) -> None:
    inner = Inner()
    app = stack(inner, auth=api_keys(), limiter=limiter(tmp_path, "1/hour"), cors=Cors((ORIGIN,)))
    for _ in range(3):  # past the limit of 1, and without credentials: browsers send none
        answer = Answer(app, preflight())
        assert answer.status == 204 and answer.body == b""
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "PUT" in answer.headers["access-control-allow-methods"]
        assert "ratelimit-limit" not in answer.headers
    assert inner.seen == []
    # The budget is whole: the client's first real request from that address passes.
    assert Answer(app, environ("GET", "/add/1/2", key="key-adder")).status == 200


def test_a_preflight_for_a_path_no_route_has_is_answered_too() -> None:
    # The browser asks before it knows; what the real request finds is the router's.
    assert Answer(stack(Inner(), auth=api_keys(), cors=Cors((ORIGIN,))), preflight("/nowhere")).status == 204


def test_a_preflight_from_another_origin_is_an_ordinary_request() -> None:
    # Not answered as a preflight: it goes through auth like any OPTIONS, and its 401
    # carries no Access-Control-* header, so the browser stops there.
    inner = Inner()
    answer = Answer(stack(inner, auth=api_keys(), cors=Cors((ORIGIN,))), preflight(origin="https://evil.example"))
    assert answer.status == 401
    assert not any(name.startswith("access-control-") for name in answer.headers)
    assert inner.seen == []


def test_refusals_to_an_allowed_origin_carry_cors_headers(tmp_path: Path) -> None:
    # A browser shows its script a 401/403/429 only with Access-Control-Allow-Origin, and
    # lets it read Retry-After and RateLimit-* only when they are exposed.
    app = stack(Inner(), auth=api_keys(), limiter=limiter(tmp_path, "1/hour"), cors=Cors((ORIGIN,)))
    unauthenticated = Answer(app, environ("GET", "/add/1/2", HTTP_ORIGIN=ORIGIN))
    forbidden = Answer(app, environ("GET", "/metrics", key="key-reader", HTTP_ORIGIN=ORIGIN))
    Answer(app, environ("GET", "/add/1/2", key="key-adder", HTTP_ORIGIN=ORIGIN))
    limited = Answer(app, environ("GET", "/add/1/2", key="key-adder", HTTP_ORIGIN=ORIGIN))
    assert (unauthenticated.status, forbidden.status, limited.status) == (401, 403, 429)
    for answer in (unauthenticated, forbidden, limited):
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert answer.headers["vary"] == "Origin"
        assert "Retry-After" in answer.headers["access-control-expose-headers"]
        answer.problem()


def test_passed_answers_get_the_cors_and_rate_headers_added_to_the_apps() -> None:
    inner = Inner()
    answer = Answer(stack(inner, cors=Cors((ORIGIN,))), environ("GET", "/add/1/2", HTTP_ORIGIN=ORIGIN))
    assert answer.status == 200 and answer.body == b"{}\n"
    # The app's own headers first, untouched; the guard's after them.
    assert answer.header_list[:2] == [("Content-Type", "application/json"), ("Content-Length", "3")]
    assert answer.headers["access-control-allow-origin"] == ORIGIN


def test_no_cors_headers_for_a_request_without_origin_or_without_the_setting(tmp_path: Path) -> None:
    with_cors = Answer(stack(Inner(), cors=Cors((ORIGIN,))), environ("GET", "/add/1/2"))
    without = Answer(stack(Inner(), limiter=limiter(tmp_path)), environ("GET", "/add/1/2", HTTP_ORIGIN=ORIGIN))
    for answer in (with_cors, without):
        assert answer.status == 200
        assert not any(name.startswith("access-control-") for name in answer.headers)


def test_options_without_cors_configured_is_an_ordinary_request() -> None:
    inner = Inner()
    assert Answer(stack(inner, auth=api_keys()), preflight()).status == 401
    assert inner.seen == []


# An authenticator that fails -----------------------------------------------------------------

class Refusing(Authenticator):
    """Refuses everyone, counting how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def authenticate(self, headers: Any) -> Client:
        self.asked += 1
        raise Unauthenticated("no")


def test_open_routes_and_preflights_never_ask_the_authenticator() -> None:
    auth = Refusing()
    app = stack(Inner(), auth=auth, cors=Cors((ORIGIN,)))
    assert Answer(app, environ("GET", "/healthz")).status == 200
    assert Answer(app, preflight()).status == 204
    assert auth.asked == 0
    assert Answer(app, environ("GET", "/rpc")).status == 401 and auth.asked == 1


# What build() installs -----------------------------------------------------------------------

def test_idle_only_when_nothing_is_configured(tmp_path: Path) -> None:
    inner = Inner()
    assert Guard(inner, dumps).idle
    assert not Guard(inner, dumps, auth=api_keys()).idle
    assert not Guard(inner, dumps, limiter=limiter(tmp_path)).idle
    assert not Guard(inner, dumps, cors=Cors(("*",))).idle


def test_build_installs_no_guard_when_nothing_is_configured(tmp_path: Path) -> None:
    inner = Inner()
    counters = tmp_path / "counters.bin"
    assert guard_module.build(Settings(), inner, dumps, counters) is inner
    cors_only = guard_module.build(Settings(cors_origins=(ORIGIN,)), inner, dumps, counters)
    assert isinstance(cors_only, Guard)
    answer = Answer(RouteMatcher(TABLE, cors_only), preflight())
    assert answer.status == 204


def test_refused_credentials_count_against_the_address_so_guessing_is_limited(tmp_path: Path) -> None:
    inner = Inner()
    app = stack(inner, auth=api_keys(), limiter=limiter(tmp_path, "2/hour"))
    guesses = [Answer(app, environ("GET", "/add/1/2", key=f"guess-{n}")) for n in range(3)]
    assert [a.status for a in guesses] == [401, 401, 429]
    assert inner.seen == []
    # A valid client from that address keeps its own budget (by its name).
    assert Answer(app, environ("GET", "/add/1/2", key="key-adder")).status == 200


def test_a_request_refused_its_permission_counts_too(tmp_path: Path) -> None:
    app = stack(Inner(), auth=api_keys(), limiter=limiter(tmp_path, "1/hour"))
    assert Answer(app, environ("GET", "/metrics", key="key-adder")).status == 403
    assert Answer(app, environ("GET", "/add/1/2", key="key-adder")).status == 429
