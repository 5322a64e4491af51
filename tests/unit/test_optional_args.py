"""The ``optional`` marks of argument lists, which the compiler drops, read from IDL source."""

from __future__ import annotations

from xml.etree import ElementTree

from thrift_idl import optional_args

SOURCE = '''
namespace py x  # service Fake { void f(1: optional i32 a) }
/* service Commented { void g(1: optional i32 b) } */
struct S { 1: optional i32 not_an_argument }
service Base {
  void put(1: string key, 2: binary value, 3: optional i32 ttl_seconds),
  map<string, list<i32>> (kind = "a (paren)") get(1: string key, -2: optional map<i32, i32> hint),
  void noted(1: i32 a (doc = "2: optional i32 b"), 2: i32 b) throws (1: E e),
  oneway void plain(1: i32 a = 3; 2: i32 b)
}
service Child extends other.Base {
  // void put(5: optional i32 c)
  i32 put(
    7 : optional string "ignored" x = "1: optional",
  ) (service_note = "x")
}
'''


def test_the_optional_arguments_of_each_function_are_found() -> None:
    assert optional_args.optional_arguments(SOURCE) == {
        ("Base", "put"): {3},
        ("Base", "get"): {-2},
        ("Child", "put"): {7},
    }


def test_comments_literals_struct_fields_and_throws_lists_mark_nothing() -> None:
    assert optional_args.optional_arguments("struct S { 1: optional i32 a }") == {}
    assert optional_args.optional_arguments('service S { void f(1: i32 a (x = "2: optional"), 2: i32 b) }') == {}
    assert optional_args.optional_arguments("service S { void f() throws (1: optional E e) }") == {}


def test_marks_are_written_on_the_arguments_of_the_named_document_only() -> None:
    ns = optional_args.NS
    root = ElementTree.fromstring(
        f'<idl xmlns="{ns}">'
        f'<document name="a"><service name="S"><method name="f">'
        f'<arg name="x" field-id="1" type="i32"/><arg name="y" field-id="2" type="i32"/></method></service></document>'
        f'<document name="b"><service name="S"><method name="f">'
        f'<arg name="x" field-id="1" type="i32"/></method></service></document></idl>')
    assert optional_args.mark(root, "a", {("S", "f"): {2}}) == 1
    args = [(arg.get("name"), arg.get("required")) for arg in root.iter(f"{{{ns}}}arg")]
    assert args == [("x", None), ("y", "optional"), ("x", None)]
