//! Operations on a request (a parsed [`Query`]) that a conversation makes: take a chip away,
//! lay a follow-up's constraints over it, and list what changed between two requests.

use serde::{Deserialize, Serialize};

use crate::search::parse::{MAX_QUERY_CHARS, formats_of};
use crate::search::{PartKind, Query};

/// Most excluded, required or boosted terms a conversation's request holds.
pub const MAX_TERMS: usize = 20;

/// What a message did to the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    /// A new description: the request before it is left behind.
    NewSearch,
    /// A chip was added.
    Added,
    /// A chip was taken away.
    Removed,
    /// The words searched for changed ("and on a beach").
    Words,
    /// The next page of the same request.
    Page,
    /// Nothing changed (the message asked for what the request already held).
    Unchanged,
}

/// One change, as the answer lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub op: ChangeOp,
    /// The chip's kind, for `added` and `removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PartKind>,
    /// The chip's value, the new words, or the page number.
    pub value: String,
    /// In words: `+ PNG`, `− ≥ 1600 px wide`, `new search`, `page 2`.
    pub label: String,
}

impl Change {
    pub fn new_search() -> Self {
        Self { op: ChangeOp::NewSearch, kind: None, value: String::new(), label: "new search".into() }
    }

    pub fn page(page: u32) -> Self {
        Self { op: ChangeOp::Page, kind: None, value: page.to_string(), label: format!("page {page}") }
    }

    pub fn unchanged(why: &str) -> Self {
        Self { op: ChangeOp::Unchanged, kind: None, value: String::new(), label: why.to_string() }
    }

    fn chip(op: ChangeOp, kind: PartKind, value: &str) -> Self {
        let sign = if op == ChangeOp::Added { '+' } else { '−' };
        Self { op, kind: Some(kind), value: value.to_string(), label: format!("{sign} {}", chip_label(kind, value)) }
    }
}

/// How a chip is named in a change and a note.
pub fn chip_label(kind: PartKind, value: &str) -> String {
    match kind {
        PartKind::Format => value.to_uppercase(),
        PartKind::Require => format!("\"{value}\""),
        PartKind::Exclude => format!("without \"{value}\""),
        PartKind::Boost => format!("\"{value}\" first"),
        PartKind::Count => format!("{value} results"),
        _ => value.to_string(),
    }
}

/// Kinds that hold one value: a new chip of the kind replaces the one before.
fn single_valued(kind: PartKind) -> bool {
    matches!(
        kind,
        PartKind::MinSize | PartKind::Orientation | PartKind::Tone | PartKind::Transparency | PartKind::Count
    )
}

/// Clears the fields a kind of chip sets.
fn clear_kind(q: &mut Query, kind: PartKind) {
    match kind {
        PartKind::Format => q.formats.clear(),
        PartKind::MinSize => (q.min_width, q.min_height) = (None, None),
        PartKind::Orientation => q.orientation = None,
        PartKind::Tone => q.tone = None,
        PartKind::Transparency => q.transparent = None,
        PartKind::Count => q.count = None,
        PartKind::Exclude => q.exclude_terms.clear(),
        PartKind::Require => q.must_terms.clear(),
        PartKind::Boost => q.boost_terms.clear(),
        PartKind::Filler => {}
    }
}

/// Takes away the chip `kind: value` (every chip of a one-valued kind: two size chips set one
/// floor). False when the request has no such chip.
pub fn remove_chip(q: &mut Query, kind: PartKind, value: &str) -> bool {
    let before = q.parts.len();
    let whole_kind = single_valued(kind);
    q.parts.retain(|p| !(p.kind == kind && (whole_kind || p.value == value)));
    if q.parts.len() == before {
        return false;
    }
    match kind {
        PartKind::Format => q.formats = formats_of(&q.parts),
        PartKind::Exclude => q.exclude_terms.retain(|t| t != value),
        PartKind::Require => q.must_terms.retain(|t| t != value),
        PartKind::Boost => q.boost_terms.retain(|t| t != value),
        other => clear_kind(q, other),
    }
    true
}

/// Takes away every chip of `kind`; false when there was none.
pub fn remove_kind(q: &mut Query, kind: PartKind) -> bool {
    let had = q.parts.iter().any(|p| p.kind == kind);
    q.parts.retain(|p| p.kind != kind);
    clear_kind(q, kind);
    had
}

/// `base` with the constraints of `follow_up` laid over it: a format, size, orientation, tone,
/// transparency or count replaces the one before; exclusions, required and boosted phrases
/// are added. The words searched for stay `base`'s.
pub fn overlay(base: &Query, follow_up: &Query) -> Query {
    let mut q = base.clone();
    let brings = |kind: PartKind| follow_up.parts.iter().any(|p| p.kind == kind);
    // In the order a message's chips are sorted.
    for kind in PartKind::CHIPS {
        if brings(kind) && (single_valued(kind) || kind == PartKind::Format) {
            remove_kind(&mut q, kind);
        }
    }
    for part in follow_up.parts.iter().filter(|p| p.kind != PartKind::Filler) {
        if !q.parts.iter().any(|p| p.kind == part.kind && p.value == part.value) {
            let mut part = part.clone();
            part.note = None;
            q.parts.push(part);
        }
    }
    q.parts.sort_by_key(|p| p.kind as u8);
    q.formats = formats_of(&q.parts);
    q.min_width = follow_up.min_width.or(q.min_width);
    q.min_height = if follow_up.min_width.is_some() || follow_up.min_height.is_some() {
        follow_up.min_height
    } else {
        q.min_height
    };
    q.orientation = follow_up.orientation.or(q.orientation);
    q.tone = follow_up.tone.or(q.tone);
    q.transparent = follow_up.transparent.or(q.transparent);
    q.count = follow_up.count.or(q.count);
    for (mine, theirs) in [
        (&mut q.exclude_terms, &follow_up.exclude_terms),
        (&mut q.must_terms, &follow_up.must_terms),
        (&mut q.boost_terms, &follow_up.boost_terms),
    ] {
        for term in theirs {
            if !mine.contains(term) {
                mine.push(term.clone());
            }
        }
    }
    q
}

/// A request with the notes of an answer taken off its chips: what the next message is read
/// against.
pub fn without_notes(mut q: Query) -> Query {
    for part in &mut q.parts {
        part.note = None;
    }
    q
}

/// Why a request cannot be kept as it is: it has grown past the bounds of one request.
pub fn check_bounds(q: &Query) -> Result<(), String> {
    if q.text.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("the request's words have grown past {MAX_QUERY_CHARS} characters; start a new search"));
    }
    for (terms, what) in
        [(&q.exclude_terms, "exclusions"), (&q.must_terms, "required phrases"), (&q.boost_terms, "quoted phrases")]
    {
        if terms.len() > MAX_TERMS {
            return Err(format!("the request holds more than {MAX_TERMS} {what}; remove some, or start a new search"));
        }
    }
    Ok(())
}

/// What changed from `before` to `after`: chips taken away, chips added, new words.
pub fn diff(before: &Query, after: &Query) -> Vec<Change> {
    let chips = |q: &Query| -> Vec<(PartKind, String)> {
        q.parts.iter().filter(|p| p.kind != PartKind::Filler).map(|p| (p.kind, p.value.clone())).collect()
    };
    let (old, new) = (chips(before), chips(after));
    let mut changes: Vec<Change> =
        old.iter().filter(|c| !new.contains(c)).map(|(k, v)| Change::chip(ChangeOp::Removed, *k, v)).collect();
    changes.extend(new.iter().filter(|c| !old.contains(c)).map(|(k, v)| Change::chip(ChangeOp::Added, *k, v)));
    if before.text != after.text {
        changes.push(Change {
            op: ChangeOp::Words,
            kind: None,
            value: after.text.clone(),
            label: format!("words: {}", after.text),
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{ImageFormat, parse};

    #[test]
    fn removing_a_chip_clears_what_it_set() {
        let mut q = parse("PNG or JPEG photos without people, in landscape, at least 1200 px wide").unwrap();
        assert!(remove_chip(&mut q, PartKind::Format, "png"));
        assert_eq!(q.formats, vec![ImageFormat::Jpeg]);
        assert!(remove_chip(&mut q, PartKind::Orientation, "landscape"));
        assert_eq!(q.orientation, None);
        assert!(remove_chip(&mut q, PartKind::Exclude, "people"));
        assert!(q.exclude_terms.is_empty());
        assert!(remove_chip(&mut q, PartKind::MinSize, "anything: one floor"));
        assert_eq!((q.min_width, q.min_height), (None, None));
        assert!(!remove_chip(&mut q, PartKind::Tone, "dark"), "no tone chip to remove");
        assert_eq!(q.parts.iter().filter(|p| p.kind != PartKind::Filler).count(), 1, "{:?}", q.parts);
    }

    #[test]
    fn an_overlay_replaces_one_valued_constraints_and_adds_the_others() {
        let base = parse("JPEG photos without dogs, in landscape").unwrap();
        let q = overlay(&base, &parse("PNG images without people, in portrait").unwrap());
        assert_eq!(q.text, "photos");
        assert_eq!(q.formats, vec![ImageFormat::Png]);
        assert_eq!(q.orientation, Some(crate::search::Orientation::Portrait));
        assert_eq!(q.exclude_terms, vec!["dogs".to_string(), "people".to_string()]);
        let labels: Vec<String> = diff(&base, &q).into_iter().map(|c| c.label).collect();
        assert_eq!(labels, ["− JPEG", "− landscape", "+ PNG", "+ portrait", "+ without \"people\""]);
    }

    #[test]
    fn a_request_that_grows_too_large_is_refused() {
        let mut q = parse("cats").unwrap();
        q.exclude_terms = (0..=MAX_TERMS).map(|i| format!("t{i}")).collect();
        assert!(check_bounds(&q).unwrap_err().contains("exclusions"));
        q.exclude_terms.clear();
        q.text = "word ".repeat(MAX_QUERY_CHARS / 4);
        assert!(check_bounds(&q).unwrap_err().contains("new search"));
    }
}
