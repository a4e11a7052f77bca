//! Query understanding without a language model: a chat message becomes search text plus
//! filters (formats, size, orientation, tone, transparency, count), required phrases and
//! excluded terms, and every recognised part says why, for the UI's filter chips.

use serde::{Deserialize, Serialize};

use super::parse_intent::is_descriptive;
use super::parse_negations::mark_negations;
use super::parse_quantities::{mark_count, mark_sizes};
use super::parse_rules::mark_rules;
use super::parse_tokens::{Quoted, Token, claim, matches_at, tokenize};
use crate::model::{ImageFormat, Orientation, Tone};

/// Longest message accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1_000;
/// "high resolution" and friends mean at least this wide.
pub const HIGH_RES_MIN_WIDTH: u32 = 1_600;
/// Largest count a message may ask for.
pub const MAX_COUNT: u32 = 100;

/// What kind of part of the message was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    Format,
    MinSize,
    Orientation,
    Tone,
    Transparency,
    Count,
    Exclude,
    Require,
    /// A quoted phrase in a longer description: ranks images holding it first, removes none.
    Boost,
    Filler,
}

impl PartKind {
    /// The kinds a request's chips can have: every kind but `Filler`.
    pub const CHIPS: [PartKind; 9] = [
        PartKind::Format,
        PartKind::MinSize,
        PartKind::Orientation,
        PartKind::Tone,
        PartKind::Transparency,
        PartKind::Count,
        PartKind::Exclude,
        PartKind::Require,
        PartKind::Boost,
    ];

    /// The kind's name in the API (its serde name).
    pub fn name(self) -> &'static str {
        match self {
            PartKind::Format => "format",
            PartKind::MinSize => "min_size",
            PartKind::Orientation => "orientation",
            PartKind::Tone => "tone",
            PartKind::Transparency => "transparency",
            PartKind::Count => "count",
            PartKind::Exclude => "exclude",
            PartKind::Require => "require",
            PartKind::Boost => "boost",
            PartKind::Filler => "filler",
        }
    }

    /// The chip kind named `name`, as the API writes it.
    pub fn chip_named(name: &str) -> Option<Self> {
        Self::CHIPS.into_iter().find(|k| k.name() == name)
    }
}

/// One recognised part: what it sets, the words it came from, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub kind: PartKind,
    /// The value it sets, as a chip shows it (`png`, `≥ 1600 px wide`, `people`).
    pub value: String,
    /// The words of the message it came from.
    pub matched: String,
    pub reason: String,
    /// Set when no image (or too few) met this part and the closest that do not are shown too:
    /// what the chip says about it ("no image matching the words is ≥ 1600 px wide; showing the
    /// closest").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// What to look for, with filler and filter words removed.
    pub text: String,
    /// Quoted phrases that must appear.
    pub must_terms: Vec<String>,
    /// Quoted phrases of a longer description: images holding them rank first.
    #[serde(default)]
    pub boost_terms: Vec<String>,
    /// Terms that must not appear ("without people").
    pub exclude_terms: Vec<String>,
    pub formats: Vec<ImageFormat>,
    pub min_width: Option<u32>,
    pub min_height: Option<u32>,
    pub orientation: Option<Orientation>,
    pub tone: Option<Tone>,
    pub transparent: Option<bool>,
    /// How many results the message asks for.
    pub count: Option<u32>,
    /// Everything recognised, in message order: the explanation of the parse.
    pub parts: Vec<Part>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("the message is empty: describe the image you are looking for")]
    Empty,
    #[error("the message is {0} characters long; the limit is {MAX_QUERY_CHARS}")]
    TooLong(usize),
}

/// Words that only carry the request, not what is requested.
const FILLER: &[&[&str]] = &[
    &["can", "you", "show", "me"],
    &["could", "you", "show", "me"],
    &["can", "you", "find"],
    &["show", "me"],
    &["find", "me"],
    &["get", "me"],
    &["give", "me"],
    &["i", "need"],
    &["i", "want"],
    &["i", "would", "like"],
    &["i'd", "like"],
    &["i'm", "looking", "for"],
    &["im", "looking", "for"],
    &["looking", "for"],
    &["look", "for"],
    &["search", "for"],
    &["are", "there", "any"],
    &["do", "you", "have"],
    &["find"],
    &["show"],
    &["search"],
    &["please"],
    &["some"],
    &["any"],
    &["all"],
    &["images"],
    &["image"],
    &["pictures"],
    &["picture"],
    &["pics"],
    &["pic"],
    &["of"],
];

pub(super) const ARTICLES: &[&str] = &["a", "an", "the", "any"];
const DANGLING: &[&str] = &["in", "with", "on", "of", "or", "and", "for", "at", "by", "to", "as"];

/// Words outside quoted phrases, request words and filters at most this many: the quotes are
/// the person's emphasis ("\"Apple Watch\" ads"), and the phrase must appear.
const MAX_WORDS_BESIDE_REQUIRED_QUOTE: usize = 3;

/// Parses a chat message into a [`Query`].
pub fn parse(message: &str) -> Result<Query, QueryError> {
    let chars = message.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong(chars));
    }
    let message = message.trim();
    if message.is_empty() {
        return Err(QueryError::Empty);
    }
    let mut q = Query::default();
    let (mut tokens, quotes) = tokenize(message);
    let norms: Vec<&str> = tokens.iter().map(|t| t.norm.as_str()).collect();
    let reads_as_description = is_descriptive(&norms);
    let words: Vec<(String, bool)> = tokens.iter().map(|t| (t.norm.clone(), t.ends_clause)).collect();
    let words: Vec<(&str, bool)> = words.iter().map(|(w, e)| (w.as_str(), *e)).collect();

    mark_filler(&mut tokens, &mut q);
    // A message that opens with request words ("show me …", "find …") is a request however
    // long it is.
    let descriptive = reads_as_description && !tokens.first().is_some_and(|t| t.request);
    mark_rules(&mut tokens, &mut q, &words, descriptive);
    mark_count(&mut tokens, &mut q, &words, descriptive);
    mark_sizes(&mut tokens, &mut q);
    mark_negations(&mut tokens, &mut q, descriptive);
    mark_quotes(&tokens, &mut q, &quotes, descriptive);

    // "-word" and "+word" operators.
    for t in tokens.iter_mut().filter(|t| t.free()) {
        if let Some(word) =
            t.norm.strip_prefix('-').filter(|w| w.len() > 1 && w.chars().next().is_some_and(char::is_alphabetic))
        {
            q.parts.push(Part {
                kind: PartKind::Exclude,
                value: word.to_string(),
                matched: t.raw.clone(),
                reason: "a leading minus excludes a word".into(),
                note: None,
            });
            if !q.exclude_terms.iter().any(|x| x == word) {
                q.exclude_terms.push(word.to_string());
            }
            t.used = true;
        } else if let Some(word) = t.norm.strip_prefix('+').filter(|w| !w.is_empty()) {
            q.parts.push(Part {
                kind: PartKind::Require,
                value: word.to_string(),
                matched: t.raw.clone(),
                reason: "a leading plus requires a word".into(),
                note: None,
            });
            if !q.must_terms.iter().any(|x| x == word) {
                q.must_terms.push(word.to_string());
            }
            t.raw = word.to_string();
        }
    }

    // Articles stay inside the text: the model reads "a black dog is running in the grass" as
    // the sentence it was trained on (keeping them lifted the end-to-end Flickr8k nDCG@10 from
    // 0.6530 to 0.6583); at either end they are left over from removed words.
    let mut text: Vec<&str> = tokens.iter().filter(|t| !t.used).map(|t| t.raw.as_str()).collect();
    // Words left dangling by removed filters ("logo with [transparent background]").
    let dangling = |w: &&str| {
        let w = w.to_lowercase();
        DANGLING.contains(&w.as_str()) || ARTICLES.contains(&w.as_str())
    };
    while text.last().is_some_and(dangling) {
        text.pop();
    }
    while text.first().is_some_and(dangling) {
        text.remove(0);
    }
    q.text = text.join(" ");
    merge_repeated_parts(&mut q.parts);
    q.parts.sort_by_key(|p| p.kind as u8);
    Ok(q)
}

/// One chip per thing understood: "jpg or jpeg photos" and "high-res large maps" say it twice.
fn merge_repeated_parts(parts: &mut Vec<Part>) {
    let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
    for part in parts.drain(..) {
        match merged.iter_mut().find(|p| p.kind == part.kind && p.value == part.value && p.kind != PartKind::Filler) {
            Some(p) => {
                if p.matched != part.matched {
                    p.matched = format!("{}{MATCHED_SEPARATOR}{}", p.matched, part.matched);
                }
            }
            None => merged.push(part),
        }
    }
    *parts = merged;
}

/// Between the pieces of a merged part's `matched` words.
pub const MATCHED_SEPARATOR: &str = " … ";

/// Quoted phrases: required when they are the gist of a short request, boosted in a longer
/// description (where the page may word the title differently).
fn mark_quotes(tokens: &[Token], q: &mut Query, quotes: &[Quoted], descriptive: bool) {
    if quotes.is_empty() {
        return;
    }
    let beside = tokens.iter().filter(|t| t.free() && !ARTICLES.contains(&t.norm.as_str())).count();
    let required = !descriptive && beside <= MAX_WORDS_BESIDE_REQUIRED_QUOTE;
    for quote in quotes.iter().filter(|p| !p.phrase.is_empty()) {
        let raw = tokens[quote.range.clone()].iter().map(|t| t.raw.as_str()).collect::<Vec<_>>().join(" ");
        let (kind, terms, reason) = if required {
            (PartKind::Require, &mut q.must_terms, "a quoted phrase must appear")
        } else {
            (
                PartKind::Boost,
                &mut q.boost_terms,
                "a quoted phrase in a longer description ranks images holding it first",
            )
        };
        if terms.contains(&quote.phrase) {
            continue;
        }
        terms.push(quote.phrase.clone());
        q.parts.push(Part {
            kind,
            value: quote.phrase.clone(),
            matched: format!("\"{raw}\""),
            reason: reason.into(),
            note: None,
        });
    }
}

/// The formats that a query's format chips ask for: the formats named, less those named after a
/// negation ("not gif"), from every format when only negations are given.
pub fn formats_of(parts: &[Part]) -> Vec<ImageFormat> {
    let values = parts.iter().filter(|p| p.kind == PartKind::Format).map(|p| p.value.as_str());
    let (mut named, mut refused) = (Vec::new(), Vec::new());
    for value in values {
        let (list, name) = match value.strip_prefix(NOT_FORMAT) {
            Some(f) => (&mut refused, f),
            None => (&mut named, value),
        };
        if let Some(f) = ImageFormat::parse(name).filter(|f| !list.contains(f)) {
            list.push(f);
        }
    }
    let mut formats = if named.is_empty() && !refused.is_empty() { ImageFormat::ALL.to_vec() } else { named };
    formats.retain(|f| !refused.contains(f));
    formats
}

/// How a format chip's value says "every format but": `not gif`.
pub const NOT_FORMAT: &str = "not ";

/// Filler words that are not a request of their own: a number after them describes the
/// subject ("pictures of 3 dogs"), after "show me" it counts results.
const NOT_A_REQUEST: &[&str] = &["some", "any", "all", "images", "image", "pictures", "picture", "pics", "pic", "of"];

fn mark_filler(tokens: &mut [Token], q: &mut Query) {
    // Filler at the start of the message or of a clause ("show me ...", "I need ...").
    let mut i = 0;
    while i < tokens.len() {
        let at_start = i == 0 || tokens[i - 1].used || tokens[i - 1].ends_clause;
        let found = if at_start { FILLER.iter().find(|f| matches_at(tokens, i, f)) } else { None };
        match found {
            Some(f) => {
                claim(
                    tokens,
                    q,
                    i..i + f.len(),
                    PartKind::Filler,
                    String::new(),
                    "words of the request, not of the image",
                );
                let request = !(f.len() == 1 && NOT_A_REQUEST.contains(&f[0]));
                for t in &mut tokens[i..i + f.len()] {
                    t.request = request;
                }
                i += f.len();
            }
            None => i += 1,
        }
    }
    // Generic nouns anywhere ("PNG images of Apple Watch").
    for (i, t) in tokens.iter_mut().enumerate() {
        if t.free() && matches!(t.norm.as_str(), "images" | "image" | "pictures" | "picture" | "pics") && i > 0 {
            t.used = true;
        }
    }
    // "of" left dangling after a removed noun ("images of X").
    for i in 1..tokens.len() {
        if tokens[i].norm == "of" && tokens[i].free() && tokens[i - 1].used {
            tokens[i].used = true;
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
