//! JSON-LD blocks (`<script type="application/ld+json">`): the image URLs they name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let _ = image_chat_core::extract::jsonld::image_urls(input);
});
