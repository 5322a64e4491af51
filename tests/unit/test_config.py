from __future__ import annotations

import pytest

from gateway.config import Address, ConfigError, Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.calculator_addrs == (Address("127.0.0.1", 9090),)
    assert s.cache_addrs == (Address("127.0.0.1", 9091),)
    assert s.bind == "127.0.0.1:8000" and s.workers >= 1 and s.pool_size == 64


def test_environment_overrides() -> None:
    s = Settings.from_env({
        "GATEWAY_CALCULATOR_ADDRS": "10.0.0.1:9000, 10.0.0.2:9000",
        "GATEWAY_CACHE_ADDRS": "[::1]:7000",
        "GATEWAY_CALL_TIMEOUT_MS": "250",
        "GATEWAY_WORKERS": "3",
        "GATEWAY_ACCESS_LOG": "",
    })
    assert [str(a) for a in s.calculator_addrs] == ["10.0.0.1:9000", "10.0.0.2:9000"]
    assert s.cache_addrs == (Address("::1", 7000),) and str(s.cache_addrs[0]) == "[::1]:7000"
    assert s.call_timeout_ms == 250 and s.workers == 3 and s.access_log == ""


@pytest.mark.parametrize(("name", "value"), [
    ("GATEWAY_CALCULATOR_ADDRS", "localhost"), ("GATEWAY_CALCULATOR_ADDRS", ""),
    ("GATEWAY_CACHE_ADDRS", "a:1,a:1"), ("GATEWAY_CACHE_ADDRS", "a:70000"),
    ("GATEWAY_POOL_SIZE", "0"), ("GATEWAY_CALL_TIMEOUT_MS", "fast"), ("GATEWAY_WORKERS", "1.5"),
])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
