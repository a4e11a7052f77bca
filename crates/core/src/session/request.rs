//! What a client may ask a crawl to do, checked against the settings' limits. Every error names
//! the field to fix.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::CrawlerSettings;
use crate::crawl::MAX_URL_LEN;
use crate::error::{Error, Result};
use crate::net::guard::Guard;
use crate::render::RenderMode;

/// Include or exclude patterns one crawl may carry.
pub const MAX_PATTERNS: usize = 20;
pub const MAX_PATTERN_LEN: usize = 200;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrawlRequest {
    /// The site to crawl (http or https).
    pub url: String,
    /// Pages to fetch; the settings' default when absent.
    pub max_pages: Option<u32>,
    /// Link depth from the start page; the settings' default when absent.
    pub max_depth: Option<u32>,
    /// Only paths matching one of these (`*` = any characters).
    pub include: Vec<String>,
    /// Paths matching one of these are skipped.
    pub exclude: Vec<String>,
    /// Also crawl subdomains of the start host.
    pub subdomains: bool,
    /// `auto`, `always` or `never`; the settings' `crawler.render` when absent.
    pub render: Option<String>,
}

/// A request that passed [`CrawlRequest::validate`], with the defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ValidCrawl {
    pub url: Url,
    pub max_pages: u32,
    pub max_depth: u32,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub subdomains: bool,
    pub render: RenderMode,
}

fn invalid(field: &str, message: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{field}: {message}"))
}

impl CrawlRequest {
    pub(crate) fn validate(&self, limits: &CrawlerSettings) -> Result<ValidCrawl> {
        let raw = self.url.trim();
        if raw.is_empty() {
            return Err(invalid("url", "enter the address of the site to crawl, e.g. https://example.org/"));
        }
        if raw.len() > MAX_URL_LEN {
            return Err(invalid("url", format!("is {} characters long; the limit is {MAX_URL_LEN}", raw.len())));
        }
        let url = Url::parse(raw).map_err(|e| invalid("url", format!("`{raw}` is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("url", format!("scheme `{}` is not allowed; use http or https", url.scheme())));
        }
        match url.host() {
            None => return Err(invalid("url", "has no host")),
            Some(url::Host::Domain(d)) if !is_host_name(d) => {
                let shown: String = d.chars().take(80).collect();
                return Err(invalid(
                    "url",
                    format!("`{shown}` is not a host name (letters, digits, `-` and `_` between dots)"),
                ));
            }
            Some(_) => {}
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("url", "must not carry a user name or password"));
        }
        Guard::new(&limits.allow_hosts).check_url(&url).map_err(|r| invalid("url", r))?;
        let max_pages = self.max_pages.unwrap_or(limits.max_pages);
        if max_pages == 0 || max_pages > limits.max_pages_limit {
            return Err(invalid("max_pages", format!("must be between 1 and {}", limits.max_pages_limit)));
        }
        let max_depth = self.max_depth.unwrap_or(limits.max_depth);
        if max_depth > limits.max_depth_limit {
            return Err(invalid("max_depth", format!("must be at most {}", limits.max_depth_limit)));
        }
        let include = patterns("include", &self.include)?;
        let exclude = patterns("exclude", &self.exclude)?;
        let render = match self.render.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            None => limits.render,
            Some(r) => RenderMode::parse(r)
                .ok_or_else(|| invalid("render", format!("`{r}` is not a render mode; use auto, always or never")))?,
        };
        if render == RenderMode::Always {
            crate::render::find_executable(limits.chromium_path())
                .map_err(|e| invalid("render", format!("`always` needs a browser: {e}")))?;
        }
        Ok(ValidCrawl { url, max_pages, max_depth, include, exclude, subdomains: self.subdomains, render })
    }
}

/// A DNS name as the URL parser leaves it (lower case, international names in punycode): labels
/// of letters, digits, `-` and `_` that neither start nor end with `-`. The parser lets through
/// characters no name can have (`*`, `!`, `$`…), which would fail only later, at DNS.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn patterns(field: &str, list: &[String]) -> Result<Vec<String>> {
    if list.len() > MAX_PATTERNS {
        return Err(invalid(field, format!("at most {MAX_PATTERNS} patterns")));
    }
    let mut out = Vec::new();
    for p in list {
        let p = p.trim();
        if p.len() > MAX_PATTERN_LEN {
            return Err(invalid(field, format!("patterns are at most {MAX_PATTERN_LEN} characters")));
        }
        if p.chars().any(char::is_control) {
            return Err(invalid(field, "patterns must not contain control characters"));
        }
        if !p.is_empty() {
            out.push(p.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(req: CrawlRequest) -> std::result::Result<ValidCrawl, String> {
        req.validate(&CrawlerSettings::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_host_that_no_name_can_be_is_refused_before_any_crawl() {
        for bad in ["http://0.aa*/", "http://a!b.test/", "http://-a.test/", "http://a..test/", "http://a$.test/"] {
            let err = check(url(bad)).err().unwrap_or_default();
            assert!(err.starts_with("url:"), "{bad}: {err}");
        }
        for good in
            ["http://a_b.example.org/", "http://xn--bcher-kva.example/", "https://Example.ORG./x", "http://1.2.3.4/"]
        {
            assert!(check(url(good)).is_ok(), "{good}: {:?}", check(url(good)).err());
        }
    }

    fn url(u: &str) -> CrawlRequest {
        CrawlRequest { url: u.into(), ..Default::default() }
    }

    #[test]
    fn defaults_fill_in() {
        let v = check(url(" https://example.org/a ")).unwrap();
        assert_eq!(v.url.as_str(), "https://example.org/a");
        assert_eq!(v.max_pages, CrawlerSettings::default().max_pages);
        assert_eq!(v.max_depth, CrawlerSettings::default().max_depth);
    }

    #[test]
    fn every_error_names_its_field() {
        for (req, field) in [
            (url(""), "url:"),
            (url("example.org"), "url:"),
            (url("ftp://example.org/"), "url:"),
            (url("javascript:alert(1)"), "url:"),
            (url("http://user:pw@example.org/"), "url:"),
            (url("http://127.0.0.1/"), "url:"),
            (url("http://169.254.169.254/latest/meta-data"), "url:"),
            (url(&format!("https://example.org/{}", "a".repeat(3000))), "url:"),
            (CrawlRequest { max_pages: Some(0), ..url("https://example.org/") }, "max_pages:"),
            (CrawlRequest { max_pages: Some(1_000_000), ..url("https://example.org/") }, "max_pages:"),
            (CrawlRequest { max_depth: Some(99), ..url("https://example.org/") }, "max_depth:"),
            (CrawlRequest { include: vec!["x".into(); 21], ..url("https://example.org/") }, "include:"),
            (CrawlRequest { exclude: vec!["a\u{0}".into()], ..url("https://example.org/") }, "exclude:"),
        ] {
            let err = check(req.clone()).unwrap_err();
            assert!(err.starts_with(field), "{req:?}: {err}");
        }
    }

    #[test]
    fn allowed_hosts_pass_the_guard() {
        let limits = CrawlerSettings { allow_hosts: vec!["127.0.0.1".into()], ..Default::default() };
        assert!(url("http://127.0.0.1:8080/").validate(&limits).is_ok());
    }
}
