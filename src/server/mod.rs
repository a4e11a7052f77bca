//! The axum server around the Leptos app (compiled only with the `ssr` feature).

pub mod health;
pub mod startup;
pub mod state;
