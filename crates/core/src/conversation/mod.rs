//! A chat that remembers: a conversation carries the current request (its words, filters,
//! exclusions and count), and each message is read against it — a follow-up refines it, takes
//! something away, pages on, or starts a new request — and the answer says which.

pub mod follow_up;
pub mod request;

pub use follow_up::{Reading, read};
pub use request::{Change, ChangeOp};

#[cfg(test)]
mod follow_up_tests;
