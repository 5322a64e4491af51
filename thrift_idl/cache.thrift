/*
 * Cache: a bounded key/value store with optional expiry.
 *
 * Keys follow memcached's rule: 1 to MAX_KEY_BYTES bytes of UTF-8 with no whitespace
 * or control characters. Values are opaque bytes of at most MAX_VALUE_BYTES.
 * Entries live in the backend's memory, or in Redis (`--store redis://...`).
 */
namespace py thrift_idl.gen.cache

const i32 MAX_KEY_BYTES = 250
const i32 MAX_VALUE_BYTES = 1048576
/* 30 days, memcached's limit for a relative expiry. */
const i32 MAX_TTL_SECONDS = 2592000

exception NotFound {
  1: string key,
}

exception InvalidKey {
  1: string key,
  2: string reason,
}

exception TooLarge {
  1: i64 size,
  2: i64 limit,
}

exception InvalidTtl {
  1: i32 ttl_seconds,
  2: string reason,
}

/* The store behind the cache (Redis, when configured) cannot be reached. */
exception StoreUnavailable {
  1: string reason,
}

struct CacheStats {
  1: i64 items,
  2: i64 bytes,
  3: i64 max_bytes,
  4: i64 hits,
  5: i64 misses,
  6: i64 evictions,
  7: i64 expirations,
}

/* "set" and "delete" are reserved words in Thrift IDL, hence put and remove. */
service Cache {
  /* Answers when the cache can serve: with Redis as its store, only while Redis answers. */
  void ping() throws (1: StoreUnavailable unavailable),

  binary get(1: string key)
    throws (1: NotFound not_found, 2: InvalidKey invalid_key, 3: StoreUnavailable unavailable),

  /* ttl_seconds absent means no expiry. The compiler warns that it ignores "optional"
     here; make idl keeps it for the gateway, which then lets /rpc leave it out. */
  void put(1: string key, 2: binary value, 3: optional i32 ttl_seconds)
    throws (1: InvalidKey invalid_key, 2: TooLarge too_large, 3: InvalidTtl invalid_ttl,
            4: StoreUnavailable unavailable),

  void remove(1: string key)
    throws (1: NotFound not_found, 2: InvalidKey invalid_key, 3: StoreUnavailable unavailable),

  CacheStats stats() throws (1: StoreUnavailable unavailable),
}
