//! Sitemaps and sitemap indexes (XML, plain text, gzip): read whole and within a limit.
#![no_main]

use image_chat_core::crawl::sitemap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let all = sitemap::parse(body);
    let some = sitemap::parse_at_most(body, 3);
    // The limited reading is the start of the whole one, and says when it stopped short.
    assert!(some.pages.len() + some.children.len() <= 3);
    assert!(all.pages.starts_with(&some.pages) && all.children.starts_with(&some.children));
    if all.pages.len() + all.children.len() > 3 {
        assert!(some.truncated);
    }
});
