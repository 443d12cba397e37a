#!/usr/bin/env bash
# The Zabbix 6.0 web frontend's JSON-RPC API (Debian zabbix-frontend-php) on 127.0.0.1, for
# the gateway's zabbix reader. It reads the shared Zabbix instance's database ("zabbix",
# see zabbix.sh, which this script starts first).
#   zabbix-api.sh start [PORT] [DIR]   print http://127.0.0.1:PORT/api_jsonrpc.php last
#   zabbix-api.sh stop [PORT]          stop PHP's built-in server by its PID
# Debian's frontend reads its settings from /etc/zabbix/zabbix.conf.php (a fixed path in
# CConfigFile): this script writes that file when it is missing or one it wrote itself, and
# refuses to touch one it did not write.
# Login: Admin / zabbix (the packaged data's default).
source "$(dirname "$0")/lib.sh"

NAME=zabbix-api
DEFAULT_PORT=18051
CONFIG=/etc/zabbix/zabbix.conf.php

cmd=${1:-start}
PORT=${2:-$DEFAULT_PORT}
DIR=${3:-$SERVERS_STATE/$NAME-$PORT}

frontend_config() {
    local wanted
    wanted=$(
        cat <<'PHP'
<?php
// Written by wafermon scripts/servers/zabbix-api.sh: the frontend of the test Zabbix.
$DB['TYPE']           = 'POSTGRESQL';
$DB['SERVER']         = '127.0.0.1';
$DB['PORT']           = '5432';
$DB['DATABASE']       = 'zabbix';
$DB['USER']           = 'zabbix';
$DB['PASSWORD']       = 'zabbix';
$DB['SCHEMA']         = '';
$DB['ENCRYPTION']     = false;
$DB['KEY_FILE']       = '';
$DB['CERT_FILE']      = '';
$DB['CA_FILE']        = '';
$DB['VERIFY_HOST']    = false;
$DB['CIPHER_LIST']    = '';
$DB['VAULT_URL']      = '';
$DB['VAULT_DB_PATH']  = '';
$DB['VAULT_TOKEN']    = '';
$DB['DOUBLE_IEEE754'] = true;
$ZBX_SERVER           = '127.0.0.1';
$ZBX_SERVER_PORT      = '10051';
$ZBX_SERVER_NAME      = 'wafermon-test';
$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
PHP
    )
    if [ -f "$CONFIG" ] && ! grep -q "Written by wafermon" "$CONFIG"; then
        # A real frontend's settings on this host: never overwrite them.
        say "$CONFIG belongs to another Zabbix frontend; not changing it"
        return 1
    fi
    if [ ! -f "$CONFIG" ] || [ "$(cat "$CONFIG")" != "$wanted" ]; then
        mkdir -p "$(dirname "$CONFIG")"
        printf '%s\n' "$wanted" >"$CONFIG"
        chmod 644 "$CONFIG"
    fi
}

# True when user.login answers with a session token.
api_ready() {
    curl -s -m 5 --noproxy '*' -H 'Content-Type: application/json-rpc' \
        -d '{"jsonrpc":"2.0","method":"apiinfo.version","params":{},"id":1}' \
        "http://127.0.0.1:$PORT/api_jsonrpc.php" | grep -q '"result"'
}

start() {
    apt_install zabbix-frontend-php php-pgsql php-cli curl
    bash "$(dirname "$0")/zabbix.sh" start >/dev/null
    if running "$NAME" "$PORT"; then
        echo "http://127.0.0.1:$PORT/api_jsonrpc.php"
        return 0
    fi
    frontend_config
    mkdir -p "$DIR"
    start_bg "$NAME" "$PORT" php -S "127.0.0.1:$PORT" -t /usr/share/zabbix \
        -d memory_limit=256M -d max_execution_time=300 -d post_max_size=16M \
        -d session.save_path="$DIR"
    wait_port "$NAME" "$PORT" 30
    local i
    for i in $(seq 1 40); do
        api_ready && break
        [ "$i" = 40 ] && { say "the Zabbix API does not answer"; tail -n 30 "$SERVERS_STATE/$NAME-$PORT.log" >&2; return 1; }
        sleep 0.25
    done
    echo "http://127.0.0.1:$PORT/api_jsonrpc.php"
}

case "$cmd" in
start)
    start_lock "$NAME" "$PORT"
    start
    ;;
stop) stop_pid "$NAME" "$PORT" ;;
*)
    echo "usage: $0 start [PORT] [DIR] | stop [PORT]" >&2
    exit 2
    ;;
esac
