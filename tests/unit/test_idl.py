"""The committed generated code must be what the compiler makes of the IDL today."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from thrift_idl import generate


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.skipif(generate.compiler() is None, reason="thrift compiler not installed (apt-get install thrift-compiler)")
def test_committed_code_matches_the_idl(tmp_path: Path) -> None:
    for target, produced in generate.generate(tmp_path).items():
        fresh = _files(produced)
        committed = _files(generate.ROOT / target)
        assert sorted(fresh) == sorted(committed), f"files differ in {target}: run `make idl` and commit"
        stale = [name for name, path in fresh.items() if not filecmp.cmp(path, committed[name], shallow=False)]
        assert stale == [], f"{target} is out of date with the IDL: {stale}; run `make idl` and commit"


def test_the_accelerated_protocol_is_really_accelerated() -> None:
    from thrift.protocol import fastbinary  # noqa: F401 - the import is the test

    from thrift_idl import wire
    from thrift.transport.TTransport import TMemoryBuffer

    protocol = wire.protocol(TMemoryBuffer())
    assert type(protocol).__name__ == "TBinaryProtocolAccelerated"
