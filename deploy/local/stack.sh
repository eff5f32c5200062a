#!/usr/bin/env bash
# Local development / CI stack on loopback, without Docker:
#   * Apache Kafka 4.4.0: one KRaft node acting as broker and controller, or with --brokers N
#     a cluster of N such nodes (every topic then replicated min(N, 3) times, min ISR one less);
#   * Apicurio Registry 3.3.3, whose Confluent-compatible API is at
#     http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7
#
# Usage: stack.sh [--brokers N] up|down|status|check|bootstrap|logs [kafka [N]|kafka-N|registry]
#        stack.sh start-kafka|stop-kafka [N...]     (no N: every node)
#        stack.sh kill-kafka|pause-kafka|resume-kafka N
#        stack.sh start-registry|stop-registry
#
#   check [kafka|registry|python ...]  the prerequisites (Linux, curl, Java 17+ and 21+, Maven
#            before the first download, Python 3.11+ with venv, free ports), each missing one on
#            a line of its own with where to get it; exit 1 if any is
#   up       check the prerequisites, download once (Maven Central only), then start whatever
#            is not running; idempotent. If it fails, it stops what it started.
#   --brokers N  (or KAFKA_BROKERS=N) the number of Kafka nodes, 1 (the default) to 9, fixed when
#            the stack's storage is made; later commands read it from the state dir. Node i
#            listens on KAFKA_PORT+2(i-1), its controller on KAFKA_CONTROLLER_PORT+2(i-1).
#   down     stop what this script started and delete its data, so the next `up` starts clean
#   status   one line per component; exit 0 if all are up, 3 otherwise
#   bootstrap  print the bootstrap list of every node (host:port,host:port,...)
#   logs     tail the logs (all, or of one component)
#   stop-*   stop (SIGTERM) one component but KEEP its data (fault tests restart it afterwards)
#   start-*  start one component on its existing data; start-kafka starts every node named
#            before waiting for them (a cluster's node cannot answer without a quorum)
#   kill-kafka N    SIGKILL node N (returns once it is gone; data kept; start-kafka N restarts it)
#   pause-kafka N   SIGSTOP node N (frozen: its sessions expire); resume-kafka N sends SIGCONT
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
REGISTRY_DATA="$DATA_DIR/registry"
REGISTRY_PID="$RUN_DIR/registry.pid"
# How many Kafka nodes the stack in STATE_DIR has: written when its storage is first made, so
# every later command (status, stop-kafka 2, down) knows without being told.
BROKERS_FILE="$DATA_DIR/brokers"

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
  local what i
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
        for i in $(all_nodes); do
          node_alive "$i" && continue
          local sfx=""; [ "$i" = 1 ] || sfx="+$((2 * (i - 1))), $(node_name "$i")"
          check_port_free "$(node_port "$i")" "KAFKA_PORT$sfx"
          check_port_free "$(node_controller_port "$i")" "KAFKA_CONTROLLER_PORT$sfx"
          [ -z "$KAFKA_SASL_SSL_PORT" ] || check_port_free "$(node_sasl_port "$i")" "KAFKA_SASL_SSL_PORT$sfx"
        done
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

kafka_tool() { # CLASS ARGS...: run a Kafka CLI class with the cached jars
  local cls="$1"; shift
  kafka_java
  tools_log4j_config
  "$KAFKA_JAVA_BIN" -Xmx256m -Dlog4j2.configurationFile="$RUN_DIR/tools-log4j2.properties" \
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
  out="$(timeout 30 "$KAFKA_JAVA_BIN" -Xmx256m -Dlog4j2.configurationFile="$RUN_DIR/tools-log4j2.properties" \
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
  local -a names=() nodes=()
  for c in "${STARTED[@]}"; do
    case "$c" in
      kafka:*) nodes+=("${c#kafka:}"); names+=("$(node_name "${c#kafka:}")") ;;
      *) names+=("$c") ;;
    esac
  done
  log "failed: stopping what this run started (${names[*]})"
  case " ${STARTED[*]} " in *" registry "*) stop_registry ;; esac
  [ "${#nodes[@]}" -eq 0 ] || stop_kafka 10 "${nodes[@]}"
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
  log "stack up in $(secs_since "$t0"): kafka $(bootstrap_list), schema registry $REGISTRY_URL"
}

cmd_down() {
  stop_registry
  # One node shuts down cleanly within seconds; the nodes of a cluster stopped together lose
  # their quorum midway and would wait for it: their data is deleted anyway.
  if [ "$BROKERS" = 1 ]; then stop_kafka 30; else stop_kafka 10; fi
  rm -rf "$DATA_DIR" "$RUN_DIR"
  log "down; data removed (logs kept in $LOG_DIR)"
}

cmd_status() {
  local rc=0 k r i pidf
  for i in $(all_nodes); do
    pidf="$(node_pid "$i")"
    if node_paused "$i"; then k="paused (pid $(cat "$pidf"))"; rc=3
    elif node_alive "$i" && port_open "$(node_port "$i")"; then k="running (pid $(cat "$pidf"))"
    else k=stopped; rc=3; fi
    printf '%-9s %-22s %s\n' "$(node_name "$i")" "$k" "$HOST:$(node_port "$i") (controller $HOST:$(node_controller_port "$i"))"
    if sasl_ssl_enabled; then printf '%-9s %-22s %s\n' "" "" "SASL_SSL $HOST:$(node_sasl_port "$i") (SCRAM-SHA-512)"; fi
  done
  [ "$BROKERS" = 1 ] || printf '%-9s %-22s %s\n' bootstrap "" "$(bootstrap_list)"
  if pid_alive "$REGISTRY_PID" "$REGISTRY_MARKER" && registry_ready; then r="running (pid $(cat "$REGISTRY_PID"))"; else r=stopped; rc=3; fi
  printf '%-9s %-22s %s\n' registry "$r" "$REGISTRY_URL"
  return $rc
}

cmd_logs() {
  local i
  local -a files=() nodes=()
  case "${1:-all}" in
    kafka) shift; mapfile -t nodes < <(node_list "$@") ;;
    kafka-[0-9]) mapfile -t nodes < <(node_list "${1#kafka-}") ;;
    registry) files=("$LOG_DIR/registry.log") ;;
    all) mapfile -t nodes < <(all_nodes); files=("$LOG_DIR/registry.log") ;;
    *) die "logs takes kafka [N], kafka-N or registry" ;;
  esac
  for i in ${nodes[@]+"${nodes[@]}"}; do files+=("$(node_log "$i")" "$(node_out "$i")"); done
  tail -n 50 -F "${files[@]}"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

# --brokers N (or --brokers=N) may come anywhere; every other argument is the command's.
ARGS=()
WANT_BROKERS=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --brokers) [ "$#" -ge 2 ] || die "--brokers needs a number"; WANT_BROKERS="$2"; shift 2 ;;
    --brokers=*) WANT_BROKERS="${1#--brokers=}"; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
set -- ${ARGS[@]+"${ARGS[@]}"}
resolve_brokers "$WANT_BROKERS"

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
  bootstrap) bootstrap_list ;;
  start-kafka) shift; lock; preflight kafka; check_sasl_ssl_settings; trap undo_on_failure EXIT; start_kafka "$@" ;;
  # A clean shutdown of a node takes a few seconds (it flushes logs and leaves the quorum).
  stop-kafka) shift; lock; stop_kafka 30 "$@" ;;
  kill-kafka) lock; signal_node KILL "${2:?kill-kafka takes a node number}" ;;
  pause-kafka) lock; signal_node STOP "${2:?pause-kafka takes a node number}" ;;
  resume-kafka) lock; signal_node CONT "${2:?resume-kafka takes a node number}" ;;
  start-registry) lock; preflight registry; trap undo_on_failure EXIT; start_registry ;;
  stop-registry) lock; stop_registry ;;
  fetch) lock; preflight fetch; fetch_kafka; fetch_registry ;;
  *) usage ;;
esac
