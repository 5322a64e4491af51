#!/usr/bin/env bash
# `make run`: both backends and the gateway in the foreground. Ctrl-C, or any one of the
# three exiting, stops all three; the script returns once every one has exited.
set -u
cd "$(dirname "$0")/.."
bin=.venv/bin
pids=()

stop_all() {
    trap - INT TERM EXIT
    kill -TERM "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
}
trap stop_all INT TERM EXIT

"$bin/python" -m backends.calculator & pids+=($!)
"$bin/python" -m backends.cache & pids+=($!)
"$bin/gunicorn" -c gunicorn.conf.py gateway.wsgi:app & pids+=($!)
wait -n
