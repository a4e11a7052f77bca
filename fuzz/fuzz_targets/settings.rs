//! A settings file's text and `IMAGE_CHAT__*` variables (the lines after a `---` line, as
//! `NAME=value`): settings or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let (file, env) = input.split_once("\n---\n").unwrap_or((input, ""));
    let env = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("IMAGE_CHAT__{k}"), v.to_string()));
    let _ = image_chat_core::Settings::from_toml(file, "fuzz", env);
});
