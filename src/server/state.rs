use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use image_chat_core::Settings;
use leptos::config::LeptosOptions;

/// What every handler and server function can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub leptos_options: LeptosOptions,
    pub started: Instant,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
