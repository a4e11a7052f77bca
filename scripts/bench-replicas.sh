#!/usr/bin/env bash
# One crawl on one replica vs two, through the HTTP API as a user runs it: the release server with
# `crawler.distributed = true` on a shared PostgreSQL (the store) and Redis (the frontier), both
# started by scripts/services.sh; a PAGES-page generated fixture site answering every request
# after LATENCY_MS; `POST /crawl` to the first replica, then `GET /crawl/{id}/status` until the
# session has ended. Per-host concurrency is raised to PER_HOST so that politeness is not what
# limits the crawl (the replicas share that limit). Also times the same crawl in-process
# (`distributed = false`) on the same store, for reference. Prints pages/s of each and the ratio
# of two replicas to one (target >= 1.7).
#
#   scripts/bench-replicas.sh [PAGES] [LATENCY_MS] [ROUNDS] [PER_HOST]
#
# EMBED=off runs the servers without the model (images are stored for keyword search only): on a
# machine whose cores the embedding keeps busy, that shows what the crawl and the store alone do
# with a second replica.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
PAGES="${1:-2000}"
LATENCY="${2:-20}"
ROUNDS="${3:-3}"
PER_HOST="${4:-64}"
TARGET="${CARGO_TARGET_DIR:-$IMAGE_CHAT_ROOT/target}"
export EMBED="${EMBED:-on}"
whole_numbers "scripts/bench-replicas.sh [PAGES] [LATENCY_MS] [ROUNDS] [PER_HOST]" "$PAGES" "$LATENCY" "$ROUNDS" "$PER_HOST"

bash scripts/fetch-models.sh >/dev/null
log "building image-chat (release) and the fixture server"
leptos_env  # the variables the site build compiles with, so the two builds share their output
cargo build --quiet --release --features ssr --bin image-chat
cargo build --quiet --release -p image-chat-fixtures --bin fixture-site
BIN="${IMAGE_CHAT_BIN:-$TARGET/release/image-chat}"

pids=()
dirs=()
services_env="$(mktemp)"
dirs+=("$services_env")
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "${dirs[@]}"; do
    if [ -f "$d/pid" ]; then kill "$(cat "$d/pid")" 2>/dev/null || true; fi
  done
  if [ -s "$services_env" ]; then
    # shellcheck disable=SC1090
    source "$services_env"
    bash scripts/services.sh stop "$IMAGE_CHAT_TEST_SERVICES_DIR" >/dev/null 2>&1 || true
  fi
  for d in "${dirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

log "starting PostgreSQL + pgvector and Redis"
bash scripts/services.sh start >"$services_env"
# shellcheck disable=SC1090
source "$services_env"
command -v redis-cli >/dev/null || die "redis-cli is missing (apt-get install redis-tools)"

site_port="$(free_port)"
"$TARGET/release/fixture-site" serve --pages "$PAGES" --port "$site_port" --latency-ms "$LATENCY" >/dev/null 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$site_port/robots.txt" || die "the fixture site did not start"

no_model="$(mktemp -d)"
dirs+=("$no_model")
model_dir="$IMAGE_CHAT_ROOT/models"
[ "$EMBED" = off ] && model_dir="$no_model"

# Starts a server (DISTRIBUTED: true|false); prints its port and data dir (its log and pid file).
start_replica() {
  local port data
  port="$(free_port)"
  data="$(mktemp -d)"
  IMAGE_CHAT__DATA_DIR="$data" IMAGE_CHAT__CRAWLER__ALLOW_HOSTS='["127.0.0.1"]' \
    IMAGE_CHAT__STORE__KIND=postgres IMAGE_CHAT__STORE__DATABASE_URL="$IMAGE_CHAT_TEST_DATABASE_URL" \
    IMAGE_CHAT__CACHE__REDIS_URL="$IMAGE_CHAT_TEST_REDIS_URL" IMAGE_CHAT__CRAWLER__DISTRIBUTED="$1" \
    IMAGE_CHAT__CRAWLER__PER_HOST_CONCURRENCY="$PER_HOST" IMAGE_CHAT__CRAWLER__RENDER=never \
    IMAGE_CHAT__MODEL__DIR="$model_dir" \
    "$BIN" serve --addr "127.0.0.1:$port" >"$data/server.log" 2>&1 &
  echo "$!" >"$data/pid"
  wait_http "http://127.0.0.1:$port/health" || die "the server did not start: $(tail -5 "$data/server.log")"
  echo "$port $data"
}

# One cold crawl through the first replica's API; prints the session's final JSON.
crawl() { # API
  python3 - "$1" "http://127.0.0.1:$site_port/" "$PAGES" <<'PY'
import json, sys, time, urllib.request
api, site, pages = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = json.dumps({"url": site, "max_pages": pages * 3, "max_depth": 50}).encode()
req = urllib.request.Request(api + "/crawl", body, {"Content-Type": "application/json"})
def cpu():  # (busy, total) jiffies of the whole machine
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f) - f[3] - f[4], sum(f)
c0 = cpu()
t0 = time.monotonic()
started = json.load(urllib.request.urlopen(req))
status = api + "/crawl/" + started["session_id"] + "/status"
while True:
    s = json.load(urllib.request.urlopen(status))
    if s["status"] != "running":
        break
    time.sleep(0.05)
s["measured_wall_ms"] = round((time.monotonic() - t0) * 1000)
c1 = cpu()
s["machine_busy"] = (c1[0] - c0[0]) / max(c1[1] - c0[1], 1)
print(json.dumps(s))
PY
}

results="$(mktemp)"
dirs+=("$results")
for round in $(seq "$ROUNDS"); do
  for setup in in-process 1 2; do
    started=()
    if [ "$setup" = in-process ]; then
      read -r port data < <(start_replica false)
      started+=("$data")
      dirs+=("$data")
    else
      for _ in $(seq "$setup"); do
        read -r p data < <(start_replica true)
        started+=("$data")
        dirs+=("$data")
        [ "${#started[@]}" = 1 ] && port="$p"
      done
    fi
    out="$(crawl "http://127.0.0.1:$port")"
    # Cold caches for the next crawl: the HTML and embedding caches live in this Redis too.
    redis-cli -u "$IMAGE_CHAT_TEST_REDIS_URL" FLUSHALL >/dev/null
    for d in "${started[@]}"; do kill "$(cat "$d/pid")" 2>/dev/null || true; done
    echo "$setup $out" >>"$results"
    python3 - "$setup" "$out" <<'PY' >&2
import json, sys
s = json.loads(sys.argv[2])
c = s["counters"]
print(f"{sys.argv[1]:>10}: {s['status']} in {s['measured_wall_ms'] / 1000:.2f} s; {c['pages_fetched']} pages fetched, "
      f"{c['pages_fetched'] / (s['measured_wall_ms'] / 1000):.1f} pages/s; {s['images_indexed']} images indexed, {s['images_analysed']} analysed; "
      f"machine CPU {s['machine_busy']:.0%} busy")
PY
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [line.split(" ", 1) for line in open(sys.argv[1])]
rate = {}
for setup in ("in-process", "1", "2"):
    runs = [json.loads(r) for s, r in rows if s == setup]
    rates = [r["counters"]["pages_fetched"] / (r["measured_wall_ms"] / 1000) for r in runs]
    rate[setup] = statistics.median(rates)
    name = {"in-process": "in-process (distributed = false)", "1": "one replica", "2": "two replicas"}[setup]
    busy = statistics.median(r["machine_busy"] for r in runs)
    print(f"{name:<34} {rate[setup]:7.1f} pages/s (median of {[round(x, 1) for x in rates]}); machine CPU {busy:.0%} busy")
print(f"ratio two replicas / one: {rate['2'] / rate['1']:.2f} (target >= 1.7)")
print(f"ratio one replica / in-process: {rate['1'] / rate['in-process']:.2f}")
print(f"embedding: {__import__('os').environ.get('EMBED', 'on')}; cores: {__import__('os').cpu_count()} (replicas on one machine share them: a crawl that keeps them busy cannot go faster with a second replica here)")
PY
