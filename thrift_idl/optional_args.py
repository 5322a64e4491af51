"""The ``optional`` marks that Apache's compiler drops from argument lists.

``void put(1: string key, 3: optional i32 ttl_seconds)`` compiles with the warning
"optional keyword is ignored in argument lists", and neither the generated code nor the
compiler's own XML description keeps the word. The gateway needs it: an argument the IDL
marks optional may be left out of an ``/rpc`` body, any other one may not (a handler
written for ``add(a, b)`` is not ready for a missing ``a``). So ``make idl`` reads the
marks from the IDL source here and writes them into ``idl.xml`` as
``required="optional"``, the attribute the compiler writes for optional struct fields.

This is a scan, not a parser: the compiler has already accepted the file, so only
comments and literals need care. It finds each service's function argument lists and
the field ids in them declared ``N: optional``; an argument with no field id cannot be
named this way and stays required (the compiler warns about those too).
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

NS = "http://thrift.apache.org/xml/idl"
# Literals first, so that a "//" or "#" inside a string is not taken for a comment.
_NOISE = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*|#[^\n]*|/\*.*?\*/', re.S)
_SERVICE = re.compile(r"\bservice\s+(\w+)\s*(?:extends\s+[\w.]+\s*)?\{")
_NAME_THEN_PAREN = re.compile(r"(\w+)\s*\(")
_OPTIONAL_ID = re.compile(r"(?<![\w.])(-?\d+)\s*:\s*optional\b")


def _blank(match: re.Match[str]) -> str:
    # Keep literals as empty ones (a default value stays a value) and comments as a space.
    text = match.group(0)
    return text[0] * 2 if text[0] in "\"'" else " "


def _closing(text: str, start: int, opening: str, closing: str) -> int:
    """The index just past the bracket that closes the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def optional_arguments(source: str) -> dict[tuple[str, str], set[int]]:
    """``{(service, function): {field id, ...}}`` of the arguments declared ``optional``."""
    text = _NOISE.sub(_blank, source)
    found: dict[tuple[str, str], set[int]] = {}
    for service in _SERVICE.finditer(text):
        body_end = _closing(text, service.end() - 1, "{", "}")
        at = service.end()
        while (match := _NAME_THEN_PAREN.search(text, at, body_end)) is not None:
            group_end = _closing(text, match.end() - 1, "(", ")")
            # A "throws (...)" list and a type's annotations are parenthesised too; only
            # a function's own argument list follows its name, and neither holds
            # "N: optional" - exceptions cannot be optional, annotations are literals.
            if match.group(1) != "throws":
                ids = {int(m.group(1)) for m in _OPTIONAL_ID.finditer(text, match.end(), group_end)}
                if ids:
                    found[(service.group(1), match.group(1))] = ids
            at = group_end
    return found


def mark(description: ElementTree.Element, document: str, marks: dict[tuple[str, str], set[int]]) -> int:
    """Set ``required="optional"`` on the marked arguments of ``document``; how many were set."""
    marked = 0
    for doc in description.iter(f"{{{NS}}}document"):
        if doc.get("name") != document:
            continue
        for service in doc.iter(f"{{{NS}}}service"):
            for method in service.iter(f"{{{NS}}}method"):
                ids = marks.get((service.get("name", ""), method.get("name", "")), set())
                for arg in method.iter(f"{{{NS}}}arg"):
                    if int(arg.get("field-id", "0")) in ids:
                        arg.set("required", "optional")
                        marked += 1
    return marked
