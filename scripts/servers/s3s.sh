#!/usr/bin/env bash
# s3s-fs: an S3 server over a folder that checks SigV4 signatures, for the s3 backend's
# credential tests. Keys: WAFERMON_S3S_ACCESS_KEY / WAFERMON_S3S_SECRET_KEY (defaults below).
# Each top-level folder of DIR is a bucket; `start` makes the bucket "wafermon".
#   s3s.sh start [PORT] [DIR]    (default port 8014)   s3s.sh stop [PORT]
source "$(dirname "$0")/lib.sh"

NAME=s3s
DEFAULT_PORT=8014
VERSION=0.14.1
ACCESS_KEY=${WAFERMON_S3S_ACCESS_KEY:-wafermon-key}
SECRET_KEY=${WAFERMON_S3S_SECRET_KEY:-wafermon-secret}

# Installed once under ~/.cargo/bin; built in its own target folder so it never waits on
# (or fills) the project's CARGO_TARGET_DIR. Newer releases need a newer rustc.
install() {
    command -v s3s-fs >/dev/null 2>&1 && return 0
    [ -x "$HOME/.cargo/bin/s3s-fs" ] && return 0
    say "installing s3s-fs $VERSION (takes a few minutes)"
    env -u CARGO_TARGET_DIR CARGO_TARGET_DIR="$SERVERS_STATE/s3s-build" \
        cargo install "s3s-fs@$VERSION" --features binary --locked >&2
    rm -rf "$SERVERS_STATE/s3s-build"
}

binary() { command -v s3s-fs 2>/dev/null || echo "$HOME/.cargo/bin/s3s-fs"; }

# Runs a command without the start lock (fd 9): a server that kept it would block every
# later start until it exits.
UNLOCKED=(bash -c 'exec 9>&- "$@"' unlocked)

start() {
    local port=${1:-$DEFAULT_PORT}
    local dir=${2:-$SERVERS_STATE/$NAME-$port-data}
    # Tests start the shared instance from several threads at once: one start (and one
    # install) at a time.
    exec 9>"$SERVERS_STATE/$NAME-$port.lock"
    flock 9
    install
    mkdir -p "$dir/wafermon"
    if ! running "$NAME" "$port"; then
        start_bg "$NAME" "$port" "${UNLOCKED[@]}" "$(binary)" --host 127.0.0.1 --port "$port" \
            --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" "$dir"
        wait_port "$NAME" "$port" 30
    fi
    echo "http://127.0.0.1:$port"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop_pid "$NAME" "${2:-$DEFAULT_PORT}" ;;
    *) echo "usage: $0 start [PORT] [DIR] | stop [PORT]" >&2; exit 2 ;;
esac
