"""The run-time IDL reader (gateway/idl) against its judge, Apache's compiler 0.17.

For every IDL of the project (``tests/idl/*.thrift``, ``thrift_idl/*.thrift``), whose
compiled form is committed (``idl.xml`` and the generated Python beside it): the types
the reader builds equal what ``gateway.idl.model.load`` builds from the compiler's
description; every ``thrift_spec`` (structs, ``_args``, ``_result``) equals the
generated one; and the C extension writes the same bytes for the reader's classes as for
the generated ones, in binary and compact (and Apache's pure-Python JSON protocol too),
and reads them back. Apache's own ``test/ThriftTest.thrift`` and the subfolder
include/extends IDLs are compiled at test time (the compiler is installed by
``scripts/ensure-thrift-compiler.sh`` when we are root; without it they skip, saying so).
"""

from __future__ import annotations

import importlib
import itertools
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
from thrift.protocol import fastbinary
from thrift.protocol.TBinaryProtocol import TBinaryProtocol, TBinaryProtocolAccelerated
from thrift.protocol.TCompactProtocol import TCompactProtocolAccelerated
from thrift.protocol.TJSONProtocol import TJSONProtocol
from thrift.Thrift import TException, TType
from thrift.transport.TTransport import TMemoryBuffer

from gateway.idl.document import IdlFileError, load_documents
from gateway.idl.model import Enum, ListOf, MapOf, Scalar, ServiceTypes, SetOf, Struct, load
from gateway.idl.reader import load_service
from thrift_idl import generate, optional_args
from thrift_wire.methods import ServiceMethods

ROOT = Path(__file__).resolve().parents[2]
IDL_DIR = ROOT / "tests" / "idl"
PROJECT_IDLS = sorted([*IDL_DIR.glob("*.thrift"), *(ROOT / "thrift_idl").glob("*.thrift")])
THRIFT_TEST = IDL_DIR / "apache" / "ThriftTest.thrift"
SUBFOLDERS = IDL_DIR / "subfolders"


# How both forms are described, so that they can be compared.


def describe(kind: Any, seen: frozenset[str] = frozenset()) -> Any:
    """A type of gateway.idl.model as plain data; a struct inside itself by name only."""
    if isinstance(kind, Scalar):
        return kind.kind
    if isinstance(kind, Enum):
        return ("enum", kind.name, tuple(sorted(kind.by_name.items())), tuple(sorted(kind.by_value.items())))
    if isinstance(kind, (ListOf, SetOf)):
        return (type(kind).__name__, describe(kind.elem, seen))
    if isinstance(kind, MapOf):
        return ("map", describe(kind.key, seen), describe(kind.value, seen))
    if isinstance(kind, Struct):
        if kind.name in seen:
            return ("struct", kind.name)
        inner = seen | {kind.name}
        return ("struct", kind.name, kind.kind, kind.cls.__name__, _annotations(kind),
                tuple(_field(f, inner) for f in kind.fields))
    return ("?", repr(kind))


def _annotations(item: Any) -> Any:
    # gateway.idl.model gains annotations with the REST routes; compared once both have them.
    return tuple(sorted(getattr(item, "annotations", {}).items()))


def _field(f: Any, seen: frozenset[str] = frozenset()) -> Any:
    return (f.id, f.name, describe(f.type, seen), f.required, _annotations(f))


def describe_service(types: ServiceTypes) -> Any:
    return (types.name, {
        name: (m.name, tuple(_field(a) for a in m.arguments), describe(m.result) if m.result else None,
               tuple(_field(e) for e in m.exceptions), m.oneway, _annotations(m))
        for name, m in types.methods.items()
    })


def spec_shape(spec: Any, depth: int = 0) -> Any:
    """A thrift_spec with classes named, defaults as data; nested specs by class only."""
    if isinstance(spec, type):
        return ("class", spec.__name__)
    if isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], type):
        # [Class, Class.thrift_spec] after fix_spec: the nested spec is checked as its own.
        assert spec[1] is spec[0].thrift_spec, f"{spec[0].__name__}'s spec is not wired (fix_spec)"
        return ["struct", spec[0].__name__]
    if isinstance(spec, tuple):
        return tuple(spec_shape(s, depth) for s in spec)
    if isinstance(spec, list):
        return [spec_shape(s, depth) for s in spec]
    if isinstance(spec, (set, frozenset)):
        return (type(spec).__name__, sorted(spec_shape(s, depth) for s in spec))
    if isinstance(spec, dict):
        return (type(spec).__name__, [(spec_shape(k), spec_shape(v)) for k, v in spec.items()])
    if hasattr(spec, "thrift_spec"):  # a struct default
        return ("instance", type(spec).__name__, [(k, spec_shape(v)) for k, v in vars(spec).items()])
    return (type(spec).__name__, spec)


# The compiled form: committed, or made now by the compiler.


def _py_namespace(path: Path, *include_dirs: Path) -> str:
    namespace = load_documents(path, include_dirs).namespaces.get("py")
    assert namespace is not None, f"{path} has no namespace py"
    return namespace[0]


def _services(path: Path) -> list[str]:
    return list(load_documents(path).services)


def _cases() -> list[tuple[Path, str]]:
    return [(path, service) for path in PROJECT_IDLS for service in _services(path)]


@pytest.fixture(scope="module")
def compiler() -> str:
    if generate.compiler() is None:
        # As .ci/run does; it installs Debian's compiler when we are root.
        subprocess.run([str(ROOT / "scripts" / "ensure-thrift-compiler.sh")], check=False, capture_output=True)
    found = generate.compiler()
    if found is None:
        pytest.skip("the thrift compiler is not installed and cannot be (scripts/ensure-thrift-compiler.sh "
                    "needs root and apt-get): Apache's ThriftTest.thrift is compared only where it is")
    return found


def compile_now(thrift: str, idl: Path, out: Path, *include_dirs: Path) -> None:
    """What `make idl` does for one file, into ``out`` (put on sys.path by the caller):
    the generated package (-r: included files too) and its idl.xml with optional marks."""
    flags = [arg for d in include_dirs for arg in ("-I", str(d))]
    subprocess.run([thrift, *flags, "-r", "--gen", "py", "-out", str(out), str(idl)], check=True, capture_output=True)
    xml_dir = out / "xml"
    xml_dir.mkdir(exist_ok=True)
    subprocess.run([thrift, *flags, "--gen", "xml:merge", "-out", str(xml_dir), str(idl)], check=True,
                   capture_output=True)
    description = xml_dir / f"{idl.stem}.xml"
    from xml.etree import ElementTree

    tree = ElementTree.parse(description)
    optional_args.mark(tree.getroot(), idl.stem, optional_args.optional_arguments(idl.read_text()))
    ElementTree.register_namespace("", optional_args.NS)
    package = out.joinpath(*_py_namespace(idl, *include_dirs).split("."))
    tree.write(package / "idl.xml", encoding="utf-8")


@pytest.fixture
def compiled_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:  # the packages compiled now are not the project's
        if not name.startswith(("gateway", "thrift", "tests")):
            del sys.modules[name]


# The judge: types, specs and bytes.


def assert_same_as_compiled(path: Path, service: str, generated: ModuleType,
                            include_dirs: tuple[Path, ...] = ()) -> None:
    module, types = load_service(path, service, include_dirs)
    assert describe_service(types) == describe_service(load(generated))
    ours, theirs = ServiceMethods(module), ServiceMethods(generated)
    assert ours.name == theirs.name == service
    assert list(ours.methods) == list(theirs.methods)
    for name, method in theirs.methods.items():
        mine = ours[name]
        assert mine.arg_names == method.arg_names, name
        assert (mine.returns_value, mine.oneway, mine.has_strings, mine.exceptions_have_strings) == \
            (method.returns_value, method.oneway, method.has_strings, method.exceptions_have_strings), name
        assert [(c.__name__, f) for c, f in mine.declared] == [(c.__name__, f) for c, f in method.declared], name
        assert spec_shape(mine.args_spec) == spec_shape(method.args_spec), f"{name}_args"
        assert spec_shape(mine.result_spec) == spec_shape(method.result_spec), f"{name}_result"
        for theirs_cls, mine_cls in ((method.args_class, mine.args_class), (method.result_class, mine.result_class)):
            if theirs_cls is not None:
                assert mine_cls is not None and mine_cls.__name__ == theirs_cls.__name__
                assert_same_bytes(theirs_cls, mine_cls)
    generated_types = importlib.import_module(generated.__name__.rsplit(".", 1)[0] + ".ttypes")
    structs = [c for c in vars(generated_types).values() if isinstance(c, type) and hasattr(c, "thrift_spec")
               and c.__module__ == generated_types.__name__]
    ours_structs = {n for n, c in vars(module.ttypes).items() if hasattr(c, "thrift_spec")}
    assert ours_structs == {c.__name__ for c in structs}
    for theirs_cls in structs:
        mine_cls = getattr(module.ttypes, theirs_cls.__name__)
        assert spec_shape(mine_cls.thrift_spec) == spec_shape(theirs_cls.thrift_spec), theirs_cls.__name__
        assert issubclass(mine_cls, TException) == issubclass(theirs_cls, TException), theirs_cls.__name__
        assert _frozen(mine_cls) == _frozen(theirs_cls), f"{theirs_cls.__name__}: immutability"
        assert_same_bytes(theirs_cls, mine_cls)


def _frozen(cls: type) -> bool:
    """Whether ``read`` is a classmethod: immutable classes are built by the decoder."""
    return getattr(cls.read, "__self__", None) is cls  # type: ignore[attr-defined]


def sample(spec: Any, ttype: int, depth: int, salt: int) -> Any:
    """A value of a spec'd type with every field set (down to a depth)."""
    if ttype == TType.BOOL:
        return salt % 2 == 0
    if ttype in (TType.BYTE, TType.I16, TType.I32, TType.I64):
        return {TType.BYTE: -5, TType.I16: -300, TType.I32: 70000 + salt, TType.I64: 2**40 + salt}[ttype]
    if ttype == TType.DOUBLE:
        return 1.25 + salt
    if ttype == TType.STRING:
        return b"\x00\xffbin" if spec == "BINARY" else f"h\u00e9llo {salt}"
    if ttype == TType.STRUCT:
        cls = spec[0]
        if depth > 2:
            return None
        return make(cls, depth + 1, salt)
    if ttype in (TType.LIST, TType.SET):
        etype, espec, frozen = spec
        items = [sample(espec, etype, depth + 1, salt + i) for i in range(2 if ttype == TType.LIST else 1)]
        if any(i is None for i in items):
            return None
        if ttype == TType.SET:
            try:
                return (frozenset if frozen else set)(items)
            except TypeError:  # a mutable struct cannot be a set element in Python
                return None
        return tuple(items) if frozen else items
    ktype, kspec, vtype, vspec, frozen = spec
    key, value = sample(kspec, ktype, depth + 1, salt), sample(vspec, vtype, depth + 1, salt + 1)
    try:
        return {key: value} if key is not None and value is not None else None
    except TypeError:
        return None


def make(cls: type, depth: int = 0, salt: int = 0) -> Any:
    values = {}
    for entry in cls.thrift_spec:  # type: ignore[attr-defined]
        if entry is not None:
            values[entry[2]] = sample(entry[3], entry[1], depth, salt + entry[0])
    return cls(**values)


def translate(value: Any, mine: type) -> Any:
    """The same value built with our classes (``mine`` is our class of the top struct)."""
    kwargs = {}
    for entry in mine.thrift_spec:  # type: ignore[attr-defined]
        if entry is not None:
            kwargs[entry[2]] = _translate(getattr(value, entry[2]), entry[1], entry[3])
    return mine(**kwargs)


def _translate(value: Any, ttype: int, spec: Any) -> Any:
    if value is None:
        return None
    if ttype == TType.STRUCT:
        return translate(value, spec[0])
    if ttype in (TType.LIST, TType.SET):
        return type(value)(_translate(v, spec[0], spec[1]) for v in value)
    if ttype == TType.MAP:
        return type(value)({_translate(k, spec[0], spec[1]): _translate(v, spec[2], spec[3])
                            for k, v in value.items()})
    return value


def assert_same_bytes(theirs_cls: type, mine_cls: type) -> None:
    value = make(theirs_cls, salt=3)
    ours = translate(value, mine_cls)
    for encode in (fastbinary.encode_binary, fastbinary.encode_compact):
        expected = encode(value, [theirs_cls, theirs_cls.thrift_spec])  # type: ignore[attr-defined]
        assert encode(ours, [mine_cls, mine_cls.thrift_spec]) == expected, f"{mine_cls.__name__}: {encode.__name__}"
    # Through the classes' own read/write: the C path of the accelerated protocols, and
    # the pure-Python one of the others.
    for protocol in (TBinaryProtocolAccelerated, TCompactProtocolAccelerated, TBinaryProtocol, TJSONProtocol):
        out, out_theirs = TMemoryBuffer(), TMemoryBuffer()
        ours.write(protocol(out))
        value.write(protocol(out_theirs))
        assert out.getvalue() == out_theirs.getvalue(), f"{mine_cls.__name__}: {protocol.__name__}"
        source = protocol(TMemoryBuffer(out.getvalue()))
        if _frozen(mine_cls):
            back = mine_cls.read(source)  # type: ignore[attr-defined]
        else:
            back = mine_cls()
            back.read(source)
        assert back == ours, f"{mine_cls.__name__}: {protocol.__name__} read"


@pytest.mark.parametrize(("path", "service"), _cases(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_every_project_idl_reads_as_the_compiler_reads_it(path: Path, service: str) -> None:
    generated = importlib.import_module(f"{_py_namespace(path)}.{service}")
    assert_same_as_compiled(path, service, generated)


def test_apache_thrift_test_idl_reads_as_the_compiler_reads_it(compiler: str, compiled_path: Path) -> None:
    compile_now(compiler, THRIFT_TEST, compiled_path)
    for service in ("ThriftTest", "SecondService"):
        assert_same_as_compiled(THRIFT_TEST, service, importlib.import_module(f"ThriftTest.{service}"))


def test_a_service_extending_one_included_from_a_subfolder(compiler: str, compiled_path: Path) -> None:
    compile_now(compiler, SUBFOLDERS / "child.thrift", compiled_path)
    assert_same_as_compiled(SUBFOLDERS / "child.thrift", "Child", importlib.import_module("idl_reader_child.Child"))
    module, types = load_service(SUBFOLDERS / "child.thrift", "Child")
    assert sorted(types.methods) == ["all", "forget", "remember"]
    assert [c.__name__ for c in module.Iface.__mro__] == ["Iface", "Iface", "object"]
    assert ServiceMethods(module)["remember"].declared[0][0].__name__ == "Refused"


def test_an_include_found_through_the_include_folders(compiler: str, compiled_path: Path) -> None:
    folder = SUBFOLDERS / "parent"
    with pytest.raises(IdlFileError) as missing:
        load_service(SUBFOLDERS / "by_include_dir.thrift", "Relay")
    assert str(missing.value) == (f'{SUBFOLDERS / "by_include_dir.thrift"}:3: include "base.thrift" not found '
                                  f"(searched {SUBFOLDERS})")
    compile_now(compiler, SUBFOLDERS / "by_include_dir.thrift", compiled_path, folder)
    assert_same_as_compiled(SUBFOLDERS / "by_include_dir.thrift", "Relay",
                            importlib.import_module("idl_reader_by_include_dir.Relay"), (folder,))


def test_the_apache_copy_is_unchanged() -> None:
    import hashlib

    assert hashlib.sha256(THRIFT_TEST.read_bytes()).hexdigest() == \
        "28b5e6e9d66f260ba48b54215da5cdba9adc6f69fc36f584190385c9e48f5a65"


# What the reader gives beyond the comparison.


def test_classes_behave_as_generated_ones() -> None:
    module, _ = load_service(IDL_DIR / "everything.thrift", "Showroom")
    ttypes = module.ttypes
    first, second = ttypes.Everything(), ttypes.Everything()
    assert first == second and first.counts == [1, 2] and first.counts is not second.counts  # fresh defaults
    assert first.tag == module.ttypes.Everything.thrift_spec[24][4] and first.tag is not second.tag
    assert ttypes.Everything(a_bool=False) != first
    assert repr(ttypes.Key(name="k")) == "Key(name='k', number=1)"
    assert hash(ttypes.Key(name="k")) == hash(ttypes.Key(name="k"))
    with pytest.raises(TypeError):
        ttypes.Key(name="k").name = "other"
    failure = ttypes.Failure(message="no")
    assert isinstance(failure, TException) and failure.level == ttypes.Level.LOW
    with pytest.raises(ttypes.Failure):
        raise failure
    mutable = ttypes.MutableFailure(message="a")
    mutable.message = "b"
    assert str(mutable) == "MutableFailure(message='b')"
    assert ttypes.Level._VALUES_TO_NAMES[16] == "HIGH" and ttypes.Level.AFTER_NEGATIVE == -2
    assert module.constants.BY_NUMBER == {1: "one", 2: "two", 3: "three"}
    assert list(module.constants.BY_NUMBER) == [1, 2, 3]  # the compiler's order (a std::map)
    assert module.constants.QUOTED == "it's \"quoted\"\t\\" and module.constants.RAW == b"raw\n"
    assert module.constants.LEVELS == [0, 16, 1] and module.constants.ALIAS == 31
    assert module.grow_args("x").label == "x" and module.grow_args("x").depth == 2  # positional, as the codec calls
    with pytest.raises(Exception, match="Required field label is unset"):
        module.grow_args().validate()


def test_python_keywords_as_names(tmp_path: Path) -> None:
    # The compiler accepts them (only its Python generator refuses them): the gateway can call such a service.
    idl = tmp_path / "words.thrift"
    idl.write_text("struct Range { 1: i32 from, 2: i32 to }\n"
                   "service Words { Range shift(1: Range range, 2: i32 by, 3: i32 class) }\n")
    module, types = load_service(idl, "Words")
    method = ServiceMethods(module)["shift"]
    assert method.arg_names == ("range", "by", "class")
    value = module.ttypes.Range(**{"from": 1, "to": 2})
    args = method.args_class(value, 3, 4)
    encoded = fastbinary.encode_binary(args, method.args_spec)
    back = method.args_class()
    back.read(TBinaryProtocolAccelerated(TMemoryBuffer(encoded)))
    assert back == args and getattr(back.range, "from") == 1
    assert [a.name for a in types.methods["shift"].arguments] == ["range", "by", "class"]


def test_implicit_field_ids_as_the_compiler_counts_them() -> None:
    module, _ = load_service(IDL_DIR / "everything.thrift", "Showroom")
    document = load_documents(IDL_DIR / "everything.thrift")
    assert [(f.id, f.name) for f in document.types["Implicit"].fields] == \
        [(-1, "first"), (-2, "zero"), (-3, "negative"), (4, "positive")]
    assert module.ttypes.Implicit.thrift_spec == ()  # as the generator writes it


def test_loads_are_independent() -> None:
    first, _ = load_service(IDL_DIR / "interop.thrift", "Interop")
    second, _ = load_service(IDL_DIR / "interop.thrift", "Interop")
    assert first.__name__ != second.__name__ and first.ttypes.Xtruct is not second.ttypes.Xtruct
    assert sys.modules[first.Iface.__mro__[1].__module__].baseEcho_args is not None


# One-line errors.


def _error(tmp_path: Path, source: str, service: str = "S", name: str = "bad.thrift") -> str:
    idl = tmp_path / name
    idl.write_text(source)
    with pytest.raises(IdlFileError) as err:
        load_service(idl, service)
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, ValueError)
    return message


ERRORS = [
    ("struct A {\n  1: string list\n}\n", ":2: syntax error at 'list'"),
    ("struct A {};\n", ":1: syntax error at ';'"),
    ("struct A { 1: A (a = \"b\") x }\n", ":1: syntax error at '('"),
    ("service S {\n  void f(\n", "syntax error: unexpected end of file"),
    ("\n\nstruct A { 1: i32 a } $\n", ":3: syntax error: unexpected character '$'"),
    ("/* open\nstruct A {}\n", ":1: syntax error: an unterminated comment"),
    ("const string S = \"abc\n", ":1: syntax error: an unterminated string"),
    ("typedef slist S\n", ':1: "slist" is no longer supported, use "string" instead'),
    ("struct A {}\nnamespace py x\n", ":2: syntax error at 'namespace'"),
    ("service S {\n  Missing get()\n}\n", ":2: unknown type Missing"),
    ("struct A { 1: i32 a = 1.5 }\nservice S {}\n", ':1: type error: const "A.a" was declared as i32'),
    ("struct A {}\nstruct A {}\n", ':2: type "A" is already defined'),
    ("struct A { 1: i32 a, 1: i32 b }\n", ':1: "1: b" - field identifier/name has already been used'),
    ("service S extends T {}\n", ':1: service "T" has not been defined'),
    ("exception E {}\nservice S { oneway void f() throws (1: E e) }\n", ":2: oneway methods can't throw exceptions"),
    ("enum E { A = 0x100000000 }\n", ":1: 64-bit value supplied for enum A will be truncated"),
    ("struct A { 1: i32 a.b }\n", ":1: identifier a.b can't have a dot"),
    ("enum E { A = 1 }\nstruct B { 1: E e = 2 }\nservice S {}\n", "2 is not a valid value for that enum"),
    ("enum E { A = 1 }\nconst E K = E.A\nstruct B { 1: E e = K }\n", ":3: identifier K is unqualified"),
    ("enum E { A = 1 }\nstruct B { 1: E e = E.B }\n", ":2: type error: const B.e was declared as type E which"),
]


@pytest.mark.parametrize(("source", "expected"), [*ERRORS, ("service T {}\n", "no service S (services: T)")])
def test_errors_name_the_file_and_the_line(tmp_path: Path, source: str, expected: str) -> None:
    message = _error(tmp_path, source)
    assert message.startswith(str(tmp_path / "bad.thrift")), message
    assert expected in message, message


@pytest.mark.parametrize("source", [source for source, _ in ERRORS if "unterminated comment" not in _])
def test_the_compiler_refuses_them_too(compiler: str, tmp_path: Path, source: str) -> None:
    # (Not the unterminated comment: the compiler 0.17 loops forever on it.)
    idl = tmp_path / "bad.thrift"
    idl.write_text(source)
    run = subprocess.run([compiler, "--gen", "py", "-out", str(tmp_path), str(idl)], capture_output=True, timeout=30)
    assert run.returncode != 0, source


def test_a_missing_include_names_the_folders_searched(tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    idl = tmp_path / "main.thrift"
    idl.write_text('// first line\ninclude "shared/types.thrift"\nservice S {}\n')
    with pytest.raises(IdlFileError) as err:
        load_service(idl, "S", [extra, "/nonexistent"])
    assert str(err.value) == (f'{idl}:2: include "shared/types.thrift" not found '
                              f"(searched {tmp_path}, {extra}, /nonexistent)")


def test_a_syntax_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "base.thrift").write_text("struct Base {\n  1: i32 x\n  2 i32 y\n}\n")
    message = _error(tmp_path, 'include "inc/base.thrift"\nservice S {}\n', name="main.thrift")
    assert message == f"{tmp_path / 'inc' / 'base.thrift'}:3: syntax error at 'i32'"


def test_an_included_file_with_dots_in_its_name(tmp_path: Path) -> None:
    # The compiler names a file by what precedes its last dot: `v1.types.thrift` is `v1.types`.
    (tmp_path / "v1.types.thrift").write_text("enum Kind { A = 3 }\nconst i32 N = 5\nstruct T { 1: Kind k }\n")
    (tmp_path / "main.thrift").write_text('include "v1.types.thrift"\n'
                                          "service S { v1.types.T get(1: v1.types.Kind k, 2: i32 n = v1.types.N) }\n")
    module, types = load_service(tmp_path / "main.thrift", "S")
    assert types.methods["get"].result.name == "T" and module.get_args().n == 5


def test_an_include_cycle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.thrift").write_text('include "b.thrift"\nservice S {}\n')
    (tmp_path / "b.thrift").write_text('include "a.thrift"\n')
    with pytest.raises(IdlFileError, match="include cycle"):
        load_service(tmp_path / "a.thrift", "S")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IdlFileError, match=r"cannot read .*nowhere\.thrift: No such file"):
        load_service(tmp_path / "nowhere.thrift", "S")


def test_the_grammar_takes_every_separator_and_annotation_place(tmp_path: Path) -> None:
    idl = tmp_path / "odd.thrift"
    idl.write_text(
        "namespace * odd\nnamespace xsd t (uri = 'u', flag)\n"
        "typedef map cpp_type 'x' <string, list<i8> cpp_type \"y\" (a)> (b = 'c') M;\n"
        "enum E { A = true; B = false, C } (e)\n"
        "struct T xsd_all { -1: i32 a = -0x10 xsd_optional xsd_nillable xsd_attrs { 1: i32 z }; "
        "2: required M m (k) , } (s = \"t\")\n"
        "exception X { 1: string why }\n"
        "service S { async void f(1: T t) (x); T g() throws (1: X x), } (y)\n")
    module, types = load_service(idl, "S")
    if generate.compiler() is not None:  # the compiler takes it too (where it is installed)
        subprocess.run([generate.compiler(), "--gen", "xml", "-out", str(tmp_path), str(idl)], check=True,
                       capture_output=True, timeout=30)
    assert types.methods["f"].oneway and types.methods["g"].exceptions[0].type.name == "X"
    assert [f.id for f in types.methods["g"].result.fields] == [-1, 2]
    assert module.ttypes.E._NAMES_TO_VALUES == {"A": 1, "B": 0, "C": 1}


def test_parsing_takes_little_time() -> None:
    import time

    load_service(THRIFT_TEST, "ThriftTest")  # the parser is built once per process
    started = time.perf_counter()
    for _ in itertools.repeat(None, 5):
        load_service(THRIFT_TEST, "ThriftTest")
    assert (time.perf_counter() - started) / 5 < 0.5  # about 0.02 s here: a bound, not a benchmark


def test_no_compiler_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert shutil.which("thrift") is None
    module, types = load_service(THRIFT_TEST, "ThriftTest")
    assert len(types.methods) == 22 and "testOneway_args" in vars(module)
