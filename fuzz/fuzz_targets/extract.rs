//! A page's HTML through the crawler's extraction (budget check, chunked parse, walk).
#![no_main]

use std::sync::atomic::AtomicBool;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|html: &str| {
    let page = url::Url::parse("http://fuzz.test/dir/page.html").unwrap();
    let stop = AtomicBool::new(false);
    if let Ok(found) = image_chat_core::extract::extract_within(html, &page, &stop) {
        for image in &found.images {
            // Every kept image is an absolute http(s) URL, or an inline `data:` image.
            assert!(matches!(image.url.scheme(), "http" | "https" | "data"), "{}", image.url);
        }
    }
});
