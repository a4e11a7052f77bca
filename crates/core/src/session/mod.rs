//! Crawl sessions: one per crawl, each with its own index namespace, run as a streaming pipeline
//! (crawl → extract → embed → index: images are searchable while the crawl still runs), with
//! progress on a broadcast bus, a limit on concurrent crawls, a per-domain lock, cancel, idle
//! expiry, and records in the data dir that survive a restart.

mod distributed;
mod manager;
mod page_writer;
mod pipeline;
mod registry;
pub mod request;
mod seam;
mod shared;
mod store;

use serde::{Deserialize, Serialize};

pub(crate) use manager::shared_store;
pub use manager::{Parts, SessionManager, Subscription};
pub use request::{CrawlRequest, MAX_PATTERN_LEN, MAX_PATTERNS};

use crate::crawl::{Counters, PageOutcome, StopReason};
use crate::index::Namespace;

/// Page errors a session keeps (the first ones; the counters count them all).
pub const MAX_ERRORS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Running,
    Finished,
    /// The crawl could not start or stopped on an error; `message` says why.
    Failed,
    Cancelled,
    /// The server stopped while the crawl ran; what was indexed stays searchable.
    Interrupted,
}

impl SessionStatus {
    pub fn is_running(self) -> bool {
        self == Self::Running
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }
}

/// A page that failed, as the progress view lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageError {
    pub url: String,
    pub reason: String,
}

/// Everything known about one crawl session; what `GET /crawl/{id}/status` answers and what the
/// data dir keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    /// The index namespace its images live in.
    pub namespace: Namespace,
    pub start_url: String,
    /// The host the per-domain lock is taken on (lower case, without `www.`).
    pub domain: String,
    pub status: SessionStatus,
    /// Unix seconds.
    pub created_at: u64,
    /// Last activity (progress, a search of it): idle expiry counts from here.
    pub updated_at: u64,
    #[serde(default)]
    pub finished_at: Option<u64>,
    pub max_pages: u32,
    pub max_depth: u32,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub subdomains: bool,
    pub counters: Counters,
    /// Images stored in the index (and searchable) so far.
    pub images_indexed: u64,
    /// Indexed images that have a vector (the rest are found by keywords only).
    #[serde(default)]
    pub images_embedded: u64,
    /// Images whose bytes were fetched and analysed (real size, format, transparency, hash).
    #[serde(default)]
    pub images_analysed: u64,
    /// Analysed images left out of the index: their real size showed a tracking pixel or an
    /// image under 50 px on a side that the markup had not given away.
    #[serde(default)]
    pub images_too_small: u64,
    /// Images left out because the site says they are not there (404, 410, or a web page sent
    /// in their place).
    #[serde(default)]
    pub images_missing: u64,
    #[serde(default)]
    pub current_url: String,
    #[serde(default)]
    pub stop: Option<StopReason>,
    #[serde(default)]
    pub errors: Vec<PageError>,
    /// Why the session failed, or a warning (e.g. no model: keyword search only).
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub elapsed_ms: u64,
    /// Where the crawl's time went, per pipeline stage, beside the politeness floor; set when
    /// it ends.
    #[serde(default)]
    pub timings: Option<crate::timings::Timings>,
}

impl SessionRecord {
    /// The `indexed` event of the counts this record holds now.
    pub(crate) fn indexed_event(&self) -> SessionEvent {
        SessionEvent::Indexed {
            images_indexed: self.images_indexed,
            images_embedded: self.images_embedded,
            images_analysed: self.images_analysed,
            images_too_small: self.images_too_small,
            images_missing: self.images_missing,
        }
    }
}

/// What a session publishes while it runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SessionEvent {
    /// Counters after a page (throttled).
    Progress { counters: Counters, current_url: String, images_indexed: u64 },
    /// A page is done (failures always, others throttled).
    Page { url: String, outcome: PageOutcome, images: usize },
    /// A batch of images is stored and searchable.
    Indexed {
        images_indexed: u64,
        images_embedded: u64,
        images_analysed: u64,
        images_too_small: u64,
        images_missing: u64,
    },
    /// The session ended (finished, failed or cancelled); the record is final.
    Done { record: Box<SessionRecord> },
}

impl SessionEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Progress { .. } => "progress",
            Self::Page { .. } => "page",
            Self::Indexed { .. } => "indexed",
            Self::Done { record } => record.status.as_str(),
        }
    }
}

/// A session's id: 16 hexadecimal digits, parsed once where it comes in (a URL, a request body, a
/// record read back), so nothing after it checks it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// An id, or `NotFound`: anything else is no session (and is not echoed back whole).
    pub fn parse(id: &str) -> crate::Result<Self> {
        if crate::ids::is_id(id) {
            Ok(Self(id.to_string()))
        } else {
            Err(crate::Error::NotFound("no such session (ids are 16 hexadecimal digits)".into()))
        }
    }

    /// A new, unpredictable id.
    pub(crate) fn new() -> Self {
        Self(crate::ids::new_id())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The index namespace its images live in.
    pub fn namespace(&self) -> Namespace {
        Namespace::parse(&format!("s-{}", self.0)).expect("a session id makes a valid namespace")
    }
}

/// Read as the text it is (a map keyed by ids is looked up with a `&str`).
impl std::ops::Deref for SessionId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for SessionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        Self::parse(&id).map_err(|_| serde::de::Error::custom(format!("{id:?} is not a session id")))
    }
}

/// The session an index namespace belongs to, when it is a session's.
pub fn session_of(namespace: &str) -> Option<SessionId> {
    namespace.strip_prefix("s-").and_then(|id| SessionId::parse(id).ok())
}

pub(crate) use crate::ids::now_secs;
