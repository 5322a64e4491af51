"""Apache Thrift's own ``test/ThriftTest.thrift`` (0.17), unchanged, as the yardstick
(issue 24): every method through ``/rpc``, in every transport and protocol.

The gateway reads only the ``.thrift`` file, copied to a folder outside the project, with
no ``thrift`` on its PATH. The other end is Apache's: the ``thrift`` package's servers
running code Apache's compiler generated from the same file (``tests.thrifttest_server``,
answering as Apache's ``test/py/TestServer.py`` does), in the configurations of
``test_interop.CONFIGS``. Every server and the gateway start once for the module.
"""

from __future__ import annotations

import ast
import base64
import concurrent.futures
import hashlib
import json
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from tests.harness import ROOT, Backend, Gateway, Process, wait_for
from tests.integration.test_interop import CONFIGS
from tests.problems import assert_problem

APACHE_IDL = ROOT / "tests" / "idl" / "apache" / "ThriftTest.thrift"
# v0.17.0's test/ThriftTest.thrift (tests/idl/apache/README.md): the yardstick is Apache's file, byte for byte.
APACHE_IDL_SHA256 = "28b5e6e9d66f260ba48b54215da5cdba9adc6f69fc36f584190385c9e48f5a65"

NAMES = [name for name, _, _ in CONFIGS]
SERVICES = [f"tt_{name}" for name in NAMES]
MUXED = {name for name, flags, _ in CONFIGS if "--multiplexed" in flags}


def _multiplexed_as_thrifttest(options: str) -> str:
    # test_interop's multiplexed entries name its own service; Apache's server registers "ThriftTest".
    return options.replace("multiplexed=Interop", "multiplexed=ThriftTest")


class Pairs(list):  # type: ignore[type-arg]
    """A map with keys JSON objects cannot have, written as ``[key, value]`` pairs: the
    pairs must all be there, but the order they come in is not part of the mapping."""


def same(expected: Any, actual: Any) -> bool:
    """``actual`` (parsed JSON) is ``expected``: integers are integers (not ``1.0`` or
    ``true``), a zero keeps its sign, ``Pairs`` in any order, objects with exactly these keys."""
    if isinstance(expected, Pairs):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return False
        left = list(actual)
        for key, value in expected:
            match = next((i for i, pair in enumerate(left) if isinstance(pair, list) and len(pair) == 2
                          and same(key, pair[0]) and same(value, pair[1])), None)
            if match is None:
                return False
            del left[match]
        return True
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and expected.keys() == actual.keys()
                and all(same(value, actual[key]) for key, value in expected.items()))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(same(e, a) for e, a in zip(expected, actual)))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, float):
        return (isinstance(actual, (int, float)) and expected == actual
                and math.copysign(1, expected) == math.copysign(1, actual))
    if isinstance(expected, int):
        return type(actual) is int and expected == actual
    return type(expected) is type(actual) and expected == actual


def parse(text: str) -> Any:
    # "-0" is a JSON number for negative zero; Python's json would make it the integer 0.
    return json.loads(text, parse_int=lambda digits: -0.0 if digits == "-0" else int(digits))


I64_MIN, I64_MAX = -(2**63), 2**63 - 1
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
ALL_BYTES = base64.b64encode(bytes(range(256))).decode()
XTRUCT = {"string_thing": "Zero ✓ 😀 \u0000", "byte_thing": -128, "i32_thing": I32_MIN, "i64_thing": I64_MIN}
XTRUCT_MAX = {"string_thing": "", "byte_thing": 127, "i32_thing": I32_MAX, "i64_thing": I64_MAX}
XTRUCT2 = {"byte_thing": 1, "struct_thing": XTRUCT, "i32_thing": -1}
INSANITY = {"userMap": Pairs([["FIVE", 5], ["EIGHT", I64_MAX], ["ONE", I64_MIN]]),
            "xtructs": [XTRUCT, XTRUCT_MAX, {"i32_thing": 7}]}


def _insanity_answer(argument: Any) -> Pairs:
    # TestServer.py: {1: {TWO: argument, THREE: argument}, 2: {SIX: Insanity()}}; an empty struct is {}.
    return Pairs([[1, Pairs([["TWO", argument], ["THREE", argument]])], [2, Pairs([["SIX", {}]])]])


# (method, JSON arguments, the expected "result"); every non-void, non-oneway method, its hard values.
CALLS: list[tuple[str, dict[str, Any], Any]] = [
    ("testString", {"thing": "héllo ✓ 日本 😀 \u0000 \" \\ \n"}, "héllo ✓ 日本 😀 \u0000 \" \\ \n"),
    ("testString", {"thing": ""}, ""),
    ("testBool", {"thing": True}, True),
    ("testBool", {"thing": False}, False),
    ("testByte", {"thing": -128}, -128),
    ("testByte", {"thing": 127}, 127),
    ("testI32", {"thing": I32_MIN}, I32_MIN),
    ("testI32", {"thing": I32_MAX}, I32_MAX),
    ("testI64", {"thing": I64_MIN}, I64_MIN),
    ("testI64", {"thing": I64_MAX}, I64_MAX),
    ("testI64", {"thing": 2**53 + 1}, 2**53 + 1),  # past a double's integers
    ("testDouble", {"thing": -5.25}, -5.25),
    ("testDouble", {"thing": 0.1}, 0.1),
    ("testDouble", {"thing": 1.7976931348623157e308}, 1.7976931348623157e308),
    ("testDouble", {"thing": 5e-324}, 5e-324),
    ("testDouble", {"thing": -0.0}, -0.0),
    ("testDouble", {"thing": 3}, 3.0),  # an integer is a number too
    ("testDouble", {"thing": "NaN"}, "NaN"),
    ("testDouble", {"thing": "Infinity"}, "Infinity"),
    ("testDouble", {"thing": "-Infinity"}, "-Infinity"),
    ("testBinary", {"thing": ALL_BYTES}, ALL_BYTES),
    ("testBinary", {"thing": ""}, ""),
    ("testStruct", {"thing": XTRUCT}, XTRUCT),
    ("testStruct", {"thing": XTRUCT_MAX}, XTRUCT_MAX),
    ("testStruct", {"thing": {"i64_thing": 1}}, {"i64_thing": 1}),  # unset fields stay out
    ("testStruct", {"thing": {}}, {}),
    ("testNest", {"thing": XTRUCT2}, XTRUCT2),
    ("testMap", {"thing": Pairs([[1, 2], [-3, 4], [I32_MIN, I32_MAX]])}, Pairs([[1, 2], [-3, 4], [I32_MIN, I32_MAX]])),
    ("testMap", {"thing": []}, []),
    ("testStringMap", {"thing": {"a": "b", "ü": "", "": "empty key", "😀": "\u0000"}},
     {"a": "b", "ü": "", "": "empty key", "😀": "\u0000"}),
    ("testStringMap", {"thing": {}}, {}),
    ("testSet", {"thing": [3, I32_MIN, 2, I32_MAX]}, [I32_MIN, 2, 3, I32_MAX]),  # a set comes back sorted
    ("testSet", {"thing": []}, []),
    ("testList", {"thing": [3, 1, 2, 1, I32_MIN]}, [3, 1, 2, 1, I32_MIN]),
    ("testList", {"thing": []}, []),
    *[("testEnum", {"thing": name}, name) for name in ("ONE", "TWO", "THREE", "FIVE", "SIX", "EIGHT")],
    ("testEnum", {"thing": 6}, "SIX"),  # a number is accepted on input
    ("testTypedef", {"thing": I64_MAX}, I64_MAX),
    ("testTypedef", {"thing": I64_MIN}, I64_MIN),
    # TestServer.py ignores the argument and answers two fixed maps.
    ("testMapMap", {"hello": 1},
     Pairs([[-4, Pairs([[-4, -4], [-3, -3], [-2, -2], [-1, -1]])], [4, Pairs([[4, 4], [3, 3], [2, 2], [1, 1]])]])),
    ("testInsanity", {"argument": INSANITY}, _insanity_answer(INSANITY)),
    ("testInsanity", {"argument": {"userMap": [[2, 0]], "xtructs": []}},  # an enum key given as its number
     _insanity_answer({"userMap": [["TWO", 0]], "xtructs": []})),
    ("testInsanity", {"argument": {}}, _insanity_answer({})),
    ("testMulti", {"arg0": -128, "arg1": I32_MAX, "arg2": I64_MIN, "arg3": [[-32768, "low"], [32767, ""]],
                   "arg4": "EIGHT", "arg5": I64_MAX},
     {"string_thing": "Hello2", "byte_thing": -128, "i32_thing": I32_MAX, "i64_thing": I64_MIN}),
    ("testMultiException", {"arg0": "Xception0", "arg1": "fine ✓"}, {"string_thing": "fine ✓"}),
]




@dataclass
class Setup:
    gateway: Gateway
    servers: dict[str, Backend]
    interface: dict[str, list[str]]  # the generated Iface: each method's argument names, in order


def _compiler() -> str:
    found = shutil.which("thrift")
    if found is None:
        # As test_idl_reader does: Debian's compiler, installed when we are root.
        subprocess.run([str(ROOT / "scripts" / "ensure-thrift-compiler.sh")], check=False, capture_output=True)
        found = shutil.which("thrift")
    if found is None:
        pytest.skip("the thrift compiler is not installed and cannot be (scripts/ensure-thrift-compiler.sh needs root "
                    "and apt-get): Apache's servers need the code it generates from ThriftTest.thrift")
    return found


def _iface(gen_dir: Path) -> dict[str, list[str]]:
    """The compiler's own list of ThriftTest's methods, read from the generated Iface."""
    tree = ast.parse((gen_dir / "ThriftTest" / "ThriftTest.py").read_text())
    iface = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Iface")
    return {fn.name: [arg.arg for arg in fn.args.args[1:]] for fn in iface.body if isinstance(fn, ast.FunctionDef)}


@pytest.fixture(scope="module")
def tt(log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    thrift = _compiler()
    idl_dir, gen_dir = tmp_path_factory.mktemp("apache-idl"), tmp_path_factory.mktemp("apache-gen")
    idl = idl_dir / "ThriftTest.thrift"
    shutil.copy(APACHE_IDL, idl)
    done = subprocess.run([thrift, "--gen", "py", "-out", str(gen_dir), str(idl)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    empty_path = tmp_path_factory.mktemp("no-thrift-here")
    procs: list[Process] = []
    try:
        # Started side by side: each is a Python start-up, and they do not depend on each other.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = {name: pool.submit(Backend, f"thrifttest-{name}", log_dir, module="tests.thrifttest_server",
                                         args=["--gen-dir", str(gen_dir), *flags])
                       for name, flags, _ in CONFIGS}
            concurrent.futures.wait(futures.values())
        procs += [f.result() for f in futures.values() if f.exception() is None]
        servers = {name: future.result() for name, future in futures.items()}  # raises the first failure
        entries = [f"tt_{name}={idl}:ThriftTest@{servers[name].address}?{_multiplexed_as_thrifttest(options)}"
                   for name, _, options in CONFIGS]
        entries.append(f"tt_second={idl}:SecondService@{servers['muxed'].address}?multiplexed=SecondService")
        gateway = Gateway(log_dir, ["off"], ["off"], workers=2, env={
            "GATEWAY_RPC_SERVICES": ";".join(entries), "GATEWAY_CALL_TIMEOUT_MS": "3000", "PATH": str(empty_path)})
        procs.append(gateway)
        yield Setup(gateway, servers, _iface(gen_dir))
    finally:
        for proc in procs:
            proc.stop()


def rpc(url: str, service: str, method: str, body: Any) -> requests.Response:
    return requests.post(f"{url}/rpc/{service}/{method}", data=json.dumps(body), timeout=10)


def test_the_comparison_is_strict() -> None:
    # What the checks below rely on: a wrong type, sign, pair or key is a difference.
    assert same(Pairs([[1, [2]], ["A", {}]]), [["A", {}], [1, [2]]])
    assert same(-0.0, parse("-0")) and same(1.0, 1) and same({"a": [1]}, {"a": [1]})
    for expected, actual in [(1, 1.0), (1, True), (True, 1), (-0.0, 0.0), (0.0, parse("-0")), ("1", 1),
                             (Pairs([[1, 2]]), [[1, 3]]), (Pairs([[1, 2]]), [[1, 2], [1, 2]]),
                             (Pairs([[1, 2]]), {"1": 2}), ({"a": 1}, {"a": 1, "b": None}), ([1, 2], [2, 1]),
                             ({}, [])]:
        assert not same(expected, actual), (expected, actual)


def test_the_yardstick_is_apaches_file_unchanged() -> None:
    assert hashlib.sha256(APACHE_IDL.read_bytes()).hexdigest() == APACHE_IDL_SHA256


def test_every_method_of_the_idl_is_called_here(tt: Setup) -> None:
    # The compiler's list, so a method this file forgot cannot pass unnoticed.
    called = {method for method, _, _ in CALLS} | {"testVoid", "testException", "testMultiException", "testOneway"}
    assert called == set(tt.interface)


@pytest.mark.parametrize("name", NAMES)
def test_every_method_through_rpc(tt: Setup, name: str) -> None:
    url, service = tt.gateway.url, f"tt_{name}"
    failures = []
    for method, arguments, expected in CALLS:
        r = rpc(url, service, method, arguments)
        if r.status_code != 200 or not same({"result": expected}, parse(r.text)):
            failures.append(f"{name} {method}({json.dumps(arguments)[:200]}): {r.status_code} {r.text[:400]}")
    for body in ({}, None):  # void: {}, with or without a body
        r = (rpc(url, service, "testVoid", body) if body is not None
             else requests.post(f"{url}/rpc/{service}/testVoid", timeout=10))
        if r.status_code != 200 or parse(r.text) != {}:
            failures.append(f"{name} testVoid (body {body}): {r.status_code} {r.text[:400]}")
    assert not failures, "\n".join([*failures, f"server log: {tt.servers[name].log_path}"])


@pytest.mark.parametrize("name", NAMES)
def test_declared_exceptions_are_problem_documents(tt: Setup, name: str) -> None:
    url, service = tt.gateway.url, f"tt_{name}"
    r = rpc(url, service, "testException", {"arg": "Xception"})
    assert_problem(r, 400, "xception")
    assert r.json()["fields"] == {"errorCode": 1001, "message": "Xception"}, name
    r = rpc(url, service, "testMultiException", {"arg0": "Xception", "arg1": "ignored"})
    assert_problem(r, 400, "xception")
    assert r.json()["fields"] == {"errorCode": 1001, "message": "This is an Xception"}, name
    r = rpc(url, service, "testMultiException", {"arg0": "Xception2", "arg1": "ignored"})
    assert_problem(r, 400, "xception2")
    assert r.json()["fields"] == {"errorCode": 2002, "struct_thing": {"string_thing": "This is an Xception2"}}, name
    r = rpc(url, service, "testException", {"arg": "anything else"})
    assert (r.status_code, r.json()) == (200, {}), (name, r.text)
    # A TException the IDL does not declare: the generated processor answers
    # TApplicationException INTERNAL_ERROR, which is the server's failure, not the caller's.
    assert_problem(rpc(url, service, "testException", {"arg": "TException"}), 502, "bad_gateway")
    r = rpc(url, service, "testI32", {"thing": 5})  # and the connection still serves the next call
    assert (r.status_code, r.json()) == (200, {"result": 5}), (name, r.text)


@pytest.mark.parametrize("name", NAMES)
def test_oneway_is_202_and_reaches_the_server(tt: Setup, name: str) -> None:
    url, service, server = tt.gateway.url, f"tt_{name}", tt.servers[name]
    line = "testOneway(1) done"  # the server sleeps 1/3 s, then logs it
    before = server.output().count(line)
    r = rpc(url, service, "testOneway", {"secondsToSleep": 1})
    assert (r.status_code, r.json()) == (202, {}), (name, r.text)
    wait_for(lambda: server.output().count(line) > before, 10, f"{name}: the oneway call to reach the server")
    # No reply comes for a oneway call: the next call on the connection must get its own.
    r = rpc(url, service, "testString", {"thing": "after oneway"})
    assert (r.status_code, r.json()) == (200, {"result": "after oneway"}), (name, r.text)


def test_second_service_beside_thrifttest_on_one_multiplexed_server(tt: Setup) -> None:
    r = rpc(tt.gateway.url, "tt_second", "secondtestString", {"thing": "x ✓"})
    assert (r.status_code, r.json()) == (200, {"result": 'testString("x ✓")'}), r.text


def test_rpc_lists_every_method_of_the_idl(tt: Setup) -> None:
    services = requests.get(f"{tt.gateway.url}/rpc", timeout=10).json()["services"]
    assert set(services) == {*SERVICES, "tt_second"}
    for service in SERVICES:
        listing = services[service]
        methods = listing["methods"]
        # The methods and their arguments, in the order the compiler generated them.
        assert {m: [a["name"] for a in methods[m]["arguments"]] for m in methods} == tt.interface, service
        assert list(methods) == list(tt.interface), service
        assert [m for m in methods if methods[m]["oneway"]] == ["testOneway"], service
        assert {m: methods[m]["exceptions"] for m in methods if methods[m]["exceptions"]} == {
            "testException": ["Xception"], "testMultiException": ["Xception", "Xception2"]}, service
        assert methods["testInsanity"]["result"] == "map<i64,map<Numberz,Insanity>>", service  # UserId is an i64
        assert methods["testMulti"]["arguments"][3]["type"] == "map<i16,string>", service
        assert methods["testByte"]["result"] == "byte" and methods["testVoid"]["result"] == "void", service
        assert listing["types"]["Numberz"]["values"] == {"ONE": 1, "TWO": 2, "THREE": 3, "FIVE": 5, "SIX": 6,
                                                         "EIGHT": 8}, service
    assert list(services["tt_second"]["methods"]) == ["secondtestString"]


def test_readyz_follows_exactly_the_servers_configured(tt: Setup) -> None:
    # The Calculator and the Cache are off: the gateway is ready on Apache's servers alone.
    r = requests.get(f"{tt.gateway.url}/readyz", timeout=10)
    assert r.status_code == 200, r.text
    backends = r.json()["backends"]
    assert set(backends) == {*SERVICES, "tt_second"}
    assert all(state == "ok" for addrs in backends.values() for state in addrs.values()), backends


def test_values_a_thrift_type_cannot_hold_are_refused_before_any_call(tt: Setup) -> None:
    url = tt.gateway.url
    for method, arguments in [("testByte", {"thing": 128}), ("testI64", {"thing": 2**63}), ("testI32", {"thing": 1.0}),
                              ("testI32", {"thing": "1"}), ("testBool", {"thing": 1}), ("testEnum", {"thing": "SEVEN"}),
                              ("testBinary", {"thing": "not base64!"}), ("testMap", {"thing": {"1": 2}}),
                              ("testStruct", {"thing": {"no_such_field": 1}}), ("testString", {})]:
        body = assert_problem(rpc(url, "tt_framed_binary", method, arguments), 400, "invalid_argument")
        assert "thing" in body["detail"], (method, arguments, body)


def test_no_server_logged_a_failure_of_its_own(tt: Setup) -> None:
    # Every call above was well formed for Apache's servers: the only traceback a server may
    # log is the TException testException raises on purpose.
    for name, server in tt.servers.items():
        unexpected = [block for block in server.output().split("ERROR:")[1:] if "This is a TException" not in block]
        assert unexpected == [], (name, unexpected[:1])
    assert "Traceback" not in tt.gateway.output()
