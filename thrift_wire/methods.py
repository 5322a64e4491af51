"""The method table of a generated service module, read once from its ``thrift_spec``s.

The gateway's client encodes calls and decodes replies from it, the backends decode
calls and encode replies from it, and the JSON transcoder (``gateway.idl.model``) adds
the IDL's richer types beside it: one table, three users.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from thrift_wire.protocols import EMPTY_SPEC, Empty


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    args_class: type
    args_spec: list[Any]  # [class, thrift_spec], as the C extension takes it
    arg_names: tuple[str, ...]  # in the IDL's order, as the generated client passes them
    result_class: type | None  # None for a oneway method: no reply comes
    result_spec: list[Any] | None
    returns_value: bool  # False for void: its result struct has no `success`
    declared: tuple[tuple[type, str], ...]  # each declared exception's class and result field
    # May the reply's value hold a UTF-8 string (not binary)? And may a declared exception?
    # Asked apart: the exceptions' messages must not make every successful reply pay.
    has_strings: bool
    exceptions_have_strings: bool = False
    # A oneway method has no result class: no reply comes. Kept as a field, since every
    # call asks (a property was a Python call each time).
    oneway: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "oneway", self.result_class is None)


class ServiceMethods:
    """Every method of a generated service module (``thrift_idl.gen.calculator.Calculator``)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.name = module.__name__.rsplit(".", 1)[-1]
        self.methods: dict[str, MethodSpec] = {}
        for name, defined_in in _method_names(module):
            args_class = getattr(defined_in, f"{name}_args")
            result_class = getattr(defined_in, f"{name}_result", None)  # absent: oneway
            fields = [f for f in result_class.thrift_spec if f is not None] if result_class else []
            self.methods[name] = MethodSpec(
                name=name,
                args_class=args_class,
                args_spec=[args_class, args_class.thrift_spec],
                arg_names=tuple(inspect.signature(getattr(defined_in.Iface, name)).parameters)[1:],
                result_class=result_class,
                result_spec=[result_class, result_class.thrift_spec] if result_class else None,
                returns_value=any(f[0] == 0 for f in fields),
                declared=tuple((f[3][0], f[2]) for f in fields if f[0] != 0),
                has_strings=any(_holds_strings(f) for f in fields if f[0] == 0),
                exceptions_have_strings=any(_holds_strings(f) for f in fields if f[0] != 0),
            )

    def __getitem__(self, name: str) -> MethodSpec:
        return self.methods[name]

    def get(self, name: str) -> MethodSpec | None:
        return self.methods.get(name)


def _method_names(module: ModuleType) -> list[tuple[str, ModuleType]]:
    """Each method's name and the generated module that defines it: a service that
    ``extends`` another inherits its methods, whose structs live in the parent's module."""
    found: dict[str, ModuleType] = {}
    for iface in module.Iface.__mro__:
        if iface is object:
            continue
        defined_in = sys.modules[iface.__module__]
        for name in vars(iface):
            if not name.startswith("_"):
                found.setdefault(name, defined_in)
    return list(found.items())


class _NoResult(Empty):
    __slots__ = ()


def probe(name: str) -> MethodSpec:
    """A call of ``name`` without arguments, expecting no result: what a health check
    sends to a service that has no method for it (the answer is the server's
    ``TApplicationException``, unknown method)."""
    return MethodSpec(name=name, args_class=Empty, args_spec=EMPTY_SPEC, arg_names=(), result_class=_NoResult,
                      result_spec=[_NoResult, ()], returns_value=False, declared=(), has_strings=False)


def _holds_strings(spec: Any, seen: set[int] | None = None) -> bool:
    """Whether a generated ``thrift_spec`` (or a field's type arguments) contains a
    UTF-8 string anywhere, containers and nested structs included."""
    seen = set() if seen is None else seen
    if isinstance(spec, str):
        return spec == "UTF8"
    if isinstance(spec, type):
        return _holds_strings(getattr(spec, "thrift_spec", None), seen)
    if not isinstance(spec, (tuple, list)):
        return False
    if id(spec) in seen:
        return False
    seen.add(id(spec))
    return any(_holds_strings(part, seen) for part in spec if part is not None)
