#!/usr/bin/env bash
# Apache Kafka 4.4 in KRaft mode, one node that is broker and controller at once: the real
# broker, run from its Maven Central jars (fetched once with Maven into
# ~/.cache/wafermon/kafka-4.4.0), for the kafka writer's and the gateway's Kafka tests.
#   kafka.sh start [PORT] [DIR]            install if needed, start unless running, print
#                                          127.0.0.1:PORT (the bootstrap servers) last
#   kafka.sh stop [PORT]                   stop that broker by its PID, wait for it
#   kafka.sh topic PORT NAME PARTITIONS    create a topic unless it exists, print its name
#   kafka.sh consume PORT TOPIC COUNT      print the first COUNT values of TOPIC, one a line
# Default port 9092; the controller listens on PORT+1. Topics are created on first use with
# one partition. KAFKA_AUTO_CREATE=false at start turns that off (for the "unknown topic"
# tests); a start of an existing DIR without the variable keeps what the DIR was made with,
# so a restart of such an instance still refuses unknown topics. A start while the broker
# runs changes nothing.
# DIR keeps the data: a restart on the same PORT and DIR finds every message sent before.
# KAFKA_SECURE=true at the first start of a DIR adds a SASL_SSL listener on PORT+2 (TLS with
# a certificate for 127.0.0.1 signed by a CA made for the DIR, DIR/tls/ca.pem; SASL PLAIN and
# SCRAM-SHA-256 for user "wafermon", password "wafermon-secret") and prints its address
# last; PORT stays plaintext for the tools. A restart of that DIR stays secure.
source "$(dirname "$0")/lib.sh"

NAME=kafka
VERSION=4.4.0
SLF4J_VERSION=2.0.16
HOME_DIR=${WAFERMON_KAFKA_DIR:-$HOME/.cache/wafermon/kafka-$VERSION}
LIB="$HOME_DIR/lib/*"
JVM=(java -Xms64m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true)

cmd=${1:-start}
PORT=${2:-9092}
DIR=${3:-$SERVERS_STATE/$NAME-$PORT-data}

# lib.sh's `running`, except that a process killed but not yet reaped (a zombie, until
# init gets to it) counts as gone: a start right after a test's SIGKILL must start anew.
alive() {
    running "$NAME" "$PORT" || return 1
    case "$(ps -o stat= -p "$(cat "$(pidfile "$NAME" "$PORT")")" 2>/dev/null)" in
    Z* | "") return 1 ;;
    esac
}

# The broker's jars and their dependencies, copied out of the Maven repository once; the
# marker is written last, so an interrupted download is redone.
install() {
    [ -f "$HOME_DIR/.installed" ] && return 0
    mkdir -p "$(dirname "$HOME_DIR")"
    (
        # Tests start private brokers in parallel: one installs, the others wait for it.
        flock 8
        [ -f "$HOME_DIR/.installed" ] && exit 0
        command -v mvn >/dev/null || apt_install maven
        command -v java >/dev/null || apt_install default-jre-headless
        say "installing Kafka $VERSION from Maven Central"
        rm -rf "$HOME_DIR"
        mkdir -p "$HOME_DIR"
        write_pom >"$HOME_DIR/pom.xml"
        # kafka-tools brings the topic and console commands; slf4j-simple is the broker's
        # logger (to stdout, which start_bg sends to the state dir's log).
        (cd "$HOME_DIR" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
            -DoutputDirectory=lib -DincludeScope=runtime) >&2
        touch "$HOME_DIR/.installed"
    ) 8>"$HOME_DIR.lock"
}

write_pom() {
    cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>wafermon.servers</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
}

# Auto-creation: the variable when given, else what this DIR was made with, else on.
auto_create() {
    case "${KAFKA_AUTO_CREATE:-}" in
    true | false) echo "$KAFKA_AUTO_CREATE" ;;
    "")
        if [ -f "$DIR/server.properties" ]; then
            sed -n 's/^auto.create.topics.enable=//p' "$DIR/server.properties"
        else
            echo true
        fi
        ;;
    *)
        say "KAFKA_AUTO_CREATE must be true or false, not '$KAFKA_AUTO_CREATE'"
        return 1
        ;;
    esac
}

# Secure: the variable when given, else what this DIR was made with, else off.
secure() {
    case "${KAFKA_SECURE:-}" in
    true | false) echo "$KAFKA_SECURE" ;;
    "") grep -qs '^listeners=.*SASL_SSL' "$DIR/server.properties" && echo true || echo false ;;
    *)
        say "KAFKA_SECURE must be true or false, not '$KAFKA_SECURE'"
        return 1
        ;;
    esac
}

SASL_USER=wafermon
SASL_PASSWORD=wafermon-secret

# A CA of the DIR's own and a broker certificate for 127.0.0.1 it signed (PEM, the key
# unencrypted PKCS#8, as Kafka's PEM keystore reads it). Made once per DIR.
make_tls() {
    local tls=$DIR/tls
    [ -f "$tls/server.pem" ] && return 0
    command -v openssl >/dev/null || apt_install openssl
    rm -rf "$tls.new" && mkdir -p "$tls.new"
    (
        cd "$tls.new"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=wafermon-test-ca \
            -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile san.ext -out server.crt
        openssl pkcs8 -topk8 -nocrypt -in server.key -out server.p8
        cat server.p8 server.crt >server.pem
    ) >"$DIR/tls.log" 2>&1 || {
        say "making the TLS files failed:"
        cat "$DIR/tls.log" >&2
        return 1
    }
    mv "$tls.new" "$tls"
}

write_config() {
    local auto listeners advertised map
    auto=$(auto_create)
    listeners="PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$((PORT + 1))"
    advertised="PLAINTEXT://127.0.0.1:$PORT"
    map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [ "$(secure)" = true ]; then
        make_tls
        listeners="$listeners,SASL_SSL://127.0.0.1:$((PORT + 2))"
        advertised="$advertised,SASL_SSL://127.0.0.1:$((PORT + 2))"
        map="$map,SASL_SSL:SASL_SSL"
    fi
    cat >"$DIR/server.properties.new" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((PORT + 1))
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
log.dirs=$DIR/data
auto.create.topics.enable=$auto
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
CONF
    if [ "$(secure)" = true ]; then
        cat >>"$DIR/server.properties.new" <<CONF
ssl.keystore.type=PEM
ssl.keystore.location=$DIR/tls/server.pem
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
CONF
    fi
    mv "$DIR/server.properties.new" "$DIR/server.properties"
}

# A new DIR gets a new cluster: formatted aside and moved into place whole, so a format cut
# short is never taken for a formatted one. An existing one is never formatted again.
format_once() {
    [ -f "$DIR/data/meta.properties" ] && return 0
    local id
    # A cluster id is 16 random bytes in URL-safe base64; Kafka avoids a leading '-'.
    id=-
    while [ "${id:0:1}" = - ]; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    rm -rf "$DIR/data" "$DIR/data.new"
    sed "s|^log.dirs=.*|log.dirs=$DIR/data.new|" "$DIR/server.properties" >"$DIR/format.properties"
    local scram=()
    # SCRAM credentials live in the cluster's metadata: written at format time.
    [ "$(secure)" = true ] &&
        scram=(--add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]")
    if ! "${JVM[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$LIB" \
        kafka.tools.StorageTool format \
        -t "$id" -c "$DIR/format.properties" "${scram[@]}" >"$DIR/format.log" 2>&1; then
        say "formatting $DIR/data failed:"
        cat "$DIR/format.log" >&2
        return 1
    fi
    mv "$DIR/data.new" "$DIR/data"
}

# Ready when the broker says so: the port opens a little earlier, before it serves requests.
wait_started() {
    local log=$SERVERS_STATE/$NAME-$PORT.log i
    for i in $(seq 1 $((120 * 4))); do
        grep -q 'Kafka Server started' "$log" 2>/dev/null && return 0
        if ! running "$NAME" "$PORT"; then
            say "kafka exited while starting; its log:"
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        sleep 0.25
    done
    say "kafka did not start within 120s; its log:"
    tail -n 30 "$log" >&2 || true
    return 1
}

start() {
    start_lock "$NAME" "$PORT"
    install
    if ! alive; then
        if port_open $((PORT + 1)); then
            say "controller port $((PORT + 1)) is taken"
            return 1
        fi
        mkdir -p "$DIR"
        DIR=$(realpath "$DIR")
        if [ "$(secure)" = true ] && port_open $((PORT + 2)); then
            say "SASL_SSL port $((PORT + 2)) is taken"
            return 1
        fi
        write_config
        format_once
        start_bg "$NAME" "$PORT" "${JVM[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
            -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info \
            -Dorg.slf4j.simpleLogger.showDateTime=true \
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS" \
            -cp "$LIB" kafka.Kafka "$DIR/server.properties"
        wait_started || {
            stop
            return 1
        }
    fi
    echo "127.0.0.1:$PORT"
    [ "$(secure)" = true ] && echo "127.0.0.1:$((PORT + 2))"
    return 0
}

# A controlled shutdown takes a few seconds: give it up to 60 before stop_pid's KILL, which
# would leave the logs to recover at the next start.
stop() {
    local file pid i
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
}

topic() {
    local name=${3:?usage: $0 topic PORT NAME PARTITIONS} partitions=${4:?partitions}
    install
    "${JVM[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$LIB" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" --create \
        --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor 1 >&2
    echo "$name"
}

# Kafka's own console consumer: the first COUNT messages of TOPIC, one value per line (for
# tests in languages without a Kafka client of their own).
consume() {
    local topic=${3:?usage: $0 consume PORT TOPIC COUNT} count=${4:?count}
    install
    "${JVM[@]}" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$LIB" \
        org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "127.0.0.1:$PORT" \
        --topic "$topic" --from-beginning --max-messages "$count" --timeout-ms 60000 \
        --group "console-$$-$RANDOM"
}

case "$cmd" in
start) start ;;
stop) stop ;;
topic) topic "$@" ;;
consume) consume "$@" ;;
*)
    echo "usage: $0 start [PORT] [DIR] | stop [PORT] | topic PORT NAME PARTITIONS | consume PORT TOPIC COUNT" >&2
    exit 2
    ;;
esac
