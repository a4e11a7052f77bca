#!/usr/bin/env bash
# Crawl throughput beside spider-rs, in one run on one fixture site: a 5,000-page generated site
# served locally, crawled alternately ROUNDS times each by spider-rs reading links only, by
# spider-rs doing equal work (every fetched page also parsed with scraper and its images read:
# img src/srcset, picture source srcset), and by image-chat (links + full image extraction);
# prints pages/s of each and image-chat's ratio to both (the equal-work one is the target).
#
#   scripts/bench-crawl.sh [PAGES] [ROUNDS] [CONCURRENCY]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
PAGES="${1:-5000}"
ROUNDS="${2:-3}"
CONCURRENCY="${3:-16}"
TARGET="${CARGO_TARGET_DIR:-$IMAGE_CHAT_ROOT/target}"

bash scripts/setup.sh >/dev/null
log "building image-chat (release), the fixture server and the spider-rs peer"
bash scripts/site.sh build >/dev/null 2>&1 || bash scripts/site.sh build
cargo build --quiet --release -p image-chat-fixtures --bin fixture-site
cargo build --quiet --release --manifest-path benches/crawl-peer/Cargo.toml --target-dir benches/crawl-peer/target
PEER="benches/crawl-peer/target/release/crawl-peer"

port="$(free_port)"
"$TARGET/release/fixture-site" serve --pages "$PAGES" --seed 42 --port "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/robots.txt" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/"

ours=()
theirs=()
equal=()
for round in $(seq "$ROUNDS"); do
  read -r p s _ < <("$PEER" "$url" "$PAGES" "$CONCURRENCY" links)
  theirs+=("$(python3 -c "print(f'{$p / $s:.1f}')")")
  log "round $round: spider-rs (links only) $p pages in ${s}s"
  read -r p s n < <("$PEER" "$url" "$PAGES" "$CONCURRENCY" images)
  equal+=("$(python3 -c "print(f'{$p / $s:.1f}')")")
  log "round $round: spider-rs + scraper images $p pages in ${s}s ($n distinct image URLs)"
  out="$(IMAGE_CHAT__CRAWLER__CONCURRENCY="$CONCURRENCY" IMAGE_CHAT__CRAWLER__PER_HOST_CONCURRENCY="$CONCURRENCY" \
    "$TARGET/release/image-chat" crawl "$url" --max-pages "$PAGES" --depth 50 --allow-host 127.0.0.1 --no-sitemaps 2>&1 >/dev/null)"
  p="$(sed -n 's/^pages: \([0-9]*\) fetched.*/\1/p' <<<"$out")"
  s="$(sed -n 's/^crawled .* in \([0-9.]*\) s.*/\1/p' <<<"$out")"
  images="$(sed -n 's/^images: .*, \([0-9]*\) kept.*/\1/p' <<<"$out")"
  ours+=("$(python3 -c "print(f'{$p / $s:.1f}')")")
  log "round $round: image-chat $p pages in ${s}s ($images images kept)"
done
python3 - "${ours[*]}" "${theirs[*]}" "${equal[*]}" <<'PY'
import statistics, sys
ours, theirs, equal = ([float(x) for x in a.split()] for a in sys.argv[1:4])
mo, mt, me = statistics.median(ours), statistics.median(theirs), statistics.median(equal)
print(f"image-chat:                   {mo:.0f} pages/s (median of {ours})")
print(f"spider-rs + scraper images:   {me:.0f} pages/s (median of {equal})")
print(f"spider-rs, links only:        {mt:.0f} pages/s (median of {theirs})")
print(f"ratio image-chat / spider-rs with equal work: {mo / me:.2f} (target >= 1.0)")
# Each round's two crawls ran back to back, so their ratio is spared the machine's drift between
# rounds (on the 2-core VM, ±15% from one minute to the next).
paired = sorted(o / e for o, e in zip(ours, equal))
print(f"  the same, median of each round's ratio:    {statistics.median(paired):.2f} (rounds {', '.join(f'{r:.2f}' for r in paired)})")
print(f"ratio image-chat / spider-rs links only:      {mo / mt:.2f}")
PY
