"""Exceptions to problem documents, through the app with stub backends."""

from __future__ import annotations

import pytest
from thrift.Thrift import TException

from gateway import errors
from gateway.app import create_app
from gateway.config import Settings
from tests.problems import assert_problem
from tests.stubs import StubBackends
from thrift_idl.gen.cache import ttypes as cache_types
from thrift_idl.gen.calculator.ttypes import CalculatorError


@pytest.fixture
def stubs() -> StubBackends:
    return StubBackends()


@pytest.fixture(params=[True, False], ids=["direct", "flask"])
def client(request: pytest.FixtureRequest, stubs: StubBackends):
    """The app's test client; every test runs against both paths the API routes can take."""
    app = create_app(Settings(), backends=stubs, direct=request.param)  # type: ignore[arg-type]
    return app.test_client()


def _backend_error(cls: type) -> errors.BackendError:
    return cls("detail", backend="calculator", address="127.0.0.1:1")


@pytest.mark.parametrize(("raised", "status", "code"), [
    (CalculatorError(code="division_by_zero", message="no"), 400, "division_by_zero"),
    (CalculatorError(code="overflow", message="big"), 400, "overflow"),
    (_backend_error(errors.BackendUnavailable), 503, "backend_unavailable"),
    (_backend_error(errors.Overloaded), 503, "overloaded"),
    (_backend_error(errors.BackendTimeout), 504, "backend_timeout"),
    (_backend_error(errors.BadGateway), 502, "bad_gateway"),
    (RuntimeError("a bug"), 500, "internal"),
    (TException("undeclared"), 500, "internal"),
])
def test_calculator_errors(client, stubs: StubBackends, raised: BaseException, status: int, code: str) -> None:
    stubs.calc_pool.outcome = raised
    r = client.get("/add/1/2")
    body = assert_problem(r, status, code)
    assert "Traceback" not in body["detail"]
    if status == 503:
        assert r.headers["Retry-After"] == "1"


@pytest.mark.parametrize(("raised", "status", "code"), [
    (cache_types.NotFound(key="k"), 404, "not_found"),
    (cache_types.InvalidKey(key="k", reason="bad"), 400, "invalid_key"),
    (cache_types.TooLarge(size=10, limit=5), 413, "payload_too_large"),
    (cache_types.InvalidTtl(ttl_seconds=0, reason="bad"), 400, "invalid_argument"),
])
def test_cache_declared_exceptions(client, stubs: StubBackends, raised: BaseException, status: int, code: str) -> None:
    stubs.cache_pool.outcome = raised
    assert_problem(client.put("/cache/k", data='{"value": 1}'), status, code)


def test_a_stored_value_that_is_not_json_is_a_bad_gateway(client, stubs: StubBackends) -> None:
    stubs.cache_pool.outcome = b"\xff not json"
    assert_problem(client.get("/cache/k"), 502, "bad_gateway")


def test_seed_get_answers_null_for_a_miss(client, stubs: StubBackends) -> None:
    stubs.cache_pool.outcome = cache_types.NotFound(key="k")
    r = client.get("/get/k")
    assert r.status_code == 200 and r.get_json() == {"value": None}


def test_routing_errors(client) -> None:
    assert_problem(client.get("/nope"), 404, "not_found")
    r = client.delete("/calc")
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "POST"


def test_readyz_names_the_backends_that_did_not_answer(client, stubs: StubBackends) -> None:
    stubs.cache_pool.outcome = _backend_error(errors.BackendTimeout)
    body = assert_problem(client.get("/readyz"), 503, "backend_unavailable")
    assert body["backends"] == {"calculator": {"127.0.0.1:1": "ok"}, "cache": {"127.0.0.1:1": "backend_timeout"}}
    assert "cache at 127.0.0.1:1" in body["detail"]
