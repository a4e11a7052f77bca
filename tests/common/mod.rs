//! What the API tests share: the app on port 0 over a temp data dir, a client with the calls
//! the tests make, and a generated fixture site.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use image_chat::server::startup::Application;
use image_chat_core::Settings;
use image_chat_fixtures::{FixtureConfig, FixtureServer, SiteSpec};
use leptos::config::LeptosOptions;
use serde_json::{Value, json};

pub const HANG_GUARD: Duration = Duration::from_secs(120);

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self.client.post(self.url(path)).json(&body).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Starts a crawl of `url`; returns the session id.
    pub async fn crawl(&self, url: &str, max_pages: u32) -> String {
        let (status, body) = self.post("/crawl", json!({"url": url, "max_pages": max_pages})).await;
        assert_eq!(status, 202, "{body}");
        body["session_id"].as_str().unwrap().to_string()
    }

    /// Reads a session's SSE stream to its end: (event name, data) pairs.
    pub async fn events(&self, id: &str) -> Vec<(String, Value)> {
        self.events_then(id, || {}).await
    }

    /// [`Self::events`], calling `subscribed` once the stream is open (the server subscribes
    /// before it answers), so nothing that happens after it can be missed.
    pub async fn events_then(&self, id: &str, subscribed: impl FnOnce()) -> Vec<(String, Value)> {
        let res = self
            .client
            .get(self.url(&format!("/crawl/{id}/status")))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        subscribed();
        let mut body = res.bytes_stream();
        let mut buf = String::new();
        let mut out = Vec::new();
        tokio::time::timeout(HANG_GUARD, async {
            while let Some(chunk) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let (mut name, mut data) = (String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            name = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if !name.is_empty() {
                        out.push((name, serde_json::from_str(&data).unwrap()));
                    }
                }
            }
        })
        .await
        .expect("the event stream ended");
        out
    }
}

/// Polls a session's status until `done` holds; the status that met it.
pub async fn status_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + HANG_GUARD;
    loop {
        let (_, status) = app.get(&format!("/crawl/{id}/status")).await;
        if done(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "condition never met: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

/// Names the index store the apps of these tests use: `postgres` gives each data dir a fresh
/// database on the test PostgreSQL, shared by every app over that data dir (a restart, a second
/// replica), as each would share the embedded index there (scripts/test.sh runs the API tests
/// once with each store).
pub const TEST_STORE_ENV: &str = "IMAGE_CHAT_TEST_STORE";

async fn database_for(data: &Path) -> String {
    static DATABASES: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let known = DATABASES.lock().unwrap().iter().find(|(d, _)| d == data).map(|(_, url)| url.clone());
    if let Some(url) = known {
        return url;
    }
    let url = image_chat_fixtures::postgres_db::fresh_database()
        .await
        .expect("IMAGE_CHAT_TEST_STORE=postgres needs the test PostgreSQL (IMAGE_CHAT_TEST_DATABASE_URL)");
    DATABASES.lock().unwrap().push((data.to_path_buf(), url.clone()));
    url
}

pub async fn spawn_in(data: &Path, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings { data_dir: data.to_path_buf(), ..Settings::default() };
    settings.server.addr = Some("127.0.0.1:0".parse().unwrap());
    settings.crawler.allow_hosts = vec!["127.0.0.1".into(), "localhost".into()];
    match std::env::var(TEST_STORE_ENV).as_deref() {
        Ok("postgres") => {
            let url = database_for(data).await;
            settings.store.kind = image_chat_core::config::StoreKind::Postgres;
            settings.store.database_url = Some(image_chat_core::config::Secret::new(url));
        }
        Ok("embedded") | Err(_) => {}
        Ok(other) => panic!("{TEST_STORE_ENV}={other}: use embedded or postgres"),
    }
    configure(&mut settings);
    let options = LeptosOptions::builder().output_name("image-chat").site_root("target/site").build();
    let app = Application::build(settings, options).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped());
    TestApp { addr, client: reqwest::Client::new() }
}

/// Checks, through `/health`, that the app stores its index where `IMAGE_CHAT_TEST_STORE` says:
/// a run meant for PostgreSQL that fell back to the embedded store would prove nothing.
pub async fn assert_store_in_use(app: &TestApp) {
    let (_, health) = app.get("/health").await;
    let postgres = health["components"].as_array().unwrap().iter().find(|c| c["name"] == "postgres").unwrap();
    let expected = if std::env::var(TEST_STORE_ENV).as_deref() == Ok("postgres") { "ok" } else { "not_configured" };
    assert_eq!(postgres["state"], expected, "{health}");
}

/// The result of `answer` that shows the image at `path`: as its URL, or as an alternative of it
/// (the same picture found under another URL, or with the same words, is shown once).
pub fn hit_for<'a>(answer: &'a Value, path: &str) -> Option<&'a Value> {
    answer["results"].as_array()?.iter().find(|r| {
        r["url"].as_str().is_some_and(|u| u.ends_with(path))
            || r["alternatives"]
                .as_array()
                .is_some_and(|a| a.iter().any(|u| u.as_str().is_some_and(|u| u.ends_with(path))))
    })
}

pub async fn site(pages: u32) -> FixtureServer {
    FixtureServer::start(FixtureConfig::generated(SiteSpec { pages, seed: 7, traps: false })).await.unwrap()
}

/// An image of the site with a descriptive alt text: (path, alt).
pub fn described_image(server: &FixtureServer) -> (String, String) {
    let site = server.site().unwrap();
    (1..)
        .filter_map(|i| site.truth(i))
        .flat_map(|p| p.images)
        .find(|i| i.alt.split_whitespace().count() >= 4)
        .map(|i| (i.url.trim_start_matches("http://fixture.invalid").to_string(), i.alt))
        .unwrap()
}

/// A real Redis started for this test, or `None` after one printed line saying why it is
/// skipped (a user's clone without redis-server; CI fails the skip instead).
pub fn redis_or_skip() -> Option<image_chat_fixtures::redis_server::RedisServer> {
    use image_chat_fixtures::redis_server::{self, RedisServer};
    if !redis_server::available() {
        image_chat_fixtures::skip::skip(
            image_chat_fixtures::skip::Need::Service,
            "redis-server is not installed (scripts/setup.sh --test installs it)",
        );
        return None;
    }
    Some(RedisServer::start().unwrap())
}
