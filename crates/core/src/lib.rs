//! image-chat's domain: settings, crawling, extraction, embedding, indexing and search.
//!
//! Nothing in this crate knows about Leptos, axum or the browser, so the same code serves the
//! web app, the JSON API, the CLI and the tests.

pub mod blocking;
pub mod cache;
pub mod config;
pub mod conversation;
pub mod crawl;
pub mod embed;
pub mod enrich;
pub mod error;
pub mod eval;
pub mod extract;
pub mod huge_pages;
mod ids;
pub mod index;
pub mod ingest;
pub mod memory_budget;
pub mod model;
pub mod net;
pub mod probe;
pub mod render;
pub mod search;
pub mod services;
pub mod session;
pub mod timings;

pub use config::Settings;

/// What the seams' async methods return: a boxed, sendable future, so the traits stay
/// object-safe (`Arc<dyn …>` chosen at start-up).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
pub use error::{Error, Result};
