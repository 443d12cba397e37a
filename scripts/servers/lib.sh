# Shared by the scripts in scripts/servers/: each starts one real server on 127.0.0.1 for the
# backend tests, idempotently, and stops it by the PID it recorded.
#   NAME.sh start [PORT] [DIR]   install if needed, start unless running, print the URL last
#   NAME.sh stop [PORT]          stop the instance on PORT (default port if left out)
# A test that needs an outage starts a private instance on its own port, so stopping it
# never disturbs the tests sharing the default one.
set -euo pipefail

SERVERS_STATE=${WAFERMON_SERVERS_DIR:-/tmp/wafermon-servers}
SERVERS_VENV=${WAFERMON_SERVERS_VENV:-$HOME/.cache/wafermon/servers-venv}
mkdir -p "$SERVERS_STATE"

say() { echo "$(basename "$0"): $*" >&2; }

pidfile() { echo "$SERVERS_STATE/$1-$2.pid"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when the instance NAME on PORT that we started is alive.
running() {
    local file pid
    file=$(pidfile "$1" "$2")
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    kill -0 "$pid" 2>/dev/null
}

# start_lock NAME PORT: hold a lock (fd 7) until the script exits, so tests starting the same
# server from parallel threads start it once (the others then find it running).
start_lock() {
    exec 7>"$SERVERS_STATE/$1-$2.start.lock"
    flock 7
}

# start_bg NAME PORT COMMAND...: run COMMAND detached, log to the state dir, record its PID.
# The server gets none of the scripts' lock descriptors, or it would hold them for its life.
start_bg() {
    local name=$1 port=$2
    shift 2
    if port_open "$port" && ! running "$name" "$port"; then
        say "port $port is taken by a process this script did not start"
        return 1
    fi
    setsid nohup "$@" >"$SERVERS_STATE/$name-$port.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
    echo $! >"$(pidfile "$name" "$port")"
}

# wait_port NAME PORT SECONDS: wait until the port accepts connections (or the server dies).
wait_port() {
    local name=$1 port=$2 limit=$3 i
    for i in $(seq 1 $((limit * 4))); do
        port_open "$port" && return 0
        if ! running "$name" "$port"; then
            say "$name exited while starting; its log:"
            tail -n 30 "$SERVERS_STATE/$name-$port.log" >&2 || true
            return 1
        fi
        sleep 0.25
    done
    say "$name did not open port $port within ${limit}s; its log:"
    tail -n 30 "$SERVERS_STATE/$name-$port.log" >&2 || true
    return 1
}

# stop_pid NAME PORT [SIGNAL]: stop the instance we started (its process group), wait for it.
stop_pid() {
    local name=$1 port=$2 signal=${3:-TERM} file pid i
    file=$(pidfile "$name" "$port")
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    kill "-$signal" -- "-$pid" 2>/dev/null || kill "-$signal" "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    say "$name on port $port stopped"
}

# pip_tool PACKAGE COMMAND: make sure COMMAND exists in the servers' own venv; prints its path.
pip_tool() {
    local package=$1 command=$2
    mkdir -p "$(dirname "$SERVERS_VENV")"
    (
        # One installer at a time: two pip runs in one venv can leave it broken.
        flock 8
        if [ ! -x "$SERVERS_VENV/bin/$command" ]; then
            [ -x "$SERVERS_VENV/bin/pip" ] || python3 -m venv "$SERVERS_VENV" >&2
            say "installing $package"
            "$SERVERS_VENV/bin/pip" install -q "$package" >&2
        fi
    ) 8>"$SERVERS_VENV.lock"
    echo "$SERVERS_VENV/bin/$command"
}

# apt_install PACKAGE...: install missing Debian packages.
apt_install() {
    local missing=() p sudo=""
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing ${missing[*]}"
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >&2
}
