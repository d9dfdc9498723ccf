#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) for tests and benchmarks, run from the
# broker jars on Maven Central. Usage: scripts/kafka.sh start|stop|status|fetch|tool CLASS ARGS…
#   KAFKA_PORT   broker port on 127.0.0.1 (default 9092; the controller uses KAFKA_PORT+1)
#   KAFKA_DIR    state folder (default .cache/kafka/run-$KAFKA_PORT)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${KAFKA_PORT:-9092}
controller_port=$((port + 1))
libs="$root/.cache/kafka/libs"
dir=${KAFKA_DIR:-$root/.cache/kafka/run-$port}
pidfile="$dir/broker.pid"
logfile="$dir/broker.log"

log() { echo "kafka.sh: $*" >&2; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch the broker jars"; exit 1; }
  command -v java >/dev/null || { log "Java 17 is needed to run the broker"; exit 1; }
  log "fetching the Apache Kafka broker jars from Maven Central into $libs"
  rm -rf "$libs"
  mvn -q -B -f "$root/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >&2
  touch "$libs/.complete"
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

accepts() {
  # bash's /dev/tcp: no client tools needed to see whether the port answers
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

run_java() {
  java -Xmx512m -Xms128m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$dir/log4j.properties" -Dkafka.logs.dir="$dir/logs" \
    -cp "$libs/*" "$@"
}

write_config() {
  mkdir -p "$dir/data" "$dir/logs"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.cleaner.dedupe.buffer.size=4194304
log.retention.hours=24
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=4
PROPS
  cat > "$dir/log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/logs/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
PROPS
}

start() {
  if running && accepts; then log "broker already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
  if accepts; then log "something else already listens on 127.0.0.1:$port; set KAFKA_PORT"; exit 1; fi
  fetch
  write_config
  if [ ! -f "$dir/data/meta.properties" ]; then
    cluster_id=$(run_java kafka.tools.StorageTool random-uuid)
    run_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" --ignore-formatted >/dev/null
  fi
  nohup java -Xmx512m -Xms128m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$dir/log4j.properties" -Dkafka.logs.dir="$dir/logs" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" >"$logfile" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 240); do
    if accepts; then log "broker up on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
    if ! running; then log "broker exited during start-up; see $logfile and $dir/logs/server.log"; tail -20 "$logfile" >&2; exit 1; fi
    sleep 0.25
  done
  log "broker did not accept connections within 60 s; see $dir/logs/server.log"; exit 1
}

stop() {
  if ! running; then log "no broker running for port $port"; rm -f "$pidfile"; return 0; fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then rm -f "$pidfile"; log "broker stopped"; return 0; fi
    sleep 0.25
  done
  log "broker did not stop within 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && accepts; then echo "running 127.0.0.1:$port pid $(cat "$pidfile")"; else echo "stopped"; exit 3; fi ;;
  fetch) fetch ;;
  reset) stop; rm -rf "$dir" ;;
  tool) shift; fetch; [ -d "$dir" ] || mkdir -p "$dir/logs"; [ -f "$dir/log4j.properties" ] || write_config; run_java "$@" ;;
  *) echo "usage: $0 start|stop|status|fetch|reset|tool CLASS ARGS…" >&2; exit 2 ;;
esac
