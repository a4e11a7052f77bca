//! The one way text from a page is cleaned: whitespace collapsed, length capped.

use super::MAX_FIELD_CHARS;

/// Collapses whitespace and caps the length at [`MAX_FIELD_CHARS`] characters.
pub(crate) fn clean_text<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    clean_text_within(parts, MAX_FIELD_CHARS)
}

/// Collapses whitespace and caps the length at `cap` characters.
pub(crate) fn clean_text_within<'a>(parts: impl IntoIterator<Item = &'a str>, cap: usize) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for part in parts {
        // Most text is ASCII: split on ASCII whitespace and count bytes, which is the same
        // answer for it and much cheaper than the Unicode path.
        let full = if part.is_ascii() {
            push_words(&mut out, &mut chars, cap, part.split_ascii_whitespace(), str::len)
        } else {
            push_words(&mut out, &mut chars, cap, part.split_whitespace(), |w| w.chars().count())
        };
        if full {
            break;
        }
    }
    out
}

/// Appends words to `out` up to `cap` characters; true once it is reached.
fn push_words<'a>(
    out: &mut String,
    chars: &mut usize,
    cap: usize,
    words: impl Iterator<Item = &'a str>,
    count: impl Fn(&str) -> usize,
) -> bool {
    for word in words {
        if *chars >= cap {
            return true;
        }
        if !out.is_empty() {
            out.push(' ');
            *chars += 1;
        }
        // Whole words while they fit (the common case), character by character at the cap.
        let room = cap - *chars;
        let len = count(word);
        if len <= room {
            out.push_str(word);
            *chars += len;
        } else {
            for c in word.chars().take(room) {
                out.push(c);
                *chars += 1;
            }
        }
    }
    *chars >= cap
}
