//! The HTML cache's entries: a page body with its validators and freshness, a redirect, or a page
//! that is gone, and how long each is used without asking the site (Cache-Control, else 24 h for
//! dynamic-looking pages and 7 days for static ones; validators keep it longer, to revalidate).

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::normalize::page_key;
use crate::cache::Cache;
use crate::net::Validators;

const HTML_CACHE_PREFIX: &str = "html:v2:";
/// Rendered DOMs, apart from the HTML the server sent.
const RENDERED_PREFIX: &str = "html:rendered:v1:";

const STATIC_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
pub(super) const DYNAMIC_TTL: Duration = Duration::from_secs(24 * 3600);
/// A page with an ETag or Last-Modified is kept this much longer than it is fresh: once stale,
/// it is revalidated with a conditional request, and a 304 costs no body and no re-download.
const REVALIDATE_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Bounds on a `Cache-Control: max-age` the site names.
const MIN_FRESH: Duration = Duration::from_secs(60);
/// A page as the HTML cache keeps it; without a body it records a redirect to `final_url`.
/// Stored as `P<fresh until>\t<etag>\t<last-modified>\t<final url>\n<body>` or `R<final url>`:
/// no escaping (validators never hold tabs or newlines), no copy of the body on read.
/// `G<reason>` records a page that is gone (404, 410), as HTTP caches do, for a shorter time.
pub(super) struct CachedPage {
    pub final_url: String,
    pub body: Option<String>,
    /// Unix seconds until which the page is used without asking the site.
    pub fresh_until: u64,
    pub validators: Validators,
}

/// How long a 404 or 410 is remembered: long enough for a repeat crawl, short enough that a
/// page that comes back is found again.
pub(super) const GONE_TTL: Duration = Duration::from_secs(3600);

pub(super) fn gone_reason(bytes: &[u8]) -> Option<String> {
    bytes.strip_prefix(b"G").and_then(|r| std::str::from_utf8(r).ok()).map(str::to_string)
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl CachedPage {
    pub(super) fn redirect(to: &Url) -> Self {
        Self { final_url: to.to_string(), body: None, fresh_until: u64::MAX, validators: Validators::default() }
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        match &self.body {
            Some(body) => encode_page(&self.final_url, body, self.fresh_until, &self.validators),
            None => [b"R".as_slice(), self.final_url.as_bytes()].concat(),
        }
    }

    pub(super) fn decode(mut bytes: Vec<u8>) -> Option<Self> {
        let kind = *bytes.first()?;
        match kind {
            b'R' => Some(Self {
                final_url: String::from_utf8(bytes.split_off(1)).ok()?,
                body: None,
                fresh_until: u64::MAX,
                validators: Validators::default(),
            }),
            b'P' => {
                let newline = bytes.iter().position(|&b| b == b'\n')?;
                let body = String::from_utf8(bytes.split_off(newline + 1)).ok()?;
                let head = std::str::from_utf8(&bytes[1..newline]).ok()?;
                let mut fields = head.splitn(4, '\t');
                let fresh_until = fields.next()?.parse().ok()?;
                let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
                let etag = text(fields.next()?);
                let last_modified = text(fields.next()?);
                let final_url = fields.next()?.to_string();
                Some(Self { final_url, body: Some(body), fresh_until, validators: Validators { etag, last_modified } })
            }
            _ => None,
        }
    }
}

/// A fetched page as [`CachedPage::encode`] stores it, from the body the crawl goes on to parse:
/// the page is copied once, into these bytes (a `CachedPage` of it would copy it twice).
pub(super) fn encode_page(final_url: &str, body: &str, fresh_until: u64, v: &Validators) -> Vec<u8> {
    let head = format!(
        "P{fresh_until}\t{}\t{}\t{final_url}\n",
        v.etag.as_deref().unwrap_or(""),
        v.last_modified.as_deref().unwrap_or(""),
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

/// How long a page is fresh, and how long it is kept (longer when it can be revalidated).
pub(super) fn lifetimes(
    override_fresh: Option<Duration>,
    cache_control: &str,
    dynamic: bool,
    validators: &Validators,
) -> (Duration, Duration) {
    let max_age = cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim_matches('"').parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(|s| Duration::from_secs(s).clamp(MIN_FRESH, STATIC_TTL));
    let fresh = override_fresh.or(max_age).unwrap_or(if dynamic { DYNAMIC_TTL } else { STATIC_TTL });
    let keep = if validators.is_empty() { fresh } else { fresh + REVALIDATE_FOR };
    (fresh, keep.max(Duration::from_secs(1)))
}

pub(super) fn cache_key(url: &Url) -> Option<String> {
    page_key(url).map(|k| format!("{HTML_CACHE_PREFIX}{k}"))
}

pub(super) async fn cache_get(cache: Option<&Arc<dyn Cache>>, url: &Url) -> Option<Result<CachedPage, String>> {
    let cache = cache?;
    let bytes = cache.get(&cache_key(url)?).await?;
    match gone_reason(&bytes) {
        Some(reason) => Some(Err(reason)),
        None => CachedPage::decode(bytes).map(Ok),
    }
}

/// A rendered DOM of `url` still fresh, with the URL the browser ended on.
pub(super) async fn rendered_get(cache: Option<&Arc<dyn Cache>>, url: &Url) -> Option<CachedPage> {
    let key = page_key(url).map(|k| format!("{RENDERED_PREFIX}{k}"))?;
    let page = CachedPage::decode(cache?.get(&key).await?)?;
    (page.body.is_some() && page.fresh_until > unix_now()).then_some(page)
}

pub(super) async fn rendered_put(cache: Option<&Arc<dyn Cache>>, url: &Url, page: &CachedPage, ttl: Duration) {
    let (Some(cache), Some(key)) = (cache, page_key(url).map(|k| format!("{RENDERED_PREFIX}{k}"))) else { return };
    cache.set(&key, page.encode(), ttl).await;
}

/// Stores an encoded entry under each URL's key.
pub(super) async fn cache_put(cache: Option<&Arc<dyn Cache>>, urls: &[&Url], bytes: Vec<u8>, ttl: Duration) {
    let Some(cache) = cache else { return };
    let mut keys: Vec<String> = urls.iter().filter_map(|u| cache_key(u)).collect();
    keys.dedup();
    // The last key takes the bytes: a page can be megabytes, copied on an async thread.
    let Some(last) = keys.pop() else { return };
    for key in keys {
        cache.set(&key, bytes.clone(), ttl).await;
    }
    cache.set(&last, bytes, ttl).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_pages_round_trip() {
        let validators = Validators { etag: Some("\"abc\"".into()), last_modified: None };
        let page = CachedPage {
            final_url: "http://s.test/a?x=1\t".into(),
            body: Some("<p>\nbody</p>".into()),
            fresh_until: 1_234,
            validators: validators.clone(),
        };
        let back = CachedPage::decode(page.encode()).unwrap();
        assert_eq!((back.final_url.as_str(), back.body.as_deref()), ("http://s.test/a?x=1\t", Some("<p>\nbody</p>")));
        assert_eq!((back.fresh_until, back.validators), (1_234, validators));
        let redirect = CachedPage::redirect(&Url::parse("http://s.test/b").unwrap());
        assert_eq!(CachedPage::decode(redirect.encode()).unwrap().body, None);
        assert!(CachedPage::decode(b"Xjunk".to_vec()).is_none());
        assert!(CachedPage::decode(Vec::new()).is_none());
    }

    #[test]
    fn freshness_follows_cache_control_and_validators_extend_the_keep() {
        let none = Validators::default();
        let etag = Validators { etag: Some("\"x\"".into()), last_modified: None };
        assert_eq!(lifetimes(None, "", false, &none), (STATIC_TTL, STATIC_TTL));
        assert_eq!(lifetimes(None, "", true, &none), (DYNAMIC_TTL, DYNAMIC_TTL));
        assert_eq!(lifetimes(None, "public, max-age=600", false, &none).0, Duration::from_secs(600));
        assert_eq!(lifetimes(None, "max-age=5", false, &none).0, MIN_FRESH);
        assert_eq!(lifetimes(None, "max-age=99999999", false, &none).0, STATIC_TTL);
        assert_eq!(lifetimes(None, "", false, &etag).1, STATIC_TTL + REVALIDATE_FOR);
        assert_eq!(lifetimes(Some(Duration::ZERO), "", false, &etag).0, Duration::ZERO);
    }
}
