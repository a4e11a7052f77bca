//! Domain types into the API's types (`crate::types`).

use image_chat_core::conversation::{Answered, Change};
use image_chat_core::crawl::Counters;
use image_chat_core::search::Query;
use image_chat_core::search::engine::SearchResult;
use image_chat_core::session::SessionRecord;

use crate::types::{
    ChangeView, ChatResponse, ChatResult, Chip, CrawlCounters, PageErrorView, ParsedQuery, PreviousQuery,
    QueueTimingView, Scores, SessionView, StageTimingView, TimingsView,
};

fn snake<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

pub fn counters(c: &Counters) -> CrawlCounters {
    CrawlCounters {
        pages_queued: c.pages_queued,
        pages_fetched: c.pages_fetched,
        pages_failed: c.pages_failed,
        pages_skipped: c.pages_skipped,
        pages_from_cache: c.pages_from_cache,
        images_found: c.images_found,
        images_kept: c.images_kept,
        images_rejected: c.images_rejected,
        rejected_by_reason: c.rejected_by_reason.clone(),
        images_deduplicated: c.images_deduplicated,
        bytes: c.bytes,
        sitemaps_cut: c.sitemaps_cut,
        pages_rendered: c.pages_rendered,
        render_ms: c.render_ms,
        images_from_render: c.images_from_render,
        pages_dead: c.pages_dead,
        pages_ok: c.pages_ok,
    }
}

pub fn session(r: &SessionRecord) -> SessionView {
    SessionView {
        id: r.id.to_string(),
        start_url: r.start_url.clone(),
        domain: r.domain.clone(),
        status: r.status.as_str().to_string(),
        created_at: r.created_at,
        updated_at: r.updated_at,
        finished_at: r.finished_at,
        max_pages: r.max_pages,
        max_depth: r.max_depth,
        counters: counters(&r.counters),
        images_indexed: r.images_indexed,
        images_embedded: r.images_embedded,
        images_analysed: r.images_analysed,
        images_too_small: r.images_too_small,
        images_missing: r.images_missing,
        current_url: r.current_url.clone(),
        stop: r.stop.as_ref().map(snake),
        errors: r.errors.iter().map(|e| PageErrorView { url: e.url.clone(), reason: e.reason.clone() }).collect(),
        message: r.message.clone(),
        elapsed_ms: r.elapsed_ms,
        timings: r.timings.as_ref().map(timings),
    }
}

fn timings(t: &image_chat_core::timings::Timings) -> TimingsView {
    TimingsView {
        wall_ms: t.wall_ms,
        floor_ms: t.floor.ms,
        floor_host: t.floor.host.clone(),
        page_requests: t.floor.page_requests,
        image_requests: t.floor.image_requests,
        mean_request_ms: t.floor.mean_request_ms,
        per_host_concurrency: t.floor.per_host_concurrency,
        wall_over_floor: t.wall_over_floor,
        stages: t
            .stages
            .iter()
            .map(|s| StageTimingView {
                stage: s.stage.clone(),
                items: s.items,
                busy_ms: s.busy_ms,
                waited_for_slot_ms: s.waited_for_slot_ms,
                waited_for_input_ms: s.waited_for_input_ms,
                waited_on_next_ms: s.waited_on_next_ms,
            })
            .collect(),
        queues: t.queues.iter().map(|q| QueueTimingView { queue: q.queue.clone(), max: q.max, mean: q.mean }).collect(),
    }
}

/// Why a result matched, in words a person reads under the image.
fn why(r: &SearchResult) -> String {
    let mut parts = Vec::new();
    if !r.matched_terms.is_empty() {
        parts.push(format!("mentions {}", r.matched_terms.join(", ")));
    }
    if let Some(v) = r.vector {
        parts.push(format!("meaning {:.0}% similar", (v.max(0.0) * 100.0)));
    }
    if parts.is_empty() {
        parts.push("passes every filter".to_string());
    }
    parts.join("; ")
}

fn chips(q: &Query) -> Vec<Chip> {
    q.parts
        .iter()
        .filter(|p| p.kind != image_chat_core::search::PartKind::Filler)
        .map(|p| Chip {
            kind: snake(&p.kind),
            value: p.value.clone(),
            matched: p.matched.clone(),
            reason: p.reason.clone(),
            note: p.note.clone(),
        })
        .collect()
}

fn change(c: &Change) -> ChangeView {
    ChangeView { op: snake(&c.op), kind: c.kind.as_ref().map(snake), value: c.value.clone(), label: c.label.clone() }
}

pub fn chat(answered: Answered, session_of: impl Fn(&str) -> Option<String>, took_ms: u64) -> ChatResponse {
    let resp = answered.response;
    let q = &resp.query;
    let query = ParsedQuery {
        text: q.text.clone(),
        must_terms: q.must_terms.clone(),
        exclude_terms: q.exclude_terms.clone(),
        formats: q.formats.iter().map(|f| f.as_str().to_string()).collect(),
        min_width: q.min_width,
        min_height: q.min_height,
        orientation: q.orientation.as_ref().map(snake),
        count: q.count,
        chips: chips(q),
        previous: answered.previous.as_ref().map(|p| PreviousQuery { text: p.text.clone(), chips: chips(p) }),
        changes: answered.changes.iter().map(change).collect(),
    };
    let results = resp
        .results
        .iter()
        .map(|r| ChatResult {
            url: r.url.clone(),
            page_url: r.page_url.clone(),
            session_id: session_of(&r.namespace),
            alt: r.alt.clone(),
            description: r.description.clone(),
            format: r.format.map(|f| f.as_str().to_string()),
            found_by: r.found_by.as_str().to_string(),
            width: r.width,
            height: r.height,
            scores: Scores { bm25: r.bm25, vector: r.vector, fused: r.fused },
            strong: r.strong,
            why: why(r),
            matched_terms: r.matched_terms.clone(),
            alternatives: r.alternatives.clone(),
            unmet: r.unmet.clone(),
        })
        .collect();
    ChatResponse {
        query,
        results,
        notes: resp.notes,
        lexical_only: resp.lexical_only,
        took_ms,
        conversation_id: answered.conversation_id,
        turn: answered.turn,
        page: answered.page + 1,
    }
}
