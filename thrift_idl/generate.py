"""Regenerate the committed Python code from the IDL files (``make idl``).

Debian's ``thrift-compiler`` 0.17 writes the code; it runs on the 0.25 PyPI runtime.
The compiler is needed only here: a fresh machine uses the committed packages.

Each IDL set is a directory of ``*.thrift`` files and the package their code goes to:
the product's own (``thrift_idl/*.thrift`` → ``thrift_idl/gen``) and the tests' (the
transcoder's test service, ``tests/idl/*.thrift`` → ``tests/gen``). Every generated
service package also records the IDL it came from (``IDL`` in its ``__init__``), which is
how the gateway's JSON transcoder finds the type information the generated code lacks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (directory of IDL files, generated package directory), relative to the repository.
IDL_SETS = (("thrift_idl", "thrift_idl/gen"), ("tests/idl", "tests/gen"))
GEN_DIR = ROOT / "thrift_idl" / "gen"


def compiler() -> str | None:
    """The path of the ``thrift`` compiler, or None when it is not installed."""
    return shutil.which("thrift")


def _compile(thrift: str, idl: Path, raw: Path) -> None:
    out = Path(tempfile.mkdtemp(dir=raw))
    subprocess.run([thrift, "--gen", "py", "-out", str(out), str(idl)], check=True)
    for init in out.rglob("__init__.py"):
        package = init.parent
        if any(package.glob("*-remote")):  # a service package: say where it came from
            with open(init, "a") as f:
                f.write(f"IDL = {str(idl.relative_to(ROOT))!r}\n")
    shutil.copytree(out, raw / "merged", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*-remote"))


def generate(out_dir: Path) -> dict[str, Path]:
    """Compile every IDL set into ``out_dir``; returns generated package dir by target."""
    thrift = compiler()
    if thrift is None:
        raise RuntimeError("thrift compiler not found: apt-get install thrift-compiler")
    produced: dict[str, Path] = {}
    for idl_dir, target in IDL_SETS:
        with tempfile.TemporaryDirectory() as scratch:
            raw = Path(scratch)
            for idl in sorted((ROOT / idl_dir).glob("*.thrift")):
                _compile(thrift, idl, raw)
            dest = out_dir / target
            shutil.copytree(raw / "merged" / target, dest)
            produced[target] = dest
    return produced


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        for target, fresh in generate(Path(scratch)).items():
            shutil.rmtree(ROOT / target, ignore_errors=True)
            shutil.copytree(fresh, ROOT / target)
            print(f"generated {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
