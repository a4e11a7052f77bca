#!/usr/bin/env bash
# Sets up what is missing, starts Redis and PostgreSQL + pgvector on free loopback ports, runs
# every test (unit + integration, then the browser end-to-end tests against the release build)
# and stops the services again. Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
bash scripts/setup.sh --test

services="$(bash scripts/services.sh start)"
eval "$services"
# Tests that need the services fail, rather than skip, when they are missing.
export IMAGE_CHAT_REQUIRE_SERVICES=1
data_dir="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-e2e-data.XXXXXX")"
fixture_pid=""
cleanup() {
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null || true
  bash scripts/services.sh stop "$IMAGE_CHAT_TEST_SERVICES_DIR"
  rm -rf "$data_dir"
}
trap cleanup EXIT

log "unit and integration tests"
cargo test --workspace --features ssr

log "end-to-end tests (release build, Chromium)"
# The site the browser tests crawl: a generated fixture site on loopback, which the app's SSRF
# guard is told to allow.
cargo build --quiet -p image-chat-fixtures --bin fixture-site
fixture_port="$(free_port)"
"${CARGO_TARGET_DIR:-target}/debug/fixture-site" serve --pages 60 --port "$fixture_port" >/dev/null 2>&1 &
fixture_pid=$!
export FIXTURE_URL="http://127.0.0.1:$fixture_port"
wait_http "$FIXTURE_URL/" || die "the fixture site did not start on $FIXTURE_URL"
export IMAGE_CHAT__CRAWLER__ALLOW_HOSTS='["127.0.0.1"]'
e2e_port="$(free_port)"
export LEPTOS_SITE_ADDR="127.0.0.1:$e2e_port"
export E2E_BASE_URL="http://127.0.0.1:$e2e_port"
export IMAGE_CHAT__DATA_DIR="$data_dir"
cargo leptos end-to-end --release
log "all tests passed"
