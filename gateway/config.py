"""Settings, read once from ``GATEWAY_*`` environment variables at start-up.

Durations carry their unit in the name (``_MS``); a bad value stops start-up with a
message naming the variable rather than surfacing later as a confusing request error.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple


class ConfigError(ValueError):
    """A ``GATEWAY_*`` variable has a value the gateway cannot use."""


class Address(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Address:
        host, sep, port = text.strip().rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r} is not a host:port address")
        return cls(host, int(port))


def _addresses(name: str, text: str) -> tuple[Address, ...]:
    try:
        addrs = tuple(Address.parse(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise ConfigError(f"{name}: {err}") from None
    if not addrs:
        raise ConfigError(f"{name}: needs at least one host:port address")
    if len(set(addrs)) != len(addrs):
        raise ConfigError(f"{name}: an address is listed twice")
    return addrs


@dataclass(frozen=True)
class RpcService:
    """A Thrift service served by the JSON transcoder: its name in /rpc/<name>/...,
    its generated service module, and its backend addresses."""

    name: str
    module: str
    addrs: tuple[Address, ...]


_RPC_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _rpc_services(name: str, text: str) -> tuple[RpcService, ...]:
    """``name=package.module.Service@host:port[,host:port];...``"""
    services = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        label, eq, rest = entry.partition("=")
        module, at, addrs = rest.partition("@")
        label, module = label.strip(), module.strip()
        if not eq or not at or not _RPC_NAME.fullmatch(label) or not _MODULE.fullmatch(module):
            raise ConfigError(f"{name}: {entry!r} is not name=package.module.Service@host:port[,host:port]")
        services.append(RpcService(label, module, _addresses(f"{name} ({label})", addrs)))
    names = [s.name for s in services]
    if len(set(names)) != len(names) or {"calculator", "cache"} & set(names):
        raise ConfigError(f"{name}: service names must be unique and not calculator or cache")
    return tuple(services)


def _int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    bind: str = "127.0.0.1:8000"
    # One gevent worker per core: each is a single-threaded event loop.
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    worker_connections: int = 1000
    calculator_addrs: tuple[Address, ...] = (Address("127.0.0.1", 9090),)
    cache_addrs: tuple[Address, ...] = (Address("127.0.0.1", 9091),)
    pool_size: int = 64
    pool_timeout_ms: int = 1000
    connect_timeout_ms: int = 1000
    call_timeout_ms: int = 5000
    access_log: str = "-"
    # Recycle a worker after this many requests (0: never), plus up to the jitter, so
    # workers do not all restart at once.
    max_requests: int = 0
    max_requests_jitter: int = 0
    rpc_services: tuple[RpcService, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Defaults, overridden by whichever ``GATEWAY_*`` variables are set."""
        def get(name: str) -> str | None:
            return environ.get(f"GATEWAY_{name}")

        found: dict[str, object] = {}
        for name in ("BIND", "ACCESS_LOG"):
            if (text := get(name)) is not None:
                found[name.lower()] = text
        for name, minimum in (
            ("WORKERS", 1), ("WORKER_CONNECTIONS", 1), ("POOL_SIZE", 1),
            ("POOL_TIMEOUT_MS", 0), ("CONNECT_TIMEOUT_MS", 1), ("CALL_TIMEOUT_MS", 1),
            ("MAX_REQUESTS", 0), ("MAX_REQUESTS_JITTER", 0),
        ):
            if (text := get(name)) is not None:
                found[name.lower()] = _int(f"GATEWAY_{name}", text, minimum)
        for name in ("CALCULATOR_ADDRS", "CACHE_ADDRS"):
            if (text := get(name)) is not None:
                found[name.lower()] = _addresses(f"GATEWAY_{name}", text)
        if (text := get("RPC_SERVICES")) is not None:
            found["rpc_services"] = _rpc_services("GATEWAY_RPC_SERVICES", text)
        return cls(**found)  # type: ignore[arg-type]
