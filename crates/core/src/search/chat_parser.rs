//! The optional language-model query parser: an OpenAI-compatible `/chat/completions` endpoint
//! turns the chat message into the same [`Query`] the rules produce. Its answer is validated
//! field by field (unknown formats dropped, numbers bounded, strings capped); any failure — no
//! answer within the timeout, an HTTP error, JSON that does not fit — falls back to the rules
//! with a note saying so, so a search never fails because of the model.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::parse::{HIGH_RES_MIN_WIDTH, MAX_COUNT, Part, PartKind, Query, QueryError, parse};
use crate::config::{ChatParserSettings, ParserBackend, SearchSettings};
use crate::error::{Error, Result};
use crate::model::{ImageFormat, Orientation, Tone};

const SYSTEM_PROMPT: &str = "You turn a request for images into JSON with exactly these keys: \
\"text\" (what the images show, without filter words), \"must_terms\" (phrases that must appear), \
\"exclude_terms\" (things that must not appear, e.g. \"without people\" -> [\"people\"]), \
\"formats\" (from jpeg, png, webp, gif, svg, avif), \"min_width\" and \"min_height\" (pixels or \
null; \"high resolution\" is min_width 1600), \"orientation\" (landscape, portrait, square or \
null), \"tone\" (dark, light or null), \"transparent\" (true or null), \"count\" (a number of \
results asked for, or null). Answer with the JSON object only.";

const FOLLOW_UP_PROMPT: &str = "The person is refining a search. You are given the current request \
as JSON with those keys, and their next message. Answer with the whole new request in the same \
keys: keep what the message does not change, change or drop what it says (\"any format\" drops \
formats, \"include people\" drops \"people\" from exclude_terms, \"only PNG\" sets formats), and \
add two keys: \"new_search\" (true when the message describes something new instead of changing \
the current request; then answer the new request alone) and \"next_page\" (true when it only asks \
for more results of the same request). Answer with the JSON object only.";

/// Longest string kept from the model's answer, and most terms per list.
const MAX_TEXT: usize = 300;
const MAX_TERMS: usize = 10;
const MAX_SIDE: u32 = 20_000;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Answer {
    text: Option<String>,
    must_terms: Vec<String>,
    exclude_terms: Vec<String>,
    formats: Vec<String>,
    min_width: Option<u32>,
    min_height: Option<u32>,
    orientation: Option<String>,
    tone: Option<String>,
    transparent: Option<bool>,
    count: Option<u32>,
    /// Follow-ups only: the message starts a new request.
    new_search: Option<bool>,
    /// Follow-ups only: the message asks for the next page.
    next_page: Option<bool>,
}

/// The model's reading of a follow-up message.
pub struct FollowUp {
    /// The whole request after the message.
    pub query: Query,
    pub new_search: bool,
    pub next_page: bool,
}

pub struct ChatParser {
    client: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<String>,
}

/// A parse and, when the rules stood in for the model, why.
pub struct Parsed {
    pub query: Query,
    pub fallback: Option<String>,
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_TEXT).collect::<String>().trim().to_lowercase()
}

fn terms(list: &[String]) -> Vec<String> {
    list.iter().map(|t| clean(t)).filter(|t| !t.is_empty()).take(MAX_TERMS).collect()
}

impl ChatParser {
    /// The parser the search settings ask for: the model when `search.parser = "chat"`, none
    /// (the rules) otherwise. The server, the CLI and the eval all take theirs from here.
    pub fn from_settings(search: &SearchSettings) -> Result<Option<Self>> {
        match search.parser {
            ParserBackend::Chat => Self::new(&search.chat).map(Some),
            ParserBackend::Rules => Ok(None),
        }
    }

    pub fn new(settings: &ChatParserSettings) -> Result<Self> {
        let base = settings
            .base_url
            .as_deref()
            .ok_or_else(|| Error::Invalid("search.chat.base_url is required for the chat parser".into()))?;
        let base = url::Url::parse(base).map_err(|e| Error::Invalid(format!("search.chat.base_url: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            endpoint: format!("{}/chat/completions", base.as_str().trim_end_matches('/')),
            model: settings.model.clone(),
            api_key: settings.api_key.as_ref().map(|k| k.expose().to_string()),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The model's reading of `message`, or the rules' with the reason the model was not used.
    /// Errors only for what the rules reject too (an empty or over-long message).
    pub async fn parse(&self, message: &str) -> std::result::Result<Parsed, QueryError> {
        let rules = parse(message)?;
        match self.ask(message).await {
            Ok(answer) => Ok(Parsed { query: self.to_query(answer, message), fallback: None }),
            Err(why) => Ok(Parsed {
                query: rules,
                fallback: Some(format!("the language model did not help ({why}); the message was read by rules")),
            }),
        }
    }

    /// The model's reading of `message` as a follow-up to `current`, or why the model did not
    /// help (the caller reads it by rules then).
    pub async fn follow_up(&self, current: &Query, message: &str) -> std::result::Result<FollowUp, String> {
        let request = json!({
            "text": current.text,
            "must_terms": current.must_terms,
            "exclude_terms": current.exclude_terms,
            "formats": current.formats,
            "min_width": current.min_width,
            "min_height": current.min_height,
            "orientation": current.orientation,
            "tone": current.tone,
            "transparent": current.transparent,
            "count": current.count,
        });
        let prompt = format!("{SYSTEM_PROMPT} {FOLLOW_UP_PROMPT}");
        let user = format!("Current request: {request}\nMessage: {message}");
        let answer = self.ask_with(&prompt, &user).await?;
        let (new_search, next_page) = (answer.new_search == Some(true), answer.next_page == Some(true));
        let mut query = self.to_query(answer, message);
        if !new_search && (query.text.is_empty() || query.text == clean(message)) {
            // The model gave no words to search for: the request's stay.
            query.text = current.text.clone();
        }
        query.boost_terms = if new_search { Vec::new() } else { current.boost_terms.clone() };
        Ok(FollowUp { query, new_search, next_page })
    }

    async fn ask(&self, message: &str) -> std::result::Result<Answer, String> {
        self.ask_with(SYSTEM_PROMPT, message).await
    }

    async fn ask_with(&self, system: &str, message: &str) -> std::result::Result<Answer, String> {
        let body = json!({
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": message},
            ],
        });
        let mut request = self.client.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() { "no answer in time".to_string() } else { "the endpoint is unreachable".to_string() }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        let reply: serde_json::Value = response.json().await.map_err(|_| "the answer is not JSON".to_string())?;
        let content = reply["choices"][0]["message"]["content"].as_str().ok_or("the answer has no message")?;
        // Some models wrap JSON in a code fence.
        let content = content.trim().trim_start_matches("```json").trim_start_matches("```").trim_end_matches("```");
        serde_json::from_str::<Answer>(content.trim()).map_err(|_| "the answer does not fit the query format".into())
    }

    fn to_query(&self, a: Answer, message: &str) -> Query {
        let reason = format!("understood by {}", self.model);
        let mut q = Query {
            text: a.text.as_deref().map(clean).unwrap_or_default(),
            must_terms: terms(&a.must_terms),
            exclude_terms: terms(&a.exclude_terms),
            ..Query::default()
        };
        let lower = message.to_lowercase();
        let mut part = |kind: PartKind, value: String, hint: &str| {
            // The words of the message it came from, when they are there (a chip removes them).
            let matched = if lower.contains(&hint.to_lowercase()) { hint.to_string() } else { String::new() };
            q.parts.push(Part { kind, value, matched, reason: reason.clone(), note: None });
        };
        let mut formats = Vec::new();
        for f in a.formats.iter().filter_map(|f| ImageFormat::parse(f.trim())) {
            if !formats.contains(&f) {
                formats.push(f);
                part(PartKind::Format, f.as_str().into(), f.as_str());
            }
        }
        for t in &q.must_terms.clone() {
            part(PartKind::Require, t.clone(), t);
        }
        for t in &q.exclude_terms.clone() {
            part(PartKind::Exclude, t.clone(), t);
        }
        let side = |v: Option<u32>| v.filter(|&w| (1..=MAX_SIDE).contains(&w));
        let (min_width, min_height) = (side(a.min_width), side(a.min_height));
        if min_width.is_some() || min_height.is_some() {
            let shown = match (min_width, min_height) {
                (Some(w), Some(h)) => format!("≥ {w}×{h} px"),
                (Some(w), None) => format!("≥ {w} px wide"),
                (None, Some(h)) => format!("≥ {h} px high"),
                _ => unreachable!(),
            };
            let hint = if min_width == Some(HIGH_RES_MIN_WIDTH) { "high" } else { "" };
            part(PartKind::MinSize, shown, hint);
        }
        let orientation = match a.orientation.as_deref().map(str::trim) {
            Some("landscape") => Some(Orientation::Landscape),
            Some("portrait") => Some(Orientation::Portrait),
            Some("square") => Some(Orientation::Square),
            _ => None,
        };
        if let Some(o) = a.orientation.as_deref().filter(|_| orientation.is_some()) {
            part(PartKind::Orientation, o.trim().into(), o.trim());
        }
        let tone = match a.tone.as_deref().map(str::trim) {
            Some("dark") => Some(Tone::Dark),
            Some("light") => Some(Tone::Light),
            _ => None,
        };
        if let Some(t) = a.tone.as_deref().filter(|_| tone.is_some()) {
            part(PartKind::Tone, t.trim().into(), t.trim());
        }
        let transparent = a.transparent.filter(|t| *t);
        if transparent.is_some() {
            part(PartKind::Transparency, "transparent".into(), "transparent");
        }
        let count = a.count.filter(|c| (1..=MAX_COUNT).contains(c));
        if let Some(c) = count {
            part(PartKind::Count, c.to_string(), &c.to_string());
        }
        q.formats = formats;
        q.min_width = min_width;
        q.min_height = min_height;
        q.orientation = orientation;
        q.tone = tone;
        q.transparent = transparent;
        q.count = count;
        if q.text.is_empty() && q.must_terms.is_empty() && q.formats.is_empty() && q.min_width.is_none() {
            // Nothing usable: search the words themselves.
            q.text = clean(message);
        }
        q
    }
}
