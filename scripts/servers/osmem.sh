#!/usr/bin/env bash
# osmem-server: an OpenSearch-compatible server (from PyPI) for the `elasticsearch` backend's tests.
#   osmem.sh start [PORT] [DIR]   default port 9200; prints the URL last
#   osmem.sh stop [PORT]
# osmem keeps everything in memory: DIR is accepted for the common interface and ignored, so
# a restarted instance starts empty.
source "$(dirname "$0")/lib.sh"

NAME=osmem
PORT=${2:-9200}

# The package ships its binary inside the Python module, not as a console script, so ask
# the module where it is (installing the package first if needed).
binary() {
    local python="$SERVERS_VENV/bin/python" path
    if [ -x "$python" ]; then
        path=$("$python" -c 'import osmem_server; print(osmem_server.resolve_binary())' \
            2>/dev/null) && [ -x "$path" ] && { echo "$path"; return 0; }
    fi
    pip_tool osmem-server osmem-server >/dev/null
    "$SERVERS_VENV/bin/python" -c 'import osmem_server; print(osmem_server.resolve_binary())'
}

# Ready once the root answers with its version.
wait_ready() {
    local i
    for i in $(seq 1 40); do
        curl -fsS --noproxy '*' "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    say "osmem-server on port $PORT does not answer HTTP"
    return 1
}

case "${1:-}" in
start)
    start_lock "$NAME" "$PORT"
    if ! running "$NAME" "$PORT"; then
        bin=$(binary)
        start_bg "$NAME" "$PORT" "$bin" -addr "127.0.0.1:$PORT" -no-stdin-watch -no-ja
        wait_port "$NAME" "$PORT" 20
    fi
    wait_ready
    echo "http://127.0.0.1:$PORT"
    ;;
stop)
    stop_pid "$NAME" "$PORT"
    ;;
*)
    echo "usage: $0 start [PORT] [DIR] | stop [PORT]" >&2
    exit 2
    ;;
esac
