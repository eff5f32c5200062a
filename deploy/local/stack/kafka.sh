#!/usr/bin/env bash
# Sourced by deploy/local/stack.sh (not run on its own): Kafka, one KRaft node or a cluster of them.

# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------

# Kafka nodes are numbered 1..BROKERS. Node 1 keeps the single-node names and ports; node i
# listens on KAFKA_PORT+2(i-1) and KAFKA_CONTROLLER_PORT+2(i-1) (and KAFKA_SASL_SSL_PORT+2(i-1)),
# so with the usual KAFKA_CONTROLLER_PORT=KAFKA_PORT+1 three nodes take six consecutive ports
# and a stack on other ports never collides with them.
BROKERS=1
node_sfx() { [ "$1" = 1 ] || printf -- '-%s' "$1"; }
node_name() { if [ "$BROKERS" = 1 ]; then echo kafka; else echo "kafka-$1"; fi; }
node_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }
node_sasl_port() { echo $((KAFKA_SASL_SSL_PORT + 2 * ($1 - 1))); }
node_pid() { echo "$RUN_DIR/kafka$(node_sfx "$1").pid"; }
node_conf() { echo "$RUN_DIR/kafka-server$(node_sfx "$1").properties"; }
node_data() { echo "$DATA_DIR/kafka$(node_sfx "$1")"; }
node_log() { echo "$LOG_DIR/kafka$(node_sfx "$1").log"; }
node_out() { echo "$LOG_DIR/kafka$(node_sfx "$1").out"; }
# The config file's path is on the java command line and names this state dir and node: a
# recycled pid, or another stack's broker, is never mistaken for ours.
node_alive() { pid_alive "$(node_pid "$1")" "$(node_conf "$1")"; }
node_paused() { # the node's process is stopped (SIGSTOP): state T in /proc/PID/stat
  local pid; pid="$(cat "$(node_pid "$1")" 2>/dev/null)" || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ]
}
all_nodes() { seq 1 "$BROKERS"; }
bootstrap_list() {
  local i out=""
  for i in $(all_nodes); do out+="${out:+,}$HOST:$(node_port "$i")"; done
  echo "$out"
}

# resolve_brokers [N]: BROKERS from the request (--brokers N or KAFKA_BROKERS), else from the
# stack's record, else 1. Asking for another count than an existing stack has is an error.
resolve_brokers() {
  local want="${1:-${KAFKA_BROKERS:-}}" have=""
  [ -f "$BROKERS_FILE" ] && have="$(cat "$BROKERS_FILE")"
  if [ -n "$want" ]; then
    [[ "$want" =~ ^[1-9]$ ]] || die "--brokers takes 1 to 9, not '$want'"
    [ -z "$have" ] || [ "$have" = "$want" ] \
      || die "the stack in $STATE_DIR has $have broker(s), not $want: 'stack.sh down' first"
  fi
  BROKERS="${want:-${have:-1}}"
}

# Replication for the cluster's size: a single node can only hold one copy; from three nodes on,
# what production runs (three copies, two in sync before a write counts).
replication_factor() { if [ "$BROKERS" -ge 3 ]; then echo 3; else echo "$BROKERS"; fi; }
min_isr() { local rf; rf="$(replication_factor)"; if [ "$rf" -ge 2 ]; then echo $((rf - 1)); else echo 1; fi; }

# node_list ARGS...: the node numbers named (default all), each checked.
node_list() {
  local i
  if [ "$#" -eq 0 ]; then all_nodes; return; fi
  for i in "$@"; do
    [[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$BROKERS" ] \
      || die "no Kafka node '$i': the stack has nodes 1 to $BROKERS"
    echo "$i"
  done
}

fetch_kafka() {
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn is needed for the first download"
  local t0 tmp; t0=$(now_ms)
  log "downloading Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME ..."
  mkdir -p "$CACHE_DIR"
  tmp="$(mktemp -d "$CACHE_DIR/.kafka.XXXXXX")"
  # kafka_2.13 = broker + controller (kafka.Kafka) and kafka.tools.StorageTool;
  # kafka-tools = the CLI commands (TopicCommand is used for the readiness check). Its
  # connect-runtime dependency (Jetty, Jersey, ...) is only for MirrorMaker/Connect tools: excluded.
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.selftaught</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>${KAFKA_VERSION}</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
  mvn_quiet "$tmp" "$tmp/mvn.log" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib \
    || { rm -rf "$tmp"; die "Maven could not fetch Kafka $KAFKA_VERSION"; }
  [ -f "$tmp/lib/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ] || { rm -rf "$tmp"; die "kafka jar missing after download"; }
  touch "$tmp/.complete"
  rm -rf "$KAFKA_HOME"; mv "$tmp" "$KAFKA_HOME"
  log "Kafka jars ready ($(ls "$KAFKA_LIB" | wc -l) jars) in $(secs_since "$t0")"
}

sasl_ssl_enabled() { [ -n "$KAFKA_SASL_SSL_PORT" ]; }

check_sasl_ssl_settings() {
  if ! sasl_ssl_enabled; then
    [ -z "$KAFKA_SSL_DIR$KAFKA_SCRAM_USERS" ] || die "KAFKA_SSL_DIR and KAFKA_SCRAM_USERS need KAFKA_SASL_SSL_PORT"
    return 0
  fi
  [ -n "$KAFKA_SSL_DIR" ] || die "KAFKA_SASL_SSL_PORT needs KAFKA_SSL_DIR (a directory holding broker.pem)"
  [ -f "$KAFKA_SSL_DIR/broker.pem" ] || die "$KAFKA_SSL_DIR/broker.pem not found (the broker's key, then its certificate chain, PEM)"
  [ -n "$KAFKA_SCRAM_USERS" ] || die "KAFKA_SASL_SSL_PORT needs KAFKA_SCRAM_USERS (name:password,...)"
  parse_users KAFKA_SCRAM_USERS "$KAFKA_SCRAM_USERS" >/dev/null
}

write_kafka_config() { # NODE
  local i="$1" port cport voters="" j rf isr
  port="$(node_port "$i")"; cport="$(node_controller_port "$i")"
  rf="$(replication_factor)"; isr="$(min_isr)"
  for j in $(all_nodes); do voters+="${voters:+,}$j@${HOST}:$(node_controller_port "$j")"; done
  # The optional SASL_SSL listener extends the listener lines; without it they are unchanged.
  local sasl_listener="" sasl_map=""
  if sasl_ssl_enabled; then
    sasl_listener=",SASL_SSL://${HOST}:$(node_sasl_port "$i")"
    sasl_map=",SASL_SSL:SASL_SSL"
  fi
  cat >"$(node_conf "$i")" <<EOF
# Generated by deploy/local/stack.sh; edits are overwritten at every start.
# Node $i of $BROKERS KRaft nodes, each both broker and controller (no ZooKeeper in Kafka 4.x).
process.roles=broker,controller
node.id=$i
# A static quorum of every node (the simplest KRaft setup); storage is formatted without
# --standalone to match it.
controller.quorum.voters=${voters}
controller.listener.names=CONTROLLER
# Loopback only: nothing listens on an external interface.
listeners=PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${cport}${sasl_listener}
advertised.listeners=PLAINTEXT://${HOST}:${port}${sasl_listener}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${sasl_map}
log.dirs=$(node_data "$i")

# Every topic, the internal ones included, gets min(nodes, 3) copies with one fewer in sync
# (at least one): three nodes run as production does (replication 3, min.insync.replicas 2);
# one node could never satisfy Kafka's own internal defaults (3 and 2), and consumer groups and
# transactions would then never work.
offsets.topic.replication.factor=${rf}
transaction.state.log.replication.factor=${rf}
transaction.state.log.min.isr=${isr}
share.coordinator.state.topic.replication.factor=${rf}
share.coordinator.state.topic.min.isr=${isr}
default.replication.factor=${rf}
min.insync.replicas=${isr}

# A lone consumer should not wait the default 3 s for more members before its first assignment
# (this keeps tests fast).
group.initial.rebalance.delay.ms=0
num.partitions=1
# The service's own tooling creates its topics with the partition counts it needs; auto-creation
# would hide a missing topic (or a typo) behind a 1-partition topic.
auto.create.topics.enable=false
EOF
  sasl_ssl_enabled || return 0
  cat >>"$(node_conf "$i")" <<EOF

# KAFKA_SASL_SSL_PORT: clients may also connect over TLS and log in with SCRAM-SHA-512. The
# users were written into the metadata log when the storage was formatted (KAFKA_SCRAM_USERS).
# No authorizer is configured, so an authenticated user may do anything (transactions, groups).
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
# The broker side of SCRAM needs a login module but no credentials of its own: brokers and the
# controller talk PLAINTEXT.
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# A PEM keystore: one file with the unencrypted PKCS#8 key, then the certificate chain.
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=${KAFKA_SSL_DIR}/broker.pem
EOF
}

# NUL-separated --add-scram arguments for StorageTool format, one per KAFKA_SCRAM_USERS entry (none
# when the SASL_SSL listener is off). The passwords are on its command line for the few seconds
# the format takes: a local test stack, on loopback.
scram_format_args() {
  sasl_ssl_enabled || return 0
  local name pass
  while IFS=$'\t' read -r name pass; do
    printf '%s\0%s\0' --add-scram "SCRAM-SHA-512=[name=${name},password=${pass}]"
  done < <(parse_users KAFKA_SCRAM_USERS "$KAFKA_SCRAM_USERS")
}

write_log4j_configs() { # NODE
  # Broker: INFO to a size-capped rolling file; stdout/stderr (JVM crashes) go to kafka.out.
  local log; log="$(node_log "$1")"
  cat >"$RUN_DIR/kafka-log4j2$(node_sfx "$1").properties" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${log}
appender.file.filePattern = ${log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# Per-request and state-change chatter is useless in development and grows the file fast.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

tools_log4j_config() {
  # CLI tools (format, readiness probe): warnings only, on stderr.
  [ -f "$RUN_DIR/tools-log4j2.properties" ] && return 0
  mkdir -p "$RUN_DIR"
  cat >"$RUN_DIR/tools-log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
EOF
}

# A CLI tool's JVM lives for seconds: the quick compiler and the serial collector start it in
# about half the CPU time, which matters on a busy machine.
TOOL_JVM_OPTS=(-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC)

kafka_tool() { # CLASS ARGS...: run a Kafka CLI class with the cached jars
  local cls="$1"; shift
  kafka_java
  tools_log4j_config
  "$KAFKA_JAVA_BIN" "${TOOL_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$RUN_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIB/*" "$cls" "$@"
}

# kafka_ready NODE...: each node named is a registered, unfenced broker of the cluster (not just
# an open port). One JVM asks for all of them: starting one takes seconds on a busy machine.
kafka_ready() {
  local i out bootstrap=""
  for i in "$@"; do
    port_open "$(node_port "$i")" || return 1
    bootstrap+="${bootstrap:+,}$HOST:$(node_port "$i")"
  done
  kafka_java
  # 90 s: on a loaded machine the JVM alone can take half a minute to start.
  out="$(timeout 90 "$KAFKA_JAVA_BIN" "${TOOL_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$RUN_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIB/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$bootstrap" 2>/dev/null)" || return 1
  for i in "$@"; do
    grep -qF "$HOST:$(node_port "$i") (id: $i rack: null isFenced: false)" <<<"$out" || return 1
  done
}

# The cluster id every node is formatted with: an existing node's, else a new one (what
# `kafka-storage random-uuid` prints: 16 random bytes, URL-safe base64, not starting with "-",
# made here to save starting a JVM).
cluster_id() {
  local i f id
  for i in $(all_nodes); do
    f="$(node_data "$i")/meta.properties"
    if [ -f "$f" ]; then sed -n 's/^cluster.id=//p' "$f"; return; fi
  done
  id=-
  while [ "${id#-}" != "$id" ]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  echo "$id"
}

# format_node NODE CLUSTER_ID: a fresh data dir's KRaft storage must be formatted with the
# cluster's id before the first start. (In 4.4 the tool is kafka.tools.StorageTool, in the
# kafka_2.13 jar.) Restarts after stop-kafka keep the data and skip this.
format_node() {
  local i="$1" cid="$2" out t0
  local -a scram=()
  out="$(node_out "$i")"; t0=$(now_ms)
  : >"$out"; rm -f "$(node_log "$i")"*
  mapfile -d '' -t scram < <(scram_format_args)
  # The tool prints the bootstrap records, SCRAM salts and keys included: not for the log.
  kafka_tool kafka.tools.StorageTool format --ignore-formatted \
    --cluster-id "$cid" --config "$(node_conf "$i")" ${scram[@]+"${scram[@]}"} 2>&1 \
    | sed 's/UserScramCredentialRecord([^)]*)/UserScramCredentialRecord(...)/g' >>"$out" \
    || fail_start "$(node_name "$i")" "$out"
  log "$(node_name "$i"): formatted storage (cluster id $cid) in $(secs_since "$t0")"
}

spawn_node() { # NODE: start one node's process on its (formatted) data
  local i="$1" name out pidf
  name="$(node_name "$i")"; out="$(node_out "$i")"; pidf="$(node_pid "$i")"
  rm -f "$pidf"
  # JVM flags as in Kafka's own kafka-server-start.sh / kafka-run-class.sh (G1, short pauses),
  # with a 1 GB heap cap that leaves room for everything else on a 2-core/24 GB box.
  spawn "$pidf" "$out" "$KAFKA_JAVA_BIN" \
    -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$RUN_DIR/kafka-log4j2$(node_sfx "$i").properties" -Dkafka.logs.dir="$LOG_DIR" \
    ${KAFKA_EXTRA[@]+"${KAFKA_EXTRA[@]}"} -cp "$KAFKA_LIB/*" kafka.Kafka "$(node_conf "$i")"
  STARTED+=("kafka:$i")
  log "$name: started pid $(cat "$pidf"), waiting for $HOST:$(node_port "$i") ..."
}

# start_kafka [NODE...]: start the nodes named (default all) that are not running, all of them
# before waiting for any (a node of a cluster cannot answer until a majority of the quorum
# runs), then wait until each answers.
start_kafka() {
  local i t0 deadline name cid
  local -a nodes fresh=() start=() pids=()
  mapfile -t nodes < <(node_list "$@")
  fetch_kafka
  kafka_java
  tools_log4j_config
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$DATA_DIR"
  [ -f "$BROKERS_FILE" ] || echo "$BROKERS" >"$BROKERS_FILE"
  t0=$(now_ms)
  for i in "${nodes[@]}"; do
    if node_alive "$i"; then
      node_paused "$i" && log "$(node_name "$i"): paused (pid $(cat "$(node_pid "$i")")); 'stack.sh resume-kafka $i' continues it"
      continue
    fi
    start+=("$i")
    mkdir -p "$(node_data "$i")"
    write_kafka_config "$i"
    write_log4j_configs "$i"
    [ -f "$(node_data "$i")/meta.properties" ] || fresh+=("$i")
  done
  if [ "${#fresh[@]}" -gt 0 ]; then
    cid="$(cluster_id)"
    for i in "${fresh[@]}"; do format_node "$i" "$cid" & pids+=($!); done
    for i in "${pids[@]}"; do wait "$i" || exit 1; done
  fi
  for i in ${start[@]+"${start[@]}"}; do spawn_node "$i"; done
  deadline=$(( $(date +%s) + STACK_TIMEOUT ))
  until kafka_ready "${nodes[@]}"; do
    for i in "${nodes[@]}"; do
      name="$(node_name "$i")"
      node_alive "$i" || { log "$name: process exited"; fail_start "$name" "$(node_out "$i")" "$(node_log "$i")"; }
      [ "$(date +%s)" -lt "$deadline" ] || fail_start "$name" "$(node_out "$i")" "$(node_log "$i")"
    done
    sleep 0.5
  done
  for i in "${nodes[@]}"; do
    log "$(node_name "$i"): up at $HOST:$(node_port "$i") (pid $(cat "$(node_pid "$i")")) after $(secs_since "$t0")"
  done
}

# stop_kafka GRACE [NODE...]: a clean stop (SIGTERM) of the nodes named (default all), all at
# once, SIGKILL for any still alive after GRACE seconds. Data is kept.
stop_kafka() {
  local grace="$1" i; shift
  local -a nodes
  mapfile -t nodes < <(node_list "$@")
  for i in "${nodes[@]}"; do
    stop_pid "$(node_name "$i")" "$(node_pid "$i")" "$(node_conf "$i")" "$grace" &
  done
  wait
}

signal_node() { # SIGNAL NODE: send one node's process a signal (kill -9 waits until it is gone)
  local sig="$1" i name pid
  i="$(node_list "$2")"; name="$(node_name "$i")"
  node_alive "$i" || die "$name is not running"
  pid="$(cat "$(node_pid "$i")")"
  kill "-$sig" "$pid"
  if [ "$sig" = KILL ]; then
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$(node_pid "$i")"
  fi
  log "$name: SIG$sig sent (pid $pid)"
}
