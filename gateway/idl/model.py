"""The full type of every method of a Thrift service, from the compiler's description.

The code Apache's compiler generates for Python keeps only wire types in ``thrift_spec``:
an enum field is just an ``i32``, a union looks like any struct, a typedef is gone. The
JSON transcoder needs more, so ``make idl`` also asks the compiler to describe each IDL
(``thrift --gen xml:merge``, committed as ``idl.xml`` beside the generated package): the
compiler accepts every valid IDL - annotations anywhere, includes, typedefs, constants,
enums with explicit values, unions, ``extends`` - so every IDL that compiles loads here.
Each type becomes a small tree; structs are still built and encoded with the generated
classes (found through each document's ``namespace py``), so the wire stays Thrift's.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
_NS = "{http://thrift.apache.org/xml/idl}"
_SCALARS = {"bool": "bool", "byte": "byte", "i8": "byte", "i16": "i16", "i32": "i32", "i64": "i64",
            "double": "double", "string": "string", "binary": "binary"}


class IdlError(ValueError):
    """The IDL description is missing or says something this reader cannot use."""


@dataclass(frozen=True)
class Scalar:
    kind: str  # bool, byte, i16, i32, i64, double, string, binary

    def __str__(self) -> str:
        return self.kind


@dataclass(frozen=True)
class Enum:
    name: str
    by_name: dict[str, int] = field(hash=False, compare=False)
    by_value: dict[int, str] = field(hash=False, compare=False)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ListOf:
    elem: Any

    def __str__(self) -> str:
        return f"list<{self.elem}>"


@dataclass(frozen=True)
class SetOf:
    elem: Any

    def __str__(self) -> str:
        return f"set<{self.elem}>"


@dataclass(frozen=True)
class MapOf:
    key: Any
    value: Any

    def __str__(self) -> str:
        return f"map<{self.key},{self.value}>"


@dataclass
class Field:
    id: int
    name: str
    type: Any
    required: bool
    # The IDL's annotations on the field: ``(api.query = "n")`` is {"api.query": "n"}.
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Struct:
    name: str
    kind: str  # struct, union, exception
    cls: type  # the generated (Apache) class
    fields: list[Field] = field(default_factory=list)  # filled after creation: types may recurse
    annotations: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


@dataclass
class Method:
    name: str
    arguments: list[Field]
    result: Any | None  # None for void
    exceptions: list[Field]
    oneway: bool
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceTypes:
    name: str
    methods: dict[str, Method]


def load(service_module: ModuleType) -> ServiceTypes:
    """The types of a generated service module (``tests.gen.showcase.Showcase``)."""
    package, service_name = service_module.__name__.rsplit(".", 1)
    description = Path(importlib.import_module(package).__file__ or "").parent / "idl.xml"
    if not description.is_file():
        raise IdlError(f"{package} has no idl.xml beside it: regenerate it with `make idl`")
    try:
        root = ElementTree.parse(description).getroot()
    except ElementTree.ParseError as err:
        raise IdlError(f"{description}: {err}") from None
    documents = {doc.get("name", ""): doc for doc in root.iter(f"{_NS}document")}
    own = next((name for name, doc in documents.items() if _py_namespace(doc) == package), None)
    if own is None:
        raise IdlError(f"{description} does not describe {package}")
    return _Builder(documents).service(own, service_name)


def _py_namespace(document: ElementTree.Element) -> str | None:
    found = document.find(f"{_NS}namespace[@name='py']")
    return found.get("value") if found is not None else None


class _Builder:
    def __init__(self, documents: dict[str, ElementTree.Element]) -> None:
        self._documents = documents
        self._structs: dict[tuple[str, str], Struct] = {}
        self._enums: dict[tuple[str, str], Enum] = {}

    def _definition(self, module: str, name: str) -> ElementTree.Element:
        document = self._documents.get(module)
        found = None if document is None else next((d for d in document if d.get("name") == name), None)
        if found is None:
            raise IdlError(f"the IDL description has no {module}.{name}")
        return found

    def service(self, module: str, name: str) -> ServiceTypes:
        spec = self._definition(module, name)
        methods: dict[str, Method] = {}
        while True:
            for method in spec.iter(f"{_NS}method"):
                methods.setdefault(method.get("name", ""), self._method(module, method))
            parent = spec.get("parent-id")
            if parent is None:
                return ServiceTypes(name, methods)
            module = spec.get("parent-module") or module
            spec = self._definition(module, parent)

    def _method(self, module: str, element: ElementTree.Element) -> Method:
        returns = element.find(f"{_NS}returns")
        result = None if returns is None or returns.get("type") == "void" else self._type(module, returns)
        arguments = [self._field(module, arg) for arg in element.findall(f"{_NS}arg")]
        for argument, element_ in zip(arguments, element.findall(f"{_NS}arg")):
            # Thrift itself ignores requiredness in argument lists, and a handler written
            # for add(a, b) is not ready for a missing a: an argument is required unless
            # the IDL marks it optional or gives it a default.
            argument.required = element_.get("required") != "optional" and element_.find(f"{_NS}default") is None
        return Method(
            name=element.get("name", ""),
            arguments=arguments,
            result=result,
            exceptions=[self._field(module, e) for e in element.findall(f"{_NS}throws")],
            oneway=element.get("oneway") == "true",
            annotations=_annotations(element),
        )

    def _field(self, module: str, element: ElementTree.Element) -> Field:
        return Field(int(element.get("field-id", "0")), element.get("name", ""), self._type(module, element),
                     element.get("required") == "required", _annotations(element))

    def _type(self, module: str, element: ElementTree.Element) -> Any:
        kind = element.get("type", "")
        if kind in _SCALARS:
            return Scalar(_SCALARS[kind])
        if kind in ("list", "set"):
            elem = self._type(module, _child(element, "elemType"))
            return ListOf(elem) if kind == "list" else SetOf(elem)
        if kind == "map":
            return MapOf(self._type(module, _child(element, "keyType")), self._type(module, _child(element, "valueType")))
        if kind == "id":
            return self._named(element.get("type-module") or module, element.get("type-id", ""))
        raise IdlError(f"unsupported Thrift type {kind!r}")

    def _named(self, module: str, name: str) -> Any:
        definition = self._definition(module, name)
        tag = definition.tag.removeprefix(_NS)
        if tag == "typedef":
            return self._type(module, definition)
        if tag == "enum":
            if (module, name) not in self._enums:
                values = {m.get("name", ""): int(m.get("value", "0")) for m in definition.findall(f"{_NS}member")}
                self._enums[(module, name)] = Enum(name, values, {v: k for k, v in values.items()})
            return self._enums[(module, name)]
        if tag in ("struct", "union", "exception"):
            return self._struct(module, name, tag, definition)
        raise IdlError(f"{module}.{name} is a {tag}, not a type")

    def _struct(self, module: str, name: str, kind: str, definition: ElementTree.Element) -> Struct:
        if (module, name) not in self._structs:
            package = _py_namespace(self._documents[module])
            if package is None:
                raise IdlError(f"{module}.thrift has no `namespace py`")
            generated = getattr(importlib.import_module(f"{package}.ttypes"), name, None)
            if generated is None:
                raise IdlError(f"{package}.ttypes has no {name}: regenerate it with `make idl`")
            struct = self._structs[(module, name)] = Struct(name, kind, generated, annotations=_annotations(definition))
            # After registering: a struct may contain itself.
            struct.fields = [self._field(module, f) for f in definition.findall(f"{_NS}field")]
        return self._structs[(module, name)]


def _annotations(element: ElementTree.Element) -> dict[str, str]:
    """The element's own annotations (not those of the types inside it)."""
    return {a.get("key", ""): a.get("value", "") for a in element.findall(f"{_NS}annotation")}


def _child(element: ElementTree.Element, tag: str) -> ElementTree.Element:
    found = element.find(f"{_NS}{tag}")
    if found is None:
        raise IdlError(f"a {element.get('type')} without its {tag}")
    return found
