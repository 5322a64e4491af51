/*
 * REST routes designed in the IDL with CloudWeGo's (Kitex/Hertz) annotations: the
 * gateway's tests of every binding rule (tests/integration/test_rest_routes.py), served
 * by the thrift package's own server (tests/rest_server.py), whose handler logs what it
 * received. Written for our tests.
 */
namespace py tests.gen.rest

enum Role {
  READER = 1,
  WRITER = 2,
  ADMIN = 7,
}

struct User {
  1: i64 id,
  2: string name,
  3: Role role,
  4: list<string> tags,
  5: optional string etag (api.header = "ETag"),
  6: optional i32 status (api.http_code = ""),
  7: optional string secret (api.none = "true"),
  8: optional i64 big_id (api.js_conv = "true"),
}

exception UserNotFound {
  1: i64 id,
} (api.http_code = "404")

exception Conflict {
  1: string reason,
} (api.http_code = "409")

exception Refused {
  1: string reason,
}

struct GetUserRequest {
  1: required i64 id (api.path = "id"),
  2: optional list<string> fields (api.query = "fields"),
  3: optional string tenant (api.header = "X-Tenant"),
  4: optional string session (api.cookie = "session"),
  5: optional bool verbose,
  6: optional double weight,
}

struct CreateUserRequest {
  1: required string name,
  2: optional string display (api.body = "display_name"),
  3: Role role = Role.READER,
  4: optional list<string> tags,
  5: optional i64 big_id (api.js_conv = "true"),
  6: optional string tenant (api.header = "X-Tenant"),
}

struct Counter {
  1: i64 value (api.js_conv = "true"),
  2: i64 plain,
}

service Users {
  User getUser(1: GetUserRequest req) throws (1: UserNotFound missing) (api.get = "/v1/users/:id")
  User getMe() (api.get = "/v1/users/me")
  User createUser(1: CreateUserRequest req) throws (1: Conflict conflict, 2: Refused refused) (api.post = "/v1/users")
  void deleteUser(1: i64 id (api.path = "id")) throws (1: UserNotFound missing) (api.delete = "/v1/users/:id")
  list<User> listUsers(1: i32 limit = 10, 2: optional bool active, 3: optional Role role, 4: optional set<i16> shards) (api.get = "/v1/users")
  i64 renameUser(1: i64 id (api.path = "id"), 2: string name) (api.put = "/v1/users/:id/name")
  Counter bump(1: i64 by (api.js_conv = "true"), 2: i64 plain) (api.post = "/v1/counter")
  oneway void notify(1: string message) (api.post = "/v1/notify")
  string lookup(1: string path (api.path = "path")) (api.get = "/v1/files/*path")
  string plain(1: string text)
  string slow(1: i32 ms)
}
