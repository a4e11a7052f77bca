//! Where the read-only `shared/data` folder is: `$IMAGE_CHAT_SHARED_DATA`, else `../shared/data`
//! beside the project checkout. A user's clone has none, so callers must cope with `None`.

use std::path::{Path, PathBuf};

pub const SHARED_DATA_ENV: &str = "IMAGE_CHAT_SHARED_DATA";

pub fn shared_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(SHARED_DATA_ENV) {
        return Some(PathBuf::from(dir)).filter(|p| p.is_dir());
    }
    // Beside the checkout being run: found from where cargo runs the test (its package's folder,
    // at run time) or the working directory. The folder this crate was compiled in comes last:
    // a build folder shared by several clones may hold this crate as compiled in another one.
    let runtime = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let cwd = std::env::current_dir().ok();
    let compiled = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    [runtime, cwd, compiled]
        .into_iter()
        .flatten()
        .filter_map(|start| checkout_root(&start))
        .map(|root| root.join("../shared/data"))
        .find(|p| p.is_dir())
        .map(|p| p.canonicalize().unwrap_or(p))
}

/// The checkout that `dir` is in: the nearest folder upwards holding `Cargo.lock`.
fn checkout_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join("Cargo.lock").is_file()).map(Path::to_path_buf)
}

/// A file under `shared/data`, when it is there.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    shared_data_dir().map(|d| d.join(relative)).filter(|p| p.exists())
}
