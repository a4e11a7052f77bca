//! Session records in the data dir: one JSON file per session, written atomically (temp file +
//! rename), so a crash mid-write never leaves a torn record.

use std::path::{Path, PathBuf};

use super::SessionRecord;
use crate::error::{Error, Result};

pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("sessions");
        std::fs::create_dir_all(&dir).map_err(|e| Error::Storage(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    pub fn save(&self, record: &SessionRecord) -> Result<()> {
        let json = serde_json::to_vec_pretty(record).map_err(|e| Error::Storage(e.to_string()))?;
        let tmp = self.dir.join(format!(".{}.tmp", record.id));
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, self.path(&record.id)))
            .map_err(|e| Error::Storage(format!("cannot write session {}: {e}", record.id)))
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::Storage(format!("cannot delete session {id}: {e}")))
            }
            _ => Ok(()),
        }
    }

    /// Every readable record; unreadable files are reported in the log and left in place.
    pub fn load_all(&self) -> Result<Vec<SessionRecord>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::Storage(format!("cannot read {}: {e}", self.dir.display())))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<SessionRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(r) if path.file_stem().is_some_and(|s| s == r.id.as_str()) => out.push(r),
                Ok(_) => tracing::warn!("session file {} does not match its id; ignored", path.display()),
                Err(e) => tracing::warn!("session file {} is unreadable ({e}); ignored", path.display()),
            }
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }
}
