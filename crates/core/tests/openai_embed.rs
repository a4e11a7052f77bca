//! The OpenAI-compatible embeddings backend against a local server that speaks the protocol
//! (the real endpoints cannot be reached from here).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use image_chat_core::config::{OpenAiSettings, Secret};
use image_chat_core::embed::{Embedder, OpenAiEmbedder};
use serde_json::{Value, json};

#[derive(Default)]
struct Counters {
    requests: AtomicUsize,
    flaky_left: AtomicUsize,
}

/// A deterministic 8-d vector of a text (not normalized: the client must normalize).
fn vector(text: &str) -> Vec<f32> {
    (0..8)
        .map(|i| text.bytes().enumerate().map(|(j, b)| ((b as usize * (i + 1) + j) % 17) as f32).sum::<f32>() + 1.0)
        .collect()
}

async fn embeddings(State(c): State<Arc<Counters>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    c.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer test-key") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})),
        )
            .into_response();
    }
    if body["model"] == "flaky" && c.flaky_left.load(Ordering::SeqCst) > 0 {
        c.flaky_left.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": {"message": "Rate limit reached"}})))
            .into_response();
    }
    let inputs: Vec<String> =
        body["input"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    // Answer in reverse order: clients must place results by `index`.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t)}))
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}})).into_response()
}

fn serve(flaky: usize) -> (SocketAddr, Arc<Counters>) {
    let counters = Arc::new(Counters { requests: AtomicUsize::new(0), flaky_left: AtomicUsize::new(flaky) });
    let state = counters.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().route("/v1/embeddings", post(embeddings)).with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), counters)
}

fn settings(addr: SocketAddr, model: &str, key: &str) -> OpenAiSettings {
    OpenAiSettings { base_url: Some(format!("http://{addr}/v1")), model: model.into(), api_key: Some(Secret::new(key)) }
}

#[test]
fn batches_are_sent_placed_by_index_and_normalized() {
    let (addr, counters) = serve(0);
    let e = OpenAiEmbedder::connect(&settings(addr, "text-embedding-3-small", "test-key")).unwrap();
    assert_eq!(e.dimension(), 8);
    let texts: Vec<String> = (0..300).map(|i| format!("text number {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let before = counters.requests.load(Ordering::SeqCst);
    let vectors = e.embed(&refs).unwrap();
    assert_eq!(counters.requests.load(Ordering::SeqCst) - before, 3, "300 texts go in batches of 128");
    for (t, v) in texts.iter().zip(&vectors) {
        let mut want = vector(t);
        let norm = want.iter().map(|x| x * x).sum::<f32>().sqrt();
        want.iter_mut().for_each(|x| *x /= norm);
        assert!(want.iter().zip(v).all(|(a, b)| (a - b).abs() < 1e-6), "{t}");
    }
}

#[test]
fn a_wrong_key_is_a_clear_error() {
    let (addr, _) = serve(0);
    let err = OpenAiEmbedder::connect(&settings(addr, "m", "wrong")).err().unwrap().to_string();
    assert!(err.contains("HTTP 401") && err.contains("Incorrect API key"), "{err}");
    assert!(!err.contains("wrong"), "the key is never echoed: {err}");
}

#[test]
fn rate_limits_are_retried() {
    let (addr, counters) = serve(2);
    let e = OpenAiEmbedder::connect(&settings(addr, "flaky", "test-key")).unwrap();
    assert_eq!(e.dimension(), 8);
    assert_eq!(counters.requests.load(Ordering::SeqCst), 3, "two 429s, then the answer");
}

#[test]
fn bad_endpoints_are_clear_errors() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for (base, needle) in [
        (None, "base_url is not set"),
        (Some("not a url".to_string()), "is not a URL"),
        (Some("ftp://x/v1".into()), "must be http(s)"),
    ] {
        let s = OpenAiSettings { base_url: base, ..OpenAiSettings::default() };
        let err = OpenAiEmbedder::connect(&s).err().unwrap().to_string();
        assert!(err.contains(needle), "{err}");
    }
    let s = OpenAiSettings { base_url: Some(format!("http://{closed}/v1")), ..OpenAiSettings::default() };
    let err = OpenAiEmbedder::connect(&s).err().unwrap().to_string();
    assert!(err.contains(&closed.to_string()), "{err}");
}
