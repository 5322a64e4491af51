"""The full type of every method of a Thrift service, read from its IDL.

The code Apache's compiler generates for Python keeps only wire types in ``thrift_spec``:
an enum field is just an ``i32``, a union looks like any struct. The JSON transcoder
needs more - enum names, unions, required fields - so it reads the IDL itself with
thriftpy2's parser and describes each type as a small tree. Structs are still built and
encoded with the generated classes (found by name), so the wire stays the gateway's own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# thriftpy2's TType numbers (its BINARY is a pseudo type of its own).
_BOOL, _BYTE, _DOUBLE, _I16, _I32, _I64, _STRING, _STRUCT, _MAP, _SET, _LIST, _BINARY = (
    2, 3, 4, 6, 8, 10, 11, 12, 13, 14, 15, 18,
)
_SCALARS = {_BOOL: "bool", _BYTE: "byte", _DOUBLE: "double", _I16: "i16", _I32: "i32", _I64: "i64",
            _STRING: "string", _BINARY: "binary"}


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


@dataclass(eq=False)
class Struct:
    name: str
    kind: str  # struct, union, exception
    cls: type  # the generated (Apache) class
    fields: list[Field] = field(default_factory=list)  # filled after creation: types may recurse

    def __str__(self) -> str:
        return self.name


@dataclass
class Method:
    name: str
    arguments: list[Field]
    result: Any | None  # None for void
    exceptions: list[Field]
    oneway: bool


@dataclass
class ServiceTypes:
    name: str
    methods: dict[str, Method]


_module_names = itertools.count()


def load(service_module: ModuleType) -> ServiceTypes:
    """The types of a generated service module (``tests.gen.showcase.Showcase``)."""
    import thriftpy2

    package = service_module.__name__.rsplit(".", 1)[0]
    idl_path = getattr(__import__(package, fromlist=["IDL"]), "IDL", None)
    if idl_path is None:
        raise ValueError(f"{package} does not say which IDL it came from: regenerate it with `make idl`")
    idl = thriftpy2.load(str(ROOT / idl_path), module_name=f"gateway_idl_{next(_module_names)}_thrift")
    ttypes = __import__(f"{package}.ttypes", fromlist=["ttypes"])
    service_name = service_module.__name__.rsplit(".", 1)[1]
    return _Builder(idl, ttypes, service_module).service(getattr(idl, service_name))


class _Builder:
    def __init__(self, idl: Any, ttypes: ModuleType, service_module: ModuleType) -> None:
        meta = idl.__thrift_meta__
        self._unions = {cls.__name__ for cls in meta.get("unions", [])}
        self._exceptions = {cls.__name__ for cls in meta.get("exceptions", [])}
        self._ttypes = ttypes
        self._service_module = service_module
        self._structs: dict[str, Struct] = {}

    def service(self, spec: Any) -> ServiceTypes:
        methods = {}
        for name in spec.thrift_services:
            args = getattr(spec, f"{name}_args")
            result = getattr(spec, f"{name}_result")
            result_fields = self._fields(result.thrift_spec)
            success = next((f for f in result_fields if f.id == 0), None)
            arguments = self._fields(args.thrift_spec)
            # Thrift ignores "optional" in argument lists, and a handler written for
            # add(a, b) is not ready for a missing a: an argument is required unless the
            # IDL gives it a default.
            defaults = dict(args.default_spec)
            for argument in arguments:
                argument.required = argument.required or defaults.get(argument.name) is None
            methods[name] = Method(
                name=name,
                arguments=arguments,
                result=success.type if success else None,
                exceptions=[f for f in result_fields if f.id != 0],
                oneway=bool(getattr(result, "oneway", False)),
            )
        return ServiceTypes(spec.__name__, methods)

    def _fields(self, spec: dict[int, tuple[Any, ...]]) -> list[Field]:
        fields = []
        for fid in sorted(spec):
            entry = spec[fid]
            ttype, name, required = entry[0], entry[1], entry[-1]
            args = entry[2] if len(entry) == 4 else None
            fields.append(Field(fid, name, self._type(ttype, args), bool(required)))
        return fields

    def _type(self, ttype: int, args: Any) -> Any:
        if ttype == _I32 and args is not None:  # thriftpy2 keeps the enum class here
            return Enum(args.__name__, dict(args._NAMES_TO_VALUES), dict(args._VALUES_TO_NAMES))
        if ttype in _SCALARS:
            return Scalar(_SCALARS[ttype])
        if ttype == _STRUCT:
            return self._struct(args)
        if ttype in (_LIST, _SET):
            elem = self._type(*self._unpack(args))
            return ListOf(elem) if ttype == _LIST else SetOf(elem)
        if ttype == _MAP:
            key, value = args
            return MapOf(self._type(*self._unpack(key)), self._type(*self._unpack(value)))
        raise ValueError(f"unsupported Thrift type {ttype}")

    @staticmethod
    def _unpack(spec: Any) -> tuple[int, Any]:
        return (spec, None) if isinstance(spec, int) else (spec[0], spec[1])

    def _struct(self, cls: Any) -> Struct:
        name = cls.__name__
        if name not in self._structs:
            kind = "union" if name in self._unions else "exception" if name in self._exceptions else "struct"
            generated = getattr(self._ttypes, name)
            struct = self._structs[name] = Struct(name, kind, generated)
            struct.fields = self._fields(cls.thrift_spec)  # after registering: a struct may contain itself
        return self._structs[name]
