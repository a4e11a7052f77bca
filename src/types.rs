//! Data the server sends to the browser: compiled for both sides, so it holds no server types.

use serde::{Deserialize, Serialize};

/// One component's health, as `/health` and the status panel show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentStatus {
    pub name: String,
    /// `ok`, `missing`, `unreachable` or `not_configured`.
    pub state: String,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    pub version: String,
    /// `ok` when every configured component is usable, `degraded` otherwise.
    pub status: String,
    pub uptime_secs: u64,
    pub components: Vec<ComponentStatus>,
}
