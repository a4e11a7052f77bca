//! The filter phrases ("PNG", "high resolution", "in landscape", "transparent background") and
//! when each one speaks of the images rather than of their subject.

use super::parse::{ARTICLES, HIGH_RES_MIN_WIDTH, NOT_FORMAT, PartKind, Query, formats_of};
use super::parse_intent::leads_to_image_noun;
use super::parse_tokens::{Token, claim, matches_at};
use crate::model::{ImageFormat, Orientation, Tone};

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

pub(super) fn min_size(q: &mut Query, w: u32, h: Option<u32>) -> (PartKind, String) {
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

pub(super) fn mark_rules(tokens: &mut [Token], q: &mut Query, words: &[(&str, bool)], descriptive: bool) {
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
