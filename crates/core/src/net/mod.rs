//! The network floor every fetch of ours stands on: the SSRF guard, one guarded fetch (redirects
//! by hand, retries, timeouts, size caps, charset), typed fetch errors with the HTTP status, and
//! robots.txt (RFC 9309). The crawler and the image analysis both fetch through it.

pub mod fetch;
mod fetch_error;
pub mod guard;
pub mod robots;
