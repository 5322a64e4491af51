/**
 * Every construct Apache's compiler (0.17) accepts, for the run-time IDL reader
 * (gateway/idl): its tests compare what the reader makes of this file with the
 * compiler's own description (idl.xml) and with the code it generates (tests/gen).
 * Odd on purpose: separators, annotations, comments and literals in every place the
 * grammar allows them. (The compiler warns about some of it; it accepts all of it.)
 */
include "interop_base.thrift"

cpp_include "<vector>"
cpp_include '<map>'

# A hash comment; namespaces with dots, sub-namespaces and annotations.
namespace py tests.gen.everything
namespace py.twisted everything.twisted
namespace cpp.noexist everything   // a sub-namespace no generator knows: a warning only
namespace xsd test (uri = 'http://example.org/everything'; version = "2", flag)
namespace * everything.all

/* Typedefs: of a base type with annotations, of a container, of a typedef, of an included type. */
typedef i32 Count (note = "typedef annotation")
typedef string (kind = "name") Name
typedef list<Count> Counts;
typedef Counts MoreCounts,
typedef interop_base.Tag IncludedTag
typedef set<i64> (python.immutable = "") FrozenIds

const i32 HEX = 0x1F
const i64 NEGATIVE = -42;
const i64 BIG = 9007199254740993
const double RATIO = 1.5e3
const double NEAR_ZERO = -.25
const double WHOLE = 7
const string QUOTED = 'it\'s "quoted"\t\\'
const bool YES = true
const bool NO = false
const binary RAW = "raw\n"
const Count ALIAS = HEX
const list<string> WORDS = ["a", 'b'; "c"]
const set<i16> SMALL = [3, 1, 2]
const map<i32, string> BY_NUMBER = {3: "three", 1: "one", 2: "two"}
const map<string, list<i32>> NESTED = {"x": [1, 2] "y": []}

/** Implicit values count on from the last explicit one; hex, negative, annotated. */
enum Level {
  LOW,
  MIDDLE (note = "enum value annotation"),
  HIGH = 0x10;
  HIGHER
  NEGATIVE = -3,
  AFTER_NEGATIVE
} (enum_note = "annotated enum")

/* Constants of a type defined above (the compiler resolves a constant's type where it stands). */
const Level DEFAULT_LEVEL = Level.HIGH
const list<Level> LEVELS = [Level.LOW, Level.HIGH, 1]

enum Empty {}

struct Nothing {}

/* Field ids: explicit, missing (the compiler counts -1, -2, ...), 0 and negative (also auto-assigned). */
struct Implicit {
  string first
  0: i32 zero,
  -7: i64 negative;
  4: bool positive,
}

struct Key {
  1: required string name,
  2: i16 number = 1,
} (python.immutable = "")

struct Tree {
  1: string label = "root",
  2: list<Tree> children,
  3: optional Tree parent,
}

struct Everything xsd_all {
  1: required bool a_bool = true,
  2: byte a_byte = -1,
  3: i8 an_i8 = 0x7f,
  4: i16 an_i16 = -32768,
  5: i32 an_i32 = HEX,
  6: i64 an_i64 = BIG,
  7: double a_double = 1,
  8: double another_double = RATIO,
  9: string a_string = "a \"string\"",
  10: binary a_binary = "bytes",
  11: optional Level level = Level.MIDDLE,
  12: Count count = 3 (note = "field annotation"),
  13: Name name,
  14: Counts counts = [1, 2],
  15: MoreCounts more_counts,
  16: list<string> (python.immutable = "") frozen_list = ["x"],
  17: set<string> a_set = ["s"],
  18: set<binary> binaries = {},
  19: map<string, i32> (cpp.template = "std::unordered_map") a_map = {"b": 2, "a": 1},
  20: map<Level, list<set<i32>>> deep,
  21: map<Key, Tree> by_key,
  22: set<Key> keys,
  23: FrozenIds frozen_ids,
  24: IncludedTag tag = {"name": "included", "weight": 3},
  25: interop_base.Tag direct_tag,
  26: Key key = {"name": "k"},
  27: list<Later> later,
  28: optional Implicit implicit,
  29: map cpp_type "std::map<int, int>" <i32, i32> cpp_map,
  30: list<i32> cpp_type "std::vector<int>" cpp_list,
  31: set cpp_type "std::set<int>" <i32> cpp_set,
  32: string & reference (cpp.ref),
  33: optional string xsd_things xsd_optional xsd_nillable,
  34: map<string, Level> (python.immutable = "") frozen_map = {"m": Level.LOW, "a": Level.HIGH},
  36: map<string, map<i32, Level>> nested_map = {"n": {2: Level.LOW, 1: Level.HIGH}},
  35: Nothing nothing,
} (struct_note = "annotated struct"; second = 'two')

/* A struct used before it is defined (the compiler resolves it at the end). */
struct Later {
  1: i32 value;
}

union Choice {
  1: i32 number = 5,
  2: string text,
  3: required Key key,   // the compiler ignores (and warns about) requiredness in a union
  4: list<Tree> trees,
}

exception Failure {
  1: string message,
  2: Level level = Level.LOW,
  3: optional Key key,
} (code = "failure")

exception MutableFailure {
  1: string message,
} (python.immutable = "false")

service Base {
  void ping(),
  i32 count(1: list<i32> values) (api.get = "/count")
} (base_note)

service Showroom extends Base {
  Everything echo(1: Everything value) throws (1: Failure failure, 2: MutableFailure mutable);
  /** Defaults, an optional and a required argument, annotations on arguments. */
  Tree grow(1: required string label, 2: i32 depth = 2, 3: optional Level level (note = "arg"),
            4: list<Key> keys = [{"name": "a"}], 5: Choice choice) (api.post = "/grow", api.none)
  Choice choose(1: Choice choice),
  map<Key, Tree> index(1: set<Key> keys, 2: FrozenIds ids),
  binary raw(1: binary data, 2: byte small, 3: i8 tiny);
  oneway void notify(1: string message)
  async void fire(1: i32 times),
  Implicit implicit(1: Implicit value),
  Nothing nothing(1: Nothing value),
  IncludedTag tag(1: interop_base.Tag tag, 2: Count count, 3: Name name),
  Level level(1: Level level) throws (1: Failure failure),
} (service_note = "annotated service")

service Extended extends interop_base.BaseService {
  i32 extra(1: i32 value),
}
