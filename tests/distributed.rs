//! One crawl split across two real server processes that share nothing but PostgreSQL and Redis
//! (`crawler.distributed = true`): both fetch pages, one is killed with SIGKILL a third of the way
//! through and the crawl still finishes with every image indexed once and no lease left, the
//! per-host limit holds for the two together, and a replica started afterwards answers chat
//! from the session.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{HANG_GUARD, TestApp, described_image, hit_for, status_until};
use image_chat_fixtures::redis_server::{self, RedisServer};
use image_chat_fixtures::skip::{Need, skip};
use image_chat_fixtures::{FixtureConfig, FixtureServer, SiteSpec, ports::free_port};
use serde_json::{Value, json};

const PER_HOST: usize = 4;

/// A replica: the `image-chat serve` a user runs, with its own data dir.
struct Replica {
    child: Child,
    app: TestApp,
    _data: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn replica(database_url: &str, redis_url: &str) -> Replica {
    let data = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_image-chat"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("IMAGE_CHAT_SETTINGS", concat!(env!("CARGO_MANIFEST_DIR"), "/Leptos.toml"))
        .env("IMAGE_CHAT__DATA_DIR", data.path())
        .env("IMAGE_CHAT__STORE__KIND", "postgres")
        .env("IMAGE_CHAT__STORE__DATABASE_URL", database_url)
        .env("IMAGE_CHAT__CACHE__REDIS_URL", redis_url)
        .env("IMAGE_CHAT__CRAWLER__DISTRIBUTED", "true")
        // A killed replica's pages come back after this.
        .env("IMAGE_CHAT__CRAWLER__LEASE_MS", "3000")
        .env("IMAGE_CHAT__CRAWLER__ALLOW_HOSTS", "127.0.0.1")
        .env("IMAGE_CHAT__CRAWLER__PER_HOST_CONCURRENCY", PER_HOST.to_string())
        .env("IMAGE_CHAT__CRAWLER__ANALYZE_IMAGES", "false")
        .env("IMAGE_CHAT__CRAWLER__RENDER", "never")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let app = TestApp { addr: ([127, 0, 0, 1], port).into(), client: reqwest::Client::new() };
    let deadline = Instant::now() + HANG_GUARD;
    while app.client.get(app.url("/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the replica never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Replica { child, app, _data: data }
}

async fn indexed_urls(database_url: &str, namespace: &str) -> (i64, BTreeSet<String>) {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = client.query("SELECT url FROM images WHERE namespace = $1", &[&namespace]).await.unwrap();
    (rows.len() as i64, rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// Each worker's report of the crawl, from the frontier's keys (kept a while after the end).
async fn worker_pages(redis_url: &str, id: &str) -> Vec<u64> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let reports: Vec<(String, String)> =
        redis::cmd("HGETALL").arg(format!("ic:frontier:{{{id}}}:w")).query_async(&mut conn).await.unwrap();
    reports
        .iter()
        .filter(|(k, _)| k.starts_with("crawl\t"))
        .map(|(_, v)| serde_json::from_str::<Value>(v).unwrap()["counters"]["pages_fetched"].as_u64().unwrap())
        .collect()
}

async fn leases_left(redis_url: &str, id: &str) -> i64 {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("ZCARD").arg(format!("ic:frontier:{{{id}}}:leases")).query_async(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_crawl_and_survive_one_killed() {
    let Some(database_url) = image_chat_fixtures::postgres_db::fresh_database().await else {
        skip(Need::Service, "no PostgreSQL: IMAGE_CHAT_TEST_DATABASE_URL unset (scripts/test.sh starts one)");
        return;
    };
    if !redis_server::available() {
        skip(Need::Service, "redis-server is not installed (scripts/setup.sh --test installs it)");
        return;
    }
    // A Redis of this test's own: no other test's replicas may join its crawls.
    let redis = RedisServer::start().unwrap();
    let mut config = FixtureConfig::generated(SiteSpec { pages: 500, seed: 21, traps: false });
    config.latency = Duration::from_millis(20);
    let server = FixtureServer::start(config).await.unwrap();

    let a = replica(&database_url, &redis.url()).await;
    let mut b = replica(&database_url, &redis.url()).await;
    let id = a.app.crawl(&server.url("/"), 2_000).await;
    let namespace = format!("s-{id}");
    // Both replicas work on it; a third of the way through, one is killed (SIGKILL: no
    // clean-up, its leases held).
    let site = server.site().unwrap();
    let pages = u64::from(site.spec().pages);
    let third = status_until(&a.app, &id, |s| s["counters"]["pages_fetched"].as_u64().unwrap_or(0) >= pages / 3).await;
    assert_eq!(third["status"], "running", "{third}");
    let before = worker_pages(&redis.url(), &id).await;
    assert!(before.len() == 2 && before.iter().all(|n| *n > 0), "both replicas fetched pages: {before:?}");
    b.child.kill().unwrap();
    b.child.wait().unwrap();

    let done = status_until(&a.app, &id, |s| s["status"] != "running").await;
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(done["stop"], "completed", "{done}");
    assert_eq!(leases_left(&redis.url(), &id).await, 0, "no lease is left");
    assert_eq!(done["counters"]["pages_dead"], 0, "{done}");

    // Every image of the site is indexed, once: the killed replica's pages were fetched again
    // and their writes replaced by URL.
    let expected: BTreeSet<String> = site
        .all_truth()
        .iter()
        .filter(|p| !p.noindex)
        .flat_map(|p| {
            p.images.iter().map(|i| match i.url.strip_prefix("http://fixture.invalid") {
                Some(path) => format!("{}{path}", server.origin()),
                None if i.url.starts_with('/') => format!("{}{}", server.origin(), i.url),
                None => i.url.clone(),
            })
        })
        .collect();
    let (rows, urls) = indexed_urls(&database_url, &namespace).await;
    assert_eq!(rows as usize, urls.len(), "one row per image");
    let missing: Vec<_> = expected.difference(&urls).take(5).collect();
    let extra: Vec<_> = urls.difference(&expected).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, extra {extra:?}");
    assert_eq!(done["images_indexed"].as_u64().unwrap(), urls.len() as u64, "{done}");
    // Sitemap reads (one at a time, by the starting replica) are the only requests outside
    // the limit the replicas share.
    assert!(
        server.max_in_flight() <= PER_HOST + 1,
        "the replicas together kept within {PER_HOST} page requests in flight; saw {}",
        server.max_in_flight()
    );

    // A replica started now answers from the session, as the one that ran it does.
    let c = replica(&database_url, &redis.url()).await;
    let (path, alt) = described_image(&server);
    for app in [&a.app, &c.app] {
        let (status, answer) = app.post("/chat", json!({"message": alt, "session_id": id, "limit": 10})).await;
        assert_eq!(status, 200, "{answer}");
        assert!(hit_for(&answer, &path).is_some(), "{answer}");
    }
    let (status, listed) = c.app.get(&format!("/crawl/{id}/status")).await;
    assert_eq!((status, &listed["status"]), (200, &json!("finished")), "{listed}");
}
