//! The API's data: what the server sends to the browser and to JSON clients. Compiled for both
//! sides, so it holds no server types; the server converts its domain types into these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// One component's health, as `/health` and the status panel show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ComponentStatus {
    pub name: String,
    /// `ok`, `missing`, `unreachable` or `not_configured`.
    pub state: String,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AppStatus {
    pub version: String,
    /// `ok` when every configured component is usable, `degraded` otherwise.
    pub status: String,
    pub uptime_secs: u64,
    pub components: Vec<ComponentStatus>,
}

/// `POST /crawl`: the site and the crawl's limits. Only `url` is required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct CrawlForm {
    /// The site to crawl, http or https.
    #[cfg_attr(
        feature = "ssr",
        schema(
            required = true,
            min_length = 1,
            pattern = r"^https?://[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?){0,8}\.[a-z]{2,20}(:[1-9][0-9]{0,3})?(/\S{0,200})?$"
        )
    )]
    pub url: String,
    /// Pages to fetch (default and maximum from the server's settings).
    #[serde(deserialize_with = "whole_number")]
    pub max_pages: Option<u32>,
    /// Link depth from the start page.
    #[serde(deserialize_with = "whole_number")]
    pub max_depth: Option<u32>,
    /// Only crawl paths matching one of these patterns (`*` = any characters).
    pub include: Vec<String>,
    /// Skip paths matching one of these patterns.
    pub exclude: Vec<String>,
    /// Also crawl subdomains of the start host.
    pub subdomains: bool,
    /// Render pages in headless Chromium: `auto` (pages whose HTML shows script-built
    /// content), `always` or `never`; the server's `crawler.render` when absent.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, pattern = "^(auto|always|never)$"))]
    pub render: Option<String>,
}

/// `202 Accepted` answer to `POST /crawl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CrawlStarted {
    pub session_id: String,
    /// JSON snapshot of the session (`GET`).
    pub status_url: String,
    /// The same URL: Server-Sent Events when requested with `Accept: text/event-stream`.
    pub events_url: String,
    pub session: SessionView,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CrawlCounters {
    pub pages_queued: u64,
    pub pages_fetched: u64,
    pub pages_failed: u64,
    pub pages_skipped: u64,
    pub pages_from_cache: u64,
    pub images_found: u64,
    pub images_kept: u64,
    pub images_rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub images_deduplicated: u64,
    pub bytes: u64,
    /// Sitemaps read only in part (or not at all): the crawl's sitemap budget was spent.
    #[serde(default)]
    pub sitemaps_cut: u64,
    /// Pages rendered in the browser, the time it spent on them, and the images only
    /// rendering found.
    #[serde(default)]
    pub pages_rendered: u64,
    #[serde(default)]
    pub render_ms: u64,
    #[serde(default)]
    pub images_from_render: u64,
    /// A crawl several replicas shared: pages given up after the replicas holding them died
    /// or stalled `max_tries` times.
    #[serde(default)]
    pub pages_dead: u64,
    /// Pages fetched and parsed whose images may be kept (not `noindex`).
    #[serde(default)]
    pub pages_ok: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PageErrorView {
    pub url: String,
    pub reason: String,
}

/// A crawl session: its request, state and counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SessionView {
    pub id: String,
    pub start_url: String,
    pub domain: String,
    /// `running`, `finished`, `failed`, `cancelled` or `interrupted`.
    pub status: String,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    pub finished_at: Option<u64>,
    pub max_pages: u32,
    pub max_depth: u32,
    pub counters: CrawlCounters,
    /// Images stored and searchable so far.
    pub images_indexed: u64,
    /// Of those, images with a vector (the rest are found by keywords only).
    pub images_embedded: u64,
    /// Images fetched and read for their real format, size, transparency and brightness.
    pub images_analysed: u64,
    /// Analysed images left out of the index: a tracking pixel or under 50 px on a side.
    #[serde(default)]
    pub images_too_small: u64,
    /// Images left out because the site says they are not there (404, 410, or a web page).
    #[serde(default)]
    pub images_missing: u64,
    pub current_url: String,
    /// Why the crawl stopped: `completed`, `page_limit`, `cancelled`, `start_refused`.
    pub stop: Option<String>,
    pub errors: Vec<PageErrorView>,
    /// Why the session failed, or a warning.
    pub message: Option<String>,
    pub elapsed_ms: u64,
    /// Where the time went, once the session has ended.
    #[serde(default)]
    pub timings: Option<TimingsView>,
}

/// Where a crawl's time went: per pipeline stage (`fetch_pages`, `extract`, `render`,
/// `fetch_images`, `decode`, `embed`, `index_write`) the items, the time spent working (summed
/// over concurrent tasks) and waiting — for a per-host request slot, for input, on the next
/// stage — and the queues between stages, beside the politeness floor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TimingsView {
    /// From the crawl's start to its last image stored.
    pub wall_ms: u64,
    /// The busiest host's request time ÷ the per-host concurrency: no schedule is faster.
    pub floor_ms: u64,
    pub floor_host: String,
    pub page_requests: u64,
    pub image_requests: u64,
    pub mean_request_ms: f64,
    pub per_host_concurrency: u64,
    /// `wall_ms` ÷ `floor_ms`.
    pub wall_over_floor: f64,
    pub stages: Vec<StageTimingView>,
    pub queues: Vec<QueueTimingView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct StageTimingView {
    pub stage: String,
    pub items: u64,
    pub busy_ms: u64,
    pub waited_for_slot_ms: u64,
    pub waited_for_input_ms: u64,
    pub waited_on_next_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct QueueTimingView {
    pub queue: String,
    pub max: u64,
    pub mean: f64,
}

impl SessionView {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
}

/// `GET /sessions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// `POST /chat`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ChatRequest {
    /// What to find, in plain language ("PNG images of the Apple Watch").
    /// It may be empty, or left out, when `remove` takes a chip away.
    pub message: String,
    /// A session to search, or `all` (the default) for every session.
    #[cfg_attr(feature = "ssr", schema(pattern = r"^(|all|[0-9a-fA-F]{16})$"))]
    pub session_id: Option<String>,
    /// Results wanted (1-100, default 20); a number in the message wins.
    #[serde(deserialize_with = "whole_number")]
    pub limit: Option<u32>,
    /// The conversation this message continues (from an earlier answer): the message is read
    /// against its request ("only the PNG ones" refines, "any format" relaxes, "more" pages
    /// on, a new description starts over). None starts a new conversation.
    #[cfg_attr(feature = "ssr", schema(pattern = r"^([0-9a-fA-F]{16})?$"))]
    pub conversation_id: Option<String>,
    /// When `conversation_id` is unknown or expired, start a new conversation instead of
    /// answering 404.
    pub start_if_missing: bool,
    /// Take this chip away from the conversation's request and search again (the message may
    /// then be empty).
    pub remove: Option<ChipRef>,
}

/// A chip of a conversation's request, by its `kind` and `value` as an answer listed it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChipRef {
    pub kind: String,
    pub value: String,
}

/// What a message did to the conversation's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ChangeView {
    /// `new_search`, `added`, `removed`, `words`, `page` or `unchanged`.
    pub op: String,
    /// The chip's kind, for `added` and `removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The chip's value, the new words, or the page number.
    pub value: String,
    /// In words: `+ PNG`, `− ≥ 1600 px wide`, `new search`, `page 2`.
    pub label: String,
}

/// The request before a message: its words and chips.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PreviousQuery {
    pub text: String,
    pub chips: Vec<Chip>,
}

/// One recognised part of the message: a removable filter chip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Chip {
    /// `format`, `min_size`, `orientation`, `tone`, `transparency`, `count`, `exclude`, `require`,
    /// `boost` (a quoted phrase in a longer description: ranked first, never required).
    pub kind: String,
    /// What it sets, as shown (`png`, `≥ 1600 px wide`, `people`).
    pub value: String,
    /// The words of the message it came from.
    pub matched: String,
    pub reason: String,
    /// Set when too few images met it and the closest that do not are shown as well
    /// ("no image matching the words is PNG; showing the closest").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How the message was understood.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ParsedQuery {
    /// What is searched for, filter words removed.
    pub text: String,
    pub must_terms: Vec<String>,
    pub exclude_terms: Vec<String>,
    pub formats: Vec<String>,
    pub min_width: Option<u32>,
    pub min_height: Option<u32>,
    pub orientation: Option<String>,
    pub count: Option<u32>,
    /// The whole request's chips (this message's and those kept from earlier ones).
    pub chips: Vec<Chip>,
    /// The request before this message (none on a conversation's first).
    #[serde(default)]
    pub previous: Option<PreviousQuery>,
    /// What this message changed: "refined: + PNG", "new search", "page 2".
    #[serde(default)]
    pub changes: Vec<ChangeView>,
}

/// Each ranking leg's score; a leg that did not find the image has none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Scores {
    /// BM25 over alt, caption, title and nearby text (higher is better).
    pub bm25: Option<f32>,
    /// Cosine similarity of the message to the image's words.
    pub vector: Option<f32>,
    /// The fused score results are ordered by (0-1, plus 0.05 when the request appears as a phrase).
    pub fused: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ChatResult {
    /// The image (best variant).
    pub url: String,
    /// The page it was found on.
    pub page_url: String,
    pub session_id: Option<String>,
    pub alt: String,
    /// The words shown with it: alt, else caption, label, title or nearby text.
    pub description: String,
    /// `jpeg`, `png`, `gif`, `webp`, `svg`, `avif`, ... when known.
    pub format: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub scores: Scores,
    /// A strong match, or a weaker one shown below the strong ones.
    pub strong: bool,
    /// Why it matched, in words.
    pub why: String,
    pub matched_terms: Vec<String>,
    /// Other URLs of the same image.
    pub alternatives: Vec<String>,
    /// `html` when the page as sent had it, `render` when only the page rendered in a browser did.
    #[serde(default)]
    pub found_by: String,
    /// The chips it does not meet (`PNG`, `≥ 1600 px wide`, `without "people"`): set on the
    /// closest images shown after the results that meet them all, when those are too few.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ChatResponse {
    pub query: ParsedQuery,
    pub results: Vec<ChatResult>,
    /// Parts of the message that could not be applied, and why.
    pub notes: Vec<String>,
    /// Set when only keyword search was possible (no embedding model), with the reason.
    pub lexical_only: Option<String>,
    pub took_ms: u64,
    /// Send it with the next message to continue the conversation.
    #[serde(default)]
    pub conversation_id: String,
    /// This message's number in the conversation (1 is the first).
    #[serde(default)]
    pub turn: u64,
    /// The page shown (1 is the first); "more" shows the next.
    #[serde(default)]
    pub page: u32,
}

/// One cache layer's measured metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CacheLayerHealth {
    /// `parser`, `query`, `embedding` or `html`.
    pub layer: String,
    /// `memory`, or `memory+redis` when a Redis is configured.
    pub backend: String,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub hit_rate: f64,
    pub p50_us: u32,
    pub p95_us: u32,
    /// Entries in the in-process part.
    pub entries: u64,
    /// Bytes the in-process part holds (key + value + 64 per entry, as its bound counts).
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CacheHealth {
    pub layers: Vec<CacheLayerHealth>,
}

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ErrorDetail {
    /// `invalid_request`, `not_found`, `method_not_allowed`, `conflict`, `at_capacity`,
    /// `rate_limited`, `too_large`, `headers_too_large`, `unsupported_media_type`, `internal`, and
    /// (in the browser, when the server could not be reached) `unreachable`.
    pub code: String,
    /// What went wrong and what to do, for a person.
    pub message: String,
}

impl ApiErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code: code.to_string(), message: message.into() } }
    }
}

impl std::fmt::Display for ApiErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error.message)
    }
}

/// The server functions answer errors in the API's shape too (JSON, with a 4xx status the
/// server sets), and the browser reads them back the same way.
impl leptos::server_fn::error::FromServerFnError for ApiErrorBody {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        let (code, status, message) = match value {
            E::Args(m) | E::MissingArg(m) | E::Deserialization(m) => {
                ("invalid_request", 400, format!("the request's body does not fit: {m}"))
            }
            E::UnsupportedRequestMethod(m) => ("invalid_request", 405, m),
            E::Registration(m) => ("not_found", 404, m),
            E::Request(m) | E::Response(m) => ("unreachable", 502, m),
            E::ServerError(m) | E::MiddlewareError(m) | E::Serialization(m) => ("internal", 500, m),
        };
        set_status(status);
        Self::new(code, message)
    }
}

/// Sets the status of the server function's answer (on the server; nothing in the browser).
pub fn set_status(status: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(options), Ok(status)) =
        (leptos::prelude::use_context::<leptos_axum::ResponseOptions>(), axum::http::StatusCode::from_u16(status))
    {
        options.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}

/// SSE `progress` event: the crawl's counters after a page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProgressUpdate {
    pub counters: CrawlCounters,
    pub current_url: String,
    pub images_indexed: u64,
}

/// SSE `indexed` event: a batch of images is stored and searchable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct IndexedUpdate {
    pub images_indexed: u64,
    pub images_embedded: u64,
    pub images_analysed: u64,
    #[serde(default)]
    pub images_too_small: u64,
    #[serde(default)]
    pub images_missing: u64,
}

/// SSE `page` event: a page is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PageUpdate {
    pub url: String,
    /// `ok`, `duplicate`, `no_index`, `skipped_by_robots`, `link_trap`, `not_html`, `redirected`,
    /// `failed`, `too_complex`.
    pub outcome: String,
    pub reason: Option<String>,
    pub images: usize,
}

/// An optional count written as any JSON number with a whole value (`166` or `166.0`: JSON,
/// and the API's schema, do not tell them apart); a fraction, a negative or a number past
/// `u32` is an error naming the value.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    if let Some(u) = n.as_u64() {
        return u32::try_from(u).map(Some).map_err(|_| serde::de::Error::custom(format!("{n} is too large")));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Ok(Some(f as u32)),
        _ => Err(serde::de::Error::custom(format!("{n} is not a whole number of 0 or more"))),
    }
}

#[cfg(test)]
mod whole_number_tests {
    use super::*;

    #[test]
    fn counts_take_whole_numbers_in_any_notation_and_refuse_the_rest() {
        let form = |json: &str| serde_json::from_str::<CrawlForm>(json).map(|f| f.max_pages).map_err(|e| e.to_string());
        assert_eq!(form(r#"{"url":"http://a.test","max_pages":166}"#), Ok(Some(166)));
        assert_eq!(form(r#"{"url":"http://a.test","max_pages":166.0}"#), Ok(Some(166)));
        assert_eq!(form(r#"{"url":"http://a.test","max_pages":1e2}"#), Ok(Some(100)));
        assert_eq!(form(r#"{"url":"http://a.test","max_pages":null}"#), Ok(None));
        assert_eq!(form(r#"{"url":"http://a.test"}"#), Ok(None));
        for bad in ["1.5", "-1", "4294967296", "\"3\""] {
            assert!(form(&format!(r#"{{"url":"http://a.test","max_pages":{bad}}}"#)).is_err(), "{bad}");
        }
    }
}
