//! Skipping a test that needs what this machine lacks (`shared/data`, the model files, Redis or
//! PostgreSQL) — loudly, never silently. Each skip prints one line on stderr and, when
//! `IMAGE_CHAT_SKIP_LOG` names a file (scripts/test.sh does), appends it there, so the test run
//! ends with one printed line per skipped test even though the test harness hides the output of
//! passing tests. Where the thing is meant to be there, a skip is a failure instead:
//! `IMAGE_CHAT_REQUIRE_SERVICES` (services and model, set by scripts/test.sh, which installs them)
//! and `IMAGE_CHAT_REQUIRE_SHARED_DATA` (set by scripts/test.sh when `shared/data` is beside the
//! checkout, as in CI).

use std::io::Write;
use std::path::PathBuf;

/// Names the file skip lines are appended to.
pub const SKIP_LOG_ENV: &str = "IMAGE_CHAT_SKIP_LOG";
/// Makes a missing Redis, PostgreSQL or model a failure.
pub const REQUIRE_SERVICES_ENV: &str = "IMAGE_CHAT_REQUIRE_SERVICES";
/// Makes missing `shared/data` a failure.
pub const REQUIRE_SHARED_DATA_ENV: &str = "IMAGE_CHAT_REQUIRE_SHARED_DATA";

/// What a skipped test needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Files under `shared/data`.
    SharedData,
    /// The embedding model's files (scripts/fetch-models.sh).
    Model,
    /// Redis, PostgreSQL or another real service scripts/test.sh starts.
    Service,
}

impl Need {
    fn required_by(self) -> &'static str {
        match self {
            Need::SharedData => REQUIRE_SHARED_DATA_ENV,
            Need::Model | Need::Service => REQUIRE_SERVICES_ENV,
        }
    }
}

/// Records that the running test is skipped because `what` is missing. Panics (failing the
/// test) when the environment says it must be there.
pub fn skip(need: Need, what: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let line = format!("skipped {test}: {what}");
    if std::env::var_os(need.required_by()).is_some() {
        panic!("{what}, and {} says it must be there", need.required_by());
    }
    eprintln!("{line}");
    if let Some(path) = std::env::var_os(SKIP_LOG_ENV) {
        // One short append per line: lines of parallel tests do not interleave.
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// A file or folder under `shared/data`, or a recorded skip.
pub fn shared_or_skip(relative: &str) -> Option<PathBuf> {
    let found = crate::shared::shared_file(relative);
    if found.is_none() {
        skip(Need::SharedData, &format!("../shared/data/{relative} is absent"));
    }
    found
}
