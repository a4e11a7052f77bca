//! The browser's only way out: a small HTTP proxy on loopback that applies the SSRF guard to
//! everything Chromium fetches — documents, subresources, XHR/fetch, iframes, WebSockets,
//! workers. CDP interception sees URLs, not addresses, and misses workers and sockets; here
//! each host is resolved once, every address checked as the crawler's own fetches check them,
//! and the connection made to the address that was checked (so DNS rebinding between check and
//! connect has nothing to rebind).
//!
//! Plain `http://` requests come in absolute form and are forwarded one per connection
//! (`Connection: close`, so a second request on the connection cannot reach another host).
//! `CONNECT` (https, wss) is tunnelled only to ports 80 and 443, or to any port of a host
//! the allow-list names; the proxy's own address is never reached. (The browser is driven over
//! a pipe, so it has no debugging port a page could aim at.)

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use url::Url;

use crate::net::Guard;

/// Largest request head read from the browser.
const MAX_HEAD: usize = 32 * 1024;
/// Connections open through the proxy at once; more wait.
const MAX_CONNECTIONS: usize = 256;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// No connection lives longer (an endless stream or socket is cut).
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(300);
/// Refusals remembered for `/health` and tests.
const RECENT_REFUSALS: usize = 32;

/// What went through the proxy, and what was refused.
#[derive(Default)]
pub struct EgressStats {
    pub allowed: AtomicU64,
    pub refused: AtomicU64,
    recent: Mutex<Vec<String>>,
}

impl EgressStats {
    /// The most recent refusals, newest last: "CONNECT 127.0.0.2:443: address 127.0.0.2 is not public …".
    pub fn recent_refusals(&self) -> Vec<String> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn refuse(&self, what: String) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_REFUSALS {
            recent.remove(0);
        }
        recent.push(what);
    }
}

struct Rules {
    guard: Guard,
    /// The proxy's own address: a page must not loop the browser's traffic back into it.
    own: SocketAddr,
    stats: Arc<EgressStats>,
}

/// A running egress proxy; it stops when dropped.
pub struct EgressProxy {
    addr: SocketAddr,
    rules: Arc<Rules>,
    task: JoinHandle<()>,
}

impl EgressProxy {
    /// Listens on a free loopback port.
    pub async fn start(guard: Guard) -> std::io::Result<Self> {
        Self::start_with_stats(guard, Arc::default()).await
    }

    /// As [`EgressProxy::start`], counting into `stats` (kept across the browser's relaunches).
    pub async fn start_with_stats(guard: Guard, stats: Arc<EgressStats>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let rules = Arc::new(Rules { guard, own: addr, stats });
        let task = tokio::spawn(serve(listener, rules.clone()));
        Ok(Self { addr, rules, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> Arc<EgressStats> {
        self.rules.stats.clone()
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, rules: Arc<Rules>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let (client, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors: wait rather than spin.
                tracing::warn!("egress proxy: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let rules = rules.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(MAX_CONNECTION_LIFE, handle(client, &rules)).await;
            drop(permit);
        });
    }
}

/// A request head: its method, target and the rest of the head's lines.
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

async fn read_head(client: &mut TcpStream) -> Result<(Head, Vec<u8>), &'static str> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head too large");
        }
        let n = match tokio::time::timeout(HEAD_TIMEOUT, client.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) => return Err(""),
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return Err(""),
        };
        buf.extend_from_slice(&chunk[..n]);
    };
    let rest = buf.split_off(end + 4);
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| "request head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version)) = (first.next(), first.next(), first.next()) else {
        return Err("malformed request line");
    };
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Ok((Head { method: method.into(), target: target.into(), version: version.into(), headers }, rest))
}

async fn handle(mut client: TcpStream, rules: &Rules) {
    let (head, rest) = match read_head(&mut client).await {
        Ok(h) => h,
        Err("") => return,
        Err(why) => return answer(&mut client, 400, why).await,
    };
    if head.method.eq_ignore_ascii_case("CONNECT") {
        tunnel(client, rules, &head, rest).await;
    } else {
        forward(client, rules, head, rest).await;
    }
}

async fn tunnel(mut client: TcpStream, rules: &Rules, head: &Head, rest: Vec<u8>) {
    let what = format!("CONNECT {}", head.target);
    // `host:port`, the host possibly a bracketed IPv6 literal.
    let parsed = Url::parse(&format!("http://{}/", head.target)).ok();
    let Some((host, port)) = parsed.as_ref().and_then(|u| Some((u.host_str()?.to_string(), u.port()?))) else {
        rules.stats.refuse(format!("{what}: not host:port"));
        return answer(&mut client, 400, "CONNECT needs host:port").await;
    };
    if !matches!(port, 80 | 443) && !rules.guard.allows_host(&host) {
        let why = format!("port {port} is not tunnelled (only 80 and 443)");
        rules.stats.refuse(format!("{what}: {why}"));
        return answer(&mut client, 403, &why).await;
    }
    let Some(mut upstream) = connect_or_refuse(&mut client, rules, &what, &host, port).await else { return };
    if client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await.is_err() {
        return;
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

async fn forward(mut client: TcpStream, rules: &Rules, head: Head, rest: Vec<u8>) {
    let what = format!("{} {}", head.method, head.target);
    let url = match Url::parse(&head.target) {
        Ok(u) if u.scheme() == "http" => u,
        _ => {
            rules.stats.refuse(format!("{what}: not an absolute http:// URL"));
            return answer(&mut client, 400, "only absolute http:// URLs are forwarded").await;
        }
    };
    if let Err(refusal) = rules.guard.check_url(&url) {
        rules.stats.refuse(format!("{what}: {refusal}"));
        return answer(&mut client, 403, &refusal.to_string()).await;
    }
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let Some(mut upstream) = connect_or_refuse(&mut client, rules, &what, &host, port).await else { return };
    let mut path = url.path().to_string();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let mut out = format!("{} {} {}\r\n", head.method, path, head.version);
    for (k, v) in &head.headers {
        let hop = ["proxy-connection", "proxy-authorization", "connection", "keep-alive"];
        if !hop.iter().any(|h| k.eq_ignore_ascii_case(h)) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(out.as_bytes()).await.is_err() || upstream.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// [`connect`], or the refusal recorded and answered to the browser.
async fn connect_or_refuse(
    client: &mut TcpStream,
    rules: &Rules,
    what: &str,
    host: &str,
    port: u16,
) -> Option<TcpStream> {
    match connect(rules, host, port).await {
        Ok(s) => {
            rules.stats.allowed.fetch_add(1, Ordering::Relaxed);
            Some(s)
        }
        Err((status, why)) => {
            rules.stats.refuse(format!("{what}: {why}"));
            answer(client, status, &why).await;
            None
        }
    }
}

/// Resolves `host` once, checks every address it gave, and connects to a checked one.
async fn connect(rules: &Rules, host: &str, port: u16) -> Result<TcpStream, (u16, String)> {
    let bare = host.trim_matches(['[', ']']);
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((bare, port))).await {
            Ok(Ok(a)) => a.collect(),
            _ => return Err((502, format!("could not resolve {bare}"))),
        },
    };
    let checked = rules.guard.filter(bare, addrs).map_err(|refusal| (403, refusal.to_string()))?;
    let checked: Vec<SocketAddr> = checked.into_iter().filter(|a| *a != rules.own).collect();
    if checked.is_empty() {
        return Err((403, format!("{bare}:{port} is this product's own endpoint")));
    }
    let mut last = String::new();
    for addr in checked {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: connect timed out"),
        }
    }
    Err((502, last))
}

async fn answer(client: &mut TcpStream, status: u16, why: &str) {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        _ => "Bad Gateway",
    };
    let body = format!("image-chat egress proxy: {why}\n");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = client.write_all(head.as_bytes()).await;
    let _ = client.write_all(body.as_bytes()).await;
    let _ = client.shutdown().await;
}
