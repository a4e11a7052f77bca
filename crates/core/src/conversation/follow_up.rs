//! Reading a follow-up message against the request before it, by rules: a message that only
//! adds or changes constraints refines the request ("only the PNG ones", "bigger", "in
//! landscape", "show me 5", "not the logos"), one that says what to drop takes it away ("any
//! format", "any size again", "include people"), "more" pages on, and one that describes
//! something new starts a new request ("now sunsets over the sea"). Filters are read by the
//! same parser as a first message, so a description is never taken for a filter.

use super::request::{overlay, remove_chip, remove_kind};
use crate::search::parse::{HIGH_RES_MIN_WIDTH, NOT_FORMAT};
use crate::search::{ImageFormat, Orientation, Part, PartKind, Query, QueryError, Tone, parse};

/// What a follow-up does.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    /// A new description: a new request.
    New(Query),
    /// The request before it, changed (the changes may be none: it asked for what was there).
    Refined(Query),
    /// The next page of the request before it.
    NextPage,
}

/// Whole messages that ask for the next page.
const PAGE_ON: &[&str] = &[
    "more",
    "next",
    "next page",
    "show more",
    "show me more",
    "more results",
    "more images",
    "more pictures",
    "more photos",
    "load more",
    "keep going",
    "continue",
    "more of them",
    "more of these",
    "more of those",
    "next ones",
    "the next ones",
    "give me more",
    "any more",
    "see more",
    "even more",
    "next results",
    "next batch",
];

/// Words of a follow-up that carry no subject of their own ("only the PNG ones").
const FOLLOW_UP_FILLER: &[&str] = &[
    "only", "just", "the", "a", "an", "ones", "one", "those", "these", "them", "they", "that", "this", "but", "and",
    "also", "now", "instead", "please", "rather", "ok", "okay", "then", "same", "again", "as", "well", "too", "i",
    "want", "need", "meant", "mean", "actually", "make", "it", "its", "it's", "show", "me", "give", "some", "in",
    "with", "of", "are", "is", "be", "should", "can", "could", "you", "which", "what", "about", "how", "let's", "lets",
    "see", "like", "there", "here", "photos", "photo", "images", "image", "pictures", "picture", "pics", "results",
    "ones", "thanks", "thank", "yes", "no", "not", "even", "any", "all", "prefer", "would", "i'd", "sorry", "oh",
    "hmm", "so", "filter", "by", "to", "for", "keep", "get", "more", "enough", "fine", "good",
];

/// Words that open a new description: "now sunsets over the sea".
const NEW_SEARCH_OPENERS: &[&[&str]] = &[
    &["and", "now"],
    &["ok", "now"],
    &["okay", "now"],
    &["how", "about"],
    &["what", "about"],
    &["now"],
    &["instead"],
    &["next", "search"],
    &["new", "search"],
];

/// Words that open an addition to the words searched for ("and on a beach", "with a red
/// roof"), and how many of them join the words ("with" does, "and" does not).
const ADDITION_OPENERS: &[(&[&str], usize)] = &[
    (&["but", "also"], 0),
    (&["and", "also"], 0),
    (&["but", "with"], 1),
    (&["that", "have"], 0),
    (&["that", "has"], 0),
    (&["that", "show"], 0),
    (&["which", "have"], 0),
    (&["and"], 0),
    (&["also"], 0),
    (&["with"], 1),
    (&["plus"], 0),
    (&["having"], 1),
    (&["showing"], 1),
    (&["include"], 0),
    (&["including"], 0),
];

/// Orientation words that the first-message parser leaves to the description ("a portrait of a
/// scientist") but that, alone in a follow-up, ask for the shape of the pictures shown.
const LONE_ORIENTATIONS: &[(&str, Orientation)] = &[
    ("portrait", Orientation::Portrait),
    ("portraits", Orientation::Portrait),
    ("vertical", Orientation::Portrait),
    ("landscape", Orientation::Landscape),
    ("horizontal", Orientation::Landscape),
    ("square", Orientation::Square),
];

/// Words that take a constraint away when they come before its name.
const DROPPERS: &[&str] =
    &["drop", "remove", "forget", "ignore", "clear", "lose", "skip", "undo", "cancel", "reset", "delete", "scrap"];
/// Negations that take away a constraint they name ("not PNG" after "PNG logos"), or, before a
/// dimension, only with a word like "filter" after it ("no size limit": "no background" is a
/// transparency request of its own).
const NEGATORS: &[&str] = &["no", "not", "without"];
/// "any format", "all sizes", "whatever orientation".
const ANY: &[&str] = &["any", "all", "every", "whatever", "other"];
/// What a dropper or negation may name after it: "drop the size filter".
const FILTER_NOUNS: &[&str] =
    &["filter", "filters", "limit", "limits", "requirement", "restriction", "restrictions", "constraint", "chip"];
/// Words after an excluded term that let it back in: "people are fine".
const ALLOWING: &[&str] = &["fine", "ok", "okay", "allowed", "welcome", "too", "included"];
const ARTICLES: &[&str] = &["the", "a", "an", "that", "this", "those", "these", "any", "my"];

/// The dimension a word names, and the kinds of chip it covers.
fn dimension(word: &str) -> Option<&'static [PartKind]> {
    use PartKind::*;
    Some(match word {
        "format" | "formats" | "type" | "types" | "filetype" | "filetypes" | "extension" => &[Format],
        "size" | "sizes" | "resolution" | "resolutions" | "dimensions" | "width" | "height" => &[MinSize],
        "orientation" | "orientations" | "shape" | "shapes" | "aspect" => &[Orientation],
        "tone" | "tones" | "brightness" | "colour" | "color" | "colours" | "colors" | "lighting" => &[Tone],
        "background" | "backgrounds" => &[Tone, Transparency],
        "transparency" => &[Transparency],
        "number" | "count" | "amount" => &[Count],
        "filter" | "filters" | "constraints" | "restrictions" | "limits" | "chips" => {
            &[Format, MinSize, Orientation, Tone, Transparency, Count, Exclude, Require]
        }
        _ => return None,
    })
}

/// Words that name a chip of the request: its value, what it matched, and the words its kind
/// is known by ("high-res" names a size floor).
fn names_chip(part: &Part, words: &[&str]) -> bool {
    let phrase = words.join(" ");
    let value = part.value.to_lowercase();
    if phrase == value || part.matched.to_lowercase() == phrase {
        return true;
    }
    let one = |w: &str| words.len() == 1 && words[0] == w;
    match part.kind {
        PartKind::Format => {
            let f = ImageFormat::parse(value.trim_start_matches(NOT_FORMAT));
            words.len() == 1 && f.is_some() && ImageFormat::parse(words[0].trim_end_matches('s')) == f
        }
        PartKind::MinSize => matches!(
            phrase.as_str(),
            "high-res"
                | "hi-res"
                | "high res"
                | "hires"
                | "high resolution"
                | "high-resolution"
                | "hd"
                | "4k"
                | "uhd"
                | "1080p"
                | "720p"
                | "full hd"
                | "large"
                | "big"
                | "huge"
                | "bigger"
                | "larger"
                | "size"
                | "minimum size"
        ),
        PartKind::Orientation => {
            one("orientation")
                || (value == "landscape" && one("horizontal"))
                || (value == "portrait" && one("vertical"))
        }
        PartKind::Tone => one("dark") && value == "dark" || one("light") && value == "light" || one("darker"),
        PartKind::Transparency => one("transparent") || one("transparency") || one("cutout"),
        PartKind::Exclude | PartKind::Require | PartKind::Boost => same_term(&value, &phrase),
        PartKind::Count | PartKind::Filler => false,
    }
}

/// A term and a word for it, plural or singular: "logos" and "logo".
fn same_term(a: &str, b: &str) -> bool {
    a == b || a.strip_suffix('s') == Some(b) || b.strip_suffix('s') == Some(a)
}

/// Lower-cased words, punctuation around them taken off.
fn words_of(message: &str) -> Vec<String> {
    pieces(message).into_iter().map(|(_, w)| w).collect()
}

fn starts_with(words: &[String], opener: &[&str]) -> bool {
    words.len() >= opener.len() && words.iter().zip(opener).all(|(w, o)| w == o)
}

/// The size floors "bigger" and "smaller" step through, in pixels of width.
const SIZE_STEPS: [u32; 6] = [800, 1200, HIGH_RES_MIN_WIDTH, 1920, 2560, 3840];

fn size_part(width: u32, matched: &str, reason: String) -> Part {
    Part { kind: PartKind::MinSize, value: format!("≥ {width} px wide"), matched: matched.into(), reason, note: None }
}

/// The words of a message not read yet: lower-cased, and as written (with the punctuation that
/// ends a clause, which the parser reads).
struct Words {
    norm: Vec<String>,
    raw: Vec<String>,
}

impl Words {
    fn drain(&mut self, range: std::ops::Range<usize>) {
        self.norm.drain(range.clone());
        self.raw.drain(range);
    }

    fn rest(&self) -> String {
        self.raw.join(" ")
    }
}

/// Comparatives that move a constraint from where the request has it: "bigger", "darker".
/// Consumes their words.
fn relative(words: &mut Words, q: &mut Query) {
    let mut i = 0;
    while i < words.norm.len() {
        let two = words.norm.get(i + 1).map(|n| format!("{} {n}", words.norm[i]));
        let (len, step) = match (words.norm[i].as_str(), two.as_deref()) {
            (_, Some("higher resolution" | "higher res" | "better resolution")) => (2, Some(1)),
            (_, Some("lower resolution" | "lower res")) => (2, Some(-1)),
            ("bigger" | "larger" | "higher-res" | "higher-resolution" | "sharper", _) => (1, Some(1)),
            ("smaller" | "lower-res", _) => (1, Some(-1)),
            ("darker", _) => (1, None),
            ("lighter" | "brighter", _) => (1, None),
            _ => {
                i += 1;
                continue;
            }
        };
        let matched = words.norm[i..i + len].join(" ");
        match step {
            Some(up) => {
                let now = q.min_width.unwrap_or(0);
                let next = if up > 0 {
                    SIZE_STEPS.iter().copied().find(|&s| s > now).or(Some(SIZE_STEPS[SIZE_STEPS.len() - 1]))
                } else {
                    SIZE_STEPS.iter().rev().copied().find(|&s| s < now)
                };
                remove_kind(q, PartKind::MinSize);
                if let Some(width) = next {
                    let from = if now == 0 { "any size".to_string() } else { format!("≥ {now} px wide") };
                    q.min_width = Some(width);
                    q.parts.push(size_part(width, &matched, format!("\"{matched}\": one step from {from}")));
                }
            }
            None => {
                let tone = if matched == "darker" { Tone::Dark } else { Tone::Light };
                remove_kind(q, PartKind::Tone);
                q.tone = Some(tone);
                q.parts.push(Part {
                    kind: PartKind::Tone,
                    value: format!("{tone:?}").to_lowercase(),
                    matched: matched.clone(),
                    reason: format!("\"{matched}\" than before"),
                    note: None,
                });
            }
        }
        words.drain(i..i + len);
        q.parts.sort_by_key(|p| p.kind as u8);
    }
}

/// Phrases that take something away from the request: "any format", "drop the size filter",
/// "not PNG" (when the request holds PNG), "include people" (when it leaves people out),
/// "people are fine". Consumes their words.
fn removals(words: &mut Words, q: &mut Query) {
    let mut i = 0;
    'scan: while i < words.norm.len() {
        let w = words.norm[i].as_str();
        let mut end = i + 1;
        while end < words.norm.len() && ARTICLES.contains(&words.norm[end].as_str()) {
            end += 1;
        }
        let rest: Vec<&str> = words.norm[end..].iter().map(String::as_str).collect();
        // "any format", "all sizes", "any file type", "any number".
        if ANY.contains(&w) {
            let skip = usize::from(rest.first().is_some_and(|r| *r == "file"));
            if let Some(kinds) = rest.get(skip).and_then(|d| dimension(d)) {
                let mut j = end + skip + 1;
                if words.norm.get(j).is_some_and(|n| n == "again") {
                    j += 1;
                }
                for kind in kinds {
                    remove_kind(q, *kind);
                }
                words.drain(i..j);
                continue;
            }
        }
        // "all of them", "as many as you have": no count.
        if starts_with(&words.norm[i..], &["all", "of", "them"]) || starts_with(&words.norm[i..], &["as", "many", "as"])
        {
            remove_kind(q, PartKind::Count);
            let len = if words.norm[i] == "all" { 3 } else { words.norm.len() - i };
            words.drain(i..i + len);
            continue;
        }
        let dropper = DROPPERS.contains(&w);
        let negator = NEGATORS.contains(&w);
        if dropper || negator {
            // A dimension: "drop the size", "no size limit", "remove the filters".
            if let Some(kinds) = rest.first().and_then(|d| dimension(d)) {
                let noun = rest.get(1).is_some_and(|n| FILTER_NOUNS.contains(n));
                let plural_filter = matches!(rest[0], "filter" | "filters" | "constraints" | "restrictions" | "limits");
                if dropper || noun || plural_filter {
                    for kind in kinds {
                        remove_kind(q, *kind);
                    }
                    words.drain(i..end + 1 + usize::from(noun));
                    continue;
                }
            }
            // A chip of the request by its name: "not PNG", "drop the landscape", "no high-res".
            for len in (1..=3.min(rest.len())).rev() {
                let named = &rest[..len];
                let chips: Vec<(PartKind, String)> = q
                    .parts
                    .iter()
                    .filter(|p| !matches!(p.kind, PartKind::Filler | PartKind::Exclude) && names_chip(p, named))
                    .map(|p| (p.kind, p.value.clone()))
                    .collect();
                if chips.is_empty() {
                    continue;
                }
                for (kind, value) in chips {
                    remove_chip(q, kind, &value);
                }
                let noun = rest.get(len).is_some_and(|n| FILTER_NOUNS.contains(n));
                words.drain(i..end + len + usize::from(noun));
                continue 'scan;
            }
        }
        // "include people", "with people", "allow text" when they were left out.
        if matches!(w, "include" | "including" | "with" | "allow" | "keep" | "add")
            && let Some(term) = excluded_at(q, &rest)
        {
            remove_chip(q, PartKind::Exclude, &term.0);
            words.drain(i..end + term.1);
            continue;
        }
        // "people are fine", "text is ok", "logos too".
        if let Some((term, len)) = excluded_at(q, &words.norm[i..].iter().map(String::as_str).collect::<Vec<_>>()) {
            let mut j = i + len;
            if words.norm.get(j).is_some_and(|v| matches!(v.as_str(), "is" | "are" | "can" | "may" | "be")) {
                j += 1;
            }
            if words.norm.get(j).is_some_and(|a| ALLOWING.contains(&a.as_str())) {
                remove_chip(q, PartKind::Exclude, &term);
                words.drain(i..j + 1);
                continue;
            }
        }
        i += 1;
    }
}

/// An excluded term of the request that `words` open with, and how many words it took.
fn excluded_at(q: &Query, words: &[&str]) -> Option<(String, usize)> {
    for len in (1..=2.min(words.len())).rev() {
        let phrase = words[..len].join(" ");
        if let Some(term) = q.exclude_terms.iter().find(|t| same_term(t, &phrase)) {
            return Some((term.clone(), len));
        }
    }
    None
}

/// Words with a subject of their own: what is left of a follow-up's search text once the
/// follow-up's filler is set aside.
fn content(text: &str) -> Vec<String> {
    words_of(text).into_iter().filter(|w| !FOLLOW_UP_FILLER.contains(&w.as_str())).collect()
}

/// "only 5", "just 3", "10 please": a bare number after a request is how many to show.
fn bare_count(words: &[String]) -> Option<u32> {
    let numbers: Vec<u32> = words.iter().filter_map(|w| w.parse::<u32>().ok()).collect();
    let others = words.iter().filter(|w| w.parse::<u32>().is_err() && !FOLLOW_UP_FILLER.contains(&w.as_str()));
    (numbers.len() == 1 && others.count() == 0).then(|| numbers[0].clamp(1, crate::search::parse::MAX_COUNT))
}

/// Reads `message` against `current`, the request before it.
pub fn read(current: &Query, message: &str) -> Result<Reading, QueryError> {
    // The same bounds as a first message.
    parse(message)?;
    let pieces = pieces(message);
    let all: Vec<String> = pieces.iter().map(|(_, w)| w.clone()).collect();
    let joined = all.iter().filter(|w| *w != "please").cloned().collect::<Vec<_>>().join(" ");
    if PAGE_ON.contains(&joined.as_str()) {
        return Ok(Reading::NextPage);
    }
    // Something new is described after "now", "how about": a new request, read without them.
    if let Some(opener) = NEW_SEARCH_OPENERS.iter().find(|o| starts_with(&all, o)) {
        let described: Vec<&str> = pieces[opener.len()..].iter().map(|(raw, _)| *raw).collect();
        let described = described.join(" ");
        if let Ok(q) = parse(&described)
            && !content(&q.text).is_empty()
        {
            return Ok(Reading::New(q));
        }
    }

    let mut q = current.clone();
    let mut words = Words { norm: all.clone(), raw: pieces.iter().map(|(raw, _)| raw.to_string()).collect() };
    // "ones" is the request's pictures: "the landscape ones" reads as "the landscape images".
    for (norm, raw) in words.norm.iter_mut().zip(&mut words.raw) {
        if matches!(norm.as_str(), "ones" | "one") {
            *raw = raw.to_lowercase().replace("ones", "images").replace("one", "images");
            *norm = "images".into();
        }
    }
    removals(&mut words, &mut q);
    relative(&mut words, &mut q);
    if let Some(n) = bare_count(&words.norm) {
        remove_kind(&mut q, PartKind::Count);
        q.count = Some(n);
        q.parts.push(Part {
            kind: PartKind::Count,
            value: n.to_string(),
            matched: n.to_string(),
            reason: "asks for a number of results".into(),
            note: None,
        });
        q.parts.sort_by_key(|p| p.kind as u8);
        return Ok(Reading::Refined(q));
    }
    let rest = words.rest();
    let Ok(follow_up) = parse(&rest) else {
        // Every word was read already ("any size again").
        return Ok(Reading::Refined(q));
    };
    // Only constraints (or nothing) are left: they refine.
    if content(&follow_up.text).is_empty() {
        return Ok(Reading::Refined(overlay(&q, &follow_up)));
    }
    // A lone filter word ("landscape", "square", "transparent") is about the pictures asked for.
    let left = content(&follow_up.text);
    if let [word] = left.as_slice()
        && let Some((_, o)) = LONE_ORIENTATIONS.iter().find(|(w, _)| w == word)
    {
        remove_kind(&mut q, PartKind::Orientation);
        q.orientation = Some(*o);
        q.parts.push(Part {
            kind: PartKind::Orientation,
            value: format!("{o:?}").to_lowercase(),
            matched: word.clone(),
            reason: format!("\"{word}\" alone asks for the shape of the pictures"),
            note: None,
        });
        q.parts.sort_by_key(|p| p.kind as u8);
        return Ok(Reading::Refined(overlay(&q, &follow_up)));
    }
    if let Ok(about_images) = parse(&format!("{rest} images"))
        && content(&about_images.text).is_empty()
        && about_images.parts.iter().any(|p| p.kind != PartKind::Filler)
    {
        return Ok(Reading::Refined(overlay(&q, &about_images)));
    }
    // "and on a beach", "with a red roof": more words for the same request.
    if let Some((opener, kept)) = ADDITION_OPENERS.iter().find(|(o, _)| starts_with(&words.norm, o)) {
        // Read with the words before them, so that "on a beach" keeps its "on".
        let added = &words.raw[opener.len() - kept..];
        let combined = parse(&format!("{} {}", q.text, added.join(" ")))?;
        let mut refined = overlay(&q, &combined);
        refined.text = combined.text;
        return Ok(Reading::Refined(refined));
    }
    Ok(Reading::New(parse(message)?))
}

/// The message's words as written and lower-cased, punctuation around them taken off.
fn pieces(message: &str) -> Vec<(&str, String)> {
    message
        .split_whitespace()
        .map(|raw| (raw, raw.trim_matches(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'')).to_lowercase()))
        .filter(|(_, w)| !w.is_empty())
        .collect()
}
