/* A service extending one from a file in a subfolder (parent/base.thrift). */
include "parent/base.thrift"

namespace py idl_reader_child

struct Notes {
  1: list<base.Note> notes,
  2: map<base.Mood, i32> by_mood,
}

service Child extends base.Parent {
  Notes all(1: optional base.Mood mood) throws (1: base.Refused refused),
}
