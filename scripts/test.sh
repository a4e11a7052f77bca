#!/usr/bin/env bash
# Sets up what is missing, starts Redis and PostgreSQL + pgvector on free loopback ports, runs
# every test (unit + integration, then the browser end-to-end tests) and stops the services
# again. Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
bash scripts/setup.sh --test

services="$(bash scripts/services.sh start)"
eval "$services"
# Tests that need the services (or the model) fail, rather than skip, when they are missing.
export IMAGE_CHAT_REQUIRE_SERVICES=1
# Tests that read shared/data skip without it (a user's clone has none); where it is beside the
# checkout (CI), a skip means a test lost its data, and fails.
shared_data="${IMAGE_CHAT_SHARED_DATA:-$IMAGE_CHAT_ROOT/../shared/data}"
if [ -d "$shared_data" ]; then
  export IMAGE_CHAT_REQUIRE_SHARED_DATA=1
  log "shared/data found: tests that read it must not skip"
else
  log "no shared/data beside the checkout: the tests that read it are skipped (one line each below)"
fi
# Every skipped test appends one line here; they are printed once the tests have run.
export IMAGE_CHAT_SKIP_LOG="$(mktemp "${TMPDIR:-/tmp}/image-chat-skips.XXXXXX")"
data_dir="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-e2e-data.XXXXXX")"
fixture_pid=""
cleanup() {
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null || true
  bash scripts/services.sh stop "$IMAGE_CHAT_TEST_SERVICES_DIR"
  rm -rf "$data_dir" "$IMAGE_CHAT_SKIP_LOG"
}
trap cleanup EXIT

log "unit and integration tests"
cargo test --workspace --features ssr
if [ -s "$IMAGE_CHAT_SKIP_LOG" ]; then
  warn "$(wc -l < "$IMAGE_CHAT_SKIP_LOG") tests skipped:"
  sort "$IMAGE_CHAT_SKIP_LOG" >&2
fi

log "API tests again, with the index in PostgreSQL + pgvector"
# --workspace as above: the same features resolved, so these reuse that build (without it a first
# run recompiled tokio, hyper, leptos and the app for 74 s).
IMAGE_CHAT_TEST_STORE=postgres cargo test --workspace --features ssr \
  --test api --test conversation --test hostile_clients --test adversarial_sites --test chat_load --test render_api

log "end-to-end tests (Chromium; the release browser half, the server unoptimized)"
# The site the browser tests crawl: a generated fixture site on loopback, which the app's SSRF
# guard is told to allow.
# `cargo test --workspace` above built it (the fixtures' own tests run it), with the workspace's
# features; `cargo build -p image-chat-fixtures` would resolve others and rebuild it (32 s).
[ -x "${CARGO_TARGET_DIR:-target}/debug/fixture-site" ] || cargo build --quiet -p image-chat-fixtures --bin fixture-site
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
# The server unoptimized: the same code and features as the release binary, in the dev profile
# whose dependencies the tests above already built. Its release build took 10 of the 27.5
# minutes of a first run (docs/benchmarks.md, "Set-up time"); scripts/run.sh and the benchmarks
# run the release build, and `scripts/site.sh end-to-end` runs these tests against it.
bash scripts/site.sh end-to-end unoptimized
log "all tests passed"
