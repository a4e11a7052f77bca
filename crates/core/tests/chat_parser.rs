//! The language-model query parser against a local server that speaks the OpenAI
//! chat-completions protocol (real endpoints cannot be reached from here): a good answer becomes
//! the query, a bad or slow one falls back to the rules with a note, and answers are validated.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use image_chat_core::cache::CacheLayers;
use image_chat_core::config::{CacheSettings, ChatParserSettings, Secret};
use image_chat_core::index::{ImageIndex, SqliteIndex};
use image_chat_core::search::chat_parser::ChatParser;
use image_chat_core::search::engine::SearchEngine;
use image_chat_core::search::{ImageFormat, Orientation, PartKind, parse};
use serde_json::{Value, json};

fn completion(content: &str) -> Response {
    Json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
    }))
    .into_response()
}

async fn chat(State(requests): State<Arc<AtomicUsize>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer test-key") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "bad key"}}))).into_response();
    }
    assert_eq!(body["messages"][0]["role"], "system");
    let message = body["messages"][1]["content"].as_str().unwrap_or_default().to_string();
    if let Some(follow_up) = message.strip_prefix("Current request: ") {
        return follow_up_answer(follow_up, body["messages"][0]["content"].as_str().unwrap_or_default());
    }
    if message.contains("broken") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
    }
    if message.contains("slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if message.contains("garbage") {
        return completion("Sure! Here are some images of cats.");
    }
    if message.contains("wild") {
        return completion(
            r#"{"text": "sunset", "formats": ["png", "bmp"], "count": 5000, "min_width": 999999,
                "orientation": "diagonal", "exclude_terms": ["people"]}"#,
        );
    }
    completion(
        "```json\n{\"text\": \"apple watch\", \"formats\": [\"png\"], \"exclude_terms\": [], \"must_terms\": [], \
         \"min_width\": null, \"min_height\": null, \"orientation\": \"landscape\", \"tone\": null, \
         \"transparent\": null, \"count\": 3}\n```",
    )
}

/// A follow-up: the request before it comes as JSON with the message; the answer is the whole
/// new request.
fn follow_up_answer(content: &str, system: &str) -> Response {
    assert!(system.contains("new_search") && system.contains("next_page"), "{system}");
    let (request, message) = content.split_once("\nMessage: ").expect("the request, then the message");
    let request: Value = serde_json::from_str(request).expect("the current request as JSON");
    assert_eq!(request["text"], "apple watch", "{request}");
    assert_eq!(request["formats"], json!(["png"]), "{request}");
    if message.contains("please") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
    }
    if message.contains("bicycles") {
        return completion(r#"{"text": "red bicycles", "new_search": true}"#);
    }
    if message.contains("keep going") {
        return completion(r#"{"next_page": true}"#);
    }
    completion(
        r#"{"text": "apple watch", "formats": ["png"], "orientation": "portrait", "count": 3,
            "exclude_terms": [], "new_search": false, "next_page": false}"#,
    )
}

async fn stand_in() -> (SocketAddr, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route("/v1/chat/completions", post(chat)).with_state(requests.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, requests)
}

fn parser(addr: SocketAddr, key: &str) -> ChatParser {
    ChatParser::new(&ChatParserSettings {
        base_url: Some(format!("http://{addr}/v1")),
        model: "stand-in".into(),
        api_key: Some(Secret::new(key)),
        timeout_ms: 500,
    })
    .unwrap()
}

#[tokio::test]
async fn a_good_answer_becomes_the_query_with_chips() {
    let (addr, _) = stand_in().await;
    let parsed = parser(addr, "test-key").parse("three landscape PNG images of the Apple Watch").await.unwrap();
    assert!(parsed.fallback.is_none());
    let q = parsed.query;
    assert_eq!(q.text, "apple watch");
    assert_eq!(q.formats, vec![ImageFormat::Png]);
    assert_eq!(q.orientation, Some(Orientation::Landscape));
    assert_eq!(q.count, Some(3));
    let format = q.parts.iter().find(|p| p.kind == PartKind::Format).unwrap();
    assert_eq!((format.value.as_str(), format.matched.as_str()), ("png", "png"));
    assert!(format.reason.contains("stand-in"));
}

#[tokio::test]
async fn answers_are_validated() {
    let (addr, _) = stand_in().await;
    let q = parser(addr, "test-key").parse("wild sunset request").await.unwrap().query;
    assert_eq!(q.formats, vec![ImageFormat::Png], "an unknown format is dropped");
    assert_eq!((q.count, q.min_width, q.orientation), (None, None, None), "out-of-range values are dropped");
    assert_eq!(q.exclude_terms, vec!["people"]);
}

#[tokio::test]
async fn any_failure_falls_back_to_the_rules_and_says_why() {
    let (addr, _) = stand_in().await;
    let p = parser(addr, "test-key");
    for (message, why) in
        [("garbage cats", "does not fit"), ("broken PNG cats", "HTTP 500"), ("slow PNG cats", "no answer in time")]
    {
        let started = std::time::Instant::now();
        let parsed = p.parse(message).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "{message}: bounded by the timeout");
        let note = parsed.fallback.unwrap_or_else(|| panic!("{message}: no fallback"));
        assert!(note.contains(why) && note.contains("rules"), "{message}: {note}");
        assert_eq!(parsed.query, parse(message).unwrap());
    }
    let wrong_key = parser(addr, "nope").parse("cats").await.unwrap();
    assert!(wrong_key.fallback.unwrap().contains("HTTP 401"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert!(parser(closed, "k").parse("cats").await.unwrap().fallback.unwrap().contains("unreachable"));
    // What the rules reject is still an error.
    assert!(p.parse("   ").await.is_err());
}

/// A search over an empty index with no model (keywords only), and fresh cache layers.
fn keyword_search() -> (Arc<SearchEngine>, CacheLayers) {
    let index = Arc::new(SqliteIndex::open_in_memory().unwrap()) as Arc<dyn ImageIndex>;
    (Arc::new(SearchEngine::new(index, Err("no model".into()))), CacheLayers::new(&CacheSettings::default()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_remember_the_models_reading_but_not_a_fallback() {
    let (addr, requests) = stand_in().await;
    let p = parser(addr, "test-key");
    let (engine, caches) = keyword_search();
    let search = image_chat_core::search::cached::search;
    let (r, hits) = search(&engine, &caches, Some(&p), "PNG images of the Apple Watch", vec![], None).await.unwrap();
    assert_eq!(r.query.text, "apple watch");
    assert!(!hits.parser);
    let (_, hits) = search(&engine, &caches, Some(&p), "PNG images of the  Apple Watch", vec![], None).await.unwrap();
    assert!(hits.parser);
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    let (r, _) = search(&engine, &caches, Some(&p), "garbage cats", vec![], None).await.unwrap();
    assert!(r.notes[0].contains("read by rules"), "{:?}", r.notes);
    search(&engine, &caches, Some(&p), "garbage cats", vec![], None).await.unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), 3, "a fallback is asked again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_reads_a_follow_up_against_the_current_request() {
    use image_chat_core::conversation::{Ask, ChangeOp, DiskConversations, ask};
    let (addr, requests) = stand_in().await;
    let p = parser(addr, "test-key");
    let (engine, caches) = keyword_search();
    let dir = tempfile::tempdir().unwrap();
    let store = DiskConversations::open(dir.path(), 3600).unwrap();
    let turn = |conversation: Option<String>, message: &str| Ask {
        conversation_id: conversation,
        message: message.to_string(),
        ..Ask::default()
    };
    let (first, _) =
        ask(&engine, &caches, Some(&p), &store, turn(None, "PNG images of the Apple Watch")).await.unwrap();
    let id = Some(first.conversation_id.clone());
    assert_eq!(first.response.query.formats, vec![ImageFormat::Png]);

    let (refined, _) =
        ask(&engine, &caches, Some(&p), &store, turn(id.clone(), "only the ones in portrait")).await.unwrap();
    assert!(refined.response.notes.iter().all(|n| !n.contains("rules")), "{:?}", refined.response.notes);
    assert_eq!(refined.response.query.orientation, Some(Orientation::Portrait));
    // The first reading was landscape, three results: the shape changes, the count stays.
    let changed: Vec<(ChangeOp, &str)> = refined.changes.iter().map(|c| (c.op, c.value.as_str())).collect();
    assert_eq!(changed, [(ChangeOp::Removed, "landscape"), (ChangeOp::Added, "portrait")]);
    assert_eq!(refined.response.query.count, Some(3));

    let (page, _) = ask(&engine, &caches, Some(&p), &store, turn(id.clone(), "keep going")).await.unwrap();
    assert_eq!((page.page, page.changes[0].op), (1, ChangeOp::Page));
    assert_eq!(page.response.query.orientation, Some(Orientation::Portrait), "the same request, next page");

    // When the model fails, the rules read the follow-up, and the answer says so.
    let (fallback, _) =
        ask(&engine, &caches, Some(&p), &store, turn(id.clone(), "any orientation please")).await.unwrap();
    assert!(fallback.response.notes[0].contains("read by rules"), "{:?}", fallback.response.notes);
    assert_eq!(fallback.response.query.orientation, None);
    assert_eq!(fallback.response.query.formats, vec![ImageFormat::Png]);

    let (anew, _) = ask(&engine, &caches, Some(&p), &store, turn(id.clone(), "now bicycles")).await.unwrap();
    assert_eq!(anew.changes[0].op, ChangeOp::NewSearch);
    assert_eq!(anew.response.query.text, "red bicycles");
    assert!(anew.response.query.formats.is_empty());
    assert_eq!(requests.load(Ordering::SeqCst), 5, "one question to the model per turn");
}
