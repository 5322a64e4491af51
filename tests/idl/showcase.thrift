/*
 * A test-only service for the JSON transcoder: every kind of Thrift type, nested.
 * tests/showcase_backend.py serves it; its code is generated into tests/gen.
 */
namespace py tests.gen.showcase

enum Color {
  RED = 1,
  GREEN = 2,
  BLUE = 7,
}

typedef i64 Id

struct Point {
  1: required i32 x,
  2: optional i32 y = 5,
  3: Color color = Color.GREEN,
  4: string label = "origin",
}

union Shape {
  1: Point point,
  2: string name,
  3: list<Point> polygon,
}

struct Everything {
  1: bool flag,
  2: byte tiny,
  3: i16 small,
  4: i32 medium,
  5: i64 large,
  6: double real,
  7: string text,
  8: binary blob,
  9: Color color,
  10: Point point,
  11: Shape shape,
  12: list<i32> numbers,
  13: set<string> tags,
  14: map<string, Id> ids,
  15: map<i32, Color> colors_by_number,
  16: list<list<Point>> grid,
  17: map<string, list<set<i16>>> nested,
  18: optional Everything child,
  19: map<Color, list<string>> by_color,
  20: list<binary> blobs,
}

exception Refused {
  1: string reason,
  2: i32 level,
  3: optional Point where,
}

service Showcase {
  /* Answers with what it was given. */
  Everything echo(1: Everything value),
  Point move(1: required Point p, 2: i32 dx, 3: i32 dy = 1),
  Shape reshape(1: Shape shape),
  /* Raises Refused with the given reason and level. */
  void refuse(1: string reason, 2: i32 level) throws (1: Refused refused),
  Color mix(1: Color a, 2: Color b),
  oneway void notify(1: string message),
  /* The messages notify() has received, oldest first. */
  list<string> notifications(),
}
