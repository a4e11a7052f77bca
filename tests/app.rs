//! The web app over real HTTP: built on port 0 with a temp data dir, as a user's server runs.

use std::net::SocketAddr;

use image_chat::server::startup::Application;
use image_chat_core::Settings;
use image_chat_core::config::{Secret, StoreKind};
use leptos::config::LeptosOptions;
use serde_json::Value;

struct TestApp {
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl TestApp {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings { data_dir: data.path().join("data"), ..Settings::default() };
    settings.server.addr = Some("127.0.0.1:0".parse().unwrap());
    configure(&mut settings);
    let options = LeptosOptions::builder().output_name("image-chat").site_root("target/site").build();
    let app = Application::build(settings, options).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped());
    TestApp { addr, _data: data }
}

async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

#[tokio::test]
async fn health_reports_version_and_every_component() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/health")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let state = |name: &str| {
        body["components"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["state"].clone()
    };
    assert_eq!(state("web"), "ok");
    assert_eq!(state("data_dir"), "ok");
    assert_eq!(state("redis"), "not_configured");
    assert_eq!(state("postgres"), "not_configured");
}

#[tokio::test]
async fn a_missing_model_degrades_health_and_says_how_to_fix_it() {
    let app = spawn_app_with(|s| s.model.dir = "/nonexistent/models".into()).await;
    let body: Value = reqwest::get(app.url("/health")).await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    let model = body["components"].as_array().unwrap().iter().find(|c| c["name"] == "model").unwrap();
    assert_eq!(model["state"], "missing");
    assert!(model["detail"].as_str().unwrap().contains("scripts/setup.sh"));
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_fast_and_without_its_password() {
    let (_reserved, closed) = image_chat_fixtures::refused_port();
    let app = spawn_app_with(|s| {
        s.cache.redis_url = Some(Secret::new(format!("redis://:sekret@127.0.0.1:{closed}/0")));
    })
    .await;
    let started = std::time::Instant::now();
    let text = reqwest::get(app.url("/health")).await.unwrap().text().await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(!text.contains("sekret"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "degraded");
}

#[tokio::test]
async fn real_redis_is_ok_in_health_when_configured() {
    let Ok(redis) = std::env::var("IMAGE_CHAT_TEST_REDIS_URL") else {
        image_chat_fixtures::skip::skip(
            image_chat_fixtures::skip::Need::Service,
            "IMAGE_CHAT_TEST_REDIS_URL unset (scripts/test.sh starts Redis)",
        );
        return;
    };
    let app = spawn_app_with(|s| s.cache.redis_url = Some(Secret::new(redis))).await;
    let body: Value = reqwest::get(app.url("/health")).await.unwrap().json().await.unwrap();
    let state = |name: &str| {
        body["components"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["state"].clone()
    };
    assert_eq!(state("redis"), "ok", "{body}");
    assert_eq!(state("postgres"), "not_configured", "{body}");
}

#[tokio::test]
async fn a_postgres_store_without_its_url_or_a_url_without_it_is_refused_at_start_up() {
    // Settings built in code (as these tests and an embedding program do) skip the file's
    // checks; the server must still not open SQLite when the two store settings disagree.
    for configure in
        [(|s: &mut Settings| s.store.kind = StoreKind::Postgres) as fn(&mut Settings), |s: &mut Settings| {
            s.store.database_url = Some(Secret::new("postgres://127.0.0.1:1/x"))
        }]
    {
        let data = tempfile::tempdir().unwrap();
        let mut settings = Settings { data_dir: data.path().join("data"), ..Settings::default() };
        settings.server.addr = Some("127.0.0.1:0".parse().unwrap());
        configure(&mut settings);
        let options = LeptosOptions::builder().output_name("image-chat").site_root("target/site").build();
        let Err(err) = Application::build(settings, options).await else { panic!("the server started") };
        assert!(err.to_string().contains("store."), "{err}");
        assert!(!data.path().join("data/index.sqlite").exists());
    }
}

#[tokio::test]
async fn the_home_page_is_rendered_on_the_server_with_the_status_panel() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/")).await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Find images by describing them"));
    assert!(html.contains(&format!("data-testid=\"version\">{}<", env!("CARGO_PKG_VERSION"))), "{html}");
    assert!(html.contains("/pkg/image-chat.js"), "hydration scripts are linked");
}

#[tokio::test]
async fn the_status_server_function_answers_json() {
    let app = spawn_app().await;
    let res = reqwest::Client::new()
        .post(app.url("/api/status"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn unknown_pages_are_404_and_oversized_bodies_413() {
    let app = spawn_app().await;
    assert_eq!(reqwest::get(app.url("/no/such/page")).await.unwrap().status(), 404);
    let res = reqwest::Client::new()
        .post(app.url("/api/status"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

/// The router over a product handed in (an index in memory, no model), driven without a port.
async fn in_memory_router(configure: impl FnOnce(&mut Settings)) -> (axum::Router, tempfile::TempDir) {
    use image_chat::server::startup::{app_state_from, router};
    use image_chat_core::services::{IndexUse, Services};
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings { data_dir: data.path().join("data"), ..Settings::default() };
    configure(&mut settings);
    let services =
        Services::from_settings(settings, IndexUse::InMemory).unwrap().with_embedder(Err("none here".into()));
    let options = LeptosOptions::builder().output_name("image-chat").site_root("target/site").build();
    let state = app_state_from(std::sync::Arc::new(services), options).await.unwrap();
    (router(state), data)
}

async fn call(router: &axum::Router, method: &str, path: &str, body: &str) -> (u16, Value) {
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_crawl_server_function_is_rate_limited_like_the_crawl_route() {
    let (router, _data) = in_memory_router(|s| s.server.crawl_rate_per_min = 2).await;
    // Refused crawls (a private address) still take a token: the limit is on asking.
    let body = r#"{"form": {"url": "http://10.0.0.1/"}}"#;
    for _ in 0..2 {
        let (status, answer) = call(&router, "POST", "/api/start_crawl", body).await;
        assert_ne!(status, 429, "{answer}");
    }
    let (status, answer) = call(&router, "POST", "/api/start_crawl", body).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"]["code"], "rate_limited");
    // The REST route shares the bucket: the same work, the same limit.
    let (status, _) = call(&router, "POST", "/crawl", r#"{"url": "http://10.0.0.1/"}"#).await;
    assert_eq!(status, 429);
    // Other routes are not limited, and chat has a bucket of its own.
    let (status, answer) = call(&router, "POST", "/chat", r#"{"message": "PNG logos"}"#).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["lexical_only"].as_str().is_some_and(|w| w.contains("none here")), "no model: {answer}");
}
