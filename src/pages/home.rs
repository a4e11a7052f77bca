use leptos::prelude::*;

use crate::components::UiState;
use crate::components::chat::ChatPanel;
use crate::components::crawl_form::CrawlFormPanel;
use crate::components::progress::ProgressPanel;
use crate::components::status_panel::StatusPanel;

#[component]
pub fn HomePage() -> impl IntoView {
    provide_context(UiState::new());
    view! {
        <section class="intro">
            <h1>"Find images by describing them"</h1>
            <p>
                "image-chat crawls a website, collects every image with the words around it, and lets you "
                "search them in plain language: \u{201c}PNG images of the Apple Watch\u{201d}, "
                "\u{201c}high-resolution photos without people\u{201d}. Everything runs on this machine."
            </p>
        </section>
        <CrawlFormPanel />
        <ProgressPanel />
        <ChatPanel />
        <StatusPanel />
    }
}
