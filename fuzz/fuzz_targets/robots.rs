//! robots.txt bodies, then paths asked about against them.
#![no_main]

use image_chat_core::net::robots::Robots;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    // The last line is also asked about, as a URL of the site.
    let robots = Robots::parse(input);
    let last = input.lines().last().unwrap_or("");
    for url in ["http://fuzz.test/", "http://fuzz.test/a/b?c=d", &format!("http://fuzz.test/{last}")] {
        let _ = robots.allowed(url);
    }
});
