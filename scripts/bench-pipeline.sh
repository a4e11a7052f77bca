#!/usr/bin/env bash
# Crawl → searchable through the HTTP API, as a user meets it: the release server, a PAGES-page
# generated fixture site answering every request after LATENCY_MS, `POST /crawl`, then polling
# `GET /crawl/{id}/status` until the session has ended. ROUNDS crawls with image analysis on
# (the default) and ROUNDS with it off, each on a fresh server and data dir (a cold crawl). Prints
# for each: the wall time from POST to finished, the politeness floor the session measured (the
# busiest host's request time ÷ per-host concurrency), their ratio, and the session's stage table.
#
#   scripts/bench-pipeline.sh [PAGES] [LATENCY_MS] [ROUNDS]
#
# IMAGE_CHAT_BIN=path runs another build of the server (an older one, for a before/after; one
# without the session's timings prints its wall time only). The floor is given two ways: as the
# session measured it (request times as the client saw them, which include its own CPU delays
# on a busy machine) and nominal (requests × LATENCY_MS ÷ per-host concurrency).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
PAGES="${1:-1000}"
LATENCY="${2:-20}"
ROUNDS="${3:-3}"
TARGET="${CARGO_TARGET_DIR:-$IMAGE_CHAT_ROOT/target}"
whole_numbers "scripts/bench-pipeline.sh [PAGES] [LATENCY_MS] [ROUNDS]" "$PAGES" "$LATENCY" "$ROUNDS"

bash scripts/fetch-models.sh >/dev/null
log "building image-chat (release) and the fixture server"
leptos_env  # the variables the site build compiles with, so the two builds share their output
cargo build --quiet --release --features ssr --bin image-chat
cargo build --quiet --release -p image-chat-fixtures --bin fixture-site
BIN="${IMAGE_CHAT_BIN:-$TARGET/release/image-chat}"

pids=()
dirs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "${dirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

site_port="$(free_port)"
"$TARGET/release/fixture-site" serve --pages "$PAGES" --port "$site_port" --latency-ms "$LATENCY" >/dev/null 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$site_port/robots.txt" || die "the fixture site did not start"

# One cold crawl through the API; prints the session's final JSON.
crawl() { # ANALYZE(true|false)
  local port data server
  port="$(free_port)"
  data="$(mktemp -d)"
  dirs+=("$data")
  IMAGE_CHAT__DATA_DIR="$data" IMAGE_CHAT__CRAWLER__ALLOW_HOSTS='["127.0.0.1"]' \
    IMAGE_CHAT__CRAWLER__ANALYZE_IMAGES="$1" \
    "$BIN" serve --addr "127.0.0.1:$port" >"$data/server.log" 2>&1 &
  server=$!
  pids+=("$server")
  wait_http "http://127.0.0.1:$port/health" || die "the server did not start: $(tail -5 "$data/server.log")"
  python3 - "http://127.0.0.1:$port" "http://127.0.0.1:$site_port/" "$PAGES" <<'PY'
import json, sys, time, urllib.request
api, site, pages = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = json.dumps({"url": site, "max_pages": pages, "max_depth": 50}).encode()
req = urllib.request.Request(api + "/crawl", body, {"Content-Type": "application/json"})
t0 = time.monotonic()
started = json.load(urllib.request.urlopen(req))
status = api + "/crawl/" + started["session_id"] + "/status"
while True:
    s = json.load(urllib.request.urlopen(status))
    if s["status"] != "running":
        break
    time.sleep(0.05)
s["measured_wall_ms"] = round((time.monotonic() - t0) * 1000)
print(json.dumps(s))
PY
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

results="$(mktemp)"
dirs+=("$results")
for round in $(seq "$ROUNDS"); do
  for analyze in true false; do
    out="$(crawl "$analyze")"
    echo "$analyze $out" >>"$results"
    python3 - "$analyze" "$out" "$LATENCY" <<'PY' >&2
import json, sys
s, latency = json.loads(sys.argv[2]), int(sys.argv[3])
line = (f"analysis {sys.argv[1]:5}: {s['measured_wall_ms'] / 1000:.2f} s POST→finished; {s['counters']['pages_fetched']} pages, "
        f"{s['images_indexed']} images indexed, {s['images_analysed']} analysed")
t = s.get("timings")
if t:
    nominal = (t["page_requests"] + t["image_requests"]) * latency / t["per_host_concurrency"]
    line += (f"; floor {t['floor_ms'] / 1000:.2f} s measured ({t['page_requests']} page + {t['image_requests']} image requests "
             f"× {t['mean_request_ms']} ms ÷ {t['per_host_concurrency']}), {s['measured_wall_ms'] / t['floor_ms']:.2f}x; "
             f"{nominal / 1000:.2f} s nominal, {s['measured_wall_ms'] / nominal:.2f}x")
print(line)
PY
  done
done
python3 - "$results" "$LATENCY" <<'PY'
import json, statistics, sys
rows = [line.split(" ", 1) for line in open(sys.argv[1])]
latency = int(sys.argv[2])
for analyze in ("true", "false"):
    runs = [json.loads(r) for a, r in rows if a == analyze]
    walls = [r["measured_wall_ms"] / 1000 for r in runs]
    mid = sorted(runs, key=lambda r: r["measured_wall_ms"])[len(runs) // 2]
    line = (f"analyze_images={analyze}: wall median {statistics.median(walls):.2f} s {walls}; "
            f"{mid['images_indexed']} images indexed")
    t = mid.get("timings")
    if t:
        nominal = [(r["timings"]["page_requests"] + r["timings"]["image_requests"]) * latency
                   / r["timings"]["per_host_concurrency"] / 1000 for r in runs]
        measured = [r["timings"]["floor_ms"] / 1000 for r in runs]
        line += (f"; floor measured median {statistics.median(measured):.2f} s, wall/floor "
                 f"{statistics.median([w / f for w, f in zip(walls, measured)]):.2f}; nominal median "
                 f"{statistics.median(nominal):.2f} s, wall/nominal {statistics.median([w / f for w, f in zip(walls, nominal)]):.2f}")
    print(line)
    if not t:
        continue
    print("  stages of the median run (items; busy / waited for a slot / for input / on the next stage, seconds):")
    for s in t["stages"]:
        print(f"    {s['stage']:<13} {s['items']:>6}  {s['busy_ms'] / 1000:8.2f} {s['waited_for_slot_ms'] / 1000:8.2f} "
              f"{s['waited_for_input_ms'] / 1000:8.2f} {s['waited_on_next_ms'] / 1000:8.2f}")
    for q in t["queues"]:
        print(f"    queue {q['queue']:<18} max {q['max']:>6} mean {q['mean']:8.1f}")
PY
