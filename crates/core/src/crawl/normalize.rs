//! URL normalization, so no page is fetched twice under two spellings, and the crawl's scope
//! (same site, subdomains, include/exclude patterns).

use url::Url;

/// Query parameters that only track where a visitor came from.
const TRACKING_PARAMS: &[&str] = &[
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "_ga",
    "_gl",
    "ref_src",
    "ref_url",
    "spm",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "wickedid",
];

fn is_tracking(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("utm_") || TRACKING_PARAMS.contains(&k.as_str())
}

/// The key a page is known by: http(s) only, lower-case host (the URL parser does that and drops
/// default ports), no fragment, no tracking parameters, the rest of the query sorted, no trailing
/// `index.html`/`index.htm`/`index.php`, no trailing slash (but the root's).
pub fn page_key(url: &Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let mut u = url.clone();
    u.set_fragment(None);
    let mut pairs: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| !is_tracking(k)).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    pairs.sort();
    if pairs.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    let mut path = u.path().to_string();
    for index in ["index.html", "index.htm", "index.php"] {
        if path.ends_with(&format!("/{index}")) {
            path.truncate(path.len() - index.len());
        }
    }
    while path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    u.set_path(&path);
    Some(u.to_string())
}

/// The URL to fetch for a link: fragment and tracking parameters removed (servers must not see
/// them either), everything else as the site wrote it.
pub fn fetch_url(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_fragment(None);
    if u.query().is_some() {
        let kept: Vec<(String, String)> =
            url.query_pairs().filter(|(k, _)| !is_tracking(k)).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        if kept.is_empty() {
            u.set_query(None);
        } else if kept.len() != url.query_pairs().count() {
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    u
}

/// Which URLs belong to a crawl.
#[derive(Clone, Debug)]
pub struct Scope {
    host: String,
    /// The start host without a leading `www.`, for subdomain matching.
    site: String,
    subdomains: bool,
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl Scope {
    pub fn new(start: &Url, subdomains: bool, include: &[String], exclude: &[String]) -> Self {
        let host = start.host_str().unwrap_or("").to_ascii_lowercase();
        let site = host.strip_prefix("www.").unwrap_or(&host).to_string();
        Self {
            host,
            site,
            subdomains,
            include: include.iter().map(|p| Pattern::new(p)).collect(),
            exclude: exclude.iter().map(|p| Pattern::new(p)).collect(),
        }
    }

    /// Same site (the start host; with subdomains, any host under the site) and http(s).
    pub fn same_site(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let host = host.to_ascii_lowercase();
        host == self.host || (self.subdomains && (host == self.site || host.ends_with(&format!(".{}", self.site))))
    }

    /// Passes the include patterns (any, when there are some) and no exclude pattern. Patterns
    /// match the path and query; `*` matches any run of characters.
    pub fn wanted(&self, url: &Url) -> bool {
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(&target)))
            && !self.exclude.iter().any(|p| p.matches(&target))
    }
}

/// A glob over a URL's path and query: `*` is any run of characters; a pattern without a leading
/// `/` or `*` may match anywhere.
#[derive(Clone, Debug)]
struct Pattern {
    parts: Vec<String>,
    anchored: bool,
}

impl Pattern {
    fn new(raw: &str) -> Self {
        let anchored = raw.starts_with('/');
        Self { parts: raw.split('*').map(str::to_string).collect(), anchored }
    }

    fn matches(&self, text: &str) -> bool {
        let mut rest = text;
        for (i, part) in self.parts.iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            if i == 0 && self.anchored {
                match rest.strip_prefix(part.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else {
                match rest.find(part.as_str()) {
                    Some(at) => rest = &rest[at + part.len()..],
                    None => return false,
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        page_key(&Url::parse(s).unwrap()).unwrap()
    }

    #[test]
    fn spellings_of_one_page_share_a_key() {
        let k = key("http://site.test/page/5");
        for s in [
            "http://SITE.test:80/page/5",
            "http://site.test/page/5/",
            "http://site.test/page/5#top",
            "http://site.test/page/5?utm_source=x&utm_medium=y",
            "http://site.test/page/5/index.html",
            "http://site.test/page/5?fbclid=abc",
        ] {
            assert_eq!(key(s), k, "{s}");
        }
        assert_eq!(key("http://site.test/a?b=2&a=1"), key("http://site.test/a?a=1&b=2"));
        assert_eq!(key("http://site.test/index.html"), key("http://site.test/"));
        assert_ne!(key("http://site.test/a?id=1"), key("http://site.test/a?id=2"));
        assert_ne!(key("https://site.test/a"), key("http://site.test/a"));
        assert!(page_key(&Url::parse("mailto:a@b").unwrap()).is_none());
    }

    #[test]
    fn fetch_urls_lose_fragments_and_trackers_only() {
        let u = fetch_url(&Url::parse("http://s.test/a/?utm_source=x&id=3#f").unwrap());
        assert_eq!(u.as_str(), "http://s.test/a/?id=3");
        let u = fetch_url(&Url::parse("http://s.test/a?b=2&a=1").unwrap());
        assert_eq!(u.as_str(), "http://s.test/a?b=2&a=1");
    }

    #[test]
    fn scope_by_host_subdomains_and_patterns() {
        let start = Url::parse("http://www.site.test/").unwrap();
        let strict = Scope::new(&start, false, &[], &[]);
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(strict.same_site(&u("http://www.site.test/x")));
        assert!(!strict.same_site(&u("http://cdn.site.test/x")));
        assert!(!strict.same_site(&u("ftp://www.site.test/x")));
        let wide = Scope::new(&start, true, &[], &[]);
        assert!(wide.same_site(&u("http://cdn.site.test/x")));
        assert!(wide.same_site(&u("http://site.test/x")));
        assert!(!wide.same_site(&u("http://evilsite.test/x")));
        let filtered = Scope::new(&start, false, &["/blog/*".into()], &["*/draft*".into(), "print=1".into()]);
        assert!(filtered.wanted(&u("http://www.site.test/blog/a")));
        assert!(!filtered.wanted(&u("http://www.site.test/about")));
        assert!(!filtered.wanted(&u("http://www.site.test/blog/draft-2")));
        assert!(!filtered.wanted(&u("http://www.site.test/blog/a?print=1")));
    }
}
