//! Search: understanding a chat message (and, next, ranking and dedup of results).

pub mod cached;
pub mod chat_parser;
pub mod engine;
pub mod parse;
mod parse_intent;
mod parse_negations;
mod parse_quantities;
mod parse_rules;
mod parse_tokens;
pub mod rank;
mod relax;

pub use crate::model::{ImageFormat, Orientation, Tone};
pub use parse::{Part, PartKind, Query, QueryError, parse};
