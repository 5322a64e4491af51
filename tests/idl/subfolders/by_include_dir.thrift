/* Includes "base.thrift", which is not beside it: found only through an include folder
   (the compiler's -I, the gateway's GATEWAY_IDL_INCLUDE_DIRS) naming subfolders/parent. */
include "base.thrift"

namespace py idl_reader_by_include_dir

service Relay extends base.Parent {
  base.Note relay(1: base.Note note),
}
