"""Stand-ins for the backends, for tests of the HTTP layer in one process."""

from __future__ import annotations

from typing import Any

from gateway.config import Address, Settings
from gateway.idl.catalog import load_all
from gateway.upstream.services import Backends, Service


class StubPool:
    """Stands in for a ConnectionPool: answers or raises what the test says."""

    def __init__(self, name: str) -> None:
        self.address = Address("127.0.0.1", 1)
        self.label = str(self.address)
        self.backend = name
        self.size, self.in_use, self.idle = 1, 0, 0
        self.outcome: Any = None

    def round_trip(self, method: Any, *args: Any, headers: Any = None, deadline: Any = None,
                   expired: Any = None) -> Any:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class StubBackends(Backends):
    """The calculator and the cache, each on one stub pool."""

    def __init__(self) -> None:
        catalog = load_all(Settings())
        self.calc_pool, self.cache_pool = StubPool("calculator"), StubPool("cache")
        super().__init__({
            "calculator": Service("calculator", [self.calc_pool], catalog["calculator"].methods),
            "cache": Service("cache", [self.cache_pool], catalog["cache"].methods, by_key=True),
        }, catalog)


def builtin_services() -> list[tuple[str, Any]]:
    """The Calculator and the Cache as the route table takes services: (name, types)."""
    return [(name, config.exposed_types) for name, config in load_all(Settings()).items()]
