/*
 * Included by interop.thrift: a type and a service it extends, in another namespace.
 */
namespace py tests.gen.interop_base
namespace java org.example.interop.base

struct Tag {
  1: string name,
  2: optional i16 weight = 1,
}

service BaseService {
  /* Answers with its argument: a method the extending service inherits. */
  i32 baseEcho(1: i32 value),
}
