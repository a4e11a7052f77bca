//! One page fetch, safely: the SSRF guard on every hop, redirects followed by hand (each hop
//! checked and recorded, loops and long chains stopped), retries with backoff on 429/503
//! honouring Retry-After, connect/total/idle timeouts, a body size cap, HTML-only parsing and
//! charset detection. Every failure comes back as a reason, never a panic or a hang.

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use reqwest::{Client, StatusCode};
use url::Url;

pub use super::fetch_error::FetchError;
use super::guard::{Guard, Refusal};

/// The longest Retry-After we wait for; a server asking for more is recorded as failing.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
const BASE_BACKOFF: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct FetchConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_redirects: u32,
    pub max_retries: u32,
}

impl FetchConfig {
    pub fn from_settings(s: &crate::config::CrawlerSettings) -> Self {
        Self {
            user_agent: s.user_agent.clone(),
            connect_timeout: Duration::from_millis(s.connect_timeout_ms),
            request_timeout: Duration::from_millis(s.request_timeout_ms),
            idle_timeout: Duration::from_millis(s.idle_timeout_ms),
            max_body_bytes: s.max_body_bytes,
            max_redirects: s.max_redirects,
            max_retries: s.max_retries,
        }
    }
}

/// What came back.
#[derive(Debug)]
pub enum Fetched {
    /// A decoded text body (HTML, or anything with `Want::Any`).
    Body(Body),
    /// The response is not HTML; its body was not read.
    NotHtml {
        final_url: Url,
        content_type: String,
    },
    /// A redirect the caller's `follow` check refused (off-site, or forbidden by robots.txt).
    Redirected {
        to: Url,
    },
    /// 304 to a conditional request: the cached copy is still good.
    NotModified {
        final_url: Url,
        cache_control: Option<String>,
    },
    Failed(FetchError),
}

/// What a cached copy is revalidated with (`If-None-Match`, `If-Modified-Since`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

#[derive(Debug)]
pub struct Body {
    pub final_url: Url,
    pub status: u16,
    pub text: String,
    /// The undecoded bytes, kept only for `Want::Any` and `Want::Bytes`.
    pub raw: Vec<u8>,
    pub content_type: String,
    /// Bytes received (after decompression).
    pub bytes: u64,
    pub redirects: Vec<Url>,
    pub cache_control: Option<String>,
    pub sets_cookie: bool,
    pub validators: Validators,
    /// Set when a browser rendered the page: the text is its DOM after scripts ran.
    pub rendered: Option<RenderNote>,
}

/// How a page's render went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenderNote {
    pub elapsed_ms: u64,
    pub scrolls: u32,
    /// Font and media requests refused.
    pub blocked: u32,
    /// The page's time budget ran out; the DOM is what was there then.
    pub budget_ran_out: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Html,
    Any,
    /// The raw bytes only (images): no text decoding.
    Bytes,
}

/// The reqwest implementation of the [`Fetcher`](super::Fetcher) seam.
#[derive(Clone)]
pub struct HttpFetcher {
    client: Client,
    guard: Guard,
    cfg: FetchConfig,
}

impl HttpFetcher {
    pub fn new(cfg: FetchConfig, guard: Guard) -> Result<Self, String> {
        let client = Client::builder()
            .user_agent(cfg.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .gzip(true)
            .brotli(true)
            .dns_resolver(guard.resolver())
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, guard, cfg })
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Fetches `url`, following redirects while `follow(next)` agrees.
    pub async fn fetch(&self, url: &Url, want: Want, follow: impl Fn(&Url) -> bool + Send + Sync) -> Fetched {
        self.fetch_if_changed(url, want, follow, &Validators::default()).await
    }

    /// Like [`HttpFetcher::fetch`], asking only for a changed page when `validators` has any.
    pub async fn fetch_if_changed(
        &self,
        url: &Url,
        want: Want,
        follow: impl Fn(&Url) -> bool + Send + Sync,
        validators: &Validators,
    ) -> Fetched {
        let mut current = url.clone();
        let mut redirects = Vec::new();
        loop {
            if let Err(refusal) = self.guard.check_url(&current) {
                return Fetched::Failed(FetchError::Refused(refusal));
            }
            // Validators belong to the URL they came from, not to a redirect target.
            let conditional = if current == *url { validators } else { &Validators::default() };
            let response = match self.send_with_retries(&current, conditional).await {
                Ok(r) => r,
                Err(e) => return Fetched::Failed(e),
            };
            let status = response.status();
            if status == StatusCode::NOT_MODIFIED && !conditional.is_empty() {
                let cache_control = response
                    .headers()
                    .get(header::CACHE_CONTROL)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_ascii_lowercase);
                return Fetched::NotModified { final_url: current, cache_control };
            }
            if status.is_redirection() {
                let Some(next) = location(&current, response.headers()) else {
                    return Fetched::Failed(FetchError::BadRedirect { status: status.as_u16() });
                };
                if next == current || redirects.contains(&next) || next == *url {
                    return Fetched::Failed(FetchError::RedirectLoop(next.to_string()));
                }
                if redirects.len() as u32 >= self.cfg.max_redirects {
                    return Fetched::Failed(FetchError::TooManyRedirects(self.cfg.max_redirects));
                }
                if !follow(&next) {
                    return Fetched::Redirected { to: next };
                }
                redirects.push(next.clone());
                current = next;
                continue;
            }
            if !status.is_success() {
                return Fetched::Failed(FetchError::Status { status: status.as_u16(), retries: 0 });
            }
            return self.read(response, current, redirects, want).await;
        }
    }

    async fn send_with_retries(&self, url: &Url, validators: &Validators) -> Result<reqwest::Response, FetchError> {
        let mut attempt = 0;
        loop {
            let mut request =
                self.client.get(url.clone()).header(header::ACCEPT, "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5");
            if let Some(etag) = &validators.etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(date) = &validators.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, date);
            }
            let result = request.send().await;
            let wait = match &result {
                Ok(r)
                    if r.status() == StatusCode::TOO_MANY_REQUESTS || r.status() == StatusCode::SERVICE_UNAVAILABLE =>
                {
                    match retry_after(r.headers()) {
                        Some(d) if d > MAX_RETRY_WAIT => {
                            return Err(FetchError::RetryAfterTooLong {
                                status: r.status().as_u16(),
                                secs: d.as_secs(),
                            });
                        }
                        Some(d) => d,
                        None => BASE_BACKOFF * 2u32.pow(attempt),
                    }
                }
                Ok(_) => return result.map_err(|e| FetchError::Network(describe(&e, "request failed"))),
                Err(e) if e.is_timeout() => return Err(FetchError::Timeout(describe(e, "timed out"))),
                Err(e) => match refusal(e) {
                    // A refused address is final: retrying resolves to the same one.
                    Some(refused) => return Err(FetchError::Refused(refused)),
                    None if e.is_connect() => BASE_BACKOFF * 2u32.pow(attempt),
                    None => return Err(FetchError::Network(describe(e, "request failed"))),
                },
            };
            if attempt >= self.cfg.max_retries {
                return match result {
                    Ok(r) => Err(FetchError::Status { status: r.status().as_u16(), retries: attempt }),
                    Err(e) => Err(FetchError::Network(describe(&e, &format!("failed after {attempt} retries")))),
                };
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    async fn read(&self, mut response: reqwest::Response, final_url: Url, redirects: Vec<Url>, want: Want) -> Fetched {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type =
            headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_ascii_lowercase();
        if want == Want::Html && !content_type.is_empty() && !is_html(&content_type) {
            return Fetched::NotHtml { final_url, content_type };
        }
        if let Some(len) = response.content_length().filter(|&l| l > self.cfg.max_body_bytes) {
            return Fetched::Failed(FetchError::TooLarge(format!(
                "of {len} bytes exceeds the {} byte limit",
                self.cfg.max_body_bytes
            )));
        }
        let mut raw = Vec::new();
        loop {
            match tokio::time::timeout(self.cfg.idle_timeout, response.chunk()).await {
                Err(_) => {
                    return Fetched::Failed(FetchError::Timeout(format!(
                        "no data for {} ms",
                        self.cfg.idle_timeout.as_millis()
                    )));
                }
                Ok(Err(e)) if e.is_timeout() => {
                    return Fetched::Failed(FetchError::Timeout(format!(
                        "body not complete within {} ms",
                        self.cfg.request_timeout.as_millis()
                    )));
                }
                Ok(Err(e)) => return Fetched::Failed(FetchError::Network(describe(&e, "body read failed"))),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if (raw.len() + chunk.len()) as u64 > self.cfg.max_body_bytes {
                        return Fetched::Failed(FetchError::TooLarge(format!(
                            "exceeds the {} byte limit",
                            self.cfg.max_body_bytes
                        )));
                    }
                    raw.extend_from_slice(&chunk);
                }
            }
        }
        if want == Want::Html && raw.iter().take(1024).any(|&b| b == 0) {
            return Fetched::NotHtml { final_url, content_type: format!("{content_type} (binary body)") };
        }
        if want == Want::Html && content_type.is_empty() && !looks_like_html(&raw) {
            return Fetched::NotHtml { final_url, content_type: "unknown (not HTML)".into() };
        }
        let bytes = raw.len() as u64;
        // HTML is only read as text; sitemaps and the like keep their bytes (gzip).
        let (text, raw) = match want {
            Want::Html => (decode_owned(raw, &content_type), Vec::new()),
            Want::Any => (decode(&raw, &content_type), raw),
            Want::Bytes => (String::new(), raw),
        };
        Fetched::Body(Body {
            final_url,
            status,
            bytes,
            text,
            raw,
            content_type,
            redirects,
            cache_control: headers
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase),
            sets_cookie: headers.contains_key(header::SET_COOKIE),
            validators: Validators {
                etag: header_text(&headers, header::ETAG),
                last_modified: header_text(&headers, header::LAST_MODIFIED),
            },
            rendered: None,
        })
    }
}

/// A header's value when it is short, printable text (it is sent back to the server later).
fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= 256 && !v.contains(['\t', '\n'])).then(|| v.to_string())
}

fn is_html(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime == "text/html" || mime == "application/xhtml+xml"
}

/// Whether bytes are a web page by their first bytes (a page sent without a content type, or a
/// soft 404 sent where an image should be).
pub fn looks_like_html(raw: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&raw[..raw.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    head.starts_with('<')
        && (head.contains("<html")
            || head.contains("<!doctype html")
            || head.contains("<head")
            || head.contains("<body"))
}

fn location(base: &Url, headers: &HeaderMap) -> Option<Url> {
    let value = headers.get(header::LOCATION)?.to_str().ok()?;
    base.join(value.trim()).ok()
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate(value)?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form servers send now.
fn httpdate(s: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m == month)? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else { return None };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3_600 + m * 60 + sec;
    u64::try_from(secs).ok().map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s))
}

/// Decodes a body: the Content-Type charset, else a BOM, else a `<meta charset>` in the first
/// 1024 bytes, else UTF-8 (with windows-1252 when the bytes are not UTF-8).
pub fn decode(raw: &[u8], content_type: &str) -> String {
    let from_header = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("charset="))
        .next()
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim_matches('"').as_bytes()));
    let encoding = from_header
        .or_else(|| encoding_rs::Encoding::for_bom(raw).map(|(e, _)| e))
        .or_else(|| meta_charset(&raw[..raw.len().min(1024)]));
    match encoding {
        Some(e) => e.decode(raw).0.into_owned(),
        None => match std::str::from_utf8(raw) {
            Ok(s) => s.to_string(),
            Err(_) => encoding_rs::WINDOWS_1252.decode(raw).0.into_owned(),
        },
    }
}

/// [`decode`] that reuses the buffer when the body is already UTF-8 (the common case).
pub fn decode_owned(raw: Vec<u8>, content_type: &str) -> String {
    let declared_utf8 = content_type.split(';').filter_map(|p| p.trim().strip_prefix("charset=")).next().map(|l| {
        let l = l.trim_matches('"');
        l.eq_ignore_ascii_case("utf-8") || l.eq_ignore_ascii_case("utf8")
    });
    let bom_free =
        !raw.starts_with(&[0xEF, 0xBB, 0xBF]) && !raw.starts_with(&[0xFE, 0xFF]) && !raw.starts_with(&[0xFF, 0xFE]);
    if bom_free
        && (declared_utf8 == Some(true)
            || (declared_utf8.is_none() && meta_charset(&raw[..raw.len().min(1024)]).is_none()))
    {
        return match String::from_utf8(raw) {
            Ok(s) => s,
            Err(e) => decode(e.as_bytes(), content_type),
        };
    }
    decode(&raw, content_type)
}

fn meta_charset(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let at = text.find("charset=")? + "charset=".len();
    let label: String = text[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    encoding_rs::Encoding::for_label(label.as_bytes())
}

/// The guard's refusal, when that is why the request failed (its resolver refused the address).
fn refusal(e: &reqwest::Error) -> Option<Refusal> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refusal>() {
            return Some(refused.clone());
        }
        source = s.source();
    }
    None
}

/// An error with its whole source chain, for a page outcome a person can act on.
fn describe(e: &(dyn std::error::Error + 'static), what: &str) -> String {
    let mut parts = vec![what.to_string()];
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.retain(|p| !p.is_empty());
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets_from_header_bom_meta_and_fallback() {
        assert_eq!(decode(b"caf\xe9", "text/html; charset=iso-8859-1"), "café");
        assert_eq!(
            decode(b"<meta charset=\"windows-1252\">na\xefve", "text/html"),
            "<meta charset=\"windows-1252\">naïve"
        );
        assert_eq!(decode("\u{feff}héllo".as_bytes(), "text/html"), "héllo");
        assert_eq!(decode(b"plain \xe9", "text/html"), "plain é");
        assert_eq!(decode("ünïcode".as_bytes(), ""), "ünïcode");
        assert_eq!(decode_owned("ünï".as_bytes().to_vec(), "text/html; charset=utf-8"), "ünï");
        assert_eq!(decode_owned(b"caf\xe9".to_vec(), "text/html; charset=iso-8859-1"), "café");
        assert_eq!(decode_owned(b"plain \xe9".to_vec(), "text/html"), "plain é");
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(header::RETRY_AFTER, "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a past date means now");
        assert_eq!(
            httpdate("Sun, 06 Nov 1994 08:49:37 GMT").unwrap(),
            std::time::UNIX_EPOCH + Duration::from_secs(784_111_777)
        );
        h.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[tokio::test]
    async fn a_host_resolving_to_loopback_is_refused_as_a_typed_refusal() {
        let cfg = FetchConfig {
            user_agent: "test".into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            max_body_bytes: 1024,
            max_redirects: 2,
            max_retries: 3,
        };
        let fetcher = HttpFetcher::new(cfg, Guard::new(&[])).unwrap();
        // A name, so only the resolver sees the address (an IP literal is refused before).
        let url = Url::parse("http://localhost:9/").unwrap();
        match fetcher.fetch(&url, Want::Html, |_| true).await {
            Fetched::Failed(FetchError::Refused(Refusal::Address(ip))) => assert!(ip.is_loopback()),
            // Retried as a connect error, it would end as `Network`.
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn html_detection() {
        assert!(is_html("text/html; charset=utf-8"));
        assert!(is_html("application/xhtml+xml"));
        assert!(!is_html("image/png"));
        assert!(looks_like_html(b"  <!DOCTYPE html><html>"));
        assert!(!looks_like_html(b"{\"a\": 1}"));
        assert!(looks_like_html(b"\n  <!DOCTYPE html><html><body>Not found</body></html>"));
        assert!(looks_like_html("\u{feff}<html lang=en>".as_bytes()));
        assert!(!looks_like_html(b"BM\x36\x00"));
        assert!(!looks_like_html(b"<svg xmlns='http://www.w3.org/2000/svg'/>"));
    }
}
