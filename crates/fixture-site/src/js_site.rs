//! A generated site for the rendering benchmark: `pages` pages listed on a hub page, of which
//! `js_percent` are client-rendered (an empty `#root` filled from a JSON endpoint) and the rest
//! server-rendered, each page with [`IMAGES_PER_PAGE`] pictures and one logo in its HTML.
//! Deterministic; every response may wait `latency` as a real site's network would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Pictures of each page (besides the logo every page has in its HTML).
pub const IMAGES_PER_PAGE: usize = 4;

#[derive(Clone)]
struct Spec {
    pages: usize,
    js_percent: usize,
    latency: Duration,
}

impl Spec {
    /// Page `n` is client-rendered: spread evenly, `js_percent` of every hundred.
    fn scripted(&self, n: usize) -> bool {
        self.js_percent > 0 && (n * self.js_percent) % 100 < self.js_percent
    }
}

/// The pictures of page `n`: (path, alt).
pub fn pictures(n: usize) -> Vec<(String, String)> {
    const THINGS: [&str; 8] = ["harbour", "bicycle", "lemon tree", "tram", "glacier", "bakery", "kite", "violin"];
    (0..IMAGES_PER_PAGE)
        .map(|i| {
            let thing = THINGS[(n * 3 + i) % THINGS.len()];
            (format!("/img/p{n}-{i}-800x600.jpg"), format!("photo {i} of a {thing} on page {n}"))
        })
        .collect()
}

/// Which pages are client-rendered, for a site of `pages` with `js_percent`.
pub fn scripted_pages(pages: usize, js_percent: usize) -> Vec<usize> {
    let spec = Spec { pages, js_percent, latency: Duration::ZERO };
    (0..pages).filter(|&n| spec.scripted(n)).collect()
}

pub struct JsSite {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl JsSite {
    pub async fn start(addr: SocketAddr, pages: usize, js_percent: usize, latency: Duration) -> std::io::Result<Self> {
        let spec = Arc::new(Spec { pages, js_percent: js_percent.min(100), latency });
        let app = axum::Router::new()
            .route("/", get(hub))
            .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
            .route("/p/{n}", get(page))
            .route("/data/{n}", get(data))
            .route("/img/{name}", get(image))
            .with_state(spec);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, task })
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for JsSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn hub(State(s): State<Arc<Spec>>) -> Response {
    tokio::time::sleep(s.latency).await;
    let links: String = (0..s.pages).map(|n| format!("<li><a href=\"/p/{n}\">Page {n}</a></li>")).collect();
    html(format!("<!DOCTYPE html><html><head><title>Benchmark site</title></head><body><ul>{links}</ul></body></html>"))
}

async fn page(State(s): State<Arc<Spec>>, Path(n): Path<usize>) -> Response {
    tokio::time::sleep(s.latency).await;
    if n >= s.pages {
        return StatusCode::NOT_FOUND.into_response();
    }
    let logo = "<img src=\"/img/logo-200x60.png\" alt=\"Benchmark site logo\">";
    let body = if s.scripted(n) {
        format!(
            "<div id=\"root\"></div>{logo}<script>fetch('/data/{n}').then(r => r.json()).then(items => {{\
             const root = document.getElementById('root');\
             for (const it of items) {{ const f = document.createElement('figure');\
             const i = document.createElement('img'); i.src = it.src; i.alt = it.alt;\
             f.appendChild(i); root.appendChild(f); }} }});</script>"
        )
    } else {
        let figures: String = pictures(n)
            .into_iter()
            .map(|(src, alt)| format!("<figure><img src=\"{src}\" alt=\"{alt}\"></figure>"))
            .collect();
        format!("{logo}<main>{figures}</main><script>console.log('analytics')</script>")
    };
    html(format!(
        "<!DOCTYPE html><html><head><title>Page {n}</title></head><body><h1>Page {n}</h1>{body}</body></html>"
    ))
}

async fn data(State(s): State<Arc<Spec>>, Path(n): Path<usize>) -> Response {
    tokio::time::sleep(s.latency).await;
    let items: Vec<serde_json::Value> =
        pictures(n).into_iter().map(|(src, alt)| serde_json::json!({"src": src, "alt": alt})).collect();
    axum::Json(items).into_response()
}

async fn image(State(s): State<Arc<Spec>>, Path(name): Path<String>) -> Response {
    tokio::time::sleep(s.latency).await;
    match crate::images::for_path(&format!("/img/{name}"), None) {
        Some(img) => ([(header::CONTENT_TYPE, img.content_type)], img.bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripted_share_is_spread_evenly() {
        assert_eq!(scripted_pages(200, 10).len(), 20);
        assert_eq!(scripted_pages(200, 100).len(), 200);
        assert!(scripted_pages(200, 0).is_empty());
        let tenth = scripted_pages(100, 10);
        assert!(tenth.windows(2).all(|w| w[1] - w[0] == 10), "{tenth:?}");
    }
}
