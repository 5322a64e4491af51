"""JSON ↔ Thrift conversion against the test IDL's types, in memory."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidArgument
from gateway.idl.model import Enum, ListOf, MapOf, Scalar, SetOf, Struct, load
from gateway.rpc.transcode import from_json, to_json
from tests.gen.showcase import Showcase

TYPES = load(Showcase)
EVERYTHING: Struct = TYPES.methods["echo"].result
POINT: Struct = TYPES.methods["move"].result
SHAPE: Struct = TYPES.methods["reshape"].result


def field_type(struct: Struct, name: str) -> Any:
    return next(f.type for f in struct.fields if f.name == name)


def test_the_idl_types_are_read_in_full() -> None:
    assert str(field_type(EVERYTHING, "color")) == "Color" and isinstance(field_type(EVERYTHING, "color"), Enum)
    assert str(field_type(EVERYTHING, "nested")) == "map<string,list<set<i16>>>"
    assert str(field_type(EVERYTHING, "blob")) == "binary" and str(field_type(EVERYTHING, "text")) == "string"
    assert SHAPE.kind == "union" and POINT.kind == "struct"
    assert field_type(EVERYTHING, "child") is EVERYTHING  # recursive
    assert [f.required for f in POINT.fields] == [True, False, False, False]
    assert TYPES.methods["notify"].oneway and not TYPES.methods["echo"].oneway


def test_defaults_and_enum_names() -> None:
    p = from_json(POINT, {"x": 1}, "p")
    assert (p.x, p.y, p.color, p.label) == (1, 5, 2, "origin")
    assert to_json(POINT, p) == {"x": 1, "y": 5, "color": "GREEN", "label": "origin"}
    assert from_json(POINT, {"x": 1, "color": 7}, "p").color == 7  # by number too


@pytest.mark.parametrize(("t", "value", "path", "message"), [
    (POINT, {}, "p", "p.x is required"),
    (POINT, {"x": 1, "z": 2}, "p", "p.z: no such field"),
    (POINT, {"x": 2**31}, "p", "p.x: 2147483648 is outside the i32 range"),
    (POINT, {"x": True}, "p", "p.x: expected a JSON integer"),
    (POINT, {"x": 1.0}, "p", "p.x: expected a JSON integer"),
    (POINT, {"x": 1, "color": "PINK"}, "p", "p.color: expected one of RED, GREEN, BLUE"),
    (POINT, [1], "p", "p: expected an object"),
    (SHAPE, {}, "s", "exactly one of"),
    (SHAPE, {"name": "a", "point": {"x": 1}}, "s", "exactly one of"),
    (EVERYTHING, {"grid": [[{"x": 1}, {"y": 2}]]}, "v", "v.grid[0][1].x is required"),
    (EVERYTHING, {"blob": "not base64!"}, "v", "v.blob: expected base64"),
    (EVERYTHING, {"colors_by_number": {"1": "RED"}}, "v", "v.colors_by_number: expected an array of [key, value] pairs"),
    (EVERYTHING, {"colors_by_number": [[1]]}, "v", "v.colors_by_number[0]: expected a [key, value] pair"),
    (EVERYTHING, {"ids": {"a": "1"}}, "v", "v.ids.a: expected a JSON integer (i64)"),
    (EVERYTHING, {"tiny": 128}, "v", "v.tiny: 128 is outside the byte range"),
    (EVERYTHING, {"real": "1.5"}, "v", "v.real: expected a number"),
    (EVERYTHING, {"child": {"child": {"point": {"x": "deep"}}}}, "v", "v.child.child.point.x"),
])
def test_wrong_values_name_their_path(t: Struct, value: Any, path: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        from_json(t, value, path)
    assert message in info.value.detail


def json_for(t: Any, depth: int = 2) -> st.SearchStrategy[Any]:
    """Hypothesis strategy for the JSON form of any value of type ``t``."""
    if isinstance(t, Scalar):
        if t.kind in ("byte", "i16", "i32", "i64"):
            bits = {"byte": 8, "i16": 16, "i32": 32, "i64": 64}[t.kind]
            return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        return {
            "bool": st.booleans(),
            "double": st.floats(allow_nan=False, allow_infinity=False),
            "string": st.text(st.characters(exclude_categories=("Cs",))),
            "binary": st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
        }[t.kind]
    if isinstance(t, Enum):
        return st.sampled_from(sorted(t.by_name))
    if isinstance(t, ListOf):
        return st.lists(json_for(t.elem, depth), max_size=4)
    if isinstance(t, SetOf):
        return st.lists(json_for(t.elem, depth), max_size=4, unique=True).map(sorted)
    if isinstance(t, MapOf):
        if isinstance(t.key, Scalar) and t.key.kind == "string":
            return st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
                                   json_for(t.value, depth), max_size=3)
        return st.lists(st.tuples(json_for(t.key, depth), json_for(t.value, depth)), max_size=3,
                        unique_by=lambda kv: kv[0]).map(lambda pairs: [list(kv) for kv in pairs])
    assert isinstance(t, Struct)
    fields = [f for f in t.fields if depth > 0 or not isinstance(f.type, Struct)]
    if t.kind == "union":
        return st.one_of(*[json_for(f.type, depth - 1).map(lambda v, n=f.name: {n: v}) for f in fields])
    required = {f.name: json_for(f.type, depth - 1) for f in fields if f.required}
    optional = {f.name: json_for(f.type, depth - 1) for f in fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def normal(t: Any, value: Any) -> Any:
    """What the JSON of ``value`` looks like after a round trip: defaults filled in."""
    return to_json(t, from_json(t, value, "v"))


@settings(max_examples=150, deadline=None)
@given(json_for(EVERYTHING))
def test_json_thrift_json_is_stable(value: dict[str, Any]) -> None:
    once = normal(EVERYTHING, value)
    assert normal(EVERYTHING, once) == once
    for name, member in value.items():  # everything given comes back (sets sorted)
        if member is not None:
            assert name in once


def test_a_field_list_is_read_by_its_own_plan_even_where_an_old_lists_id_comes_again() -> None:
    # The plan of a field list is kept by the list's id; a list made after an IDL reload
    # may get the id of one that is gone, and must not be read with that one's plan.
    from gateway.idl.model import Field
    from gateway.rpc import transcode

    old = [Field(1, "a", Scalar("i32"), True)]
    assert transcode.fields_from_json(old, {"a": 1}, "") == {"a": 1}
    new = [Field(1, "b", Scalar("string"), True)]
    transcode._PLANS[id(new)] = transcode._PLANS[id(old)]  # as if the id had been reused
    assert transcode.fields_from_json(new, {"b": "x"}, "") == {"b": "x"}
    with pytest.raises(InvalidArgument, match="a: no such field"):
        transcode.fields_from_json(new, {"a": 1}, "")


@pytest.mark.parametrize("i64_strings", [False, True])
def test_a_set_of_i64_is_answered_in_numeric_order_as_strings_too(i64_strings: bool) -> None:
    values = {10, 9, -3, 2**62, 100}
    expected = sorted(values)
    got = to_json(SetOf(Scalar("i64")), values, i64_strings)
    assert got == ([str(v) for v in expected] if i64_strings else expected)
