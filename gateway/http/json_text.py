"""Compact JSON text, from an encoder made once.

``json.dumps`` with any argument of its own builds a ``JSONEncoder`` per call, and even a
``JSONEncoder`` made once goes through ``encode`` and ``iterencode``, which build the C
encoder anew on every call (about 0.6 µs of 1 in a hot loop, two to three times that in
a worker under load). Here the C encoder is made once and called directly.
"""

from __future__ import annotations

import json
from json import encoder as _encoder
from typing import Any, Callable

_make = getattr(_encoder, "c_make_encoder", None)  # absent only where _json is not built


def compact_encoder(*, ensure_ascii: bool = True, default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """A function from a value to its compact JSON text (``","`` and ``":"`` with no
    spaces, keys in their order), refusing NaN and the infinities (ValueError), calling
    ``default`` for what JSON has no type for (TypeError without one)."""
    fallback = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=ensure_ascii, default=default)
    if _make is None:
        return fallback.encode
    # No circular-reference markers (a dict of ids per call): the values answered are
    # built from parsed JSON and Thrift values, never cyclic; a cycle would still end,
    # in RecursionError rather than ValueError.
    encode = _make(None, fallback.default, _encoder.encode_basestring_ascii if ensure_ascii
                   else _encoder.encode_basestring, None, ":", ",", False, False, False)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps
