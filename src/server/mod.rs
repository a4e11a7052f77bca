//! The axum server around the Leptos app (compiled only with the `ssr` feature).

pub mod convert;
pub mod error;
pub mod events;
pub mod health;
pub mod json_errors;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod serve;
pub mod service;
pub mod startup;
pub mod state;
