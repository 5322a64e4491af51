"""JSON to Thrift values and back, driven by the IDL's types (``gateway.idl.model``).

The mapping, both ways:

* bool ↔ true/false; byte, i16, i32, i64 ↔ JSON integers only, range-checked; an i64
  annotated ``api.js_conv = "true"`` (or every i64, under ``GATEWAY_JSON_INT64=string``)
  is written as a decimal string and read from either form;
  double ↔ any JSON number, and the strings "NaN", "Infinity", "-Infinity" for the
  values JSON cannot write (as protobuf's JSON mapping does); string ↔ string; binary ↔
  base64 string (standard alphabet).
* enum ↔ its name (a number is accepted on input; output is the name, or the number
  when the backend sent a value the IDL does not name).
* struct, union, exception ↔ object by field name; unknown names are refused, required
  fields must be present, absent fields take the IDL default; a union takes exactly one.
* list, set ↔ array (a set's elements are sorted on output where they can be).
* map with string keys ↔ object; a map with any other key type ↔ array of [key, value]
  pairs, because JSON object keys can only be strings.

A value that does not fit raises ``InvalidArgument`` naming its path (``value.point.x``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, NamedTuple

from gateway.errors import InvalidArgument
from gateway.idl.model import Enum, Field, ListOf, MapOf, Scalar, SetOf, Struct
from thrift_wire.integers import I64_MAX, I64_MIN, INT_BITS, int_range

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_I64_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,18})", re.ASCII)


def _show(value: Any) -> str:
    return json.dumps(value)[:60]


def from_json(t: Any, value: Any, path: str, i64_strings: bool = False) -> Any:
    """The Thrift value for ``value`` of type ``t``; ``path`` names it in errors. With
    ``i64_strings`` an i64 may also be a decimal string (``api.js_conv``, and every i64
    under ``GATEWAY_JSON_INT64=string``)."""
    if isinstance(t, Scalar):
        if i64_strings and t.kind == "i64" and type(value) is str:
            return _i64_from_string(value, path)
        return _scalar_from_json(t.kind, value, path)
    if isinstance(t, Enum):
        if isinstance(value, str) and value in t.by_name:
            return t.by_name[value]
        if type(value) is int and value in t.by_value:
            return value
        raise InvalidArgument(f"{path}: expected one of {', '.join(t.by_name)} for {t.name}, got {_show(value)}")
    if isinstance(t, Struct):
        return struct_from_json(t, value, path, i64_strings)
    if isinstance(t, (ListOf, SetOf)):
        if not isinstance(value, list):
            raise InvalidArgument(f"{path}: expected an array for {t}, got {_show(value)}")
        items = [from_json(t.elem, item, f"{path}[{i}]", i64_strings) for i, item in enumerate(value)]
        if isinstance(t, SetOf):
            try:
                return set(items)
            except TypeError:  # unhashable elements (structs): the encoder takes any iterable
                return items
        return items
    if isinstance(t, MapOf):
        return _map_from_json(t, value, path, i64_strings)
    raise TypeError(f"unknown type {t!r}")


def _scalar_from_json(kind: str, value: Any, path: str) -> Any:
    if kind in INT_BITS:
        if type(value) is not int:
            raise InvalidArgument(f"{path}: expected a JSON integer ({kind}), got {_show(value)}")
        low, high = int_range(kind)
        if not low <= value <= high:
            raise InvalidArgument(f"{path}: {value} is outside the {kind} range")
        return value
    if kind == "bool":
        if type(value) is not bool:
            raise InvalidArgument(f"{path}: expected true or false, got {_show(value)}")
        return value
    if kind == "double":
        if type(value) is str and value in _NON_FINITE:
            return _NON_FINITE[value]
        if type(value) not in (int, float):
            raise InvalidArgument(f"{path}: expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), "
                                  f"got {_show(value)}")
        try:
            return float(value)
        except OverflowError:  # an integer past the double range
            raise InvalidArgument(f"{path}: {_show(value)} does not fit a double") from None
    if not isinstance(value, str):
        raise InvalidArgument(f"{path}: expected a string ({kind}), got {_show(value)}")
    if kind == "binary":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"{path}: expected base64 for binary") from None
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise InvalidArgument(f"{path}: string is not valid Unicode (a lone surrogate)")
    return value


def _i64_from_string(value: str, path: str) -> int:
    # The decimal form JSON.stringify gives a BigInt: no sign but "-", no spaces, no "+".
    if not _I64_TEXT.fullmatch(value):
        raise InvalidArgument(f"{path}: expected an i64 as a JSON integer or a decimal string, got {_show(value)}")
    number = int(value)
    if not I64_MIN <= number <= I64_MAX:
        raise InvalidArgument(f"{path}: {value} is outside the i64 range")
    return number


def _map_from_json(t: MapOf, value: Any, path: str, i64_strings: bool) -> dict[Any, Any]:
    if string_keys(t):
        if not isinstance(value, dict):
            raise InvalidArgument(f"{path}: expected an object for {t}, got {_show(value)}")
        return {k: from_json(t.value, v, f"{path}.{k}", i64_strings) for k, v in value.items()}
    if not isinstance(value, list):
        raise InvalidArgument(f"{path}: expected an array of [key, value] pairs for {t}, got {_show(value)}")
    out: dict[Any, Any] = {}
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InvalidArgument(f"{path}[{i}]: expected a [key, value] pair, got {_show(pair)}")
        key = from_json(t.key, pair[0], f"{path}[{i}][0]", i64_strings)
        try:
            out[key] = from_json(t.value, pair[1], f"{path}[{i}][1]", i64_strings)
        except TypeError:
            raise InvalidArgument(f"{path}[{i}][0]: this key type cannot be a map key here") from None
    return out


def string_keys(t: MapOf) -> bool:
    return isinstance(t.key, Scalar) and t.key.kind == "string"


def js_conv(f: Field) -> bool:
    """CloudWeGo's ``api.js_conv``: the field's i64s travel as JSON strings. It applies to
    an i64 field and to lists, sets and maps of i64 - not to the structs a field holds,
    which are written the same wherever they appear."""
    return f.annotations.get("api.js_conv", "").strip().lower() == "true" and _plain_i64(f.type)


def _plain_i64(t: Any) -> bool:
    if isinstance(t, (ListOf, SetOf)):
        return _plain_i64(t.elem)
    if isinstance(t, MapOf):
        return (_plain_i64(t.key) or _plain_i64(t.value)) and not isinstance(t.value, Struct)
    return isinstance(t, Scalar) and t.kind == "i64"


class _FieldsPlan(NamedTuple):
    """What reading a JSON object into ``fields`` needs, worked out once per field list."""

    fields: list[Field]  # held: the plan is found by the list's identity
    names: frozenset[str]
    listed: str  # the names, for the error that lists them
    # (name, type, required, js_conv, integer range or None) in IDL order; the range is
    # that of a plain integer field, checked in place - the commonest argument by far.
    steps: tuple[tuple[str, Any, bool, bool, tuple[int, int] | None], ...]


_PLANS: dict[int, _FieldsPlan] = {}


def _plan(fields: list[Field]) -> _FieldsPlan:
    plan = _PLANS.get(id(fields))
    if plan is None or plan.fields is not fields:
        if len(_PLANS) > 4096:  # field lists of IDLs reloaded many times: start again
            _PLANS.clear()
        plan = _PLANS[id(fields)] = _FieldsPlan(
            fields, frozenset(f.name for f in fields), ", ".join(f.name for f in fields) or "none",
            tuple((f.name, f.type, f.required, js_conv(f), _plain_int_range(f)) for f in fields))
    return plan


def _plain_int_range(f: Field) -> tuple[int, int] | None:
    t = f.type
    if isinstance(t, Scalar) and t.kind in INT_BITS and not js_conv(f):
        return int_range(t.kind)
    return None


def fields_from_json(fields: list[Field], value: Any, path: str, *, union: bool = False,
                     i64_strings: bool = False) -> dict[str, Any]:
    """Keyword arguments (by field name) for ``fields`` from a JSON object."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{path or 'body'}: expected an object, got {_show(value)}")
    plan = _plan(fields)
    if not plan.names.issuperset(value):
        unknown = sorted(set(value) - plan.names)
        raise InvalidArgument(f"{_join(path, unknown[0])}: no such field (expected {plan.listed})")
    out = {}
    for name, t, required, js, ints in plan.steps:
        item = value.get(name)
        if item is not None:
            if ints is not None and type(item) is int and ints[0] <= item <= ints[1] and not i64_strings:
                out[name] = item  # what from_json would give; anything else goes there for its error
            else:
                out[name] = from_json(t, item, f"{path}.{name}" if path else name, i64_strings or js)
        elif required:
            raise InvalidArgument(f"{_join(path, name)} is required")
    if union and len(out) != 1:
        raise InvalidArgument(f"{path or 'body'}: a union takes exactly one of {plan.listed}")
    return out


def struct_from_json(t: Struct, value: Any, path: str, i64_strings: bool = False) -> Any:
    return t.cls(**fields_from_json(t.fields, value, path, union=t.kind == "union", i64_strings=i64_strings))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def to_json(t: Any, value: Any, i64_strings: bool = False) -> Any:
    """The JSON form of a Thrift value of type ``t``; with ``i64_strings`` an i64 is
    written as a decimal string, which JavaScript's JSON.parse cannot round."""
    if value is None:
        return None
    if isinstance(t, Scalar):
        if i64_strings and t.kind == "i64":
            return str(value)
        if t.kind == "binary":
            return base64.b64encode(value).decode("ascii")
        if t.kind == "double" and not math.isfinite(value):
            # JSON has no NaN or infinity; these strings are protobuf's JSON mapping's.
            return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(t, Enum):
        return t.by_value.get(value, value)
    if isinstance(t, Struct):
        return struct_to_json(t, value, i64_strings)
    if isinstance(t, ListOf):
        return [to_json(t.elem, v, i64_strings) for v in value]
    if isinstance(t, SetOf):
        items = [to_json(t.elem, v, i64_strings) for v in value]
        # An i64 written as a string still sorts as the number it is ("9" before "10").
        as_numbers = i64_strings and _plain_i64(t.elem)
        try:
            return sorted(items, key=int if as_numbers else None)
        except TypeError:
            return items
    if isinstance(t, MapOf):
        if string_keys(t):
            return {k: to_json(t.value, v, i64_strings) for k, v in value.items()}
        return [[to_json(t.key, k, i64_strings), to_json(t.value, v, i64_strings)] for k, v in value.items()]
    raise TypeError(f"unknown type {t!r}")


def struct_to_json(t: Struct, value: Any, i64_strings: bool = False) -> dict[str, Any]:
    return {f.name: to_json(f.type, getattr(value, f.name), i64_strings or js_conv(f))
            for f in t.fields if getattr(value, f.name) is not None}
