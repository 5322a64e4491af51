"""A Thrift service from its ``.thrift`` file: no compiler, no generated code.

``load_service`` parses the file and what it includes (``gateway.idl.document``),
resolves every name as the compiler does, builds the classes generated code would hold
(``gateway.idl.runtime``) and returns two things: a module-like object that
``thrift_wire.methods.ServiceMethods`` takes as it takes a generated service module, and
the ``gateway.idl.model.ServiceTypes`` that ``gateway.idl.model.load`` builds from the
compiler's ``idl.xml`` for the same IDL - one type model for both forms.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Sequence, TypeVar

from thrift.Thrift import TFrozenDict, TType
from thrift.TRecursive import fix_spec

from gateway.idl import runtime
from gateway.idl.document import (
    BASE_TYPES,
    ConstValue,
    Document,
    EnumDef,
    FieldDef,
    IdlFileError,
    ServiceDef,
    StructDef,
    TypedefDef,
    TypeExpr,
    load_documents,
)
from gateway.idl.model import Enum, Field, ListOf, MapOf, Method, Scalar, ServiceTypes, SetOf, Struct

# Each load registers its modules under a name of its own (thrift_wire.methods finds a
# parent service's classes through sys.modules), so a reload never mixes two versions.
_LOADS = itertools.count(1)
MODULE_PREFIX = "gateway.idl.loaded"

_TTYPES = {"string": TType.STRING, "binary": TType.STRING, "bool": TType.BOOL, "i8": TType.BYTE,
           "i16": TType.I16, "i32": TType.I32, "i64": TType.I64, "double": TType.DOUBLE}
_SCALAR_KINDS = {"i8": "byte"}


def load_service(path: str | os.PathLike[str], service: str,
                 include_dirs: Sequence[str | os.PathLike[str]] = ()) -> tuple[ModuleType, ServiceTypes]:
    """The service ``service`` of the IDL file ``path``: ``(module, types)``.

    ``module`` has ``Iface`` (extending the parent service's), ``<method>_args`` and
    ``<method>_result`` classes, and ``ttypes`` / ``constants`` for each file; ``types``
    is what ``gateway.idl.model.load`` gives for a generated module. ``include_dirs``
    are searched after the including file's own folder, like the compiler's ``-I``.
    Raises ``IdlFileError`` (a ``ValueError``) with a one-line message.
    """
    return service_of(load_documents(path, include_dirs), service)


def service_of(root: Document, service: str) -> tuple[ModuleType, ServiceTypes]:
    """``load_service`` for a file already parsed (``document.load_documents``): new
    classes every time, so a worker builds its own from the master's parse."""
    loaded = Loaded(root, f"{MODULE_PREFIX}.l{next(_LOADS)}")  # the whole file is checked, used or not
    if service not in root.services:
        known = ", ".join(sorted(root.services)) or "none"
        raise IdlFileError(f"{root.path}: no service {service} (services: {known})")
    return loaded.service_module(root, service), loaded.service_types(root, service)


# Resolved types: what a TypeExpr names once typedefs are followed.


@dataclass(frozen=True)
class _Named:
    document: Document
    definition: StructDef | EnumDef


@dataclass(frozen=True)
class _Container:
    kind: str  # list, set, map
    args: tuple[Any, ...]  # resolved types
    immutable: bool  # the container's `python.immutable` annotation


class Loaded:
    """Every file of one load, linked: the classes of every struct and enum, built
    once, and the modules and types asked for."""

    def __init__(self, root: Document, prefix: str) -> None:
        self.prefix = prefix
        self.documents = _all_documents(root)
        self.classes: dict[tuple[str, str], type] = {}
        self.enums: dict[tuple[str, str], type] = {}
        self._finished: set[type] = set()
        self._finishing: set[type] = set()
        self._struct_types: dict[tuple[str, str], Struct] = {}
        self._enum_types: dict[tuple[str, str], Enum] = {}
        self._service_modules: dict[tuple[str, str], ModuleType] = {}
        self._all_structs: list[type] = []
        for document in self.documents:
            self._declare(document)
        for document in self.documents:
            for definition in document.types.values():
                if isinstance(definition, StructDef):
                    self._finish(document, definition)
                elif isinstance(definition, TypedefDef):
                    self.resolve(document, definition.type)  # an unknown type is an error even if unused
            for const in document.consts.values():
                self.value(document, self.resolve(document, const.type), const.value, const.name)
            for service in document.services.values():
                self._check_service(document, service)
        # Once every spec exists: `[Class, None]` becomes `[Class, Class.thrift_spec]`.
        fix_spec(self._all_structs)
        for document in self.documents:
            self._register_types_module(document)

    # Names

    def _declare(self, document: Document) -> None:
        types_module = self._module_name(document, "ttypes")
        for definition in document.types.values():
            key = (str(document.path), definition.name)
            if isinstance(definition, StructDef):
                immutable = _immutable(definition.annotations, default=definition.kind == "exception")
                cls = runtime.struct_class(definition.name, definition.kind, immutable, types_module)
                self.classes[key] = cls
            elif isinstance(definition, EnumDef):
                self.enums[key] = runtime.enum_class(definition.name, [(n, v) for n, v, _ in definition.values],
                                                     types_module)

    def _module_name(self, document: Document, part: str) -> str:
        index = self.documents.index(document)
        return f"{self.prefix}.d{index}_{_python_name(document.name)}.{part}"

    def lookup(self, document: Document, name: str, line: int) -> tuple[Document, Any]:
        """A type definition as the compiler's scope finds it: this file's own, or
        ``included.Name`` from a file this one includes."""
        if name in document.types:
            return document, document.types[name]
        for included, rest in document.qualified(name):
            if rest in included.types:
                return included, included.types[rest]
        raise document.error(line, f"unknown type {name}")

    def resolve(self, document: Document, expr: TypeExpr) -> Any:
        """A base type name, a _Named (struct or enum) or a _Container."""
        if expr.kind in BASE_TYPES:
            return expr.kind
        if expr.kind in ("list", "set", "map"):
            args = tuple(self.resolve(document, a) for a in expr.args)
            return _Container(expr.kind, args, _immutable(expr.annotations, default=False))
        seen: list[str] = []
        while True:
            target_doc, definition = self.lookup(document, expr.name, expr.line)
            if isinstance(definition, TypedefDef):
                key = f"{target_doc.path}:{definition.name}"
                if key in seen:
                    raise document.error(expr.line, f"typedef {expr.name} refers to itself")
                seen.append(key)
                if definition.type.kind != "named":
                    return self.resolve(target_doc, definition.type)
                document, expr = target_doc, definition.type
                continue
            if isinstance(definition, ServiceDef):
                raise document.error(expr.line, f"{expr.name} is a service, not a type")
            return _Named(target_doc, definition)

    # Wire specs

    def type_spec(self, resolved: Any) -> tuple[int, Any]:
        """``(TType, type arguments)`` as the Python generator writes them."""
        if isinstance(resolved, str):
            return _TTYPES[resolved], {"string": "UTF8", "binary": "BINARY"}.get(resolved)
        if isinstance(resolved, _Named):
            if isinstance(resolved.definition, EnumDef):
                return TType.I32, None
            return TType.STRUCT, [self.classes[_key(resolved)], None]
        parts: list[Any] = []
        for arg in resolved.args:
            parts.extend(self.type_spec(arg))
        ttype = {"list": TType.LIST, "set": TType.SET, "map": TType.MAP}[resolved.kind]
        return ttype, (*parts, resolved.immutable)

    def _fields_spec(self, document: Document, owner: str, fields: Sequence[FieldDef],
                     extra: Sequence[tuple[int, str, Any]] = ()) -> tuple[tuple[Any, ...], list[Any],
                                                                           list[runtime.InitField]]:
        """A struct's ``thrift_spec``, every field's entry in id order, and its
        ``__init__`` fields. ``extra``: fields without a FieldDef (a result's
        ``success``), as (id, name, resolved type)."""
        entries: list[tuple[int, str, Any, Any]] = [(i, n, t, None) for i, n, t in extra]
        init: list[runtime.InitField] = []
        for f in fields:
            resolved = self.resolve(document, f.type)
            default = None
            fresh: Callable[[], Any] | None = None
            if f.default is not None:
                default = self.value(document, resolved, f.default, f"{owner}.{f.name}")
                if not isinstance(resolved, str) and not _is_enum(resolved):
                    fresh = self._fresh(document, resolved, f.default, f"{owner}.{f.name}")
            entries.append((f.id, f.name, resolved, default))
            init.append((f.name, default, fresh))
        for _, n, _ in extra:
            init.insert(0, (n, None, None))
        entries.sort(key=lambda e: e[0])
        complete = [(i, *_pair(self.type_spec(resolved), name), default) for i, name, resolved, default in entries]
        if entries and entries[0][0] < 0:
            # The generator writes an empty spec for a struct with an implicit (negative)
            # field id: the C extension then writes none of its fields, as for generated code.
            return (), complete, init
        spec: list[Any] = []
        for entry in complete:
            spec.extend([None] * (entry[0] - len(spec)))
            spec.append(entry)
        return tuple(spec), complete, init

    def _fresh(self, document: Document, resolved: Any, value: ConstValue, name: str) -> Callable[[], Any]:
        return lambda: self.value(document, resolved, value, name)

    def _finish(self, document: Document, definition: StructDef) -> type:
        cls = self.classes[(str(document.path), definition.name)]
        if cls in self._finished:
            return cls
        if cls in self._finishing:
            raise document.error(definition.line, f"the defaults of {definition.name} refer to {definition.name}")
        self._finishing.add(cls)
        spec, entries, init = self._fields_spec(document, definition.name, definition.fields)
        runtime.finish(cls, spec, entries, init, [f.name for f in definition.fields if f.requiredness == "required"])
        self._finishing.discard(cls)
        self._finished.add(cls)
        self._all_structs.append(cls)
        return cls

    def _check_service(self, document: Document, service: ServiceDef) -> None:
        for function in service.functions:
            for f in [*function.arguments, *function.throws]:
                resolved = self.resolve(document, f.type)
                if f in function.throws and not (isinstance(resolved, _Named) and
                                                 getattr(resolved.definition, "kind", "") == "exception"):
                    raise document.error(f.line, "throws clause may not contain non-exception types")
            if function.returns.kind != "void":
                self.resolve(document, function.returns)

    # Constant values

    def value(self, document: Document, resolved: Any, const: ConstValue, name: str) -> Any:
        """The Python value of a constant or default, as the generator renders it;
        checked against its type as the compiler checks it."""
        if const.kind == "identifier" and _is_enum(resolved):
            const = self._enum_value(document, resolved.definition, const, name)
        elif const.kind == "identifier":
            scope, target = self._constant(document, const)
            return self.value(scope, resolved, target, name)
        wrong = document.error(const.line, f'type error: const "{name}" was declared as {_type_name(resolved)}')
        if isinstance(resolved, str):
            return _scalar_value(resolved, const, wrong)
        if isinstance(resolved, _Named) and isinstance(resolved.definition, EnumDef):
            if const.kind != "int":
                raise wrong
            if const.value not in {v for _, v, _ in resolved.definition.values}:
                raise document.error(const.line, f"type error: const {name} was declared as type "
                                                 f"{resolved.definition.name} which is an enum, but {const.value} "
                                                 "is not a valid value for that enum")
            return const.value
        if isinstance(resolved, _Named):
            return self._struct_value(document, resolved, const, name, wrong)
        assert isinstance(resolved, _Container)
        if resolved.kind == "map":
            if const.kind != "map":
                raise wrong
            pairs = [(self.value(document, resolved.args[0], k, name), self.value(document, resolved.args[1], v, name))
                     for k, v in const.value]
            mapping = dict(sorted(pairs, key=_const_order) if _sortable(pairs) else pairs)
            return self._frozen(TFrozenDict, mapping, document, const, name) if resolved.immutable else mapping
        if const.kind == "map" and not const.value:
            items: list[Any] = []  # `= {}` for a list or set: the compiler takes it as empty
        elif const.kind != "list":
            raise wrong
        else:
            items = [self.value(document, resolved.args[0], item, name) for item in const.value]
        if resolved.kind == "set":
            return self._frozen(frozenset, items, document, const, name) if resolved.immutable else \
                self._frozen(set, items, document, const, name)
        return tuple(items) if resolved.immutable else items

    @staticmethod
    def _frozen(kind: Callable[[Any], Any], items: Any, document: Document, const: ConstValue, name: str) -> Any:
        try:
            return kind(items)
        except TypeError:  # generated code fails the same way when it is imported
            raise document.error(const.line, f"the value of {name} holds a mutable value where Python needs "
                                             "a hashable one (a set element or an immutable map's content)") from None

    @staticmethod
    def _enum_value(document: Document, enum: EnumDef, const: ConstValue, name: str) -> ConstValue:
        """An identifier given for an enum: the compiler drops its first part (and its
        second, if there are three or more) and looks what is left up in the enum the
        value is for - `Level.HIGH`, `included.Level.HIGH`."""
        parts = str(const.value).split(".")
        if len(parts) < 2:
            raise document.error(const.line, f"identifier {const.value} is unqualified")
        member = ".".join(parts[2:] if len(parts) > 2 else parts[1:])
        for value_name, number, _ in enum.values:
            if value_name == member:
                return ConstValue("int", number, const.line)
        raise document.error(const.line, f"type error: const {name} was declared as type {enum.name} which is an "
                                         f"enum, but {const.value} is not a valid value for that enum")

    def _constant(self, document: Document, const: ConstValue) -> tuple[Document, ConstValue]:
        """What an identifier in a value names: a constant (``NAME``, ``included.NAME``)
        or an enum value (``Enum.VALUE``, ``included.Enum.VALUE``)."""
        name = str(const.value)
        for scope, local in [(document, name), *document.qualified(name)]:
            if local in scope.consts:
                return scope, scope.consts[local].value
            enum_name, _, value_name = local.rpartition(".")
            enum = scope.types.get(enum_name)
            if isinstance(enum, EnumDef):
                for member, number, _ in enum.values:
                    if member == value_name:
                        return scope, ConstValue("int", number, const.line)
        raise document.error(const.line, f"unknown constant {name}")

    def _struct_value(self, document: Document, resolved: _Named, const: ConstValue, name: str,
                      wrong: IdlFileError) -> Any:
        definition = resolved.definition
        assert isinstance(definition, StructDef)
        if const.kind != "map":
            raise wrong
        fields = {f.name: f for f in definition.fields}
        values: dict[str, Any] = {}
        for key, item in const.value:
            if key.kind != "string" or key.value not in fields:
                raise document.error(key.line, f"type error: {definition.name} has no field {key.value}")
            target = fields[key.value]
            values[key.value] = self.value(resolved.document, self.resolve(resolved.document, target.type), item,
                                           f"{name}.{key.value}")
        cls = self._finish(resolved.document, definition)
        return cls(**values)

    # Modules

    def _register_types_module(self, document: Document) -> None:
        key = str(document.path)
        ttypes = {d.name: self.classes.get((key, d.name)) or self.enums.get((key, d.name))
                  for d in document.types.values() if isinstance(d, (StructDef, EnumDef))}
        constants = {c.name: self.value(document, self.resolve(document, c.type), c.value, c.name)
                     for c in document.consts.values()}
        for part, attributes in (("ttypes", ttypes), ("constants", constants)):
            name = self._module_name(document, part)
            sys.modules[name] = runtime.module(name, attributes, f"{part} of {document.path}")

    def service_module(self, document: Document, service: str) -> ModuleType:
        """The module-like object of one service: ``Iface``, ``<f>_args``, ``<f>_result``."""
        key = (str(document.path), service)
        if key in self._service_modules:
            return self._service_modules[key]
        definition = document.services[service]
        parent_iface = None
        if definition.extends is not None:
            parent_doc, parent = self.lookup(document, definition.extends, definition.line)
            parent_iface = self.service_module(parent_doc, parent.name).Iface
        # `...<Service>`: thrift_wire.methods names the service after the module's last part.
        name = f"{self._module_name(document, 'services')}.{service}"
        attributes: dict[str, Any] = {"ttypes": sys.modules[self._module_name(document, "ttypes")],
                                      "constants": sys.modules[self._module_name(document, "constants")],
                                      "idl_document": document, "idl_service": definition}
        for function in definition.functions:
            args_cls = runtime.struct_class(f"{function.name}_args", "struct", False, name)
            spec, entries, init = self._fields_spec(document, f"{function.name}_args", function.arguments)
            runtime.finish(args_cls, spec, entries, init,
                           [f.name for f in function.arguments if f.requiredness == "required"])
            attributes[args_cls.__name__] = args_cls
            fix_spec([args_cls])
            if function.oneway:
                continue  # no reply: the generator writes no result class
            result_cls = runtime.struct_class(f"{function.name}_result", "struct", False, name)
            success = () if function.returns.kind == "void" else ((0, "success",
                                                                    self.resolve(document, function.returns)),)
            spec, entries, init = self._fields_spec(document, f"{function.name}_result", function.throws, success)
            runtime.finish(result_cls, spec, entries, init, [])
            attributes[result_cls.__name__] = result_cls
            fix_spec([result_cls])
        attributes["Iface"] = runtime.iface_class(
            service, [(f.name, [a.name for a in f.arguments]) for f in definition.functions], parent_iface, name)
        built = runtime.module(name, attributes, f"The service {service} of {document.path}, read at run time.")
        sys.modules[name] = built
        self._service_modules[key] = built
        return built

    # The type model of gateway.idl.model

    def service_types(self, document: Document, service: str) -> ServiceTypes:
        methods: dict[str, Method] = {}
        definition: ServiceDef = document.services[service]
        while True:
            for function in definition.functions:
                methods.setdefault(function.name, _annotated(Method(
                    name=function.name,
                    # An argument is required unless the IDL marks it optional or gives it
                    # a default (what `make idl` writes into idl.xml for the other form).
                    arguments=[_annotated(Field(a.id, a.name, self.model(document, a.type),
                                                not a.optional_mark and a.requiredness != "optional"
                                                and a.default is None), a.annotations)
                               for a in function.arguments],
                    result=None if function.returns.kind == "void" else self.model(document, function.returns),
                    exceptions=[self._field(document, e) for e in function.throws],
                    oneway=function.oneway,
                ), function.annotations))
            if definition.extends is None:
                return ServiceTypes(service, methods)
            document, definition = self.lookup(document, definition.extends, definition.line)

    def _field(self, document: Document, f: FieldDef) -> Field:
        return _annotated(Field(f.id, f.name, self.model(document, f.type), f.requiredness == "required"),
                          f.annotations)

    def model(self, document: Document, expr: TypeExpr) -> Any:
        return self._model(self.resolve(document, expr))

    def _model(self, resolved: Any) -> Any:
        if isinstance(resolved, str):
            return Scalar(_SCALAR_KINDS.get(resolved, resolved))
        if isinstance(resolved, _Container):
            args = [self._model(a) for a in resolved.args]
            return {"list": ListOf, "set": SetOf}[resolved.kind](args[0]) if resolved.kind != "map" else MapOf(*args)
        key = _key(resolved)
        definition = resolved.definition
        if isinstance(definition, EnumDef):
            if key not in self._enum_types:
                by_name = {n: v for n, v, _ in definition.values}
                self._enum_types[key] = Enum(definition.name, by_name, {v: n for n, v in by_name.items()})
            return self._enum_types[key]
        if key not in self._struct_types:
            struct = self._struct_types[key] = _annotated(Struct(definition.name, definition.kind, self.classes[key]),
                                                          definition.annotations)
            # After registering: a struct may contain itself.
            struct.fields = [self._field(resolved.document, f) for f in definition.fields]
        return self._struct_types[key]


_Annotated = TypeVar("_Annotated")


def _annotated(item: _Annotated, annotations: dict[str, str]) -> _Annotated:
    """The IDL's annotations on a field, struct or method (``api.get``, ``api.query``...),
    as gateway.idl.model keeps them from idl.xml."""
    item.annotations = dict(annotations)  # type: ignore[attr-defined]
    return item


def _pair(spec: tuple[int, Any], name: str) -> tuple[int, str, Any]:
    """``(TType, name, type arguments)``: a spec entry's middle, in its order."""
    return spec[0], name, spec[1]


def _all_documents(root: Document) -> list[Document]:
    found: list[Document] = []

    def visit(document: Document) -> None:
        if document not in found:
            found.append(document)
            for included in document.includes.values():
                visit(included)

    visit(root)
    return found


def _key(named: _Named) -> tuple[str, str]:
    return str(named.document.path), named.definition.name


def _is_enum(resolved: Any) -> bool:
    return isinstance(resolved, _Named) and isinstance(resolved.definition, EnumDef)


def _immutable(annotations: dict[str, str], *, default: bool) -> bool:
    """The generator's ``is_immutable``: ``python.immutable`` present and not "false"."""
    if "python.immutable" not in annotations:
        return default
    return annotations["python.immutable"] != "false"


def _python_name(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def _type_name(resolved: Any) -> str:
    if isinstance(resolved, str):
        return resolved
    if isinstance(resolved, _Named):
        return resolved.definition.name
    return resolved.kind


def _scalar_value(kind: str, const: ConstValue, wrong: IdlFileError) -> Any:
    if kind in ("string", "binary"):
        if const.kind != "string":
            raise wrong
        return const.value.encode("utf-8") if kind == "binary" else const.value
    if kind == "double":
        if const.kind not in ("int", "double"):
            raise wrong
        return float(const.value)
    if const.kind != "int":
        raise wrong
    if kind == "bool":
        return const.value > 0
    return const.value


def _sortable(pairs: list[tuple[Any, Any]]) -> bool:
    return len({type(k) for k, _ in pairs}) == 1 and isinstance(pairs[0][0], (int, float, str, bytes))


def _const_order(pair: tuple[Any, Any]) -> Any:
    # The compiler keeps a map constant's entries in a std::map ordered by key; the
    # generator writes them in that order, and the wire follows it.
    return pair[0]
