//! Search: understanding a chat message (and, next, ranking and dedup of results).

pub mod cached;
pub mod chat_parser;
pub mod engine;
pub mod parse;
mod parse_intent;
pub mod rank;
mod relax;

pub use crate::model::{ImageFormat, Orientation, Tone};
pub use parse::{Part, PartKind, Query, QueryError, parse};
