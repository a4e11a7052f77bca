#![recursion_limit = "256"]
//! The image-chat web app: Leptos components rendered on the server and hydrated in the browser,
//! server functions, and (with the `ssr` feature) the axum server around them.

pub mod api;
pub mod app;
pub mod components;
pub mod pages;
pub mod types;

#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
