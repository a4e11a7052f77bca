use leptos::prelude::*;

use crate::api::get_status;
use crate::types::AppStatus;

/// The health of each component, loaded on the server for the first paint and re-fetched from
/// the browser (a server-function round trip) on "Check again".
#[component]
pub fn StatusPanel() -> impl IntoView {
    let checks = RwSignal::new(0u32);
    let status = Resource::new(move || checks.get(), |_| get_status());
    view! {
        <section class="card status" aria-labelledby="status-title">
            <div class="card-head">
                <h2 id="status-title">"System status"</h2>
                <button
                    type="button"
                    class="secondary"
                    data-testid="refresh-status"
                    on:click=move |_| checks.update(|n| *n += 1)
                >
                    "Check again"
                </button>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Checking\u{2026}"</p> }>
                {move || {
                    status
                        .get()
                        .map(|result| match result {
                            Ok(s) => view! { <StatusTable status=s checks=checks.get_untracked() /> }.into_any(),
                            Err(e) => {
                                view! {
                                    <p class="error" role="alert">
                                        "Could not reach the server: "
                                        {e.to_string()}
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn StatusTable(status: AppStatus, checks: u32) -> impl IntoView {
    let AppStatus { version, status, uptime_secs, components } = status;
    view! {
        <p class="summary" data-testid="status-summary" data-checks=checks>
            <span class=format!("pill {status}")>{status.clone()}</span>
            " version "
            <strong data-testid="version">{version}</strong>
            {format!(" \u{b7} up {uptime_secs} s")}
        </p>
        <ul class="components">
            {components
                .into_iter()
                .map(|c| {
                    view! {
                        <li>
                            <span class=format!("dot {}", c.state) aria-hidden="true"></span>
                            <span class="name">{c.name}</span>
                            <span class="state">{c.state.replace('_', " ")}</span>
                            <span class="detail">{c.detail}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
