"""The configured services, loaded once (gateway/idl/catalog.py): IDL file entries, the
built-in services switched off, and a reload whose IDL no longer loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.config import ConfigError, Settings
from gateway.idl import catalog
from gateway.idl.catalog import load_all
from tests.harness import ROOT

IDL = ROOT / "tests" / "idl"


def _settings(entry: str, **env: str) -> Settings:
    return Settings.from_env({"GATEWAY_RPC_SERVICES": entry, **env})


def test_an_idl_file_entry_loads_without_generated_code(tmp_path: Path) -> None:
    shutil.copy(IDL / "rest.thrift", tmp_path / "users.thrift")
    services = load_all(_settings(f"users={tmp_path}/users.thrift:Users@127.0.0.1:1"))
    users = services["users"]
    assert users.types.methods["getUser"].annotations == {"api.get": "/v1/users/:id"}
    assert users.methods["getUser"].args_class.__module__.startswith("gateway.idl.loaded.")
    assert users.format.transport == "framed"  # the default for a user's service
    assert users.health_is_probe  # no `health` option: the unknown-method probe


def test_includes_resolve_beside_the_file_then_in_the_include_dirs(tmp_path: Path) -> None:
    shutil.copytree(IDL / "subfolders", tmp_path / "idl")
    child = load_all(_settings(f"c={tmp_path}/idl/child.thrift:Child@127.0.0.1:1"))["c"]
    assert "all" in child.types.methods and len(child.types.methods) > 1  # extends base.Parent
    with pytest.raises(ConfigError, match=r"GATEWAY_RPC_SERVICES \(d=.*by_include_dir.thrift:"):
        load_all(_settings(f"d={tmp_path}/idl/by_include_dir.thrift:Sub@127.0.0.1:1"))


def test_an_idl_that_does_not_load_at_start_up_is_one_line_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.thrift"
    broken.write_text("service S {\n  void f(1: Nope x)\n}\n")
    with pytest.raises(ConfigError) as info:
        load_all(_settings(f"s={broken}:S@127.0.0.1:1"), fresh=True)
    message = str(info.value)
    assert message.startswith("GATEWAY_RPC_SERVICES (s=") and f"{broken}:2" in message and "\n" not in message
    with pytest.raises(ConfigError, match="no such file|not found|cannot read"):
        load_all(_settings(f"s={tmp_path}/missing.thrift:S@127.0.0.1:1"), fresh=True)


def test_a_reload_whose_idl_no_longer_loads_keeps_the_last_version(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    idl = tmp_path / "svc.thrift"
    idl.write_text("service S {\n  i32 one()\n}\n")
    settings = _settings(f"s={idl}:S@127.0.0.1:1")
    assert set(load_all(settings, fresh=True)["s"].types.methods) == {"one"}
    idl.write_text("service S {\n  i32 one()\n  i32 two()\n}\n")  # a method added: served after the reload
    assert set(load_all(settings, fresh=True)["s"].types.methods) == {"one", "two"}
    idl.write_text("service S {\n  i32 one(\n}\n")  # broken
    assert set(load_all(settings, fresh=True)["s"].types.methods) == {"one", "two"}
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("gateway: reload: GATEWAY_RPC_SERVICES (s=")
    assert "keeping the version that loaded before" in said[0]
    # A worker (not fresh) builds on the master's last good parse, not on the file.
    assert set(load_all(settings)["s"].types.methods) == {"one", "two"}
    del catalog._PARSED[(str(idl), ())]


def test_the_built_in_services_can_be_left_out() -> None:
    services = load_all(Settings.from_env({"GATEWAY_CALCULATOR_ADDRS": "off"}))
    assert list(services) == ["cache"]
    assert load_all(Settings.from_env({"GATEWAY_CALCULATOR_ADDRS": "off", "GATEWAY_CACHE_ADDRS": "off"})) == {}
