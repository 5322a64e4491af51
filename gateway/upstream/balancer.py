"""Choosing among several instances of one backend, and when to stop choosing one.

* Power of two choices on calls in flight: pick two instances at random and use the one
  with fewer calls in flight. Unlike round robin it steers away from an instance that
  has become slow (its calls pile up), and unlike "least loaded of all" it needs no
  global view - each worker decides alone and the workers do not herd onto one instance.
* Failure accrual (Finagle) / outlier detection (Envoy): after ``failure_threshold``
  consecutive failures an instance is ejected for a jittered backoff that doubles with
  each ejection; when it ends, live traffic probes it - one more failure ejects it again
  for longer, a success clears its record. The last instance still in service is never
  ejected: a partly working fleet beats none.
* A retry budget (Finagle's ``RetryBudget``): retries may add at most a fraction of the
  recent requests plus a small reserve per second, so a failing fleet is not hammered.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Generic, Protocol, Sequence, TypeVar


class Loaded(Protocol):
    @property
    def in_use(self) -> int: ...


T = TypeVar("T", bound=Loaded)


@dataclass
class _Health:
    consecutive_failures: int = 0
    ejections: int = 0  # since the last success
    ejected_until: float = 0.0


class Balancer(Generic[T]):
    def __init__(
        self,
        instances: Sequence[T],
        *,
        failure_threshold: int = 5,
        base_ejection_s: float = 1.0,
        max_ejection_s: float = 30.0,
        jitter: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_ejection: Callable[[T, float], None] | None = None,
    ) -> None:
        self.instances = list(instances)
        self._health = {id(i): _Health() for i in self.instances}
        self._threshold = failure_threshold
        self._base_s = base_ejection_s
        self._max_s = max_ejection_s
        self._jitter = jitter
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_ejection = on_ejection

    def set_instances(self, instances: Sequence[T]) -> None:
        """The instances now (DNS discovery): those kept keep their health record."""
        self.instances = list(instances)
        self._health = {id(i): self._health.get(id(i)) or _Health() for i in self.instances}

    def ejected(self, instance: T) -> bool:
        health = self._health.get(id(instance))
        return health is not None and health.ejected_until > self._clock()

    def pick(self, exclude: Sequence[T] = ()) -> T | None:
        """An instance for the next call, None when every one is excluded."""
        if len(self.instances) == 1 and not exclude:
            return self.instances[0]
        open_ = [i for i in self.instances if i not in exclude]
        candidates = [i for i in open_ if not self.ejected(i)] or open_
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        a, b = self._rng.sample(candidates, 2)
        return a if a.in_use <= b.in_use else b

    def succeeded(self, instance: T) -> None:
        health = self._health.get(id(instance))
        if health is None:  # it left while its call was in flight
            return
        if health.consecutive_failures or health.ejections:
            health.consecutive_failures = 0
            health.ejections = 0

    def failed(self, instance: T) -> None:
        health = self._health.get(id(instance))
        if health is None:  # it left while its call was in flight
            return
        health.consecutive_failures += 1
        if health.consecutive_failures < self._threshold or self.ejected(instance):
            return
        others_in_service = sum(1 for i in self.instances if i is not instance and not self.ejected(i))
        if others_in_service == 0:
            return  # never eject the last instance in service
        backoff = min(self._max_s, self._base_s * 2**health.ejections)
        backoff *= self._rng.uniform(1 - self._jitter, 1 + self._jitter)
        health.ejections += 1
        health.ejected_until = self._clock() + backoff
        # Back in service after the backoff, one more failure ejects it again.
        health.consecutive_failures = self._threshold - 1
        if self._on_ejection is not None:
            self._on_ejection(instance, backoff)


class RetryBudget:
    """Retries allowed: ``percent_can_retry`` of the requests of the last ``ttl_s``
    seconds, plus ``min_retries_per_s`` × ``ttl_s`` (Finagle's defaults: 20 %, 10/s, 10 s)."""

    def __init__(
        self,
        ttl_s: int = 10,
        min_retries_per_s: float = 10.0,
        percent_can_retry: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._reserve = min_retries_per_s * ttl_s
        self._percent = percent_can_retry
        self._clock = clock
        # One slot per second of the window: [which second, requests, retries].
        self._slots = [[-1, 0, 0] for _ in range(ttl_s)]

    def _slot(self) -> list[int]:
        second = int(self._clock())
        slot = self._slots[second % self._ttl_s]
        if slot[0] != second:
            slot[:] = [second, 0, 0]
        return slot

    def _window(self) -> tuple[int, int]:
        oldest = int(self._clock()) - self._ttl_s
        live = [s for s in self._slots if s[0] > oldest]
        return sum(s[1] for s in live), sum(s[2] for s in live)

    def deposit(self) -> None:
        """Count one request."""
        self._slot()[1] += 1

    def try_withdraw(self) -> bool:
        """Take one retry from the budget; False when it is spent."""
        requests, retries = self._window()
        if retries + 1 > self._reserve + self._percent * requests:
            return False
        self._slot()[2] += 1
        return True
