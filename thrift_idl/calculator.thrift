/*
 * Calculator: signed 64-bit integer arithmetic.
 *
 * Every result must fit in an i64; the handler checks the range itself, because a
 * value outside it would make the binary encoder fail while writing the reply.
 */
namespace py thrift_idl.gen.calculator

/* Stable, snake_case codes a client can branch on. */
const string DIVISION_BY_ZERO = "division_by_zero"
const string OVERFLOW = "overflow"

exception CalculatorError {
  1: string code,
  2: string message,
}

service Calculator {
  /* Liveness probe: answers with nothing. */
  void ping(),

  i64 add(1: i64 a, 2: i64 b) throws (1: CalculatorError error),
  i64 subtract(1: i64 a, 2: i64 b) throws (1: CalculatorError error),
  i64 multiply(1: i64 a, 2: i64 b) throws (1: CalculatorError error),
  /* Quotient truncated toward zero, as in C (-7 / 2 == -3). */
  i64 divide(1: i64 a, 2: i64 b) throws (1: CalculatorError error),
}
