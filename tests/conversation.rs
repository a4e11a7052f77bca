//! A chat that remembers, over real HTTP: follow-ups refine the request before them (their
//! results are among the earlier answer's and meet the new constraint), chips come off the
//! request, "more" pages on, a new description starts over; conversations survive a restart,
//! cross replicas through Redis, and bad ids or removals are clear 4xx answers.

mod common;

use std::collections::HashSet;

use common::{TestApp, data_dir, described_image, site, spawn_in};
use serde_json::{Value, json};

async fn say(app: &TestApp, body: Value) -> Value {
    let (status, answer) = app.post("/chat", body.clone()).await;
    assert_eq!(status, 200, "{body} -> {answer}");
    answer
}

/// The URLs an answer shows (each result and the copies folded into it).
fn shown(answer: &Value) -> HashSet<String> {
    let mut urls = HashSet::new();
    for r in answer["results"].as_array().unwrap() {
        urls.insert(r["url"].as_str().unwrap().to_string());
        urls.extend(r["alternatives"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_string()));
    }
    urls
}

/// Results that meet every constraint of the request (the closest others, shown after too few
/// met them, say what they miss in `unmet`).
fn meeting(answer: &Value) -> Vec<&Value> {
    answer["results"].as_array().unwrap().iter().filter(|r| r["unmet"].as_array().is_none_or(Vec::is_empty)).collect()
}

fn labels(answer: &Value) -> Vec<String> {
    answer["query"]["changes"].as_array().unwrap().iter().map(|c| c["label"].as_str().unwrap().to_string()).collect()
}

fn chip_kinds(answer: &Value) -> Vec<String> {
    answer["query"]["chips"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_refine_relax_page_and_start_over() {
    // Small enough that the first answer (up to 100) lists every image its words find, so a
    // refinement can only narrow it.
    let server = site(12).await;
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |_| {}).await;
    let id = app.crawl(&server.url("/"), 200).await;
    assert_eq!(app.events(&id).await.last().unwrap().0, "finished");
    let (_, alt) = described_image(&server);
    let words: String = alt.split_whitespace().take(3).collect::<Vec<_>>().join(" ");

    // Turn 1: a description. The answer starts a conversation.
    let first = say(&app, json!({"message": words, "limit": 100})).await;
    let conversation = first["conversation_id"].as_str().unwrap().to_string();
    assert_eq!((first["turn"].as_u64(), first["page"].as_u64()), (Some(1), Some(1)), "{first}");
    assert!(first["query"]["previous"].is_null() && labels(&first).is_empty(), "{first}");
    let everything = shown(&first);
    assert!(!everything.is_empty() && first["results"].as_array().unwrap().len() < 100, "{first}");

    // Turn 2: "only the PNG ones" refines it: the same words, PNG added; what meets it was in
    // the first answer, and is PNG.
    let png = say(&app, json!({"message": "only the PNG ones", "conversation_id": conversation, "limit": 100})).await;
    assert_eq!(png["conversation_id"], conversation.as_str());
    assert_eq!(png["turn"], 2);
    assert_eq!(png["query"]["text"], first["query"]["text"], "{png}");
    assert_eq!(png["query"]["previous"]["text"], first["query"]["text"]);
    assert_eq!(labels(&png), ["+ PNG"]);
    assert_eq!(chip_kinds(&png), ["format"]);
    let met = meeting(&png);
    assert!(!met.is_empty(), "the site has PNG pictures of these words: {png}");
    for r in &met {
        assert_eq!(r["format"], "png", "{r}");
        assert!(everything.contains(r["url"].as_str().unwrap()), "a refinement finds nothing new: {r}");
    }

    // Turn 3: "in landscape" adds to it; PNG stays.
    let wide = say(&app, json!({"message": "in landscape", "conversation_id": conversation, "limit": 100})).await;
    assert_eq!(labels(&wide), ["+ landscape"]);
    assert_eq!(chip_kinds(&wide), ["format", "orientation"]);
    for r in meeting(&wide) {
        assert_eq!(r["format"], "png", "{r}");
        assert!(r["width"].as_u64().unwrap() > r["height"].as_u64().unwrap(), "{r}");
    }

    // Removing the PNG chip runs the request without it: landscape stays.
    let removed = say(
        &app,
        json!({"message": "", "conversation_id": conversation, "remove": {"kind": "format", "value": "png"}, "limit": 100}),
    )
    .await;
    assert_eq!(labels(&removed), ["− PNG"]);
    assert_eq!(chip_kinds(&removed), ["orientation"]);
    assert!(meeting(&removed).len() >= meeting(&wide).len(), "{removed}");
    assert!(removed["results"].as_array().unwrap().iter().any(|r| r["format"] == "jpeg"), "{removed}");

    // "any orientation" takes the last one away; "show me 3" then "more" pages on.
    let open = say(&app, json!({"message": "any orientation", "conversation_id": conversation})).await;
    assert!(chip_kinds(&open).is_empty() && labels(&open) == ["− landscape"], "{open}");
    let three = say(&app, json!({"message": "show me 3", "conversation_id": conversation})).await;
    assert_eq!(three["results"].as_array().unwrap().len(), 3, "{three}");
    let more = say(&app, json!({"message": "more", "conversation_id": conversation})).await;
    assert_eq!((more["page"].as_u64(), labels(&more)), (Some(2), vec!["page 2".to_string()]), "{more}");
    let (page1, page2) = (shown(&three), shown(&more));
    assert!(!page2.is_empty() && page1.is_disjoint(&page2), "page 2 shows others: {three} {more}");

    // A new description starts over: no chips carried.
    let anew = say(&app, json!({"message": format!("now {alt}"), "conversation_id": conversation})).await;
    assert_eq!(labels(&anew), ["new search"]);
    assert!(chip_kinds(&anew).iter().all(|k| k != "count"), "{anew}");
    assert_eq!(anew["page"], 1);
    assert_eq!(anew["turn"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_conversations_and_removals_are_clear_4xx() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |_| {}).await;
    let unknown = "0123456789abcdef";
    for (body, status, needle) in [
        (json!({"message": "cats", "conversation_id": unknown}), 404, "no conversation \"0123456789abcdef\""),
        // A string that cannot be an id is a bad request, even with start_if_missing.
        (json!({"message": "cats", "conversation_id": "../../etc/passwd"}), 400, "conversation_id: "),
        (json!({"message": "cats", "conversation_id": "x".repeat(500)}), 400, "is not a conversation id"),
        (
            json!({"message": "cats", "conversation_id": "0123456789abcdef*", "start_if_missing": true}),
            400,
            "16 hexadecimal",
        ),
        // Nothing to take a chip from: the conversation is gone, whatever start_if_missing says.
        (
            json!({"message": "", "conversation_id": unknown, "start_if_missing": true, "remove": {"kind": "format", "value": "png"}}),
            404,
            "no conversation",
        ),
        (json!({"message": "", "remove": {"kind": "format", "value": "png"}}), 400, "no request yet"),
        (json!({"message": "cats", "remove": {"kind": "colour", "value": "red"}}), 400, "remove.kind"),
        (json!({"message": "cats", "remove": {"kind": "format"}}), 400, "value"),
        (json!({"message": "cats", "start_if_missing": "yes"}), 400, "start_if_missing"),
    ] {
        let (got, answer) = app.post("/chat", body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], if status == 404 { "not_found" } else { "invalid_request" });
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
        assert!(message.len() < 400, "the id is not echoed whole: {message}");
    }
    // Asked to, an unknown conversation starts anew.
    let answer = say(&app, json!({"message": "PNG logos", "conversation_id": unknown, "start_if_missing": true})).await;
    let id = answer["conversation_id"].as_str().unwrap();
    assert!(id != unknown && id.len() == 16, "{answer}");
    assert_eq!(answer["turn"], 1);
    // A chip the request does not hold.
    let (status, answer) = app
        .post("/chat", json!({"conversation_id": id, "remove": {"kind": "orientation", "value": "landscape"}}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("holds no chip orientation"), "{answer}");
    // An empty follow-up is refused like an empty first message.
    let (status, answer) = app.post("/chat", json!({"message": "  ", "conversation_id": id})).await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_survives_a_restart() {
    let (_dir, data) = data_dir();
    let conversation = {
        let app = spawn_in(&data, |_| {}).await;
        let answer = say(&app, json!({"message": "landscape photos without people"})).await;
        answer["conversation_id"].as_str().unwrap().to_string()
    };
    let app = spawn_in(&data, |_| {}).await;
    let answer = say(&app, json!({"message": "only the PNG ones", "conversation_id": conversation})).await;
    assert_eq!(answer["turn"], 2, "{answer}");
    assert_eq!(labels(&answer), ["+ PNG"]);
    assert_eq!(chip_kinds(&answer), ["format", "orientation", "exclude"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_started_on_one_replica_continues_on_another_through_redis() {
    let Some(redis) = common::redis_or_skip() else { return };
    // Nothing shared but Redis: each replica has a data dir of its own.
    let (_a_dir, a_data) = data_dir();
    let (_b_dir, b_data) = data_dir();
    let configure = |s: &mut image_chat_core::Settings| {
        s.cache.redis_url = Some(image_chat_core::config::Secret::new(redis.url()));
    };
    let a = spawn_in(&a_data, configure).await;
    let b = spawn_in(&b_data, configure).await;
    let first = say(&a, json!({"message": "high-resolution photos of bridges"})).await;
    let conversation = first["conversation_id"].as_str().unwrap();
    let second = say(&b, json!({"message": "in portrait", "conversation_id": conversation})).await;
    assert_eq!(second["turn"], 2, "{second}");
    assert_eq!(second["query"]["previous"]["text"], "photos of bridges");
    assert_eq!(chip_kinds(&second), ["min_size", "orientation"]);
    let third = say(&a, json!({"message": "any size", "conversation_id": conversation})).await;
    assert_eq!((third["turn"].as_u64(), labels(&third)), (Some(3), vec!["− ≥ 1600 px wide".to_string()]));
    assert!(std::fs::read_dir(a_data.join("conversations")).unwrap().next().is_none(), "kept in Redis, not on disk");
}
