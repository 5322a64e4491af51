#!/usr/bin/env bash
# `make backends` / `make stop`: both backends in the background, pid files and logs
# under var/. Ports come from CALCULATOR_PORT and CACHE_PORT (default 9090, 9091).
set -eu
cd "$(dirname "$0")/.."
mkdir -p var
declare -A ports=([calculator]="${CALCULATOR_PORT:-9090}" [cache]="${CACHE_PORT:-9091}")

running() { [ -f "var/$1.pid" ] && kill -0 "$(cat "var/$1.pid")" 2>/dev/null; }

start() {
    local name=$1
    if running "$name"; then echo "$name already running (pid $(cat "var/$name.pid"))"; return; fi
    .venv/bin/python -m "backends.$name" --port "${ports[$name]}" >"var/$name.log" 2>&1 &
    echo $! >"var/$name.pid"
    # Wait for the one line a backend prints once it accepts connections.
    for _ in $(seq 100); do
        if grep -q "listening on" "var/$name.log"; then grep "listening on" "var/$name.log"; return; fi
        if ! kill -0 "$(cat "var/$name.pid")" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "$name did not start; see var/$name.log:" >&2
    cat "var/$name.log" >&2
    exit 1
}

stop() {
    local name=$1 pid
    [ -f "var/$name.pid" ] || return 0
    pid=$(cat "var/$name.pid")
    if kill -TERM "$pid" 2>/dev/null; then
        # Backends finish the calls in flight, then exit; give them the drain time.
        for _ in $(seq 350); do
            kill -0 "$pid" 2>/dev/null || break
            # A zombie still answers kill -0; its state in /proc says it is gone.
            grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break
            sleep 0.1
        done
        echo "stopped $name (pid $pid)"
    fi
    rm -f "var/$name.pid"
}

case "${1:-}" in
    start) start calculator; start cache ;;
    stop) stop calculator; stop cache ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
