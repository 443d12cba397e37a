#!/usr/bin/env bash
# VictoriaLogs: a real log server that accepts Loki's push API (JSON) at
# /insert/loki/api/v1/push and answers LogsQL at /select/logsql/query. The loki backend's
# tests push to it. Built once from the Go module proxy into ~/.cache/wafermon/bin.
#   victorialogs.sh start [PORT] [DIR] [USER:PASSWORD]   (default port 9428; with the third
#                                          argument every request needs that basic auth)
#   victorialogs.sh stop [PORT]
source "$(dirname "$0")/lib.sh"

NAME=victorialogs
VERSION=v1.52.1
BIN_DIR=${WAFERMON_BIN_DIR:-$HOME/.cache/wafermon/bin}
BIN=$BIN_DIR/victoria-logs
PORT=${2:-9428}

install() {
    [ -x "$BIN" ] && return 0
    mkdir -p "$BIN_DIR"
    # Tests start private instances in parallel: one builds, the others wait for it.
    exec 9>"$BIN_DIR/.victoria-logs.lock"
    flock 9
    if [ ! -x "$BIN" ]; then
        local go work
        go=$(command -v go || echo /usr/local/go/bin/go)
        [ -x "$go" ] || { say "the Go toolchain is needed to build VictoriaLogs"; return 1; }
        say "building VictoriaLogs $VERSION (about a minute)"
        work=$(mktemp -d)
        (cd "$work" && GOBIN="$BIN_DIR" GOFLAGS=-buildvcs=false \
            "$go" install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VERSION") >&2
        rm -rf "$work"
    fi
    exec 9>&-
}

start() {
    local dir=${3:-$SERVERS_STATE/$NAME-$PORT-data} auth=()
    if [ -n "${4:-}" ]; then
        auth=(-httpAuth.username "${4%%:*}" -httpAuth.password "${4#*:}")
    fi
    install
    if ! running "$NAME" "$PORT"; then
        mkdir -p "$dir"
        # Flush every second so a test reads what it pushed soon; keep old events (tests
        # write events of any age) instead of dropping them past the default 7 days.
        start_bg "$NAME" "$PORT" "$BIN" -httpListenAddr "127.0.0.1:$PORT" \
            -storageDataPath "$dir" -inmemoryDataFlushInterval 1s -retentionPeriod 100y \
            -loggerLevel WARN "${auth[@]}"
        wait_port "$NAME" "$PORT" 30
    fi
    echo "http://127.0.0.1:$PORT"
}

case "${1:-}" in
    start) start_lock "$NAME" "$PORT"; start "$@" ;;
    stop) stop_pid "$NAME" "$PORT" ;;
    *) echo "usage: $0 start [PORT] [DIR] [USER:PASSWORD] | stop [PORT]" >&2; exit 2 ;;
esac
