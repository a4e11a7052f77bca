#!/usr/bin/env bash
# The index stores side by side (`cargo bench -p image-chat-core --bench search`): the embedded
# store and PostgreSQL + pgvector, the same records and queries in one run, at each SIZE given.
# PostgreSQL is one of its own here, started on a free loopback port with memory enough to keep
# a million-record HNSW graph cached (the test server's defaults would measure the disk), and
# stopped at the end. About an hour at 1M on 2 cores, most of it PostgreSQL's ingest.
#
#   scripts/bench-store.sh [SIZE ...]        (default: 10000 100000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
[ "$#" -gt 0 ] || set -- 10000 100000
whole_numbers "scripts/bench-store.sh [SIZE ...]" "$@"

bash scripts/setup.sh --test >/dev/null
dir="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-bench-store.XXXXXX")"
chmod 755 "$dir"
trap 'pg_stop "$dir"; rm -rf "$dir"' EXIT
port="$(free_port)"
pg_start "$dir" "$port" "-c shared_buffers=4GB -c maintenance_work_mem=1GB -c max_wal_size=8GB" >/dev/null
"$PG_HOME/bin/psql" -q -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -c "CREATE DATABASE bench"
log "PostgreSQL on $port: shared_buffers=4GB maintenance_work_mem=1GB max_wal_size=8GB fsync=off"

started=$(date +%s)
IMAGE_CHAT_BENCH_DATABASE_URL="postgres://$PG_USER@127.0.0.1:$port/bench" \
  cargo bench -p image-chat-core --bench search -- "$@"
log "took $(( $(date +%s) - started )) s; the database: $(du -sh "$dir/data" | cut -f1)"
