//! The render step of a page task: whether a fetched page is rendered in the browser
//! (`render` mode, the raw HTML's signals, what the host taught), rendering it through the
//! renderer fetch seam under the host's politeness, and marking the images only the rendered
//! page has. A render that fails leaves the raw page, with the reason on its outcome.

use std::collections::HashSet;
use std::time::Duration;

use url::Url;

use super::html_cache::{CachedPage, rendered_get, rendered_put};
use super::outcome::RenderDecision;
use super::page::Shared;
use crate::extract::{PageImages, variants};
use crate::model::FoundBy;
use crate::net::{Fetched, Fetcher, Validators, Want};
use crate::render::RenderMode;
use crate::render::need::{self, HostLearning};
use crate::timings::Stage;

/// What a crawl renders with.
pub(super) struct RenderState {
    pub mode: RenderMode,
    /// The renderer; `None` when the browser is not available (then why is in `unavailable`).
    pub renderer: Option<std::sync::Arc<dyn Fetcher>>,
    pub unavailable: Option<String>,
    pub learning: HostLearning,
}

/// How long a rendered DOM may be reused, from the raw page's own freshness.
#[derive(Clone, Copy)]
pub(super) struct Reuse {
    pub fresh_until: u64,
    pub keep: Duration,
    /// The raw page came from the cache unchanged (fresh, or a 304): a cached render still holds.
    pub unchanged: bool,
}

/// Renders the page when the crawl's mode and the page call for it; returns the page to keep
/// and the decision, or `None` when the crawl does not render at all.
pub(super) async fn maybe_render(
    shared: &Shared,
    raw_html_signals: need::Signals,
    raw: PageImages,
    final_url: &Url,
    reuse: Option<Reuse>,
) -> (PageImages, Option<RenderDecision>, u64) {
    let state = &shared.render;
    if state.mode == RenderMode::Never {
        return (raw, None, 0);
    }
    let Some(renderer) = &state.renderer else {
        let why = state.unavailable.clone().unwrap_or_else(|| "no browser".into());
        return (raw, Some(RenderDecision::skipped(format!("not rendered: {why}"))), 0);
    };
    let host = final_url.host_str().unwrap_or("").to_string();
    let why = match state.mode {
        RenderMode::Always => "render = always".to_string(),
        _ => {
            if let Some(stopped) = state.learning.stopped(&host) {
                return (raw, Some(RenderDecision::skipped(stopped)), 0);
            }
            if !raw_html_signals.wants_render() {
                return (raw, Some(RenderDecision::skipped(format!("not needed: {}", raw_html_signals.why()))), 0);
            }
            raw_html_signals.why()
        }
    };
    let (html, note, render_url) = match cached_render(shared, final_url, reuse).await {
        Some(hit) => hit,
        None => {
            let permit = shared.slot(&host, Stage::Render).await;
            let fetched = shared
                .clock
                .time(
                    Stage::Render,
                    renderer.fetch(final_url, Want::Html, &|next| shared.may_follow(next), &Validators::default()),
                )
                .await;
            drop(permit);
            match fetched {
                Fetched::Body(body) => {
                    if let Some(r) = reuse {
                        let entry = CachedPage {
                            final_url: body.final_url.to_string(),
                            body: Some(body.text.clone()),
                            fresh_until: r.fresh_until,
                            validators: Validators::default(),
                        };
                        rendered_put(shared.cache.as_ref(), final_url, &entry, r.keep).await;
                    }
                    (body.text, body.rendered, body.final_url)
                }
                Fetched::Failed(e) => {
                    let mut d = RenderDecision::skipped(format!("{e}; the page as sent was used"));
                    d.why = format!("{why}, but {}", d.why);
                    return (raw, Some(d), 0);
                }
                Fetched::Redirected { to } => {
                    let d = RenderDecision::skipped(format!(
                        "{why}, but a script went to {to}, which the crawl does not follow; the page as sent was used"
                    ));
                    return (raw, Some(d), 0);
                }
                Fetched::NotHtml { .. } | Fetched::NotModified { .. } => {
                    return (raw, Some(RenderDecision::skipped(format!("{why}, but the browser gave no page"))), 0);
                }
            }
        }
    };
    let bytes = html.len() as u64;
    let rendered =
        match super::page::extract_blocking(html, render_url, false, shared.stop.clone(), shared.clock.clone()).await {
            Ok((page, _)) => page,
            Err(outcome) => {
                let d = RenderDecision::skipped(format!(
                    "{why}, but the rendered page could not be read ({outcome:?}); the page as sent was used"
                ));
                return (raw, Some(d), 0);
            }
        };
    let (page, added) = merge(raw, rendered);
    if state.mode == RenderMode::Auto {
        state.learning.record(&host, added > 0);
    }
    let decision = RenderDecision {
        rendered: true,
        why: if note.is_some() { why } else { format!("{why} (the rendered copy in the cache)") },
        ms: note.map(|n| n.elapsed_ms),
        added_images: added as u32,
        budget_ran_out: note.is_some_and(|n| n.budget_ran_out),
    };
    (page, Some(decision), bytes)
}

async fn cached_render(
    shared: &Shared,
    url: &Url,
    reuse: Option<Reuse>,
) -> Option<(String, Option<crate::net::RenderNote>, Url)> {
    if !reuse.is_some_and(|r| r.unchanged) {
        return None;
    }
    let hit = rendered_get(shared.cache.as_ref(), url).await?;
    let final_url = Url::parse(&hit.final_url).ok()?;
    Some((hit.body?, None, final_url))
}

/// The rendered page, its images marked `found_by: render` where the raw page lacked them;
/// returns how many those are. Images only the raw page had (a `<noscript>` copy a script
/// replaced) are kept too.
fn merge(raw: PageImages, mut rendered: PageImages) -> (PageImages, usize) {
    let known: HashSet<String> = raw.images.iter().map(|i| variants::identity_key(&i.url)).collect();
    let mut added = 0;
    for image in &mut rendered.images {
        if !known.contains(&variants::identity_key(&image.url)) {
            image.found_by = FoundBy::Render;
            added += 1;
        }
    }
    let now: HashSet<String> = rendered.images.iter().map(|i| variants::identity_key(&i.url)).collect();
    rendered.images.extend(raw.images.into_iter().filter(|i| !now.contains(&variants::identity_key(&i.url))));
    let links: HashSet<Url> = rendered.links.iter().cloned().collect();
    rendered.links.extend(raw.links.into_iter().filter(|l| !links.contains(l)));
    (rendered, added)
}
