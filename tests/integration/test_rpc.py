"""The JSON transcoder end to end: gateway, real backends, the test IDL's service."""

from __future__ import annotations

import base64
from typing import Any, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Backend, Gateway, Process, wait_for
from tests.problems import assert_problem
from tests.unit.test_transcode import EVERYTHING, SHAPE, json_for, normal


@pytest.fixture(scope="module")
def rpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("rpc")
    procs: list[Process] = []
    try:
        for name, module in (("calculator", None), ("cache", None), ("showcase", "tests.showcase_backend")):
            procs.append(Backend(name, log_dir, module=module))
        calc, cache, showcase = procs
        gateway = Gateway(log_dir, [calc.address], [cache.address], workers=2, env={
            "GATEWAY_RPC_SERVICES": f"showcase=tests.gen.showcase.Showcase@{showcase.address}"})
        procs.append(gateway)
        yield gateway.url
    finally:
        for proc in procs:
            proc.stop()


def call(url: str, service: str, method: str, body: Any) -> requests.Response:
    return requests.post(f"{url}/rpc/{service}/{method}", json=body)


def test_listing_names_every_service_method_and_type(rpc: str) -> None:
    listing = requests.get(f"{rpc}/rpc").json()["services"]
    assert set(listing) == {"calculator", "cache", "showcase"}
    move = listing["showcase"]["methods"]["move"]
    assert move["arguments"][0] == {"name": "p", "type": "Point", "required": True}
    assert move["result"] == "Point" and move["path"] == "/rpc/showcase/move"
    assert listing["showcase"]["methods"]["notify"]["oneway"] is True
    assert listing["showcase"]["types"]["Color"] == {"kind": "enum", "values": {"RED": 1, "GREEN": 2, "BLUE": 7}}
    assert listing["showcase"]["types"]["Shape"]["kind"] == "union"
    assert listing["cache"]["methods"]["get"]["result"] == "binary"


def test_hand_written_services_are_served_too(rpc: str) -> None:
    assert call(rpc, "calculator", "add", {"a": 2, "b": 3}).json() == {"result": 5}
    assert call(rpc, "calculator", "ping", {}).json() == {}
    body = assert_problem(call(rpc, "calculator", "divide", {"a": 1, "b": 0}), 400, "calculator_error")
    assert body["fields"] == {"code": "division_by_zero", "message": "division by zero"}
    blob = base64.b64encode(b"\x00\xff").decode()
    assert call(rpc, "cache", "put", {"key": "rpc-key", "value": blob, "ttl_seconds": 60}).json() == {}
    assert call(rpc, "cache", "get", {"key": "rpc-key"}).json() == {"result": blob}
    assert_problem(call(rpc, "cache", "get", {"key": "absent"}), 404, "not_found")


def test_an_argument_the_idl_marks_optional_may_be_left_out(rpc: str) -> None:
    # cache.put's ttl_seconds is "optional": absent, the value is stored without expiry.
    blob = base64.b64encode(b"kept").decode()
    assert call(rpc, "cache", "put", {"key": "no-ttl", "value": blob}).json() == {}
    assert call(rpc, "cache", "get", {"key": "no-ttl"}).json() == {"result": blob}
    assert requests.get(f"{rpc}/rpc").json()["services"]["cache"]["methods"]["put"]["arguments"][2] == {
        "name": "ttl_seconds", "type": "i32", "required": False}
    # The other arguments stay required.
    assert "value is required" in assert_problem(
        call(rpc, "cache", "put", {"key": "no-value"}), 400, "invalid_argument")["detail"]
    assert_problem(call(rpc, "cache", "get", {"key": "no-value"}), 404, "not_found")


def test_defaults_enums_unions_and_declared_exceptions(rpc: str) -> None:
    assert call(rpc, "showcase", "move", {"p": {"x": 1}, "dx": 2}).json() == {
        "result": {"x": 3, "y": 6, "color": "GREEN", "label": "origin"}}  # y=5 and dy=1 are IDL defaults
    assert call(rpc, "showcase", "mix", {"a": "RED", "b": 7}).json() == {"result": "BLUE"}
    assert call(rpc, "showcase", "reshape", {"shape": {"polygon": [{"x": 1}]}}).json()["result"]["polygon"][0]["x"] == 1
    body = assert_problem(call(rpc, "showcase", "refuse", {"reason": "no", "level": 3}), 400, "refused")
    assert body["fields"] == {"reason": "no", "level": 3, "where": {"x": 3, "y": 5, "color": "GREEN", "label": "origin"}}


def test_oneway_answers_202_without_waiting(rpc: str) -> None:
    r = call(rpc, "showcase", "notify", {"message": "hello"})
    assert r.status_code == 202 and r.json() == {}
    wait_for(lambda: "hello" in call(rpc, "showcase", "notifications", {}).json()["result"], 5, "the oneway call")


@pytest.mark.parametrize(("method", "body", "path"), [
    ("move", {}, "p is required"),
    ("move", {"p": {"x": 1}, "dx": 2**31}, "dx: 2147483648 is outside the i32 range"),
    ("move", {"p": {"x": 1}, "speed": 1}, "speed: no such field"),
    ("echo", {"value": {"point": {"x": 1, "y": "2"}}}, "value.point.y"),
    ("reshape", {"shape": {}}, "exactly one of"),
    ("mix", {"a": "PURPLE"}, "a: expected one of"),
])
def test_wrong_arguments_are_400_with_the_field_path(rpc: str, method: str, body: Any, path: str) -> None:
    assert path in assert_problem(call(rpc, "showcase", method, body), 400, "invalid_argument")["detail"]


def test_unknown_service_or_method_and_bad_bodies(rpc: str) -> None:
    assert_problem(call(rpc, "nope", "add", {}), 404, "not_found")
    assert_problem(call(rpc, "calculator", "nope", {}), 404, "not_found")
    assert_problem(requests.post(f"{rpc}/rpc/calculator/add", data="[1, 2]"), 400, "invalid_json")
    assert_problem(requests.get(f"{rpc}/rpc/calculator/add"), 405, "method_not_allowed")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(value=json_for(EVERYTHING, depth=1))
def test_echo_round_trips_through_the_backend(rpc: str, value: dict[str, Any]) -> None:
    r = call(rpc, "showcase", "echo", {"value": value})
    assert r.status_code == 200, r.text
    assert r.json() == {"result": normal(EVERYTHING, value)}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=json_for(SHAPE, depth=1))
def test_unions_round_trip(rpc: str, shape: dict[str, Any]) -> None:
    assert call(rpc, "showcase", "reshape", {"shape": shape}).json() == {"result": normal(SHAPE, shape)}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from([f.name for f in EVERYTHING.fields]), junk=JSON_VALUES)
def test_wrong_typed_values_are_400_with_the_path_never_500(rpc: str, field: str, junk: Any) -> None:
    r = call(rpc, "showcase", "echo", {"value": {field: junk}})
    if r.status_code != 200:
        body = assert_problem(r, 400, "invalid_argument")
        assert body["detail"].startswith(f"value.{field}"), body
