#!/usr/bin/env bash
# JavaScript rendering through the CLI, over local fixture sites with LATENCY_MS per response:
#  1. a PAGES-page client-rendered site (every page an empty #root filled from JSON), crawled
#     with --render always and --render never: pages/s of both, images found by each, and the
#     browser's peak memory (all its processes) per tab;
#  2. a PAGES-page mixed site (10% client-rendered), --render auto and --render never
#     alternating ROUNDS times: wall time of each, auto's overhead, images found by each.
#
#   scripts/bench-render.sh [PAGES] [ROUNDS] [LATENCY_MS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
PAGES="${1:-200}"
ROUNDS="${2:-3}"
LATENCY="${3:-20}"
TARGET="${CARGO_TARGET_DIR:-$IMAGE_CHAT_ROOT/target}"
whole_numbers "scripts/bench-render.sh [PAGES] [ROUNDS] [LATENCY_MS]" "$PAGES" "$ROUNDS" "$LATENCY"
have chromium || die "chromium is missing (scripts/setup.sh installs it)"

log "building image-chat (release) and the fixture server"
leptos_env  # the variables the site build compiles with, so the two builds share their output
cargo build --quiet --release --features ssr --bin image-chat
cargo build --quiet --release -p image-chat-fixtures --bin fixture-site

servers=()
sampler=""
cleanup() {
  for s in "${servers[@]}"; do kill "$s" 2>/dev/null || true; done
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
}
trap cleanup EXIT

serve() { # PERCENT -> URL
  local port; port="$(free_port)"
  "$TARGET/release/fixture-site" serve-js --pages "$PAGES" --js-percent "$1" --port "$port" --latency-ms "$LATENCY" \
    >/dev/null 2>&1 &
  servers+=("$!")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/robots.txt" >/dev/null && break; sleep 0.1; done
  echo "http://127.0.0.1:$port/"
}

# Peak memory of every Chromium process this benchmark's crawls start, in MB: the sum of their
# proportional set sizes (PSS: pages shared between the browser's processes counted once).
peak_file="$(mktemp)"
sample_browser() {
  local peak=0 now pids
  while true; do
    pids="$(pgrep -f image-chat-chromium- || true)"
    now=0
    if [ -n "$pids" ]; then
      now="$(for p in $pids; do sed -n 's/^Pss: *\([0-9]*\) kB/\1/p' "/proc/$p/smaps_rollup" 2>/dev/null || true; done |
        awk '{ s += $1 } END { print int(s / 1024) }')"
    fi
    [ "$now" -gt "$peak" ] && peak="$now" && echo "$peak" >"$peak_file"
    sleep 0.2
  done
}

crawl() { # URL MODE -> "seconds pages kept rendered from_render"
  local out
  out="$("$TARGET/release/image-chat" crawl "$1" --max-pages "$((PAGES + 1))" --depth 2 --allow-host 127.0.0.1 \
    --no-sitemaps --render "$2" 2>&1 >/dev/null)"
  local s p k r f
  s="$(sed -n 's/^crawled .* in \([0-9.]*\) s.*/\1/p' <<<"$out")"
  p="$(sed -n 's/^pages: \([0-9]*\) fetched.*/\1/p' <<<"$out")"
  k="$(sed -n 's/^images: .*, \([0-9]*\) kept.*/\1/p' <<<"$out")"
  r="$(sed -n 's/^rendered: \([0-9]*\) pages.*/\1/p' <<<"$out")"
  f="$(sed -n 's/^rendered: .*), \([0-9]*\) images found only.*/\1/p' <<<"$out")"
  [ -n "$s" ] && [ -n "$p" ] || die "the crawl printed no summary: $out"
  echo "$s $p ${k:-0} ${r:-0} ${f:-0}"
}

scripted="$(serve 100)"
mixed="$(serve 10)"
tabs="$(sed -n 's/^render_concurrency = \([0-9]*\).*/\1/p' Leptos.toml)"

log "1. $PAGES client-rendered pages, ${LATENCY} ms per response"
echo 0 >"$peak_file"
sample_browser &
sampler=$!
read -r s_always p_always k_always r_always _ < <(crawl "$scripted" always)
kill "$sampler"; sampler=""
peak="$(cat "$peak_file")"
read -r s_never p_never k_never _ _ < <(crawl "$scripted" never)

log "2. $PAGES pages, 10% client-rendered: auto and never, $ROUNDS rounds"
autos=(); nevers=(); k_auto=0; k_plain=0; r_auto=0
for round in $(seq "$ROUNDS"); do
  read -r s p k r _ < <(crawl "$mixed" auto); autos+=("$s"); k_auto="$k"; r_auto="$r"
  log "round $round: auto $p pages in ${s}s, $r rendered, $k images kept"
  read -r s p k _ _ < <(crawl "$mixed" never); nevers+=("$s"); k_plain="$k"
  log "round $round: never $p pages in ${s}s, $k images kept"
done

python3 - "$s_always" "$p_always" "$k_always" "$r_always" "$s_never" "$p_never" "$k_never" "$peak" "$tabs" \
  "${autos[*]}" "${nevers[*]}" "$k_auto" "$k_plain" "$r_auto" <<'PY'
import statistics, sys
a = sys.argv[1:]
s_al, p_al, k_al, r_al, s_nv, p_nv, k_nv, peak, tabs = float(a[0]), int(a[1]), int(a[2]), int(a[3]), float(a[4]), int(a[5]), int(a[6]), int(a[7]), int(a[8])
autos = [float(x) for x in a[9].split()]
nevers = [float(x) for x in a[10].split()]
k_auto, k_plain, r_auto = int(a[11]), int(a[12]), int(a[13])
print(f"client-rendered site: always {p_al / s_al:.1f} pages/s ({r_al} rendered, {k_al} images kept); "
      f"never {p_nv / s_nv:.1f} pages/s ({k_nv} images kept)")
print(f"browser peak memory (PSS, all its processes): {peak} MB over {tabs} tabs = {peak / max(tabs, 1):.0f} MB per tab")
ma, mn = statistics.median(autos), statistics.median(nevers)
print(f"mixed site (10% client-rendered): auto {ma:.2f} s (median of {autos}, {r_auto} pages rendered, "
      f"{k_auto} images kept); never {mn:.2f} s (median of {nevers}, {k_plain} images kept)")
print(f"auto's overhead over never: {100 * (ma / mn - 1):.0f}%")
PY
