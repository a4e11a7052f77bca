use std::path::PathBuf;

/// The one error type of the domain crate. The web layer maps each variant to a status code and
/// a message that leaks nothing internal; the CLI prints it as is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read settings file {path}: {source}")]
    SettingsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid settings ({origin}): {message}")]
    Settings { origin: String, message: String },
    /// Bad input from a caller (an API client, the CLI): the message says what to change.
    #[error("{0}")]
    Invalid(String),
    #[error("index storage failed: {0}")]
    Index(String),
    /// A service the store depends on (PostgreSQL) cannot be reached now; the caller may retry
    /// (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// The embedding model is missing, corrupt or failed; the message says how to fix it.
    #[error("embedding model: {0}")]
    Model(String),
    /// A limit on running work is reached; the caller may retry later (HTTP 429).
    #[error("{0}")]
    Capacity(String),
    /// The request conflicts with the current state (a crawl of that domain is running, the
    /// session is not running any more).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// Reading or writing the data dir failed.
    #[error("storage: {0}")]
    Storage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
