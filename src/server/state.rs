use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use image_chat_core::Settings;
use image_chat_core::cache::CacheLayers;
use image_chat_core::search::engine::SearchEngine;
use image_chat_core::session::SessionManager;
use leptos::config::LeptosOptions;

use super::rate_limit::RateLimiter;

/// What every handler and server function can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub leptos_options: LeptosOptions,
    pub started: Instant,
    pub sessions: SessionManager,
    pub engine: Arc<SearchEngine>,
    /// The language-model query parser, when `search.parser = "chat"`.
    pub chat_parser: Option<Arc<image_chat_core::search::chat_parser::ChatParser>>,
    pub caches: Arc<CacheLayers>,
    /// Where conversations are kept (the data dir, or Redis when configured).
    pub conversations: Arc<dyn image_chat_core::conversation::ConversationStore>,
    pub crawl_limiter: Arc<RateLimiter>,
    pub chat_limiter: Arc<RateLimiter>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
