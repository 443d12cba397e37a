#!/usr/bin/env bash
# moto server: an AWS emulator (CloudWatch Logs, CloudWatch Metrics, X-Ray, ...) for the
# cloudwatch and xray backend tests. Accepts any credentials.
#   moto.sh start [PORT] [DIR]   (default port 5000; DIR is unused: moto keeps state in memory)
#   moto.sh stop [PORT]
source "$(dirname "$0")/lib.sh"

name=moto
action=${1:-start}
port=${2:-5000}

case "$action" in
start)
    start_lock "$name" "$port"
    if ! running "$name" "$port"; then
        server=$(pip_tool 'moto[server]' moto_server)
        start_bg "$name" "$port" "$server" -H 127.0.0.1 -p "$port"
        wait_port "$name" "$port" 60
    fi
    echo "http://127.0.0.1:$port"
    ;;
stop)
    stop_pid "$name" "$port"
    ;;
*)
    say "usage: $0 start|stop [PORT] [DIR]"
    exit 2
    ;;
esac
