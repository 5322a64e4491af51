#!/usr/bin/env bash
# `make backends [N=3] [CACHE_STORE=redis://...]` / `make stop`: N instances of each
# backend in the background, pid files and logs under var/. Ports: the calculator's from CALCULATOR_PORT (9090), the
# cache's from CACHE_PORT (9091), further instances 2 ports apart (9092, 9093, ...).
set -eu
cd "$(dirname "$0")/.."
mkdir -p var
count=${N:-1}
calculator_port=${CALCULATOR_PORT:-9090}
cache_port=${CACHE_PORT:-9091}

alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

start() {
    local name=$1 port=$2 id="$1-$2"
    if [ -f "var/$id.pid" ] && alive "$(cat "var/$id.pid")"; then
        echo "$name already running on $port (pid $(cat "var/$id.pid"))"; return
    fi
    local args=(--port "$port")
    if [ "$name" = cache ] && [ -n "${CACHE_STORE:-}" ]; then args+=(--store "$CACHE_STORE"); fi
    .venv/bin/python -m "backends.$name" "${args[@]}" >"var/$id.log" 2>&1 &
    echo $! >"var/$id.pid"
    # Wait for the one line a backend prints once it accepts connections.
    for _ in $(seq 100); do
        if grep -q "listening on" "var/$id.log"; then grep "listening on" "var/$id.log"; return; fi
        alive "$(cat "var/$id.pid")" || break
        sleep 0.1
    done
    echo "$name did not start; see var/$id.log:" >&2
    cat "var/$id.log" >&2
    exit 1
}

stop_one() {
    local pidfile=$1 pid
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        # Backends finish the calls in flight, then exit; give them the drain time.
        for _ in $(seq 350); do alive "$pid" || break; sleep 0.1; done
        echo "stopped $(basename "$pidfile" .pid) (pid $pid)"
    fi
    rm -f "$pidfile"
}

case "${1:-}" in
    start)
        calc=() cache=()
        for i in $(seq 0 $((count - 1))); do
            start calculator $((calculator_port + 2 * i)); calc+=("127.0.0.1:$((calculator_port + 2 * i))")
            start cache $((cache_port + 2 * i)); cache+=("127.0.0.1:$((cache_port + 2 * i))")
        done
        if [ "$count" -gt 1 ]; then
            echo "for the gateway:"
            echo "  export GATEWAY_CALCULATOR_ADDRS=$(IFS=,; echo "${calc[*]}")"
            echo "  export GATEWAY_CACHE_ADDRS=$(IFS=,; echo "${cache[*]}")"
        fi
        ;;
    stop)
        for pidfile in var/*.pid; do [ -e "$pidfile" ] && stop_one "$pidfile"; done; true ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
