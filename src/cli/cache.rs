//! `image-chat cache stats`: the measured metrics of each cache layer of a running server (its
//! `/api/health/cache`), as a table or JSON.

use std::process::ExitCode;
use std::time::Duration;

use super::bad_input;
use crate::types::CacheHealth;

#[derive(clap::Subcommand)]
pub enum CacheCommand {
    /// Hits, misses, errors, hit rate, p50/p95 latency and entries per layer.
    Stats {
        /// The server to ask (default: server.addr from the settings, else http://127.0.0.1:3000).
        #[arg(long)]
        server: Option<String>,
        /// Print the JSON answer as is.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: CacheCommand, settings: &image_chat_core::Settings) -> ExitCode {
    let CacheCommand::Stats { server, json } = cmd;
    let base = server.unwrap_or_else(|| {
        format!("http://{}", settings.server.addr.map_or("127.0.0.1:3000".to_string(), |a| a.to_string()))
    });
    let url = format!("{}/api/health/cache", base.trim_end_matches('/'));
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(5)).build() {
        Ok(c) => c,
        Err(e) => return bad_input(&e.to_string()),
    };
    let health: CacheHealth = match client.get(&url).send().await.and_then(|r| r.error_for_status()) {
        Ok(r) => match r.json().await {
            Ok(h) => h,
            Err(e) => return bad_input(&format!("{url} answered something else than cache metrics: {e}")),
        },
        Err(e) => {
            return bad_input(&format!("cannot reach {url} (is the server running? --server names another): {e}"));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&health).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<10} {:<13} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "layer", "backend", "hits", "misses", "errors", "hit rate", "p50 µs", "p95 µs", "entries", "bytes"
    );
    for l in &health.layers {
        println!(
            "{:<10} {:<13} {:>9} {:>9} {:>7} {:>8.1}% {:>9} {:>9} {:>9} {:>11}",
            l.layer,
            l.backend,
            l.hits,
            l.misses,
            l.errors,
            l.hit_rate * 100.0,
            l.p50_us,
            l.p95_us,
            l.entries,
            l.bytes
        );
    }
    ExitCode::SUCCESS
}
