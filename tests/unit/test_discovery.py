"""gateway/upstream/discovery.py in-process, with a stub resolver and stub services.

The integration test (test_dns_discovery.py) follows a real dnsmasq through a running
gateway; these check the rules behind it without a socket: each record an instance, IPs
taken as they are, the last answer kept when a lookup fails, nothing for a name that
resolves to nothing, and which services ``Discovery`` watches. ``NameResolver`` itself is
checked against stubs of the two lookups it makes (``getaddrinfo``, dnspython).
"""

from __future__ import annotations

import socket
from typing import Any

import dns.exception
import dns.resolver
import pytest

from gateway.config import Address
from gateway.upstream import discovery
from gateway.upstream.discovery import Discovery, NameResolver, is_name, resolve


class StubResolver:
    """Answers each name from ``answers``: a list of addresses, or an OSError to raise."""

    def __init__(self, answers: dict[str, list[str] | OSError]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def lookup(self, name: str) -> list[str]:
        self.asked.append(name)
        answer = self.answers[name]
        if isinstance(answer, OSError):
            raise answer
        return answer


class StubService:
    """A service as Discovery sees it: its configured addresses, and the instances it is
    handed (every list, in order)."""

    def __init__(self, name: str, *configured: str) -> None:
        self.name = name
        self._configured = tuple(Address(host, int(port)) for host, port in (a.rsplit(":", 1) for a in configured))
        self.handed: list[list[Address]] = []

    @property
    def configured(self) -> tuple[Address, ...]:
        return self._configured

    def set_addresses(self, addresses: list[Address]) -> None:
        self.handed.append(addresses)


def addresses(*texts: str) -> list[Address]:
    return [Address(host, int(port)) for host, port in (t.rsplit(":", 1) for t in texts)]


# is_name --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "name"), [
    ("calc.test", True), ("localhost", True), ("calculator", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("::1", False), ("fd00::5", False),
])
def test_is_name_tells_names_from_ip_addresses(host: str, name: bool) -> None:
    assert is_name(host) is name


# resolve --------------------------------------------------------------------------------------

def test_every_record_becomes_an_instance_on_the_configured_port() -> None:
    service = StubService("calculator", "calc.test:9090")
    resolver = StubResolver({"calc.test": ["10.0.0.1", "10.0.0.2", "fd00::3"]})
    found = resolve(service, resolver, {})  # type: ignore[arg-type]
    assert found == addresses("10.0.0.1:9090", "10.0.0.2:9090", "fd00::3:9090")


def test_ip_addresses_are_taken_as_they_are_and_never_looked_up() -> None:
    service = StubService("calculator", "10.0.0.9:9090", "calc.test:9091")
    resolver = StubResolver({"calc.test": ["10.0.0.1"]})
    found = resolve(service, resolver, {})  # type: ignore[arg-type]
    assert found == addresses("10.0.0.9:9090", "10.0.0.1:9091")  # in the configured order
    assert resolver.asked == ["calc.test"]


def test_the_same_instance_twice_is_one_instance() -> None:
    # A name listed beside one of its own addresses, or two names for one pod: one pool.
    service = StubService("calculator", "10.0.0.1:9090", "calc.test:9090", "calc2.test:9090")
    resolver = StubResolver({"calc.test": ["10.0.0.1", "10.0.0.2"], "calc2.test": ["10.0.0.2"]})
    assert resolve(service, resolver, {}) == addresses("10.0.0.1:9090", "10.0.0.2:9090")  # type: ignore[arg-type]


def test_one_address_on_two_ports_is_two_instances() -> None:
    service = StubService("calculator", "calc.test:9090", "calc.test:9091")
    resolver = StubResolver({"calc.test": ["10.0.0.1"]})
    assert resolve(service, resolver, {}) == addresses("10.0.0.1:9090", "10.0.0.1:9091")  # type: ignore[arg-type]


def test_a_failed_lookup_keeps_the_last_answer(caplog: pytest.LogCaptureFixture) -> None:
    service = StubService("calculator", "calc.test:9090")
    resolver = StubResolver({"calc.test": ["10.0.0.1", "10.0.0.2"]})
    known: dict[str, list[str]] = {}
    first = resolve(service, resolver, known)  # type: ignore[arg-type]
    resolver.answers["calc.test"] = OSError("cannot resolve calc.test: timed out")
    with caplog.at_level("WARNING", logger=discovery.__name__):
        assert resolve(service, resolver, known) == first  # type: ignore[arg-type]
    # One line that names the service and says what happened.
    assert any("calculator" in r.getMessage() and "timed out" in r.getMessage() for r in caplog.records)


def test_a_failed_first_lookup_has_no_instances_yet() -> None:
    service = StubService("calculator", "calc.test:9090", "10.0.0.9:9090")
    resolver = StubResolver({"calc.test": OSError("down")})
    assert resolve(service, resolver, {}) == addresses("10.0.0.9:9090")  # type: ignore[arg-type]


def test_a_name_that_resolves_to_nothing_has_no_instances() -> None:
    # Not a failure: a headless Service without ready pods. Its calls are 503 until it
    # resolves again - the last answer is not kept.
    service = StubService("calculator", "calc.test:9090")
    resolver = StubResolver({"calc.test": ["10.0.0.1"]})
    known: dict[str, list[str]] = {}
    resolve(service, resolver, known)  # type: ignore[arg-type]
    resolver.answers["calc.test"] = []
    assert resolve(service, resolver, known) == []  # type: ignore[arg-type]
    resolver.answers["calc.test"] = OSError("down")  # and a failure now keeps that: nothing
    assert resolve(service, resolver, known) == []  # type: ignore[arg-type]


def test_the_last_answer_is_kept_per_name() -> None:
    # Two names, one failing: the other's new answer is taken, the failed one's kept.
    service = StubService("cache", "a.test:9090", "b.test:9090")
    resolver = StubResolver({"a.test": ["10.0.0.1"], "b.test": ["10.0.1.1"]})
    known: dict[str, list[str]] = {}
    resolve(service, resolver, known)  # type: ignore[arg-type]
    resolver.answers.update({"a.test": OSError("down"), "b.test": ["10.0.1.2"]})
    assert resolve(service, resolver, known) == addresses("10.0.0.1:9090", "10.0.1.2:9090")  # type: ignore[arg-type]


# Discovery ------------------------------------------------------------------------------------

@pytest.fixture
def stub_resolver(monkeypatch: pytest.MonkeyPatch) -> StubResolver:
    """The resolver every Discovery made in the test gets (it makes its own)."""
    resolver = StubResolver({})
    monkeypatch.setattr(discovery, "NameResolver", lambda servers=(): resolver)
    return resolver


def test_discovery_watches_only_services_with_names(stub_resolver: StubResolver) -> None:
    by_ip = StubService("calculator", "10.0.0.1:9090")
    by_name = StubService("cache", "10.0.0.2:9090", "cache.test:9090")
    assert not Discovery([by_ip], refresh_s=1).needed
    watcher = Discovery([by_ip, by_name], refresh_s=1)
    assert watcher.needed
    stub_resolver.answers["cache.test"] = ["10.0.0.3"]
    watcher.refresh()
    assert by_ip.handed == []  # fixed addresses are never handed again
    assert by_name.handed == [addresses("10.0.0.2:9090", "10.0.0.3:9090")]


def test_each_refresh_hands_the_services_the_current_answer(stub_resolver: StubResolver) -> None:
    service = StubService("calculator", "calc.test:9090")
    watcher = Discovery([service], refresh_s=1)
    for answer in (["10.0.0.1"], ["10.0.0.1", "10.0.0.2"], OSError("down"), ["10.0.0.2"], []):
        stub_resolver.answers["calc.test"] = answer
        watcher.refresh()
    assert service.handed == [
        addresses("10.0.0.1:9090"),
        addresses("10.0.0.1:9090", "10.0.0.2:9090"),  # a new record: a new instance
        addresses("10.0.0.1:9090", "10.0.0.2:9090"),  # the lookup failed: the last answer
        addresses("10.0.0.2:9090"),  # a record that left
        [],  # nothing: no instances
    ]


def test_services_sharing_a_name_share_its_last_answer(stub_resolver: StubResolver) -> None:
    first = StubService("calculator", "shared.test:9090")
    second = StubService("cache", "shared.test:9091")
    watcher = Discovery([first, second], refresh_s=1)
    stub_resolver.answers["shared.test"] = ["10.0.0.1"]
    watcher.refresh()
    stub_resolver.answers["shared.test"] = OSError("down")
    watcher.refresh()
    assert first.handed[-1] == addresses("10.0.0.1:9090") and second.handed[-1] == addresses("10.0.0.1:9091")


def test_the_refresh_loop_survives_a_failing_round(stub_resolver: StubResolver, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    # run() sleeps, refreshes, and on an unexpected error logs it and goes on: stopped
    # here after three rounds by a sleep that raises.
    service = StubService("calculator", "calc.test:9090")
    rounds: list[float] = []

    def sleep(seconds: float) -> None:
        rounds.append(seconds)
        if len(rounds) > 3:
            raise KeyboardInterrupt  # a BaseException: past run()'s except Exception

    monkeypatch.setattr(discovery.gevent, "sleep", sleep)
    stub_resolver.answers["calc.test"] = ["10.0.0.1"]
    original = service.set_addresses
    calls = iter([RuntimeError("a bug"), None, None])

    def set_addresses(found: list[Address]) -> None:
        failure = next(calls)
        if failure is not None:
            raise failure
        original(found)

    service.set_addresses = set_addresses  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        Discovery([service], refresh_s=0.25).run()
    assert rounds == [0.25] * 4
    assert service.handed == [addresses("10.0.0.1:9090")] * 2


# NameResolver ---------------------------------------------------------------------------------

def test_the_system_resolver_answers_each_address_once_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(name: str, port: Any, type: int = 0) -> list[tuple[Any, ...]]:
        assert name == "calc.test"
        return [(socket.AF_INET, type, 6, "", ("10.0.0.2", 0)), (socket.AF_INET, type, 6, "", ("10.0.0.1", 0)),
                (socket.AF_INET6, type, 6, "", ("fd00::1", 0, 0, 0)), (socket.AF_INET, type, 6, "", ("10.0.0.2", 0))]

    monkeypatch.setattr(discovery.socket, "getaddrinfo", getaddrinfo)
    assert NameResolver().lookup("calc.test") == ["10.0.0.1", "10.0.0.2", "fd00::1"]


@pytest.mark.parametrize("errno", [socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)])
def test_the_system_resolver_says_nothing_for_an_unknown_name(monkeypatch: pytest.MonkeyPatch, errno: int) -> None:
    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(errno, "Name or service not known")

    monkeypatch.setattr(discovery.socket, "getaddrinfo", getaddrinfo)
    assert NameResolver().lookup("gone.test") == []


def test_the_system_resolver_raises_os_error_when_the_lookup_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(discovery.socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(OSError, match="calc.test"):
        NameResolver().lookup("calc.test")


class Record:
    def __init__(self, text: str) -> None:
        self._text = text

    def to_text(self) -> str:
        return self._text


def dns_resolver(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str] | Exception]) -> NameResolver:
    """A NameResolver for GATEWAY_DNS_SERVERS whose dnspython queries answer ``answers``
    by record type (A, AAAA) instead of asking a server."""
    resolver = NameResolver((Address("127.0.0.1", 5353),))
    assert resolver._dns is not None  # dnspython's resolver, set up for that server
    assert [(n.address, n.port) for n in resolver._dns.nameservers] == [("127.0.0.1", 5353)]

    def resolve_(name: str, kind: str, search: bool = True) -> list[Record]:
        assert search is False  # the name as it is, never with the search domains
        answer = answers[kind]
        if isinstance(answer, Exception):
            raise answer
        return [Record(text) for text in answer]

    monkeypatch.setattr(resolver._dns, "resolve", resolve_)
    return resolver


def test_dns_servers_answer_a_and_aaaa_records_together_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = dns_resolver(monkeypatch, {"A": ["10.0.0.2", "10.0.0.1"], "AAAA": ["fd00::1"]})
    assert resolver.lookup("calc.test") == ["10.0.0.1", "10.0.0.2", "fd00::1"]


@pytest.mark.parametrize("missing", [dns.resolver.NXDOMAIN(), dns.resolver.NoAnswer()], ids=["nxdomain", "noanswer"])
def test_dns_servers_a_name_with_no_records_is_nothing(monkeypatch: pytest.MonkeyPatch, missing: Exception) -> None:
    assert dns_resolver(monkeypatch, {"A": missing, "AAAA": missing}).lookup("gone.test") == []


def test_dns_servers_a_refused_aaaa_query_still_answers_the_a_records(monkeypatch: pytest.MonkeyPatch) -> None:
    # dnsmasq answers REFUSED for AAAA of a name it holds only an A record for.
    resolver = dns_resolver(monkeypatch, {"A": ["10.0.0.1"], "AAAA": dns.exception.DNSException("REFUSED")})
    assert resolver.lookup("calc.test") == ["10.0.0.1"]


def test_dns_servers_that_fail_both_queries_raise_os_error(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = dns_resolver(monkeypatch, {"A": dns.exception.Timeout(), "AAAA": dns.exception.Timeout()})
    with pytest.raises(OSError, match="calc.test"):
        resolver.lookup("calc.test")


def test_dns_servers_an_a_query_that_times_out_is_a_failed_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    # An IPv4-only name: AAAA is NoAnswer every time. When the A query times out, the
    # lookup knows nothing - it must fail (keep the last answer), not answer [].
    resolver = dns_resolver(monkeypatch, {"A": dns.exception.Timeout(), "AAAA": dns.resolver.NoAnswer()})
    with pytest.raises(OSError):
        resolver.lookup("calc.test")
