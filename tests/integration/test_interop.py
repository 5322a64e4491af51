"""The gateway in front of Thrift servers as users run them: Apache's own server classes.

Each configuration of ``tests.interop_server`` (TThreadedServer or TSimpleServer; framed,
buffered or THeader transport; binary, compact or JSON protocol; a TMultiplexedProcessor)
is configured the way the README says, all in one gateway, and every method of the
interop IDL is called through ``/rpc`` with its answer checked.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from tests.harness import ROOT, Backend, Gateway, Process, wait_for
from tests.problems import assert_problem

# (name in /rpc, server flags, address options)
CONFIGS = [
    ("framed_binary", ["--transport", "framed", "--protocol", "binary"], "transport=framed&protocol=binary"),
    ("framed_compact", ["--transport", "framed", "--protocol", "compact"], "protocol=compact"),
    ("framed_json", ["--transport", "framed", "--protocol", "json"], "protocol=json"),
    ("buffered_binary", ["--transport", "buffered", "--protocol", "binary"], "transport=buffered"),
    ("buffered_compact", ["--transport", "buffered", "--protocol", "compact"], "transport=buffered&protocol=compact"),
    ("buffered_json", ["--transport", "buffered", "--protocol", "json"], "transport=buffered&protocol=json"),
    ("header_binary", ["--transport", "header"], "transport=header"),
    ("header_compact", ["--transport", "header"], "transport=header&protocol=compact"),
    ("muxed", ["--transport", "framed", "--multiplexed"], "multiplexed=Interop"),
    ("muxed_compact", ["--transport", "buffered", "--protocol", "compact", "--multiplexed"],
     "transport=buffered&protocol=compact&multiplexed=Interop"),
    # The tutorial's server: one connection at a time, so no connection may stay pooled.
    ("simple", ["--server", "simple", "--transport", "buffered"], "transport=buffered&idle_timeout_ms=0"),
]
NAMES = [name for name, _, _ in CONFIGS]

XTRUCT = {"string_thing": "Zero ✓", "byte_thing": 1, "i32_thing": -3, "i64_thing": -(2**40)}
ALL_TYPES = {
    "a_bool": True, "an_i8": -128, "an_i16": 32767, "an_i32": -(2**31), "an_i64": 2**63 - 1, "a_double": -5.25,
    "a_string": "naïve 日本", "a_binary": base64.b64encode(bytes(range(256))).decode(), "an_enum": "EIGHT",
    "a_typedef": 2**53 + 1, "a_list": ["a", "", "c"], "a_set": [1, 2, 3], "a_map": {"yes": True, "no": False},
    "nested": {"a_string": "inner", "a_list": []},
}
INSANITY = {"userMap": [["FIVE", 5], ["EIGHT", 8]], "xtructs": [XTRUCT]}
DEFAULTS_OUT = {"number": 7, "text": "seven", "numbers": [1, 2, 3], "counts": {"a": 1}, "level": "FIVE", "ratio": 0.5,
                "flag": True, "thing": {"string_thing": "default", "i32_thing": 3}}

# (method, arguments, expected "result"; absent for void)
CALLS: list[tuple[str, dict[str, Any], Any]] = [
    ("testString", {"thing": "héllo ✓ \u0000"}, "héllo ✓ \u0000"),
    ("testBool", {"thing": False}, False),
    ("testByte", {"thing": -128}, -128),
    ("testI16", {"thing": -32768}, -32768),
    ("testI32", {"thing": 2**31 - 1}, 2**31 - 1),
    ("testI64", {"thing": -(2**63)}, -(2**63)),
    ("testDouble", {"thing": 1e308}, 1e308),
    ("testBinary", {"thing": base64.b64encode(b"\x00\xff\x80binary").decode()},
     base64.b64encode(b"\x00\xff\x80binary").decode()),
    ("testStruct", {"thing": XTRUCT}, XTRUCT),
    ("testNest", {"thing": {"byte_thing": 1, "struct_thing": XTRUCT, "i32_thing": 5}},
     {"byte_thing": 1, "struct_thing": XTRUCT, "i32_thing": 5}),
    ("testAllTypes", {"thing": ALL_TYPES}, ALL_TYPES),
    ("testMap", {"thing": [[1, 2], [-3, 4]]}, [[1, 2], [-3, 4]]),
    ("testStringMap", {"thing": {"a": "b", "ü": ""}}, {"a": "b", "ü": ""}),
    ("testSet", {"thing": [3, 1, 2]}, [1, 2, 3]),
    ("testList", {"thing": [3, 1, 2, 1]}, [3, 1, 2, 1]),
    ("testEnum", {"thing": "FIVE"}, "FIVE"),
    ("testEnum", {"thing": 8}, "EIGHT"),
    ("testTypedef", {"thing": 2**53 + 1}, 2**53 + 1),
    ("testDirectory", {"thing": {"x": 1, "y": -2}}, {"x": 1, "y": -2}),
    ("testTags", {"thing": [{"name": "a"}, {"name": "b", "weight": 3}]},
     [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}]),
    ("testMapMap", {"hello": 3}, [[3, [[1, 1], [2, 2]]], [-3, [[-1, -1]]]]),
    ("testInsanity", {"argument": INSANITY},
     [[1, [["TWO", INSANITY], ["THREE", INSANITY]]], [2, [["SIX", {}]]]]),
    ("testStructKeys", {"thing": [[{"name": "k", "number": 1}, ["ONE", "EIGHT"]], [{"name": "k", "number": 2}, []]]},
     [[{"name": "k", "number": 1}, ["ONE", "EIGHT"]], [{"name": "k", "number": 2}, []]]),
    ("testKeySet", {"thing": [{"name": "a", "number": 1}]}, [{"name": "a", "number": 1}]),
    ("testUnion", {"thing": {"levels": ["ONE", "SIX"]}}, {"levels": ["ONE", "SIX"]}),
    ("testUnion", {"thing": {"xtruct": XTRUCT}}, {"xtruct": XTRUCT}),
    ("testDefaults", {"thing": {"flag": True}}, DEFAULTS_OUT),
    ("testMulti", {"arg0": 1, "arg1": 2, "arg2": 3, "arg3": [[1, "x"]], "arg4": "TWO", "arg6": "six"},
     {"string_thing": "Hello2 6 six", "byte_thing": 1, "i32_thing": 2, "i64_thing": 3}),
    ("testMultiException", {"arg0": "none", "arg1": "fine"}, {"string_thing": "fine"}),
    ("testOptional", {"thing": "n", "count": 2}, "n 2"),
    ("testOptional", {"thing": "n"}, "n None"),  # "optional" in the IDL: left out, sent as unset
    ("baseEcho", {"value": -5}, -5),  # inherited from the included service (extends)
]


@pytest.fixture(scope="module")
def interop(log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, dict[str, Backend]]]:
    procs: list[Process] = []
    # The same IDL read at run time from a folder outside the project, no compiler on PATH:
    # each server is also configured as <name>_idl, the gateway reading only the .thrift file.
    idl_dir = tmp_path_factory.mktemp("idl")
    for name in ("interop.thrift", "interop_base.thrift"):
        shutil.copy(ROOT / "tests" / "idl" / name, idl_dir / name)
    empty_path = tmp_path_factory.mktemp("no-thrift-here")
    try:
        servers = {}
        for name, flags, _ in CONFIGS:
            servers[name] = Backend(f"interop-{name}", log_dir, args=flags, module="tests.interop_server")
            procs.append(servers[name])
        entries = [f"{name}=tests.gen.interop.Interop@{servers[name].address}?{options}"
                   for name, _, options in CONFIGS]
        entries += [f"{name}_idl={idl_dir}/interop.thrift:Interop@{servers[name].address}?{options}"
                    for name, _, options in CONFIGS]
        entries.append(f"second=tests.gen.interop.SecondService@{servers['muxed'].address}?multiplexed=SecondService")
        entries.append(f"second_idl={idl_dir}/interop.thrift:SecondService@{servers['muxed'].address}"
                       "?multiplexed=SecondService")
        calculator, cache = Backend("calculator", log_dir), Backend("cache", log_dir)
        procs += [calculator, cache]
        gateway = Gateway(log_dir, [calculator.address], [cache.address], workers=2,
                          env={"GATEWAY_RPC_SERVICES": ";".join(entries), "GATEWAY_CALL_TIMEOUT_MS": "3000",
                               "PATH": str(empty_path)})
        procs.append(gateway)
        yield gateway, servers
    finally:
        for proc in procs:
            proc.stop()


def rpc(url: str, service: str, method: str, body: Any) -> requests.Response:
    return requests.post(f"{url}/rpc/{service}/{method}", data=json.dumps(body), timeout=10)


def every_method_through_rpc(url: str, service: str) -> list[str]:
    """CALLS through /rpc/<service>/...: the calls whose answer was not the expected one."""
    failures = []
    for method, arguments, expected in CALLS:
        r = rpc(url, service, method, arguments)
        if r.status_code != 200 or r.json() != {"result": expected}:
            failures.append(f"{method}: {r.status_code} {r.text[:300]}")
    return failures


@pytest.mark.parametrize("service", NAMES + [f"{name}_idl" for name in NAMES])
def test_every_method_through_rpc(interop: tuple[Gateway, dict[str, Backend]], service: str) -> None:
    url = interop[0].url
    assert every_method_through_rpc(url, service) == []
    assert rpc(url, service, "testVoid", {}).json() == {}
    assert requests.post(f"{url}/rpc/{service}/testVoid", timeout=10).json() == {}  # no arguments: no body needed


def test_an_argument_not_marked_optional_is_still_required(interop: tuple[Gateway, dict[str, Backend]]) -> None:
    body = assert_problem(rpc(interop[0].url, "framed_binary", "testOptional", {"count": 2}), 400, "invalid_argument")
    assert "thing is required" in body["detail"]


@pytest.mark.parametrize("service", NAMES)
def test_declared_and_application_exceptions(interop: tuple[Gateway, dict[str, Backend]], service: str) -> None:
    url = interop[0].url
    r = rpc(url, service, "testException", {"arg": "Xception"})
    assert_problem(r, 400, "xception")
    assert r.json()["fields"] == {"errorCode": 1001, "message": "Xception"}
    r = rpc(url, service, "testMultiException", {"arg0": "Xception2", "arg1": ""})
    assert_problem(r, 400, "xception2")
    assert r.json()["fields"] == {"errorCode": 2002, "struct_thing": {"string_thing": "This is an Xception2"}}
    assert rpc(url, service, "testException", {"arg": "no"}).json() == {}
    # An undeclared error in the handler: the server's TApplicationException.
    assert_problem(rpc(url, service, "testException", {"arg": "TException"}), 502, "bad_gateway")
    assert rpc(url, service, "testI32", {"thing": 1}).json() == {"result": 1}  # and the next call works


@pytest.mark.parametrize("service", NAMES)
def test_oneway(interop: tuple[Gateway, dict[str, Backend]], service: str) -> None:
    url = interop[0].url
    value = abs(hash(service)) % 10_000 + 1
    r = rpc(url, service, "testOneway", {"value": value})
    assert r.status_code == 202 and r.json() == {}
    # Oneway: no answer to wait for; the server gets to it shortly.
    wait_for(lambda: rpc(url, service, "lastOneway", {}).json() == {"result": value}, 10, "the oneway call to land")


def test_a_second_service_multiplexed_beside_the_first(interop: tuple[Gateway, dict[str, Backend]]) -> None:
    url = interop[0].url
    assert rpc(url, "second", "secondtestString", {"thing": "x"}).json() == {"result": 'testString("x")'}
    assert rpc(url, "second_idl", "secondtestString", {"thing": "x"}).json() == {"result": 'testString("x")'}
    assert rpc(url, "muxed", "testString", {"thing": "y"}).json() == {"result": "y"}


def test_readyz_probes_services_without_a_health_method(interop: tuple[Gateway, dict[str, Backend]]) -> None:
    r = requests.get(f"{interop[0].url}/readyz", timeout=10)
    assert r.status_code == 200, r.text
    assert all(state == "ok" for addrs in r.json()["backends"].values() for state in addrs.values())
    assert "Traceback" not in interop[0].output()


def test_the_tutorial_server_behind_two_workers_answers_every_call(interop: tuple[Gateway, dict[str, Backend]]) -> None:
    # TSimpleServer serves one connection at a time: a pooled connection left open would
    # make every other worker's calls wait until they time out.
    url = interop[0].url

    def call(i: int) -> tuple[int, Any]:
        r = rpc(url, "simple", "testI32", {"thing": i})
        return r.status_code, r.json()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(200)))
    assert answers == [(200, {"result": i}) for i in range(200)]


def test_the_rpc_listing_shows_the_whole_idl(interop: tuple[Gateway, dict[str, Backend]]) -> None:
    listing = requests.get(f"{interop[0].url}/rpc", timeout=10).json()["services"]["framed_binary"]
    methods = listing["methods"]
    assert methods["testInsanity"]["result"] == "map<i64,map<Numberz,Insanity>>"
    assert methods["testOneway"]["oneway"] and "baseEcho" in methods
    assert listing["types"]["Numberz"]["values"] == {"ONE": 1, "TWO": 2, "THREE": 3, "FIVE": 5, "SIX": 6, "EIGHT": 8}
    assert listing["types"]["Choice"]["kind"] == "union"


# What the gateway sends that a server cannot read ------------------------------------

MISMATCHES = [
    # (server flags, the gateway's options, the status a call gets)
    (["--transport", "framed"], "transport=header", (502, 503)),  # the classic failure: THeader to a framed server
    (["--transport", "buffered"], "transport=framed", (502, 503, 504)),
    (["--transport", "framed", "--protocol", "compact"], "protocol=binary", (502, 503)),
    (["--transport", "framed", "--multiplexed"], "transport=framed", (502, 503)),  # not multiplexed
]


@pytest.mark.parametrize(("flags", "options", "statuses"), MISMATCHES, ids=[m[1] for m in MISMATCHES])
def test_a_server_that_cannot_read_the_calls_is_not_ready_and_the_error_names_the_format(
    procs: list[Process], log_dir: Path, flags: list[str], options: str, statuses: tuple[int, ...]
) -> None:
    server = Backend("interop-mismatch", log_dir, args=flags, module="tests.interop_server")
    calculator, cache = Backend("calculator", log_dir), Backend("cache", log_dir)
    procs += [server, calculator, cache]
    gateway = Gateway(log_dir, [calculator.address], [cache.address], env={
        "GATEWAY_RPC_SERVICES": f"it=tests.gen.interop.Interop@{server.address}?{options}",
        "GATEWAY_CALL_TIMEOUT_MS": "1000"})
    procs.append(gateway)
    ready = requests.get(f"{gateway.url}/readyz", timeout=10)
    assert_problem(ready, 503, "backend_unavailable")
    assert "it at" in ready.json()["detail"]
    r = rpc(gateway.url, "it", "testI32", {"thing": 1})
    assert r.status_code in statuses, r.text
    if r.status_code != 504:
        expected = f"transport={'header' if 'header' in options else 'framed'}"
        assert expected in r.json()["detail"], r.json()
