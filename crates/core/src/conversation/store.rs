//! Where conversations are kept: the seam, and its embedded default — one JSON file per
//! conversation in the data dir beside the session records, written atomically, expiring with
//! the sessions' idle TTL and bounded in number.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::request::Change;
use crate::cache::BoxFuture;
use crate::error::{Error, Result};
use crate::search::Query;

/// Turns a conversation keeps (the oldest are let go; the request carries what they built).
pub const MAX_TURNS: usize = 50;
/// Conversations the data dir keeps; past it, the least recently used is let go.
pub const MAX_CONVERSATIONS: usize = 10_000;

/// One message of a conversation and what it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// The message, or `remove format: png` for a chip taken away.
    pub message: String,
    pub changes: Vec<Change>,
    /// Unix seconds.
    pub at: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub created_at: u64,
    pub updated_at: u64,
    /// The request the next message is read against; none before the first message.
    pub request: Option<Query>,
    /// The page of `request` shown last (0 is the first).
    pub page: u32,
    /// The last [`MAX_TURNS`] turns, oldest first.
    pub turns: Vec<TurnRecord>,
    /// Turns taken, all told.
    pub turn_count: u64,
}

impl Conversation {
    pub fn new(id: String, now: u64) -> Self {
        Self { id, created_at: now, updated_at: now, request: None, page: 0, turns: Vec::new(), turn_count: 0 }
    }

    /// Records a turn, letting the oldest go past [`MAX_TURNS`].
    pub fn push(&mut self, turn: TurnRecord) {
        self.updated_at = turn.at;
        self.turns.push(turn);
        let over = self.turns.len().saturating_sub(MAX_TURNS);
        self.turns.drain(..over);
        self.turn_count += 1;
    }
}

/// Whether `id` has the shape of a conversation id (16 hex digits, as session ids).
pub fn is_conversation_id(id: &str) -> bool {
    crate::ids::is_id(id)
}

/// The conversation seam: the data dir by default, Redis when one is configured (so every
/// replica continues every conversation).
pub trait ConversationStore: Send + Sync {
    /// The conversation, unless it is unknown or has been idle past the TTL.
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Conversation>>>;
    fn save<'a>(&'a self, conversation: &'a Conversation) -> BoxFuture<'a, Result<()>>;
    /// Lets go of conversations idle past the TTL at `now`; how many.
    fn expire_idle(&self, now: u64) -> BoxFuture<'_, Result<usize>>;
    /// Which implementation this is, for `/health` and logs.
    fn kind(&self) -> &'static str;
}

/// Conversations as files under `{data_dir}/conversations/`. Cheap to clone.
#[derive(Clone)]
pub struct DiskConversations(Arc<Disk>);

struct Disk {
    dir: PathBuf,
    ttl_secs: u64,
    max: usize,
    /// Each kept conversation's last use, to bound their number and expire them without
    /// reading every file.
    used: Mutex<HashMap<String, u64>>,
}

fn storage(e: impl std::fmt::Display) -> Error {
    Error::Storage(e.to_string())
}

fn mtime_secs(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

impl DiskConversations {
    /// Opens (creating) the folder; unfinished writes of a process that died are removed.
    pub fn open(data_dir: &Path, ttl_secs: u64) -> Result<Self> {
        Self::with_limit(data_dir, ttl_secs, MAX_CONVERSATIONS)
    }

    pub fn with_limit(data_dir: &Path, ttl_secs: u64, max: usize) -> Result<Self> {
        Disk::open(data_dir, ttl_secs, max).map(|d| Self(Arc::new(d)))
    }

    /// Conversations kept.
    pub fn len(&self) -> usize {
        self.0.used.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs file work off the async threads, a few at a time (the files share one lock).
    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce(&Disk) -> Result<T> + Send + 'static) -> Result<T> {
        static GATE: crate::blocking::Gate = crate::blocking::Gate::per_core();
        let disk = self.0.clone();
        GATE.run(move || work(&disk)).await.map_err(|e| storage(format!("conversation store: {e}")))?
    }
}

impl Disk {
    fn open(data_dir: &Path, ttl_secs: u64, max: usize) -> Result<Self> {
        let dir = data_dir.join("conversations");
        std::fs::create_dir_all(&dir).map_err(|e| storage(format!("cannot create {}: {e}", dir.display())))?;
        let mut used = HashMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| storage(format!("cannot read {}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
            } else if let Some(id) = name.strip_suffix(".json").filter(|id| is_conversation_id(id)) {
                used.insert(id.to_string(), mtime_secs(&path));
            }
        }
        Ok(Self { dir, ttl_secs, max: max.max(1), used: Mutex::new(used) })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn expired(&self, updated_at: u64, now: u64) -> bool {
        updated_at.saturating_add(self.ttl_secs) < now
    }

    fn forget(&self, id: &str) {
        self.used.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        let _ = std::fs::remove_file(self.path(id));
    }

    fn load_now(&self, id: &str, now: u64) -> Result<Option<Conversation>> {
        if !is_conversation_id(id) {
            return Ok(None);
        }
        let bytes = match std::fs::read(self.path(id)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(storage(format!("cannot read conversation {id}: {e}"))),
        };
        let conversation: Conversation = match serde_json::from_slice(&bytes) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(conversation = id, "unreadable conversation file ({e}); starting it anew");
                return Ok(None);
            }
        };
        if conversation.id != id || self.expired(conversation.updated_at, now) {
            self.forget(id);
            return Ok(None);
        }
        Ok(Some(conversation))
    }

    fn save_now(&self, conversation: &Conversation) -> Result<()> {
        let id = &conversation.id;
        if !is_conversation_id(id) {
            return Err(Error::Invalid(format!("not a conversation id: {id:?}")));
        }
        let json = serde_json::to_vec(conversation).map_err(storage)?;
        let tmp = self.dir.join(format!(".{id}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, self.path(id)))
            .map_err(|e| storage(format!("cannot write conversation {id}: {e}")))?;
        let evicted = {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            used.insert(id.clone(), conversation.updated_at);
            let over = used.len().saturating_sub(self.max);
            let mut by_age: Vec<(u64, String)> = if over > 0 {
                used.iter().filter(|(k, _)| *k != id).map(|(k, v)| (*v, k.clone())).collect()
            } else {
                Vec::new()
            };
            by_age.sort();
            by_age.truncate(over);
            by_age.into_iter().map(|(_, k)| k).collect::<Vec<_>>()
        };
        for old in evicted {
            self.forget(&old);
        }
        Ok(())
    }

    fn expire_now(&self, now: u64) -> usize {
        let idle: Vec<String> = {
            let used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            used.iter().filter(|(_, at)| self.expired(**at, now)).map(|(k, _)| k.clone()).collect()
        };
        for id in &idle {
            self.forget(id);
        }
        idle.len()
    }
}

impl ConversationStore for DiskConversations {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Conversation>>> {
        let id = id.to_string();
        Box::pin(self.blocking(move |d| d.load_now(&id, crate::ids::now_secs())))
    }

    fn save<'a>(&'a self, conversation: &'a Conversation) -> BoxFuture<'a, Result<()>> {
        let conversation = conversation.clone();
        Box::pin(self.blocking(move |d| d.save_now(&conversation)))
    }

    fn expire_idle(&self, now: u64) -> BoxFuture<'_, Result<usize>> {
        Box::pin(self.blocking(move |d| Ok(d.expire_now(now))))
    }

    fn kind(&self) -> &'static str {
        "data dir"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::parse;

    fn conversation(id: &str, at: u64) -> Conversation {
        let mut c = Conversation::new(id.to_string(), at);
        c.request = Some(parse("PNG logos").unwrap());
        c
    }

    #[tokio::test]
    async fn kept_across_a_reopen_and_let_go_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let now = crate::ids::now_secs();
        let store = DiskConversations::open(dir.path(), 3600).unwrap();
        store.save(&conversation("00000000000000aa", now)).await.unwrap();
        store.save(&conversation("00000000000000bb", now - 7200)).await.unwrap();
        let reopened = DiskConversations::open(dir.path(), 3600).unwrap();
        let back = reopened.load("00000000000000aa").await.unwrap().expect("kept");
        assert_eq!(back.request, Some(parse("PNG logos").unwrap()));
        assert_eq!(reopened.load("00000000000000bb").await.unwrap(), None, "idle past the TTL");
        assert_eq!(reopened.load("../../etc/passwd").await.unwrap(), None);
        assert_eq!(reopened.load("00000000000000cc").await.unwrap(), None);
        assert_eq!(reopened.expire_idle(now + 7200).await.unwrap(), 1);
        assert!(reopened.is_empty());
    }

    #[tokio::test]
    async fn bounded_in_number_and_in_turns() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskConversations::with_limit(dir.path(), 3600, 3).unwrap();
        let now = crate::ids::now_secs();
        for i in 0..5u64 {
            store.save(&conversation(&format!("{i:016x}"), now + i)).await.unwrap();
        }
        assert_eq!(store.len(), 3);
        assert_eq!(store.load(&format!("{:016x}", 0)).await.unwrap(), None, "the least recently used went first");
        assert!(store.load(&format!("{:016x}", 4)).await.unwrap().is_some());
        assert_eq!(std::fs::read_dir(dir.path().join("conversations")).unwrap().count(), 3);

        let mut c = conversation("00000000000000dd", now);
        for n in 0..(MAX_TURNS as u64 + 7) {
            c.push(TurnRecord { message: format!("turn {n}"), changes: Vec::new(), at: now + n });
        }
        assert_eq!((c.turns.len(), c.turn_count), (MAX_TURNS, MAX_TURNS as u64 + 7));
        assert_eq!(c.turns[0].message, "turn 7");
    }
}
