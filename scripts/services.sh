#!/usr/bin/env bash
# Starts (or stops) the real services the tests run against, on free loopback ports:
#   scripts/services.sh start      prints `export …` lines (IMAGE_CHAT_TEST_REDIS_URL,
#                                  IMAGE_CHAT_TEST_DATABASE_URL, IMAGE_CHAT_TEST_SERVICES_DIR,
#                                  IMAGE_CHAT_TEST_PG_BIN, IMAGE_CHAT_TEST_PG_USER,
#                                  IMAGE_CHAT_TEST_PG_TLS_BIN)
#   scripts/services.sh stop DIR   stops what `start` started and deletes DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"

start() {
  have redis-server || die "redis-server is missing: run scripts/setup.sh --test"
  local dir; dir="$(mktemp -d "${TMPDIR:-/tmp}/image-chat-services.XXXXXX")"
  chmod 755 "$dir"
  # Whatever fails below, nothing started here is left running.
  trap 'stop "$dir"' EXIT

  local redis_port; redis_port="$(free_port)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG || { cat "$dir/redis.log" >&2; die "Redis did not start"; }

  local pg_port; pg_port="$(free_port)"
  local pgvector; pgvector="$(pg_start "$dir/pg" "$pg_port")"
  log "test services: Redis on 127.0.0.1:$redis_port, PostgreSQL + pgvector $pgvector on 127.0.0.1:$pg_port"

  trap - EXIT
  echo "export IMAGE_CHAT_TEST_SERVICES_DIR='$dir'"
  echo "export IMAGE_CHAT_TEST_REDIS_URL='redis://127.0.0.1:$redis_port/0'"
  echo "export IMAGE_CHAT_TEST_DATABASE_URL='postgres://$PG_USER@127.0.0.1:$pg_port/postgres'"
  # For tests that start (and stop) a PostgreSQL of their own.
  echo "export IMAGE_CHAT_TEST_PG_BIN='$PG_HOME/bin'"
  if [ "$(id -u)" -eq 0 ]; then echo "export IMAGE_CHAT_TEST_PG_USER='$PG_USER'"; else echo "export IMAGE_CHAT_TEST_PG_USER=''"; fi
  # For the test of TLS to the store: a PostgreSQL built with OpenSSL (the wheel's is not).
  local tls_bin; tls_bin="$(distro_pg_bin)"
  [ -n "$tls_bin" ] || die "the distribution's PostgreSQL (for the TLS test) is missing: run scripts/setup.sh --test"
  echo "export IMAGE_CHAT_TEST_PG_TLS_BIN='$tls_bin'"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  pg_stop "$dir/pg"
  if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) die "usage: scripts/services.sh start | stop DIR" ;;
esac
