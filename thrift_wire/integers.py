"""The ranges of Thrift's integer types, which every side range-checks against."""

from __future__ import annotations

INT_BITS = {"byte": 8, "i8": 8, "i16": 16, "i32": 32, "i64": 64}
I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1


def int_range(kind: str) -> tuple[int, int]:
    """The least and greatest value of the integer type ``kind`` (``i32``, ...)."""
    bits = INT_BITS[kind]
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
