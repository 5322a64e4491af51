"""The Calculator backend: ``python -m backends.calculator --host H --port P``."""

from __future__ import annotations

import argparse
import sys

from backends import cli
from thrift_idl.gen.calculator import Calculator
from thrift_idl.gen.calculator.constants import DIVISION_BY_ZERO, OVERFLOW
from thrift_idl.gen.calculator.ttypes import CalculatorError
from thrift_wire.integers import I64_MAX, I64_MIN


def _checked(result: int) -> int:
    # An out-of-range i64 would make the C encoder raise while writing the reply, outside
    # the processor's error handling, and the client would see a dropped connection.
    if not I64_MIN <= result <= I64_MAX:
        raise CalculatorError(code=OVERFLOW, message="result is outside the signed 64-bit range")
    return result


class CalculatorHandler:
    """Signed 64-bit arithmetic; every business error is a declared CalculatorError."""

    def ping(self) -> None:
        return None

    def add(self, a: int, b: int) -> int:
        return _checked(a + b)

    def subtract(self, a: int, b: int) -> int:
        return _checked(a - b)

    def multiply(self, a: int, b: int) -> int:
        return _checked(a * b)

    def divide(self, a: int, b: int) -> int:
        if b == 0:
            raise CalculatorError(code=DIVISION_BY_ZERO, message="division by zero")
        # Truncate toward zero as C does; Python's // floors instead.
        quotient = abs(a) // abs(b)
        return _checked(-quotient if (a < 0) != (b < 0) else quotient)


def build(args: argparse.Namespace) -> Calculator.Processor:
    return Calculator.Processor(CalculatorHandler())


if __name__ == "__main__":
    sys.exit(cli.main("calculator", 9090, build))
