#!/usr/bin/env bash
# Builds and runs the web app without cargo-leptos: the same two cargo builds, with the same
# arguments and LEPTOS_* variables, that `cargo leptos build --release` (0.3.10) runs, then the
# same wasm-bindgen and wasm-opt steps, the stylesheet and public/ copied into the site folder.
# Compiling cargo-leptos itself took 8 of the 20 minutes of a first run on 2 cores
# (docs/benchmarks.md, "Set-up time"); what it adds beyond these steps is file watching and
# live reload (`cargo install cargo-leptos && cargo leptos watch` still works for that) and
# minifying the JavaScript glue and the stylesheet, which this leaves as they are.
#
#   scripts/site.sh build                release build of the server and of the site in target/site
#   scripts/site.sh serve                build, then run the server (what scripts/run.sh does)
#   scripts/site.sh end-to-end           build, start the server, run the browser tests, stop it
#   scripts/site.sh end-to-end unoptimized
#                                        the same against an unoptimized (dev profile) build of the
#                                        same server (what scripts/test.sh does; the browser half
#                                        is the release one either way)
#
# Settings are Cargo.toml's [package.metadata.leptos]; LEPTOS_SITE_ADDR overrides site-addr at
# run time, as with cargo-leptos.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"

leptos_env
STYLE_FILE="$(leptos_setting style-file)"
ASSETS_DIR="$(leptos_setting assets-dir)"
BIN_FEATURES="$(leptos_setting bin-features)"
LIB_FEATURES="$(leptos_setting lib-features)"
LIB_PROFILE="$(leptos_setting lib-profile-release)"
END2END_DIR="$(leptos_setting end2end-dir)"
TARGET_DIR="${CARGO_TARGET_DIR:-$IMAGE_CHAT_ROOT/target}"
# cargo-leptos builds the browser half in a target folder of its own, so the two builds run
# side by side without waiting on each other's lock.
FRONT_TARGET_DIR="$TARGET_DIR/front"
CRATE="$(awk '/^\[package\]/ { p = 1; next } /^\[/ { p = 0 } p && $1 == "name" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)"

# The server binary of a build with the given cargo profile (release or dev).
server_bin() {
  if [ "$1" = release ]; then echo "$TARGET_DIR/release/$CRATE"; else echo "$TARGET_DIR/debug/$CRATE"; fi
}

build() {
  local profile="${1:-release}" wanted
  wanted="$(locked_version wasm-bindgen)"
  wasm_bindgen_is "$wanted" \
    || die "the wasm-bindgen CLI on PATH is not $wanted, the version Cargo.lock pins ($(wasm-bindgen --version 2>&1 | head -n 1)): run scripts/setup.sh"
  wasm_opt_is_pinned \
    || die "wasm-opt on PATH is not binaryen $BINARYEN_VERSION ($(wasm-opt --version 2>&1 | head -n 1)): run scripts/setup.sh"

  log "compiling the server ($profile) and the browser half (release)"
  local front_log
  front_log="$(mktemp "${TMPDIR:-/tmp}/image-chat-front.XXXXXX")"
  cargo build "--package=$CRATE" --lib "--target-dir=$FRONT_TARGET_DIR" --target=wasm32-unknown-unknown \
    --no-default-features "--features=$LIB_FEATURES" "--profile=$LIB_PROFILE" >"$front_log" 2>&1 &
  local front_pid=$!
  if ! cargo build "--package=$CRATE" "--bin=$CRATE" --no-default-features "--features=$BIN_FEATURES" "--profile=$profile"; then
    kill "$front_pid" 2>/dev/null || true
    wait "$front_pid" 2>/dev/null || true
    rm -f "$front_log"
    die "the server did not compile"
  fi
  if ! wait "$front_pid"; then
    cat "$front_log" >&2
    rm -f "$front_log"
    die "the browser half (wasm32) did not compile"
  fi
  rm -f "$front_log"

  local pkg="$LEPTOS_SITE_ROOT/$LEPTOS_SITE_PKG_DIR"
  local wasm_in="$FRONT_TARGET_DIR/wasm32-unknown-unknown/$LIB_PROFILE/${CRATE//-/_}.wasm"
  # Beside the site folder, not in it: everything in it is served.
  local stamp="$LEPTOS_SITE_ROOT.built-from"
  mkdir -p "$pkg"
  # wasm-bindgen and wasm-opt take seconds; skip them when the wasm they read is unchanged.
  local source_sum
  source_sum="$(sha256sum "$wasm_in" | cut -d' ' -f1) $(wasm-bindgen --version) $(wasm-opt --version)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$source_sum" ] && [ -f "$pkg/$LEPTOS_OUTPUT_NAME.wasm" ] && [ -f "$pkg/$LEPTOS_OUTPUT_NAME.js" ]; then
    log "browser half unchanged: $pkg kept"
  else
    rm -f "$stamp"
    log "wasm-bindgen and wasm-opt -Oz"
    wasm-bindgen --target=web "--out-name=$LEPTOS_OUTPUT_NAME" "--out-dir=$pkg" "$wasm_in"
    # The name leptos's hydration script asks for.
    mv "$pkg/${LEPTOS_OUTPUT_NAME}_bg.wasm" "$pkg/$LEPTOS_OUTPUT_NAME.wasm"
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int "$pkg/$LEPTOS_OUTPUT_NAME.wasm" -o "$pkg/$LEPTOS_OUTPUT_NAME.wasm"
    printf '%s' "$source_sum" >"$stamp"
  fi
  cp "$STYLE_FILE" "$pkg/$LEPTOS_OUTPUT_NAME.css"
  cp -R "$ASSETS_DIR"/. "$LEPTOS_SITE_ROOT"/
  log "built: $(server_bin "$profile") and $LEPTOS_SITE_ROOT/"
}

case "${1:-}" in
  build)
    build
    ;;
  serve)
    build
    log "serving on http://$LEPTOS_SITE_ADDR"
    exec "$(server_bin release)"
    ;;
  end-to-end)
    case "${2:-}" in
      "") profile=release ;;
      unoptimized) profile=dev ;;
      *) die "usage: scripts/site.sh end-to-end [unoptimized]" ;;
    esac
    build "$profile"
    "$(server_bin "$profile")" &
    server_pid=$!
    trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
    wait_http "http://$LEPTOS_SITE_ADDR/" 120 || die "the server did not answer on http://$LEPTOS_SITE_ADDR within 2 minutes"
    (cd "$END2END_DIR" && npx playwright test)
    ;;
  *)
    die "usage: scripts/site.sh build | serve | end-to-end [unoptimized]"
    ;;
esac
