"""The Thrift IDL grammar of Apache's compiler 0.17, for Lark's LALR parser.

Transcribed from the compiler's own grammar (``compiler/cpp/src/thrift/thrifty.yy``) and
lexer (``thriftl.ll``), rule for rule, so that this reader accepts what the compiler
accepts and refuses what it refuses: headers (``include``, ``cpp_include``,
``namespace``) before definitions; annotations where the grammar has
``TypeAnnotations`` (base and container types, typedefs, enums and their values,
structs, fields, functions, services, ``namespace`` lines) and nowhere else - a named
type takes none; ``,`` or ``;`` after fields, enum values, functions, typedefs, consts
and list/map literal items; ``true``/``false`` are integers; ``byte`` is ``i8``;
``async`` is ``oneway``; the XSD and ``cpp_type`` extensions. What flex decides by
longest match (``0x1F``, ``1.5e3``) is decided here by terminal priorities.

A basic (not contextual) lexer, as flex's: a keyword is a keyword everywhere, so a field
named ``list`` is refused as the compiler refuses it.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Lark, Token

GRAMMAR = r"""
start: _header* definition*

_header: include | cpp_include | namespace | namespace_all
include: "include" LITERAL
cpp_include: "cpp_include" LITERAL
namespace: "namespace" IDENTIFIER IDENTIFIER annotations?
namespace_all: "namespace" "*" IDENTIFIER

?definition: const | typedef | enum | struct | union | exception | service

const: "const" field_type IDENTIFIER "=" const_value _sep?
typedef: "typedef" field_type IDENTIFIER annotations? _sep?

enum: "enum" IDENTIFIER "{" enum_value* "}" annotations?
enum_value: IDENTIFIER ["=" int_constant] annotations? _sep?

struct: "struct" IDENTIFIER _xsd_all? "{" field* "}" annotations?
union: "union" IDENTIFIER _xsd_all? "{" field* "}" annotations?
exception: "exception" IDENTIFIER "{" field* "}" annotations?
_xsd_all: "xsd_all"

service: "service" IDENTIFIER extends? "{" function* "}" annotations?
extends: "extends" IDENTIFIER
function: oneway? function_type IDENTIFIER "(" field* ")" throws? annotations? _sep?
!oneway: "oneway" | "async"
throws: "throws" "(" field* ")"
?function_type: field_type | void
void: "void"

field: field_id? requiredness? field_type _reference? IDENTIFIER default? _xsd_optional? _xsd_nillable? _xsd_attrs? annotations? _sep?
field_id: int_constant ":"
!requiredness: "required" | "optional"
default: "=" const_value
_reference: "&"
_xsd_optional: "xsd_optional"
_xsd_nillable: "xsd_nillable"
_xsd_attrs: "xsd_attrs" "{" field* "}"

?field_type: named_type | base_type | container_type
named_type: IDENTIFIER
base_type: base_name annotations?
!base_name: "string" | "binary" | "bool" | "byte" | "i8" | "i16" | "i32" | "i64" | "double"
?container_type: map_type | set_type | list_type
map_type: "map" _cpp_type? "<" field_type "," field_type ">" annotations?
set_type: "set" _cpp_type? "<" field_type ">" annotations?
list_type: "list" "<" field_type ">" _cpp_type? annotations?
_cpp_type: "cpp_type" LITERAL

annotations: "(" annotation* ")"
annotation: IDENTIFIER ["=" LITERAL] _sep?

?const_value: int_constant | double | literal | identifier | const_list | const_map
int_constant: INT | HEX | TRUE | FALSE
double: DOUBLE
literal: LITERAL
identifier: IDENTIFIER
const_list: "[" (const_value _sep?)* "]"
const_map: "{" (const_value ":" const_value _sep?)* "}"

_sep: "," | ";"

TRUE: "true"
FALSE: "false"
HEX.4: /[+-]?0x[0-9A-Fa-f]+/
DOUBLE.3: /[+-]?[0-9]*\.[0-9]+([eE][+-]?[0-9]+)?/ | /[+-]?[0-9]+[eE][+-]?[0-9]+/
INT.2: /[+-]?[0-9]+/
IDENTIFIER: /[a-zA-Z_](\.[a-zA-Z_0-9]|[a-zA-Z_0-9])*/
LITERAL: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/

COMMENT: /\/\/[^\n]*/ | /#[^\n]*/ | /\/\*[\s\S]*?\*\//
%ignore COMMENT
%ignore /[ \t\r\n]+/
"""

# Words the 0.17 lexer stops at with "no longer supported" or "unsupported declaration".
REMOVED_WORDS = {
    "slist": '"slist" is no longer supported, use "string" instead',
    "senum": '"senum" is no longer supported, use "string" instead',
    "cpp_namespace": "unsupported declaration 'cpp_namespace': use 'namespace cpp' instead",
    "java_package": "unsupported declaration 'java_package': use 'namespace java' instead",
    "delphi_namespace": "unsupported declaration 'delphi_namespace': use 'namespace delphi' instead",
    "php_namespace": "unsupported declaration 'php_namespace': use 'namespace php' instead",
    "py_module": "unsupported declaration 'py_module': use 'namespace py' instead",
    "perl_package": "unsupported declaration 'perl_package': use 'namespace perl' instead",
    "ruby_namespace": "unsupported declaration 'ruby_namespace': use 'namespace ruby' instead",
    "smalltalk_category": "unsupported declaration 'smalltalk_category': use 'namespace st' instead",
    "smalltalk_prefix": "unsupported declaration 'smalltalk_prefix': use 'namespace st' instead",
    "xsd_namespace": "unsupported declaration 'xsd_namespace': use 'namespace xsd' instead",
}


class RemovedWord(Exception):
    """A word the compiler's lexer refuses wherever it stands (``slist``)."""

    def __init__(self, token: Token) -> None:
        super().__init__(REMOVED_WORDS[str(token)])
        self.line = token.line


def _refuse_removed(token: Token) -> Token:
    if token in REMOVED_WORDS:
        raise RemovedWord(token)
    return token


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The parser, built once per process (about 0.4 s)."""
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=True,
                lexer_callbacks={"IDENTIFIER": _refuse_removed})
