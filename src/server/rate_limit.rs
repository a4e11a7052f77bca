//! Per-client rate limits (a token bucket per IP address) on the routes that start work:
//! `/crawl` and `/chat`, and the server functions behind the same operations.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

/// Clients tracked before idle ones are forgotten.
const MAX_CLIENTS: usize = 10_000;

pub struct RateLimiter {
    per_min: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_min: u32) -> Self {
        Self { per_min: f64::from(per_min.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `client`; when none is left, the seconds until one is.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let rate = self.per_min / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS {
            // Full buckets are the same as no bucket: forget them.
            let per_min = self.per_min;
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * rate < per_min);
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.per_min, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(self.per_min);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// The work a route starts, by the route: the REST routes by their paths, the server functions
/// by the paths their own macro gave them (`ServerFn::PATH`), so a renamed one stays limited.
fn limited(method: &Method, path: &str) -> Option<Work> {
    use crate::api::{Chat, StartCrawl};
    use leptos::server_fn::ServerFn;
    if method != Method::POST {
        return None;
    }
    match path {
        "/crawl" => Some(Work::Crawl),
        "/chat" => Some(Work::Chat),
        p if p == <StartCrawl as ServerFn>::PATH => Some(Work::Crawl),
        p if p == <Chat as ServerFn>::PATH => Some(Work::Chat),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    Crawl,
    Chat,
}

/// Middleware: applies the crawl or chat limit to the requests that start that work.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limiter = match limited(request.method(), request.uri().path()) {
        Some(Work::Crawl) => Some((&state.crawl_limiter, "crawls")),
        Some(Work::Chat) => Some((&state.chat_limiter, "chat messages")),
        None => None,
    };
    if let Some((limiter, what)) = limiter {
        let client =
            request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if let Err(wait) = limiter.check(client) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many {what} from your address; try again in {wait} s"),
            );
            e.retry_after = Some(wait);
            return e.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_functions_that_start_work_are_limited_by_their_own_paths() {
        assert_eq!(limited(&Method::POST, "/api/start_crawl"), Some(Work::Crawl));
        assert_eq!(limited(&Method::POST, "/api/chat"), Some(Work::Chat));
        assert_eq!(limited(&Method::POST, "/crawl"), Some(Work::Crawl));
        assert_eq!(limited(&Method::GET, "/crawl/0123456789abcdef/status"), None);
        assert_eq!(limited(&Method::POST, "/api/sessions"), None);
    }

    #[test]
    fn a_bucket_empties_and_says_when_to_retry() {
        let limiter = RateLimiter::new(3);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!((0..3).all(|_| limiter.check(a).is_ok()));
        let wait = limiter.check(a).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(limiter.check(b).is_ok(), "clients are limited separately");
    }
}
