#!/usr/bin/env bash
# The tools tests/deploy needs, installed once and cached; quick when they are there:
#   helm            helm.sh/helm/v4, built from the Go module proxy with `go install`
#   docker-compose  github.com/docker/compose/v5, built from the Go module proxy (its go.mod
#                   has exclude directives, which `go install pkg@version` refuses, so it is
#                   built in a copy of the module), for `docker-compose config`, which needs
#                   no Docker engine
#   Python          kubernetes-validate, jsonschema, PyYAML and dockerfile (BuildKit's Dockerfile
#                   parser), into $PYTHON's environment
#
# Binaries go to $SELFTAUGHT_CACHE/bin (default ~/.cache/selftaught/bin), named with their
# version, so a version bump here installs the new one beside the old. Needs Go (the version
# the modules ask for: 1.26.8 or newer) and pip. The last lines of the output name the tools:
#   HELM=/path/to/helm
#   DOCKER_COMPOSE=/path/to/docker-compose
set -euo pipefail

HELM_VERSION=v4.3.1
COMPOSE_VERSION=v5.6.0
PY_PACKAGES=("kubernetes-validate==1.37.0" "jsonschema>=4.23,<5" "PyYAML>=6,<7" "dockerfile==3.4.0")

CACHE_DIR="${SELFTAUGHT_CACHE:-$HOME/.cache/selftaught}"
BIN_DIR="$CACHE_DIR/bin"
PY="${PYTHON:-python3}"
HELM_BIN="$BIN_DIR/helm-$HELM_VERSION"
COMPOSE_BIN="$BIN_DIR/docker-compose-$COMPOSE_VERSION"

log() { echo "helm-tools: $*" >&2; }
die() { log "$*"; exit 1; }

need_go() {
  if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null 2>&1 || die "Go is needed to build $1 (from the Go module proxy); install Go 1.26.8 or newer"
  # Never fetch another Go toolchain behind our back: the module's go line must be met locally.
  export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false"
}

install_helm() {
  [ -x "$HELM_BIN" ] && return 0
  need_go helm
  log "building helm $HELM_VERSION with go install (once, a few minutes) ..."
  local tmp; tmp="$(mktemp -d)"
  # The version is set through ldflags as Helm's own build does; `helm version` reports it.
  (cd "$tmp" && GOBIN="$tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION") || { rm -rf "$tmp"; die "go install helm failed"; }
  mkdir -p "$BIN_DIR"
  mv -f "$tmp/helm" "$HELM_BIN"
  rm -rf "$tmp"
}

install_compose() {
  [ -x "$COMPOSE_BIN" ] && return 0
  need_go docker-compose
  log "building docker-compose $COMPOSE_VERSION from the Go module proxy (once, a minute or two) ..."
  local dir tmp
  tmp="$(mktemp -d)"
  # From an empty directory, so no enclosing module's go.mod is involved.
  dir="$(cd "$tmp" && go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" \
    | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" \
    || { rm -rf "$tmp"; die "go mod download github.com/docker/compose/v5@$COMPOSE_VERSION failed"; }
  # Built as the main module, so its own exclude directives (and go.sum) apply.
  cp -R "$dir" "$tmp/src"
  chmod -R u+w "$tmp/src"
  (cd "$tmp/src" && go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
    -o "$tmp/docker-compose" ./cmd) || { rm -rf "$tmp"; die "building docker-compose failed"; }
  mkdir -p "$BIN_DIR"
  mv -f "$tmp/docker-compose" "$COMPOSE_BIN"
  rm -rf "$tmp"
}

install_python_packages() {
  if "$PY" -c "import kubernetes_validate, jsonschema, yaml, dockerfile" >/dev/null 2>&1; then
    return 0
  fi
  log "installing ${PY_PACKAGES[*]} into $("$PY" -c 'import sys; print(sys.prefix)') ..."
  "$PY" -m pip install -q "${PY_PACKAGES[@]}" || die "pip install ${PY_PACKAGES[*]} failed"
}

install_python_packages
install_helm
install_compose
"$HELM_BIN" version --short >/dev/null || die "$HELM_BIN does not run"
"$COMPOSE_BIN" version >/dev/null || die "$COMPOSE_BIN does not run"
echo "HELM=$HELM_BIN"
echo "DOCKER_COMPOSE=$COMPOSE_BIN"
