//! Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, LocalAI,
//! llama.cpp's server, …): batched, retried on 429/5xx with backoff, normalized like the local
//! model's vectors. Blocking: call it where blocking is allowed (`spawn_blocking`, the CLI).

use std::time::Duration;

use serde::Deserialize;

use super::Embedder;
use crate::config::OpenAiSettings;
use crate::error::{Error, Result};

/// Texts per request.
pub const BATCH: usize = 128;
const MAX_RETRIES: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct OpenAiEmbedder {
    client: reqwest::blocking::Client,
    endpoint: String,
    model: String,
    api_key: Option<String>,
    model_id: String,
    dim: usize,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    index: usize,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

impl OpenAiEmbedder {
    /// Connects to `settings.base_url` (e.g. `http://127.0.0.1:8080/v1`) and probes the
    /// dimension with one request, so a wrong URL, key or model fails here, clearly.
    pub fn connect(settings: &OpenAiSettings) -> Result<Self> {
        let base =
            settings.base_url.as_deref().ok_or_else(|| Error::Model("model.openai.base_url is not set".into()))?;
        let base_url = url::Url::parse(base)
            .map_err(|e| Error::Model(format!("model.openai.base_url {base:?} is not a URL: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(Error::Model(format!("model.openai.base_url {base:?} must be http(s)")));
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::Model(format!("cannot build the HTTP client: {e}")))?;
        let mut embedder = Self {
            client,
            endpoint: format!("{}/embeddings", base.trim_end_matches('/')),
            model: settings.model.clone(),
            api_key: settings.api_key.as_ref().map(|k| k.expose().to_string()),
            model_id: format!("{}@{}", settings.model, base_url.host_str().unwrap_or("")),
            dim: 0,
        };
        embedder.dim = embedder.embed(&["dimension probe"])?.first().map_or(0, Vec::len);
        if embedder.dim == 0 {
            return Err(Error::Model(format!("{} returned an empty embedding", embedder.endpoint)));
        }
        Ok(embedder)
    }

    fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let body = serde_json::json!({ "model": self.model, "input": texts });
        let mut attempt = 0;
        loop {
            let mut req = self.client.post(&self.endpoint).json(&body);
            if let Some(key) = &self.api_key {
                req = req.bearer_auth(key);
            }
            let outcome = req.send();
            let retry = match &outcome {
                Ok(r) => r.status().as_u16() == 429 || r.status().is_server_error(),
                Err(e) => e.is_timeout() || e.is_connect(),
            };
            if retry && attempt < MAX_RETRIES {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200 * 2u64.pow(attempt)));
                continue;
            }
            let response = outcome.map_err(|e| Error::Model(format!("{}: {e}", self.endpoint)))?;
            let status = response.status();
            let text = response.text().map_err(|e| Error::Model(format!("{}: {e}", self.endpoint)))?;
            if !status.is_success() {
                let detail = serde_json::from_str::<ErrorBody>(&text)
                    .map(|b| b.error.message)
                    .unwrap_or_else(|_| text.chars().take(200).collect());
                return Err(Error::Model(format!("{} answered HTTP {}: {detail}", self.endpoint, status.as_u16())));
            }
            let parsed: Response = serde_json::from_str(&text)
                .map_err(|e| Error::Model(format!("{} sent an unexpected answer: {e}", self.endpoint)))?;
            let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
            for item in parsed.data {
                if let Some(slot) = out.get_mut(item.index) {
                    let mut v = item.embedding;
                    crate::model::vector::normalize(&mut v);
                    *slot = Some(v);
                }
            }
            return out
                .into_iter()
                .map(|v| v.ok_or_else(|| Error::Model(format!("{} left out some inputs", self.endpoint))))
                .collect();
        }
    }
}

impl Embedder for OpenAiEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let vectors = self.request(chunk)?;
            if self.dim != 0 && vectors.iter().any(|v| v.len() != self.dim) {
                return Err(Error::Model(format!("{} changed its embedding dimension", self.endpoint)));
            }
            out.extend(vectors);
        }
        Ok(out)
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.dim
    }
}
