//! The REST API and server functions over real HTTP: the app on port 0 with a temp data dir
//! crawls a local fixture site; progress over SSE; chat; the rules (capacity, domain lock,
//! cancel, restart, validation, rate limits); OpenAPI.

mod common;

use std::time::Duration;

use common::{HANG_GUARD, TestApp, data_dir, described_image, hit_for, site, spawn_in};
use image_chat_core::Settings;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_streams_monotonic_progress_to_finished_then_chat_finds_the_images() {
    let server = site(40).await;
    let (_dir, data) = data_dir();
    // Slow enough (about 3 s) that the event stream is open before the crawl ends.
    let app = spawn_in(&data, |s| {
        s.crawler.per_host_delay_ms = 30;
        s.crawler.per_host_concurrency = 1;
    })
    .await;
    common::assert_store_in_use(&app).await;
    let (status, started) = app.post("/crawl", json!({"url": server.url("/"), "max_pages": 200})).await;
    assert_eq!(status, 202, "{started}");
    let id = started["session_id"].as_str().unwrap();
    assert_eq!(started["status_url"], format!("/crawl/{id}/status"));
    assert_eq!(started["session"]["status"], "running");

    let events = app.events(id).await;
    assert_eq!(events[0].0, "snapshot");
    let (last, record) = events.last().unwrap();
    assert_eq!(last, "finished", "{record}");
    let fetched: Vec<u64> = events
        .iter()
        .filter(|(n, _)| n == "progress")
        .map(|(_, d)| d["counters"]["pages_fetched"].as_u64().unwrap())
        .collect();
    assert!(!fetched.is_empty(), "progress events were sent");
    assert!(fetched.windows(2).all(|w| w[0] <= w[1]), "monotonic: {fetched:?}");
    assert!(events.iter().any(|(n, _)| n == "indexed"));
    assert!(record["images_indexed"].as_u64().unwrap() > 0);
    assert_eq!(record["stop"], "completed");

    // The JSON snapshot (the polling fallback) says the same.
    let (status, snapshot) = app.get(&format!("/crawl/{id}/status")).await;
    assert_eq!(status, 200);
    assert_eq!(snapshot["status"], "finished");
    assert_eq!(snapshot["images_indexed"], record["images_indexed"]);

    // Chat finds an image by its description, in this session and across all.
    let (path, alt) = described_image(&server);
    for session in [json!(id), json!("all"), Value::Null] {
        let (status, answer) = app.post("/chat", json!({"message": alt, "session_id": session, "limit": 10})).await;
        assert_eq!(status, 200, "{answer}");
        let hit = hit_for(&answer, &path).unwrap_or_else(|| panic!("{path} ({alt}) not in {answer}"));
        assert_eq!(hit["session_id"], id);
        assert!(hit["page_url"].as_str().unwrap().starts_with(&server.url("/")));
        assert!(hit["scores"]["fused"].as_f64().unwrap() > 0.0);
        assert!(!hit["why"].as_str().unwrap().is_empty());
    }

    // Filters come back as chips.
    let (_, answer) = app.post("/chat", json!({"message": "PNG images without people", "session_id": id})).await;
    let chips: Vec<&str> =
        answer["query"]["chips"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert!(chips.contains(&"format") && chips.contains(&"exclude"), "{answer}");
    assert!(answer["results"].as_array().unwrap().iter().all(|r| r["format"] == "png"), "{answer}");

    // A filter no image meets: the closest images without it, each saying what it misses, and
    // the chip and the notes say so — never an empty answer that dropping the filter fills.
    let message = format!("{alt} at least 20000 pixels wide");
    let (status, answer) = app.post("/chat", json!({"message": message, "session_id": id, "limit": 10})).await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{answer}");
    for r in results {
        let unmet: Vec<&str> = r["unmet"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
        assert_eq!(unmet, ["≥ 20000 px wide"], "{r}");
        assert_eq!(r["strong"], false, "{r}");
    }
    assert!(hit_for(&answer, &path).is_some(), "{path} ({alt}) is among the closest: {answer}");
    let chips = answer["query"]["chips"].as_array().unwrap();
    let size = chips.iter().find(|c| c["kind"] == "min_size").expect("a size chip");
    assert_eq!(size["note"], "no image matching the words is ≥ 20000 px wide; showing the closest", "{size}");
    let notes: Vec<&str> = answer["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.contains("(≥ 20000 px wide)") && n.contains("without it")), "{notes:?}");

    // The session list and the cache metrics.
    let (_, list) = app.get("/sessions").await;
    assert_eq!(list["sessions"][0]["id"], id);
    let (_, caches) = app.get("/api/health/cache").await;
    let html = caches["layers"].as_array().unwrap().iter().find(|l| l["layer"] == "html").unwrap();
    assert!(html["misses"].as_u64().unwrap() > 0, "{caches}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_a_400_naming_the_field() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |_| {}).await;
    for (body, needle) in [
        (json!({}), "url"),
        (json!({"url": "ftp://example.org/"}), "url: scheme"),
        (json!({"url": "not a url"}), "url:"),
        (json!({"url": "http://10.0.0.1/"}), "url: address 10.0.0.1 is not public"),
        (json!({"url": "https://example.org/", "max_pages": 0}), "max_pages:"),
        (json!({"url": "https://example.org/", "max_pages": 10_000_000}), "max_pages:"),
        (json!({"url": "https://example.org/", "max_depth": 1000}), "max_depth:"),
        (json!({"url": "https://example.org/", "max_pages": "many"}), "max_pages"),
        (json!({"url": "https://example.org/", "colour": "red"}), "colour"),
    ] {
        let (status, answer) = app.post("/crawl", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let res = app.client.post(app.url("/crawl")).body("{not json").header("content-type", "application/json");
    assert_eq!(res.send().await.unwrap().status(), 400);

    for (body, status, needle) in [
        (json!({"message": ""}), 400, "message:"),
        (json!({"message": "x".repeat(5000)}), 400, "message:"),
        (json!({"message": "cats", "limit": 0}), 400, "limit:"),
        (json!({"message": "cats", "session_id": "../../etc"}), 404, "no such session"),
        (json!({"message": "cats", "session_id": "0123456789abcdef"}), 404, "no session"),
    ] {
        let (got, answer) = app.post("/chat", body.clone()).await;
        assert_eq!(got, status, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(needle), "{answer}");
    }
    let (status, answer) = app.get("/crawl/0123456789abcdef/status").await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")));
    let res = app.client.delete(app.url("/crawl/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_domain_lock_and_cancel() {
    let server = site(3_000).await;
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |s| {
        s.crawler.per_host_delay_ms = 100;
        s.crawler.per_host_concurrency = 1;
        s.sessions.max_concurrent_crawls = 2;
    })
    .await;
    let first = app.crawl(&server.url("/"), 3_000).await;
    let (status, answer) = app.post("/crawl", json!({"url": server.url("/a")})).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("already running"));

    let second = app.crawl(&server.url("/").replace("127.0.0.1", "localhost"), 3_000).await;
    let other = site(5).await;
    let res =
        app.client.post(app.url("/crawl")).json(&json!({"url": other.url("/").replace("127.0.0.1", "127.0.0.2")}));
    let res = res.send().await.unwrap();
    // 127.0.0.2 is not on the allow-list: capacity is checked after validation, so allow it.
    let (status, answer) = (res.status().as_u16(), res.json::<Value>().await.unwrap());
    assert!(status == 400 || status == 429, "{answer}");
    let (_, list) = app.get("/sessions").await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);

    let res = app.client.delete(app.url(&format!("/crawl/{first}"))).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let events = app.events(&first).await;
    assert_eq!(events.last().unwrap().0, "cancelled");
    let res = app.client.delete(app.url(&format!("/crawl/{first}"))).send().await.unwrap();
    assert_eq!(res.status(), 409);
    app.client.delete(app.url(&format!("/crawl/{second}"))).send().await.unwrap();
    assert_eq!(app.events(&second).await.last().unwrap().0, "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_capacity_is_a_429() {
    let server = site(3_000).await;
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |s| {
        s.crawler.per_host_delay_ms = 100;
        s.crawler.per_host_concurrency = 1;
        s.sessions.max_concurrent_crawls = 1;
    })
    .await;
    let first = app.crawl(&server.url("/"), 3_000).await;
    let res =
        app.client.post(app.url("/crawl")).json(&json!({"url": server.url("/").replace("127.0.0.1", "localhost")}));
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "at_capacity");
    assert!(answer["error"]["message"].as_str().unwrap().contains("server at capacity"));
    // Cancelled moments after it was started (perhaps before its task ran): it stops at once.
    app.client.delete(app.url(&format!("/crawl/{first}"))).send().await.unwrap();
    let events = app.events(&first).await;
    assert_eq!(events.last().unwrap().0, "cancelled", "{events:?}");
    let record = &events.last().unwrap().1;
    assert!(record["counters"]["pages_fetched"].as_u64().unwrap() < 100, "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_their_images_survive_a_restart() {
    let server = site(20).await;
    let (_dir, data) = data_dir();
    let (path, alt) = described_image(&server);
    let id = {
        let app = spawn_in(&data, |_| {}).await;
        let id = app.crawl(&server.url("/"), 100).await;
        assert_eq!(app.events(&id).await.last().unwrap().0, "finished");
        id
    };
    // A second server over the same data dir (the first one's port stays open in this test
    // process, which a real restart would not do; nothing is shared but the data dir).
    let app = spawn_in(&data, |_| {}).await;
    let (_, list) = app.get("/sessions").await;
    assert_eq!(list["sessions"][0]["id"], id);
    assert_eq!(list["sessions"][0]["status"], "finished");
    let (status, answer) = app.post("/chat", json!({"message": alt, "session_id": id})).await;
    assert_eq!(status, 200);
    assert!(hit_for(&answer, &path).is_some(), "{answer}");
    // A finished session's stream is its snapshot and its end.
    let events = app.events(&id).await;
    assert_eq!(events.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["snapshot", "finished"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_and_chat_are_rate_limited_per_client() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |s| {
        s.server.crawl_rate_per_min = 2;
        s.server.chat_rate_per_min = 3;
    })
    .await;
    // Invalid requests count too: the limit is on attempts.
    for _ in 0..2 {
        assert_eq!(app.post("/crawl", json!({"url": "ftp://x/"})).await.0, 400);
    }
    let res = app.client.post(app.url("/crawl")).json(&json!({"url": "ftp://x/"})).send().await.unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "rate_limited");

    for _ in 0..3 {
        assert_eq!(app.post("/chat", json!({"message": "cats"})).await.0, 200);
    }
    assert_eq!(app.post("/chat", json!({"message": "cats"})).await.0, 429);
    // The server function behind the chat box shares the limit.
    let res =
        app.client.post(app.url("/api/chat")).json(&json!({"request": {"message": "cats"}})).send().await.unwrap();
    assert_eq!(res.status(), 429);
    // Other routes are not limited.
    assert_eq!(app.get("/sessions").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_functions_are_json_endpoints_over_the_same_operations() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |_| {}).await;
    let res = app.client.post(app.url("/api/chat")).json(&json!({"request": {"message": "a red bicycle"}}));
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["query"]["text"], "red bicycle");
    assert_eq!(answer["results"], json!([]));

    let res = app.client.post(app.url("/api/start_crawl")).json(&json!({"form": {"url": "gopher://x"}}));
    let res = res.send().await.unwrap();
    assert!(!res.status().is_success());
    assert!(res.text().await.unwrap().contains("url: scheme"));
    let res = app.client.post(app.url("/api/sessions")).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |_| {}).await;
    let (status, doc) = app.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/crawl", "post"),
        ("/crawl/{id}/status", "get"),
        ("/crawl/{id}", "delete"),
        ("/chat", "post"),
        ("/sessions", "get"),
        ("/health", "get"),
        ("/api/health/cache", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing");
    }
    for schema in ["CrawlForm", "ChatResponse", "SessionView", "ApiErrorBody"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema} missing");
    }
}

fn total_cache_errors(health: &Value) -> u64 {
    health["layers"].as_array().unwrap().iter().map(|l| l["errors"].as_u64().unwrap()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_killed_mid_crawl_and_mid_search_fails_nothing_and_is_used_again_when_back() {
    let Some(mut redis) = common::redis_or_skip() else { return };
    let server = site(60).await;
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |s| {
        s.cache.redis_url = Some(image_chat_core::config::Secret::new(redis.url()));
        s.cache.redis_timeout_ms = 200;
        s.crawler.per_host_delay_ms = 30;
        s.crawler.per_host_concurrency = 1;
    })
    .await;
    let id = app.crawl(&server.url("/"), 60).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.kill();
    let events = app.events(&id).await;
    let (last, record) = events.last().unwrap();
    assert_eq!(last, "finished", "{record}");
    assert!(record["images_indexed"].as_u64().unwrap() > 0);
    let (_, health) = app.get("/api/health/cache").await;
    assert!(total_cache_errors(&health) > 0, "Redis errors are counted: {health}");
    assert!(health["layers"].as_array().unwrap().iter().all(|l| l["backend"] == "memory+redis"));

    // Searching with Redis still down: answers, fast.
    let (path, alt) = described_image(&server);
    let started = std::time::Instant::now();
    let (status, answer) = app.post("/chat", json!({"message": alt, "session_id": id})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(hit_for(&answer, &path).is_some());
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // Redis is back: used again, no new errors.
    redis.restart().unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.post("/chat", json!({"message": "warm up the connection"})).await;
    let (_, before) = app.get("/api/health/cache").await;
    let (status, _) = app.post("/chat", json!({"message": format!("{alt} again"), "session_id": id})).await;
    assert_eq!(status, 200);
    let (_, after) = app.get("/api/health/cache").await;
    assert_eq!(total_cache_errors(&before), total_cache_errors(&after), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_sessions_progress_chat_cancel_and_the_crawl_rules_through_redis() {
    let Some(redis) = common::redis_or_skip() else { return };
    let server = site(3_000).await;
    let (_dir, data) = data_dir();
    let configure = |s: &mut Settings| {
        s.cache.redis_url = Some(image_chat_core::config::Secret::new(redis.url()));
        s.crawler.allow_hosts.push("127.0.0.2".into());
        s.crawler.per_host_delay_ms = 40;
        s.crawler.per_host_concurrency = 1;
        s.sessions.max_concurrent_crawls = 2;
    };
    // Two servers on different ports over one data dir and one Redis, no sticky routing.
    let a = spawn_in(&data, configure).await;
    let b = spawn_in(&data, configure).await;

    // A runs a crawl; B streams its progress.
    let (status, started) = a.post("/crawl", json!({"url": server.url("/"), "max_pages": 40})).await;
    assert_eq!(status, 202, "{started}");
    let id = started["session_id"].as_str().unwrap().to_string();
    let follow_on_b = {
        let (addr, id) = (b.addr, id.clone());
        tokio::spawn(async move { TestApp { addr, client: reqwest::Client::new() }.events(&id).await })
    };

    // The rules hold across replicas: the domain is locked, and with a second crawl running
    // (on B) the cluster is at capacity.
    let (status, answer) = b.post("/crawl", json!({"url": server.url("/other")})).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains(&id));
    let localhost = server.url("/").replace("127.0.0.1", "localhost");
    let (status, second) = b.post("/crawl", json!({"url": localhost, "max_pages": 3_000})).await;
    assert_eq!(status, 202, "{second}");
    let second_id = second["session_id"].as_str().unwrap().to_string();
    let (status, answer) = a.post("/crawl", json!({"url": server.url("/").replace("127.0.0.1", "127.0.0.2")})).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"]["code"], "at_capacity");

    // Both list both sessions.
    for app in [&a, &b] {
        let (_, list) = app.get("/sessions").await;
        let ids: Vec<&str> = list["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&id.as_str()) && ids.contains(&second_id.as_str()), "{list}");
    }

    // B saw A's crawl to its end, with progress.
    let events = tokio::time::timeout(HANG_GUARD, follow_on_b).await.unwrap().unwrap();
    assert_eq!(events[0].0, "snapshot");
    let (last, record) = events.last().unwrap();
    assert_eq!(last, "finished", "{events:?}");
    assert!(events.iter().any(|(n, _)| n == "progress"), "B relayed A's progress events");
    assert!(record["images_indexed"].as_u64().unwrap() > 0);

    // B answers chat about A's session (one index, shared data dir).
    let (path, alt) = described_image(&server);
    let (status, answer) = b.post("/chat", json!({"message": alt, "session_id": id})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(hit_for(&answer, &path).is_some(), "{answer}");

    // A cancels the crawl B runs; A's stream of it ends cancelled.
    let follow_on_a = {
        let (addr, id) = (a.addr, second_id.clone());
        tokio::spawn(async move { TestApp { addr, client: reqwest::Client::new() }.events(&id).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = a.client.delete(a.url(&format!("/crawl/{second_id}"))).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let events = tokio::time::timeout(HANG_GUARD, follow_on_a).await.unwrap().unwrap();
    assert_eq!(events.last().unwrap().0, "cancelled", "{events:?}");
    // With both crawls over, the places are free again.
    let (status, answer) = a.post("/crawl", json!({"url": server.url("/"), "max_pages": 2})).await;
    assert_eq!(status, 202, "{answer}");
}

/// SplitMix64: deterministic garbage for the no-5xx sweep.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn text(&mut self, max: usize) -> String {
        const PIECES: &[&str] = &[
            "png",
            "without",
            "\"",
            "-",
            "+",
            "4k",
            "no",
            "people",
            " ",
            "\u{0}",
            "\u{202e}",
            "🦀",
            "é",
            "%00",
            "../",
            "<script>",
            "'",
            "\\",
            "\n",
            "1e9",
            "-5",
            "show me 0",
            "9999999999",
            "http://",
            "[",
            "{",
        ];
        let n = (self.next() as usize) % max;
        (0..n)
            .map(|_| match self.next() % 3 {
                0 => PIECES[(self.next() as usize) % PIECES.len()].to_string(),
                1 => char::from_u32((self.next() % 0x2_0000) as u32).unwrap_or('?').to_string(),
                _ => ((self.next() % 26) as u8 + b'a').to_string(),
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_input_makes_the_api_fail_with_a_5xx() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |s| {
        s.server.chat_rate_per_min = 100_000;
        s.server.crawl_rate_per_min = 100_000;
    })
    .await;
    let mut g = Garbage(7);
    for i in 0..300 {
        let message = g.text(if i % 10 == 0 { 3_000 } else { 60 });
        let (status, body) = app.post("/chat", json!({"message": message, "limit": (g.next() % 120) as u32})).await;
        assert!(status == 200 || status == 400, "{status} for {message:?}: {body}");
        if status == 400 {
            assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        }
        // Never an http(s) URL: a valid one would start a crawl of some public host.
        let url = format!("x{}", g.text(80));
        let (status, body) = app.post("/crawl", json!({"url": url, "max_pages": 1, "include": [g.text(30)]})).await;
        assert_eq!(status, 400, "{url:?}: {body}");
        let raw = g.text(200);
        let res = app.client.post(app.url("/crawl")).header("content-type", "application/json").body(raw.clone());
        let status = res.send().await.unwrap().status().as_u16();
        assert!((400..500).contains(&status), "{status} for body {raw:?}");
        let id: String = g.text(20).chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        if !id.is_empty() {
            let status = app.client.get(app.url(&format!("/crawl/{id}/status"))).send().await.unwrap().status();
            assert_eq!(status, 404, "{id}");
        }
    }
}
