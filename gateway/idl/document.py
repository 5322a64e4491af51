"""One ``.thrift`` file as the compiler sees it: its headers and definitions, and its
``include``s, found as Apache's compiler finds them.

Parsing follows ``gateway.idl.grammar``; the checks the compiler makes while it parses
follow its ``thrifty.yy`` and ``t_struct.h``: names without dots, unique type names,
unique field ids and names, field ids the compiler assigns (a missing or non-positive
id gets -1, -2, ... in order), enum values counted from the last explicit one, union
members always optional with at most one default, ``extends`` naming a service defined
above. Every error is an ``IdlFileError`` whose message is one line naming the file and
the line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from gateway.idl.grammar import RemovedWord, parser
from gateway.idl.model import IdlError

BASE_TYPES = ("string", "binary", "bool", "i8", "i16", "i32", "i64", "double")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", '"': '"', "'": "'", "\\": "\\"}


class IdlFileError(IdlError):
    """An IDL file that does not load; the message is one line naming the file."""


@dataclass
class TypeExpr:
    """A type as written: a base type, a named type, or a container of types."""

    kind: str  # one of BASE_TYPES, "named", "list", "set", "map", "void"
    name: str = ""  # the identifier of a named type, as written (`Tag`, `base.Tag`)
    args: tuple["TypeExpr", ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass
class ConstValue:
    kind: str  # int, double, string, identifier, list, map
    value: Any  # int, float, str, list[ConstValue], list[tuple[ConstValue, ConstValue]]
    line: int = 0


@dataclass
class FieldDef:
    id: int
    name: str
    type: TypeExpr
    requiredness: str  # "required", "optional" or "default" (the compiler's opt-in-req-out)
    default: ConstValue | None
    annotations: dict[str, str]
    line: int
    optional_mark: bool = False  # `optional` written in an argument list (the compiler drops it)


@dataclass
class StructDef:
    name: str
    kind: str  # struct, union, exception
    fields: list[FieldDef]
    annotations: dict[str, str]
    line: int


@dataclass
class EnumDef:
    name: str
    values: list[tuple[str, int, dict[str, str]]]
    annotations: dict[str, str]
    line: int


@dataclass
class TypedefDef:
    name: str
    type: TypeExpr
    annotations: dict[str, str]
    line: int


@dataclass
class ConstDef:
    name: str
    type: TypeExpr
    value: ConstValue
    line: int


@dataclass
class FunctionDef:
    name: str
    returns: TypeExpr  # kind "void" for void
    arguments: list[FieldDef]
    throws: list[FieldDef]
    oneway: bool
    annotations: dict[str, str]
    line: int


@dataclass
class ServiceDef:
    name: str
    extends: str | None  # as written: `Base` or `included.Base`
    functions: list[FunctionDef]
    annotations: dict[str, str]
    line: int


Definition = StructDef | EnumDef | TypedefDef | ServiceDef


@dataclass
class Document:
    """One parsed file. ``name`` is the file's name without ``.thrift``: the prefix by
    which files including it name its definitions (``shared.Tag``)."""

    path: Path
    name: str
    includes: dict[str, "Document"] = field(default_factory=dict)  # by name
    namespaces: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    cpp_includes: list[str] = field(default_factory=list)
    types: dict[str, Definition] = field(default_factory=dict)  # typedefs, enums, structs, services
    consts: dict[str, ConstDef] = field(default_factory=dict)

    @property
    def services(self) -> dict[str, ServiceDef]:
        return {n: d for n, d in self.types.items() if isinstance(d, ServiceDef)}

    def qualified(self, name: str) -> list[tuple["Document", str]]:
        """``(included document, rest)`` for each file this one includes whose name
        prefixes ``name`` (``shared.Tag``; a file ``a.b.thrift`` is named ``a.b``)."""
        return [(doc, name[len(prefix) + 1:]) for prefix, doc in self.includes.items()
                if name.startswith(prefix + ".")]

    def error(self, line: int, message: str) -> IdlFileError:
        return IdlFileError(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


def load_documents(path: str | os.PathLike[str], include_dirs: Sequence[str | os.PathLike[str]] = ()) -> Document:
    """The document of ``path`` with every file it includes, recursively."""
    return _Loader([Path(d) for d in include_dirs]).load(Path(path), None)


class _Loader:
    def __init__(self, include_dirs: list[Path]) -> None:
        self._include_dirs = include_dirs
        self._done: dict[Path, Document] = {}  # by real path: a file included twice is one document
        self._open: list[Path] = []  # the include chain being read, to refuse a cycle

    def load(self, path: Path, included_from: tuple[Document, int] | None) -> Document:
        real = path.resolve()
        if real in self._done:
            return self._done[real]
        if real in self._open:
            assert included_from is not None
            raise included_from[0].error(included_from[1], f"include cycle through {path}")
        try:
            source = path.read_bytes()
        except OSError as err:
            where = f"{included_from[0].path}:{included_from[1]}: " if included_from else ""
            raise IdlFileError(f"{where}cannot read {path}: {err.strerror or err}") from None
        try:
            text = source.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
        except UnicodeDecodeError as err:
            raise IdlFileError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
        document = Document(path=path, name=path.name.rsplit(".", 1)[0] if "." in path.name else path.name)
        self._open.append(real)
        try:
            _Builder(document, self).build(_parse(text, path))
        finally:
            self._open.pop()
        self._done[real] = document
        return document

    def include(self, document: Document, literal: str, line: int) -> Document:
        """The file an ``include`` names: an absolute path as it is; otherwise relative
        to the including file's folder, then to each include folder in order (the
        compiler's ``-I``)."""
        if os.path.isabs(literal):
            candidates = [Path(literal)]
            searched = "(an absolute path)"
        else:
            folders = [document.path.parent, *self._include_dirs]
            candidates = [folder / literal for folder in folders]
            searched = "searched " + ", ".join(str(folder) for folder in folders)
        for candidate in candidates:
            if candidate.is_file():
                return self.load(candidate, (document, line))
        raise document.error(line, f'include "{literal}" not found ({searched})')


def _parse(text: str, path: Path) -> Tree:
    try:
        return parser().parse(text, on_error=None)
    except RemovedWord as err:
        raise IdlFileError(f"{path}:{err.line}: {err}") from None
    except UnexpectedInput as err:
        raise IdlFileError(_syntax_message(err, text, path)) from None


def _syntax_message(err: UnexpectedInput, text: str, path: Path) -> str:
    line = getattr(err, "line", 0) or 0
    if isinstance(err, UnexpectedToken) and err.token.type == "$END":
        return f"{path}: syntax error: unexpected end of file"
    if isinstance(err, UnexpectedToken):
        return f"{path}:{line}: syntax error at {str(err.token)!r}"
    if isinstance(err, UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        what = {"/": "an unterminated comment", '"': "an unterminated string", "'": "an unterminated string"}
        return f"{path}:{line}: syntax error: {what.get(char, f'unexpected character {char!r}')}"
    if isinstance(err, UnexpectedEOF):
        return f"{path}: syntax error: unexpected end of file"
    return f"{path}:{line}: syntax error"


def _tokens(tree: Tree, kind: str) -> list[Token]:
    return [c for c in tree.children if isinstance(c, Token) and c.type == kind]


def _subtree(tree: Tree, data: str) -> Tree | None:
    return next((c for c in tree.children if isinstance(c, Tree) and c.data == data), None)


class _Builder:
    """Turns one file's parse tree into its ``Document``, checking as the compiler does."""

    def __init__(self, document: Document, loader: _Loader) -> None:
        self.doc = document
        self.loader = loader

    def build(self, tree: Tree) -> None:
        for node in tree.children:
            assert isinstance(node, Tree)
            getattr(self, f"_{node.data}")(node)

    # Headers

    def _include(self, node: Tree) -> None:
        literal = _tokens(node, "LITERAL")[0]
        included = self.loader.include(self.doc, self._literal(literal), literal.line)
        self.doc.includes[included.name] = included

    def _cpp_include(self, node: Tree) -> None:
        self.doc.cpp_includes.append(self._literal(_tokens(node, "LITERAL")[0]))

    def _namespace(self, node: Tree) -> None:
        language, value = _tokens(node, "IDENTIFIER")
        self.doc.namespaces[str(language)] = (str(value), self._annotations(node))

    def _namespace_all(self, node: Tree) -> None:
        self.doc.namespaces["*"] = (str(_tokens(node, "IDENTIFIER")[0]), {})

    # Definitions

    def _name(self, node: Tree) -> Token:
        name = _tokens(node, "IDENTIFIER")[0]
        self._simple(name)
        return name

    def _simple(self, name: Token) -> None:
        if "." in name:
            raise self.doc.error(name.line, f"identifier {name} can't have a dot")

    def _define(self, definition: Definition) -> None:
        if definition.name in self.doc.types:
            raise self.doc.error(definition.line, f'type "{definition.name}" is already defined')
        self.doc.types[definition.name] = definition

    def _const(self, node: Tree) -> None:
        name = self._name(node)
        type_node, value_node = [c for c in node.children if isinstance(c, Tree)]
        self.doc.consts[str(name)] = ConstDef(str(name), self._type(type_node), self._value(value_node), name.line)

    def _typedef(self, node: Tree) -> None:
        name = self._name(node)
        type_node = next(c for c in node.children if isinstance(c, Tree) and c.data != "annotations")
        self._define(TypedefDef(str(name), self._type(type_node), self._annotations(node), name.line))

    def _enum(self, node: Tree) -> None:
        name = self._name(node)
        values: list[tuple[str, int, dict[str, str]]] = []
        seen: set[str] = set()
        last = -1
        for item in node.children:
            if not (isinstance(item, Tree) and item.data == "enum_value"):
                continue
            value_name = _tokens(item, "IDENTIFIER")[0]
            explicit = _subtree(item, "int_constant")
            if explicit is not None:
                value = self._int(explicit)
                if not _INT32[0] <= value <= _INT32[1]:
                    raise self.doc.error(value_name.line,
                                         f"64-bit value supplied for enum {value_name} will be truncated")
            else:
                self._simple(value_name)
                if last == _INT32[1]:
                    raise self.doc.error(value_name.line, f"enum value overflow at enum {value_name}")
                value = last + 1
            last = value
            if str(value_name) in seen:
                raise self.doc.error(value_name.line, f"enum {name} has {value_name} twice")
            seen.add(str(value_name))
            values.append((str(value_name), value, self._annotations(item)))
        self._define(EnumDef(str(name), values, self._annotations(node), name.line))

    def _struct(self, node: Tree, kind: str = "struct") -> None:
        name = self._name(node)
        fields = self._fields(node, in_arguments=False)
        if kind == "union":
            defaults = [f for f in fields if f.default is not None]
            if len(defaults) > 1:
                raise self.doc.error(defaults[1].line, f"field {defaults[1].name} provides another default value "
                                                       f"for union {name}")
            for f in fields:
                f.requiredness = "optional"  # union members are always optional (t_struct.h)
        self._define(StructDef(str(name), kind, fields, self._annotations(node), name.line))

    def _union(self, node: Tree) -> None:
        self._struct(node, "union")

    def _exception(self, node: Tree) -> None:
        self._struct(node, "exception")

    def _service(self, node: Tree) -> None:
        name = self._name(node)
        extends_node = _subtree(node, "extends")
        extends = None
        if extends_node is not None:
            parent = _tokens(extends_node, "IDENTIFIER")[0]
            if not isinstance(self._lookup(str(parent)), ServiceDef):
                raise self.doc.error(parent.line, f'service "{parent}" has not been defined')
            extends = str(parent)
        functions: list[FunctionDef] = []
        for item in node.children:
            if isinstance(item, Tree) and item.data == "function":
                function = self._function(item)
                if any(f.name == function.name for f in functions):
                    raise self.doc.error(function.line, f"function {function.name} is already defined in {name}")
                functions.append(function)
        self._define(ServiceDef(str(name), extends, functions, self._annotations(node), name.line))

    def _function(self, node: Tree) -> FunctionDef:
        name = self._name(node)
        oneway = _subtree(node, "oneway") is not None
        returns_node = next(c for c in node.children if isinstance(c, Tree) and c.data not in ("oneway",))
        returns = TypeExpr("void", line=name.line) if returns_node.data == "void" else self._type(returns_node)
        throws_node = _subtree(node, "throws")
        throws = self._fields(throws_node, in_arguments=True) if throws_node is not None else []
        if oneway and throws:
            raise self.doc.error(name.line, "oneway methods can't throw exceptions")
        return FunctionDef(str(name), returns, self._fields(node, in_arguments=True), throws, oneway,
                           self._annotations(node), name.line)

    def _fields(self, node: Tree, *, in_arguments: bool) -> list[FieldDef]:
        fields: list[FieldDef] = []
        next_implicit = -1
        for item in node.children:
            if not (isinstance(item, Tree) and item.data == "field"):
                continue
            name = self._name(item)
            id_node = _subtree(item, "field_id")
            explicit = self._int(id_node.children[0]) if id_node is not None else 0  # type: ignore[arg-type]
            if explicit > 0:
                field_id = explicit
            else:  # no id, or 0 or less: the compiler assigns the next negative one (and warns)
                field_id = next_implicit
                next_implicit -= 1
            requiredness_node = _subtree(item, "requiredness")
            written = str(requiredness_node.children[0]) if requiredness_node is not None else "default"
            # In an argument list the compiler ignores `optional` (with a warning); the
            # gateway keeps the mark: such an argument may be left out of an /rpc call.
            requiredness = "default" if in_arguments and written == "optional" else written
            type_node = next(c for c in item.children if isinstance(c, Tree)
                             and c.data not in ("field_id", "requiredness", "default", "annotations"))
            default_node = _subtree(item, "default")
            default = self._value(default_node.children[0]) if default_node is not None else None  # type: ignore[arg-type]
            if any(f.id == field_id or f.name == name for f in fields):
                raise self.doc.error(name.line, f'"{field_id}: {name}" - field identifier/name has already been used')
            fields.append(FieldDef(field_id, str(name), self._type(type_node), requiredness, default,
                                   self._annotations(item), name.line,
                                   optional_mark=in_arguments and written == "optional"))
        return fields

    # Pieces

    def _type(self, node: Tree) -> TypeExpr:
        annotations = self._annotations(node)
        if node.data == "named_type":
            token = node.children[0]
            assert isinstance(token, Token)
            return TypeExpr("named", str(token), line=token.line)
        if node.data == "base_type":
            base = _subtree(node, "base_name")
            assert base is not None
            token = base.children[0]
            assert isinstance(token, Token)
            kind = "i8" if token == "byte" else str(token)
            return TypeExpr(kind, annotations=annotations, line=token.line)
        inner = [self._type(c) for c in node.children if isinstance(c, Tree) and c.data != "annotations"]
        kind = node.data.removesuffix("_type")
        return TypeExpr(kind, args=tuple(inner), annotations=annotations, line=inner[0].line)

    def _annotations(self, node: Tree) -> dict[str, str]:
        found = _subtree(node, "annotations")
        annotations: dict[str, str] = {}
        for item in found.children if found is not None else ():
            assert isinstance(item, Tree)
            key, value = item.children[0], item.children[1]
            # A key without a value means "1", as in the compiler.
            annotations[str(key)] = self._literal(value) if isinstance(value, Token) else "1"
        return annotations

    def _value(self, node: Tree) -> ConstValue:
        if node.data == "int_constant":
            token = node.children[0]
            assert isinstance(token, Token)
            return ConstValue("int", self._int(node), token.line)
        if node.data in ("double", "literal", "identifier"):
            token = node.children[0]
            assert isinstance(token, Token)
            if node.data == "double":
                return ConstValue("double", float(token), token.line)
            if node.data == "literal":
                return ConstValue("string", self._literal(token), token.line)
            return ConstValue("identifier", str(token), token.line)
        items = [self._value(c) for c in node.children if isinstance(c, Tree)]
        line = items[0].line if items else 0
        if node.data == "const_list":
            return ConstValue("list", items, line)
        return ConstValue("map", list(zip(items[0::2], items[1::2])), line)

    def _int(self, node: Tree) -> int:
        token = node.children[0]
        assert isinstance(token, Token)
        if token.type == "TRUE":
            return 1
        if token.type == "FALSE":
            return 0
        text = str(token)
        value = int(text, 16) if "0x" in text else int(text)
        if not _INT64[0] <= value <= _INT64[1]:
            raise self.doc.error(token.line, f'this integer is too big: "{text}"')
        return value

    def _literal(self, token: Token) -> str:
        body = str(token)[1:-1]
        if "\\" not in body:
            return body
        out: list[str] = []
        chars = iter(body)
        for char in chars:
            if char == "\\":
                escaped = next(chars, "")
                if escaped not in _ESCAPES:
                    raise self.doc.error(token.line, "bad escape character")
                out.append(_ESCAPES[escaped])
            else:
                out.append(char)
        return "".join(out)

    def _lookup(self, name: str) -> Definition | None:
        """A definition as the compiler's scope finds it while parsing: this file's
        own, or ``included.Name`` from a file this one includes."""
        if name in self.doc.types:
            return self.doc.types[name]
        for included, rest in self.doc.qualified(name):
            if rest in included.types:
                return included.types[rest]
        return None
