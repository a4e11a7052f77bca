//! CSS: stylesheets, declaration blocks, `url()` values and selectors.
#![no_main]

use image_chat_core::extract::css;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let _ = css::stylesheet_rules(input);
    let _ = css::declaration_urls(input);
    let _ = css::urls_in(input);
    let _ = css::selector_subject(input);
    let _ = css::selector_classes(input);
});
