#!/usr/bin/env bash
# Sourced by deploy/local/stack.sh (not run on its own): the settings every component reads,
# logging, and the process helpers (start detached, stop, tell ours from a recycled pid).

KAFKA_VERSION=4.4.0
SCALA_VERSION=2.13
# Kafka's server jars log through slf4j 1.7 (slf4j-api 1.7.36 is what kafka_2.13's pom pulls in)
# and ship log4j-api/log4j-core 2.25.5 but no binding between the two: without the matching
# log4j-slf4j-impl (the slf4j-1.x binding, not log4j-slf4j2-impl) the broker logs nothing at all.
LOG4J_VERSION=2.25.5
APICURIO_VERSION=3.3.3

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
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
  # A new session is a scheduling group of its own under Linux's autogroups, competing at full
  # weight whatever its niceness: a stack started under `nice -n 19` gives its group that
  # niceness too (only a lowered one; nothing where the kernel has no autogroups).
  setsid bash -c 'n=$(nice); [ "$n" -le 0 ] || echo "$n" 2>/dev/null >/proc/self/autogroup
    echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 9>&- &
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

# Maven's output goes to a file and is shown only if it fails.
mvn_quiet() { # DIR LOGFILE ARGS...
  local dir="$1" out="$2"; shift 2
  if ! (cd "$dir" && mvn -B -q -Dstyle.color=never "$@") >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    return 1
  fi
}
