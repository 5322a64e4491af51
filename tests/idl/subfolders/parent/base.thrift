/*
 * Included from a subfolder by ../child.thrift (and found through an include folder by
 * ../by_include_dir.thrift): a service the including file extends, and types it uses.
 * The run-time IDL reader's tests compile these with Apache's compiler at test time.
 */
namespace py idl_reader_base

enum Mood {
  CALM = 1,
  ANGRY = 2,
}

struct Note {
  1: string text,
  2: Mood mood = Mood.CALM,
}

exception Refused {
  1: string why,
}

service Parent {
  Note remember(1: Note note) throws (1: Refused refused),
  oneway void forget(1: string text),
}
