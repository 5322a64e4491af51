"""Regenerate the committed Python code from the IDL files (``make idl``).

Debian's ``thrift-compiler`` 0.17 writes the code; it runs on the 0.25 PyPI runtime.
The compiler is needed only here: a fresh machine uses the committed ``gen/`` package.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IDL_DIR = Path(__file__).resolve().parent
GEN_DIR = IDL_DIR / "gen"
IDL_FILES = ("calculator.thrift", "cache.thrift")


def compiler() -> str | None:
    """The path of the ``thrift`` compiler, or None when it is not installed."""
    return shutil.which("thrift")


def generate(out_dir: Path) -> Path:
    """Compile every IDL file into ``out_dir``; returns the generated ``gen`` package.

    The ``-remote`` command-line scripts the compiler also writes are left out: they are
    not part of the package and nothing here runs them.
    """
    thrift = compiler()
    if thrift is None:
        raise RuntimeError("thrift compiler not found: apt-get install thrift-compiler")
    with tempfile.TemporaryDirectory() as raw:
        for name in IDL_FILES:
            subprocess.run([thrift, "--gen", "py", "-out", raw, str(IDL_DIR / name)], check=True)
        produced = Path(raw) / "thrift_idl" / "gen"
        target = out_dir / "gen"
        shutil.copytree(produced, target, ignore=shutil.ignore_patterns("*-remote"))
    return target


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        fresh = generate(Path(scratch))
        shutil.rmtree(GEN_DIR, ignore_errors=True)
        shutil.copytree(fresh, GEN_DIR)
    print(f"generated {GEN_DIR.relative_to(IDL_DIR.parent)} from {', '.join(IDL_FILES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
