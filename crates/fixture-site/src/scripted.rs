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

/// Batches of the finite infinite-scroll page, and images in each.
pub const BATCHES: usize = 3;
pub const BATCH: usize = 3;

/// Every image each page shows once rendered: path -> [(image path, alt)]. The feed is endless
/// and not listed; the tricks page is listed with the one image it may load.
pub fn expected() -> Vec<(&'static str, Vec<(String, String)>)> {
    let pair = |p: &str, a: &str| (p.to_string(), a.to_string());
    vec![
        ("/", vec![pair("/img/logo-shop-400x100.png", "Scripted shop storefront sign")]),
        ("/gallery", gallery()),
        (
            "/cards",
            vec![
                pair("/img/card-0-600x400.jpg", ""),
                pair("/img/card-1-600x400.jpg", ""),
                pair("/img/card-2-600x400.jpg", ""),
                pair("/img/card-3-600x400.jpg", ""),
            ],
        ),
        (
            "/plain",
            vec![
                pair("/img/team-1200x800.jpg", "The team in front of the workshop"),
                pair("/img/workshop-1200x800.jpg", "Workshop benches with tools"),
            ],
        ),
        (
            "/observer",
            (0..3).map(|i| (format!("/img/deep-{i}-900x600.jpg"), format!("deep picture {i} of a canyon"))).collect(),
        ),
        (
            "/native-lazy",
            vec![
                pair("/img/native-0-800x600.jpg", "A lazy picture of a red tram"),
                pair("/img/native-1-800x600.jpg", "A lazy picture of a green ferry"),
            ],
        ),
        (
            "/batches",
            (0..BATCHES * BATCH)
                .map(|n| (format!("/img/batch-{n}-640x480.jpg"), format!("batch photo {n} of a lighthouse")))
                .collect(),
        ),
        (
            "/timer",
            vec![
                pair("/img/timer-0-500x500.png", "A picture a timer added"),
                pair("/img/timer-1-500x500.png", "Another picture the timer added"),
            ],
        ),
        ("/polling", vec![pair("/img/polled-640x480.png", "A picture on a page that never stops polling")]),
    ]
}

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
            .route("/feed", get(|| async { html(scroll_feed("Feed", "/feed.json")) }))
            .route("/feed.json", get(feed_json))
            .route("/cards", get(|| async { page(CARDS_PAGE) }))
            .route("/observer", get(|| async { page(OBSERVER) }))
            .route("/native-lazy", get(|| async { page(NATIVE_LAZY) }))
            .route("/batches", get(|| async { html(scroll_feed("Batches", "/batch.json")) }))
            .route("/batch.json", get(batch_json))
            .route("/timer", get(|| async { page(TIMER) }))
            .route("/polling", get(|| async { page(POLLING) }))
            .route("/poll.json", get(|| async { axum::Json(serde_json::json!({"ok": true})) }))
            .route("/sw.js", get(service_worker))
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

/// An infinite-scroll page: items of `endpoint?page=N` appended as the reader nears the bottom;
/// an empty page ends the feed (the endless one never sends one).
fn scroll_feed(title: &str, endpoint: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><head><title>{title}</title>
<style>.item {{ height: 700px; }}</style></head><body>
<div id="root"></div>
<script>
let page = 0, loading = false, done = false;
const root = document.getElementById('root');
function more() {{
  if (loading || done) return; loading = true;
  fetch('{endpoint}?page=' + page++).then(r => r.json()).then(items => {{
    if (items.length === 0) done = true;
    for (const it of items) {{
      const d = document.createElement('div'); d.className = 'item';
      const img = document.createElement('img'); img.src = it.src; img.alt = it.alt;
      d.appendChild(img); root.appendChild(d);
    }}
    loading = false;
  }});
}}
more();
window.addEventListener('scroll', () => {{
  if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 200) more();
}});
</script></body></html>"#
    )
}

fn page(body: &'static str) -> Response {
    html(body.to_string())
}

fn html(body: String) -> Response {
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

/// A finite feed: [`BATCHES`] batches, then an empty list.
async fn batch_json(Query(q): Query<FeedPage>) -> Response {
    let items: Vec<serde_json::Value> = if q.page < BATCHES {
        (0..BATCH)
            .map(|i| {
                let n = q.page * BATCH + i;
                serde_json::json!({"src": format!("/img/batch-{n}-640x480.jpg"), "alt": format!("batch photo {n} of a lighthouse")})
            })
            .collect()
    } else {
        Vec::new()
    };
    axum::Json(items).into_response()
}

async fn service_worker(State(c): State<Ctx>) -> Response {
    let js = format!(
        "self.addEventListener('install', () => fetch('http://127.0.0.2:{}/from-service-worker').catch(() => {{}}));",
        c.secret_port
    );
    ([(header::CONTENT_TYPE, "text/javascript")], js).into_response()
}

async fn ssrf_page(State(c): State<Ctx>) -> Response {
    let p = c.secret_port;
    html(SSRF.replace("{P}", &p.to_string()))
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
<nav><a href="/gallery">Gallery</a> <a href="/feed">Feed</a> <a href="/cards">Cards</a> <a href="/plain">About</a>
<a href="/observer">Deep</a> <a href="/native-lazy">Lazy</a> <a href="/batches">Batches</a> <a href="/timer">Timer</a>
<a href="/polling">Live</a></nav>
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

const OBSERVER: &str = r#"<!DOCTYPE html><html><head><title>Deep</title></head><body>
<div id="app"></div>
<div style="height: 5000px">Scroll down</div>
<div id="deep"></div>
<script>
const pics = [0, 1, 2].map(i => ({src: '/img/deep-' + i + '-900x600.jpg', alt: 'deep picture ' + i + ' of a canyon'}));
const deep = document.getElementById('deep');
const slots = pics.map(() => { const d = document.createElement('div'); d.style.height = '400px'; deep.appendChild(d); return d; });
const seen = new IntersectionObserver(entries => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    const i = slots.indexOf(e.target);
    const img = document.createElement('img'); img.src = pics[i].src; img.alt = pics[i].alt;
    e.target.appendChild(img); seen.unobserve(e.target);
  }
});
slots.forEach(s => seen.observe(s));
</script><script>1</script><script>2</script><script>3</script></body></html>"#;

const NATIVE_LAZY: &str = r#"<!DOCTYPE html><html><head><title>Lazy</title></head><body>
<div style="height: 6000px">Scroll down</div>
<img loading="lazy" src="/img/native-0-800x600.jpg" alt="A lazy picture of a red tram">
<img loading="lazy" src="/img/native-1-800x600.jpg" alt="A lazy picture of a green ferry">
</body></html>"#;

const TIMER: &str = r#"<!DOCTYPE html><html><head><title>Timer</title></head><body>
<div id="root"></div>
<script>
setTimeout(() => {
  const root = document.getElementById('root');
  for (const [i, alt] of [[0, 'A picture a timer added'], [1, 'Another picture the timer added']]) {
    const img = document.createElement('img'); img.src = '/img/timer-' + i + '-500x500.png'; img.alt = alt;
    root.appendChild(img);
  }
}, 300);
</script></body></html>"#;

const POLLING: &str = r#"<!DOCTYPE html><html><head><title>Live</title></head><body>
<div id="root"></div>
<script>
const img = document.createElement('img'); img.src = '/img/polled-640x480.png';
img.alt = 'A picture on a page that never stops polling';
document.getElementById('root').appendChild(img);
setInterval(() => fetch('/poll.json').catch(() => {}), 100);
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
<link rel="preconnect" href="http://127.0.0.2:{P}">
<link rel="dns-prefetch" href="http://127.0.0.2:{P}">
<script>
fetch('http://127.0.0.2:{P}/fetch').catch(() => {});
fetch('http://2130706434:{P}/decimal').catch(() => {});
try { new WebSocket('ws://127.0.0.2:{P}/socket'); } catch (e) {}
try { new Worker('/worker.js'); } catch (e) {}
if (navigator.serviceWorker) navigator.serviceWorker.register('/sw.js').catch(() => {});
navigator.sendBeacon && navigator.sendBeacon('http://127.0.0.2:{P}/beacon', 'x');
const img = document.createElement('img'); img.src = '/img/safe-640x480.png'; img.alt = 'the picture that is allowed';
document.getElementById('root').appendChild(img);
</script></body></html>"#;
