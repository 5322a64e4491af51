"""Turning untrusted HTTP input into checked values, or a clear 400/413.

Every function raises a ``GatewayError`` naming what was wrong; nothing reaches a
backend before it has passed through here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, BinaryIO, Mapping

from gateway.config import MAX_BODY_BYTES
from gateway.errors import InvalidArgument, InvalidJson, InvalidKey, PayloadTooLarge
from gateway.http.json_text import compact_encoder
from thrift_idl.cache_rules import MAX_VALUE_BYTES, key_problem, ttl_problem
from thrift_wire.integers import I64_MAX, I64_MIN

OPERATIONS = ("add", "subtract", "multiply", "divide")

# Python's int() also takes "+5", "1_000", " 5" and non-ASCII digits; a path integer
# is an optional minus and ASCII digits only - at most 20, which bounds int()'s work.
_PATH_INT = re.compile(r"-?[0-9]+", re.ASCII)
_MAX_DIGITS = 20


def read_body(environ: Mapping[str, Any], content_length: int | None) -> bytes:
    """The raw request body, refusing more than MAX_BODY_BYTES.

    With a Content-Length the check happens before reading. A chunked body is read one
    byte past the limit, so an oversized body is told apart from one that fits exactly.
    """
    if content_length is not None and content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body of {content_length} bytes exceeds {MAX_BODY_BYTES}")
    stream: BinaryIO = environ["wsgi.input"]
    body = stream.read(MAX_BODY_BYTES + 1 if content_length is None else content_length)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body exceeds {MAX_BODY_BYTES} bytes")
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: JSON allows it, a double cannot hold it
        raise ValueError(f"the number {text[:40]} does not fit a double")
    return value


# json.loads() with any option builds a new decoder per call; this one is made once. It
# refuses what the gateway could not write back as JSON: NaN, Infinity, 1e400.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


# The stored form of a cache value: compact, as UTF-8 rather than \u escapes.
_encode_value = compact_encoder(ensure_ascii=False)


_scan = _DECODER.scan_once
_skip_space = json.decoder.WHITESPACE.match  # type: ignore[attr-defined]


def strict_json(text: str) -> Any:
    """``text`` parsed as JSON with the same strictness as a request body; raises
    ValueError or RecursionError (a value nested deeper than the decoder's stack)."""
    # JSONDecoder.decode's steps, without its two Python calls around the scanner.
    try:
        value, end = _scan(text, _skip_space(text, 0).end())
    except StopIteration as err:
        raise json.JSONDecodeError("Expecting value", text, err.value) from None
    end = _skip_space(text, end).end()
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def json_object(body: bytes) -> dict[str, Any]:
    """``body`` parsed as a JSON object, whatever the Content-Type said."""
    try:
        # As json.loads() reads bytes: UTF-8, -16 or -32, told apart by the first bytes -
        # an object starting "{" and then not a zero byte is UTF-8 (json.detect_encoding's
        # answer, without its call).
        utf8 = body[:1] == b"{" and body[1:2] != b"\x00"
        value = strict_json(body.decode("utf-8" if utf8 else json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidJson(f"body is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidJson(f"body must be a JSON object, not {type(value).__name__}")
    return value


def _in_i64(name: str, value: int) -> int:
    if not I64_MIN <= value <= I64_MAX:
        raise InvalidArgument(f"{name} is outside the signed 64-bit range")
    return value


def path_int(name: str, text: str) -> int:
    """A signed 64-bit integer from a path segment."""
    if _PATH_INT.fullmatch(text) is None:
        raise InvalidArgument(f"{name} must be an integer, got {text[:40]!r}")
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise InvalidArgument(f"{name} is outside the signed 64-bit range")
    return _in_i64(name, int(text))


def json_int(body: Mapping[str, Any], name: str) -> int:
    """A required signed 64-bit integer member; booleans and floats are refused."""
    if name not in body:
        raise InvalidArgument(f"{name} is required")
    value = body[name]
    if type(value) is not int:  # bool is an int subclass; 2.0 is a float
        raise InvalidArgument(f"{name} must be a JSON integer, got {json.dumps(value)[:40]}")
    return _in_i64(name, value)


def operation(text: Any) -> str:
    if text not in OPERATIONS:
        raise InvalidArgument(f"op must be one of {', '.join(OPERATIONS)}, got {json.dumps(text)[:40]}")
    return text


def cache_key(key: str, raw_path: str) -> str:
    """A key from the URL, checked against the key rules.

    Werkzeug turns invalid UTF-8 in the path into U+FFFD; the raw WSGI path (bytes as
    latin-1) tells a real U+FFFD from bytes that were not UTF-8 at all.
    """
    if "\ufffd" in key:
        try:
            raw_path.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise InvalidKey("key is not valid UTF-8") from None
    return checked_key(key)


def checked_key(key: Any) -> str:
    if not isinstance(key, str):
        raise InvalidKey(f"key must be a string, got {json.dumps(key)[:40]}")
    problem = key_problem(key)
    if problem is not None:
        raise InvalidKey(problem)
    return key


def ttl(body: Mapping[str, Any]) -> int | None:
    """The optional ``ttl`` member: whole seconds, or None for no expiry."""
    value = body.get("ttl")
    if value is None:
        return None
    if type(value) is not int:
        raise InvalidArgument(f"ttl must be a whole number of seconds, got {json.dumps(value)[:40]}")
    problem = ttl_problem(value)
    if problem is not None:
        raise InvalidArgument(problem)
    return value


def encoded_value(body: Mapping[str, Any]) -> bytes:
    """The required ``value`` member as its compact JSON encoding, within the size limit."""
    if "value" not in body:
        raise InvalidArgument("value is required")
    try:
        encoded = _encode_value(body["value"]).encode("utf-8")
    except UnicodeEncodeError:
        # "\ud800" is valid JSON syntax, but a lone surrogate is not a character: it has
        # no UTF-8, and the value could not be stored or answered.
        raise InvalidArgument("value holds a string with a lone surrogate (like \\ud800), which is not Unicode") from None
    if len(encoded) > MAX_VALUE_BYTES:
        raise PayloadTooLarge(f"value is {len(encoded)} bytes of compact JSON; the limit is {MAX_VALUE_BYTES}")
    return encoded
