"""Backends named by DNS: every A/AAAA record an instance, re-resolved as time passes.

A Kubernetes headless Service's name resolves to every ready pod, so following the name
is following the pods. Each worker re-resolves the names among its backends' addresses
every ``GATEWAY_DNS_REFRESH_MS`` and hands each service its new list of instances
(``Service.set_addresses``): a new record gets a pool and calls; one that has left the
answer gets no new calls, its calls in flight finish and its connections close.

A failed lookup (the resolver down, a timeout) keeps the instances of the last answer:
a blip of DNS must not empty a healthy fleet. A name that resolves to nothing has no
instances, and its calls are 503 until it resolves again. Lookups go to
``GATEWAY_DNS_SERVERS`` with dnspython when it is set, else to the system's resolver
(``getaddrinfo``, which also reads ``/etc/hosts``); under gevent both are cooperative.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Iterable, Protocol

import gevent

from gateway.config import Address

log = logging.getLogger(__name__)
LOOKUP_TIMEOUT_S = 2.0


class Discovered(Protocol):
    name: str

    @property
    def configured(self) -> tuple[Address, ...]: ...

    def set_addresses(self, addresses: list[Address]) -> None: ...


def is_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


class NameResolver:
    def __init__(self, servers: tuple[Address, ...] = ()) -> None:
        self._dns = None
        if servers:
            import dns.nameserver
            import dns.resolver

            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(s.host, s.port) for s in servers]
            resolver.lifetime = LOOKUP_TIMEOUT_S
            self._dns = resolver

    def lookup(self, name: str) -> list[str]:
        """Every address ``name`` resolves to, sorted; [] when it resolves to nothing.
        Raises OSError when the lookup itself failed (keep what was known)."""
        if self._dns is None:
            try:
                infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
            except socket.gaierror as err:
                if err.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                    return []
                raise OSError(f"cannot resolve {name}: {err}") from None
            return sorted({info[4][0] for info in infos})
        import dns.exception
        import dns.resolver

        found: set[str] = set()
        failures = []
        for kind in ("A", "AAAA"):
            try:
                found.update(r.to_text() for r in self._dns.resolve(name, kind, search=False))
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException as err:
                # Some servers refuse the record type they hold nothing of (dnsmasq
                # answers REFUSED for AAAA of a name it knows only an A for).
                failures.append(err)
        if failures and not found:
            # Nothing known: with one query failed (an A query timing out while AAAA has no
            # answer, for an IPv4-only name), "no address" would empty the service - it is
            # a failed lookup, and the last answer stays.
            raise OSError(f"cannot resolve {name}: {failures[0]}")
        return sorted(found)


def resolve(target: Discovered, resolver: NameResolver, known: dict[str, list[str]]) -> list[Address]:
    """The instances of ``target``'s configured addresses: IPs as they are, names by
    lookup (the last answer when a lookup fails)."""
    out: list[Address] = []
    for address in target.configured:
        if not is_name(address.host):
            out.append(address)
            continue
        try:
            known[address.host] = resolver.lookup(address.host)
        except OSError as err:
            log.warning("%s: %s; keeping the last answer", target.name, err)
        out.extend(Address(ip, address.port) for ip in known.get(address.host, []))
    return list(dict.fromkeys(out))


class Discovery:
    """The refresh loop of one worker, for the services whose addresses hold names."""

    def __init__(self, services: Iterable[Discovered], refresh_s: float, servers: tuple[Address, ...] = ()) -> None:
        self._services = [s for s in services if any(is_name(a.host) for a in s.configured)]
        self._refresh_s = refresh_s
        self._resolver = NameResolver(servers)
        self._known: dict[str, list[str]] = {}

    @property
    def needed(self) -> bool:
        return bool(self._services)

    def refresh(self) -> None:
        for service in self._services:
            service.set_addresses(resolve(service, self._resolver, self._known))

    def run(self) -> None:
        while True:
            gevent.sleep(self._refresh_s)
            try:
                self.refresh()
            except Exception:
                log.exception("DNS refresh failed")  # the next round tries again
