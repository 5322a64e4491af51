"""The services the gateway fronts, loaded once from the settings.

For each: its generated module, its method table (``thrift_wire.methods``), the IDL's
types for ``/rpc`` (``idl_types``), the wire format its calls are sent in and the call
``/readyz`` makes. Gunicorn's master loads this once before any worker starts
(``gunicorn.conf.py``), so that an unknown module, an IDL that does not load or a bad
option stops start-up with one line naming the variable and the entry - instead of a
traceback from every worker.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gateway.config import ConfigError, RpcService, Settings, Target
from gateway.idl.model import IdlError, ServiceTypes, load
from thrift_idl.gen.cache import Cache
from thrift_idl.gen.calculator import Calculator
from thrift_wire.codec import Format
from thrift_wire.methods import MethodSpec, ServiceMethods, probe

if TYPE_CHECKING:
    from gateway.idl.document import Document

# Our own backends read every format; THeader carries the request id to their logs.
# Any other service gets plain framed calls, which every standard server reads.
OWN_SERVICES = {"calculator": Calculator, "cache": Cache}
# Every Calculator method is a pure function: a call may be retried on another instance.
# The Cache is sharded: each key lives on the one node it hashes to.
_OWN_SPREAD = {"calculator": {"idempotent": True}, "cache": {"by_key": True}}
OWN_TRANSPORT = "header"
DEFAULT_TRANSPORT = "framed"
# What /readyz calls on a service without a `health` option and no `ping`: a method no
# service has, answered by any live server with TApplicationException(UNKNOWN_METHOD).
PROBE_METHOD = "__gateway_readiness_probe__"


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    variable: str  # where it was configured, for messages
    module: ModuleType
    methods: ServiceMethods
    types: ServiceTypes
    target: Target
    format: Format
    health: MethodSpec
    health_is_probe: bool  # an unknown-method answer means ready
    # How calls are spread over the service's addresses (``backends.Service``): retried
    # elsewhere when an instance is down (safe only for idempotent methods), or sent to
    # the one instance a key hashes to.
    idempotent: bool = False
    by_key: bool = False

    def exposes(self, method: str) -> bool:
        """Whether /rpc serves ``method`` (the ``methods`` option's globs). The hand-written
        routes and /readyz's health call are not limited by it."""
        return any(fnmatchcase(method, glob) for glob in self.target.methods)

    @property
    def exposed_types(self) -> ServiceTypes:
        """The types of the methods the ``methods`` option exposes: the others are not
        found, not listed, not routed and not in the OpenAPI document."""
        return ServiceTypes(self.types.name, {n: m for n, m in self.types.methods.items() if self.exposes(n)})


def load_all(settings: Settings, *, fresh: bool = False) -> dict[str, ServiceConfig]:
    """Every configured service, calculator and cache first (unless they are off);
    raises ConfigError.

    An IDL file is read and parsed once per process - or, with ``fresh``, again now
    (Gunicorn's master, at start and on each SIGHUP). The workers it forks find the
    master's last good parse here and build their classes from that, so a file that
    changed and no longer loads is not their problem: the master logs it in one line and
    keeps what it had (``_keep_last_good``)."""
    services = {
        name: replace(_service(name, f"GATEWAY_{name.upper()}_ADDRS", module, target, own=True),
                      **_OWN_SPREAD[name])
        for name, module in OWN_SERVICES.items()
        if (target := getattr(settings, name)) is not None
    }
    for rpc in settings.rpc_services:
        variable = f"GATEWAY_RPC_SERVICES ({rpc.name}={rpc.source})"
        if rpc.idl_file:
            module, types = _from_idl_file(variable, rpc, settings.idl_include_dirs, fresh)
            services[rpc.name] = _service(rpc.name, variable, module, rpc.target, own=False, types=types)
        else:
            services[rpc.name] = _service(rpc.name, variable, _import(variable, rpc), rpc.target, own=False)
    return services


# The last good parse of each IDL file entry, by (file, include folders): made in
# Gunicorn's master and inherited by the workers it forks.
_PARSED: dict[tuple[str, tuple[str, ...]], Document] = {}


def _from_idl_file(variable: str, rpc: RpcService, include_dirs: tuple[str, ...],
                   fresh: bool) -> tuple[ModuleType, ServiceTypes]:
    # Imported here: only a gateway with an IDL file entry needs the parser (Lark).
    from gateway.idl.document import load_documents
    from gateway.idl.reader import service_of

    key = (rpc.idl_file, include_dirs)
    try:
        if fresh or key not in _PARSED:
            try:
                parsed = load_documents(rpc.idl_file, include_dirs)
                loaded = service_of(parsed, rpc.service)
                _PARSED[key] = parsed  # kept only once the service loads from it
                return loaded
            except IdlError as err:
                if key not in _PARSED:
                    raise
                _keep_last_good(variable, err)
        return service_of(_PARSED[key], rpc.service)
    except IdlError as err:
        raise ConfigError(f"{variable}: {err}") from None


def parsed_files() -> dict[tuple[str, tuple[str, ...]], Any]:
    """A copy of the last good parses (for a reload that must put them back)."""
    return dict(_PARSED)


def restore_parsed_files(saved: dict[tuple[str, tuple[str, ...]], Any]) -> None:
    _PARSED.clear()
    _PARSED.update(saved)


def _keep_last_good(variable: str, err: IdlError) -> None:
    # A reload (SIGHUP) whose IDL no longer loads changes nothing: the workers go on with
    # the version that loaded last. One line, where the master's log goes.
    print(f"gateway: reload: {variable}: {err}; keeping the version that loaded before", file=sys.stderr, flush=True)


def _import(variable: str, rpc: RpcService) -> ModuleType:
    try:
        module = importlib.import_module(rpc.module)
    except ImportError as err:
        raise ConfigError(f"{variable}: cannot import {rpc.module}: {err} (is its IDL under thrift_idl/ "
                          f"with `namespace py thrift_idl.gen.<name>`, and was `make idl` run? Or name "
                          "the IDL file itself: name=PATH.thrift:Service@host:port)") from None
    if not hasattr(module, "Iface") or not hasattr(module, "Client"):
        raise ConfigError(f"{variable}: {rpc.module} is not a generated Thrift service module")
    return module


def _service(name: str, variable: str, module: ModuleType, target: Target, *, own: bool,
             types: ServiceTypes | None = None) -> ServiceConfig:
    try:
        methods = ServiceMethods(module)
        types = types or load(module)
    except (IdlError, AttributeError, ImportError) as err:
        raise ConfigError(f"{variable}: the IDL of {module.__name__} does not load: {err}") from None
    try:
        fmt = Format(target.transport or (OWN_TRANSPORT if own else DEFAULT_TRANSPORT), target.protocol,
                     target.multiplexed, target.path or "/")
    except ValueError as err:
        raise ConfigError(f"{variable}: {err}") from None
    health_name = target.health or ("ping" if own else None)
    if health_name is None:
        return ServiceConfig(name, variable, module, methods, types, target, fmt, probe(PROBE_METHOD), True)
    health = methods.get(health_name)
    if health is None or health.arg_names or health.oneway:
        raise ConfigError(f"{variable}: health={health_name!r} is not a method of {methods.name} "
                          "that takes no arguments and answers")
    return ServiceConfig(name, variable, module, methods, types, target, fmt, health, False)
