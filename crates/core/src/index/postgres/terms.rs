//! Words as the embedded store's FTS5 index sees them, for the PostgreSQL store's keyword leg.
//! The same SQLite tokenizer ([`TOKENIZER`]: unicode61 folding, diacritics removed, porter
//! stems) runs over an in-memory FTS5 table, so both stores split, fold and stem alike and
//! their BM25 scores agree. A record becomes a `tsvector` whose weights A-D are the four fields
//! and whose positions keep each field apart (phrases never match across two fields).

use std::collections::BTreeMap;
use std::sync::Mutex;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::index::fields::{TOKENIZER, query_words};

/// Positions of field `i` start at `i * FIELD_SPAN + 1`; a `tsvector` position is at most 16383.
const FIELD_SPAN: usize = 4096;
const MAX_POSITION: usize = 16_383;
/// A `tsvector` keeps at most 256 positions of one lexeme.
const MAX_POSITIONS: usize = 256;
/// PostgreSQL refuses lexemes of 2 KiB or more; such a "word" is no search term anyway.
const MAX_LEXEME_BYTES: usize = 2_000;
const WEIGHTS: [char; 4] = ['A', 'B', 'C', 'D'];

/// A record's searchable words as PostgreSQL stores them.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Document {
    /// A `tsvector` literal (cast with `::tsvector`).
    pub tsvector: String,
    /// Tokens in all four fields, as FTS5 counts a row's length for BM25.
    pub length: i32,
}

/// An FTS5 table in memory, used only to tokenize.
pub(super) struct Tokenizer {
    conn: Mutex<Connection>,
}

fn sqlite(e: rusqlite::Error) -> Error {
    Error::Index(format!("tokenizer: {e}"))
}

impl Tokenizer {
    pub fn new() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(sqlite)?;
        conn.execute_batch(&format!(
            "CREATE VIRTUAL TABLE docs USING fts5 (c0, c1, c2, c3, tokenize = '{TOKENIZER}');
             CREATE VIRTUAL TABLE words USING fts5vocab (docs, 'instance');"
        ))
        .map_err(sqlite)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    /// The tokens of each document's four fields, in order.
    fn tokenize(&self, docs: &[[&str; 4]]) -> Result<Vec<[Vec<String>; 4]>> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut fields: Vec<[BTreeMap<i64, String>; 4]> = vec![Default::default(); docs.len()];
        {
            let mut insert = conn
                .prepare_cached("INSERT INTO docs (rowid, c0, c1, c2, c3) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sqlite)?;
            for (i, d) in docs.iter().enumerate() {
                insert.execute(rusqlite::params![i as i64 + 1, d[0], d[1], d[2], d[3]]).map_err(sqlite)?;
            }
            let mut read = conn.prepare_cached("SELECT term, doc, col, offset FROM words").map_err(sqlite)?;
            let mut rows = read.query([]).map_err(sqlite)?;
            while let Some(row) = rows.next().map_err(sqlite)? {
                let term: String = row.get(0).map_err(sqlite)?;
                let doc: i64 = row.get(1).map_err(sqlite)?;
                let col: String = row.get(2).map_err(sqlite)?;
                let offset: i64 = row.get(3).map_err(sqlite)?;
                let field = match col.as_str() {
                    "c0" => 0,
                    "c1" => 1,
                    "c2" => 2,
                    _ => 3,
                };
                if let Some(d) = usize::try_from(doc - 1).ok().and_then(|d| fields.get_mut(d)) {
                    d[field].insert(offset, term);
                }
            }
        }
        conn.execute("DELETE FROM docs", []).map_err(sqlite)?;
        Ok(fields.into_iter().map(|f| f.map(|m| m.into_values().collect())).collect())
    }

    /// Each record's four fields (see `fields::columns`) as a `tsvector` and a length.
    pub fn documents(&self, records: &[[String; 4]]) -> Result<Vec<Document>> {
        let borrowed: Vec<[&str; 4]> = records.iter().map(|r| [&*r[0], &*r[1], &*r[2], &*r[3]]).collect();
        Ok(self.tokenize(&borrowed)?.iter().map(document).collect())
    }

    /// The terms of a query, one per word as the embedded store asks them ("word" OR "word").
    /// A word FTS5 splits further (rare: Rust and unicode61 disagree on a few marks) gives each
    /// of its tokens as a term of its own.
    pub fn query_terms(&self, query: &str) -> Result<Vec<String>> {
        let words: Vec<String> = query_words(query).collect();
        let docs: Vec<[&str; 4]> = words.iter().map(|w| [w.as_str(), "", "", ""]).collect();
        Ok(self
            .tokenize(&docs)?
            .into_iter()
            .flat_map(|[first, ..]| first)
            .filter(|t| t.len() < MAX_LEXEME_BYTES)
            .collect())
    }

    /// A phrase (a filter's words) as tokens in order.
    pub fn phrase(&self, text: &str) -> Result<Vec<String>> {
        let [first, ..] = self.tokenize(&[[text, "", "", ""]])?.pop().unwrap_or_default();
        Ok(first)
    }
}

fn document(fields: &[Vec<String>; 4]) -> Document {
    let mut lexemes: BTreeMap<&str, Vec<(usize, char)>> = BTreeMap::new();
    let mut length = 0usize;
    for (field, tokens) in fields.iter().enumerate() {
        length += tokens.len();
        for (offset, token) in tokens.iter().enumerate() {
            if token.len() >= MAX_LEXEME_BYTES {
                continue;
            }
            let position = (field * FIELD_SPAN + offset + 1).min(MAX_POSITION);
            let at = lexemes.entry(token).or_default();
            if at.len() < MAX_POSITIONS && at.last().is_none_or(|(p, _)| *p < position) {
                at.push((position, WEIGHTS[field]));
            }
        }
    }
    let mut tsvector = String::new();
    for (lexeme, positions) in lexemes {
        if !tsvector.is_empty() {
            tsvector.push(' ');
        }
        tsvector.push_str(&quote(lexeme));
        tsvector.push(':');
        let list: Vec<String> = positions.iter().map(|(p, w)| format!("{p}{w}")).collect();
        tsvector.push_str(&list.join(","));
    }
    Document { tsvector, length: i32::try_from(length).unwrap_or(i32::MAX) }
}

/// A lexeme quoted for `tsvector` and `tsquery` input: in single quotes, with quotes doubled
/// and backslashes escaped, so no word is read as syntax.
pub(super) fn quote(lexeme: &str) -> String {
    let mut out = String::with_capacity(lexeme.len() + 2);
    out.push('\'');
    for c in lexeme.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A `tsquery` matching documents with any of `terms`.
pub(super) fn any_of(terms: &[String]) -> String {
    terms.iter().map(|t| quote(t)).collect::<Vec<_>>().join(" | ")
}

/// A `tsquery` matching `tokens` as a phrase in the alt, caption or context field.
pub(super) fn described_phrase(tokens: &[String]) -> Option<String> {
    (!tokens.is_empty()).then(|| tokens.iter().map(|t| format!("{}:ABC", quote(t))).collect::<Vec<_>>().join(" <-> "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_tokenized_as_fts5_does_and_kept_apart() {
        let t = Tokenizer::new().unwrap();
        let docs = t
            .documents(&[
                ["Running dogs".into(), "Café".into(), "the dog's ball".into(), String::new()],
                [String::new(), String::new(), String::new(), "x".into()],
            ])
            .unwrap();
        // porter stems, unicode61 folds case and diacritics and splits at the apostrophe
        assert_eq!(docs[0].tsvector, "'ball':8196C 'cafe':4097B 'dog':2A,8194C 'run':1A 's':8195C 'the':8193C");
        assert_eq!(docs[0].length, 7);
        assert_eq!(docs[1].tsvector, "'x':12289D");
        assert_eq!(t.query_terms("Running, the DOGS!").unwrap(), ["run", "the", "dog"]);
        assert_eq!(t.phrase("red cars").unwrap(), ["red", "car"]);
    }

    #[test]
    fn quoting_leaves_no_syntax() {
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote("a\\b"), "'a\\\\b'");
        assert_eq!(any_of(&["a".into(), "b".into()]), "'a' | 'b'");
        assert_eq!(described_phrase(&["red".into(), "car".into()]).unwrap(), "'red':ABC <-> 'car':ABC");
        assert_eq!(described_phrase(&[]), None);
    }
}
