from __future__ import annotations

import pytest

from gateway.config import Address, ConfigError, Settings, Target
from gateway.idl.catalog import load_all


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.calculator == Target((Address("127.0.0.1", 9090),))
    assert s.cache.addrs == (Address("127.0.0.1", 9091),) and s.cache.idle_timeout_ms == 60000
    assert s.bind == "127.0.0.1:8000" and s.workers >= 1 and s.pool_size == 64


def test_environment_overrides() -> None:
    s = Settings.from_env({
        "GATEWAY_CALCULATOR_ADDRS": "10.0.0.1:9000, 10.0.0.2:9000",
        "GATEWAY_CACHE_ADDRS": "[::1]:7000",
        "GATEWAY_CALL_TIMEOUT_MS": "250",
        "GATEWAY_WORKERS": "3",
        "GATEWAY_ACCESS_LOG": "",
    })
    assert [str(a) for a in s.calculator.addrs] == ["10.0.0.1:9000", "10.0.0.2:9000"]
    assert s.cache.addrs == (Address("::1", 7000),) and str(s.cache.addrs[0]) == "[::1]:7000"
    assert s.call_timeout_ms == 250 and s.workers == 3 and s.access_log == ""
    assert Settings.from_env({}).json_int64 == "number"
    assert Settings.from_env({"GATEWAY_JSON_INT64": "string"}).json_int64 == "string"


@pytest.mark.parametrize(("name", "value"), [
    ("GATEWAY_CALCULATOR_ADDRS", "localhost"), ("GATEWAY_CALCULATOR_ADDRS", ""),
    ("GATEWAY_CACHE_ADDRS", "a:1,a:1"), ("GATEWAY_CACHE_ADDRS", "a:70000"),
    ("GATEWAY_POOL_SIZE", "0"), ("GATEWAY_CALL_TIMEOUT_MS", "fast"), ("GATEWAY_WORKERS", "1.5"),
    ("GATEWAY_JSON_INT64", "bigint"),
])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_address_options() -> None:
    s = Settings.from_env({
        "GATEWAY_CALCULATOR_ADDRS": "10.0.0.1:9000?transport=buffered&protocol=compact&idle_timeout_ms=0",
        "GATEWAY_RPC_SERVICES": "tt=tests.gen.interop.Interop@127.0.0.1:9100,127.0.0.2:9100?multiplexed=Interop"
                                "&pool_size=2&call_timeout_ms=300&connect_timeout_ms=50&health=testVoid",
    })
    assert s.calculator == Target((Address("10.0.0.1", 9000),), transport="buffered", protocol="compact",
                                  idle_timeout_ms=0)
    (tt,) = s.rpc_services
    assert tt.target == Target((Address("127.0.0.1", 9100), Address("127.0.0.2", 9100)), multiplexed="Interop",
                               pool_size=2, call_timeout_ms=300, connect_timeout_ms=50, health="testVoid")
    catalog = load_all(s)
    assert str(catalog["calculator"].format) == "transport=buffered, protocol=compact"
    assert str(catalog["tt"].format) == "transport=framed, protocol=binary, multiplexed=Interop"
    assert catalog["tt"].health.name == "testVoid" and not catalog["tt"].health_is_probe
    assert str(catalog["cache"].format) == "transport=header, protocol=binary" and catalog["cache"].health.name == "ping"


def test_a_service_without_a_health_option_is_probed_with_an_unknown_method() -> None:
    catalog = load_all(Settings.from_env({"GATEWAY_RPC_SERVICES": "tt=tests.gen.interop.Interop@127.0.0.1:9100"}))
    assert catalog["tt"].health_is_probe and catalog["tt"].health.name not in catalog["tt"].methods.methods


@pytest.mark.parametrize(("value", "message"), [
    ("a:1?transport=udp", "transport='udp' is not one of framed, buffered, header"),
    ("a:1?protocol=xml", "protocol='xml'"),
    ("a:1?transport=header&protocol=json", "THeader carries binary or compact"),
    ("a:1?pool_size=0", "pool_size: must be at least 1"),
    ("a:1?idle_timeout_ms=-1", "idle_timeout_ms: must be at least 0"),
    ("a:1?colour=red", "unknown option 'colour'"),
    ("a:1?transport", "is not name=value"),
    ("a:1?transport=framed&transport=buffered", "given twice"),
    ("a:1?multiplexed=a b", "not a Thrift name"),
])
def test_bad_options_name_the_variable_and_the_option(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_CACHE_ADDRS") as info:
        Settings.from_env({"GATEWAY_CACHE_ADDRS": value})
    assert message in str(info.value)


@pytest.mark.parametrize(("entry", "message"), [
    ("x=thrift_idl.gen.nothing.Here@a:1", "cannot import thrift_idl.gen.nothing.Here"),
    ("x=gateway.config@a:1", "not a generated Thrift service module"),
    ("x=tests.gen.interop.Interop@a:1?health=testString", "health='testString' is not a method"),
    ("x=tests.gen.interop.Interop@a:1?health=nothing", "health='nothing' is not a method"),
])
def test_bad_services_are_one_line_naming_the_entry(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"GATEWAY_RPC_SERVICES \(x=") as info:
        load_all(Settings.from_env({"GATEWAY_RPC_SERVICES": entry}))
    assert message in str(info.value) and "\n" not in str(info.value)


_NOT_ADDRESSES = [
    ("http://127.0.0.1:9090", "is a URL, not a host:port address: write host:port, e.g. 127.0.0.1:9090"),
    ("tcp://cache.internal:9091", "is a URL"),
    ("thrift://[::1]:9091", "is a URL"),
    ("127.0.0.1", "has no port"),
    ("cache.internal", "has no port"),
    ("cache.internal:", "the port must be a number"),
    ("[::1]", "has no port"),
    ("::1:9090", "an IPv6 address goes in brackets"),
    ("::1", "an IPv6 address goes in brackets"),
    ("[cache.internal]:9091", "is not an IPv6 address"),
    ("300.1.1.1:9091", "neither a DNS name nor an IPv4 address"),
    ("cache internal:9091", "neither a DNS name nor an IPv4 address"),
    ("127.0.0.1:9091/", "the port must be a number"),
    ("127.0.0.1:٩٠٩١", "the port must be a number"),  # digits, but not ASCII ones
]
_ADDRESS_SETTINGS = ["GATEWAY_CALCULATOR_ADDRS", "GATEWAY_CACHE_ADDRS", "GATEWAY_RPC_SERVICES", "GATEWAY_DNS_SERVERS"]


def _setting(name: str, address: str) -> dict[str, str]:
    if name == "GATEWAY_RPC_SERVICES":
        return {name: f"tt=tests.gen.interop.Interop@127.0.0.1:9100,{address}?transport=buffered"}
    return {name: f"127.0.0.1:9100,{address}"}


@pytest.mark.parametrize("name", _ADDRESS_SETTINGS)
@pytest.mark.parametrize(("address", "message"), _NOT_ADDRESSES, ids=[a for a, _ in _NOT_ADDRESSES])
def test_what_is_not_host_port_stops_start_up_naming_the_variable(name: str, address: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(_setting(name, address))
    text = str(info.value)
    assert text.startswith(name) and message in text and "\n" not in text


@pytest.mark.parametrize(("address", "host", "port"), [
    ("127.0.0.1:9090", "127.0.0.1", 9090), ("[::1]:9090", "::1", 9090), ("[2001:db8::7]:1", "2001:db8::7", 1),
    ("cache:9091", "cache", 9091), ("cache.default.svc.cluster.local.:65535", "cache.default.svc.cluster.local.", 65535),
    (" my-cache-0.cache:9091 ", "my-cache-0.cache", 9091),
])
def test_host_port_addresses(address: str, host: str, port: int) -> None:
    for name in _ADDRESS_SETTINGS:
        settings = Settings.from_env(_setting(name, address))
        parsed = {"GATEWAY_CALCULATOR_ADDRS": settings.calculator.addrs, "GATEWAY_CACHE_ADDRS": settings.cache.addrs,
                  "GATEWAY_DNS_SERVERS": settings.dns_servers,
                  "GATEWAY_RPC_SERVICES": settings.rpc_services and settings.rpc_services[0].addrs}[name]
        assert parsed == (Address("127.0.0.1", 9100), Address(host, port))


def test_an_idl_file_entry_and_its_include_dirs() -> None:
    s = Settings.from_env({
        "GATEWAY_RPC_SERVICES": "users=idl/users.thrift:Users@10.0.0.7:9300?transport=buffered;"
                                "t=/srv/a@b/t.thrift:shared.ThriftTest@[::1]:9",
        "GATEWAY_IDL_INCLUDE_DIRS": "/srv/idl:shared::",
    })
    users, t = s.rpc_services
    assert (users.name, users.module, users.idl_file, users.service) == ("users", "", "idl/users.thrift", "Users")
    assert users.target.transport == "buffered" and users.source == "idl/users.thrift:Users"
    assert (t.idl_file, t.service, str(t.target.addrs[0])) == ("/srv/a@b/t.thrift", "shared.ThriftTest", "[::1]:9")
    assert s.idl_include_dirs == ("/srv/idl", "shared")


@pytest.mark.parametrize("entry", ["u=users.thrift@h:1", "u=users.thrift:@h:1", "u=users.thrift:U-x@h:1",
                                   "u=users.thrift:Users", "U=users.thrift:Users@h:1"])
def test_a_bad_idl_file_entry_is_one_line_naming_the_variable(entry: str) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_RPC_SERVICES"):
        Settings.from_env({"GATEWAY_RPC_SERVICES": entry})


def test_the_built_in_services_can_be_off() -> None:
    s = Settings.from_env({"GATEWAY_CALCULATOR_ADDRS": "off", "GATEWAY_CACHE_ADDRS": " OFF "})
    assert s.calculator is None and s.cache is None
