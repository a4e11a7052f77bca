//! What both stores' keyword legs index and ask: a record's four weighted fields and a query's
//! words, defined once so the embedded and the PostgreSQL store see the same text.

use super::Filters;
use crate::model::{ImageRecord, Orientation, Tone};

/// Most words of a query a keyword leg looks for.
pub(crate) const MAX_QUERY_TERMS: usize = 32;

/// BM25 weight of each field of [`columns`]: alt, caption/title/label, nearby text/heading/file
/// name, page title/URL words.
pub(crate) const FIELD_WEIGHTS: [f64; 4] = [4.0, 2.0, 1.0, 0.5];

/// The SQLite tokenizer both stores split, fold and stem words with (the PostgreSQL store runs
/// it too, on an in-memory table, so the two agree term for term).
pub(crate) const TOKENIZER: &str = "porter unicode61 remove_diacritics 2";

/// The words of the four weighted fields of a record.
pub(crate) fn columns(r: &ImageRecord) -> [String; 4] {
    let c = &r.context;
    let join = |parts: &[&str]| parts.iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
    let url_words: String =
        r.page_url.path().split(|ch: char| !ch.is_alphanumeric()).filter(|w| w.len() > 1).collect::<Vec<_>>().join(" ");
    [
        c.alt.clone(),
        join(&[&c.figcaption, &c.title, &c.aria_label]),
        join(&[&c.nearby_text, &c.heading, &c.filename_tokens.join(" ")]),
        join(&[&c.page_title, &url_words]),
    ]
}

/// The words of a query a keyword leg looks for, lower-cased, each one term (any may match).
pub(crate) fn query_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(MAX_QUERY_TERMS).map(str::to_lowercase)
}

/// ` AND …` conditions (on `images`, with no bound values) for a filter's orientation and tone:
/// the same SQL in both stores.
pub(crate) fn shape_and_tone_conditions(filters: &Filters) -> String {
    let mut sql = String::new();
    match filters.orientation {
        Some(Orientation::Landscape) => sql.push_str(" AND images.width > images.height"),
        Some(Orientation::Portrait) => sql.push_str(" AND images.width < images.height"),
        Some(Orientation::Square) => sql.push_str(" AND images.width = images.height"),
        None => {}
    }
    match filters.tone {
        Some(Tone::Dark) => sql.push_str(&format!(" AND images.luma < {}", crate::model::DARK_LUMA)),
        Some(Tone::Light) => sql.push_str(&format!(" AND images.luma > {}", crate::model::LIGHT_LUMA)),
        None => {}
    }
    sql
}
