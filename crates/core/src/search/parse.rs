//! Query understanding without a language model: a chat message becomes search text plus
//! filters (formats, size, orientation, tone, transparency, count), required phrases and
//! excluded terms, and every recognised part says why, for the UI's filter chips.

use serde::{Deserialize, Serialize};

use super::parse_intent::{is_descriptive, leads_to_image_noun, names_images};
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

/// When a filter phrase is about the images rather than their subject.
#[derive(Clone, Copy)]
enum Attach {
    /// Always: the phrase has no other meaning ("PNG", "high resolution", "dark mode").
    Always,
    /// Before an image noun: "large maps", "square avatars", but not "a large brown dog".
    Noun,
    /// Before one of these words: "vector logo", but not "vector illustration".
    Before(&'static [&'static str]),
    /// In a request, not in a description: "products on a white background" asks for a light
    /// image, "a man stands in front of a white background" describes one.
    Request,
    /// At the end of the message or of a clause: "photos in landscape".
    End,
}

/// Multi-word and single-word filter phrases, longest first within a group.
struct Rule {
    words: &'static [&'static str],
    apply: fn(&mut Query) -> (PartKind, String),
    reason: &'static str,
    attach: Attach,
}

impl Rule {
    /// A phrase that always means its filter.
    const fn new(
        words: &'static [&'static str],
        apply: fn(&mut Query) -> (PartKind, String),
        reason: &'static str,
    ) -> Self {
        Self { words, apply, reason, attach: Attach::Always }
    }

    /// The same phrase, a filter only where `attach` says it speaks of the images.
    const fn when(self, attach: Attach) -> Self {
        Self { attach, ..self }
    }
}

fn format(q: &mut Query, f: ImageFormat) -> (PartKind, String) {
    if !q.formats.contains(&f) {
        q.formats.push(f);
    }
    (PartKind::Format, format!("{f:?}").to_lowercase())
}

fn min_size(q: &mut Query, w: u32, h: Option<u32>) -> (PartKind, String) {
    q.min_width = Some(q.min_width.map_or(w, |x| x.max(w)));
    if let Some(h) = h {
        q.min_height = Some(q.min_height.map_or(h, |x| x.max(h)));
    }
    let value = match h {
        Some(h) => format!("≥ {w}×{h} px"),
        None => format!("≥ {w} px wide"),
    };
    (PartKind::MinSize, value)
}

fn orientation(q: &mut Query, o: Orientation) -> (PartKind, String) {
    q.orientation = Some(o);
    (PartKind::Orientation, format!("{o:?}").to_lowercase())
}

fn tone(q: &mut Query, t: Tone) -> (PartKind, String) {
    q.tone = Some(t);
    (PartKind::Tone, format!("{t:?}").to_lowercase())
}

fn transparent(q: &mut Query) -> (PartKind, String) {
    q.transparent = Some(true);
    (PartKind::Transparency, "transparent".into())
}

/// What "vector" must lead to to mean SVG: stock sites call their JPEG previews "vector
/// illustration", so that phrase describes, and does not ask for a format.
const VECTOR_NOUNS: &[&str] =
    &["logo", "logos", "icon", "icons", "graphic", "graphics", "image", "images", "file", "files", "art", "version"];

const RULES: &[Rule] = &[
    Rule::new(&["transparent", "background"], transparent, "asks for a transparent background"),
    Rule::new(&["with", "transparency"], transparent, "asks for transparency"),
    Rule::new(&["no", "background"], transparent, "\"no background\" means a transparent one"),
    Rule::new(&["without", "background"], transparent, "\"without background\" means a transparent one"),
    Rule::new(&["transparent"], transparent, "asks for transparency").when(Attach::Noun),
    Rule::new(&["cutout"], transparent, "a cutout has a transparent background").when(Attach::Noun),
    Rule::new(&["high", "resolution"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "high resolution"),
    Rule::new(&["high-resolution"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "high resolution"),
    Rule::new(&["high", "res"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "high resolution"),
    Rule::new(&["high-res"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "high resolution"),
    Rule::new(&["hi-res"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "high resolution"),
    Rule::new(&["hires"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "high resolution"),
    Rule::new(&["large"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "\"large\" asks for big images")
        .when(Attach::Noun),
    Rule::new(&["big"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "\"big\" asks for large images").when(Attach::Noun),
    Rule::new(&["huge"], |q| min_size(q, HIGH_RES_MIN_WIDTH, None), "\"huge\" asks for large images")
        .when(Attach::Noun),
    Rule::new(&["full", "hd"], |q| min_size(q, 1920, Some(1080)), "Full HD is 1920×1080"),
    Rule::new(&["1080p"], |q| min_size(q, 1920, Some(1080)), "1080p is 1920×1080"),
    Rule::new(&["hd"], |q| min_size(q, 1280, Some(720)), "HD is at least 1280×720"),
    Rule::new(&["720p"], |q| min_size(q, 1280, Some(720)), "720p is 1280×720"),
    Rule::new(&["4k"], |q| min_size(q, 3840, Some(2160)), "4K is 3840×2160"),
    Rule::new(&["uhd"], |q| min_size(q, 3840, Some(2160)), "UHD is 3840×2160"),
    Rule::new(&["dark", "mode"], |q| tone(q, Tone::Dark), "dark mode"),
    Rule::new(&["dark", "theme"], |q| tone(q, Tone::Dark), "a dark theme"),
    Rule::new(&["dark", "background"], |q| tone(q, Tone::Dark), "a dark background").when(Attach::Request),
    Rule::new(&["light", "mode"], |q| tone(q, Tone::Light), "light mode"),
    Rule::new(&["light", "theme"], |q| tone(q, Tone::Light), "a light theme"),
    Rule::new(&["light", "background"], |q| tone(q, Tone::Light), "a light background").when(Attach::Request),
    Rule::new(&["white", "background"], |q| tone(q, Tone::Light), "a white background").when(Attach::Request),
    Rule::new(&["in", "landscape"], |q| orientation(q, Orientation::Landscape), "landscape orientation")
        .when(Attach::End),
    Rule::new(&["in", "portrait"], |q| orientation(q, Orientation::Portrait), "portrait orientation").when(Attach::End),
    Rule::new(&["landscape"], |q| orientation(q, Orientation::Landscape), "landscape orientation").when(Attach::Noun),
    Rule::new(&["horizontal"], |q| orientation(q, Orientation::Landscape), "horizontal means landscape")
        .when(Attach::Noun),
    Rule::new(&["portrait", "orientation"], |q| orientation(q, Orientation::Portrait), "portrait orientation"),
    Rule::new(&["vertical"], |q| orientation(q, Orientation::Portrait), "vertical means portrait").when(Attach::Noun),
    Rule::new(&["square"], |q| orientation(q, Orientation::Square), "square images").when(Attach::Noun),
    Rule::new(&["jpeg"], |q| format(q, ImageFormat::Jpeg), "a format name"),
    Rule::new(&["jpg"], |q| format(q, ImageFormat::Jpeg), "jpg is JPEG"),
    Rule::new(&["jpegs"], |q| format(q, ImageFormat::Jpeg), "a format name"),
    Rule::new(&["jpgs"], |q| format(q, ImageFormat::Jpeg), "jpg is JPEG"),
    Rule::new(&["png"], |q| format(q, ImageFormat::Png), "a format name"),
    Rule::new(&["pngs"], |q| format(q, ImageFormat::Png), "a format name"),
    Rule::new(&["webp"], |q| format(q, ImageFormat::Webp), "a format name"),
    Rule::new(&["avif"], |q| format(q, ImageFormat::Avif), "a format name"),
    Rule::new(&["gif"], |q| format(q, ImageFormat::Gif), "a format name"),
    Rule::new(&["gifs"], |q| format(q, ImageFormat::Gif), "a format name"),
    Rule::new(&["animated"], |q| format(q, ImageFormat::Gif), "animated images are GIFs").when(Attach::Noun),
    Rule::new(&["animation"], |q| format(q, ImageFormat::Gif), "animated images are GIFs").when(Attach::Noun),
    Rule::new(&["svg"], |q| format(q, ImageFormat::Svg), "a format name"),
    Rule::new(&["svgs"], |q| format(q, ImageFormat::Svg), "a format name"),
    Rule::new(&["vector"], |q| format(q, ImageFormat::Svg), "vector images are SVG").when(Attach::Before(VECTOR_NOUNS)),
    Rule::new(&["vectors"], |q| format(q, ImageFormat::Svg), "vector images are SVG")
        .when(Attach::Before(VECTOR_NOUNS)),
];

const NEGATIONS: &[&[&str]] = &[
    &["but", "not"],
    &["that", "do", "not", "show"],
    &["that", "don't", "show"],
    &["without", "any"],
    &["without"],
    &["excluding"],
    &["exclude"],
    &["except"],
    &["minus"],
    &["no"],
    &["not"],
];

/// Words that end the list of excluded terms ("without people in the kitchen").
const LIST_END: &[&str] =
    &["in", "on", "at", "with", "from", "for", "of", "that", "which", "where", "while", "but", "near", "by", "during"];
const LIST_JOIN: &[&str] = &["or", "and", "nor", ","];
const ARTICLES: &[&str] = &["a", "an", "the", "any"];
const DANGLING: &[&str] = &["in", "with", "on", "of", "or", "and", "for", "at", "by", "to", "as"];

const NUMBER_WORDS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

#[derive(Clone, Debug)]
struct Token {
    /// As written, without surrounding punctuation.
    raw: String,
    /// Lower-cased.
    norm: String,
    /// A comma or full stop followed the word.
    ends_clause: bool,
    /// Inside a quoted phrase: taken literally, never a filter, count or operator.
    quoted: bool,
    /// Claimed by the words of a request ("show me", "find", "I need").
    request: bool,
    used: bool,
}

impl Token {
    /// Neither claimed by a part nor inside quotes: open to be read as a filter, count,
    /// negation or operator.
    fn free(&self) -> bool {
        !self.used && !self.quoted
    }
}

fn tokenize_into(tokens: &mut Vec<Token>, text: &str, quoted: bool) {
    for piece in text.split_whitespace() {
        let ends_clause = piece.ends_with([',', ';', '.', '!', '?']);
        let raw = piece.trim_matches(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '+' || c == '×'));
        let raw = raw.trim_end_matches(['-', '\'']);
        if raw.is_empty() {
            // Punctuation written apart ("without water , a plant droops") still ends a clause.
            if ends_clause && let Some(last) = tokens.last_mut() {
                last.ends_clause = true;
            }
            continue;
        }
        tokens.push(Token {
            raw: raw.to_string(),
            norm: raw.to_lowercase().replace('’', "'"),
            ends_clause,
            quoted,
            request: false,
            used: false,
        });
    }
    if quoted && let Some(last) = tokens.last_mut() {
        // A phrase ends at its closing quote.
        last.ends_clause = true;
    }
}

/// A quoted phrase of the message: its words are `tokens[range]`.
struct Quoted {
    phrase: String,
    range: std::ops::Range<usize>,
}

/// Splits the message into words, keeping track of which came from quoted phrases.
fn tokenize(message: &str) -> (Vec<Token>, Vec<Quoted>) {
    let mut tokens = Vec::new();
    let mut quotes = Vec::new();
    let mut in_quote = false;
    let mut piece = String::new();
    for c in message.chars().chain(std::iter::once('\0')) {
        let boundary = matches!(c, '"' | '“' | '”') || c == '\0';
        if !boundary {
            piece.push(c);
            continue;
        }
        // An unclosed quote is read as plain words.
        let closes = in_quote && c != '\0';
        let start = tokens.len();
        tokenize_into(&mut tokens, &piece, closes);
        if closes && tokens.len() > start {
            quotes.push(Quoted { phrase: piece.trim().to_lowercase(), range: start..tokens.len() });
        }
        piece.clear();
        in_quote = !in_quote;
    }
    (tokens, quotes)
}

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

fn matches_at(tokens: &[Token], at: usize, words: &[&str]) -> bool {
    words.iter().enumerate().all(|(i, w)| tokens.get(at + i).is_some_and(|t| t.free() && t.norm == *w))
        // A phrase never spans a clause boundary.
        && (0..words.len().saturating_sub(1)).all(|i| !tokens[at + i].ends_clause)
}

fn matched_text(tokens: &[Token], at: usize, len: usize) -> String {
    tokens[at..at + len].iter().map(|t| t.raw.as_str()).collect::<Vec<_>>().join(" ")
}

fn mark_used(tokens: &mut [Token], range: std::ops::Range<usize>) {
    for t in &mut tokens[range] {
        t.used = true;
    }
}

/// Records a recognised part made of `tokens[range]` and takes those words out of the text.
fn claim(
    tokens: &mut [Token],
    q: &mut Query,
    range: std::ops::Range<usize>,
    kind: PartKind,
    value: String,
    reason: impl Into<String>,
) {
    let matched = matched_text(tokens, range.start, range.len());
    q.parts.push(Part { kind, value, matched, reason: reason.into(), note: None });
    mark_used(tokens, range);
}

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

/// Words that, just before a format's name, ask for every format but it ("logos, not SVG").
const FORMAT_NEGATIONS: &[&str] = &["not", "no", "without", "except", "excluding", "exclude", "minus"];

/// Where a negation of the word at `at` starts: the free negation word before it, articles
/// ("not the GIFs") between.
fn negation_before(tokens: &[Token], at: usize) -> Option<usize> {
    let mut p = at.checked_sub(1)?;
    while ARTICLES.contains(&tokens[p].norm.as_str()) && tokens[p].free() && !tokens[p].ends_clause {
        p = p.checked_sub(1)?;
    }
    if !(tokens[p].free() && !tokens[p].ends_clause && FORMAT_NEGATIONS.contains(&tokens[p].norm.as_str())) {
        return None;
    }
    // "but not" is one negation.
    let but = p.checked_sub(1).filter(|&b| tokens[p].norm == "not" && tokens[b].free() && tokens[b].norm == "but");
    Some(but.unwrap_or(p))
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

fn mark_rules(tokens: &mut [Token], q: &mut Query, words: &[(&str, bool)], descriptive: bool) {
    let mut i = 0;
    while i < tokens.len() {
        let found = RULES.iter().find(|r| {
            let last = i + r.words.len() - 1;
            matches_at(tokens, i, r.words)
                && match r.attach {
                    Attach::Always => true,
                    Attach::Noun => leads_to_image_noun(words, last, descriptive),
                    Attach::Before(nouns) => {
                        !tokens[last].ends_clause && words.get(last + 1).is_some_and(|(w, _)| nouns.contains(w))
                    }
                    Attach::Request => !descriptive,
                    Attach::End => tokens[last].ends_clause || last + 1 == tokens.len(),
                }
        });
        match found {
            Some(rule) => {
                let (kind, value) = (rule.apply)(q);
                let end = i + rule.words.len();
                match negation_before(tokens, i).filter(|_| kind == PartKind::Format) {
                    Some(start) => {
                        let reason = format!("every format but {}", value.to_uppercase());
                        claim(tokens, q, start..end, kind, format!("{NOT_FORMAT}{value}"), reason);
                    }
                    None => claim(tokens, q, i..end, kind, value, rule.reason),
                }
                i = end;
            }
            None => i += 1,
        }
    }
    // The formats asked for follow from the format chips, negated ones among them.
    q.formats = formats_of(&q.parts);
}

fn number(word: &str) -> Option<u32> {
    word.parse::<u32>().ok().or_else(|| NUMBER_WORDS.iter().position(|w| *w == word).map(|n| n as u32))
}

/// "show me 5 …", "top 10", "3 photos of …", "a dozen". A number is a count when it
/// quantifies the results: after the words of a request or "top", or before an image noun in
/// a request. "Three children play football" counts children, and is no count.
fn mark_count(tokens: &mut [Token], q: &mut Query, words: &[(&str, bool)], descriptive: bool) {
    for i in 0..tokens.len() {
        if !tokens[i].free() || q.count.is_some() {
            continue;
        }
        let n = if tokens[i].norm == "dozen" { Some(12) } else { number(&tokens[i].norm) };
        let Some(n) = n.filter(|n| (1..=1_000_000).contains(n)) else { continue };
        let previous = i.checked_sub(1).map(|p| &tokens[p]);
        // "top 10" in any message; "the first eight series" in a description counts series.
        let after_top = previous.is_some_and(|t| {
            t.free() && (t.norm == "top" || (!descriptive && matches!(t.norm.as_str(), "first" | "best")))
        });
        let after_request = previous.is_some_and(|t| t.request);
        let of_images = !descriptive && leads_to_image_noun(words, i, false);
        if !(after_top || after_request || of_images) {
            continue;
        }
        let count = n.min(MAX_COUNT);
        let start = if after_top { i - 1 } else { i };
        q.count = Some(count);
        let reason = if count < n {
            format!("asks for {n}; at most {MAX_COUNT} are shown")
        } else {
            "asks for a number of results".into()
        };
        claim(tokens, q, start..i + 1, PartKind::Count, count.to_string(), reason);
        if tokens
            .get(i + 1)
            .is_some_and(|t| matches!(t.norm.as_str(), "images" | "image" | "pictures" | "pics" | "results"))
        {
            tokens[i + 1].used = true;
        }
    }
}

/// Sides of a "WxH" below this are not a pixel size ("a 4x4 jeep", "a 10x12 office").
const MIN_SIZE_SIDE: u32 = 16;
/// Units after "WxH" that make it a physical size, not pixels.
const LENGTH_UNITS: &[&str] = &["in", "inch", "inches", "cm", "mm", "m", "ft", "feet", "foot", "meters", "metres"];
/// Words that make a number beside "at least"/"over"/"than" a size, not a quantity ("more than
/// 20 people" is not 20 px).
const SIZE_WORDS: &[&str] =
    &["wide", "tall", "high", "wider", "taller", "larger", "bigger", "width", "height", "across", "resolution"];

/// "at least 1920 pixels wide", "1920x1080 or larger", "wider than 800", "over 1000px".
fn mark_sizes(tokens: &mut [Token], q: &mut Query) {
    for i in 0..tokens.len() {
        if !tokens[i].free() {
            continue;
        }
        let word = tokens[i].norm.trim_end_matches("px").to_string();
        if let Some((w, h)) =
            word.split_once(['x', '×']).and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        {
            let physical = tokens.get(i + 1).is_some_and(|t| LENGTH_UNITS.contains(&t.norm.as_str()));
            if w < MIN_SIZE_SIDE || h < MIN_SIZE_SIDE || physical {
                continue;
            }
            let (kind, value) = min_size(q, w, Some(h));
            let mut end = i;
            for k in [i + 1, i + 2] {
                if tokens.get(k).is_some_and(|t| {
                    t.free()
                        && matches!(t.norm.as_str(), "or" | "larger" | "bigger" | "more" | "above" | "pixels" | "px")
                }) {
                    end = k;
                } else {
                    break;
                }
            }
            let mut start = i;
            while start > 0
                && matches!(tokens[start - 1].norm.as_str(), "at" | "least" | "minimum" | "min")
                && tokens[start - 1].free()
            {
                start -= 1;
            }
            claim(tokens, q, start..end + 1, kind, value, "a minimum size");
            continue;
        }
        let Some(n) = word.parse::<u32>().ok().filter(|n| (16..=20_000).contains(n)) else { continue };
        let before: Vec<&str> = tokens[i.saturating_sub(2)..i].iter().map(|t| t.norm.as_str()).collect();
        let after: Vec<&str> = tokens[i + 1..(i + 3).min(tokens.len())].iter().map(|t| t.norm.as_str()).collect();
        let pixels =
            tokens[i].norm.ends_with("px") || after.first().is_some_and(|w| matches!(*w, "px" | "pixels" | "pixel"));
        let at_least = before.iter().any(|w| matches!(*w, "least" | "over" | "above" | "than" | "minimum" | "min"));
        let sized = before.iter().chain(after.iter()).any(|w| SIZE_WORDS.contains(w));
        let tall = after.iter().chain(before.iter()).any(|w| matches!(*w, "tall" | "high" | "height" | "taller"));
        if !(pixels || (at_least && sized)) {
            continue;
        }
        let (kind, value) = if tall {
            q.min_height = Some(q.min_height.map_or(n, |x| x.max(n)));
            (PartKind::MinSize, format!("≥ {n} px tall"))
        } else {
            min_size(q, n, None)
        };
        let mut start = i;
        while start > 0
            && tokens[start - 1].free()
            && matches!(
                tokens[start - 1].norm.as_str(),
                "at" | "least" | "over" | "above" | "than" | "wider" | "taller" | "minimum" | "min" | "more"
            )
        {
            start -= 1;
        }
        let mut end = i;
        while end + 1 < tokens.len()
            && tokens[end + 1].free()
            && matches!(tokens[end + 1].norm.as_str(), "px" | "pixels" | "pixel" | "wide" | "tall" | "high" | "across")
        {
            end += 1;
        }
        claim(tokens, q, start..end + 1, kind, value, "a minimum size");
    }
}

/// Negations that only ever speak of the results ("cars but not trucks", "animals except
/// cats"); the others ("no", "not", "without") as often describe the subject ("a man with no
/// hat").
const RESULT_NEGATIONS: &[&[&str]] = &[
    &["but", "not"],
    &["that", "do", "not", "show"],
    &["that", "don't", "show"],
    &["excluding"],
    &["exclude"],
    &["except"],
    &["minus"],
];

/// Whether a "no"/"not"/"without" at `at` scopes over the results: it follows an image noun
/// ("photos without people", "pictures with no text"), or opens a short request or one of its
/// clauses ("no text", "city at night, not blurry").
fn negates_results(tokens: &[Token], at: usize, descriptive: bool) -> bool {
    let Some(mut p) = at.checked_sub(1) else { return !descriptive };
    if tokens[p].ends_clause {
        return !descriptive;
    }
    if tokens[p].norm == "with" && p > 0 {
        p -= 1;
    }
    names_images(&tokens[p].norm, descriptive)
}

fn mark_negations(tokens: &mut [Token], q: &mut Query, descriptive: bool) {
    let mut i = 0;
    while i < tokens.len() {
        let Some(neg) = NEGATIONS.iter().find(|n| matches_at(tokens, i, n)) else {
            i += 1;
            continue;
        };
        let scoped =
            if RESULT_NEGATIONS.contains(neg) { !descriptive } else { negates_results(tokens, i, descriptive) };
        if !scoped {
            i += neg.len();
            continue;
        }
        let start = i;
        let mut j = i + neg.len();
        let mut terms: Vec<String> = Vec::new();
        let mut current: Vec<String> = Vec::new();
        while j < tokens.len() && tokens[j].free() {
            let w = tokens[j].norm.as_str();
            if LIST_END.contains(&w) {
                break;
            }
            if LIST_JOIN.contains(&w) {
                if !current.is_empty() {
                    terms.push(current.join(" "));
                    current.clear();
                }
            } else if !ARTICLES.contains(&w) {
                current.push(w.to_string());
            }
            let clause_end = tokens[j].ends_clause;
            j += 1;
            // An excluded term is a word or two ("people", "text overlay"), not the rest of the message.
            if clause_end || current.len() >= 2 {
                break;
            }
        }
        if !current.is_empty() {
            terms.push(current.join(" "));
        }
        if terms.is_empty() {
            i += neg.len();
            continue;
        }
        let matched = matched_text(tokens, start, j - start);
        for term in terms {
            if !q.exclude_terms.contains(&term) {
                q.parts.push(Part {
                    kind: PartKind::Exclude,
                    value: term.clone(),
                    matched: matched.clone(),
                    reason: format!("\"{}\" excludes what follows", neg.join(" ")),
                    note: None,
                });
                q.exclude_terms.push(term);
            }
        }
        mark_used(tokens, start..j);
        i = j;
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
