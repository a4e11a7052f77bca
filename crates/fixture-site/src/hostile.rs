//! A hostile site: every resource-exhaustion attack the reliability review found, on one site a
//! crawl can be pointed at, each with the outcome the crawler must record for it. Its pages are
//! built once and shared, so the server adds little to the memory of the process it runs in
//! (the tests measure that process while it crawls).
//!
//! Pages and images wait behind a gate until [`HostileServer::open`] is called, so a test can
//! subscribe to a crawl's events before anything happens that it must see.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream;
use tokio::sync::watch;

use crate::images;

/// Pages of 200,000 `<img>` each: over the element limit.
pub const TOO_MANY_IMAGE_PAGES: usize = 5;
/// Pages of 140,000 `<img>` each: within the limits, parsed (a few at a time).
pub const MANY_IMAGE_PAGES: usize = 12;
/// 24-megapixel 16-bit RGBA PNGs (192 MB each once decoded) on one page.
pub const DEEP_PNGS: usize = 8;
/// Sitemaps in the sitemap index, and URLs in each.
pub const SITEMAPS: usize = 50;
pub const URLS_PER_SITEMAP: usize = 150_000;

/// The attacks: (path, what it is, the outcome the crawl must record).
pub fn table() -> Vec<(String, &'static str, &'static str)> {
    let mut rows = vec![
        ("/nested".to_string(), "100,000 nested <div>s", "too_complex"),
        ("/unclosed".to_string(), "100,000 unclosed <div><span> pairs", "too_complex"),
    ];
    for k in 0..TOO_MANY_IMAGE_PAGES {
        rows.push((format!("/too-many-images/{k}"), "200,000 <img>s", "too_complex"));
    }
    for k in 0..MANY_IMAGE_PAGES {
        rows.push((format!("/many-images/{k}"), "140,000 <img>s", "ok"));
    }
    rows.push(("/deep-pngs".to_string(), "eight 24-megapixel RGBA16 PNGs", "ok"));
    rows
}

/// The hostile site on a free loopback port.
pub struct HostileServer {
    addr: SocketAddr,
    gate: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Ctx {
    gate: watch::Receiver<bool>,
    pages: Arc<Pages>,
}

struct Pages {
    start: Bytes,
    nested: Bytes,
    unclosed: Bytes,
    too_many_images: Bytes,
    many_images: Bytes,
    deep_pngs: Bytes,
}

impl HostileServer {
    pub async fn start() -> std::io::Result<Self> {
        let (gate, gate_rx) = watch::channel(false);
        let pages = Arc::new(Pages::build());
        let app = axum::Router::new()
            .route("/", get(|State(c): State<Ctx>| async move { html(c.pages.start.clone()) }))
            .route("/robots.txt", get(|| async { "User-agent: *\nAllow: /\nSitemap: /sitemap-index.xml\n" }))
            .route("/sitemap-index.xml", get(|| async { xml(Body::from(sitemap_index())) }))
            .route("/sitemaps/{name}", get(sitemap))
            .route("/nested", get(|State(c): State<Ctx>| gated(c, |p| p.nested.clone())))
            .route("/unclosed", get(|State(c): State<Ctx>| gated(c, |p| p.unclosed.clone())))
            .route("/too-many-images/{k}", get(|State(c): State<Ctx>| gated(c, |p| p.too_many_images.clone())))
            .route("/many-images/{k}", get(|State(c): State<Ctx>| gated(c, |p| p.many_images.clone())))
            .route("/deep-pngs", get(|State(c): State<Ctx>| gated(c, |p| p.deep_pngs.clone())))
            .route("/listed/{n}/{m}", get(|State(c): State<Ctx>| gated(c, |_| Bytes::from_static(FILLER))))
            .route("/deep/{name}", get(deep_png))
            .route("/tiny.gif", get(|| async { ([(header::CONTENT_TYPE, "image/gif")], images::GIF_1X1) }))
            .with_state(Ctx { gate: gate_rx, pages });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, gate, task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Lets the pages and images through.
    pub fn open(&self) {
        let _ = self.gate.send(true);
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const FILLER: &[u8] =
    b"<!DOCTYPE html><html><head><title>Listed</title></head><body><p>A page listed in a sitemap.</p></body></html>";

impl Pages {
    fn build() -> Self {
        let links: String =
            table().iter().map(|(path, what, _)| format!("<li><a href=\"{path}\">{what}</a></li>")).collect();
        let start = format!(
            "<!DOCTYPE html><html><head><title>A hostile site</title></head><body><h1>A hostile site</h1><ul>{links}</ul></body></html>"
        );
        let page = |title: &str, body: &str| {
            Bytes::from(format!("<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>"))
        };
        let img = "<img src=\"/tiny.gif\" alt=\"a picture\">";
        let deep: String = (0..DEEP_PNGS)
            .map(|n| {
                format!("<figure><img src=\"/deep/{n}.png\" width=\"6000\" height=\"4000\" alt=\"a very large deep-colour photograph, number {n}\"><figcaption>Photograph {n} at full resolution</figcaption></figure>")
            })
            .collect();
        Self {
            start: Bytes::from(start),
            nested: page("Nested", &format!("{}x{}", "<div>".repeat(100_000), "</div>".repeat(100_000))),
            unclosed: page("Unclosed", &"<div><span>".repeat(100_000)),
            too_many_images: page("Too many images", &img.repeat(200_000)),
            many_images: page("Many images", &img.repeat(140_000)),
            deep_pngs: page("Deep pictures", &deep),
        }
    }
}

fn html(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn xml(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

async fn gated(ctx: Ctx, page: impl FnOnce(&Pages) -> Bytes) -> Response {
    let mut gate = ctx.gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    html(page(&ctx.pages))
}

fn sitemap_index() -> String {
    let entries: String = (0..SITEMAPS).map(|n| format!("<sitemap><loc>/sitemaps/{n}.xml</loc></sitemap>")).collect();
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><sitemapindex>{entries}</sitemapindex>")
}

/// A sitemap of [`URLS_PER_SITEMAP`] URLs, written as it is sent; the first lists the attack
/// pages before its filler, so a crawl reaches them whichever way it finds them first.
async fn sitemap(Path(name): Path<String>) -> Response {
    let n: usize = name.trim_end_matches(".xml").parse().unwrap_or(0);
    let attacks: Vec<String> = if n == 0 { table().into_iter().map(|(path, _, _)| path).collect() } else { Vec::new() };
    let head = stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><urlset>",
    ))]);
    let listed = stream::iter((0..URLS_PER_SITEMAP / 1000).map(move |chunk| {
        let mut out = String::with_capacity(1000 * 40);
        for m in chunk * 1000..(chunk + 1) * 1000 {
            match attacks.get(m) {
                Some(path) => out.push_str(&format!("<url><loc>{path}</loc></url>")),
                None => out.push_str(&format!("<url><loc>/listed/{n}/{m}</loc></url>")),
            }
        }
        Ok(Bytes::from(out))
    }));
    let tail = stream::iter([Ok(Bytes::from_static(b"</urlset>"))]);
    use futures_util::StreamExt;
    xml(Body::from_stream(head.chain(listed).chain(tail)))
}

/// The same 6000×4000 16-bit RGBA PNG under every name: 192 MB decoded, a few hundred KB sent.
async fn deep_png(State(ctx): State<Ctx>) -> Response {
    static PNG: OnceLock<Bytes> = OnceLock::new();
    let mut gate = ctx.gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    let png = match PNG.get() {
        Some(png) => png.clone(),
        None => {
            let made =
                tokio::task::spawn_blocking(|| Bytes::from(images::png_rgba16(6000, 4000))).await.unwrap_or_default();
            PNG.get_or_init(|| made).clone()
        }
    };
    ([(header::CONTENT_TYPE, "image/png")], png).into_response()
}
