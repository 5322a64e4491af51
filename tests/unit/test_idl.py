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


def test_the_accelerated_codecs_are_really_accelerated() -> None:
    from thrift.protocol import fastbinary

    from thrift_wire import protocols

    # The binary and compact codecs call the C extension directly; it must be there.
    assert protocols.fastbinary is fastbinary and hasattr(fastbinary, "decode_compact")
