#!/usr/bin/env bash
# Zabbix server 6.0 (Debian zabbix-server-pgsql) on 127.0.0.1 for the zabbix backend's tests.
#   zabbix.sh start [PORT] [DIR]   install if needed, start unless running, print 127.0.0.1:PORT
#   zabbix.sh stop [PORT]          stop that zabbix_server by its PID (PostgreSQL keeps running:
#                                  the gateway's tests use the same cluster)
#
# Databases live in the local PostgreSQL 15 cluster (127.0.0.1:5432, role zabbix/zabbix):
#   zabbix_template  the packaged schema + data, imported once, plus host "wafermon-test" and its
#                    trapper items; no server ever connects to it, so it can be copied
#   zabbix           the shared instance (default port 10051), a copy of the template
#   zabbix_p<PORT>   a private instance (another port, for outage tests), its own copy
# Each server needs a database of its own: Zabbix 6.0 refuses to start a second standalone
# node on a database another live server uses (HA manager), and two servers writing one
# history would clash anyway. Copying the template takes a second; importing takes a minute.
source "$(dirname "$0")/lib.sh"

NAME=zabbix
DEFAULT_PORT=10051
TEMPLATE_DB=zabbix_template
# Bump when the host or items below change: databases with another mark are rebuilt.
MARK="wafermon zabbix items v1"
HOST=wafermon-test
export PGPASSWORD=zabbix

cmd=${1:-start}
PORT=${2:-$DEFAULT_PORT}
DIR=${3:-$SERVERS_STATE/$NAME-$PORT}

db_of() { if [ "$1" = "$DEFAULT_PORT" ]; then echo zabbix; else echo "zabbix_p$1"; fi; }

admin() { PGOPTIONS="-c client_min_messages=warning" runuser -u postgres -- psql -qtA -v ON_ERROR_STOP=1 -c "$1"; }
as_zabbix() { psql -q -h 127.0.0.1 -U zabbix -v ON_ERROR_STOP=1 -d "$@"; }
db_exists() { [ -n "$(admin "SELECT 1 FROM pg_database WHERE datname='$1'")" ]; }
db_marked() { [ "$(admin "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname='$1'")" = "$MARK" ]; }

postgres_up() {
    pg_lsclusters -h | grep -q "^15 main" || pg_createcluster 15 main >/dev/null
    # Started without our lock descriptors: a PostgreSQL holding the lock file's descriptor
    # would keep every later `zabbix.sh start` waiting for the lock forever.
    pg_lsclusters -h | grep "^15 main" | grep -q online || pg_ctlcluster 15 main start 7>&- 8>&- 9>&-
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 0.5
    done
    say "PostgreSQL did not start"
    return 1
}

# The template: schema, images, data, then our host and items; marked only when all is done,
# so an interrupted import is redone next time.
template_ready() {
    db_exists "$TEMPLATE_DB" && db_marked "$TEMPLATE_DB" && return 0
    say "importing the Zabbix schema into $TEMPLATE_DB (about a minute)"
    admin "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='zabbix') THEN
        CREATE ROLE zabbix LOGIN PASSWORD 'zabbix'; END IF; END\$\$" >/dev/null
    admin "DROP DATABASE IF EXISTS $TEMPLATE_DB" >/dev/null
    admin "CREATE DATABASE $TEMPLATE_DB OWNER zabbix ENCODING 'UTF8' TEMPLATE template0" >/dev/null
    local f
    for f in schema images data; do
        zcat "/usr/share/zabbix-server-pgsql/$f.sql.gz" |
            PGOPTIONS="-c synchronous_commit=off" as_zabbix "$TEMPLATE_DB" >/dev/null
    done
    # Trapper items (type 2) for ZabbixConfig's default keys and a few the tests use.
    # value_type: 0 float, 1 character (255), 3 unsigned, 4 text.
    as_zabbix "$TEMPLATE_DB" >/dev/null <<SQL
INSERT INTO hosts (hostid, host, name, name_upper, status)
    VALUES (900001, '$HOST', '$HOST', upper('$HOST'), 0);
INSERT INTO hosts_groups (hostgroupid, hostid, groupid)
    SELECT 900001, 900001, groupid FROM hstgrp WHERE name = 'Linux servers';
INSERT INTO items (itemid, type, hostid, name, key_, delay, history, trends, status, value_type)
VALUES (900101, 2, 900001, 'status',        'wafermon.status',        '0', '90d', '0',    0, 4),
       (900102, 2, 900001, 'progress',      'wafermon.progress',      '0', '90d', '365d', 0, 0),
       (900103, 2, 900001, 'duration',      'wafermon.duration_s',    '0', '90d', '365d', 0, 0),
       (900104, 2, 900001, 'cpu user',      'wafermon.cpu_user_s',    '0', '90d', '365d', 0, 0),
       (900105, 2, 900001, 'max rss',       'wafermon.max_rss_bytes', '0', '90d', '365d', 0, 0),
       (900106, 2, 900001, 'cpu system',    'wafermon.cpu_system_s',  '0', '90d', '365d', 0, 0),
       (900107, 2, 900001, 'kind',          'wafermon.kind',          '0', '90d', '0',    0, 1),
       (900108, 2, 900001, 'message',       'wafermon.message',       '0', '90d', '0',    0, 4),
       (900109, 2, 900001, 'wafers',        'wafermon.wafers',        '0', '90d', '365d', 0, 0),
       (900110, 2, 900001, 'disabled item', 'wafermon.disabled',      '0', '90d', '0',    1, 4),
       (900111, 2, 900001, 'self test',     'wafermon.selftest',      '0', '1d',  '0',    0, 4);
INSERT INTO item_rtdata (itemid) SELECT itemid FROM items WHERE hostid = 900001;
-- data.sql ships a monitored "Zabbix server" host polling an agent on 127.0.0.1:10050.
UPDATE hosts SET status = 1 WHERE host = 'Zabbix server';
SQL
    admin "COMMENT ON DATABASE $TEMPLATE_DB IS '$MARK'" >/dev/null
}

# A copy of the template for one instance (kept across stop/start, so an outage test reads
# what was sent before the outage).
database_ready() {
    local db=$1
    if db_exists "$db" && ! db_marked "$db"; then
        say "database $db is from another setup; rebuilding it"
        admin "DROP DATABASE $db" >/dev/null
    fi
    if ! db_exists "$db"; then
        admin "CREATE DATABASE $db OWNER zabbix TEMPLATE $TEMPLATE_DB" >/dev/null
        admin "COMMENT ON DATABASE $db IS '$MARK'" >/dev/null
    fi
}

# Private databases whose instance folder is gone (a finished test) are dropped.
forget_old_private() {
    local entry port dir
    for entry in "$SERVERS_STATE"/zabbix-db-*.dir; do
        [ -f "$entry" ] || continue
        port=${entry##*/zabbix-db-}
        port=${port%.dir}
        dir=$(cat "$entry")
        if [ ! -d "$dir" ] && ! running "$NAME" "$port"; then
            admin "DROP DATABASE IF EXISTS $(db_of "$port")" >/dev/null || true
            rm -f "$entry" "$SERVERS_STATE/zabbix-$port.listen"
        fi
    done
}

# Zabbix listens on ports 1024-32767 only, and a test's free port is often above that: such
# an instance listens on a free port of that range instead (kept in DIR, so a restart uses
# the same one) and prints it; it is still named (pid file, database) by the port asked for.
listen_port() {
    if [ "$PORT" -le 32767 ]; then
        LISTEN=$PORT
        return 0
    fi
    if [ -f "$DIR/listen_port" ]; then
        LISTEN=$(cat "$DIR/listen_port")
        return 0
    fi
    LISTEN=$((20000 + PORT % 12000))
    while port_open "$LISTEN" || grep -qx "$LISTEN" "$SERVERS_STATE"/zabbix-*.listen 2>/dev/null; do
        LISTEN=$((LISTEN + 1))
        [ "$LISTEN" -le 32767 ] || LISTEN=20000
    done
    mkdir -p "$DIR"
    echo "$LISTEN" >"$DIR/listen_port"
    echo "$LISTEN" >"$SERVERS_STATE/zabbix-$PORT.listen"
}

write_config() {
    local db=$1
    mkdir -p "$DIR"
    chown zabbix:zabbix "$DIR"
    cat >"$DIR/zabbix_server.conf" <<CONF
ListenIP=127.0.0.1
ListenPort=$LISTEN
SourceIP=127.0.0.1
LogType=console
PidFile=$DIR/zabbix_server.pid
SocketDir=$DIR
DBHost=127.0.0.1
DBName=$db
DBUser=zabbix
DBPassword=zabbix
StartPollers=1
StartPollersUnreachable=1
StartPingers=0
StartDiscoverers=0
StartHTTPPollers=0
StartTrappers=4
StartTimers=1
StartEscalators=1
StartAlerters=1
StartPreprocessors=2
StartDBSyncers=2
StartLLDProcessors=1
StartReportWriters=0
CacheUpdateFrequency=5
HousekeepingFrequency=0
Timeout=4
CONF
    chown zabbix:zabbix "$DIR/zabbix_server.conf"
    chmod 600 "$DIR/zabbix_server.conf"
}

# One sender-protocol request for the self-test item; true when the server processed it
# (the configuration cache is loaded and the trappers answer).
selftest() {
    local body len hex header
    body="{\"request\":\"sender data\",\"data\":[{\"host\":\"$HOST\",\"key\":\"wafermon.selftest\",\"value\":\"ready\"}]}"
    len=${#body}
    hex=$(printf '%08x' "$len")
    header="ZBXD\\x01\\x${hex:6:2}\\x${hex:4:2}\\x${hex:2:2}\\x${hex:0:2}\\x00\\x00\\x00\\x00"
    (
        exec 3<>"/dev/tcp/127.0.0.1/$LISTEN" || exit 1
        printf "$header%s" "$body" >&3
        timeout 5 cat <&3 | grep -a -q 'processed: 1'
    ) 2>/dev/null
}

start() {
    exec 9>"$SERVERS_STATE/zabbix.lock"
    flock 9
    apt_install postgresql zabbix-server-pgsql
    postgres_up
    listen_port
    if running "$NAME" "$PORT"; then
        echo "127.0.0.1:$LISTEN"
        return 0
    fi
    forget_old_private
    template_ready
    local db
    db=$(db_of "$PORT")
    if [ "$PORT" != "$DEFAULT_PORT" ] && [ ! -f "$DIR/.wafermon-db" ]; then
        # A new folder means a new private instance: start from a clean copy.
        admin "DROP DATABASE IF EXISTS $db" >/dev/null
    fi
    database_ready "$db"
    write_config "$db"
    touch "$DIR/.wafermon-db"
    [ "$PORT" = "$DEFAULT_PORT" ] || echo "$DIR" >"$SERVERS_STATE/zabbix-db-$PORT.dir"
    # Without the lock's descriptor: the server must not hold the lock for its lifetime.
    (
        exec 9>&-
        start_bg "$NAME" "$PORT" /usr/sbin/zabbix_server -f -c "$DIR/zabbix_server.conf"
    )
    local i
    for i in $(seq 1 120); do
        selftest && break
        if ! running "$NAME" "$PORT"; then
            say "zabbix_server exited; its log:"
            tail -n 30 "$SERVERS_STATE/$NAME-$PORT.log" >&2 || true
            rm -f "$(pidfile "$NAME" "$PORT")"
            return 1
        fi
        [ "$i" = 120 ] && { say "zabbix_server does not process values"; return 1; }
        sleep 0.5
    done
    echo "127.0.0.1:$LISTEN"
}

case "$cmd" in
start) start ;;
stop) stop_pid "$NAME" "$PORT" ;;
*)
    echo "usage: $0 start [PORT] [DIR] | stop [PORT]" >&2
    exit 2
    ;;
esac
