//! Chat messages: the rules parser, and a message read as a follow-up to the request it parsed.
#![no_main]

use image_chat_core::conversation::follow_up;
use image_chat_core::search::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    // The first line is the request, the rest a follow-up to it.
    let (first, rest) = input.split_once('\n').unwrap_or((input, ""));
    let Ok(query) = parse(first) else { return };
    let _ = follow_up::read(&query, rest);
    let _ = follow_up::read(&query, first);
});
