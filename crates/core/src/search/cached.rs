//! A search through the cache layers: the parser layer (message → parsed query), the query
//! layer (parsed query + namespaces + limit + model + index generation → results) and the
//! embedding layer (the query text's vector). The engine itself stays synchronous and cache-free;
//! its work runs on a blocking thread.

use std::sync::Arc;

use serde::Serialize;

use super::chat_parser::ChatParser;
use super::engine::{SearchEngine, SearchResponse};
use super::parse::{Query, parse};
use crate::cache::CacheLayers;
use crate::cache::layers::{PARSER_TTL, QUERY_FILTERED_TTL, QUERY_TTL, key};
use crate::embed::embed_cached;
use crate::error::{Error, Result};

/// Which layers answered a search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheHits {
    pub parser: bool,
    pub query: bool,
    pub embedding: bool,
}

fn blocking_failed(e: tokio::task::JoinError) -> Error {
    Error::Index(format!("search task failed: {e}"))
}

fn has_filters(q: &Query) -> bool {
    !q.formats.is_empty()
        || q.min_width.is_some()
        || q.min_height.is_some()
        || q.orientation.is_some()
        || !q.exclude_terms.is_empty()
        || !q.must_terms.is_empty()
}

/// `chat`: the language-model parser when one is configured (the rules otherwise).
pub async fn search(
    engine: &Arc<SearchEngine>,
    caches: &CacheLayers,
    chat: Option<&ChatParser>,
    message: &str,
    namespaces: Vec<String>,
    limit: Option<usize>,
) -> Result<(SearchResponse, CacheHits)> {
    let mut hits = CacheHits::default();
    let normalized = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let parse_key = match chat {
        Some(c) => key(&["chat", c.model(), &normalized]),
        None => key(&["rules", &normalized]),
    };
    let cached_query = caches.parser.get(&parse_key).await.and_then(|b| serde_json::from_slice::<Query>(&b).ok());
    let mut fallback = None;
    let query = match cached_query {
        Some(q) => {
            hits.parser = true;
            q
        }
        None => {
            let q = match chat {
                Some(c) => {
                    let parsed = c.parse(message).await.map_err(|e| Error::Invalid(e.to_string()))?;
                    fallback = parsed.fallback;
                    parsed.query
                }
                None => parse(message).map_err(|e| Error::Invalid(e.to_string()))?,
            };
            // A fallback is not remembered: the model is asked again next time.
            if fallback.is_none()
                && let Ok(bytes) = serde_json::to_vec(&q)
            {
                caches.parser.set(&parse_key, bytes, PARSER_TTL).await;
            }
            q
        }
    };

    let mut sorted = namespaces.clone();
    sorted.sort();
    let index = engine.index().clone();
    let ns = sorted.clone();
    let generation = tokio::task::spawn_blocking(move || index.generation(&ns)).await.map_err(blocking_failed)??;
    let model = engine.embedder().map_or("lexical", |e| e.model_id()).to_string();
    let query_json = serde_json::to_string(&query).map_err(|e| Error::Invalid(e.to_string()))?;
    let limit_text = limit.map_or("default".to_string(), |l| l.to_string());
    let query_key = key(&[&query_json, &sorted.join(","), &limit_text, &model, &generation.to_string()]);
    if let Some(found) =
        caches.query.get(&query_key).await.and_then(|b| serde_json::from_slice::<SearchResponse>(&b).ok())
    {
        hits.query = true;
        return Ok((found, hits));
    }

    let text = SearchEngine::search_text(&query);
    let vector = match engine.embedder() {
        Some(embedder) if !text.trim().is_empty() => {
            let (mut v, (cached, _)) = embed_cached(embedder.clone(), &caches.embedding, &[text]).await?;
            hits.embedding = cached > 0;
            v.pop()
        }
        _ => None,
    };
    let ttl = if has_filters(&query) { QUERY_FILTERED_TTL } else { QUERY_TTL };
    let e = engine.clone();
    let mut response = tokio::task::spawn_blocking(move || e.search_parsed(query, vector, &namespaces, limit))
        .await
        .map_err(blocking_failed)??;
    let parsed_by_rules_instead = fallback.is_some();
    if let Some(note) = fallback {
        response.notes.insert(0, note);
    }
    // Keyword-only answers (no model) and fallbacks are not cached: they would outlive the
    // model's return.
    if response.lexical_only.is_none()
        && !parsed_by_rules_instead
        && let Ok(bytes) = serde_json::to_vec(&response)
    {
        caches.query.set(&query_key, bytes, ttl).await;
    }
    Ok((response, hits))
}
