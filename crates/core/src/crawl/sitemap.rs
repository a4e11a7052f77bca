//! Sitemaps (`<urlset>` and `<sitemapindex>`, plain or gzip): page URLs to crawl beside the
//! links. Read leniently (`<loc>` elements), with limits on size and count.

use std::io::Read;

/// Largest sitemap read, after decompression (the protocol's own limit is 50 MB).
pub const MAX_SITEMAP_BYTES: usize = 50 * 1024 * 1024;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sitemap {
    /// Page URLs (`<url><loc>`).
    pub pages: Vec<String>,
    /// Child sitemaps (`<sitemap><loc>` of an index).
    pub children: Vec<String>,
}

/// Parses a sitemap body; gzip bodies are inflated first.
pub fn parse(body: &[u8]) -> Sitemap {
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
}
