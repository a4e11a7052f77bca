//! Query understanding without a language model: a chat message becomes search text plus
//! filters (formats, size, orientation, tone, transparency, count), required phrases and
//! excluded terms, and every recognised part says why, for the UI's filter chips.

use serde::{Deserialize, Serialize};

/// Longest message accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1_000;
/// "high resolution" and friends mean at least this wide.
pub const HIGH_RES_MIN_WIDTH: u32 = 1_600;
/// Largest count a message may ask for.
pub const MAX_COUNT: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
    Svg,
    Avif,
}

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
            Self::Svg => "svg",
            Self::Avif => "avif",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::Webp),
            "gif" => Some(Self::Gif),
            "svg" | "svg+xml" => Some(Self::Svg),
            "avif" => Some(Self::Avif),
            _ => None,
        }
    }

    /// The format a URL names: its file extension, a `format`/`fm` parameter, or a data URI's type.
    pub fn from_url(url: &url::Url) -> Option<Self> {
        if url.scheme() == "data" {
            let mime = url.path().split([';', ',']).next()?;
            return Self::parse(mime.strip_prefix("image/")?);
        }
        let from_query = url.query_pairs().find(|(k, _)| k == "format" || k == "fm").and_then(|(_, v)| Self::parse(&v));
        let file = url.path().rsplit('/').next()?;
        from_query.or_else(|| Self::parse(file.rsplit_once('.')?.1))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    Landscape,
    Portrait,
    Square,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Dark,
    Light,
}

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
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// What to look for, with filler and filter words removed.
    pub text: String,
    /// Quoted phrases that must appear.
    pub must_terms: Vec<String>,
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

/// Multi-word and single-word filter phrases, longest first within a group.
struct Rule {
    words: &'static [&'static str],
    apply: fn(&mut Query) -> (PartKind, String),
    reason: &'static str,
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

const RULES: &[Rule] = &[
    Rule { words: &["transparent", "background"], apply: transparent, reason: "asks for a transparent background" },
    Rule { words: &["with", "transparency"], apply: transparent, reason: "asks for transparency" },
    Rule { words: &["no", "background"], apply: transparent, reason: "\"no background\" means a transparent one" },
    Rule {
        words: &["without", "background"],
        apply: transparent,
        reason: "\"without background\" means a transparent one",
    },
    Rule { words: &["transparent"], apply: transparent, reason: "asks for transparency" },
    Rule { words: &["cutout"], apply: transparent, reason: "a cutout has a transparent background" },
    Rule {
        words: &["high", "resolution"],
        apply: |q| min_size(q, HIGH_RES_MIN_WIDTH, None),
        reason: "high resolution",
    },
    Rule { words: &["high-resolution"], apply: |q| min_size(q, HIGH_RES_MIN_WIDTH, None), reason: "high resolution" },
    Rule { words: &["high", "res"], apply: |q| min_size(q, HIGH_RES_MIN_WIDTH, None), reason: "high resolution" },
    Rule { words: &["high-res"], apply: |q| min_size(q, HIGH_RES_MIN_WIDTH, None), reason: "high resolution" },
    Rule { words: &["hi-res"], apply: |q| min_size(q, HIGH_RES_MIN_WIDTH, None), reason: "high resolution" },
    Rule { words: &["hires"], apply: |q| min_size(q, HIGH_RES_MIN_WIDTH, None), reason: "high resolution" },
    Rule {
        words: &["large"],
        apply: |q| min_size(q, HIGH_RES_MIN_WIDTH, None),
        reason: "\"large\" asks for big images",
    },
    Rule { words: &["full", "hd"], apply: |q| min_size(q, 1920, Some(1080)), reason: "Full HD is 1920×1080" },
    Rule { words: &["1080p"], apply: |q| min_size(q, 1920, Some(1080)), reason: "1080p is 1920×1080" },
    Rule { words: &["hd"], apply: |q| min_size(q, 1280, Some(720)), reason: "HD is at least 1280×720" },
    Rule { words: &["720p"], apply: |q| min_size(q, 1280, Some(720)), reason: "720p is 1280×720" },
    Rule { words: &["4k"], apply: |q| min_size(q, 3840, Some(2160)), reason: "4K is 3840×2160" },
    Rule { words: &["uhd"], apply: |q| min_size(q, 3840, Some(2160)), reason: "UHD is 3840×2160" },
    Rule { words: &["dark", "mode"], apply: |q| tone(q, Tone::Dark), reason: "dark mode" },
    Rule { words: &["dark", "theme"], apply: |q| tone(q, Tone::Dark), reason: "a dark theme" },
    Rule { words: &["dark", "background"], apply: |q| tone(q, Tone::Dark), reason: "a dark background" },
    Rule { words: &["light", "mode"], apply: |q| tone(q, Tone::Light), reason: "light mode" },
    Rule { words: &["light", "theme"], apply: |q| tone(q, Tone::Light), reason: "a light theme" },
    Rule { words: &["light", "background"], apply: |q| tone(q, Tone::Light), reason: "a light background" },
    Rule { words: &["white", "background"], apply: |q| tone(q, Tone::Light), reason: "a white background" },
    Rule { words: &["landscape"], apply: |q| orientation(q, Orientation::Landscape), reason: "landscape orientation" },
    Rule {
        words: &["horizontal"],
        apply: |q| orientation(q, Orientation::Landscape),
        reason: "horizontal means landscape",
    },
    Rule {
        words: &["portrait", "orientation"],
        apply: |q| orientation(q, Orientation::Portrait),
        reason: "portrait orientation",
    },
    Rule { words: &["vertical"], apply: |q| orientation(q, Orientation::Portrait), reason: "vertical means portrait" },
    Rule { words: &["square"], apply: |q| orientation(q, Orientation::Square), reason: "square images" },
    Rule { words: &["jpeg"], apply: |q| format(q, ImageFormat::Jpeg), reason: "a format name" },
    Rule { words: &["jpg"], apply: |q| format(q, ImageFormat::Jpeg), reason: "jpg is JPEG" },
    Rule { words: &["jpegs"], apply: |q| format(q, ImageFormat::Jpeg), reason: "a format name" },
    Rule { words: &["jpgs"], apply: |q| format(q, ImageFormat::Jpeg), reason: "jpg is JPEG" },
    Rule { words: &["png"], apply: |q| format(q, ImageFormat::Png), reason: "a format name" },
    Rule { words: &["pngs"], apply: |q| format(q, ImageFormat::Png), reason: "a format name" },
    Rule { words: &["webp"], apply: |q| format(q, ImageFormat::Webp), reason: "a format name" },
    Rule { words: &["avif"], apply: |q| format(q, ImageFormat::Avif), reason: "a format name" },
    Rule { words: &["gif"], apply: |q| format(q, ImageFormat::Gif), reason: "a format name" },
    Rule { words: &["gifs"], apply: |q| format(q, ImageFormat::Gif), reason: "a format name" },
    Rule { words: &["animated"], apply: |q| format(q, ImageFormat::Gif), reason: "animated images are GIFs" },
    Rule { words: &["animation"], apply: |q| format(q, ImageFormat::Gif), reason: "animated images are GIFs" },
    Rule { words: &["svg"], apply: |q| format(q, ImageFormat::Svg), reason: "a format name" },
    Rule { words: &["svgs"], apply: |q| format(q, ImageFormat::Svg), reason: "a format name" },
    Rule { words: &["vector"], apply: |q| format(q, ImageFormat::Svg), reason: "vector images are SVG" },
    Rule { words: &["vectors"], apply: |q| format(q, ImageFormat::Svg), reason: "vector images are SVG" },
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
    used: bool,
}

fn tokenize(message: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    for piece in message.split_whitespace() {
        let ends_clause = piece.ends_with([',', ';', '.', '!', '?']);
        let raw = piece.trim_matches(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '+' || c == '×'));
        let raw = raw.trim_end_matches(['-', '\'']);
        if raw.is_empty() {
            continue;
        }
        tokens.push(Token {
            raw: raw.to_string(),
            norm: raw.to_lowercase().replace('’', "'"),
            ends_clause,
            used: false,
        });
    }
    tokens
}

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

    // Quoted phrases first: they are taken literally.
    let mut rest = String::new();
    let mut in_quote = false;
    let mut phrase = String::new();
    for c in message.chars() {
        match c {
            '"' | '“' | '”' => {
                if in_quote && !phrase.trim().is_empty() {
                    let p = phrase.trim().to_lowercase();
                    q.parts.push(Part {
                        kind: PartKind::Require,
                        value: p.clone(),
                        matched: format!("\"{}\"", phrase.trim()),
                        reason: "a quoted phrase must appear".into(),
                    });
                    q.must_terms.push(p);
                    rest.push(' ');
                    rest.push_str(phrase.trim());
                    rest.push(' ');
                }
                phrase.clear();
                in_quote = !in_quote;
            }
            c if in_quote => phrase.push(c),
            c => rest.push(c),
        }
    }
    if in_quote {
        rest.push_str(&phrase);
    }

    let mut tokens = tokenize(&rest);
    mark_filler(&mut tokens, &mut q);
    mark_rules(&mut tokens, &mut q);
    mark_count(&mut tokens, &mut q);
    mark_sizes(&mut tokens, &mut q);
    mark_negations(&mut tokens, &mut q);

    // "-word" and "+word" operators.
    for t in tokens.iter_mut().filter(|t| !t.used) {
        if let Some(word) =
            t.norm.strip_prefix('-').filter(|w| w.len() > 1 && w.chars().next().is_some_and(char::is_alphabetic))
        {
            q.parts.push(Part {
                kind: PartKind::Exclude,
                value: word.to_string(),
                matched: t.raw.clone(),
                reason: "a leading minus excludes a word".into(),
            });
            q.exclude_terms.push(word.to_string());
            t.used = true;
        } else if let Some(word) = t.norm.strip_prefix('+').filter(|w| !w.is_empty()) {
            q.parts.push(Part {
                kind: PartKind::Require,
                value: word.to_string(),
                matched: t.raw.clone(),
                reason: "a leading plus requires a word".into(),
            });
            q.must_terms.push(word.to_string());
            t.raw = word.to_string();
        }
    }

    let mut text: Vec<&str> = tokens
        .iter()
        .filter(|t| !t.used)
        .map(|t| t.raw.as_str())
        .filter(|w| !ARTICLES.contains(&w.to_lowercase().as_str()))
        .collect();
    // Words left dangling by removed filters ("logo with [transparent background]").
    let dangling = |w: &&str| DANGLING.contains(&w.to_lowercase().as_str());
    while text.last().is_some_and(dangling) {
        text.pop();
    }
    while text.first().is_some_and(dangling) {
        text.remove(0);
    }
    q.text = text.join(" ");
    q.parts.sort_by_key(|p| p.kind as u8);
    Ok(q)
}

fn matches_at(tokens: &[Token], at: usize, words: &[&str]) -> bool {
    words.iter().enumerate().all(|(i, w)| tokens.get(at + i).is_some_and(|t| !t.used && t.norm == *w))
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
    q.parts.push(Part { kind, value, matched, reason: reason.into() });
    mark_used(tokens, range);
}

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
                i += f.len();
            }
            None => i += 1,
        }
    }
    // Generic nouns anywhere ("PNG images of Apple Watch").
    for (i, t) in tokens.iter_mut().enumerate() {
        if !t.used && matches!(t.norm.as_str(), "images" | "image" | "pictures" | "picture" | "pics") && i > 0 {
            t.used = true;
        }
    }
    // "of" left dangling after a removed noun ("images of X").
    for i in 1..tokens.len() {
        if tokens[i].norm == "of" && !tokens[i].used && tokens[i - 1].used {
            tokens[i].used = true;
        }
    }
}

fn mark_rules(tokens: &mut [Token], q: &mut Query) {
    let mut i = 0;
    while i < tokens.len() {
        let found = RULES.iter().find(|r| matches_at(tokens, i, r.words));
        match found {
            Some(rule) => {
                let (kind, value) = (rule.apply)(q);
                claim(tokens, q, i..i + rule.words.len(), kind, value, rule.reason);
                i += rule.words.len();
            }
            None => i += 1,
        }
    }
}

fn number(word: &str) -> Option<u32> {
    word.parse::<u32>().ok().or_else(|| NUMBER_WORDS.iter().position(|w| *w == word).map(|n| n as u32))
}

/// "show me 5 …", "top 10", "3 photos of …", "a dozen".
fn mark_count(tokens: &mut [Token], q: &mut Query) {
    for i in 0..tokens.len() {
        if tokens[i].used || q.count.is_some() {
            continue;
        }
        let after_request =
            i == 0 || tokens[i - 1].used || matches!(tokens[i - 1].norm.as_str(), "top" | "first" | "best");
        let n = if tokens[i].norm == "dozen" { Some(12) } else { number(&tokens[i].norm) };
        let Some(n) = n.filter(|n| (1..=1_000_000).contains(n)) else { continue };
        // A number is a count when the request leads to it, not when it describes the image
        // ("2 dogs" after "show me" is a count; "a photo of 2 dogs" is not).
        if !after_request {
            continue;
        }
        let count = n.min(MAX_COUNT);
        let mut start = i;
        if i > 0 && matches!(tokens[i - 1].norm.as_str(), "top" | "first" | "best") && !tokens[i - 1].used {
            start = i - 1;
        }
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

/// "at least 1920 pixels wide", "1920x1080 or larger", "wider than 800", "over 1000px".
fn mark_sizes(tokens: &mut [Token], q: &mut Query) {
    for i in 0..tokens.len() {
        if tokens[i].used {
            continue;
        }
        let word = tokens[i].norm.trim_end_matches("px").to_string();
        if let Some((w, h)) =
            word.split_once(['x', '×']).and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        {
            let (kind, value) = min_size(q, w, Some(h));
            let mut end = i;
            for k in [i + 1, i + 2] {
                if tokens.get(k).is_some_and(|t| {
                    matches!(t.norm.as_str(), "or" | "larger" | "bigger" | "more" | "above" | "pixels" | "px")
                }) {
                    end = k;
                } else {
                    break;
                }
            }
            let mut start = i;
            while start > 0
                && matches!(tokens[start - 1].norm.as_str(), "at" | "least" | "minimum" | "min")
                && !tokens[start - 1].used
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
        let tall = after.iter().chain(before.iter()).any(|w| matches!(*w, "tall" | "high" | "height" | "taller"));
        if !(pixels || at_least) {
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
            && !tokens[start - 1].used
            && matches!(
                tokens[start - 1].norm.as_str(),
                "at" | "least" | "over" | "above" | "than" | "wider" | "taller" | "minimum" | "min" | "more"
            )
        {
            start -= 1;
        }
        let mut end = i;
        while end + 1 < tokens.len()
            && !tokens[end + 1].used
            && matches!(tokens[end + 1].norm.as_str(), "px" | "pixels" | "pixel" | "wide" | "tall" | "high" | "across")
        {
            end += 1;
        }
        claim(tokens, q, start..end + 1, kind, value, "a minimum size");
    }
}

fn mark_negations(tokens: &mut [Token], q: &mut Query) {
    let mut i = 0;
    while i < tokens.len() {
        let Some(neg) = NEGATIONS.iter().find(|n| matches_at(tokens, i, n)) else {
            i += 1;
            continue;
        };
        let start = i;
        let mut j = i + neg.len();
        let mut terms: Vec<String> = Vec::new();
        let mut current: Vec<String> = Vec::new();
        while j < tokens.len() && !tokens[j].used {
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
