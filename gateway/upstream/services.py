"""The gateway's clients of its Thrift backends: pools per address, routing, metrics.

``Service.invoke`` is the one way routes reach a backend. It picks the address (see
``balancer.py``, or by key for a service sharded by key), retries where that is safe,
times the call and counts its outcome. What the backend answered comes back as it was:
a result, or an exception the IDL declares - turning those into HTTP answers is the
routes' business. This side knows no service by name.
"""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any, Callable, Iterable, NamedTuple

import gevent
from thrift.Thrift import TApplicationException, TException
from uhashring import HashRing

from gateway import errors, metrics
from gateway.config import Address, ConfigError, Settings
from gateway.errors import snake_case
from gateway.idl.catalog import ServiceConfig, load_all
from gateway.upstream.balancer import Balancer, RetryBudget
from gateway.upstream.connection import thrift_opener
from gateway.upstream.discovery import NameResolver, is_name, resolve
from gateway.upstream.pool import ConnectionPool
from telemetry.tracing import IdsOnly, Tracer
from thrift_wire.headers import TRACEPARENT_KEY, TRACESTATE_KEY
from thrift_wire.methods import MethodSpec, ServiceMethods

log = logging.getLogger(__name__)


# Told, for each call, which service and instance it went to (the access log's list).
CallObserver = Callable[[str, str], None]


def _nobody(backend: str, address: str) -> None:
    pass


class Service:
    """One backend service spread over one or more addresses, a pool for each.

    Without a key, calls go to the instance the balancer picks, and a call that finds
    its instance unavailable is retried on another - within the retry budget, and only
    for ``idempotent`` services (every Calculator call is a pure function). With a key
    (the cache) the key alone decides the node: ketama consistent hashing, so adding or
    removing a node moves about 1/N of the keys, and a node that is down fails its own
    keys rather than sending them somewhere they would not be found again.
    """

    def __init__(
        self, name: str, pools: Iterable[ConnectionPool], methods: ServiceMethods, *, by_key: bool = False,
        idempotent: bool = False, health: MethodSpec | None = None, health_is_probe: bool = False,
        carries_headers: bool = True, tracer: Tracer | None = None,
        configured: tuple[Address, ...] = (), make_pool: Callable[[Address], ConnectionPool] | None = None,
        on_call: CallObserver = _nobody, call_timeout_s: float | None = None,
    ) -> None:
        self.name = name
        # The request's deadline is the earlier of its client's and this, retries included.
        self._call_timeout_s = call_timeout_s
        self._on_call = on_call
        # The addresses as configured (DNS names among them) and how to make a pool for
        # an instance that DNS discovery finds (discovery.py).
        self.configured = configured
        self._make_pool = make_pool
        self._by_key = by_key
        self._tracer = tracer or IdsOnly()
        self.methods = methods
        self._health = health or methods["ping"]
        self._health_is_probe = health_is_probe
        # Only THeader and HTTP carry headers; elsewhere they are not even built.
        self.carries_headers = carries_headers
        self.pools = {pool.label: pool for pool in pools}
        self.balancer: Balancer[ConnectionPool] = Balancer(list(self.pools.values()), on_ejection=self._ejected)
        self._budget = RetryBudget() if idempotent else None
        self._ring = self._make_ring()

    def _make_ring(self) -> HashRing | None:
        return HashRing(nodes=list(self.pools), hash_fn="ketama") if self._by_key and len(self.pools) > 1 else None

    def set_addresses(self, addresses: list[Address]) -> None:
        """The instances DNS discovery found now: new ones get a pool; those gone get no
        new calls, their calls in flight finish and their connections close."""
        wanted = {str(a): a for a in addresses}
        if set(wanted) == set(self.pools) or self._make_pool is None:
            return
        gone = [pool for label, pool in self.pools.items() if label not in wanted]
        added = sorted(set(wanted) - set(self.pools))
        pools = {label: pool for label, pool in self.pools.items() if label in wanted}
        for label, address in wanted.items():
            if label not in pools:
                pools[label] = self._make_pool(address)
        # Replace, never mutate: a request that already holds the old table finishes with it.
        self.pools = pools
        self.balancer.set_instances(list(pools.values()))
        self._ring = self._make_ring()
        for pool in gone:
            pool.drain()
            metrics.pool_connections(self.name, pool.label, 0, 0)
        # At warning, like an ejection: the worker's log shows warnings and above.
        log.warning("%s: instances now %s (added %s, removed %s)", self.name, ", ".join(sorted(pools)) or "none",
                 ", ".join(added) or "-", ", ".join(p.label for p in gone) or "-")

    def _no_instances(self) -> errors.BackendUnavailable:
        names = ", ".join(str(a) for a in self.configured) or "its addresses"
        return errors.BackendUnavailable(f"{self.name}: {names} resolves to no instance", backend=self.name, address="")

    def pool_for_key(self, key: str) -> ConnectionPool:
        if self._ring is None:  # one node, or none
            if not self.balancer.instances:
                raise self._no_instances()
            return self.balancer.instances[0]
        return self.pools[self._ring.get_node(key)]

    def invoke(self, method_name: str, *args: Any, key: str | None = None,
               headers: dict[str, str] | None = None, deadline: float | None = None) -> Any:
        """Call a method: its result, or the exception the IDL declares as the backend
        raised it; the gateway's own errors for everything else. ``headers`` (the request
        id, the trace context) go with the call where the transport carries them;
        ``deadline`` (``time.monotonic()``) ends every try, and no retry starts after it."""
        method = self.methods[method_name]
        expired: type[Exception] = errors.DeadlineExceeded
        if self._call_timeout_s is not None:
            limit = time.monotonic() + self._call_timeout_s
            if deadline is None or limit < deadline:  # the call timeout decides: backend_timeout
                deadline, expired = limit, errors.BackendTimeout
        if key is not None:
            return self._attempt(self.pool_for_key(key), method, args, headers, deadline, expired)
        pools = self.pools  # this call's view: discovery may replace the table meanwhile
        if not pools:
            raise self._no_instances()
        if self._budget is not None and len(pools) > 1:  # with one instance there is no retry to pay for
            self._budget.deposit()
        tried: list[ConnectionPool] = []
        while True:
            pool = self.balancer.pick(exclude=tried)
            if pool is None:  # the instances changed under a retry
                raise self._no_instances()
            try:
                result = self._attempt(pool, method, args, headers, deadline, expired)
            except (errors.Overloaded, errors.DeadlineExceeded):
                raise  # our own pool is full, or the client's time is up: not the instance's fault, no retry
            except errors.BackendUnavailable:
                self.balancer.failed(pool)
                tried.append(pool)
                if len(tried) >= len(pools) or self._budget is None:
                    raise
                if deadline is not None and time.monotonic() >= deadline:  # before spending a retry token
                    raise expired(f"{self.name}: the request's deadline passed; no retry started",
                                  backend=self.name, address=pool.label) from None
                if not self._budget.try_withdraw():
                    raise
                metrics.retry(self.name)
                continue
            except errors.BackendError:
                self.balancer.failed(pool)
                raise
            except (errors.GatewayError, TException):
                self.balancer.succeeded(pool)  # a declared exception: the instance answered
                raise
            self.balancer.succeeded(pool)
            return result

    def _attempt(self, pool: ConnectionPool, method: MethodSpec, args: tuple[Any, ...],
                 headers: dict[str, str] | None, deadline: float | None,
                 expired: type[Exception] = errors.DeadlineExceeded) -> Any:
        """One try on one instance, timed, counted and traced."""
        outcome = "ok"
        started = time.perf_counter()
        span = None
        if self._tracer.exporting:  # a CLIENT span of its own, the request's as its parent
            parent = headers.get(TRACEPARENT_KEY) if headers else None
            span = self._tracer.client(
                f"{self.name}/{method.name}", parent, headers.get(TRACESTATE_KEY) if headers else None,
                **{"rpc.system": "thrift", "rpc.service": self.name, "rpc.method": method.name,
                   "server.address": pool.address.host, "server.port": pool.address.port})
            headers = {**(headers or {}), TRACEPARENT_KEY: span.traceparent}
        error: BaseException | None = None
        try:
            # Only THeader and HTTP carry headers (Deadline-Budget on every call among them).
            return pool.round_trip(method, *args, headers=(headers or {}) if self.carries_headers else None,
                                   deadline=deadline, expired=expired)
        except errors.GatewayError as err:
            outcome, error = err.code, err
            raise
        except TException as err:  # declared in the IDL: the backend answered
            outcome, error = type(err).__name__, err
            raise
        finally:
            if span is not None:
                span.end(error)
            metrics.thrift_call(self.name, pool.label, method.name, outcome, time.perf_counter() - started)
            self._on_call(self.name, pool.label)

    def _ejected(self, pool: ConnectionPool, backoff_s: float) -> None:
        log.warning("%s at %s ejected for %.1f s after consecutive failures", self.name, pool.address, backoff_s)
        metrics.ejection(self.name, pool.label)

    def ping_all(self) -> dict[str, str]:
        """The health call at every address at once, sent as real calls are (same
        transport, protocol, multiplexing): address -> "ok" or the error's code."""

        def ping(pool: ConnectionPool) -> str:
            try:
                pool.round_trip(self._health)
            except errors.BadGateway as err:
                # The probe of a service without a health method: a server that answers
                # "unknown method" in our format has read the call and is ready.
                cause = err.__cause__
                if (self._health_is_probe and isinstance(cause, TApplicationException)
                        and cause.type == TApplicationException.UNKNOWN_METHOD):
                    return "ok"
                return err.code
            except errors.GatewayError as err:
                return err.code
            except TException as err:  # declared in the IDL: answered, but not healthy (a store down)
                return snake_case(type(err).__name__)
            return "ok"

        if not self.pools:  # every name resolves to nothing: not ready
            return {", ".join(str(a) for a in self.configured) or "(none)": "backend_unavailable"}
        jobs = {address: gevent.spawn(ping, pool) for address, pool in self.pools.items()}
        gevent.joinall(list(jobs.values()))
        return {address: job.value for address, job in jobs.items()}

    def record_pool_gauges(self) -> None:
        for address, pool in self.pools.items():
            metrics.pool_connections(self.name, address, pool.in_use, pool.idle)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def client_tls_context(settings: Settings) -> ssl.SSLContext:
    """The gateway's side of TLS to backends: their certificates verified against
    GATEWAY_TLS_CA_FILE (else the system's CAs) and their host name; our own certificate
    presented when one is configured (mutual TLS). Made in each worker, after gevent's
    patching, so that its sockets are cooperative."""
    try:
        context = ssl.create_default_context(cafile=settings.tls_ca_file or None)
        if settings.tls_cert_file:
            context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"GATEWAY_TLS_*: {err}") from None
    return context


class _Named(NamedTuple):
    """What discovery needs to know of a service before the service exists."""

    name: str
    configured: tuple[Address, ...]


class Backends:
    """Every service the gateway talks to, by name; made once per worker by the app
    factory. ``catalog`` describes each (``catalog.py``)."""

    def __init__(self, services: dict[str, Service], catalog: dict[str, ServiceConfig] | None = None) -> None:
        self.by_name = services
        self.catalog = catalog or {}

    def __getitem__(self, name: str) -> Service:
        return self.by_name[name]

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(self.by_name.values())

    @classmethod
    def from_settings(cls, settings: Settings, catalog: dict[str, ServiceConfig] | None = None,
                      tracer: Tracer | None = None, on_call: CallObserver = _nobody) -> Backends:
        catalog = catalog or load_all(settings)

        tls = client_tls_context(settings) if any(c.target.tls for c in catalog.values()) else None

        resolver, known = NameResolver(settings.dns_servers), {}

        def service(config: ServiceConfig) -> Service:
            target = config.target
            connect_s = (target.connect_timeout_ms or settings.connect_timeout_ms) / 1000
            # An instance found by DNS is dialled by its IP; its certificate names the name.
            names = [a.host for a in target.addrs if is_name(a.host)]
            server_name = target.tls_server_name or (names[0] if names else None)

            def make_pool(addr: Address) -> ConnectionPool:
                return ConnectionPool(
                    config.name, addr,
                    thrift_opener(addr, config.format, connect_s, tls=tls if target.tls else None,
                                  server_name=server_name),
                    size=target.pool_size or settings.pool_size,
                    checkout_timeout_s=settings.pool_timeout_ms / 1000,
                    call_timeout_s=(target.call_timeout_ms or settings.call_timeout_ms) / 1000,
                    idle_timeout_s=target.idle_timeout_ms / 1000,
                    wire=str(config.format),
                )

            named = _Named(config.name, target.addrs)
            addresses = resolve(named, resolver, known) if names else list(target.addrs)
            return Service(config.name, [make_pool(a) for a in addresses], config.methods, health=config.health,
                           health_is_probe=config.health_is_probe, by_key=config.by_key,
                           idempotent=config.idempotent,
                           carries_headers=config.format.carries_headers, tracer=tracer,
                           configured=target.addrs, make_pool=make_pool, on_call=on_call,
                           call_timeout_s=(target.call_timeout_ms or settings.call_timeout_ms) / 1000)

        return cls({name: service(config) for name, config in catalog.items()}, catalog)
