//! Never an empty answer that a relaxed filter would fill: when the filters, required phrases
//! or exclusions of a message leave fewer results than asked for, the closest images without
//! them follow, each marked with the parts it does not meet, and the chips and notes say so.

use std::collections::HashSet;

use super::engine::SearchResult;
use super::parse::{PartKind, Query};
use crate::index::{FilterView, Filters, StoredImage, searchable_text};
use crate::model::ImageFormat;

/// The query without its constraints: the same words (required phrases among them), the same
/// count and boosts.
pub(super) fn without_constraints(query: &Query) -> Query {
    Query {
        text: super::engine::SearchEngine::search_text(query),
        boost_terms: query.boost_terms.clone(),
        count: query.count,
        ..Query::default()
    }
}

/// Each constraint of the query that a chip shows, as the filter it sets alone, with its
/// chip's index.
fn constraints(query: &Query) -> Vec<(usize, Filters)> {
    let mut out = Vec::new();
    for (i, part) in query.parts.iter().enumerate() {
        let filter = match part.kind {
            PartKind::Format => match ImageFormat::parse(&part.value) {
                Some(f) => Filters { formats: vec![f], ..Filters::default() },
                None => Filters { formats: query.formats.clone(), ..Filters::default() },
            },
            PartKind::MinSize => {
                Filters { min_width: query.min_width, min_height: query.min_height, ..Filters::default() }
            }
            PartKind::Orientation => Filters { orientation: query.orientation, ..Filters::default() },
            PartKind::Tone => Filters { tone: query.tone, ..Filters::default() },
            PartKind::Transparency => Filters { transparent: query.transparent, ..Filters::default() },
            PartKind::Require => Filters { require_terms: vec![part.value.clone()], ..Filters::default() },
            PartKind::Exclude => Filters { exclude_terms: vec![part.value.clone()], ..Filters::default() },
            PartKind::Count | PartKind::Boost | PartKind::Filler => continue,
        };
        out.push((i, filter));
    }
    out
}

/// How a chip's condition reads after "no image matching the words …" (singular) and "only N
/// of the matches …" (plural).
fn condition(kind: PartKind, value: &str) -> (String, String) {
    match kind {
        PartKind::Format => (format!("is {}", value.to_uppercase()), format!("are {}", value.to_uppercase())),
        PartKind::Require => (format!("mentions \"{value}\""), format!("mention \"{value}\"")),
        PartKind::Exclude => (format!("leaves out \"{value}\""), format!("leave out \"{value}\"")),
        PartKind::Transparency => ("is transparent".into(), "are transparent".into()),
        PartKind::Tone => (format!("is known to be {value}"), format!("are known to be {value}")),
        _ => (format!("is {value}"), format!("are {value}")),
    }
}

/// How a chip is named in the answer's note.
fn label(kind: PartKind, value: &str) -> String {
    match kind {
        PartKind::Format => value.to_uppercase(),
        PartKind::Require => format!("\"{value}\""),
        PartKind::Exclude => format!("without \"{value}\""),
        _ => value.to_string(),
    }
}

/// Appends to `results` (those that meet every constraint) the closest of `others` (found
/// without the constraints) up to `limit`, each marked with what it does not meet; notes the
/// chips that were relaxed and adds one line to `notes`.
pub(super) fn fill(
    query: &mut Query,
    results: &mut Vec<SearchResult>,
    others: Vec<(SearchResult, StoredImage)>,
    limit: usize,
    notes: &mut Vec<String>,
) {
    let met = results.len();
    let constraints = constraints(query);
    let mut seen: HashSet<String> = results.iter().map(|r| r.url.clone()).collect();
    let mut failed = vec![0usize; query.parts.len()];
    let mut added = 0;
    for (mut result, image) in others {
        if results.len() >= limit {
            break;
        }
        if !seen.insert(result.url.clone()) {
            continue;
        }
        let text = searchable_text(&image.record).to_lowercase();
        let view = FilterView::of(&image, &text);
        for (i, filter) in &constraints {
            if !filter.accepts_view(&view) {
                failed[*i] += 1;
                result.unmet.push(label(query.parts[*i].kind, &query.parts[*i].value));
            }
        }
        // One that meets them all was a copy of a result, or fell below a leg's candidates.
        if result.unmet.is_empty() {
            continue;
        }
        result.strong = false;
        results.push(result);
        added += 1;
    }
    if added == 0 {
        return;
    }
    let mut relaxed = Vec::new();
    for (i, _) in &constraints {
        if failed[*i] == 0 {
            continue;
        }
        let part = &mut query.parts[*i];
        let (one, many) = condition(part.kind, &part.value);
        part.note = Some(if met == 0 {
            format!("no image matching the words {one}; showing the closest")
        } else {
            format!("only {met} of the matches {many}; the closest others follow")
        });
        relaxed.push(label(part.kind, &part.value));
    }
    let (them, filters) = if relaxed.len() == 1 { ("it", "the filter") } else { ("them", "the filters") };
    let shown = if added == 1 { "the closest image".to_string() } else { format!("the {added} closest images") };
    notes.push(if met == 0 {
        format!("no image matching the words passes {filters} ({}); showing {shown} without {them}", relaxed.join(", "))
    } else {
        format!(
            "only {met} matching the words {} {filters} ({}); {shown} that do not follow, marked",
            if met == 1 { "passes" } else { "pass" },
            relaxed.join(", ")
        )
    });
}
