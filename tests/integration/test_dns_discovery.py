"""Backends named by DNS, followed as records come and go: a real DNS server (dnsmasq,
re-reading its hosts file on SIGHUP) and backends on distinct loopback addresses."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
import requests

from tests.harness import Backend, Gateway, Process, SteadyLoad, free_port, wait_for
from tests.system_tools import ensure_debian_package


class Dnsmasq(Process):
    """Authoritative for .test (``--local``): a name it does not hold is NXDOMAIN, as a
    headless Service without ready pods is, not REFUSED."""

    def __init__(self, binary: str, hosts: Path, log_dir: Path) -> None:
        self.port = free_port()
        super().__init__([binary, "--no-daemon", "--conf-file=/dev/null", f"--port={self.port}",
                          "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/test/",
                          f"--addn-hosts={hosts}", "--local-ttl=0", "--user=root", "--log-facility=-"],
                         log_dir / f"dnsmasq-{self.port}.log")
        wait_for(lambda: "started" in self.output(), 20, "dnsmasq to start")

    def reload(self) -> None:
        self.send(signal.SIGHUP)  # re-reads the hosts file


def calls(backend: Backend) -> int:
    return len(re.findall(r"call add from", backend.output()))


def test_instances_follow_the_dns_answer(procs: list[Process], log_dir: Path, tmp_path: Path) -> None:
    binary = ensure_debian_package("dnsmasq", "dnsmasq")
    if binary is None:
        pytest.skip("dnsmasq is missing and cannot be installed here (needs root and apt)")
    first = Backend("calculator", log_dir, args=("--log-calls",))
    second = Backend("calculator", log_dir, port=first.port, host="127.0.0.2", args=("--log-calls",))
    cache = Backend("cache", log_dir)
    procs += [first, second, cache]
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 calc.test\n")
    dns = Dnsmasq(binary, hosts, log_dir)
    procs.append(dns)
    gw = Gateway(log_dir, [f"calc.test:{first.port}"], [cache.address], env={
        "GATEWAY_DNS_SERVERS": f"127.0.0.1:{dns.port}", "GATEWAY_DNS_REFRESH_MS": "300"})
    procs.append(gw)
    with SteadyLoad(gw.url, clients=4) as load:
        load.wait_for_more(50)
        assert calls(first) > 0 and calls(second) == 0
        # A new record: the new instance receives calls within a refresh or two.
        hosts.write_text("127.0.0.1 calc.test\n127.0.0.2 calc.test\n")
        dns.reload()
        wait_for(lambda: calls(second) > 20, 10, "calls at the new instance")
        # A record that leaves: no new calls there; those in flight finish, none fails.
        hosts.write_text("127.0.0.2 calc.test\n")
        dns.reload()
        wait_for(lambda: list(requests.get(f"{gw.url}/readyz").json()["backends"]["calculator"])
                 == [f"127.0.0.2:{first.port}"], 10, "the instance to leave")
        settled = calls(first)
        load.wait_for_more(200)
        assert calls(first) - settled <= 4  # at most the calls already in flight
        assert calls(second) > 100
    assert load.failures == []
    ready = requests.get(f"{gw.url}/readyz").json()
    assert list(ready["backends"]["calculator"]) == [f"127.0.0.2:{first.port}"]
    # A name that resolves to nothing: not ready, calls 503; back when it resolves again.
    hosts.write_text("")
    dns.reload()
    wait_for(lambda: requests.get(f"{gw.url}/add/1/1").status_code == 503, 10, "no instances")
    assert requests.get(f"{gw.url}/readyz").status_code == 503
    hosts.write_text("127.0.0.1 calc.test\n")
    dns.reload()
    wait_for(lambda: requests.get(f"{gw.url}/add/1/1").status_code == 200, 10, "the instance back")
