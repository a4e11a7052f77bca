use leptos::prelude::*;

use super::UiState;
use super::text::check_url;
use crate::api::start_crawl;
use crate::types::CrawlForm;

fn patterns(text: &str) -> Vec<String> {
    text.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// The crawl form: a URL and a page limit, the rest folded away. Checked here first, then by the
/// server, whose message is shown as is.
#[component]
pub fn CrawlFormPanel() -> impl IntoView {
    let ui = expect_context::<UiState>();
    let url = RwSignal::new(String::new());
    let max_pages = RwSignal::new("50".to_string());
    let max_depth = RwSignal::new(String::new());
    let include = RwSignal::new(String::new());
    let exclude = RwSignal::new(String::new());
    let subdomains = RwSignal::new(false);
    // Empty: the server's `crawler.render`.
    let render = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let start = Action::new(|form: &CrawlForm| start_crawl(form.clone()));
    let pending = start.pending();

    Effect::new(move |_| {
        if let Some(result) = start.value().get() {
            match result {
                Ok(started) => {
                    error.set(None);
                    ui.live.set(Some(started.session.clone()));
                    ui.active.set(Some(started.session_id.clone()));
                    ui.search_in.set(Some(started.session_id));
                    ui.sessions_version.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(server_message(&e.to_string()))),
            }
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Err(message) = check_url(&url.get_untracked()) {
            error.set(Some(message));
            return;
        }
        let pages = max_pages.get_untracked();
        let max_pages = match pages.trim().parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                error.set(Some("Pages must be a whole number of at least 1".into()));
                return;
            }
        };
        let depth = max_depth.get_untracked();
        let max_depth = match depth.trim() {
            "" => None,
            d => match d.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    error.set(Some("Depth must be a whole number".into()));
                    return;
                }
            },
        };
        error.set(None);
        start.dispatch(CrawlForm {
            url: url.get_untracked().trim().to_string(),
            max_pages: Some(max_pages),
            max_depth,
            include: patterns(&include.get_untracked()),
            exclude: patterns(&exclude.get_untracked()),
            subdomains: subdomains.get_untracked(),
            render: Some(render.get_untracked()).filter(|r| !r.is_empty()),
        });
    };

    view! {
        <section class="card" aria-labelledby="crawl-title">
            <h2 id="crawl-title">"1. Crawl a site"</h2>
            <form class="crawl-form" on:submit=submit novalidate=true data-testid="crawl-form">
                <div class="row">
                    <label class="grow">
                        <span>"Site address"</span>
                        <input
                            type="url"
                            name="url"
                            placeholder="https://example.org/"
                            required=true
                            autocomplete="url"
                            data-testid="crawl-url"
                            prop:value=move || url.get()
                            on:input=move |ev| url.set(event_target_value(&ev))
                            aria-invalid=move || error.get().is_some().to_string()
                            aria-describedby="crawl-error"
                        />
                    </label>
                    <label class="narrow">
                        <span>"Pages"</span>
                        <input
                            type="number"
                            name="max_pages"
                            min="1"
                            inputmode="numeric"
                            data-testid="crawl-max-pages"
                            prop:value=move || max_pages.get()
                            on:input=move |ev| max_pages.set(event_target_value(&ev))
                        />
                    </label>
                    <button type="submit" data-testid="crawl-submit" disabled=move || pending.get()>
                        {move || if pending.get() { "Starting\u{2026}" } else { "Crawl" }}
                    </button>
                </div>
                <details class="advanced">
                    <summary>"Advanced options"</summary>
                    <div class="row">
                        <label class="narrow">
                            <span>"Link depth"</span>
                            <input
                                type="number"
                                min="0"
                                placeholder="5"
                                prop:value=move || max_depth.get()
                                on:input=move |ev| max_depth.set(event_target_value(&ev))
                            />
                        </label>
                        <label class="grow">
                            <span>"Only paths like (comma-separated, * = anything)"</span>
                            <input
                                type="text"
                                placeholder="/blog/*"
                                prop:value=move || include.get()
                                on:input=move |ev| include.set(event_target_value(&ev))
                            />
                        </label>
                        <label class="grow">
                            <span>"Skip paths like"</span>
                            <input
                                type="text"
                                placeholder="/tag/*, /search*"
                                prop:value=move || exclude.get()
                                on:input=move |ev| exclude.set(event_target_value(&ev))
                            />
                        </label>
                        <label class="check">
                            <input
                                type="checkbox"
                                prop:checked=move || subdomains.get()
                                on:change=move |ev| subdomains.set(event_target_checked(&ev))
                            />
                            <span>"Include subdomains"</span>
                        </label>
                        <label>
                            <span>"Render JavaScript"</span>
                            <select
                                data-testid="render-mode"
                                prop:value=move || render.get()
                                on:change=move |ev| render.set(event_target_value(&ev))
                            >
                                <option value="">"Server default"</option>
                                <option value="auto">"When a page needs it"</option>
                                <option value="always">"Every page"</option>
                                <option value="never">"Never"</option>
                            </select>
                        </label>
                    </div>
                </details>
                <p id="crawl-error" class="error" role="alert" data-testid="crawl-error" hidden=move || error.get().is_none()>
                    {move || error.get().unwrap_or_default()}
                </p>
            </form>
        </section>
    }
}

/// A server function's error without the framework's prefix.
pub fn server_message(text: &str) -> String {
    let text = text.strip_prefix("error running server function: ").unwrap_or(text);
    text.strip_prefix("ServerFnError: ").unwrap_or(text).to_string()
}
