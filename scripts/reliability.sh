#!/usr/bin/env bash
# The reliability suite's long parts, on demand (the quick parts — hostile sites, hostile
# clients, chat under load — run in scripts/test.sh). Results go in docs/reliability.md.
#
#   scripts/reliability.sh fuzz [SECONDS] [JOBS] [TARGET...]
#                                                  every cargo-fuzz target (or those named) for
#                                                  SECONDS (600) each, JOBS (2) at once; fails on
#                                                  any crash
#                                                  (seeds: fuzz/seeds/, and with ../shared/data
#                                                  beside the checkout, inputs cut from it at run
#                                                  time into fuzz/shared-seeds/, minimized)
#   scripts/reliability.sh seeds                   refresh the committed seeds cut from the
#                                                  licensed parts of ../shared/data (srcset,
#                                                  robots), keeping only inputs that add coverage
#   scripts/reliability.sh load [SECONDS]          /chat and SSE under wrk against the release build
#                                                  over a crawled fixture site: req/s, p50/p99,
#                                                  errors, RSS before/after; fails on errors
#   scripts/reliability.sh faults                  kill -9 mid-crawl and during start-up, restart,
#                                                  SQLite integrity, session status and counters
#                                                  against the index
#   scripts/reliability.sh schema [EXAMPLES]       schemathesis (in a throwaway venv) against
#                                                  /api/openapi.json, in a network namespace with
#                                                  loopback only (crawls of generated URLs go
#                                                  nowhere); fails on any failed check
#   scripts/reliability.sh all                     all four, in that order
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
TARGET="${CARGO_TARGET_DIR:-$IMAGE_CHAT_ROOT/target}"
FUZZ_TARGETS=(extract srcset css jsonld chat_parser robots sitemap settings)
CARGO_FUZZ_VERSION="0.13.2"

fuzz_one() {
  local target="$1" seconds="$2" log="$3/$1.log"
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  # Stable Rust: coverage-guided without a sanitizer (Rust code is memory-safe; what is looked
  # for is panics, aborts, hangs and runaway memory).
  local extra=()
  [ -d "fuzz/shared-seeds/$target" ] && extra=("shared-seeds/$target")
  if (cd fuzz && cargo fuzz run --sanitizer none -O "$target" "corpus/$target" "seeds/$target" "${extra[@]}" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
    echo "$target ok"
  else
    echo "$target FAILED"
  fi
}

# Inputs cut from ../shared/data that may not be committed (see scripts/fuzz_seeds.py), cut
# afresh and minimized to those that add coverage; nothing when the data is not there.
shared_seeds() {
  local data="$IMAGE_CHAT_ROOT/../shared/data" raw
  rm -rf fuzz/shared-seeds
  if [ ! -d "$data/conformance" ]; then
    log "no ../shared/data beside the checkout: fuzzing from fuzz/seeds/ only"
    return
  fi
  raw="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-seeds.XXXXXX")"
  python3 scripts/fuzz_seeds.py "$data" "$raw" all
  for t in "${FUZZ_TARGETS[@]}"; do
    [ -d "$raw/$t" ] || continue
    mkdir -p "fuzz/shared-seeds/$t"
    (cd fuzz && cargo fuzz run --sanitizer none -O "$t" "shared-seeds/$t" "$raw/$t" -- \
      -merge=1 -timeout=10 -rss_limit_mb=2048) >/dev/null 2>&1 ||
      die "minimizing the $t seeds from ../shared/data failed"
    log "$t: $(find "$raw/$t" -type f | wc -l) inputs from ../shared/data, $(find "fuzz/shared-seeds/$t" -type f | wc -l) kept"
  done
  rm -rf "$raw"
}

# The committed seeds from the licensed parts of ../shared/data: an input is added to
# fuzz/seeds/<target>/ only when it adds coverage to what is there.
seeds() {
  local data="$IMAGE_CHAT_ROOT/../shared/data" raw
  [ -d "$data/conformance" ] || die "seeds needs ../shared/data beside the checkout"
  have cargo-fuzz || die "seeds needs cargo-fuzz (scripts/reliability.sh fuzz installs it)"
  (cd fuzz && cargo fuzz build --sanitizer none -O)
  raw="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-seeds.XXXXXX")"
  python3 scripts/fuzz_seeds.py "$data" "$raw" licensed
  for t in "$raw"/*; do
    t="$(basename "$t")"
    local before; before="$(find "fuzz/seeds/$t" -type f | wc -l)"
    (cd fuzz && cargo fuzz run --sanitizer none -O "$t" "seeds/$t" "$raw/$t" -- \
      -merge=1 -timeout=10 -rss_limit_mb=2048) >/dev/null 2>&1 || die "merging the $t seeds failed"
    log "$t: $(find "$raw/$t" -type f | wc -l) cut, $(( $(find "fuzz/seeds/$t" -type f | wc -l) - before )) added"
  done
  rm -rf "$raw"
}

fuzz() {
  local seconds="${1:-600}" jobs="${2:-2}" logs
  whole_number SECONDS "$seconds"; whole_number JOBS "$jobs"
  if [ "$#" -gt 2 ]; then
    for t in "${@:3}"; do
      [ -f "fuzz/fuzz_targets/$t.rs" ] || die "no fuzz target '$t' (there are: ${FUZZ_TARGETS[*]})"
    done
    FUZZ_TARGETS=("${@:3}")
  fi
  have cargo-fuzz || { log "installing cargo-fuzz $CARGO_FUZZ_VERSION"; cargo install --quiet --locked --debug cargo-fuzz --version "$CARGO_FUZZ_VERSION"; }
  log "building the fuzz targets (cargo fuzz, --sanitizer none)"
  (cd fuzz && cargo fuzz build --sanitizer none -O)
  shared_seeds
  logs="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-fuzz.XXXXXX")"
  log "fuzzing ${#FUZZ_TARGETS[@]} targets for ${seconds}s each, $jobs at once (logs in $logs)"
  export -f fuzz_one
  printf '%s\n' "${FUZZ_TARGETS[@]}" | xargs -P "$jobs" -I{} bash -c "fuzz_one {} $seconds $logs" | sort >"$logs/results"
  printf '%-12s %-7s %12s %8s %8s %7s\n' target result runs exec/s cov corpus
  local failed=0
  for t in "${FUZZ_TARGETS[@]}"; do
    local result runs rate cov corpus
    result="$(awk -v t="$t" '$1 == t { print $2 }' "$logs/results")"
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 | cut -d' ' -f2)"
    corpus="$(find "fuzz/corpus/$t" -type f | wc -l)"
    printf '%-12s %-7s %12s %8s %8s %7s\n' "$t" "$result" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$corpus"
    if [ "$result" != ok ]; then
      failed=1
      grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$logs/$t.log" | head -5 >&2 || true
    fi
  done
  [ "$failed" -eq 0 ] || die "a fuzz target failed: inputs are in fuzz/artifacts/, logs in $logs"
  log "no crashes; the corpora grown are in fuzz/corpus/ (not committed; the seeds are in fuzz/seeds/)"
}


# --- the release server and a fixture site, for load and faults ---------------------------------
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

build_release() {
  bash scripts/setup.sh >/dev/null
  log "building image-chat (release) and the fixture server"
  bash scripts/site.sh build >/dev/null 2>&1 || bash scripts/site.sh build
  cargo build --quiet -p image-chat-fixtures --bin fixture-site
}

# start_fixture PAGES LATENCY_MS: serves a generated site; sets FIXTURE.
start_fixture() {
  local port; port="$(free_port)"
  "$TARGET/debug/fixture-site" serve --pages "$1" --latency-ms "$2" --port "$port" >/dev/null 2>&1 &
  pids+=($!)
  FIXTURE="http://127.0.0.1:$port"
  wait_http "$FIXTURE/robots.txt" || die "the fixture site did not start"
}

# start_server DATA_DIR PORT: the release binary on loopback; sets SERVER_PID.
start_server() {
  IMAGE_CHAT__DATA_DIR="$1" IMAGE_CHAT__CRAWLER__ALLOW_HOSTS='["127.0.0.1"]' \
    IMAGE_CHAT__SERVER__CHAT_RATE_PER_MIN=100000000 IMAGE_CHAT__SERVER__CRAWL_RATE_PER_MIN=1000 \
    "$TARGET/release/image-chat" serve --addr "127.0.0.1:$2" >>"$1.log" 2>&1 &
  SERVER_PID=$!
  pids+=("$SERVER_PID")
}

# whole_number NAME VALUE: dies unless VALUE is a positive whole number.
whole_number() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive whole number, not '$2'"; }

rss_mb() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$1/status"; }
threads_of() { awk '/^Threads/ { print $2 }' "/proc/$1/status"; }

# api METHOD URL [JSON]: prints the body; fails on a non-2xx answer.
api() {
  python3 - "$@" <<'PY'
import json, sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json", "accept": "application/json"})
print(urllib.request.urlopen(req, timeout=30).read().decode())
PY
}

# wait_session BASE ID CONDITION: polls the session's JSON status until the Python expression
# CONDITION (over `s`) holds; prints the session.
wait_session() {
  python3 - "$@" <<'PY'
import json, sys, time, urllib.request
base, sid, cond = sys.argv[1:4]
deadline = time.time() + 600
while time.time() < deadline:
    try:
        s = json.load(urllib.request.urlopen(urllib.request.Request(f"{base}/crawl/{sid}/status", headers={"accept": "application/json"}), timeout=10))
        if eval(cond):
            print(json.dumps(s))
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(f"the session never reached: {cond}")
PY
}

# --- load --------------------------------------------------------------------------------------
# wrk_line NAME OUTPUT: one row of the summary from wrk's report.
wrk_line() {
  python3 - "$1" "$2" <<'PY'
import re, sys
name, out = sys.argv[1], sys.argv[2]
def grab(pattern, default="0"):
    m = re.search(pattern, out)
    return m.group(1) if m else default
errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)) + int(grab(r"Non-2xx or 3xx responses: (\d+)"))
rate, p50, p99, total = grab(r"Requests/sec:\s+([\d.]+)"), grab(r"(?m)^\s+50%\s+(\S+)"), grab(r"(?m)^\s+99%\s+(\S+)"), grab(r"(\d+) requests in")
print(f"{name:<6} {rate:>9} {p50:>9} {p99:>9} {total:>9} {errors:>7}")
PY
}

load() {
  local seconds="${1:-60}" data port out before after
  whole_number SECONDS "$seconds"
  have wrk || as_root apt-get install -y -qq wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
  build_release
  data="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-load.XXXXXX")"
  start_fixture 200 0
  port="$(free_port)"
  start_server "$data/data" "$port"
  local base="http://127.0.0.1:$port"
  wait_http "$base/health" || die "the server did not start (log: $data/data.log)"
  local id
  id="$(api POST "$base/crawl" "{\"url\":\"$FIXTURE/\",\"max_pages\":200}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])')"
  wait_session "$base" "$id" 's["status"] == "finished"' | python3 -c 'import json,sys; s=json.load(sys.stdin); print("crawled: %d pages, %d images indexed" % (s["counters"]["pages_fetched"], s["images_indexed"]))'
  sleep 12 # let the crawl's idle blocking threads end, so "before" is the server at rest
  cat >"$data/chat.lua" <<'LUA'
local words = {"red","blue","green","dog","cat","watch","apple","photo","png","jpeg","large","small","people","without","beach","mountain","car","city","night","sunset","portrait","logo","icon","bright","dark","transparent","wide","tall","flower","child","bicycle","water","snow","tree","house","food","coffee","laptop","phone","shoe"}
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  local t = {}
  for i = 1, math.random(2, 5) do t[i] = words[math.random(#words)] end
  return wrk.format("POST", "/chat", {["content-type"] = "application/json"}, '{"message":"' .. table.concat(t, " ") .. '"}')
end
LUA
  before="$(rss_mb "$SERVER_PID")"
  log "chat: wrk -t2 -c50 -d${seconds}s, random 2-5 word messages (RSS before: ${before} MB)"
  local chat1 chat2 sse peak=0
  ( while kill -0 "$SERVER_PID" 2>/dev/null; do rss_mb "$SERVER_PID"; threads_of "$SERVER_PID" >&2; sleep 1; done ) >"$data/rss" 2>"$data/threads" &
  local sampler=$!
  chat1="$(wrk -t2 -c50 -d"${seconds}s" --timeout 10s --latency -s "$data/chat.lua" "$base")"
  local after1; after1="$(rss_mb "$SERVER_PID")"
  chat2="$(wrk -t2 -c50 -d"${seconds}s" --timeout 10s --latency -s "$data/chat.lua" "$base")"
  local after2; after2="$(rss_mb "$SERVER_PID")"
  log "SSE: wrk -t2 -c50 -d${seconds}s on the finished session's event stream"
  sse="$(wrk -t2 -c50 -d"${seconds}s" --timeout 10s --latency -H 'accept: text/event-stream' "$base/crawl/$id/status")"
  local after3; after3="$(rss_mb "$SERVER_PID")"
  sleep 15
  local idle; idle="$(rss_mb "$SERVER_PID")"
  kill "$sampler" 2>/dev/null || true
  peak="$(sort -n "$data/rss" | tail -1)"
  local most_threads; most_threads="$(sort -n "$data/threads" | tail -1)"
  echo
  printf '%-6s %9s %9s %9s %9s %7s\n' run req/s p50 p99 requests errors
  local rows; rows="$(wrk_line chat1 "$chat1"; wrk_line chat2 "$chat2"; wrk_line sse "$sse")"
  echo "$rows"
  echo "RSS (MB): before $before, after chat run 1 $after1, after chat run 2 $after2, after SSE $after3, idle 15 s later $idle, peak $peak; threads at most $most_threads"
  rm -rf "$data"
  if awk '{ if ($6 != 0) bad = 1 } END { exit !bad }' <<<"$rows"; then die "requests failed under load"; fi
}

# --- faults ------------------------------------------------------------------------------------
# check_index DATA_DIR SESSION_JSON: integrity, and the session's counters against the index.
check_index() {
  python3 - "$1" "$2" <<'PY'
import json, sqlite3, sys
data, session = sys.argv[1], json.loads(sys.argv[2])
db = sqlite3.connect(f"file:{data}/index.sqlite?mode=ro", uri=True)
integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
# The session's images live in its namespace (the record on disk names it).
namespace = json.load(open(f"{data}/sessions/{session['id']}.json"))["namespace"]
stored = db.execute("SELECT count(*) FROM images WHERE namespace = ?", (namespace,)).fetchone()[0]
print(f"integrity_check: {integrity}; session {session['id']}: status {session['status']}, images_indexed {session['images_indexed']}, rows in the index {stored}")
if integrity != "ok":
    sys.exit("the index is damaged")
if session["images_indexed"] != stored:
    sys.exit("the session's count disagrees with the index")
PY
}

faults() {
  build_release
  local data port base id session
  data="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-faults.XXXXXX")"
  start_fixture 400 20
  port="$(free_port)"
  base="http://127.0.0.1:$port"

  log "kill -9 mid-crawl (a 400-page site, 20 ms a response)"
  start_server "$data/data" "$port"
  wait_http "$base/health" || die "the server did not start"
  id="$(api POST "$base/crawl" "{\"url\":\"$FIXTURE/\",\"max_pages\":400}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])')"
  wait_session "$base" "$id" 's["images_indexed"] >= 50' >/dev/null
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  start_server "$data/data" "$port"
  wait_http "$base/health" || die "the server did not start again after kill -9 (log: $data/data.log)"
  session="$(wait_session "$base" "$id" 's["status"] != "running"')"
  [ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["status"])' "$session")" = interrupted ] \
    || die "the killed crawl's session is not 'interrupted': $session"
  check_index "$data/data" "$session"
  local ids; ids="$(api GET "$base/sessions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))')"

  log "kill -9 during start-up, five times at different moments"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  for delay in 0.05 0.2 0.4 0.8 1.5; do
    start_server "$data/data" "$port"
    sleep "$delay"
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  done
  start_server "$data/data" "$port"
  wait_http "$base/health" || die "the server did not start after being killed during start-up (log: $data/data.log)"
  session="$(wait_session "$base" "$id" 'True')"
  check_index "$data/data" "$session"
  [ "$(api GET "$base/sessions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))')" = "$ids" ] \
    || die "sessions were lost across the start-up kills"
  api POST "$base/chat" '{"message":"photos"}' | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; assert r, "no results after restart"; print(f"chat after the restarts: {len(r)} results")'
  rm -rf "$data"
  log "faults survived: the index is intact and every count agrees with it"
}

# --- schema ------------------------------------------------------------------------------------
SCHEMATHESIS_VERSION="4.32.5"

schema() {
  local examples="${1:-300}" venv="$IMAGE_CHAT_CACHE/schemathesis-$SCHEMATHESIS_VERSION"
  whole_number EXAMPLES "$examples"
  have unshare || die "unshare (util-linux) is needed to cut the server off the network"
  if [ ! -x "$venv/bin/schemathesis" ]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION in $venv"
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION" \
      || die "could not install schemathesis (is PyPI reachable?)"
  fi
  build_release
  local data; data="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-schema.XXXXXX")"
  log "schemathesis: every check but use_after_free, $examples examples per operation (no network but loopback)"
  # DELETE /crawl/{id} cancels a crawl; the session and its images stay (README), so the stateful
  # "deleted resource still available" check does not apply.
  if [ "$(id -u)" -eq 0 ]; then ns=(unshare -n); else ns=(unshare -rn); fi
  "${ns[@]}" bash "$0" schema-inside "$data" "$venv" "$examples"
  local rc=$?
  rm -rf "$data"
  return "$rc"
}

# Inside the namespace: loopback up, the server, schemathesis.
schema_inside() {
  local data="$1" venv="$2" examples="$3" port=3999
  ip link set lo up 2>/dev/null || true
  start_server "$data/data" "$port"
  wait_http "http://127.0.0.1:$port/health" || die "the server did not start (log: $data/data.log)"
  "$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/openapi.json" --checks all \
    --exclude-checks use_after_free -n "$examples" --workers 2 --request-timeout 20 --no-color
}

case "${1:-}" in
  fuzz) shift; fuzz "$@" ;;
  seeds) seeds ;;
  load) shift; load "$@" ;;
  faults) faults ;;
  schema) shift; schema "$@" ;;
  schema-inside) shift; schema_inside "$@" ;;
  all) fuzz; load; faults; schema ;;
  *) die "usage: scripts/reliability.sh fuzz [SECONDS] [JOBS] [TARGET...] | seeds | load [SECONDS] | faults | schema [EXAMPLES] | all" ;;
esac
