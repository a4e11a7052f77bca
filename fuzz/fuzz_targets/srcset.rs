//! `srcset` attribute values: candidates parsed, then one selected for a viewport.
#![no_main]

use image_chat_core::extract::srcset;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let candidates = srcset::parse(input);
    for sizes in [0.0, 1.0, 360.0, 1920.0, f64::MAX] {
        if let Some(c) = srcset::select(&candidates, sizes) {
            assert!(candidates.iter().any(|k| std::ptr::eq(k, c)));
        }
    }
});
