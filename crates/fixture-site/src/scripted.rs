//! A site whose pictures scripts put on the page, for the rendering tests: a gallery built from
//! JSON, an endless infinite-scroll feed, cards whose pictures become CSS backgrounds after
//! load, a server-rendered page that needs no browser, and a page that tries to reach a
//! "secret" server on another loopback address through every channel a browser has (image,
//! fetch, iframe, WebSocket, a redirect, a worker). [`SecretServer`] counts what reached it.
//!
//! Image paths name their size (`/img/gallery-3-800x600.png`) and are served by
//! [`crate::images::for_path`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Images the gallery's script adds.
pub const GALLERY_IMAGES: usize = 6;
/// Cards whose pictures are set as backgrounds after load.
pub const CARDS: usize = 4;
/// Feed items per scroll page (the feed never ends).
pub const FEED_PAGE: usize = 3;

/// What the gallery shows: (file, alt).
pub fn gallery() -> Vec<(String, String)> {
    let subjects = [
        "red kayak on a lake",
        "lighthouse at dusk",
        "snowy mountain hut",
        "market stall with lemons",
        "old steam train",
        "child flying a kite",
    ];
    subjects
        .iter()
        .enumerate()
        .take(GALLERY_IMAGES)
        .map(|(i, s)| (format!("/img/gallery-{i}-800x600.png"), (*s).to_string()))
        .collect()
}

/// A server on a loopback address the guard does not allow, counting every connection that
/// reaches it.
pub struct SecretServer {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SecretServer {
    /// On 127.0.0.2 (loopback, but another address than the allowed 127.0.0.1).
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret")
                        .await;
                });
            }
        });
        Ok(Self { addr, hits, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for SecretServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The scripted site on a free loopback port.
pub struct ScriptedSite {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Ctx {
    secret_port: u16,
}

impl ScriptedSite {
    /// `secret`: the port of a [`SecretServer`] the SSRF page tries to reach.
    pub async fn start(secret_port: u16) -> std::io::Result<Self> {
        let app = axum::Router::new()
            .route("/", get(|| async { page(INDEX) }))
            .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\n" }))
            .route("/gallery", get(|| async { page(GALLERY) }))
            .route("/gallery.json", get(gallery_json))
            .route("/feed", get(|| async { page(FEED) }))
            .route("/feed.json", get(feed_json))
            .route("/cards", get(|| async { page(CARDS_PAGE) }))
            .route("/plain", get(|| async { page(PLAIN) }))
            .route("/ssrf", get(ssrf_page))
            .route("/worker.js", get(worker))
            .route("/to-secret", get(to_secret))
            .route("/img/{name}", get(image))
            .with_state(Ctx { secret_port });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ScriptedSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn page(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn gallery_json() -> Response {
    let items: Vec<serde_json::Value> =
        gallery().into_iter().map(|(src, alt)| serde_json::json!({"src": src, "alt": alt})).collect();
    axum::Json(items).into_response()
}

#[derive(serde::Deserialize)]
struct FeedPage {
    page: usize,
}

/// An endless feed: every page has more.
async fn feed_json(Query(q): Query<FeedPage>) -> Response {
    let items: Vec<serde_json::Value> = (0..FEED_PAGE)
        .map(|i| {
            let n = q.page * FEED_PAGE + i;
            serde_json::json!({"src": format!("/img/feed-{n}-640x480.jpg"), "alt": format!("feed photo number {n} of a harbour")})
        })
        .collect();
    axum::Json(items).into_response()
}

async fn ssrf_page(State(c): State<Ctx>) -> Response {
    let p = c.secret_port;
    let html = SSRF.replace("{P}", &p.to_string());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn worker(State(c): State<Ctx>) -> Response {
    let js = format!("fetch('http://127.0.0.2:{}/from-worker').catch(() => {{}});", c.secret_port);
    ([(header::CONTENT_TYPE, "text/javascript")], js).into_response()
}

async fn to_secret(State(c): State<Ctx>) -> Response {
    Redirect::temporary(&format!("http://127.0.0.2:{}/redirected.png", c.secret_port)).into_response()
}

async fn image(Path(name): Path<String>) -> Response {
    match crate::images::for_path(&format!("/img/{name}"), None) {
        Some(img) => ([(header::CONTENT_TYPE, img.content_type)], img.bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

const INDEX: &str = r#"<!DOCTYPE html><html><head><title>Scripted shop</title></head><body>
<h1>Scripted shop</h1>
<nav><a href="/gallery">Gallery</a> <a href="/feed">Feed</a> <a href="/cards">Cards</a> <a href="/plain">About</a></nav>
<img src="/img/logo-shop-400x100.png" alt="Scripted shop storefront sign">
</body></html>"#;

const GALLERY: &str = r#"<!DOCTYPE html><html><head><title>Gallery</title></head><body>
<div id="root"></div>
<noscript>Please enable JavaScript to see the gallery.</noscript>
<script>
fetch('/gallery.json').then(r => r.json()).then(items => {
  const root = document.getElementById('root');
  for (const it of items) {
    const fig = document.createElement('figure');
    const img = document.createElement('img');
    img.src = it.src; img.alt = it.alt; img.width = 800; img.height = 600;
    const cap = document.createElement('figcaption'); cap.textContent = it.alt;
    fig.appendChild(img); fig.appendChild(cap); root.appendChild(fig);
  }
});
</script></body></html>"#;

const FEED: &str = r#"<!DOCTYPE html><html><head><title>Feed</title>
<style>.item { height: 700px; }</style></head><body>
<div id="app"></div>
<script>
let page = 0, loading = false;
const app = document.getElementById('app');
function more() {
  if (loading) return; loading = true;
  fetch('/feed.json?page=' + page++).then(r => r.json()).then(items => {
    for (const it of items) {
      const d = document.createElement('div'); d.className = 'item';
      const img = document.createElement('img'); img.src = it.src; img.alt = it.alt;
      d.appendChild(img); app.appendChild(d);
    }
    loading = false;
  });
}
more();
window.addEventListener('scroll', () => {
  if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 200) more();
});
</script></body></html>"#;

const CARDS_PAGE: &str = r#"<!DOCTYPE html><html><head><title>Cards</title>
<style>.card { width: 300px; height: 200px; background-size: cover; }</style></head><body>
<div id="app" data-v-app><div class="card" data-id="0" title="Blue bicycle against a wall"></div>
<div class="card" data-id="1" title="Bowl of ramen with egg"></div>
<div class="card" data-id="2" title="Sailing boat in fog"></div>
<div class="card" data-id="3" title="Sunflower field in August"></div></div>
<script src="/no-such-bundle.js"></script><script>1</script><script>2</script><script>3</script>
<script>
window.addEventListener('load', () => setTimeout(() => {
  for (const c of document.querySelectorAll('.card'))
    c.style.backgroundImage = 'url(/img/card-' + c.dataset.id + '-600x400.jpg)';
}, 100));
</script></body></html>"#;

const PLAIN: &str = r#"<!DOCTYPE html><html><head><title>About us</title></head><body>
<h1>About us</h1>
<img src="/img/team-1200x800.jpg" alt="The team in front of the workshop">
<img src="/img/workshop-1200x800.jpg" alt="Workshop benches with tools">
<script>console.log('analytics')</script>
</body></html>"#;

const SSRF: &str = r#"<!DOCTYPE html><html><head><title>Tricks</title></head><body>
<div id="root"></div>
<img src="http://127.0.0.2:{P}/direct.png" alt="direct">
<img src="http://[::ffff:127.0.0.2]:{P}/mapped.png" alt="mapped">
<img src="http://localhost:{P}/named.png" alt="named">
<img src="/to-secret" alt="redirected">
<iframe src="http://127.0.0.2:{P}/frame"></iframe>
<script>
fetch('http://127.0.0.2:{P}/fetch').catch(() => {});
fetch('http://2130706434:{P}/decimal').catch(() => {});
try { new WebSocket('ws://127.0.0.2:{P}/socket'); } catch (e) {}
try { new Worker('/worker.js'); } catch (e) {}
navigator.sendBeacon && navigator.sendBeacon('http://127.0.0.2:{P}/beacon', 'x');
const img = document.createElement('img'); img.src = '/img/safe-640x480.png'; img.alt = 'the picture that is allowed';
document.getElementById('root').appendChild(img);
</script></body></html>"#;
