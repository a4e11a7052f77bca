//! The PostgreSQL store going away under a running crawl, with a PostgreSQL of the test's own:
//! restarted mid-crawl, the crawl retries its writes and finishes with every image indexed once;
//! down for longer than `store.outage_retry_ms`, the crawl stops and its session fails saying
//! why, with only whole batches written.

mod common;

use common::{data_dir, described_image, hit_for, site, spawn_in, status_until};
use image_chat_core::config::{Secret, StoreKind};
use image_chat_fixtures::postgres_server::{self, PostgresServer};
use image_chat_fixtures::skip::{Need, skip};
use serde_json::{Value, json};

fn postgres_or_skip() -> Option<PostgresServer> {
    if !postgres_server::available() {
        skip(Need::Service, "IMAGE_CHAT_TEST_PG_BIN unset (scripts/test.sh names the PostgreSQL binaries)");
        return None;
    }
    Some(PostgresServer::start().expect("a PostgreSQL of this test's own starts"))
}

async fn rows(url: &str, namespace: &str) -> (i64, i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT count(*), count(DISTINCT url) FROM images WHERE namespace = $1", &[&namespace])
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

fn indexed(status: &Value) -> u64 {
    status["images_indexed"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_crawl_is_survived_and_a_lasting_outage_fails_the_session_saying_why() {
    let Some(pg) = postgres_or_skip() else { return };
    let server = site(60).await;
    let (_dir, data) = data_dir();
    let url = pg.url();
    let configure = |retry_ms: u64| {
        let url = url.clone();
        move |s: &mut image_chat_core::Settings| {
            s.store.kind = StoreKind::Postgres;
            s.store.database_url = Some(Secret::new(url));
            s.store.outage_retry_ms = retry_ms;
            // About 4 s of crawling: time for an outage in the middle.
            s.crawler.per_host_delay_ms = 60;
            s.crawler.per_host_concurrency = 1;
        }
    };
    let app = spawn_in(&data, configure(60_000)).await;
    let id = app.crawl(&server.url("/"), 60).await;
    let before = status_until(&app, &id, |s| indexed(s) > 0).await;

    // A restart (as a crash: no clean shutdown) while the crawl runs: writes fail, then retry.
    pg.kill().unwrap();
    let pages = before["counters"]["pages_fetched"].as_u64().unwrap();
    status_until(&app, &id, |s| s["counters"]["pages_fetched"].as_u64().unwrap() >= pages + 5).await;
    let (status, answer) = app.post("/chat", json!({"message": "anything", "session_id": id})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (503, Some("unavailable")), "{answer}");
    pg.resume().unwrap();

    let done = status_until(&app, &id, |s| s["status"] != "running").await;
    assert_eq!(done["status"], "finished", "{done}");
    let lost = done["errors"].as_array().unwrap().iter().any(|e| e["reason"].as_str().unwrap().contains("stored"));
    assert!(!lost, "no batch was lost: {done}");
    let (count, distinct) = rows(&url, &format!("s-{id}")).await;
    assert_eq!((count, distinct), (indexed(&done) as i64, indexed(&done) as i64), "every image indexed once");
    let (path, alt) = described_image(&server);
    let (status, answer) = app.post("/chat", json!({"message": alt, "session_id": id})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(hit_for(&answer, &path).is_some(), "{answer}");

    // Down for longer than the retry time: the crawl stops and the session fails, saying why.
    let (_dir2, data2) = data_dir();
    let app = spawn_in(&data2, configure(1_500)).await;
    let id = app.crawl(&server.url("/"), 60).await;
    status_until(&app, &id, |s| indexed(s) > 0).await;
    pg.kill().unwrap();
    let done = status_until(&app, &id, |s| s["status"] != "running").await;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["message"].as_str().unwrap();
    assert!(message.contains("the index store stayed unreachable"), "{message}");
    assert!(done["counters"]["pages_fetched"].as_u64().unwrap() < 60, "the crawl stopped early: {done}");
    // Only whole batches were written: the rows are exactly what the session counted.
    pg.resume().unwrap();
    let (count, distinct) = rows(&url, &format!("s-{id}")).await;
    assert_eq!((count, distinct), (indexed(&done) as i64, indexed(&done) as i64), "{done}");
}
