#!/usr/bin/env bash
# Sets up what is missing, builds image-chat in release mode and serves it on
# http://127.0.0.1:3000 with the embedded defaults (no Redis, no PostgreSQL, no API key).
# Settings: Leptos.toml, overridden by IMAGE_CHAT__* variables (see README).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
bash scripts/setup.sh
log "building (release) and serving; the first build takes about 12 minutes on 2 cores"
exec bash scripts/site.sh serve
