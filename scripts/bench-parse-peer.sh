#!/usr/bin/env bash
# What a streaming parse costs beside html5ever's tree: lol_html (spider-rs's rewriter) with
# the handlers a context-keeping extractor needs, with image and link handlers only, and with
# links only, over N pages of the crawl benchmark's fixture site and the real readability pages.
#
#   scripts/bench-parse-peer.sh [PAGES] [ROUNDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
PAGES="${1:-200}"
ROUNDS="${2:-7}"
TARGET="${CARGO_TARGET_DIR:-$IMAGE_CHAT_ROOT/target}"
SHARED="${IMAGE_CHAT_SHARED_DATA:-$IMAGE_CHAT_ROOT/../shared/data}"

log "building the fixture server and the lol_html peer"
cargo build --quiet --release -p image-chat-fixtures --bin fixture-site
cargo build --quiet --release --manifest-path benches/parse-peer/Cargo.toml --target-dir benches/parse-peer/target
PEER="benches/parse-peer/target/release/parse-peer"

port="$(free_port)"
"$TARGET/release/fixture-site" serve --pages 5000 --seed 42 --port "$port" >/dev/null 2>&1 &
server=$!
pages="$(mktemp -d)"
trap 'kill $server 2>/dev/null || true; rm -rf "$pages"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/robots.txt" >/dev/null && break; sleep 0.1; done
log "fetching $PAGES fixture pages"
for i in $(seq "$PAGES"); do curl -sf "http://127.0.0.1:$port/page/$i" -o "$pages/$i.html"; done

echo "fixture site (the crawl benchmark's pages):"
"$PEER" "$pages" "$ROUNDS"
if [ -d "$SHARED/html/readability" ]; then
  echo "real pages (shared/data/html/readability):"
  "$PEER" "$SHARED/html/readability" "$ROUNDS"
else
  warn "skipped the real pages: $SHARED/html/readability is absent"
fi
