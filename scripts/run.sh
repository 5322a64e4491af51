#!/usr/bin/env bash
# `make run`: both backends and the gateway in the foreground. Ctrl-C, or any one of the
# three exiting, stops all three; the script returns once every one has exited.
# Ports: CALCULATOR_PORT (9090), CACHE_PORT (9091), GATEWAY_BIND (127.0.0.1:8000).
# The cache's snapshot: CACHE_SNAPSHOT (var/cache.snapshot), written on Ctrl-C and every
# SNAPSHOT_INTERVAL_S seconds (5), so a crash (kill -9) loses at most that much.
set -u
cd "$(dirname "$0")/.."
bin=.venv/bin
calculator_port=${CALCULATOR_PORT:-9090}
cache_port=${CACHE_PORT:-9091}
export GATEWAY_CALCULATOR_ADDRS=${GATEWAY_CALCULATOR_ADDRS:-127.0.0.1:$calculator_port}
export GATEWAY_CACHE_ADDRS=${GATEWAY_CACHE_ADDRS:-127.0.0.1:$cache_port}
pids=()

stop_all() {
    trap - INT TERM EXIT
    kill -TERM "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
}
# Ctrl-C or SIGTERM is the stop a user asked for: once all three have exited, exit 0
# (not 130, which reads as a failure). The three run as background jobs of a script, so
# they ignore the terminal's SIGINT until they install handlers of their own: the TERM
# sent here reaches each of them, whatever it is doing.
stop_on_request() {
    stop_all
    exit 0
}
trap stop_on_request INT TERM
trap stop_all EXIT

"$bin/python" -m backends.calculator --port "$calculator_port" --log-calls & pids+=($!)
# The cache's entries survive Ctrl-C: written on the way out, loaded on the way in - and
# every few seconds, so that a crash loses only the last few seconds.
snapshot=${CACHE_SNAPSHOT:-var/cache.snapshot}
mkdir -p "$(dirname "$snapshot")"
"$bin/python" -m backends.cache --port "$cache_port" --snapshot "$snapshot" \
    --snapshot-interval "${SNAPSHOT_INTERVAL_S:-5}" --log-calls & pids+=($!)
"$bin/gunicorn" -c gunicorn.conf.py gateway.wsgi:app & pids+=($!)
# One of the three exited by itself (a port in use, a crash): stop the others and exit
# with its status.
wait -n
status=$?
stop_all
exit "$status"
