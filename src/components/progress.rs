use leptos::prelude::*;

use super::UiState;
use super::crawl_form::server_message;
use super::text::{bytes, safe_link};
use crate::api::{cancel_crawl, get_session, list_sessions};
use crate::types::SessionView;

/// Share of the page limit done, 0-100; 100 once the crawl has ended.
fn percent(v: &SessionView) -> u32 {
    if !v.is_running() {
        return 100;
    }
    let done = v.counters.pages_fetched as f64 / f64::from(v.max_pages.max(1));
    (done * 100.0).clamp(0.0, 99.0) as u32
}

/// Live progress of the active crawl: over Server-Sent Events, or by polling when the stream
/// cannot be used.
#[component]
pub fn ProgressPanel() -> impl IntoView {
    let ui = expect_context::<UiState>();
    let stream_failed = RwSignal::new(false);
    let cancel_error = RwSignal::new(None::<String>);

    // After a reload (or on another tab) a crawl that is still running is shown again.
    let sessions = LocalResource::new(list_sessions);
    Effect::new(move |_| {
        let Some(Ok(list)) = sessions.get() else { return };
        if ui.active.get_untracked().is_some() {
            return;
        }
        if let Some(running) = list.sessions.into_iter().find(|s| s.is_running()) {
            ui.active.set(Some(running.id.clone()));
            ui.live.set(Some(running));
        }
    });

    // A memo, so progress updates (which change `live`) do not reopen the stream.
    let running = Memo::new(move |_| ui.live.with(|v| v.as_ref().is_some_and(|v| v.is_running())));
    // One event stream per active running session, closed when it changes or ends.
    Effect::new(move |_| {
        let id = ui.active.get();
        let running = running.get();
        stream_failed.set(false);
        let Some(id) = id.filter(|_| running) else { return };
        #[cfg(feature = "hydrate")]
        {
            let connection = send_wrapper::SendWrapper::new(super::live::connect(&id, ui, stream_failed));
            on_cleanup(move || drop(connection));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = id;
    });

    // The polling fallback.
    Effect::new(move |_| {
        if !stream_failed.get() {
            return;
        }
        let Some(id) = ui.active.get_untracked() else { return };
        if let Ok(handle) = set_interval_with_handle(
            move || {
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(view) = get_session(id).await {
                        let ended = !view.is_running();
                        ui.live.set(Some(view));
                        if ended {
                            stream_failed.set(false);
                            ui.sessions_version.update(|n| *n += 1);
                        }
                    }
                });
            },
            std::time::Duration::from_millis(1500),
        ) {
            on_cleanup(move || handle.clear());
        }
    });

    let cancel = Action::new(|id: &String| cancel_crawl(id.clone()));
    Effect::new(move |_| {
        if let Some(Err(e)) = cancel.value().get() {
            cancel_error.set(Some(server_message(&e.to_string())));
        }
    });

    move || {
        ui.live.get().map(|v| {
            let pct = percent(&v);
            let running = v.is_running();
            let c = v.counters.clone();
            let id = v.id.clone();
            let status = v.status.clone();
            let current = v.current_url.clone();
            view! {
                <section class="card progress" aria-labelledby="progress-title" data-testid="progress" data-status=status.clone()>
                    <div class="card-head">
                        <h2 id="progress-title">
                            {if running { "Crawling " } else { "Crawl of " }}
                            <span class="host">{v.domain.clone()}</span>
                        </h2>
                        <span class=format!("pill {status}") data-testid="crawl-status">{status.clone()}</span>
                    </div>
                    <div
                        class="bar"
                        role="progressbar"
                        aria-label="Pages crawled"
                        aria-valuemin="0"
                        aria-valuemax="100"
                        aria-valuenow=pct
                        data-testid="progress-bar"
                    >
                        <div class="fill" style=format!("width: {pct}%")></div>
                    </div>
                    <p class="muted small">
                        {format!("{pct}% \u{b7} {} of at most {} pages", c.pages_fetched, v.max_pages)}
                        {(!current.is_empty() && running).then(|| view! { <span class="current">" \u{b7} " {current.clone()}</span> })}
                    </p>
                    <dl class="counters">
                        <div><dt>"Pages"</dt><dd data-testid="count-pages">{c.pages_fetched}</dd></div>
                        <div><dt>"Failed"</dt><dd>{c.pages_failed}</dd></div>
                        <div><dt>"Images found"</dt><dd>{c.images_found}</dd></div>
                        <div><dt>"Kept"</dt><dd>{c.images_kept}</dd></div>
                        <div><dt>"Rejected"</dt><dd title="tracking pixels, icons, spacers, placeholders">{c.images_rejected}</dd></div>
                        <div><dt>"Duplicates"</dt><dd>{c.images_deduplicated}</dd></div>
                        <div><dt>"Rendered"</dt><dd data-testid="count-rendered" title="pages rendered in the browser because scripts build what they show; the images only they had">{format!("{} pages \u{b7} {} images", c.pages_rendered, c.images_from_render)}</dd></div>
                        <div><dt>"Searchable"</dt><dd data-testid="count-indexed">{v.images_indexed}</dd></div>
                        <div><dt>"Analysed"</dt><dd data-testid="count-analysed" title="fetched and read for real size, format, transparency and brightness">{v.images_analysed}</dd></div>
                        <div><dt>"Too small"</dt><dd data-testid="count-too-small" title="analysed and found to be a tracking pixel or under 50 px on a side: left out of the index">{v.images_too_small}</dd></div>
                        <div><dt>"Missing"</dt><dd data-testid="count-missing" title="the site answered 404 or 410 for the image, or sent a web page in its place: left out of the index">{v.images_missing}</dd></div>
                        <div><dt>"Downloaded"</dt><dd>{bytes(c.bytes)}</dd></div>
                    </dl>
                    {v.message.clone().map(|m| view! { <p class="note" role="status">{m}</p> })}
                    {(!v.errors.is_empty()).then(|| {
                        let errors = v.errors.clone();
                        view! {
                            <details class="errors">
                                <summary>{format!("{} page errors", errors.len())}</summary>
                                <ul>
                                    {errors
                                        .into_iter()
                                        .map(|e| {
                                            let link = safe_link(&e.url);
                                            view! {
                                                <li>
                                                    {match link {
                                                        Some(href) => view! { <a href=href rel="noopener noreferrer nofollow" target="_blank">{e.url.clone()}</a> }.into_any(),
                                                        None => view! { <span>{e.url.clone()}</span> }.into_any(),
                                                    }}
                                                    ": "
                                                    {e.reason}
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            </details>
                        }
                    })}
                    {running.then(|| {
                        let id = id.clone();
                        view! {
                            <button type="button" class="secondary" data-testid="crawl-cancel" on:click=move |_| { cancel.dispatch(id.clone()); }>
                                "Cancel crawl"
                            </button>
                        }
                    })}
                    <p class="error" role="alert" hidden=move || cancel_error.get().is_none()>{move || cancel_error.get().unwrap_or_default()}</p>
                </section>
            }
        })
    }
}
