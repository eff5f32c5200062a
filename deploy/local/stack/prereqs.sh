#!/usr/bin/env bash
# Sourced by deploy/local/stack.sh (not run on its own): finding a Java of the right version, and the
# prerequisites of each command, all checked before anything is downloaded or started.

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
