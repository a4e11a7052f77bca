pub mod chat;
pub mod crawl_form;
#[cfg(feature = "hydrate")]
mod live;
pub mod progress;
pub mod results;
pub mod status_panel;
pub mod text;

use leptos::prelude::*;

use crate::types::SessionView;

/// What the home page's panels share.
#[derive(Clone, Copy)]
pub struct UiState {
    /// The crawl whose progress is shown (the one just started, or picked).
    pub active: RwSignal<Option<String>>,
    /// Its latest known state, from the event stream or polling.
    pub live: RwSignal<Option<SessionView>>,
    /// Bumped when the list of sessions changes (a crawl started or ended).
    pub sessions_version: RwSignal<u32>,
    /// The session chat searches: `None` for all.
    pub search_in: RwSignal<Option<String>>,
}

impl UiState {
    pub fn new() -> Self {
        Self {
            active: RwSignal::new(None),
            live: RwSignal::new(None),
            sessions_version: RwSignal::new(0),
            search_in: RwSignal::new(None),
        }
    }
}

impl Default for UiState {
    fn default() -> Self {
        Self::new()
    }
}
