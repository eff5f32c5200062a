#!/usr/bin/env bash
# Makes `prometheus` and `promtool` available for the observability tests (alert rules
# checked and unit-tested with promtool, a real Prometheus scraping the real service).
# Debian's `prometheus` package provides both. Idempotent: when both are on PATH it only
# prints their versions. Call it (`bash deploy/local/tools.sh`) or source it.
#
# The package ships a daemon (an init script, or a systemd unit) listening on :9090. The tests
# start their own server on a free loopback port, so the packaged daemon must not run: its
# start is refused while installing (policy-rc.d) and anything it still started is stopped.

_selftaught_tools() {
  local missing=0
  command -v prometheus >/dev/null 2>&1 || missing=1
  command -v promtool >/dev/null 2>&1 || missing=1
  if [ "$missing" = 1 ]; then
    _selftaught_install_prometheus || return 1
  fi
  echo "tools: $(prometheus --version 2>&1 | head -n 1)"
  echo "tools: $(promtool --version 2>&1 | head -n 1)"
}

_selftaught_install_prometheus() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "tools: prometheus/promtool are missing and installing them needs root" \
        "(apt-get install prometheus)" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "tools: prometheus/promtool are missing and this is not a Debian-like system;" \
      "install Prometheus 2.x so that both are on PATH" >&2
    return 1
  fi
  # Only refresh the package lists when they do not know the package yet.
  if ! apt-cache policy prometheus 2>/dev/null | grep -Eq 'Candidate: [0-9]'; then
    $sudo apt-get update -qq || return 1
  fi
  # Refuse service starts while the package installs (Debian's policy-rc.d protocol: exit
  # 101 means "not allowed"), unless the machine already has a policy of its own.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy"
    added_policy=1
  fi
  local rc=0
  $sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null || rc=$?
  if [ "$added_policy" = 1 ]; then
    $sudo rm -f "$policy"
  fi
  [ "$rc" = 0 ] || { echo "tools: apt-get install prometheus failed ($rc)" >&2; return "$rc"; }
  _selftaught_stop_packaged_daemon "$sudo"
}

_selftaught_stop_packaged_daemon() {
  local sudo="$1"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    return 0
  fi
  # SysV-style: the init script keeps its pid in /run/prometheus/prometheus.pid.
  local pidfile=/run/prometheus/prometheus.pid pid
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      echo "tools: stopping the packaged prometheus daemon (pid $pid)"
      if [ -x /etc/init.d/prometheus ]; then
        $sudo /etc/init.d/prometheus stop >/dev/null 2>&1 || $sudo kill "$pid" || true
      else
        $sudo kill "$pid" || true
      fi
    fi
  fi
}

if (return 0 2>/dev/null); then
  # Sourced: leave the caller's shell options alone and report failure through the status.
  _selftaught_tools
else
  set -euo pipefail
  _selftaught_tools
fi
