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
cleanup() { bash scripts/services.sh stop "$IMAGE_CHAT_TEST_SERVICES_DIR"; rm -rf "$data_dir"; }
trap cleanup EXIT

log "unit and integration tests"
cargo test --workspace --features ssr

log "end-to-end tests (release build, Chromium)"
e2e_port="$(free_port)"
export LEPTOS_SITE_ADDR="127.0.0.1:$e2e_port"
export E2E_BASE_URL="http://127.0.0.1:$e2e_port"
export IMAGE_CHAT__DATA_DIR="$data_dir"
cargo leptos end-to-end --release
log "all tests passed"
