//! all-MiniLM-L6-v2 (int8-stored weights) on ONNX Runtime, loaded from the shared library the
//! set-up script fetched (`load-dynamic`), so nothing is downloaded at run time.

use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};

use ort::session::Session;
use ort::value::TensorRef;
use tokenizers::{Tokenizer, TruncationParams};

use super::Embedder;
use super::graph::fuse::Fused;
use crate::config::ModelSettings;
use crate::error::{Error, Result};

/// The model's own limit on word pieces per text.
pub const MAX_TOKENS: usize = 256;
/// Texts per inference call.
pub const BATCH: usize = 32;
/// Longest text accepted, in bytes; longer ones are cut (the model reads 256 word pieces anyway).
pub const MAX_TEXT_BYTES: usize = 4 * 1024;
const MODEL_ID: &str = "all-MiniLM-L6-v2-int8@onnx";
const MODEL_ID_INT8: &str = "all-MiniLM-L6-v2-int8-dq@onnx";
const FETCH_HINT: &str = "run `scripts/fetch-models.sh` (or `scripts/setup.sh`) to fetch it";

pub struct OnnxEmbedder {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
    dim: usize,
    /// Whether the graph takes `token_type_ids` (some exports drop it).
    wants_token_types: bool,
    /// Vectors of the int8 arithmetic differ slightly: cached ones of the other are not reused.
    model_id: &'static str,
    fused: Fused,
}

fn model_error(e: impl std::fmt::Display) -> Error {
    Error::Model(e.to_string())
}

/// ONNX Runtime's environment: its shared library is loaded once per process.
fn environment(lib: &std::path::Path) -> Result<&'static ort::environment::Environment> {
    static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        ort::init_from(lib)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?
            .with_name("image-chat")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
    })
    .as_ref()
    .map_err(|e| Error::Model(e.clone()))
}

impl OnnxEmbedder {
    /// Loads the runtime, the graph and the tokenizer named by the settings. A missing file
    /// is one clear error that says how to fetch it. The graph is loaded with its exact fusions
    /// made (`graph::fuse`), and in int8 arithmetic under `model.int8_activations`.
    pub fn load(model: &ModelSettings) -> Result<Self> {
        Self::load_graph(model, true)
    }

    /// The graph exactly as shipped, without the exact fusions: what they are checked against.
    pub fn load_as_shipped(model: &ModelSettings) -> Result<Self> {
        Self::load_graph(model, false)
    }

    fn load_graph(model: &ModelSettings, fuse: bool) -> Result<Self> {
        let [lib, graph, tokenizer] = model.files();
        for file in [&lib, &graph, &tokenizer] {
            if !file.is_file() {
                return Err(Error::Model(format!("model file {} is missing; {FETCH_HINT}", file.display())));
            }
        }
        let env = environment(&lib)?;
        let threads = crate::blocking::cores();
        let mut builder = Session::builder(env)
            .map_err(model_error)?
            .with_intra_threads(threads)
            .map_err(model_error)?
            .with_inter_threads(1)
            .map_err(model_error)?
            // Spinning threads burn a core between batches for no gain on small inputs.
            .with_config_entry("session.intra_op.allow_spinning", "0")
            .map_err(model_error)?;
        let shipped = std::fs::read(&graph)
            .map_err(|e| Error::Model(format!("cannot read {}: {e}; {FETCH_HINT}", graph.display())))?;
        let mut bytes = Cow::Borrowed(shipped.as_slice());
        let mut fused = Fused::default();
        if fuse {
            match super::graph::fuse::rewrite(&bytes) {
                Ok((rewritten, what)) if what.any() => {
                    tracing::debug!(
                        "{}: {} NaN guards dropped, {} GELUs fused (exact)",
                        graph.display(),
                        what.nan_guards,
                        what.gelus
                    );
                    bytes = Cow::Owned(rewritten);
                    fused = what;
                }
                Ok(_) => {}
                // ONNX Runtime reads it or says why not; the fusions only make it faster.
                Err(e) => tracing::warn!("{}: left as shipped, its graph could not be read: {e}", graph.display()),
            }
        }
        if model.int8_activations {
            let (rewritten, matmuls) = super::graph::int8::rewrite(&bytes).map_err(|e| {
                Error::Model(format!("model.int8_activations: cannot compute {} in int8: {e}", graph.display()))
            })?;
            tracing::info!("model.int8_activations: {matmuls} matrix products of {} in int8", graph.display());
            bytes = Cow::Owned(rewritten);
        }
        let session = builder
            .commit_from_memory(&bytes)
            .map_err(|e| Error::Model(format!("cannot load {}: {e}; {FETCH_HINT}", graph.display())))?;
        let wants_token_types = session.inputs().iter().any(|i| i.name() == "token_type_ids");
        let mut tokenizer = Tokenizer::from_file(&tokenizer)
            .map_err(|e| Error::Model(format!("cannot read {}: {e}; {FETCH_HINT}", tokenizer.display())))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..TruncationParams::default() }))
            .map_err(model_error)?;
        tokenizer.with_padding(None);
        let model_id = if model.int8_activations { MODEL_ID_INT8 } else { MODEL_ID };
        let mut embedder = Self { session: Mutex::new(session), tokenizer, dim: 0, wants_token_types, model_id, fused };
        embedder.dim = embedder.embed(&["dimension probe"])?.first().map_or(0, Vec::len);
        if embedder.dim == 0 {
            return Err(Error::Model(format!("{} produced no embedding", graph.display())));
        }
        Ok(embedder)
    }

    /// The exact fusions made to the graph at load.
    pub fn fused(&self) -> Fused {
        self.fused
    }

    fn run_batch(&self, encodings: &[&tokenizers::Encoding]) -> Result<Vec<Vec<f32>>> {
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        for (row, e) in encodings.iter().enumerate() {
            for (col, (&id, &m)) in e.get_ids().iter().zip(e.get_attention_mask()).enumerate() {
                ids[row * seq + col] = i64::from(id);
                mask[row * seq + col] = i64::from(m);
            }
        }
        let types = vec![0i64; batch * seq];
        let shape = [batch, seq];
        let ids_t = TensorRef::from_array_view((shape, ids.as_slice())).map_err(model_error)?;
        let mask_t = TensorRef::from_array_view((shape, mask.as_slice())).map_err(model_error)?;
        let types_t = TensorRef::from_array_view((shape, types.as_slice())).map_err(model_error)?;
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = if self.wants_token_types {
            session.run(ort::inputs!["input_ids" => ids_t, "attention_mask" => mask_t, "token_type_ids" => types_t])
        } else {
            session.run(ort::inputs!["input_ids" => ids_t, "attention_mask" => mask_t])
        }
        .map_err(model_error)?;
        let (out_shape, hidden) = outputs[0].try_extract_tensor::<f32>().map_err(model_error)?;
        let dim = *out_shape.last().ok_or_else(|| Error::Model("model output has no dimensions".into()))? as usize;
        if out_shape.len() != 3 || hidden.len() != batch * seq * dim {
            return Err(Error::Model(format!("unexpected model output shape {out_shape:?}")));
        }
        // Mean over the real tokens, then unit length.
        let mut vectors = Vec::with_capacity(batch);
        for row in 0..batch {
            let mut sum = vec![0f32; dim];
            let mut count = 0f32;
            for col in 0..seq {
                if mask[row * seq + col] == 0 {
                    continue;
                }
                count += 1.0;
                let at = (row * seq + col) * dim;
                for (s, h) in sum.iter_mut().zip(&hidden[at..at + dim]) {
                    *s += h;
                }
            }
            let count = count.max(1.0);
            sum.iter_mut().for_each(|s| *s /= count);
            crate::model::vector::normalize(&mut sum);
            vectors.push(sum);
        }
        Ok(vectors)
    }
}

impl Embedder for OnnxEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let cut: Vec<&str> = texts
            .iter()
            .map(|t| {
                let mut end = t.len().min(MAX_TEXT_BYTES);
                while !t.is_char_boundary(end) {
                    end -= 1;
                }
                &t[..end]
            })
            .collect();
        let encodings = self.tokenizer.encode_batch(cut, true).map_err(model_error)?;
        // Length buckets: consecutive texts of similar length share a batch and its padding.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); encodings.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&tokenizers::Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            for (&i, v) in chunk.iter().zip(self.run_batch(&batch)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn model_id(&self) -> &str {
        self.model_id
    }

    fn dimension(&self) -> usize {
        self.dim
    }
}
