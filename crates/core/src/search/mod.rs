//! Search: understanding a chat message (and, next, ranking and dedup of results).

pub mod cached;
pub mod chat_parser;
pub mod engine;
pub mod parse;
mod parse_intent;
pub mod rank;
mod relax;

pub use parse::{ImageFormat, Orientation, Part, PartKind, Query, QueryError, Tone, parse};
