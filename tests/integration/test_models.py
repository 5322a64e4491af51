"""Property tests through the real gateway: the calculator against Python's arithmetic
over the whole i64 range, and the cache against a dict (values, deletes, TTLs - one of
which really expires - and the key, TTL and size rules)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
EDGES = [I64_MIN, I64_MIN + 1, -(2**32), -1, 0, 1, 2, 2**31, 2**32, I64_MAX - 1, I64_MAX]
I64 = st.one_of(st.integers(I64_MIN, I64_MAX), st.sampled_from(EDGES))


def reference(op: str, a: int, b: int) -> tuple[str, int | str]:
    """What the contract says: C-style truncating division, errors by code."""
    if op == "divide":
        if b == 0:
            return "error", "division_by_zero"
        quotient = abs(a) // abs(b)
        result = -quotient if (a < 0) != (b < 0) else quotient
    else:
        result = {"add": a + b, "subtract": a - b, "multiply": a * b}[op]
    if not I64_MIN <= result <= I64_MAX:
        return "error", "overflow"
    return "ok", result


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(op=st.sampled_from(["add", "subtract", "multiply", "divide"]), a=I64, b=I64, by_path=st.booleans())
def test_calculator_matches_python(gw: str, op: str, a: int, b: int, by_path: bool) -> None:
    if by_path:
        r = requests.get(f"{gw}/calc/{op}/{a}/{b}")
    else:
        r = requests.post(f"{gw}/calc", json={"op": op, "a": a, "b": b})
    kind, expected = reference(op, a, b)
    if kind == "ok":
        assert r.status_code == 200 and r.json() == {"op": op, "a": a, "b": b, "result": expected}, r.text
    else:
        assert r.status_code == 400 and r.json()["code"] == expected, r.text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
KEY_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85")


class CacheModel(RuleBasedStateMachine):
    """The cache behind the gateway behaves like a dict; bad input changes nothing."""

    gw = ""
    keys = Bundle("keys")

    @initialize()
    def setup(self) -> None:
        self.prefix = f"model-{uuid.uuid4().hex[:8]}-"
        self.model: dict[str, Any] = {}
        self.expiry: dict[str, float] = {}  # keys stored with a 1-second TTL: when they expire
        self.http = requests.Session()

    def url(self, key: str) -> str:
        return f"{self.gw}/cache/{requests.utils.quote(self.prefix + key, safe='')}"

    @rule(target=keys, key=st.text(KEY_CHARS, min_size=1, max_size=12))
    def new_key(self, key: str) -> str:
        return key

    @rule(key=keys, value=JSON, ttl=st.sampled_from([None, 3600, 2592000, 1]))
    def put(self, key: str, value: Any, ttl: int | None) -> None:
        sent = time.monotonic()
        r = self.http.put(self.url(key), json={"value": value, "ttl": ttl})
        assert r.status_code == 200, r.text
        self.model[key] = value
        self.expiry.pop(key, None)
        if ttl == 1:
            self.expiry[key] = sent + 1

    @rule(key=keys)
    def put_too_large_changes_nothing(self, key: str) -> None:
        r = self.http.put(self.url(key), json={"value": "x" * (1024 * 1024)})  # 2 bytes over with its quotes
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    @rule(key=keys, value=JSON, ttl=st.sampled_from([0, -1, 2592001, 1.5, "60", True]))
    def put_with_bad_ttl_changes_nothing(self, key: str, value: Any, ttl: Any) -> None:
        assert self.http.put(self.url(key), json={"value": value, "ttl": ttl}).status_code == 400

    @rule(key=keys)
    def put_with_bad_key_changes_nothing(self, key: str) -> None:
        r = self.http.put(self.url(key + " x"), json={"value": 1})
        assert r.status_code == 400 and r.json()["code"] == "invalid_key"

    def _settle_expiry(self, key: str) -> bool:
        """Drop ``key`` from the model if its TTL has surely run out; False while it is
        too close to call (the answer may go either way)."""
        deadline = self.expiry.get(key)
        if deadline is None:
            return True
        now = time.monotonic()
        if now > deadline + 0.5:
            self.model.pop(key, None)
            del self.expiry[key]
            return True
        return now < deadline - 0.3

    @rule(key=keys)
    def get(self, key: str) -> None:
        if not self._settle_expiry(key):
            return
        r = self.http.get(self.url(key))
        if key in self.model:
            assert r.status_code == 200 and r.json() == {"key": self.prefix + key, "value": self.model[key]}, r.text
        else:
            assert r.status_code == 404 and r.json()["code"] == "not_found"

    @rule(key=keys)
    def delete(self, key: str) -> None:
        if not self._settle_expiry(key):
            return
        self.expiry.pop(key, None)
        r = self.http.delete(self.url(key))
        assert r.status_code == (200 if self.model.pop(key, _MISSING) is not _MISSING else 404)

    @invariant()
    def seed_route_agrees(self) -> None:
        for key, value in [(k, v) for k, v in self.model.items() if k not in self.expiry][:2]:
            got = self.http.get(f"{self.gw}/get/{requests.utils.quote(self.prefix + key, safe='')}").json()
            assert got == {"value": value}


_MISSING = object()


def test_cache_behaves_like_a_dict(gw: str) -> None:
    CacheModel.gw = gw
    CacheModel.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None,
                                            suppress_health_check=list(HealthCheck))
    CacheModel.TestCase().runTest()
