"""Regenerate the committed Python code from the IDL files (``make idl``).

Debian's ``thrift-compiler`` 0.17 writes the code; it runs on the 0.25 PyPI runtime.
The compiler is needed only here: a fresh machine uses the committed packages.

Each IDL set is a directory of ``*.thrift`` files and the package their code goes to:
the product's own (``thrift_idl/*.thrift`` → ``thrift_idl/gen``) and the tests'
(``tests/idl/*.thrift`` → ``tests/gen``). Beside each generated package goes
``idl.xml``: the compiler's own description of the IDL (``--gen xml:merge``, included
files merged in) with the types the generated Python lacks - enums, typedefs, unions,
requiredness - which the gateway's JSON transcoder reads (``gateway.idl.model``). The
compiler accepts every valid IDL, annotations anywhere included, so the gateway loads
every IDL it does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from xml.etree import ElementTree
from pathlib import Path

from thrift_idl import optional_args

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
    xml_dir = Path(tempfile.mkdtemp(dir=raw))
    subprocess.run([thrift, "--gen", "xml:merge", "-out", str(xml_dir), str(idl)], check=True)
    description = xml_dir / f"{idl.stem}.xml"
    _mark_optional_arguments(description, idl.parent)
    package = _py_namespace(description)
    if package is not None:
        dest = out.joinpath(*package.split("."))
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(description, dest / "idl.xml")
    shutil.copytree(out, raw / "merged", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*-remote"))


def _mark_optional_arguments(description: Path, idl_dir: Path) -> None:
    """Write the arguments' ``optional`` marks, which the compiler drops, into the description."""
    parser = ElementTree.XMLParser(target=ElementTree.TreeBuilder(insert_comments=True))
    tree = ElementTree.parse(description, parser)
    marked = 0
    for document in tree.getroot().iter(f"{{{optional_args.NS}}}document"):
        # Each merged document is a file the compiled one includes, found beside it.
        source = idl_dir / f"{document.get('name')}.thrift"
        if source.is_file():
            marks = optional_args.optional_arguments(source.read_text(encoding="utf-8"))
            marked += optional_args.mark(tree.getroot(), document.get("name", ""), marks)
    if marked:
        ElementTree.register_namespace("", optional_args.NS)
        tree.write(description, encoding="utf-8", xml_declaration=False)
        with description.open("a", encoding="utf-8") as out:
            out.write("\n")


def _py_namespace(description: Path) -> str | None:
    """The ``namespace py`` of the first (the compiled file's own) document."""
    ns = {"idl": "http://thrift.apache.org/xml/idl"}
    document = ElementTree.parse(description).getroot().find("idl:document", ns)
    found = document.find("idl:namespace[@name='py']", ns) if document is not None else None
    return found.get("value") if found is not None else None


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
