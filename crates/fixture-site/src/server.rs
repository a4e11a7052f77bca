//! The fixture server: one site per server (a crawler's "same site" is per host), on
//! `127.0.0.1:0` by default, with a log of every request so tests can check what a crawler did.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use crate::captions::Captions;
use crate::folder::FolderSite;
use crate::site::{GeneratedSite, SiteSpec};
use crate::traps::{self, TrapState};

/// Requests remembered for [`FixtureServer::requests`]; older ones are dropped past this.
pub const MAX_LOGGED_REQUESTS: usize = 1_000_000;

#[derive(Clone, Debug)]
pub enum SiteKind {
    Generated(SiteSpec),
    /// A mirrored folder and the origin its absolute links name.
    Folder {
        root: PathBuf,
        origin: String,
    },
}

#[derive(Clone, Debug)]
pub struct FixtureConfig {
    pub site: SiteKind,
    pub addr: SocketAddr,
    /// Added before every response: a real site answers in tens of milliseconds, loopback in
    /// microseconds, and benchmarks of caching must not pretend the network is free.
    pub latency: std::time::Duration,
}

impl FixtureConfig {
    pub fn generated(spec: SiteSpec) -> Self {
        Self {
            site: SiteKind::Generated(spec),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            latency: Default::default(),
        }
    }

    pub fn folder(root: impl Into<PathBuf>, origin: &str) -> Self {
        Self {
            site: SiteKind::Folder { root: root.into(), origin: origin.to_string() },
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            latency: Default::default(),
        }
    }
}

enum Site {
    Generated(GeneratedSite),
    Folder(FolderSite),
}

struct Ctx {
    latency: std::time::Duration,
    /// Conditional requests answered 304.
    not_modified: std::sync::atomic::AtomicUsize,
    site: Site,
    traps: TrapState,
    log: Mutex<Vec<String>>,
    addr: SocketAddr,
    /// Requests being answered now, and the most at any moment (politeness tests).
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

/// Counts a request as in flight until it is answered.
struct InFlight<'a>(&'a Ctx);

impl<'a> InFlight<'a> {
    fn new(ctx: &'a Ctx) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        let now = ctx.in_flight.fetch_add(1, SeqCst) + 1;
        ctx.max_in_flight.fetch_max(now, SeqCst);
        Self(ctx)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A running fixture server; stops when dropped.
pub struct FixtureServer {
    ctx: Arc<Ctx>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FixtureServer {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: FixtureConfig) -> std::io::Result<Self> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let site = match config.site {
            SiteKind::Generated(spec) => Site::Generated(GeneratedSite::new(spec, Captions::load()).map_err(invalid)?),
            SiteKind::Folder { root, origin } => Site::Folder(FolderSite::new(root, &origin).map_err(invalid)?),
        };
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let ctx = Arc::new(Ctx {
            latency: config.latency,
            not_modified: Default::default(),
            site,
            traps: TrapState::default(),
            log: Mutex::new(Vec::new()),
            addr,
            in_flight: Default::default(),
            max_in_flight: Default::default(),
        });
        let app = Router::new().fallback(handle).with_state(ctx.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("fixture server stopped: {e}");
            }
        });
        Ok(Self { ctx, shutdown: Some(tx) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.ctx.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.ctx.addr)
    }

    /// An absolute URL for a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// The generated site behind this server, for its ground truth.
    pub fn site(&self) -> Option<&GeneratedSite> {
        match &self.ctx.site {
            Site::Generated(s) => Some(s),
            Site::Folder(_) => None,
        }
    }

    /// Every request so far, as `METHOD path?query`, oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.ctx.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many conditional requests were answered `304 Not Modified`.
    pub fn not_modified(&self) -> usize {
        self.ctx.not_modified.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most requests this server was answering at one moment (from the request's arrival
    /// to its response, the added latency included).
    pub fn max_in_flight(&self) -> usize {
        self.ctx.max_in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many requests asked for a path starting with `prefix`.
    pub fn hits(&self, prefix: &str) -> usize {
        let log = self.ctx.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().filter(|r| r.split_once(' ').is_some_and(|(_, p)| p.starts_with(prefix))).count()
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html><html><head><title>Not found</title></head><body><h1>Not found</h1></body></html>",
    )
        .into_response()
}

fn typed(content_type: &'static str, bytes: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], bytes.into()).into_response()
}

async fn handle(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    let _in_flight = InFlight::new(&ctx);
    if !ctx.latency.is_zero() {
        tokio::time::sleep(ctx.latency).await;
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    {
        let mut log = ctx.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= MAX_LOGGED_REQUESTS {
            log.drain(..MAX_LOGGED_REQUESTS / 2);
        }
        log.push(match &query {
            Some(q) => format!("{} {path}?{q}", req.method()),
            None => format!("{} {path}", req.method()),
        });
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], "").into_response();
    }
    // Links are written with the address the client used, as a real site's would be.
    let origin = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| format!("http://{}", ctx.addr));
    if path == "/trap" || path.starts_with("/trap/") {
        return traps::handle(&ctx.traps, &path, query.as_deref()).await;
    }
    match &ctx.site {
        Site::Generated(site) => {
            // Pages carry an ETag (they never change for a given seed) and honour If-None-Match.
            if let Some(index) = site.page_index(&path) {
                let etag = format!("\"p{}-{index}\"", site.spec().seed);
                let asked = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
                if asked.is_some_and(|a| a.split(',').any(|t| t.trim() == etag)) {
                    ctx.not_modified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
                }
                let mut response = generated(site, &path, query.as_deref(), &origin);
                if response.status() == StatusCode::OK
                    && let Ok(v) = header::HeaderValue::from_str(&etag)
                {
                    response.headers_mut().insert(header::ETAG, v);
                }
                return response;
            }
            generated(site, &path, query.as_deref(), &origin)
        }
        Site::Folder(folder) => {
            let (folder, path, origin) = (folder.clone(), path.clone(), origin.clone());
            match tokio::task::spawn_blocking(move || folder.serve(&path, &origin)).await {
                Ok(Some(r)) => typed(r.content_type, r.bytes),
                _ => not_found(),
            }
        }
    }
}

fn generated(site: &GeneratedSite, path: &str, query: Option<&str>, origin: &str) -> Response {
    if let Some(index) = site.page_index(path) {
        return match site.render(index, origin) {
            Some(html) => typed("text/html; charset=utf-8", html),
            None => not_found(),
        };
    }
    let page_arg =
        |prefix: &str| path.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok()).filter(|&n| n < site.spec().pages);
    if path == "/robots.txt" {
        return typed("text/plain; charset=utf-8", site.robots_txt(origin));
    }
    if path == "/sitemap.xml" {
        return typed("application/xml", site.sitemap_index(origin));
    }
    if let Some(chunk) = path.strip_prefix("/sitemaps/pages-").and_then(|r| r.strip_suffix(".xml"))
        && let Some(xml) = chunk.parse().ok().and_then(|k| site.sitemap(k, origin))
    {
        return typed("application/xml", xml);
    }
    if let Some(target) = page_arg("/go/") {
        return (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, GeneratedSite::page_path(target))], "")
            .into_response();
    }
    if let Some(target) = page_arg("/moved/") {
        return (StatusCode::FOUND, [(header::LOCATION, format!("/go/{target}"))], "").into_response();
    }
    if let Some(key) = path.strip_prefix("/private/") {
        return typed("text/html; charset=utf-8", site.private_page(key));
    }
    match crate::images::for_path(path, query) {
        Some(img) => typed(img.content_type, img.bytes),
        None => not_found(),
    }
}
