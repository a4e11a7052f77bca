//! robots.txt: allow/deny through the `robotstxt` crate (a port of Google's parser and matcher),
//! plus the Crawl-delay and Sitemap lines it leaves to us; its patterns are matched by our own
//! linear matcher (`robots_match`).
//!
//! The crate predates one later change of Google's library: Sitemap and unknown lines no longer
//! end a user-agent group. We get that behaviour by matching against the directives the crate's
//! own parser recognised (user-agent, allow, disallow, typos included), re-emitted without the
//! other lines; with that, every allow/deny case of Google's current test suite passes.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use robotstxt::RobotsParseHandler;
use robotstxt::matcher::RobotsMatcher;

use super::robots_match::LinearLongestMatch;

/// The product token our rules are matched against (`User-agent: image-chat`).
pub const ROBOTS_AGENT: &str = "image-chat";
/// Longest Crawl-delay honoured; a site asking for more is crawled this slowly.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(30);
/// robots.txt bodies larger than this are cut (Google reads 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;

#[derive(Clone, Debug)]
pub enum Robots {
    /// No robots.txt (4xx), or robots.txt not respected: everything allowed.
    AllowAll,
    /// The server failed (5xx, network): nothing allowed, as RFC 9309 asks.
    DisallowAll(String),
    Rules {
        body: String,
        crawl_delay: Option<Duration>,
        sitemaps: Vec<String>,
    },
}

/// The longest line the parser reads whole (Google's kMaxLineLen, less its terminator); the
/// rest of a longer line is ignored, as Google's parser ignores it.
const MAX_LINE_BYTES: usize = 2083 * 8 - 2;

/// Lines cut to [`MAX_LINE_BYTES`] at a character boundary. The crate skips the rest of an
/// over-long line itself, but counts the skipped part in characters and moves by bytes: with
/// any multi-byte character there it slices inside one and panics (found by fuzzing), and the
/// site's robots.txt would read as unparseable, so nothing of it would be crawled.
fn cut_long_lines(body: &str) -> std::borrow::Cow<'_, str> {
    let long = body.split(['\n', '\r']).any(|line| line.len() > MAX_LINE_BYTES);
    if !long {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = &rest[..end];
        let mut keep = line.len().min(MAX_LINE_BYTES);
        while !line.is_char_boundary(keep) {
            keep -= 1;
        }
        out.push_str(&line[..keep]);
        let terminator = rest[end..].chars().next().map_or(0, char::len_utf8);
        out.push_str(&rest[end..end + terminator]);
        rest = &rest[end + terminator..];
    }
    std::borrow::Cow::Owned(out)
}

impl Robots {
    pub fn parse(body: &str) -> Self {
        let mut body = body.to_string();
        if body.len() > MAX_ROBOTS_BYTES {
            let mut cut = MAX_ROBOTS_BYTES;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        let body = cut_long_lines(&body);
        let mut extras = Extras::default();
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| robotstxt::parse_robotstxt(&body, &mut extras)));
        if parsed.is_err() {
            return Self::DisallowAll("robots.txt could not be parsed".into());
        }
        let crawl_delay = extras.specific_delay.or(extras.star_delay).map(|d| d.min(MAX_CRAWL_DELAY));
        Self::Rules { body: extras.rules, crawl_delay, sitemaps: extras.sitemaps }
    }

    /// What a fetch of robots.txt means (RFC 9309): a body is the rules, a 4xx (or a redirect
    /// the caller would not follow) allows everything, any other failure allows nothing.
    pub fn from_fetched(fetched: super::fetch::Fetched) -> Self {
        use super::fetch::Fetched;
        match fetched {
            Fetched::Body(body) => Self::parse(&body.text),
            // RFC 9309 2.3.1.3-4: "unavailable" (4xx) means no rules; "unreachable" (5xx, a
            // network failure) means none of the site may be crawled, and a 429 is treated like
            // a 5xx — a site asking us to slow down has not told us its rules.
            Fetched::Failed(e) => match e.status() {
                Some(status) if (400..500).contains(&status) && status != 429 => Self::AllowAll,
                _ => Self::DisallowAll(e.to_string()),
            },
            Fetched::Redirected { .. } | Fetched::NotHtml { .. } | Fetched::NotModified { .. } => Self::AllowAll,
        }
    }

    /// Whether we (`image-chat`) may fetch `url`.
    pub fn allowed(&self, url: &str) -> bool {
        self.allowed_for(ROBOTS_AGENT, url)
    }

    /// Whether `agent` (a product token such as `FooBot`) may fetch `url`.
    pub fn allowed_for(&self, agent: &str, url: &str) -> bool {
        match self {
            Self::AllowAll => true,
            Self::DisallowAll(_) => false,
            Self::Rules { body, .. } => std::panic::catch_unwind(AssertUnwindSafe(|| {
                RobotsMatcher::<LinearLongestMatch>::default().one_agent_allowed_by_robots(body, agent, url)
            }))
            .unwrap_or(false),
        }
    }

    pub fn crawl_delay(&self) -> Option<Duration> {
        match self {
            Self::Rules { crawl_delay, .. } => *crawl_delay,
            _ => None,
        }
    }

    pub fn sitemaps(&self) -> &[String] {
        match self {
            Self::Rules { sitemaps, .. } => sitemaps,
            _ => &[],
        }
    }
}

/// Collects what the matcher ignores: Sitemap lines, and Crawl-delay of the group that applies
/// to us (our own group wins over `*`).
#[derive(Default)]
struct Extras {
    /// The group directives alone, one per line, as the matcher reads them.
    rules: String,
    sitemaps: Vec<String>,
    group_is_ours: bool,
    group_is_star: bool,
    in_agent_lines: bool,
    specific_delay: Option<Duration>,
    star_delay: Option<Duration>,
}

impl RobotsParseHandler for Extras {
    fn handle_robots_start(&mut self) {}
    fn handle_robots_end(&mut self) {}

    fn handle_user_agent(&mut self, _line: u32, agent: &str) {
        self.rules.push_str(&format!("user-agent: {agent}\n"));
        if !self.in_agent_lines {
            self.group_is_ours = false;
            self.group_is_star = false;
            self.in_agent_lines = true;
        }
        let agent = agent.trim().to_ascii_lowercase();
        let token: String = agent.chars().take_while(|c| c.is_ascii_alphabetic() || *c == '-' || *c == '_').collect();
        self.group_is_star |= agent.starts_with('*');
        self.group_is_ours |= token == ROBOTS_AGENT;
    }

    fn handle_allow(&mut self, _line: u32, value: &str) {
        self.rules.push_str(&format!("allow: {value}\n"));
        self.in_agent_lines = false;
    }

    fn handle_disallow(&mut self, _line: u32, value: &str) {
        self.rules.push_str(&format!("disallow: {value}\n"));
        self.in_agent_lines = false;
    }

    fn handle_sitemap(&mut self, _line: u32, value: &str) {
        if self.sitemaps.len() < 100 && !value.trim().is_empty() {
            self.sitemaps.push(value.trim().to_string());
        }
    }

    fn handle_unknown_action(&mut self, _line: u32, action: &str, value: &str) {
        if !action.eq_ignore_ascii_case("crawl-delay") {
            return;
        }
        let Some(secs) = value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0) else { return };
        let delay = Duration::from_secs_f64(secs.min(MAX_CRAWL_DELAY.as_secs_f64()));
        if self.group_is_ours {
            self.specific_delay = Some(delay);
        } else if self.group_is_star {
            self.star_delay = Some(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_over_long_line_with_multibyte_characters_is_cut_not_fatal() {
        // The crate's own skipping of an over-long line sliced inside a character and panicked,
        // and the whole robots.txt read as unparseable (found by fuzzing).
        let body = format!("User-agent: *\nDisallow: /private\nAllow: /{}\n", "é".repeat(MAX_LINE_BYTES));
        let robots = Robots::parse(&body);
        assert!(matches!(robots, Robots::Rules { .. }), "{robots:?}");
        assert!(!robots.allowed("http://a.test/private/x"));
        assert!(robots.allowed("http://a.test/public"));
        let cut = cut_long_lines(&body);
        assert!(cut.split('\n').all(|l| l.len() <= MAX_LINE_BYTES));
        assert!(cut.starts_with("User-agent: *\nDisallow: /private\n"));
        assert!(matches!(cut_long_lines("short\r\nlines\n"), std::borrow::Cow::Borrowed(_)));
    }
    use crate::net::fetch::{FetchError, Fetched};

    #[test]
    fn rfc_9309_status_handling() {
        let failed = |e: FetchError| Robots::from_fetched(Fetched::Failed(e));
        // Unavailable (4xx): crawl as if there were no robots.txt.
        for status in [400, 401, 403, 404, 410, 451] {
            assert!(matches!(failed(FetchError::Status { status, retries: 0 }), Robots::AllowAll), "{status}");
        }
        // Unreachable (5xx, the network) and 429, even after retries: crawl nothing.
        for e in [
            FetchError::Status { status: 429, retries: 2 },
            FetchError::Status { status: 429, retries: 0 },
            FetchError::RetryAfterTooLong { status: 429, secs: 3600 },
            FetchError::Status { status: 500, retries: 0 },
            FetchError::Status { status: 503, retries: 2 },
            FetchError::Timeout("timed out".into()),
            FetchError::Network("connection refused".into()),
        ] {
            let reason = e.to_string();
            assert!(matches!(failed(e), Robots::DisallowAll(r) if r == reason), "{reason}");
        }
    }

    #[test]
    fn rules_delay_and_sitemaps() {
        let r = Robots::parse(
            "User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n\nUser-agent: image-chat\nDisallow: /no-bots/\nCrawl-delay: 0.5\n\nSitemap: http://s.test/sitemap.xml\n",
        );
        assert!(!r.allowed("http://s.test/no-bots/x"));
        assert!(r.allowed("http://s.test/private/x"), "our own group replaces the * group");
        assert_eq!(r.crawl_delay(), Some(Duration::from_millis(500)));
        assert_eq!(r.sitemaps(), ["http://s.test/sitemap.xml"]);
        let star = Robots::parse("User-agent: *\nDisallow: /private/\nCrawl-delay: 99\n");
        assert!(!star.allowed("http://s.test/private/x"));
        assert_eq!(star.crawl_delay(), Some(MAX_CRAWL_DELAY));
        assert!(!Robots::DisallowAll("503".into()).allowed("http://s.test/"));
        assert!(Robots::AllowAll.allowed("http://s.test/"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for body in [
            "",
            "\u{feff}",
            "User-agent",
            ":::",
            "Disallow: \u{0}",
            &"a".repeat(600_000),
            "User-agent: *\nDisallow: /é*$",
        ] {
            let r = Robots::parse(body);
            let _ = r.allowed("http://s.test/é");
        }
    }
}
