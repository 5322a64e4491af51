"""The cache's key, value and TTL rules, shared by the gateway and the Cache backend.

The limits themselves are constants in ``cache.thrift``; this module says how to apply
them, so the gateway can refuse bad input with a clear message before any network call
and the backend still protects itself from other clients.
"""

from __future__ import annotations

import unicodedata

from thrift_idl.gen.cache.constants import MAX_KEY_BYTES, MAX_TTL_SECONDS, MAX_VALUE_BYTES

__all__ = ["MAX_KEY_BYTES", "MAX_TTL_SECONDS", "MAX_VALUE_BYTES", "key_problem", "ttl_problem"]


def key_problem(key: str) -> str | None:
    """Why ``key`` breaks memcached's key rule, or None when it is a valid key."""
    size = len(key.encode("utf-8", "surrogatepass"))
    if size == 0:
        return "key is empty"
    if size > MAX_KEY_BYTES:
        return f"key is {size} bytes of UTF-8; the limit is {MAX_KEY_BYTES}"
    # The usual key, printable ASCII without a space, passes in two calls into C: in
    # ASCII the control characters are exactly the unprintable ones, and every
    # whitespace character but the space is one of them.
    if key.isascii() and key.isprintable() and " " not in key:
        return None
    for char in key:
        # Cc: control characters; Cs: lone surrogates, which are not valid UTF-8.
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cs"):
            return f"key contains a whitespace or control character (U+{ord(char):04X})"
    return None


def ttl_problem(ttl_seconds: int) -> str | None:
    """Why ``ttl_seconds`` is not an acceptable expiry, or None when it is."""
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        return f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds"
    return None
