"""Classes the wire code encodes and decodes as it does Apache's generated ones.

What Apache's Python generator (0.17, ``t_py_generator.cc``) writes into ``ttypes.py``
and ``<Service>.py`` is built here once, at load: a class per struct, union and
exception with the same ``thrift_spec`` tuple - ``(id, TType, name, type arguments,
default)`` at index ``id``, ``'UTF8'`` / ``'BINARY'`` for strings, ``[Class, spec]`` for
structs (completed by ``thrift.TRecursive.fix_spec``, as generated code does), the
``python.immutable`` flag last in container arguments - so Apache's C extension
(``fastbinary``) reads and writes them on the hot path exactly as generated code. The
classes behave as generated ones: ``__init__`` takes the fields (positionally too) with
the IDL's defaults, fresh containers for each instance; ``__eq__`` and ``__repr__`` over
``__dict__``; exceptions subclass ``TException`` and, like structs annotated
``python.immutable``, are immutable and hashable. ``read``/``write`` take the C path when
the protocol has one and Apache's generic ``readStruct``/``writeStruct`` otherwise
(``TJSONProtocol``).
"""

from __future__ import annotations

import inspect
import keyword
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence

from thrift.protocol.TProtocol import TProtocolException
from thrift.Thrift import TException, TType
from thrift.transport import TTransport


class ThriftStruct:
    """What every struct class built here shares (a generated struct's methods)."""

    thrift_spec: tuple[Any, ...] = ()
    _thrift_fields: tuple[str, ...] = ()  # declaration order, as __init__ takes them
    _thrift_required: tuple[str, ...] = ()
    # Every field's spec entry, by id, for the pure-Python protocols: the same entries as
    # thrift_spec, and also those of implicit (negative) ids, which generated code's own
    # read/write handle and its thrift_spec leaves out.
    _thrift_by_id: dict[int, tuple[Any, ...]] = {}

    def read(self, iprot: Any) -> None:
        if iprot._fast_decode is not None and isinstance(iprot.trans, TTransport.CReadableTransport):
            iprot._fast_decode(self, iprot, [self.__class__, self.thrift_spec])
            return
        _read_fields(iprot, self._thrift_by_id, lambda name, value: setattr(self, name, value))

    def write(self, oprot: Any) -> None:
        if oprot._fast_encode is not None:
            oprot.trans.write(oprot._fast_encode(self, [self.__class__, self.thrift_spec]))
            return
        oprot.writeStruct(self, tuple(self._thrift_by_id.values()))

    def validate(self) -> None:
        for name in self._thrift_required:
            if getattr(self, name) is None:
                raise TProtocolException(message=f"Required field {name} is unset!")

    def __repr__(self) -> str:
        return "%s(%s)" % (self.__class__.__name__, ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.__class__) and self.__dict__ == other.__dict__

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # mutable, as generated structs


class FrozenThriftStruct(ThriftStruct):
    """A struct annotated ``python.immutable``, or an exception: read builds a new one."""

    @classmethod
    def read(cls, iprot: Any) -> Any:  # type: ignore[override]
        if iprot._fast_decode is not None and isinstance(iprot.trans, TTransport.CReadableTransport):
            return iprot._fast_decode(None, iprot, [cls, cls.thrift_spec])
        values: dict[str, Any] = {}
        _read_fields(iprot, cls._thrift_by_id, values.__setitem__)
        return cls(**values)

    def __setattr__(self, *args: Any) -> None:
        raise TypeError("can't modify immutable instance")

    def __delattr__(self, *args: Any) -> None:
        raise TypeError("can't modify immutable instance")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self.__class__) ^ hash(tuple(getattr(self, n) for n in self._thrift_fields))


def _read_fields(iprot: Any, by_id: dict[int, tuple[Any, ...]], store: Callable[[str, Any], None]) -> None:
    """Apache's ``TProtocolBase.readStruct``, with fields looked up by id (its lookup
    indexes the spec, which a negative id would index from the end)."""
    iprot.increment_recursion_depth()
    try:
        iprot.readStructBegin()
        while True:
            _, ftype, fid = iprot.readFieldBegin()
            if ftype == TType.STOP:
                break
            entry = by_id.get(fid)
            if entry is not None and ftype == entry[1]:
                store(entry[2], iprot.readFieldByTType(ftype, entry[3]))
            else:
                iprot.skip(ftype)
            iprot.readFieldEnd()
        iprot.readStructEnd()
    finally:
        iprot.decrement_recursion_depth()


class ThriftException(FrozenThriftStruct, TException):
    """An exception of the IDL: raised and caught as a generated one is."""

    def __str__(self) -> str:
        return repr(self)


class MutableThriftException(ThriftStruct, TException):
    """An exception annotated ``python.immutable = "false"``."""

    def __str__(self) -> str:
        return repr(self)


def struct_class(name: str, kind: str, immutable: bool, module: str) -> type:
    """An empty struct class; ``finish`` gives it its fields once every class exists
    (a field's type or default may be any struct of the IDL, itself included)."""
    if kind == "exception":
        base: type = ThriftException if immutable else MutableThriftException
    else:
        base = FrozenThriftStruct if immutable else ThriftStruct
    return type(name, (base,), {"__module__": module, "__doc__": f"The {kind} {name} of the IDL."})


# (name, default, fresh): `fresh` makes a new copy of a container or struct default for
# each instance, as generated __init__s do; None for values that cannot be changed.
InitField = tuple[str, Any, "Callable[[], Any] | None"]


def finish(cls: type, spec: tuple[Any, ...], entries: Iterable[tuple[Any, ...]], fields: Sequence[InitField],
           required: Iterable[str]) -> None:
    """Give ``cls`` its ``thrift_spec``, every field's entry (in id order) and ``__init__``."""
    cls.thrift_spec = spec  # type: ignore[attr-defined]
    cls._thrift_by_id = {entry[0]: entry for entry in entries}  # type: ignore[attr-defined]
    cls._thrift_fields = tuple(f[0] for f in fields)  # type: ignore[attr-defined]
    cls._thrift_required = tuple(required)  # type: ignore[attr-defined]
    cls.__init__ = _init(cls, fields)  # type: ignore[misc]


def _init(cls: type, fields: Sequence[InitField]) -> Callable[..., None]:
    frozen = issubclass(cls, FrozenThriftStruct)
    names = [f[0] for f in fields]
    if all(n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("_thrift_") for n in names):
        return _compiled_init(cls.__name__, fields, frozen)
    return _generic_init(cls.__name__, fields, frozen)


def _compiled_init(class_name: str, fields: Sequence[InitField], frozen: bool) -> Callable[..., None]:
    """``__init__`` as generated code writes it (plain assignments): it runs on every
    call the gateway encodes, so no loop over the fields."""
    scope: dict[str, Any] = {"_thrift_set": object.__setattr__}
    params, body = ["_thrift_self"], []
    for i, (name, default, fresh) in enumerate(fields):
        scope[f"_thrift_d{i}"] = default
        params.append(f"{name}=_thrift_d{i}")
        if fresh is not None:
            scope[f"_thrift_f{i}"] = fresh
            body.append(f"    if {name} is _thrift_d{i}:\n        {name} = _thrift_f{i}()")
        body.append(f"    _thrift_set(_thrift_self, {name!r}, {name})" if frozen
                    else f"    _thrift_self.{name} = {name}")
    source = f"def __init__({', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(compile(source, f"<thrift struct {class_name}>", "exec"), scope)  # noqa: S102 - our own text
    return scope["__init__"]  # type: ignore[no-any-return]


def _generic_init(class_name: str, fields: Sequence[InitField], frozen: bool) -> Callable[..., None]:
    """For field names Python cannot take as parameters (``from``, ``class``): the
    compiler accepts them, only its Python generator refuses them."""
    names = [f[0] for f in fields]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(fields):
            raise TypeError(f"{class_name}() takes {len(fields)} arguments, {len(args)} given")
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(f"{class_name}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        for i, (name, default, fresh) in enumerate(fields):
            value = args[i] if i < len(args) else kwargs.get(name, default)
            if fresh is not None and value is default:
                value = fresh()
            object.__setattr__(self, name, value)

    return __init__


def enum_class(name: str, values: Sequence[tuple[str, int]], module: str) -> type:
    """An enum as generated: its names as class attributes, and the two lookup tables."""
    attributes: dict[str, Any] = {"__module__": module, "_VALUES_TO_NAMES": {v: n for n, v in values},
                                  "_NAMES_TO_VALUES": dict(values)}
    attributes.update(values)
    return type(name, (object,), attributes)


def iface_class(name: str, methods: Sequence[tuple[str, Sequence[str]]], parent: type | None, module: str) -> type:
    """The service's ``Iface``: one method per function, with the arguments' names as
    parameters (``thrift_wire.methods`` reads them), extending the parent's ``Iface``."""
    attributes: dict[str, Any] = {"__module__": module}
    for method, arguments in methods:
        attributes[method] = _method(method, arguments)
    return type("Iface", (parent or object,), attributes)


def _method(name: str, arguments: Sequence[str]) -> Callable[..., None]:
    def method(self: Any, *args: Any) -> None:
        return None

    method.__name__ = name
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for argument in arguments:
        parameters.append(_parameter(argument))
    method.__signature__ = inspect.Signature(parameters, __validate_parameters__=False)  # type: ignore[attr-defined]
    return method


def _parameter(name: str) -> inspect.Parameter:
    if name.isidentifier() and not keyword.iskeyword(name):
        return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    # inspect refuses a keyword as a parameter name; the IDL may use one (`from`), and
    # only the name is read from the signature.
    parameter = inspect.Parameter("placeholder", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameter._name = name  # type: ignore[attr-defined]
    return parameter


def module(name: str, attributes: dict[str, Any], doc: str) -> ModuleType:
    built = ModuleType(name, doc)
    built.__dict__.update(attributes)
    return built
