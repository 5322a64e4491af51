#!/usr/bin/env bash
# `make idl` needs Debian's thrift-compiler (0.17); install it when missing and root.
set -eu
command -v thrift >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq thrift-compiler >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq thrift-compiler >/dev/null; }
else
    echo "the thrift compiler is missing: sudo apt-get install thrift-compiler" >&2
    exit 1
fi
