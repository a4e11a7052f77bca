//! Where the read-only `shared/data` folder is: `$IMAGE_CHAT_SHARED_DATA`, else `../shared/data`
//! beside the project checkout. A user's clone has none, so callers must cope with `None`.

use std::path::{Path, PathBuf};

pub const SHARED_DATA_ENV: &str = "IMAGE_CHAT_SHARED_DATA";

pub fn shared_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(SHARED_DATA_ENV) {
        return Some(PathBuf::from(dir)).filter(|p| p.is_dir());
    }
    let from_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let from_cwd = PathBuf::from("../shared/data");
    [from_crate, from_cwd].into_iter().find(|p| p.is_dir()).map(|p| p.canonicalize().unwrap_or(p))
}

/// A file under `shared/data`, when it is there.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    shared_data_dir().map(|d| d.join(relative)).filter(|p| p.exists())
}
