//! Negations that scope over the results ("photos without people", "no text", "except cats"),
//! never over a noun phrase that describes the subject ("a man with no hat").

use super::parse::{ARTICLES, Part, PartKind, Query};
use super::parse_intent::names_images;
use super::parse_tokens::{Token, mark_used, matched_text, matches_at};

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
/// Negations that only ever speak of the results ("cars but not trucks", "animals except
/// cats"); the others ("no", "not", "without") as often describe the subject ("a man with no
/// hat").
const RESULT_NEGATIONS: &[&[&str]] = &[
    &["but", "not"],
    &["that", "do", "not", "show"],
    &["that", "don't", "show"],
    &["excluding"],
    &["exclude"],
    &["except"],
    &["minus"],
];

/// Whether a "no"/"not"/"without" at `at` scopes over the results: it follows an image noun
/// ("photos without people", "pictures with no text"), or opens a short request or one of its
/// clauses ("no text", "city at night, not blurry").
fn negates_results(tokens: &[Token], at: usize, descriptive: bool) -> bool {
    let Some(mut p) = at.checked_sub(1) else { return !descriptive };
    if tokens[p].ends_clause {
        return !descriptive;
    }
    if tokens[p].norm == "with" && p > 0 {
        p -= 1;
    }
    names_images(&tokens[p].norm, descriptive)
}

pub(super) fn mark_negations(tokens: &mut [Token], q: &mut Query, descriptive: bool) {
    let mut i = 0;
    while i < tokens.len() {
        let Some(neg) = NEGATIONS.iter().find(|n| matches_at(tokens, i, n)) else {
            i += 1;
            continue;
        };
        let scoped =
            if RESULT_NEGATIONS.contains(neg) { !descriptive } else { negates_results(tokens, i, descriptive) };
        if !scoped {
            i += neg.len();
            continue;
        }
        let start = i;
        let mut j = i + neg.len();
        let mut terms: Vec<String> = Vec::new();
        let mut current: Vec<String> = Vec::new();
        while j < tokens.len() && tokens[j].free() {
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
                    note: None,
                });
                q.exclude_terms.push(term);
            }
        }
        mark_used(tokens, start..j);
        i = j;
    }
}
