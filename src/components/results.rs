use leptos::prelude::*;

use super::text::safe_link;
use crate::types::ChatResult;

/// Results as an image grid: strong matches first, weaker ones under their own heading, then
/// the closest images that miss a filter of the message (when too few met them all).
#[component]
pub fn ResultGrid(results: Vec<ChatResult>) -> impl IntoView {
    let (unmet, results): (Vec<ChatResult>, Vec<ChatResult>) = results.into_iter().partition(|r| !r.unmet.is_empty());
    let (strong, weaker): (Vec<ChatResult>, Vec<ChatResult>) = results.into_iter().partition(|r| r.strong);
    let has_weaker = !weaker.is_empty();
    let has_unmet = !unmet.is_empty();
    view! {
        <ul class="grid" data-testid="results-strong">
            {strong.into_iter().map(|r| view! { <ResultCard result=r /> }).collect_view()}
        </ul>
        {has_weaker.then(|| view! {
            <h4 class="weaker-title">"Weaker matches"</h4>
            <ul class="grid weaker" data-testid="results-weaker">
                {weaker.into_iter().map(|r| view! { <ResultCard result=r /> }).collect_view()}
            </ul>
        })}
        {has_unmet.then(|| view! {
            <h4 class="weaker-title">"Closest without your filters"</h4>
            <ul class="grid weaker" data-testid="results-unmet">
                {unmet.into_iter().map(|r| view! { <ResultCard result=r /> }).collect_view()}
            </ul>
        })}
    }
}

#[component]
fn ResultCard(result: ChatResult) -> impl IntoView {
    let broken = RwSignal::new(false);
    let caption = if result.alt.is_empty() { result.description.clone() } else { result.alt.clone() };
    let caption = if caption.is_empty() { "(no description)".to_string() } else { caption };
    let src = safe_link(&result.url);
    let page = safe_link(&result.page_url);
    // Width and height reserve the image's box before it loads, so the grid does not jump.
    let (w, h) = match (result.width, result.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => (4, 3),
    };
    let size = match (result.width, result.height) {
        (Some(w), Some(h)) => Some(format!("{w}\u{d7}{h}")),
        (Some(w), None) => Some(format!("{w} px wide")),
        _ => None,
    };
    let score = format!("{:.0}%", (result.scores.fused * 100.0).clamp(0.0, 100.0));
    let alt = result.alt.clone();
    view! {
        <li class="result" data-testid="result" data-url=result.url.clone()>
            <div class="thumb" class:broken=move || broken.get() style=format!("aspect-ratio: {w} / {h}")>
                {src.map(|src| view! {
                    <img
                        src=src
                        alt=alt
                        loading="lazy"
                        decoding="async"
                        width=w
                        height=h
                        referrerpolicy="no-referrer"
                        on:error=move |_| broken.set(true)
                    />
                })}
                <span class="broken-note" aria-hidden="true">"image unavailable"</span>
            </div>
            <p class="caption" data-testid="result-caption">{caption}</p>
            <p class="meta">
                {result.format.clone().map(|f| view! { <span class="badge" data-testid="result-format">{f.to_uppercase()}</span> })}
                {size.map(|s| view! { <span class="size">{s}</span> })}
                <span class="score" title=result.why.clone()>{score}</span>
            </p>
            {(!result.unmet.is_empty()).then(|| view! {
                <p class="unmet small" data-testid="result-unmet">{format!("Not: {}", result.unmet.join(", "))}</p>
            })}
            <p class="why muted small">{result.why.clone()}</p>
            {page.map(|href| view! {
                <a class="source" href=href target="_blank" rel="noopener noreferrer nofollow" data-testid="result-page">
                    "Open source page"
                </a>
            })}
        </li>
    }
}
