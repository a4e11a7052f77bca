//! The words of a message as the parser reads them: lower-cased, quoted or not, which clause they
//! end, and which a part of the query has claimed.

use super::parse::{Part, PartKind, Query};

#[derive(Clone, Debug)]
pub(super) struct Token {
    /// As written, without surrounding punctuation.
    pub raw: String,
    /// Lower-cased.
    pub norm: String,
    /// A comma or full stop followed the word.
    pub ends_clause: bool,
    /// Inside a quoted phrase: taken literally, never a filter, count or operator.
    pub quoted: bool,
    /// Claimed by the words of a request ("show me", "find", "I need").
    pub request: bool,
    pub used: bool,
}

impl Token {
    /// Neither claimed by a part nor inside quotes: open to be read as a filter, count,
    /// negation or operator.
    pub(super) fn free(&self) -> bool {
        !self.used && !self.quoted
    }
}

pub(super) fn tokenize_into(tokens: &mut Vec<Token>, text: &str, quoted: bool) {
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
pub(super) struct Quoted {
    pub phrase: String,
    pub range: std::ops::Range<usize>,
}

/// Splits the message into words, keeping track of which came from quoted phrases.
pub(super) fn tokenize(message: &str) -> (Vec<Token>, Vec<Quoted>) {
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

pub(super) fn matches_at(tokens: &[Token], at: usize, words: &[&str]) -> bool {
    words.iter().enumerate().all(|(i, w)| tokens.get(at + i).is_some_and(|t| t.free() && t.norm == *w))
        // A phrase never spans a clause boundary.
        && (0..words.len().saturating_sub(1)).all(|i| !tokens[at + i].ends_clause)
}

pub(super) fn matched_text(tokens: &[Token], at: usize, len: usize) -> String {
    tokens[at..at + len].iter().map(|t| t.raw.as_str()).collect::<Vec<_>>().join(" ")
}

pub(super) fn mark_used(tokens: &mut [Token], range: std::ops::Range<usize>) {
    for t in &mut tokens[range] {
        t.used = true;
    }
}

/// Records a recognised part made of `tokens[range]` and takes those words out of the text.
pub(super) fn claim(
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
