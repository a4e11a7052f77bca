//! Filters as SQL conditions on `images`, inside each leg's query (before its top-k), with their
//! values bound as parameters: the same conditions as the embedded store's.

use tokio_postgres::types::ToSql;

use super::terms::{Tokenizer, described_phrase};
use crate::error::Result;
use crate::index::fields::shape_and_tone_conditions;
use crate::index::{Filters, Namespace};

pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// A query's bound values, numbered as they are added.
#[derive(Default)]
pub(super) struct Params(Vec<Param>);

impl Params {
    /// Binds `value`; returns its placeholder (`$n`).
    pub fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    pub fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// How a filter's words (`require_terms`, `exclude_terms`) are looked for, as the embedded
/// store does in each leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TermMatch {
    /// A phrase of the tokenized words in the alt, caption or context field (the keyword leg and
    /// listing, where the embedded store asks FTS5).
    Phrase,
    /// Whole words (a trailing "s" allowed) in the lower-cased descriptive text (the vector leg,
    /// where the embedded store checks `contains_word`).
    Words,
}

/// A case-sensitive regular expression that finds `term` (lower-cased) as `contains_word` does:
/// not inside a longer word, a plural "s" allowed. Every character that is not a letter or digit
/// is escaped, so the term is never read as regex syntax.
pub(super) fn whole_word_regex(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() * 2);
    for c in term.to_lowercase().chars() {
        if !c.is_alphanumeric() {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("(^|[^[:alnum:]]){escaped}s?($|[^[:alnum:]])")
}

/// ` AND …` conditions for the namespaces and filters.
pub(super) fn conditions(
    filters: &Filters,
    namespaces: &[Namespace],
    terms: TermMatch,
    tokenizer: &Tokenizer,
    params: &mut Params,
) -> Result<String> {
    let mut sql = String::new();
    if !namespaces.is_empty() {
        let names: Vec<String> = namespaces.iter().map(|n| n.as_str().to_string()).collect();
        sql.push_str(&format!(" AND images.namespace = ANY({})", params.bind(names)));
    }
    if !filters.formats.is_empty() {
        let formats: Vec<String> = filters.formats.iter().map(|f| f.as_str().to_string()).collect();
        sql.push_str(&format!(" AND images.format = ANY({})", params.bind(formats)));
    }
    if let Some(w) = filters.min_width {
        sql.push_str(&format!(" AND images.width >= {}", params.bind(i32::try_from(w).unwrap_or(i32::MAX))));
    }
    if let Some(h) = filters.min_height {
        sql.push_str(&format!(" AND images.height >= {}", params.bind(i32::try_from(h).unwrap_or(i32::MAX))));
    }
    sql.push_str(&shape_and_tone_conditions(filters));
    if let Some(t) = filters.transparent {
        sql.push_str(&format!(" AND images.transparent = {}", params.bind(t)));
    }
    if let Some(prefix) = &filters.page_url_prefix {
        sql.push_str(&format!(" AND starts_with(images.page_url, {})", params.bind(prefix.clone())));
    }
    for (list, negate) in [(&filters.require_terms, ""), (&filters.exclude_terms, "NOT ")] {
        for term in list {
            match terms {
                // One phrase over the descriptive fields (not the page title or URL).
                TermMatch::Phrase => {
                    if let Some(phrase) = described_phrase(&tokenizer.phrase(term)?) {
                        sql.push_str(&format!(" AND {negate}(images.tsv @@ {}::text::tsquery)", params.bind(phrase)));
                    }
                }
                TermMatch::Words if term.is_empty() => {
                    if negate.is_empty() {
                        sql.push_str(" AND false");
                    }
                }
                TermMatch::Words => {
                    sql.push_str(&format!(" AND {negate}(images.words ~ {})", params.bind(whole_word_regex(term))));
                }
            }
        }
    }
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_never_regex_syntax() {
        assert_eq!(whole_word_regex("Cat"), "(^|[^[:alnum:]])cats?($|[^[:alnum:]])");
        assert_eq!(whole_word_regex("a.b*(c)"), "(^|[^[:alnum:]])a\\.b\\*\\(c\\)s?($|[^[:alnum:]])");
        assert_eq!(whole_word_regex("café"), "(^|[^[:alnum:]])cafés?($|[^[:alnum:]])");
    }
}
