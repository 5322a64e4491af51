"""A gateway in front of a user's service only, its IDL read from a file at run time:
the built-in services off, /readyz following that one server, and SIGHUP reloading the
IDL - a method added is served once new workers are up, an IDL that no longer loads
changes nothing - under steady load, with no request failing."""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

import requests

from tests.harness import ROOT, Backend, Gateway, Process, SteadyLoad, wait_for
from tests.problems import assert_problem

REST_IDL = ROOT / "tests" / "idl" / "rest.thrift"


def _idl(tmp_path: Path) -> Path:
    path = tmp_path / "idl" / "users.thrift"
    path.parent.mkdir()
    shutil.copy(REST_IDL, path)
    return path


def test_a_gateway_fronting_only_a_users_service_is_ready_and_serves_only_it(procs: list[Process], log_dir: Path,
                                                                              tmp_path: Path) -> None:
    users = Backend("rest", log_dir, module="tests.rest_server")
    procs.append(users)
    gateway = Gateway(log_dir, ["off"], ["off"], env={
        "GATEWAY_RPC_SERVICES": f"users={_idl(tmp_path)}:Users@{users.address}", "PATH": str(tmp_path)})
    procs.append(gateway)
    ready = requests.get(f"{gateway.url}/readyz", timeout=10)
    assert ready.status_code == 200 and list(ready.json()["backends"]) == ["users"]
    assert requests.get(f"{gateway.url}/v1/users/me", timeout=10).json()["name"] == "me"
    assert_problem(requests.get(f"{gateway.url}/add/1/2", timeout=10), 404, "not_found")
    assert_problem(requests.get(f"{gateway.url}/cache/k", timeout=10), 404, "not_found")
    assert_problem(requests.post(f"{gateway.url}/rpc/calculator/add", json={"a": 1, "b": 2}, timeout=10),
                   404, "not_found")
    paths = requests.get(f"{gateway.url}/openapi.json", timeout=10).json()["paths"]
    assert "/v1/users/{id}" in paths and "/add/{a}/{b}" not in paths and "/set" not in paths
    assert set(requests.get(f"{gateway.url}/rpc", timeout=10).json()["services"]) == {"users"}
    users.stop()  # readiness follows the one server it fronts
    assert requests.get(f"{gateway.url}/readyz", timeout=10).status_code == 503


def test_sighup_reloads_the_idl_and_keeps_the_last_one_that_loaded(procs: list[Process], log_dir: Path,
                                                                    tmp_path: Path) -> None:
    users, calculator = Backend("rest", log_dir, module="tests.rest_server"), Backend("calculator", log_dir)
    procs += [users, calculator]
    idl = _idl(tmp_path)
    gateway = Gateway(log_dir, [calculator.address], ["off"], workers=2,
                      env={"GATEWAY_RPC_SERVICES": f"users={idl}:Users@{users.address}"})
    procs.append(gateway)

    def methods() -> set[str]:
        return set(requests.get(f"{gateway.url}/rpc", timeout=10).json()["services"]["users"]["methods"])

    def boots() -> int:
        return len(re.findall(r"Booting worker with pid", gateway.output()))

    assert "shout" not in methods()
    with SteadyLoad(gateway.url, clients=4) as load:
        idl.write_text(idl.read_text().replace("  string plain(1: string text)\n",
                                               "  string plain(1: string text)\n  string shout(1: string text)\n"))
        before = boots()
        gateway.send(signal.SIGHUP)
        wait_for(lambda: boots() >= before + 2, 60, "new workers after the first SIGHUP", interval_s=0.1)
        # Once only new workers answer, every answer lists the method the IDL gained.
        wait_for(lambda: all("shout" in methods() for _ in range(6)), 30, "the new method served")
        load.wait_for_more(200)
        good = idl.read_text()
        idl.write_text("service Users {\n  string plain(\n}\n")  # no longer loads
        before = boots()
        gateway.send(signal.SIGHUP)
        wait_for(lambda: boots() >= before + 2, 60, "new workers after the second SIGHUP", interval_s=0.1)
        load.wait_for_more(200)
        # Loads, but its routes clash (getMe on listUsers' GET /v1/users): the same - it is
        # the master's check that refuses it, and the master must not stop for it.
        idl.write_text(good.replace('(api.get = "/v1/users/me")', '(api.get = "/v1/users")'))
        before = boots()
        gateway.send(signal.SIGHUP)
        wait_for(lambda: boots() >= before + 2, 60, "new workers after the third SIGHUP", interval_s=0.1)
        load.wait_for_more(200)
    assert load.failures == [], load.failures[:5]
    assert gateway.alive()
    assert "shout" in methods() and "getUser" in methods()  # the last version that loaded
    lines = [line for line in gateway.output().splitlines() if "gateway: reload:" in line]
    assert len(lines) == 2, lines
    assert f"{idl}:3: syntax error" in lines[0] and "keeping the version that loaded before" in lines[0]
    assert "two routes for GET /v1/users" in lines[1] and "keeping the configuration that loaded before" in lines[1]
    assert requests.get(f"{gateway.url}/v1/users/me", timeout=10).json()["name"] == "me"
    assert "Traceback" not in gateway.output()
