"""Settings, read once from ``GATEWAY_*`` environment variables at start-up.

Durations carry their unit in the name (``_MS``); a bad value stops start-up with a
message naming the variable rather than surfacing later as a confusing request error.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple
from urllib.parse import urlsplit

from thrift_wire.codec import PROTOCOL_NAMES, TRANSPORTS

# The contract's limit on a request body (2 MiB): larger is 413 payload_too_large.
MAX_BODY_BYTES = 2 * 1024 * 1024


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
        """``host:port``: a DNS name, an IPv4 address or a bracketed IPv6 address, and a
        port. Anything else - a URL, no port, an IPv6 address without its brackets - is
        refused here: accepted, it made every call to that backend fail."""
        text = text.strip()
        if "://" in text:
            netloc = urlsplit(text).netloc
            hint = f": write host:port, e.g. {netloc}" if netloc else ""
            raise ValueError(f"{text!r} is a URL, not a host:port address{hint}")
        if text.startswith("["):
            host, bracket, port = text[1:].partition("]")
            if not bracket or not port.startswith(":"):
                raise ValueError(f"{text!r} has no port: write [ipv6]:port")
            port = port[1:]
            if not _is_ip(host, ipaddress.IPv6Address):
                raise ValueError(f"{text!r}: {host!r} in brackets is not an IPv6 address")
        else:
            host, colon, port = text.rpartition(":")
            if ":" in host:
                raise ValueError(f"{text!r}: an IPv6 address goes in brackets, as in [::1]:9090")
            if not colon:
                raise ValueError(f"{text!r} has no port: write host:port")
            dotted_digits = host.replace(".", "").isdigit()
            if not (_is_ip(host, ipaddress.IPv4Address) if dotted_digits else _DNS_NAME.fullmatch(host)):
                raise ValueError(f"{text!r}: {host!r} is neither a DNS name nor an IPv4 address")
        if not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
        return cls(host, int(port))


# Labels of letters, digits, '-' (and '_', which some resolvers' names carry), dot-separated.
_DNS_NAME = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                       r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?")
_PORT = re.compile(r"[0-9]{1,5}")


def _is_ip(text: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


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
class Target:
    """A service's backend addresses and how to talk to them: the options of an address
    list (``host:port[,host:port]?transport=buffered&protocol=compact``). An option left
    out is None here and takes the service's or the gateway's default where it is used."""

    addrs: tuple[Address, ...]
    transport: str | None = None  # framed, buffered, header, http; None: the service's default
    path: str | None = None  # transport=http: the path calls are POSTed to; None: /
    protocol: str = "binary"  # binary, compact, json
    multiplexed: str | None = None  # the name a TMultiplexedProcessor registered it under
    pool_size: int | None = None  # None: GATEWAY_POOL_SIZE
    connect_timeout_ms: int | None = None  # None: GATEWAY_CONNECT_TIMEOUT_MS
    call_timeout_ms: int | None = None  # None: GATEWAY_CALL_TIMEOUT_MS
    idle_timeout_ms: int = 60_000  # 0: a connection is closed after every call
    health: str | None = None  # the method /readyz calls; None: the service's default
    methods: tuple[str, ...] = ("*",)  # globs of the methods /rpc serves
    tls: bool = False
    tls_server_name: str | None = None  # the name the certificate must carry; None: the host

    @property
    def options(self) -> dict[str, object]:
        """The options given, for messages and /readyz."""
        return {k: v for k, v in vars(self).items() if k != "addrs" and v is not None}


_OPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_METHOD_GLOB = re.compile(r"[A-Za-z0-9_*?\[\]!-]+")
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]+")
# An absolute path of RFC 3986 characters ('?' and '&' end the option in the address list).
_HTTP_PATH = re.compile(r"/[A-Za-z0-9\-._~!$'()*+,;=:@%/]*")


def _option(name: str, key: str, value: str) -> object:
    if key == "transport":
        if value not in TRANSPORTS:
            raise ConfigError(f"{name}: transport={value!r} is not one of {', '.join(TRANSPORTS)}")
        return value
    if key == "path":
        if not _HTTP_PATH.fullmatch(value):
            raise ConfigError(f"{name}: path={value!r} is not an absolute URL path such as /thrift")
        return value
    if key == "protocol":
        if value not in PROTOCOL_NAMES:
            raise ConfigError(f"{name}: protocol={value!r} is not one of {', '.join(PROTOCOL_NAMES)}")
        return value
    if key in ("multiplexed", "health"):
        if not _OPTION_NAME.fullmatch(value):
            raise ConfigError(f"{name}: {key}={value!r} is not a Thrift name")
        return value
    if key == "pool_size":
        return _int(f"{name}: pool_size", value, 1)
    if key in ("connect_timeout_ms", "call_timeout_ms"):
        return _int(f"{name}: {key}", value, 1)
    if key == "idle_timeout_ms":
        return _int(f"{name}: {key}", value, 0)
    if key == "methods":
        globs = tuple(g.strip() for g in value.split("|") if g.strip())
        if not globs or not all(_METHOD_GLOB.fullmatch(g) for g in globs):
            raise ConfigError(f"{name}: methods={value!r} is not |-separated method names or globs")
        return globs
    if key == "tls":
        if value not in ("0", "1"):
            raise ConfigError(f"{name}: tls={value!r}: use 1 (or 0)")
        return value == "1"
    if key == "tls_server_name":
        if not _HOST_NAME.fullmatch(value):
            raise ConfigError(f"{name}: tls_server_name={value!r} is not a host name")
        return value
    known = ("transport, path, protocol, multiplexed, pool_size, connect_timeout_ms, call_timeout_ms, "
             "idle_timeout_ms, health, methods, tls, tls_server_name")
    raise ConfigError(f"{name}: unknown option {key!r} (known: {known})")


def _target(name: str, text: str) -> Target:
    """``host:port[,host:port][?option=value&...]``"""
    addrs_text, _, query = text.partition("?")
    options: dict[str, object] = {}
    for pair in filter(None, query.split("&")):
        key, eq, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not value:
            raise ConfigError(f"{name}: option {pair!r} is not name=value")
        if key in options:
            raise ConfigError(f"{name}: option {key!r} is given twice")
        options[key] = _option(name, key, value)
    if options.get("transport") == "header" and options.get("protocol") == "json":
        raise ConfigError(f"{name}: THeader carries binary or compact, not json")
    if "path" in options and options.get("transport") != "http":
        raise ConfigError(f"{name}: path={options['path']} needs transport=http")
    return Target(_addresses(name, addrs_text), **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RpcService:
    """A Thrift service served by the JSON transcoder: its name in /rpc/<name>/..., where
    its IDL comes from - a generated service module, or an IDL file and a service in it -
    and its backends."""

    name: str
    module: str  # package.module.Service; empty for an IDL file
    target: Target
    idl_file: str = ""  # PATH.thrift, as configured (absolute, or relative to the working directory)
    service: str = ""  # the service of idl_file

    @property
    def source(self) -> str:
        """Where its IDL comes from, as the configuration says it."""
        return f"{self.idl_file}:{self.service}" if self.idl_file else self.module

    @property
    def addrs(self) -> tuple[Address, ...]:
        return self.target.addrs


_RPC_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_SERVICE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _rpc_services(name: str, text: str) -> tuple[RpcService, ...]:
    """``name=package.module.Service@...`` or ``name=PATH.thrift:Service@...``, then
    ``host:port[,host:port][?options]``; entries separated by ``;``."""
    services = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        label, eq, rest = entry.partition("=")
        source, at, addrs = rest.rpartition("@") if ".thrift:" in rest else rest.partition("@")
        label, source = label.strip(), source.strip()
        idl_file, colon, service = source.rpartition(":")
        if source.endswith(".thrift") or (colon and idl_file.endswith(".thrift")):
            if (not eq or not at or not colon or not idl_file.endswith(".thrift") or not _RPC_NAME.fullmatch(label)
                    or not _SERVICE.fullmatch(service)):
                raise ConfigError(f"{name}: {entry!r} is not name=PATH.thrift:Service@host:port[,host:port][?options]")
            services.append(RpcService(label, "", _target(f"{name} ({label})", addrs), idl_file, service))
            continue
        if not eq or not at or not _RPC_NAME.fullmatch(label) or not _MODULE.fullmatch(source):
            raise ConfigError(f"{name}: {entry!r} is not name=package.module.Service@host:port[,host:port][?options] "
                              "or name=PATH.thrift:Service@host:port[,host:port][?options]")
        services.append(RpcService(label, source, _target(f"{name} ({label})", addrs)))
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
    # The built-in services; None: off (GATEWAY_*_ADDRS=off), their routes do not exist.
    calculator: Target | None = Target((Address("127.0.0.1", 9090),))
    cache: Target | None = Target((Address("127.0.0.1", 9091),))
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
    # Where an IDL file's `include`s are looked for after its own folder (the compiler's -I).
    idl_include_dirs: tuple[str, ...] = ()
    # A request body must have arrived this long after the request began (else 408).
    body_timeout_ms: int = 10_000
    # The bytes of request bodies one worker may hold at once (else 503 overloaded).
    body_buffer_bytes: int = 64 * 1024 * 1024
    # Security (README: "Securing the gateway"). Off by default, as in v1.
    auth: str = "none"  # none, api_key, jwt
    api_keys_file: str = ""
    jwt_secret: str = ""
    jwt_public_key_file: str = ""  # a PEM public key or a JWKS
    jwt_audience: str = ""
    jwt_issuer: str = ""
    rate_limit: str = ""  # N/second, N/minute or N/hour per client; empty: none
    rate_limit_storage: str = ""  # redis://... to share limits across hosts; empty: this host
    cors_origins: tuple[str, ...] = ()
    tls_ca_file: str = ""  # CAs that sign backends' certificates; empty: the system's
    tls_cert_file: str = ""  # the gateway's client certificate (mutual TLS) ...
    tls_key_file: str = ""  # ... and its key
    # DNS names among backend addresses: re-resolved this often, by these resolvers
    # (host:port; none: the system's).
    dns_refresh_ms: int = 5000
    dns_servers: tuple[Address, ...] = ()
    # Where the workers of one host share state (the rate-limit counters); gunicorn.conf.py
    # makes one per start.
    runtime_dir: str = ""
    # How i64s are answered in JSON: "number" (v2), or "string" for clients whose JSON
    # parser rounds past 2**53 (JavaScript); either is accepted on input with "string".
    json_int64: str = "number"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Defaults, overridden by whichever ``GATEWAY_*`` variables are set."""
        def get(name: str) -> str | None:
            return environ.get(f"GATEWAY_{name}")

        found: dict[str, object] = {}
        for name in ("BIND", "ACCESS_LOG", "AUTH", "API_KEYS_FILE", "JWT_SECRET", "JWT_PUBLIC_KEY_FILE",
                     "JWT_AUDIENCE", "JWT_ISSUER", "RATE_LIMIT", "RATE_LIMIT_STORAGE", "TLS_CA_FILE",
                     "TLS_CERT_FILE", "TLS_KEY_FILE", "RUNTIME_DIR", "JSON_INT64"):
            if (text := get(name)) is not None:
                found[name.lower()] = text.strip()
        if (text := get("DNS_SERVERS")) is not None:
            found["dns_servers"] = _addresses("GATEWAY_DNS_SERVERS", text)
        if (text := get("CORS_ORIGINS")) is not None:
            found["cors_origins"] = tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())
        if found.get("json_int64", "number") not in ("number", "string"):
            raise ConfigError(f"GATEWAY_JSON_INT64: {found['json_int64']!r} is not number or string")
        if found.get("auth", "none") not in ("none", "api_key", "jwt"):
            raise ConfigError(f"GATEWAY_AUTH: {found['auth']!r} is not one of none, api_key, jwt")
        if bool(found.get("tls_cert_file")) != bool(found.get("tls_key_file")):
            raise ConfigError("GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE: set both, or neither")
        for name, minimum in (
            ("WORKERS", 1), ("WORKER_CONNECTIONS", 1), ("POOL_SIZE", 1),
            ("POOL_TIMEOUT_MS", 0), ("CONNECT_TIMEOUT_MS", 1), ("CALL_TIMEOUT_MS", 1),
            ("MAX_REQUESTS", 0), ("MAX_REQUESTS_JITTER", 0), ("BODY_TIMEOUT_MS", 1),
            ("BODY_BUFFER_BYTES", MAX_BODY_BYTES + 1),
            ("DNS_REFRESH_MS", 100),
        ):
            if (text := get(name)) is not None:
                found[name.lower()] = _int(f"GATEWAY_{name}", text, minimum)
        for service in ("calculator", "cache"):
            name = f"{service.upper()}_ADDRS"
            if (text := get(name)) is not None:
                found[service] = None if text.strip().lower() == "off" else _target(f"GATEWAY_{name}", text)
        if (text := get("RPC_SERVICES")) is not None:
            found["rpc_services"] = _rpc_services("GATEWAY_RPC_SERVICES", text)
        if (text := get("IDL_INCLUDE_DIRS")) is not None:
            found["idl_include_dirs"] = tuple(d for d in text.split(":") if d.strip())
        return cls(**found)  # type: ignore[arg-type]
