/*
 * The gateway's interop test service: the ground Apache Thrift's cross-language test
 * service covers (every base type, typedefs, constants, enums with explicit values,
 * nested containers, maps with struct and enum keys, unions, defaults, declared
 * exceptions, oneway, a second service beside the first), written for our tests and
 * served by the thrift package's own server classes (tests/interop_server.py).
 * It uses on purpose what a parser less complete than the compiler refuses:
 * annotations on a namespace line, on types, fields, enum values and services,
 * cpp_include, other languages' namespaces, include and extends.
 */
include "interop_base.thrift"

cpp_include "<unordered_map>"

namespace py tests.gen.interop
namespace cpp interop.test
namespace java org.example.interop
namespace xsd test (uri = 'http://example.org/interop', version = "1")
namespace * interop

const i32 ANSWER = 42
const string GREETING = "hello"
const map<string, i16> LIMITS = {"low": 1, "high": 9}
const list<i64> PRIMES = [2, 3, 5, 7]

typedef i64 UserId (note = "a typedef with an annotation")
typedef map<string, UserId> Directory
typedef list<interop_base.Tag> Tags

enum Numberz {
  ONE = 1,
  TWO,
  THREE,
  FIVE = 5 (note = "explicit"),
  SIX,
  EIGHT = 0x8,
} (enum_note = "annotated enum")

/* Immutable, so that it can be a map key and a set element in Python. */
struct Key {
  1: string name,
  2: i32 number,
} (python.immutable = "")

struct Xtruct {
  1: string string_thing (note = "annotated field"),
  4: byte byte_thing,
  9: i32 i32_thing,
  11: i64 i64_thing,
}

struct Xtruct2 {
  1: byte byte_thing,
  2: Xtruct struct_thing,
  3: i32 i32_thing,
}

struct Insanity {
  1: map<Numberz, UserId> userMap,
  2: list<Xtruct> xtructs,
} (struct_note = "annotated struct")

struct AllTypes {
  1: bool a_bool,
  2: i8 an_i8,
  3: i16 an_i16,
  4: i32 an_i32,
  5: i64 an_i64,
  6: double a_double,
  7: string a_string,
  8: binary a_binary,
  9: Numberz an_enum,
  10: UserId a_typedef,
  11: list<string> a_list,
  12: set<i32> a_set,
  13: map<string, bool> a_map,
  14: optional AllTypes nested,
}

struct Defaults {
  1: i32 number = 7,
  2: string text = "seven",
  3: list<i32> numbers = [1, 2, 3],
  4: map<string, i32> counts = {"a": 1},
  5: Numberz level = Numberz.FIVE,
  6: optional double ratio = 0.5,
  7: required bool flag,
  8: Xtruct thing = {"string_thing": "default", "i32_thing": 3},
}

union Choice {
  1: i32 number,
  2: string text,
  3: Xtruct xtruct,
  4: list<Numberz> levels,
}

exception Xception {
  1: i32 errorCode,
  2: string message,
}

exception Xception2 {
  1: i32 errorCode,
  2: Xtruct struct_thing,
}

service Interop extends interop_base.BaseService {
  void testVoid(),
  string testString(1: string thing),
  bool testBool(1: bool thing),
  byte testByte(1: byte thing),
  i16 testI16(1: i16 thing),
  i32 testI32(1: i32 thing),
  i64 testI64(1: i64 thing),
  double testDouble(1: double thing),
  binary testBinary(1: binary thing),
  Xtruct testStruct(1: Xtruct thing),
  Xtruct2 testNest(1: Xtruct2 thing),
  AllTypes testAllTypes(1: AllTypes thing),
  map<i32, i32> testMap(1: map<i32, i32> thing),
  map<string, string> testStringMap(1: map<string, string> thing),
  set<i32> testSet(1: set<i32> thing),
  list<i32> testList(1: list<i32> thing),
  Numberz testEnum(1: Numberz thing),
  UserId testTypedef(1: UserId thing),
  Directory testDirectory(1: Directory thing),
  Tags testTags(1: Tags thing),
  /* {hello: {1: 1, ..., hello: hello}}: a map of maps made by the server. */
  map<i32, map<i32, i32>> testMapMap(1: i32 hello),
  /* Maps with enum keys (inside) and typedef keys (outside). */
  map<UserId, map<Numberz, Insanity>> testInsanity(1: Insanity argument),
  /* A map with struct keys, and a set of structs. */
  map<Key, list<Numberz>> testStructKeys(1: map<Key, list<Numberz>> thing),
  set<Key> testKeySet(1: set<Key> thing),
  Choice testUnion(1: Choice thing),
  Defaults testDefaults(1: Defaults thing),
  Xtruct testMulti(1: byte arg0, 2: i32 arg1, 3: i64 arg2, 4: map<i16, string> arg3, 5: Numberz arg4,
                   6: UserId arg5 = 6, 7: string arg6),
  /* "thing count": count may be left out (the server then sees None), thing may not. */
  string testOptional(1: string thing, 2: optional i32 count (note = "a (paren) // not a comment")),
  /* Raises Xception when arg is "Xception", a TApplicationException for "TException". */
  void testException(1: string arg) throws (1: Xception err1),
  Xtruct testMultiException(1: string arg0, 2: string arg1) throws (1: Xception err1, 2: Xception2 err2),
  /* Remembers value; lastOneway() tells it. */
  oneway void testOneway(1: i32 value),
  i32 lastOneway(),
} (service_note = "annotated service")

/* A second service, multiplexed beside the first on one server. */
service SecondService {
  string secondtestString(1: string thing),
}
