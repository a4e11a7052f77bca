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
use crate::embed::embed_query_cached;
use crate::error::{Error, Result};
use crate::index::Namespace;

/// Which layers answered a search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheHits {
    pub parser: bool,
    pub query: bool,
    pub embedding: bool,
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
    namespaces: Vec<Namespace>,
    limit: Option<usize>,
) -> Result<(SearchResponse, CacheHits)> {
    let parsed = parse_message(caches, chat, message).await?;
    let (mut response, mut hits) =
        run(engine, caches, parsed.query, namespaces, limit, 0, parsed.fallback.is_none()).await?;
    hits.parser = parsed.cached;
    if let Some(note) = parsed.fallback {
        response.notes.insert(0, note);
    }
    Ok((response, hits))
}

/// A message read through the parser layer.
pub struct ParsedMessage {
    pub query: Query,
    /// Why the rules stood in for the language model, when they did.
    pub fallback: Option<String>,
    /// The parser layer answered.
    pub cached: bool,
}

/// Reads a message through the parser layer: the model's reading (or the rules') of the
/// normalized message, remembered unless the rules stood in for the model.
pub async fn parse_message(caches: &CacheLayers, chat: Option<&ChatParser>, message: &str) -> Result<ParsedMessage> {
    let normalized = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let parse_key = match chat {
        Some(c) => key(&["chat", c.model(), &normalized]),
        None => key(&["rules", &normalized]),
    };
    if let Some(query) = caches.parser.get(&parse_key).await.and_then(|b| serde_json::from_slice::<Query>(&b).ok()) {
        return Ok(ParsedMessage { query, fallback: None, cached: true });
    }
    let (query, fallback) = match chat {
        Some(c) => {
            let parsed = c.parse(message).await.map_err(|e| Error::Invalid(e.to_string()))?;
            (parsed.query, parsed.fallback)
        }
        None => (parse(message).map_err(|e| Error::Invalid(e.to_string()))?, None),
    };
    // A fallback is not remembered: the model is asked again next time.
    if fallback.is_none()
        && let Ok(bytes) = serde_json::to_vec(&query)
    {
        caches.parser.set(&parse_key, bytes, PARSER_TTL).await;
    }
    Ok(ParsedMessage { query, fallback, cached: false })
}

/// Searches for a parsed query through the query layer (the same query, namespaces, limit,
/// page, model and index generation answer from it) and the embedding layer (the words'
/// vector, so a refinement that changes only filters embeds nothing). `page` 0 is the first
/// `limit` results. `remember`: whether the answer may be kept in the query layer.
pub async fn run(
    engine: &Arc<SearchEngine>,
    caches: &CacheLayers,
    query: Query,
    namespaces: Vec<Namespace>,
    limit: Option<usize>,
    page: usize,
    remember: bool,
) -> Result<(SearchResponse, CacheHits)> {
    let mut hits = CacheHits::default();
    let mut sorted = namespaces.clone();
    sorted.sort();
    let generation = engine.index().generation(&sorted).await?;
    let names: Vec<&str> = sorted.iter().map(Namespace::as_str).collect();
    let model = engine.embedder().map_or("lexical", |e| e.model_id()).to_string();
    let query_json = serde_json::to_string(&query).map_err(|e| Error::Invalid(e.to_string()))?;
    let limit_text = limit.map_or("default".to_string(), |l| l.to_string());
    let query_key =
        key(&[&query_json, &names.join(","), &limit_text, &page.to_string(), &model, &generation.to_string()]);
    if let Some(found) =
        caches.query.get(&query_key).await.and_then(|b| serde_json::from_slice::<SearchResponse>(&b).ok())
    {
        hits.query = true;
        return Ok((found, hits));
    }

    let text = SearchEngine::search_text(&query);
    let vector = match engine.query_embedder() {
        Some(batcher) if !text.trim().is_empty() => {
            let (v, cached) = embed_query_cached(batcher, &caches.embedding, &text).await?;
            hits.embedding = cached;
            Some(v)
        }
        _ => None,
    };
    let ttl = if has_filters(&query) { QUERY_FILTERED_TTL } else { QUERY_TTL };
    let response = engine.search_page(query, vector, &namespaces, limit, page).await?;
    // Keyword-only answers (no model) and fallbacks are not cached: they would outlive the
    // model's return.
    if response.lexical_only.is_none()
        && remember
        && let Ok(bytes) = serde_json::to_vec(&response)
    {
        caches.query.set(&query_key, bytes, ttl).await;
    }
    Ok((response, hits))
}
