//! The operations behind both the REST routes and the server functions, so the two can never
//! disagree: start, cancel and list crawls, chat, cache health.

use std::time::Instant;

use image_chat_core::conversation::Ask;
use image_chat_core::search::PartKind;
use image_chat_core::session::{CrawlRequest, SessionId};

use super::convert;
use super::error::ApiError;
use super::state::AppState;
use crate::types::{
    CacheHealth, CacheLayerHealth, ChatRequest, ChatResponse, CrawlForm, CrawlStarted, SessionList, SessionView,
};

/// A session id as the client sent it, parsed: anything but 16 hex digits is no session (and is
/// not echoed back whole).
pub fn session_id(id: &str) -> Result<SessionId, ApiError> {
    Ok(SessionId::parse(id)?)
}

pub async fn start_crawl(state: &AppState, form: CrawlForm) -> Result<CrawlStarted, ApiError> {
    let request = CrawlRequest {
        url: form.url,
        max_pages: form.max_pages,
        max_depth: form.max_depth,
        include: form.include,
        exclude: form.exclude,
        subdomains: form.subdomains,
        render: form.render,
    };
    let record = state.sessions.start(&request).await?;
    let status_url = format!("/crawl/{}/status", record.id);
    Ok(CrawlStarted {
        session_id: record.id.to_string(),
        events_url: status_url.clone(),
        status_url,
        session: convert::session(&record),
    })
}

pub async fn session(state: &AppState, id: &str) -> Result<SessionView, ApiError> {
    Ok(convert::session(&state.sessions.get(&session_id(id)?).await?))
}

pub async fn cancel(state: &AppState, id: &str) -> Result<SessionView, ApiError> {
    Ok(convert::session(&state.sessions.cancel(&session_id(id)?).await?))
}

pub async fn sessions(state: &AppState) -> SessionList {
    SessionList { sessions: state.sessions.list().await.iter().map(convert::session).collect() }
}

pub async fn chat(state: &AppState, request: ChatRequest) -> Result<ChatResponse, ApiError> {
    let started = Instant::now();
    let namespaces = match request.session_id.as_deref() {
        None | Some("" | "all") => Vec::new(),
        Some(id) => {
            let id = session_id(id)?;
            let record = state.sessions.get(&id).await?;
            state.sessions.touch(&id);
            vec![record.namespace]
        }
    };
    if let Some(limit) = request.limit
        && !(1..=image_chat_core::search::engine::MAX_LIMIT as u32).contains(&limit)
    {
        return Err(ApiError::invalid(format!(
            "limit: must be between 1 and {}",
            image_chat_core::search::engine::MAX_LIMIT
        )));
    }
    let limit = request.limit.map(|l| l as usize);
    let remove = match request.remove {
        Some(chip) => {
            let kind = PartKind::chip_named(&chip.kind).ok_or_else(|| {
                ApiError::invalid(format!(
                    "remove.kind: {:?} is not a chip kind ({})",
                    chip.kind.chars().take(40).collect::<String>(),
                    PartKind::CHIPS.map(PartKind::name).join(", ")
                ))
            })?;
            Some((kind, chip.value))
        }
        None => None,
    };
    let ask = Ask {
        conversation_id: request.conversation_id,
        start_if_missing: request.start_if_missing,
        message: request.message,
        remove,
        namespaces,
        limit,
    };
    let (answered, _) = image_chat_core::conversation::ask(
        &state.engine,
        &state.caches,
        state.chat_parser.as_deref(),
        state.conversations.as_ref(),
        ask,
    )
    .await?;
    let session_of = |ns: &str| image_chat_core::session::session_of(ns).map(|id| id.to_string());
    Ok(convert::chat(answered, session_of, started.elapsed().as_millis() as u64))
}

pub async fn cache_health(state: &AppState) -> CacheHealth {
    let layers = state
        .caches
        .reports()
        .await
        .into_iter()
        .map(|r| CacheLayerHealth {
            layer: r.layer.to_string(),
            backend: r.backend.to_string(),
            hits: r.metrics.hits,
            misses: r.metrics.misses,
            errors: r.metrics.errors,
            hit_rate: r.metrics.hit_rate,
            p50_us: r.metrics.p50_us,
            p95_us: r.metrics.p95_us,
            entries: r.entries,
            bytes: r.bytes,
        })
        .collect();
    CacheHealth { layers }
}
