#!/usr/bin/env bash
# Local development / CI stack on loopback, without Docker:
#   * Apache Kafka 4.4.0: one KRaft node acting as broker and controller, or with --brokers N
#     a cluster of N such nodes (every topic then replicated min(N, 3) times, min ISR one less);
#   * Apicurio Registry 3.3.3, whose Confluent-compatible API is at
#     http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7
#
# Usage: stack.sh [--brokers N] up|down|status|check|bootstrap|env|logs [kafka [N]|kafka-N|registry]
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
#   env      print the service's settings for this stack, NAME=value lines:
#            SELFTAUGHT_BOOTSTRAP_SERVERS (every node) and SELFTAUGHT_SCHEMA_REGISTRY_URL
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

# One file per component, sourced in order: common (settings, logging, processes), prereqs
# (Java, the checks before anything starts), kafka, registry. This file holds the commands.
STACK_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack"
# shellcheck source=stack/common.sh
source "$STACK_LIB/common.sh"
# shellcheck source=stack/prereqs.sh
source "$STACK_LIB/prereqs.sh"
# shellcheck source=stack/kafka.sh
source "$STACK_LIB/kafka.sh"
# shellcheck source=stack/registry.sh
source "$STACK_LIB/registry.sh"

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
  env)
    echo "SELFTAUGHT_BOOTSTRAP_SERVERS=$(bootstrap_list)"
    echo "SELFTAUGHT_SCHEMA_REGISTRY_URL=$REGISTRY_URL" ;;
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
