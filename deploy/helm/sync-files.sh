#!/usr/bin/env bash
# Copies the files the chart embeds from their single sources into the chart's files/ (Helm's
# .Files cannot read outside the chart directory):
#   deploy/prometheus/alerts.yaml            -> files/alerts.yaml            (PrometheusRule)
#   deploy/grafana/selftaught-consumer.json  -> files/selftaught-consumer.json (dashboard ConfigMap)
# Run it after changing either source; tests/deploy checks the copies are byte-identical.
# `--check` only reports drift (exit 1), changing nothing.
set -euo pipefail
DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES="$DEPLOY/helm/selftaught-consumer/files"
check=0
[ "${1:-}" = "--check" ] && check=1
status=0
while read -r src dst; do
  if [ ! -f "$DEPLOY/$src" ]; then
    echo "sync-files: deploy/$src does not exist" >&2
    status=1
    continue
  fi
  if cmp -s "$DEPLOY/$src" "$FILES/$dst"; then
    continue
  fi
  if [ "$check" = 1 ]; then
    echo "sync-files: files/$dst differs from deploy/$src (run deploy/helm/sync-files.sh)" >&2
    status=1
  else
    mkdir -p "$FILES"
    cp "$DEPLOY/$src" "$FILES/$dst"
    echo "sync-files: copied deploy/$src -> deploy/helm/selftaught-consumer/files/$dst"
  fi
done <<'LIST'
prometheus/alerts.yaml alerts.yaml
grafana/selftaught-consumer.json selftaught-consumer.json
LIST
exit "$status"
