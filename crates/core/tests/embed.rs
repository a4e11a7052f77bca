//! The local embedding model: loading, errors, shape, normalization and meaning.

use std::path::Path;

use image_chat_core::config::ModelSettings;
use image_chat_core::embed::{Embedder, Fused, OnnxEmbedder};
use image_chat_core::index::vectors::dot;

fn model_settings() -> Option<ModelSettings> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let settings = ModelSettings { dir, ..ModelSettings::default() };
    if settings.files().iter().all(|f| f.is_file()) {
        return Some(settings);
    }
    image_chat_fixtures::skip::skip(
        image_chat_fixtures::skip::Need::Model,
        "model files absent (scripts/fetch-models.sh fetches them)",
    );
    None
}

#[test]
fn a_missing_model_is_one_clear_error_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ModelSettings { dir: dir.path().to_path_buf(), ..ModelSettings::default() };
    let err = OnnxEmbedder::load(&settings).err().expect("loading must fail").to_string();
    assert!(err.contains("missing") && err.contains("scripts/fetch-models.sh"), "{err}");
}

#[test]
fn a_corrupt_model_file_is_reported() {
    let Some(good) = model_settings() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bad = ModelSettings { dir: dir.path().to_path_buf(), ..ModelSettings::default() };
    let [lib, graph, tok] = bad.files();
    for (from, to) in good.files().iter().zip([&lib, &graph, &tok]) {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
    std::fs::write(&graph, b"not an onnx graph").unwrap();
    let err = OnnxEmbedder::load(&bad).err().expect("loading must fail").to_string();
    assert!(err.contains("model.onnx") && err.contains("fetch-models"), "{err}");
}

#[test]
fn embeddings_are_normalized_ordered_and_meaningful() {
    let Some(settings) = model_settings() else { return };
    let e = OnnxEmbedder::load(&settings).unwrap();
    assert_eq!(e.dimension(), 384);
    let texts = [
        "a red kayak on a calm lake",
        "a small boat on still water",
        "a plate of spaghetti with tomato sauce",
        "",
        &"very long text ".repeat(2_000),
    ];
    let v = e.embed(&texts).unwrap();
    assert_eq!(v.len(), texts.len());
    for x in &v {
        assert_eq!(x.len(), 384);
        let norm: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{norm}");
    }
    assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2, "paraphrases are closer than unrelated texts");
    // Batching and bucketing change nothing: one at a time gives the same vectors.
    let single = e.embed(&[texts[2]]).unwrap();
    assert!(dot(&single[0], &v[2]) > 0.9999);
    assert!(e.embed(&[]).unwrap().is_empty());
}

/// Quality pin: sentence-transformers' own embeddings of fixed sentences (made by
/// `scripts/make-embedding-reference.py`) and ours agree to cosine >= 0.998.
#[test]
fn embeddings_match_sentence_transformers() {
    let Some(settings) = model_settings() else { return };
    agree_with_reference(&settings, 0.998);
}

/// The graph's exact fusions (NaN guards dropped, GELUs fused) change no vector beyond float
/// rounding: the same texts through the graph as shipped, to 1e-5 in every component (1.5e-7
/// measured), under the same model id.
#[test]
fn the_fused_graph_computes_what_the_shipped_one_does() {
    let Some(settings) = model_settings() else { return };
    let fused = OnnxEmbedder::load(&settings).unwrap();
    let shipped = OnnxEmbedder::load_as_shipped(&settings).unwrap();
    assert_eq!(fused.fused(), Fused { nan_guards: 6, gelus: 6 }, "one of each in each of the 6 layers");
    assert_eq!(shipped.fused(), Fused::default());
    assert_eq!(fused.model_id(), shipped.model_id());
    let long = "a harbour at dusk with fishing boats and gulls over the water ".repeat(40);
    let texts = ["a red kayak on a calm lake", "", "Photos", long.as_str(), "a plate of spaghetti with tomato sauce"];
    let (a, b) = (fused.embed(&texts).unwrap(), shipped.embed(&texts).unwrap());
    for (x, y) in a.iter().zip(&b) {
        let worst = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "a component differs by {worst}");
    }
    // Under int8 arithmetic the fusions are made too.
    let int8 = OnnxEmbedder::load(&ModelSettings { int8_activations: true, ..settings }).unwrap();
    assert_eq!(int8.fused(), Fused { nan_guards: 6, gelus: 6 });
}

/// `model.int8_activations`: the same sentences, to cosine >= 0.98 (0.986-0.996 measured), under
/// a model id of its own so cached vectors of the float arithmetic are not mixed in.
#[test]
fn int8_activations_stay_close_to_sentence_transformers() {
    let Some(settings) = model_settings() else { return };
    let settings = ModelSettings { int8_activations: true, ..settings };
    agree_with_reference(&settings, 0.98);
    let float = OnnxEmbedder::load(&ModelSettings { int8_activations: false, ..settings.clone() }).unwrap();
    let int8 = OnnxEmbedder::load(&settings).unwrap();
    assert_ne!(float.model_id(), int8.model_id());
    let (a, b) = (float.embed(&["a red kayak"]).unwrap(), int8.embed(&["a red kayak"]).unwrap());
    assert!(a != b, "the setting changes the arithmetic");
}

#[test]
fn int8_activations_refuse_a_graph_they_cannot_rewrite() {
    let Some(settings) = model_settings() else { return };
    let dir = tempfile::tempdir().unwrap();
    for f in settings.files() {
        let to = dir.path().join(f.strip_prefix(&settings.dir).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
    // Not a graph at all: a clear error naming the setting, not a crash.
    std::fs::write(dir.path().join(&settings.graph), b"not a model").unwrap();
    let bad = ModelSettings { dir: dir.path().to_path_buf(), int8_activations: true, ..settings };
    let err = OnnxEmbedder::load(&bad).err().expect("loading must fail").to_string();
    assert!(err.contains("model.int8_activations"), "{err}");
}

fn agree_with_reference(settings: &ModelSettings, bound: f32) {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("data/minilm_reference.json")).expect("valid reference JSON");
    let sentences: Vec<&str> = reference["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let expected: Vec<Vec<f32>> = reference["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    let e = OnnxEmbedder::load(settings).unwrap();
    let got = e.embed(&sentences).unwrap();
    for ((s, want), have) in sentences.iter().zip(&expected).zip(&got) {
        let cosine = dot(want, have);
        println!("{s:?}: {cosine:.5}");
        assert!(cosine >= bound, "{s:?}: cosine {cosine} to sentence-transformers");
    }
}

/// Counts the texts that reach the model.
struct Counting {
    inner: OnnxEmbedder,
    texts: std::sync::atomic::AtomicUsize,
}

impl Embedder for Counting {
    fn embed(&self, texts: &[&str]) -> image_chat_core::Result<Vec<Vec<f32>>> {
        self.texts.fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
        self.inner.embed(texts)
    }
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
}

#[test]
fn repeated_texts_are_embedded_once() {
    use image_chat_core::embed::CachedEmbedder;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let Some(settings) = model_settings() else { return };
    let counting = Arc::new(Counting { inner: OnnxEmbedder::load(&settings).unwrap(), texts: Default::default() });
    let cached = CachedEmbedder::new(counting.clone(), 1_000);
    let batch = ["Loading Events", "a reef survey", "Loading Events", "Loading Events"];
    let first = cached.embed(&batch).unwrap();
    assert_eq!(counting.texts.load(Ordering::Relaxed), 2, "two distinct texts reach the model");
    assert_eq!(first[0], first[2]);
    let again = cached.embed(&["a reef survey", "Loading Events"]).unwrap();
    assert_eq!(counting.texts.load(Ordering::Relaxed), 2, "the second batch is served from the cache");
    assert_eq!(again[0], first[1]);
    assert_eq!(cached.counts(), (4, 2));
}
