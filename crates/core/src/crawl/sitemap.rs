//! Sitemaps (`<urlset>` and `<sitemapindex>`, plain or gzip): page URLs to crawl beside the
//! links. Read leniently (`<loc>` elements), with limits on size and count.

use std::collections::{HashSet, VecDeque};
use std::io::Read;
use std::sync::Arc;

use tokio::sync::mpsc;
use url::Url;

use super::MAX_SITEMAPS;
use super::page::Shared;
use crate::net::{Fetched, Want};

/// Largest sitemap read, after decompression (the protocol's own limit is 50 MB).
pub const MAX_SITEMAP_BYTES: usize = 50 * 1024 * 1024;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sitemap {
    /// Page URLs (`<url><loc>`).
    pub pages: Vec<String>,
    /// Child sitemaps (`<sitemap><loc>` of an index).
    pub children: Vec<String>,
    /// More entries than were asked for were there; the reading stopped.
    pub truncated: bool,
}

/// Parses a sitemap body; gzip bodies are inflated first.
pub fn parse(body: &[u8]) -> Sitemap {
    parse_at_most(body, usize::MAX)
}

/// [`parse`], stopping after `limit` entries: a sitemap of a million URLs costs what a crawl
/// will use of it, not a million strings.
pub fn parse_at_most(body: &[u8], limit: usize) -> Sitemap {
    let inflated;
    let bytes = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let _ = flate2::read::GzDecoder::new(body).take(MAX_SITEMAP_BYTES as u64).read_to_end(&mut out);
        inflated = out;
        &inflated[..]
    } else {
        &body[..body.len().min(MAX_SITEMAP_BYTES)]
    };
    let text = String::from_utf8_lossy(bytes);
    let is_index = text.contains("<sitemapindex");
    let mut out = Sitemap::default();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("<loc>") {
        if out.pages.len() + out.children.len() >= limit {
            out.truncated = true;
            break;
        }
        let after = &rest[start + 5..];
        let Some(end) = after.find("</loc>") else { break };
        let loc = unescape(after[..end].trim().trim_start_matches("<![CDATA[").trim_end_matches("]]>").trim());
        if !loc.is_empty() {
            if is_index { out.children.push(loc) } else { out.pages.push(loc) }
        }
        rest = &after[end + 6..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Finds the site's sitemaps (those its robots.txt lists, else `/sitemap.xml`), follows their
/// indexes (at most [`MAX_SITEMAPS`] files, same site only) and sends at most `budget` of their
/// page URLs to the crawl, counting in `shared.sitemaps_cut` the sitemaps it read only in part
/// or left unread past the budget. Parsing and resolving run off the async threads.
pub(super) async fn discover(
    shared: Arc<Shared>,
    start: Url,
    listed: Vec<String>,
    budget: usize,
    tx: mpsc::Sender<Vec<Url>>,
) {
    let mut queue: VecDeque<Url> =
        listed.iter().filter_map(|s| start.join(s).ok()).filter(|u| shared.scope.same_site(u)).collect();
    if queue.is_empty() {
        queue.push_back(start.join("/sitemap.xml").expect("joins any http(s) URL"));
    }
    let cut = || shared.sitemaps_cut.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (mut read, mut sent) = (0, 0usize);
    let mut visited = HashSet::new();
    while let Some(url) = queue.pop_front() {
        if read >= MAX_SITEMAPS || !visited.insert(url.to_string()) {
            continue;
        }
        if sent >= budget {
            // The rest of the sitemaps are not even fetched.
            cut();
            continue;
        }
        read += 1;
        let host = url.host_str().unwrap_or("").to_string();
        let permit = shared.slot(&host, crate::timings::Stage::FetchPages).await;
        let fetched = shared.fetcher.get(&url, Want::Any, &|n| shared.scope.same_site(n)).await;
        drop(permit);
        let Fetched::Body(body) = fetched else { continue };
        let room = budget - sent;
        let children_room = MAX_SITEMAPS.saturating_sub(read + queue.len());
        let base = url.clone();
        let read_one = move || {
            let parsed = parse_at_most(&body.raw, room.max(children_room));
            let children: Vec<Url> = parsed.children.iter().filter_map(|c| base.join(c).ok()).collect();
            let pages: Vec<Url> = parsed.pages.iter().take(room).filter_map(|p| base.join(p).ok()).collect();
            (children, pages, parsed.truncated || parsed.pages.len() > room)
        };
        let Ok((children, pages, truncated)) = tokio::task::spawn_blocking(read_one).await else { continue };
        queue.extend(children.into_iter().filter(|u| shared.scope.same_site(u)));
        if truncated {
            cut();
        }
        sent += pages.len();
        if !pages.is_empty() && tx.send(pages).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn urlsets_indexes_and_gzip() {
        let set = parse(b"<?xml version=\"1.0\"?><urlset><url><loc> http://s.test/a?x=1&amp;y=2 </loc></url><url><loc><![CDATA[http://s.test/b]]></loc></url></urlset>");
        assert_eq!(set.pages, vec!["http://s.test/a?x=1&y=2", "http://s.test/b"]);
        let index = parse(b"<sitemapindex><sitemap><loc>http://s.test/s1.xml</loc></sitemap></sitemapindex>");
        assert_eq!(index.children, vec!["http://s.test/s1.xml"]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<urlset><url><loc>http://s.test/z</loc></url></urlset>").unwrap();
        assert_eq!(parse(&gz.finish().unwrap()).pages, vec!["http://s.test/z"]);
        assert_eq!(parse(b"<loc>unterminated"), Sitemap::default());
        assert_eq!(parse(&[0x1f, 0x8b, 0, 1, 2]), Sitemap::default());
    }

    #[test]
    fn a_huge_sitemap_is_read_only_as_far_as_asked() {
        let body: String = (0..100_000).map(|i| format!("<url><loc>http://s.test/p{i}</loc></url>")).collect();
        let set = parse_at_most(format!("<urlset>{body}</urlset>").as_bytes(), 25);
        assert_eq!((set.pages.len(), set.truncated), (25, true));
        let small = parse_at_most(b"<urlset><url><loc>http://s.test/a</loc></url></urlset>", 25);
        assert_eq!((small.pages.len(), small.truncated), (1, false));
    }
}
