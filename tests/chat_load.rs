//! Chat under concurrent load through the real server: the blocking threads the requests take
//! stay bounded by the work's gates, not by the number of clients. Each request once held a
//! blocking thread of its own while it waited for the model or the index lock (~100 threads
//! under 50 clients, each with its own allocator heap: RSS 230 MB → 1.1 GB); scripts/
//! reliability.sh load measures the memory itself on the release build (docs/reliability.md).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{data_dir, site, spawn_in};
use serde_json::json;

const CLIENTS: usize = 48;
const REQUESTS_EACH: usize = 12;
/// Threads the load may add to the process: the runtime's gates let a few per kind of work
/// through (index, conversations, model), plus headroom for the runtime's own.
const EXTRA_THREADS_BOUND: usize = 24;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

const WORDS: [&str; 24] = [
    "red", "blue", "dog", "cat", "photo", "png", "large", "small", "people", "without", "beach", "mountain", "city",
    "night", "portrait", "logo", "bright", "dark", "wide", "flower", "water", "tree", "house", "coffee",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_chat_clients_do_not_each_take_a_thread() {
    if !std::path::Path::new("/proc/self/task").exists() {
        eprintln!("skipped: no /proc to count threads in");
        return;
    }
    let server = site(20).await;
    let (_dir, data) = data_dir();
    let app = Arc::new(
        spawn_in(&data, |s| {
            s.server.chat_rate_per_min = 1_000_000;
        })
        .await,
    );
    let id = app.crawl(&server.url("/"), 20).await;
    let events = app.events(&id).await;
    assert!(events.iter().any(|(name, _)| name == "finished"), "{events:?}");

    let before = threads();
    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(before));
    let sampler = {
        let (done, most) = (done.clone(), most.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                most.fetch_max(threads(), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for r in 0..REQUESTS_EACH {
                    // A different message each time, so the caches do not answer them.
                    let n = c * REQUESTS_EACH + r;
                    let message: Vec<&str> =
                        (0..2 + n % 4).map(|k| WORDS[(n * 7 + k * 13 + n / 24) % WORDS.len()]).collect();
                    let (status, body) = app.post("/chat", json!({"message": message.join(" ")})).await;
                    if status != 200 {
                        failures.push((status, body));
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    assert!(failures.is_empty(), "{} requests failed, e.g. {:?}", failures.len(), failures.first());
    let most = most.load(Ordering::Relaxed);
    assert!(
        most <= before + EXTRA_THREADS_BOUND,
        "{CLIENTS} chat clients took the process from {before} to {most} threads"
    );
    eprintln!("threads: {before} -> {most}");
}
