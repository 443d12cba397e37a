#!/usr/bin/env bash
# RabbitMQ 3.10 (Debian rabbitmq-server) on 127.0.0.1 for the rabbitmq writer's tests (AMQP 0-9-1).
#   rabbitmq.sh start [PORT] [DIR]   install if needed, start unless running, print
#                                    amqp://guest:guest@127.0.0.1:PORT/%2f last
#   rabbitmq.sh stop [PORT]          stop that node by its PID; epmd too once no node of ours runs
#   rabbitmq.sh ctl PORT ARGS...     rabbitmqctl against that node (e.g. `ctl 5672 list_queues`)
# Default port 5672. Each port is its own node, rabbit@localhost for 5672 and
# rabbit-PORT@localhost otherwise, with its Erlang distribution on PORT+1 and its mnesia
# database and logs in DIR, so a restart on the same PORT and DIR keeps durable queues and
# persistent messages, and a private node runs beside the shared one.
# The node runs as the user running this script, with that user's ~/.erlang.cookie. Use `ctl`
# rather than /usr/sbin/rabbitmqctl: run by root, that one switches to the rabbitmq user and
# its cookie, which this node does not accept.
# The node needs epmd (port 4369): started here on 127.0.0.1 unless one already listens.
source "$(dirname "$0")/lib.sh"

NAME=rabbitmq
RABBIT_BIN=/usr/lib/rabbitmq/bin
EPMD_PIDFILE=$SERVERS_STATE/rabbitmq.epmd-pid
EPMD_PORT=4369

cmd=${1:-start}
PORT=${2:-5672}
DIR=${3:-$SERVERS_STATE/$NAME-$PORT-data}

# lib.sh's `running`, except that a process killed but not yet reaped (a zombie, until
# init gets to it) counts as gone: a start right after a test's SIGKILL must start anew.
alive() {
    running "$NAME" "$PORT" || return 1
    case "$(ps -o stat= -p "$(cat "$(pidfile "$NAME" "$PORT")")" 2>/dev/null)" in
    Z* | "") return 1 ;;
    esac
}

node_name() {
    if [ "$PORT" = 5672 ]; then echo rabbit@localhost; else echo "rabbit-$PORT@localhost"; fi
}

# The environment rabbitmq-server and rabbitmqctl read; everything the node writes is in DIR.
node_env() {
    export RABBITMQ_NODENAME
    RABBITMQ_NODENAME=$(node_name)
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$PORT
    export RABBITMQ_DIST_PORT=$((PORT + 1))
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_MNESIA_BASE=$DIR/mnesia
    export RABBITMQ_LOG_BASE=$DIR/log
    export RABBITMQ_PID_FILE=$DIR/rabbit.pid
    export RABBITMQ_CONFIG_FILE=$DIR/rabbitmq.conf
    export RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/advanced.config
    export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
    # Under a systemd service the script would exec the VM in place of the shell that
    # forwards SIGTERM to it; keep one behaviour everywhere.
    unset NOTIFY_SOCKET
}

install() {
    dpkg -s rabbitmq-server >/dev/null 2>&1 && return 0
    apt_install rabbitmq-server
    # Where systemd runs, the package starts its own node on every interface's port 5672,
    # which would take the shared node's port: the service this install brought is stopped
    # and disabled (a rabbitmq-server installed before is never touched: we return above).
    if [ -d /run/systemd/system ]; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo systemctl disable --now rabbitmq-server.service >&2 || true
    fi
}

# The user's cookie, made once (as Erlang would make it, but never by two nodes at once).
cookie_ready() {
    local cookie=$HOME/.erlang.cookie letters
    [ -s "$cookie" ] && return 0
    letters=$(LC_ALL=C tr -dc 'A-Z' < <(head -c 4096 /dev/urandom))
    (umask 077 && printf '%s' "${letters:0:20}" >"$cookie.new")
    chmod 400 "$cookie.new"
    mv "$cookie.new" "$cookie"
}

epmd_ours() {
    [ -f "$EPMD_PIDFILE" ] && kill -0 "$(cat "$EPMD_PIDFILE")" 2>/dev/null
}

# epmd on loopback, unless one listens already (another user's or the system's: then that
# one serves our nodes and is never stopped here).
epmd_ready() {
    port_open "$EPMD_PORT" && return 0
    setsid nohup epmd -address 127.0.0.1 -port "$EPMD_PORT" \
        >"$SERVERS_STATE/rabbitmq-epmd.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
    echo $! >"$EPMD_PIDFILE"
    local i
    for i in $(seq 1 40); do
        port_open "$EPMD_PORT" && return 0
        sleep 0.25
    done
    say "epmd did not open port $EPMD_PORT; its log:"
    cat "$SERVERS_STATE/rabbitmq-epmd.log" >&2 || true
    return 1
}

# Held while a node starts or stops, so a stop never ends epmd under a node starting.
epmd_lock() {
    exec 8>"$SERVERS_STATE/rabbitmq-epmd.lock"
    flock 8
}

write_config() {
    mkdir -p "$DIR/mnesia" "$DIR/log"
    # No plugins (the management UI is not needed, and each plugin slows the start).
    echo '[].' >"$DIR/enabled_plugins"
    cat >"$DIR/rabbitmq.conf" <<'CONF'
# The wafermon test node: RabbitMQ's defaults; the listener and paths come from the
# environment rabbitmq.sh sets. guest may log in from loopback only (the default).
CONF
}

start() {
    start_lock "$NAME" "$PORT"
    install
    if ! alive; then
        if port_open $((PORT + 1)); then
            say "distribution port $((PORT + 1)) is taken"
            return 1
        fi
        mkdir -p "$DIR"
        DIR=$(realpath "$DIR")
        write_config
        node_env
        epmd_lock
        cookie_ready
        epmd_ready
        # On failure, stop: it also ends the epmd started for this node alone.
        start_bg "$NAME" "$PORT" "$RABBIT_BIN/rabbitmq-server" || {
            stop
            return 1
        }
        exec 8>&-
        # The AMQP listener opens last in the boot, when the node takes connections.
        wait_port "$NAME" "$PORT" 120 || {
            stop
            return 1
        }
    fi
    echo "amqp://guest:guest@127.0.0.1:$PORT/%2f"
}

# True when a node this script started (on any port) is alive.
any_node_running() {
    local file base
    for file in "$SERVERS_STATE"/$NAME-*.pid; do
        [ -f "$file" ] || continue
        base=$(basename "$file" .pid)
        running "$NAME" "${base##*-}" && return 0
    done
    return 1
}

stop() {
    local file pid i
    epmd_lock
    # SIGTERM to the script's group reaches the VM, which shuts down cleanly (queues
    # synced to disk) in a few seconds; stop_pid's KILL after 10 s would skip that.
    file=$(pidfile "$NAME" "$PORT")
    if [ -f "$file" ]; then
        pid=$(cat "$file")
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 240); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
    fi
    stop_pid "$NAME" "$PORT"
    if ! any_node_running && epmd_ours; then
        pid=$(cat "$EPMD_PIDFILE")
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$EPMD_PIDFILE"
        say "epmd stopped"
    fi
}

ctl() {
    shift 2
    node_env
    "$RABBIT_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@"
}

case "$cmd" in
start) start ;;
stop) stop ;;
ctl) ctl "$@" ;;
*)
    echo "usage: $0 start [PORT] [DIR] | stop [PORT] | ctl PORT ARGS..." >&2
    exit 2
    ;;
esac
