from __future__ import annotations

import random
from typing import Any

import pytest

from gateway import errors
from gateway.config import Address
from gateway.upstream.balancer import Balancer, RetryBudget
from gateway.upstream.services import Service
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.calculator import Calculator
from thrift_wire.methods import ServiceMethods

CALC, CACHE = ServiceMethods(Calculator), ServiceMethods(Cache)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Instance:
    def __init__(self, name: str, in_use: int = 0) -> None:
        self.name = name
        self.in_use = in_use

    def __repr__(self) -> str:
        return self.name


def make(n: int = 3, **kwargs: Any) -> tuple[Balancer, list[Instance], Clock]:
    clock = Clock()
    instances = [Instance(f"i{k}") for k in range(n)]
    return Balancer(instances, clock=clock, rng=random.Random(1), **kwargs), instances, clock


def test_two_choices_prefers_the_less_loaded() -> None:
    balancer, (a, b), _ = make(2)
    a.in_use, b.in_use = 10, 1
    assert all(balancer.pick() is b for _ in range(50))


def test_picks_spread_over_equally_loaded_instances() -> None:
    balancer, instances, _ = make(3)
    picks = [balancer.pick() for _ in range(300)]
    assert all(picks.count(i) > 50 for i in instances)


def test_ejection_after_consecutive_failures_then_probe_and_growing_backoff() -> None:
    ejected: list[tuple[Instance, float]] = []
    balancer, (a, b, c), clock = make(3, on_ejection=lambda i, s: ejected.append((i, s)))
    for _ in range(4):
        balancer.failed(a)
    balancer.succeeded(a)  # a success in between resets the run
    for _ in range(4):
        balancer.failed(a)
    assert not balancer.ejected(a)
    balancer.failed(a)
    assert balancer.ejected(a) and 0.8 <= ejected[0][1] <= 1.2
    assert all(balancer.pick() is not a for _ in range(50))
    clock.now += 1.3
    assert not balancer.ejected(a)  # back in service: live traffic probes it
    balancer.failed(a)  # the probe fails: ejected again, for about twice as long
    assert balancer.ejected(a) and 1.6 <= ejected[1][1] <= 2.4
    clock.now += 2.5
    balancer.succeeded(a)
    for _ in range(5):
        balancer.failed(a)
    assert 0.8 <= ejected[2][1] <= 1.2  # the success reset the backoff


def test_backoff_is_capped() -> None:
    ejected: list[float] = []
    balancer, (a, b), clock = make(2, max_ejection_s=5, on_ejection=lambda i, s: ejected.append(s))
    for _ in range(10):
        for _ in range(5):
            balancer.failed(a)
        clock.now += 10
    assert max(ejected) <= 5 * 1.2


def test_never_ejects_the_last_instance_in_service() -> None:
    balancer, (a, b), _ = make(2)
    for _ in range(5):
        balancer.failed(a)
    assert balancer.ejected(a)
    for _ in range(20):
        balancer.failed(b)
    assert not balancer.ejected(b)
    assert balancer.pick() is b


def test_a_single_instance_is_never_ejected() -> None:
    balancer, (a,), _ = make(1)
    for _ in range(20):
        balancer.failed(a)
    assert not balancer.ejected(a) and balancer.pick() is a


def test_pick_excludes_instances_already_tried() -> None:
    balancer, (a, b, c), _ = make(3)
    assert balancer.pick(exclude=[a, b]) is c
    assert balancer.pick(exclude=[a, b, c]) is None


def test_retry_budget_reserve_and_percentage() -> None:
    clock = Clock()
    budget = RetryBudget(ttl_s=10, min_retries_per_s=1, percent_can_retry=0.2, clock=clock)
    assert sum(budget.try_withdraw() for _ in range(20)) == 10  # the reserve: 1/s over 10 s
    for _ in range(100):
        budget.deposit()
    assert sum(budget.try_withdraw() for _ in range(50)) == 20  # 20 % of 100 requests
    clock.now += 11  # the window has passed: only the reserve again
    assert sum(budget.try_withdraw() for _ in range(50)) == 10


class Pool:
    """A stand-in pool: answers or raises per call, records how often it was used."""

    def __init__(self, port: int, outcome: Any = 1, host: str = "127.0.0.1") -> None:
        self.address = Address(host, port)
        self.label = str(self.address)
        self.outcome = outcome
        self.calls = 0
        self.in_use = 0
        self.drained = False

    def drain(self) -> None:
        self.drained = True

    def round_trip(self, method: Any, *args: Any, headers: Any = None, deadline: Any = None,
                   expired: Any = None) -> Any:
        self.calls += 1
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def unavailable(pool: Pool) -> errors.BackendUnavailable:
    return errors.BackendUnavailable("down", backend="calculator", address=str(pool.address))


def test_an_unavailable_instance_fails_over_within_the_request() -> None:
    down, up = Pool(1), Pool(2, outcome=42)
    down.outcome = unavailable(down)
    service = Service("calculator", [down, up], CALC, idempotent=True)
    assert all(service.invoke("add", 1, 2) == 42 for _ in range(30))
    assert down.calls >= 1 and service.balancer.ejected(down)


def test_no_retry_for_timeouts_overload_or_non_idempotent_services() -> None:
    slow, other = Pool(1), Pool(2)
    slow.outcome = errors.BackendTimeout("slow", backend="calculator", address="x")
    service = Service("calculator", [slow, other], CALC, idempotent=True)
    service.balancer.pick = lambda exclude=(): slow  # type: ignore[method-assign]
    with pytest.raises(errors.BackendTimeout):
        service.invoke("add")
    assert other.calls == 0
    slow.outcome = errors.Overloaded("full", backend="calculator", address="x")
    with pytest.raises(errors.Overloaded):
        service.invoke("add")
    down = Pool(3)
    down.outcome = unavailable(down)
    single_try = Service("cache", [down, Pool(4)], CACHE)
    single_try.balancer.pick = lambda exclude=(): down  # type: ignore[method-assign]
    with pytest.raises(errors.BackendUnavailable):
        single_try.invoke("stats")


def test_when_every_instance_is_down_the_error_reaches_the_caller() -> None:
    pools = [Pool(p) for p in (1, 2, 3)]
    for pool in pools:
        pool.outcome = unavailable(pool)
    service = Service("calculator", pools, CALC, idempotent=True)
    with pytest.raises(errors.BackendUnavailable):
        service.invoke("add")
    assert sum(p.calls for p in pools) == 3  # each tried once, no more


def test_keys_stay_on_their_node_even_when_it_is_down() -> None:
    pools = [Pool(p, outcome=p) for p in (1, 2, 3)]
    service = Service("cache", pools, CACHE, by_key=True)
    owners = {f"key{i}": service.invoke("get", key=f"key{i}") for i in range(60)}
    assert set(owners.values()) == {1, 2, 3}
    victim = pools[1]
    victim.outcome = unavailable(victim)
    for key, owner in owners.items():
        if owner == 2:
            with pytest.raises(errors.BackendUnavailable):
                service.invoke("get", key=key)
        else:
            assert service.invoke("get", key=key) == owner
    # The same placement in another worker or after a restart: ketama is deterministic.
    again = Service("cache", [Pool(p, outcome=p) for p in (1, 2, 3)], CACHE, by_key=True)
    assert {k: again.invoke("get", key=k) for k in owners} == owners


def test_instances_from_dns_come_and_go() -> None:
    made: list[Pool] = []

    def make_pool(address: Address) -> Pool:
        made.append(Pool(address.port, outcome=address.host, host=address.host))
        return made[-1]

    first = Pool(9000, outcome="127.0.0.1")
    service = Service("calculator", [first], CALC, idempotent=True, configured=(Address("calc.test", 9000),),
                      make_pool=make_pool)  # type: ignore[arg-type]
    service.set_addresses([Address("127.0.0.1", 9000), Address("127.0.0.2", 9000)])
    assert [p.label for p in made] == ["127.0.0.2:9000"] and set(service.pools) == {"127.0.0.1:9000", "127.0.0.2:9000"}
    assert {service.invoke("add", 1, 2) for _ in range(40)} == {"127.0.0.1", "127.0.0.2"}
    service.set_addresses([Address("127.0.0.2", 9000)])  # the first one leaves: drained, no new calls
    assert first.drained and list(service.pools) == ["127.0.0.2:9000"]
    calls_before = first.calls
    assert {service.invoke("add", 1, 2) for _ in range(20)} == {"127.0.0.2"} and first.calls == calls_before
    service.balancer.failed(first)  # a call that was in flight there ends after it left: no harm
    service.set_addresses([])
    with pytest.raises(errors.BackendUnavailable, match="resolves to no instance"):
        service.invoke("add", 1, 2)
    assert service.ping_all() == {"calc.test:9000": "backend_unavailable"}


class _Recording(Pool):
    """A pool that records the deadline each try was given."""

    def __init__(self, port: int, outcome: Any = 1) -> None:
        super().__init__(port, outcome)
        self.given: list[tuple[float | None, Any]] = []

    def round_trip(self, method: Any, *args: Any, headers: Any = None, deadline: Any = None,
                   expired: Any = None) -> Any:
        self.given.append((deadline, expired))
        return super().round_trip(method, *args)


def test_the_requests_deadline_is_the_earlier_of_the_clients_and_the_call_timeout() -> None:
    import time

    pool = _Recording(1)
    service = Service("calculator", [pool], CALC, call_timeout_s=5.0)
    now = time.monotonic()
    service.invoke("add", 1, 2)  # no client deadline: the call timeout's, answered backend_timeout
    service.invoke("add", 1, 2, deadline=now + 0.5)  # the client's, earlier: deadline_exceeded
    service.invoke("add", 1, 2, deadline=now + 60)  # the client's, later: the call timeout's
    (first, first_kind), (second, second_kind), (third, third_kind) = pool.given
    assert 4.5 < first - now <= 5.1 and first_kind is errors.BackendTimeout
    assert second == now + 0.5 and second_kind is errors.DeadlineExceeded
    assert 4.5 < third - now <= 5.1 and third_kind is errors.BackendTimeout


def test_a_retry_is_bounded_by_the_same_deadline_as_the_first_try() -> None:
    down, up = _Recording(1), _Recording(2, outcome=42)
    down.outcome = unavailable(down)
    service = Service("calculator", [down, up], CALC, idempotent=True, call_timeout_s=5.0)
    for _ in range(20):
        down.given.clear()
        up.given.clear()
        assert service.invoke("add", 1, 2) == 42
        if down.given:  # this request tried the instance that is down first, then retried
            assert down.given[0][0] == up.given[0][0]  # one deadline for both tries
            return
    pytest.fail("the balancer never tried the instance that is down")
