#!/usr/bin/env bash
# Local development / CI stack on loopback, without Docker:
#   * Apache Kafka 4.4.0, one KRaft node acting as broker and controller;
#   * Apicurio Registry 3.3.3, whose Confluent-compatible API is at
#     http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7
#
# Usage: stack.sh up|down|status|check|logs [kafka|registry]
#        stack.sh start-kafka|stop-kafka|start-registry|stop-registry
#
#   check [kafka|registry|python ...]  the prerequisites (Linux, curl, Java 17+ and 21+, Maven
#            before the first download, Python 3.11+ with venv, free ports), each missing one on
#            a line of its own with where to get it; exit 1 if any is
#   up       check the prerequisites, download once (Maven Central only), then start whatever
#            is not running; idempotent. If it fails, it stops what it started.
#   down     stop what this script started and delete its data, so the next `up` starts clean
#   status   one line per component; exit 0 if all are up, 3 otherwise
#   logs     tail the logs (all, or of one component)
#   stop-*   stop one component but KEEP its data (fault tests restart it afterwards)
#   start-*  start one component on its existing data
#
# Environment:
#   SELFTAUGHT_CACHE      downloads          (default ~/.cache/selftaught)
#   SELFTAUGHT_STACK_DIR  data, pids, logs   (default <repo>/.stack)
#   KAFKA_PORT=9092 KAFKA_CONTROLLER_PORT=9093 REGISTRY_PORT=8081
#   REGISTRY_MANAGEMENT_PORT  Quarkus health/metrics port (default REGISTRY_PORT+1000)
#   REGISTRY_STORAGE=file|mem  registry schemas on disk under the state dir (default) or in memory
#   REGISTRY_COMPATIBILITY=BACKWARD  global compatibility rule (Confluent's default; NONE to disable)
#   KAFKA_EXTRA_OPTS / REGISTRY_EXTRA_OPTS  extra JVM flags (-D...) appended to each command line
#   STACK_TIMEOUT=120     seconds to wait for each component to answer
#   KAFKA_SASL_SSL_PORT   optional: a second client listener, SASL_SSL://127.0.0.1:<port>, with
#                         SCRAM-SHA-512 over TLS (unset: none, the broker is PLAINTEXT only).
#                         PLAINTEXT stays for the controller, inter-broker traffic and local tools.
#   KAFKA_SSL_DIR         with KAFKA_SASL_SSL_PORT: holds broker.pem, the broker's unencrypted
#                         PKCS#8 private key followed by its certificate chain (PEM keystore)
#   KAFKA_SCRAM_USERS     with KAFKA_SASL_SSL_PORT: "name:password,..." SCRAM-SHA-512 users,
#                         written when the storage is formatted (a fresh state dir), not later
#   REGISTRY_BASIC_AUTH_USERS  optional: "name:password,..."; the registry then requires HTTP
#                         basic auth with one of them (Quarkus embedded users, no OIDC server)
#   KAFKA_JAVA / REGISTRY_JAVA  java binaries to use (Kafka needs 17+, Apicurio 3.3 needs 21+)
set -euo pipefail

KAFKA_VERSION=4.4.0
SCALA_VERSION=2.13
# Kafka's server jars log through slf4j 1.7 (slf4j-api 1.7.36 is what kafka_2.13's pom pulls in)
# and ship log4j-api/log4j-core 2.25.5 but no binding between the two: without the matching
# log4j-slf4j-impl (the slf4j-1.x binding, not log4j-slf4j2-impl) the broker logs nothing at all.
LOG4J_VERSION=2.25.5
APICURIO_VERSION=3.3.3

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE_DIR="${SELFTAUGHT_CACHE:-$HOME/.cache/selftaught}"
STATE_DIR="${SELFTAUGHT_STACK_DIR:-$REPO_ROOT/.stack}"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
REGISTRY_MANAGEMENT_PORT="${REGISTRY_MANAGEMENT_PORT:-$((REGISTRY_PORT + 1000))}"
REGISTRY_STORAGE="${REGISTRY_STORAGE:-file}"
REGISTRY_COMPATIBILITY="${REGISTRY_COMPATIBILITY:-BACKWARD}"
read -r -a KAFKA_EXTRA <<<"${KAFKA_EXTRA_OPTS:-}"
read -r -a REGISTRY_EXTRA <<<"${REGISTRY_EXTRA_OPTS:-}"
STACK_TIMEOUT="${STACK_TIMEOUT:-120}"
HOST=127.0.0.1
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-}"
KAFKA_SSL_DIR="${KAFKA_SSL_DIR:-}"
KAFKA_SCRAM_USERS="${KAFKA_SCRAM_USERS:-}"
REGISTRY_BASIC_AUTH_USERS="${REGISTRY_BASIC_AUTH_USERS:-}"

KAFKA_HOME="$CACHE_DIR/kafka_${SCALA_VERSION}-${KAFKA_VERSION}"
KAFKA_LIB="$KAFKA_HOME/lib"
REGISTRY_HOME="$CACHE_DIR/apicurio-registry-${APICURIO_VERSION}"

RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
DATA_DIR="$STATE_DIR/data"
KAFKA_DATA="$DATA_DIR/kafka"
REGISTRY_DATA="$DATA_DIR/registry"
KAFKA_PID="$RUN_DIR/kafka.pid"
REGISTRY_PID="$RUN_DIR/registry.pid"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { date +%s%3N; }
secs_since() { local t=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((t / 1000)) $(((t % 1000) / 100)); }

# ---------------------------------------------------------------------------------------------
# Java
# ---------------------------------------------------------------------------------------------

java_major() { # prints the feature version of the given java binary ("17", "25"; "8" for 1.8)
  # A JDK's `release` file answers without starting a JVM (a second or more on a busy machine).
  local home v
  home="$(dirname "$(dirname "$(readlink -f "$1")")")"
  if [ -f "$home/release" ]; then
    v="$(sed -n 's/^JAVA_VERSION="\(1\.\)\{0,1\}\([0-9]*\).*/\2/p' "$home/release" | head -n1)"
    if [ -n "$v" ]; then echo "$v"; return; fi
  fi
  "$1" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \(1\.\)\{0,1\}\([0-9]*\).*/\2/p' | head -n1
}

# Prints the first java binary with feature version >= $1: $2 (explicit override) if given,
# then $JAVA_HOME, `java` on PATH, then the newest JDK under /usr/lib/jvm. On failure prints
# why on stdout and returns 1.
find_java() {
  local min="$1" explicit="${2:-}" cand v
  if [ -n "$explicit" ]; then
    [ -x "$explicit" ] || { echo "$explicit is not an executable"; return 1; }
    v="$(java_major "$explicit" || true)"
    [ -n "$v" ] && [ "$v" -ge "$min" ] || { echo "$explicit is Java ${v:-of unknown version}"; return 1; }
    echo "$explicit"; return
  fi
  local cands=()
  [ -n "${JAVA_HOME:-}" ] && cands+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && cands+=("$(command -v java)")
  for cand in $(ls -d /usr/lib/jvm/*/bin/java 2>/dev/null | sort -rV); do cands+=("$cand"); done
  for cand in "${cands[@]}"; do
    [ -x "$cand" ] || continue
    v="$(java_major "$cand" 2>/dev/null || true)"
    if [ -n "$v" ] && [ "$v" -ge "$min" ]; then echo "$cand"; return; fi
  done
  echo "none found in JAVA_HOME, on PATH or under /usr/lib/jvm"
  return 1
}

JDK_HINT="https://adoptium.net/ or your distribution's openjdk package"
KAFKA_JAVA_BIN=""
kafka_java() { # sets KAFKA_JAVA_BIN (once)
  [ -n "$KAFKA_JAVA_BIN" ] && return 0
  KAFKA_JAVA_BIN="$(find_java 17 "${KAFKA_JAVA:-}")" \
    || die "Kafka $KAFKA_VERSION needs Java 17+ ($KAFKA_JAVA_BIN): install one ($JDK_HINT) or set KAFKA_JAVA to its bin/java"
}

REGISTRY_JAVA_BIN=""
registry_java() { # sets REGISTRY_JAVA_BIN (once)
  [ -n "$REGISTRY_JAVA_BIN" ] && return 0
  # Apicurio Registry 3.3.x is compiled for Java 21 (class file version 65): on Java 17 it dies
  # at boot with UnsupportedClassVersionError. A machine's default java is often 17, so look for
  # a newer JDK too (e.g. /usr/lib/jvm/temurin-25-jdk-amd64).
  REGISTRY_JAVA_BIN="$(find_java 21 "${REGISTRY_JAVA:-}")" \
    || die "Apicurio Registry $APICURIO_VERSION needs Java 21+ ($REGISTRY_JAVA_BIN): install one ($JDK_HINT) or set REGISTRY_JAVA to its bin/java"
}

# ---------------------------------------------------------------------------------------------
# Prerequisites: every one checked before anything is downloaded or started, each missing one
# reported on a line of its own with where to get it.
# ---------------------------------------------------------------------------------------------

PROBLEMS=()
problem() { PROBLEMS+=("$*"); }

check_python() { # PYTHON (default python3) is 3.11+ and can make a virtualenv with pip
  local py="${PYTHON:-python3}" where="https://www.python.org/downloads/ or your distribution's python3.11 and python3.11-venv"
  if ! command -v "$py" >/dev/null 2>&1; then
    problem "missing: Python 3.11+ (PYTHON=$py not found): install it ($where) or set PYTHON to one"
  elif ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    problem "missing: Python 3.11+ ($py is $("$py" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?')): install it ($where) or set PYTHON to one"
  elif ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
    problem "missing: Python's venv module with ensurepip for $py: install it ($where)"
  fi
}

check_port_free() { # PORT WHAT
  port_open "$1" && problem "port $1 ($2) is taken by a process this script did not start: stop it or choose other ports"
  return 0
}

# preflight kafka|registry|fetch...: what the given commands need. Exits 1 listing every
# problem found; returns quietly when there is none.
preflight() {
  local what
  case " $* " in
    *" kafka "* | *" registry "* | *" fetch "*)
      [ "$(uname -s)" = Linux ] || problem "this script runs on Linux only (it reads /proc); elsewhere use deploy/compose.yaml"
      command -v curl >/dev/null 2>&1 || problem "missing: curl (the registry's readiness check): apt-get install curl, or https://curl.se/download.html"
      for what in setsid flock; do
        command -v "$what" >/dev/null 2>&1 || problem "missing: $what: apt-get install util-linux"
      done
      ;;
  esac
  for what in "$@"; do
    case "$what" in
      kafka)
        KAFKA_JAVA_BIN="$(find_java 17 "${KAFKA_JAVA:-}")" \
          || { problem "missing: Java 17+ for Kafka $KAFKA_VERSION ($KAFKA_JAVA_BIN): install one ($JDK_HINT) or set KAFKA_JAVA to its bin/java"; KAFKA_JAVA_BIN=""; }
        if ! pid_alive "$KAFKA_PID" "$KAFKA_MARKER"; then
          check_port_free "$KAFKA_PORT" KAFKA_PORT
          check_port_free "$KAFKA_CONTROLLER_PORT" KAFKA_CONTROLLER_PORT
          [ -z "$KAFKA_SASL_SSL_PORT" ] || check_port_free "$KAFKA_SASL_SSL_PORT" KAFKA_SASL_SSL_PORT
        fi
        [ -f "$KAFKA_HOME/.complete" ] || need_mvn=1
        ;;
      registry)
        REGISTRY_JAVA_BIN="$(find_java 21 "${REGISTRY_JAVA:-}")" \
          || { problem "missing: Java 21+ for Apicurio Registry $APICURIO_VERSION ($REGISTRY_JAVA_BIN): install one ($JDK_HINT) or set REGISTRY_JAVA to its bin/java"; REGISTRY_JAVA_BIN=""; }
        if ! pid_alive "$REGISTRY_PID" "$REGISTRY_MARKER"; then
          check_port_free "$REGISTRY_PORT" REGISTRY_PORT
          check_port_free "$REGISTRY_MANAGEMENT_PORT" REGISTRY_MANAGEMENT_PORT
        fi
        [ -f "$REGISTRY_HOME/.complete" ] || need_mvn=1
        ;;
      fetch) [ -f "$KAFKA_HOME/.complete" ] && [ -f "$REGISTRY_HOME/.complete" ] || need_mvn=1 ;;
      python) check_python ;;
    esac
  done
  if [ "${need_mvn:-0}" = 1 ] && ! command -v mvn >/dev/null 2>&1; then
    problem "missing: Maven (mvn), for the one-time download from Maven Central into $CACHE_DIR: apt-get install maven, or https://maven.apache.org/download.cgi"
  fi
  [ "${#PROBLEMS[@]}" -eq 0 ] && return 0
  printf '[stack] %s\n' "${PROBLEMS[@]}" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Downloads (once, into the cache; later runs never touch the network)
# ---------------------------------------------------------------------------------------------

# Maven's output goes to a file and is shown only if it fails.
mvn_quiet() { # DIR LOGFILE ARGS...
  local dir="$1" out="$2"; shift 2
  if ! (cd "$dir" && mvn -B -q -Dstyle.color=never "$@") >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    return 1
  fi
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

fetch_registry() {
  [ -f "$REGISTRY_HOME/.complete" ] && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn is needed for the first download"
  local t0 tmp; t0=$(now_ms)
  log "downloading Apicurio Registry $APICURIO_VERSION (about 160 MB) from Maven Central ..."
  mkdir -p "$CACHE_DIR"
  tmp="$(mktemp -d "$CACHE_DIR/.registry.XXXXXX")"
  mvn_quiet "$tmp" "$tmp/mvn.log" dependency:copy \
      "-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all" -DoutputDirectory="$tmp" \
    || { rm -rf "$tmp"; die "Maven could not fetch Apicurio Registry $APICURIO_VERSION"; }
  mkdir -p "$tmp/dist"
  tar -xzf "$tmp/apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz" -C "$tmp/dist"
  rm -f "$tmp/apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz"
  # The tarball is a Quarkus "fast-jar": quarkus-run.jar sits at its top level next to lib/, app/ and quarkus/.
  [ -f "$tmp/dist/quarkus-run.jar" ] || { rm -rf "$tmp"; die "quarkus-run.jar not found in the registry tarball"; }
  touch "$tmp/.complete"
  rm -rf "$REGISTRY_HOME"; mv "$tmp" "$REGISTRY_HOME"
  log "Apicurio Registry ready in $(secs_since "$t0")"
}

# ---------------------------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# pid_alive PIDFILE MARKER: the pid in PIDFILE is running and its command line contains MARKER
# (so a recycled pid of some unrelated process is never mistaken for ours).
pid_alive() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null)"; [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# spawn PIDFILE LOGFILE CMD...: run CMD in its own session, detached from this shell, output
# appended to LOGFILE; the pid written is the java process itself (bash execs into it).
spawn() {
  local pidfile="$1" logfile="$2"; shift 2
  printf '\n===== %s starting: %s\n' "$(date '+%F %T')" "$*" >>"$logfile"
  # 9>&- : do not hand the `flock` descriptor to the daemon, or it would hold the lock forever.
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  local i
  for i in $(seq 50); do [ -s "$pidfile" ] && return 0; sleep 0.1; done
  die "could not start $*"
}

# stop_pid NAME PIDFILE MARKER GRACE: SIGTERM, wait up to GRACE seconds, then SIGKILL.
stop_pid() {
  local name="$1" pidfile="$2" marker="$3" grace="$4" pid i t0
  if ! pid_alive "$pidfile" "$marker"; then
    rm -f "$pidfile"; log "$name: not running"; return 0
  fi
  pid="$(cat "$pidfile")"; t0=$(now_ms)
  # A paused (SIGSTOP) process would hold SIGTERM until continued.
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still alive after ${grace}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$pidfile"
  log "$name: stopped (pid $pid) in $(secs_since "$t0")"
}

fail_start() { # NAME LOGFILES...: print the tail of the logs and exit non-zero
  local name="$1" f; shift
  log "$name did not come up within ${STACK_TIMEOUT}s"
  for f in "$@"; do
    [ -f "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 60 "$f" >&2
  done
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------

KAFKA_MARKER="kafka.Kafka"
KAFKA_CONF="$RUN_DIR/kafka-server.properties"

# parse_users VAR LIST: "name:password,..." -> one "name<TAB>password" line each on stdout; dies on
# a malformed entry, naming VAR.
parse_users() {
  local var="$1" list="$2" entry name pass
  local -a entries
  IFS=',' read -r -a entries <<<"$list"
  for entry in "${entries[@]}"; do
    [ -n "$entry" ] || continue
    name="${entry%%:*}"; pass="${entry#*:}"
    # They end up inside Kafka's --add-scram syntax ([name=...,password=...]) and in Java
    # properties: refuse the characters those would misread rather than mangle a credential.
    case "$entry" in
      *:*) ;;
      *) die "$var: entries are name:password" ;;
    esac
    case "$name$pass" in
      *[[:space:]\"\'=\[\]\\]*) die "$var: names and passwords may not hold spaces, quotes, =, [, ] or backslashes" ;;
    esac
    [ -n "$name" ] && [ -n "$pass" ] || die "$var: entries are name:password, neither empty"
    printf '%s\t%s\n' "$name" "$pass"
  done
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

write_kafka_config() {
  # The optional SASL_SSL listener extends the listener lines; without it they are unchanged.
  local sasl_listener="" sasl_map=""
  if sasl_ssl_enabled; then
    sasl_listener=",SASL_SSL://${HOST}:${KAFKA_SASL_SSL_PORT}"
    sasl_map=",SASL_SSL:SASL_SSL"
  fi
  cat >"$KAFKA_CONF" <<EOF
# Generated by deploy/local/stack.sh; edits are overwritten at every start.
# One KRaft node that is both broker and controller (no ZooKeeper in Kafka 4.x).
process.roles=broker,controller
node.id=1
# Static single-voter quorum: the simplest KRaft setup for one node; storage is formatted
# without --standalone to match it.
controller.quorum.voters=1@${HOST}:${KAFKA_CONTROLLER_PORT}
controller.listener.names=CONTROLLER
# Loopback only: nothing listens on an external interface.
listeners=PLAINTEXT://${HOST}:${KAFKA_PORT},CONTROLLER://${HOST}:${KAFKA_CONTROLLER_PORT}${sasl_listener}
advertised.listeners=PLAINTEXT://${HOST}:${KAFKA_PORT}${sasl_listener}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${sasl_map}
log.dirs=${KAFKA_DATA}

# Internal topics default to replication factor 3 / min ISR 2, which one broker cannot
# satisfy: consumer groups, transactions and share groups would then never work.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1

# A lone consumer should not wait the default 3 s for more members before its first assignment
# (this keeps tests fast).
group.initial.rebalance.delay.ms=0
num.partitions=1
# The service's own tooling creates its topics with the partition counts it needs; auto-creation
# would hide a missing topic (or a typo) behind a 1-partition topic.
auto.create.topics.enable=false
EOF
  sasl_ssl_enabled || return 0
  cat >>"$KAFKA_CONF" <<EOF

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

write_log4j_configs() {
  # Broker: INFO to a size-capped rolling file; stdout/stderr (JVM crashes) go to kafka.out.
  cat >"$RUN_DIR/kafka-log4j2.properties" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${LOG_DIR}/kafka.log
appender.file.filePattern = ${LOG_DIR}/kafka.log.%i
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
  # CLI tools (format, readiness probe): warnings only, on stderr.
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

kafka_tool() { # CLASS ARGS...: run a Kafka CLI class with the cached jars
  local cls="$1"; shift
  kafka_java
  "$KAFKA_JAVA_BIN" -Xmx256m -Dlog4j2.configurationFile="$RUN_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIB/*" "$cls" "$@"
}

kafka_ready() { # the broker answers a metadata request (not just an open port)
  port_open "$KAFKA_PORT" || return 1
  kafka_java
  timeout 30 "$KAFKA_JAVA_BIN" -Xmx256m -Dlog4j2.configurationFile="$RUN_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIB/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$HOST:$KAFKA_PORT" --list >/dev/null 2>&1
}

start_kafka() {
  fetch_kafka
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$KAFKA_DATA"
  if pid_alive "$KAFKA_PID" "$KAFKA_MARKER"; then
    if kafka_ready; then log "kafka: already running (pid $(cat "$KAFKA_PID")) at $HOST:$KAFKA_PORT"; return 0; fi
    log "kafka: process $(cat "$KAFKA_PID") exists but does not answer yet; waiting for it"
  else
    rm -f "$KAFKA_PID"
    local t0; kafka_java; t0=$(now_ms)
    write_kafka_config
    write_log4j_configs
    if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
      # Fresh data dir: KRaft storage must be formatted with a cluster id before the first start.
      # (In 4.4 the tool is kafka.tools.StorageTool, in the kafka_2.13 jar.) Restarts after
      # stop-kafka keep the data and skip this.
      : >"$LOG_DIR/kafka.out"; rm -f "$LOG_DIR"/kafka.log*
      local cluster_id
      local -a scram=()
      cluster_id="$(kafka_tool kafka.tools.StorageTool random-uuid)"
      mapfile -d '' -t scram < <(scram_format_args)
      # The tool prints the bootstrap records, SCRAM salts and keys included: not for the log.
      kafka_tool kafka.tools.StorageTool format --ignore-formatted \
        --cluster-id "$cluster_id" --config "$KAFKA_CONF" ${scram[@]+"${scram[@]}"} 2>&1 \
        | sed 's/UserScramCredentialRecord([^)]*)/UserScramCredentialRecord(...)/g' >>"$LOG_DIR/kafka.out" \
        || fail_start kafka "$LOG_DIR/kafka.out"
      log "kafka: formatted storage (cluster id $cluster_id) in $(secs_since "$t0")"
    fi
    # JVM flags as in Kafka's own kafka-server-start.sh / kafka-run-class.sh (G1, short pauses),
    # with a 1 GB heap cap that leaves room for everything else on a 2-core/24 GB box.
    spawn "$KAFKA_PID" "$LOG_DIR/kafka.out" "$KAFKA_JAVA_BIN" \
      -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$RUN_DIR/kafka-log4j2.properties" -Dkafka.logs.dir="$LOG_DIR" \
      ${KAFKA_EXTRA[@]+"${KAFKA_EXTRA[@]}"} -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_CONF"
    STARTED+=(kafka)
    log "kafka: started pid $(cat "$KAFKA_PID"), waiting for $HOST:$KAFKA_PORT ..."
    KAFKA_T0=$t0
  fi
  local t0="${KAFKA_T0:-$(now_ms)}" deadline=$(( $(date +%s) + STACK_TIMEOUT ))
  until kafka_ready; do
    pid_alive "$KAFKA_PID" "$KAFKA_MARKER" || { log "kafka: process exited"; fail_start kafka "$LOG_DIR/kafka.out" "$LOG_DIR/kafka.log"; }
    [ "$(date +%s)" -lt "$deadline" ] || fail_start kafka "$LOG_DIR/kafka.out" "$LOG_DIR/kafka.log"
    sleep 0.5
  done
  log "kafka: up at $HOST:$KAFKA_PORT after $(secs_since "$t0")"
}

stop_kafka() {
  # A clean shutdown of a combined node takes a few seconds (it flushes logs and leaves the
  # quorum); 30 s before SIGKILL. Data is kept.
  stop_pid kafka "$KAFKA_PID" "$KAFKA_MARKER" 30
}

# ---------------------------------------------------------------------------------------------
# Apicurio Registry
# ---------------------------------------------------------------------------------------------

REGISTRY_MARKER="quarkus-run.jar"
REGISTRY_URL="http://$HOST:$REGISTRY_PORT/apis/ccompat/v7"

REGISTRY_AUTH_CONF="$RUN_DIR/registry-auth.properties"

registry_ready() {
  if [ -z "$REGISTRY_BASIC_AUTH_USERS" ]; then
    curl -fsS -o /dev/null --max-time 5 "$REGISTRY_URL/subjects" 2>/dev/null
    return
  fi
  # With basic auth, ask as the first user; the credentials go through a config read from a pipe,
  # not the command line (which any local user can read).
  local name pass
  IFS=$'\t' read -r name pass < <(parse_users REGISTRY_BASIC_AUTH_USERS "$REGISTRY_BASIC_AUTH_USERS")
  printf 'user = "%s:%s"\n' "$name" "$pass" \
    | curl -fsS -o /dev/null --max-time 5 -K - "$REGISTRY_URL/subjects" 2>/dev/null
}

# REGISTRY_BASIC_AUTH_USERS: Apicurio 3.3 authenticates HTTP basic credentials itself when
# quarkus.http.auth.basic is true (its chain, apicurio.authn.mechanism.priority, starts with
# "basic"), against Quarkus's embedded users (quarkus.security.users.embedded.enabled is true in
# its build). No OIDC server is involved. Quarkus warns at start that quarkus.http.auth.basic is
# "build time fixed": the registry reads it at run time all the same. The users go into a file
# only we can read, named by -Dquarkus.config.locations, so no password is on a command line.
write_registry_auth_config() {
  local name pass
  (
    umask 077
    {
      echo "# Generated by deploy/local/stack.sh from REGISTRY_BASIC_AUTH_USERS; rewritten at every start."
      echo "quarkus.http.auth.basic=true"
      echo "quarkus.security.users.embedded.plain-text=true"
      while IFS=$'\t' read -r name pass; do
        echo "quarkus.security.users.embedded.users.${name}=${pass}"
        # Roles only matter once apicurio.auth.role-based-authorization is on; admin then.
        echo "quarkus.security.users.embedded.roles.${name}=sr-admin"
      done < <(parse_users REGISTRY_BASIC_AUTH_USERS "$REGISTRY_BASIC_AUTH_USERS")
    } >"$REGISTRY_AUTH_CONF"
  )
}

start_registry() {
  fetch_registry
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$REGISTRY_DATA"
  if pid_alive "$REGISTRY_PID" "$REGISTRY_MARKER"; then
    if registry_ready; then log "registry: already running (pid $(cat "$REGISTRY_PID")) at $REGISTRY_URL"; return 0; fi
    log "registry: process $(cat "$REGISTRY_PID") exists but does not answer yet; waiting for it"
  else
    rm -f "$REGISTRY_PID"
    local t0 db_url; registry_java; t0=$(now_ms)
    local -a auth=()
    rm -f "$REGISTRY_AUTH_CONF"
    if [ -n "$REGISTRY_BASIC_AUTH_USERS" ]; then
      parse_users REGISTRY_BASIC_AUTH_USERS "$REGISTRY_BASIC_AUTH_USERS" >/dev/null
      write_registry_auth_config
      auth=("-Dquarkus.config.locations=$REGISTRY_AUTH_CONF")
    fi
    case "$REGISTRY_STORAGE" in
      # The registry's own default is an in-memory H2 database, which a stop-registry/start-registry
      # cycle would wipe while Kafka still holds records whose schema ids point into it. A file H2
      # database in the state dir survives such a restart; `down` deletes it like Kafka's data.
      file) db_url="jdbc:h2:file:$REGISTRY_DATA/registry" ;;
      mem)  db_url="jdbc:h2:mem:registry"; rm -rf "${REGISTRY_DATA:?}"/* ;;
      *) die "REGISTRY_STORAGE must be file or mem" ;;
    esac
    [ -n "$(ls -A "$REGISTRY_DATA" 2>/dev/null)" ] || : >"$LOG_DIR/registry.log"
    # -Dquarkus.http.host: Quarkus binds 0.0.0.0 by default outside dev mode; loopback only here.
    # -Dquarkus.management.*: the prod build enables a separate management (health/metrics)
    #   server, by default on 0.0.0.0:9000; move it to loopback and a port derived from ours.
    # -Dapicurio.ccompat.legacy-id-mode.enabled=false (the default, stated on purpose): the ids the
    #   ccompat API hands out are content ids, so like Confluent's registry the same schema gets
    #   the same id in every subject. `true` would hand out global ids (one per subject version).
    #   Both round-trip with confluent-kafka-python; content ids match Confluent semantics.
    # -Dapicurio.rules.global.compatibility: Apicurio applies no compatibility rule unless told;
    #   Confluent's registry defaults to BACKWARD (GET /config answers it, incompatible -> 409).
    # -Dapicurio.storage.kind/sql.kind: the defaults (SQL on H2), stated so the choice is visible.
    spawn "$REGISTRY_PID" "$LOG_DIR/registry.log" "$REGISTRY_JAVA_BIN" -Xms128m -Xmx512m \
      -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
      -Dquarkus.management.host="$HOST" -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT" \
      -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 -Dapicurio.datasource.url="$db_url" \
      -Dapicurio.ccompat.legacy-id-mode.enabled=false \
      -Dapicurio.rules.global.compatibility="$REGISTRY_COMPATIBILITY" \
      ${auth[@]+"${auth[@]}"} ${REGISTRY_EXTRA[@]+"${REGISTRY_EXTRA[@]}"} \
      -jar "$REGISTRY_HOME/dist/quarkus-run.jar"
    STARTED+=(registry)
    log "registry: started pid $(cat "$REGISTRY_PID"), waiting for $REGISTRY_URL ..."
    REGISTRY_T0=$t0
  fi
  local t0="${REGISTRY_T0:-$(now_ms)}" deadline=$(( $(date +%s) + STACK_TIMEOUT ))
  until registry_ready; do
    pid_alive "$REGISTRY_PID" "$REGISTRY_MARKER" || { log "registry: process exited"; fail_start registry "$LOG_DIR/registry.log"; }
    [ "$(date +%s)" -lt "$deadline" ] || fail_start registry "$LOG_DIR/registry.log"
    sleep 0.5
  done
  log "registry: up at $REGISTRY_URL after $(secs_since "$t0")"
}

stop_registry() {
  stop_pid registry "$REGISTRY_PID" "$REGISTRY_MARKER" 15
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

lock() {
  # Two `up`s at once (e.g. parallel CI steps) must not both start a broker.
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock 9
}

# What this invocation started: a failed `up` stops it again, so it leaves nothing running.
STARTED=()
undo_on_failure() {
  local rc=$? c
  [ "$rc" -ne 0 ] && [ "${#STARTED[@]}" -gt 0 ] || return 0
  log "failed: stopping what this run started (${STARTED[*]})"
  for c in "${STARTED[@]}"; do
    case "$c" in
      kafka) stop_pid kafka "$KAFKA_PID" "$KAFKA_MARKER" 10 ;;
      registry) stop_pid registry "$REGISTRY_PID" "$REGISTRY_MARKER" 10 ;;
    esac
  done
  exit "$rc"
}

cmd_up() {
  local t0; t0=$(now_ms)
  preflight kafka registry
  check_sasl_ssl_settings
  trap undo_on_failure EXIT
  fetch_kafka
  fetch_registry
  start_kafka
  start_registry
  log "stack up in $(secs_since "$t0"): kafka $HOST:$KAFKA_PORT, schema registry $REGISTRY_URL"
}

cmd_down() {
  stop_registry
  stop_kafka
  rm -rf "$DATA_DIR" "$RUN_DIR"
  log "down; data removed (logs kept in $LOG_DIR)"
}

cmd_status() {
  local rc=0 k r
  if pid_alive "$KAFKA_PID" "$KAFKA_MARKER" && port_open "$KAFKA_PORT"; then k="running (pid $(cat "$KAFKA_PID"))"; else k=stopped; rc=3; fi
  if pid_alive "$REGISTRY_PID" "$REGISTRY_MARKER" && registry_ready; then r="running (pid $(cat "$REGISTRY_PID"))"; else r=stopped; rc=3; fi
  printf '%-9s %-22s %s\n' kafka "$k" "$HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)"
  if sasl_ssl_enabled; then printf '%-9s %-22s %s\n' "" "" "SASL_SSL $HOST:$KAFKA_SASL_SSL_PORT (SCRAM-SHA-512)"; fi
  printf '%-9s %-22s %s\n' registry "$r" "$REGISTRY_URL"
  return $rc
}

cmd_logs() {
  case "${1:-all}" in
    kafka) tail -n 100 -F "$LOG_DIR/kafka.log" "$LOG_DIR/kafka.out" ;;
    registry) tail -n 100 -F "$LOG_DIR/registry.log" ;;
    all) tail -n 50 -F "$LOG_DIR/kafka.log" "$LOG_DIR/kafka.out" "$LOG_DIR/registry.log" ;;
    *) die "logs takes kafka or registry" ;;
  esac
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  check)
    shift
    if [ "$#" -eq 0 ]; then set -- kafka registry python; fi
    preflight "$@"
    case " $* " in *" kafka "*) check_sasl_ssl_settings ;; esac
    log "prerequisites present: $*" ;;
  up) lock; cmd_up ;;
  down) lock; cmd_down ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  start-kafka) lock; preflight kafka; check_sasl_ssl_settings; trap undo_on_failure EXIT; start_kafka ;;
  stop-kafka) lock; stop_kafka ;;
  start-registry) lock; preflight registry; trap undo_on_failure EXIT; start_registry ;;
  stop-registry) lock; stop_registry ;;
  fetch) lock; preflight fetch; fetch_kafka; fetch_registry ;;
  *) usage ;;
esac
