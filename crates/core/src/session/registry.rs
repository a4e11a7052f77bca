//! The session registry: every session this process knows, each running one with its progress
//! bus, cancel handle and publisher to the shared store; records written to the data dir. The
//! manager creates sessions in it and the pipeline reports a crawl's progress to it, through
//! these methods alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, mpsc};

use super::seam::SessionStore;
use super::store::Store;
use super::{SessionEvent, SessionId, SessionRecord, now_secs};
use crate::crawl::CancelHandle;

/// A running session's record is written to disk at most this often (and always at the end).
const PERSIST_EVERY_SECS: u64 = 2;

pub(crate) struct Registry {
    store: Store,
    /// Records, events and crawl rules shared with other replicas (or this process alone).
    pub cluster: Arc<dyn SessionStore>,
    sessions: Mutex<HashMap<SessionId, Entry>>,
}

impl Registry {
    pub(super) fn new(store: Store, cluster: Arc<dyn SessionStore>, records: Vec<SessionRecord>) -> Self {
        let sessions = records
            .into_iter()
            .map(|record| {
                let persisted_at = record.updated_at;
                (record.id.clone(), Entry { record, live: None, persisted_at })
            })
            .collect();
        Self { store, cluster, sessions: Mutex::new(sessions) }
    }

    /// Writes a record to the data dir (creating or ending a session: failures are the caller's).
    pub(super) fn store(&self) -> &Store {
        &self.store
    }
}

/// What a running session sends to the shared store, in order, through its publisher task.
pub(super) enum Outgoing {
    Event(SessionEvent),
    Record(SessionRecord),
    Final(SessionRecord),
}

pub(super) struct Entry {
    pub record: SessionRecord,
    pub live: Option<Live>,
    pub persisted_at: u64,
}

pub(super) struct Live {
    pub events: broadcast::Sender<SessionEvent>,
    pub cancel: CancelHandle,
    /// To this session's publisher task (the shared store).
    pub outgoing: mpsc::UnboundedSender<Outgoing>,
    /// The domain lock held in the shared store (`{session}:{fence}`), when one was taken.
    pub lock: Option<String>,
}

impl Registry {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Entry>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes a running session's record and publishes the event `change` returns.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut SessionRecord) -> Option<SessionEvent>) {
        let to_save = {
            let mut sessions = self.lock();
            let Some(entry) = sessions.get_mut(id) else { return };
            let event = change(&mut entry.record);
            entry.record.updated_at = now_secs();
            if let (Some(event), Some(live)) = (event, &entry.live) {
                let _ = live.outgoing.send(Outgoing::Event(event.clone()));
                let _ = live.events.send(event);
            }
            let save = entry.record.updated_at >= entry.persisted_at + PERSIST_EVERY_SECS;
            if save {
                entry.persisted_at = entry.record.updated_at;
                if let Some(live) = &entry.live {
                    let _ = live.outgoing.send(Outgoing::Record(entry.record.clone()));
                }
            }
            save.then(|| entry.record.clone())
        };
        if let Some(record) = to_save {
            self.save(&record);
        }
    }

    /// Ends a session: the final record is saved, published as `Done`, and the bus closed.
    pub fn finish(&self, id: &str, change: impl FnOnce(&mut SessionRecord)) {
        let (record, live) = {
            let mut sessions = self.lock();
            let Some(entry) = sessions.get_mut(id) else { return };
            change(&mut entry.record);
            let now = now_secs();
            entry.record.updated_at = now;
            entry.record.finished_at = Some(now);
            entry.persisted_at = now;
            (entry.record.clone(), entry.live.take())
        };
        // On disk before anyone hears it ended: a client told "finished" that restarts the
        // server (or reads the data dir) at once finds the final record, never an older one
        // written after its own.
        self.save(&record);
        if let Some(live) = live {
            let _ = live.outgoing.send(Outgoing::Final(record.clone()));
            let _ = live.events.send(SessionEvent::Done { record: Box::new(record) });
        }
    }

    pub(super) fn save(&self, record: &SessionRecord) {
        if let Err(e) = self.store.save(record) {
            tracing::error!("{e}");
        }
    }

    pub fn snapshot(&self, id: &str) -> Option<SessionRecord> {
        self.lock().get(id).map(|e| e.record.clone())
    }

    /// The domain lock a running session holds in the shared store.
    pub fn lock_of(&self, id: &str) -> Option<String> {
        self.lock().get(id).and_then(|e| e.live.as_ref()).and_then(|l| l.lock.clone())
    }

    pub fn cancel_local(&self, id: &str) -> bool {
        match self.lock().get(id).and_then(|e| e.live.as_ref()) {
            Some(live) => {
                live.cancel.cancel();
                true
            }
            None => false,
        }
    }
}

/// Sends one session's events and records to the shared store in order; at the end, the final
/// record and the release of its place and domain lock.
pub(super) async fn publisher(
    shared: Arc<dyn SessionStore>,
    id: SessionId,
    domain: String,
    lock: Option<String>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    while let Some(out) = rx.recv().await {
        let result = match &out {
            Outgoing::Event(e) => shared.publish(&id, e).await,
            Outgoing::Record(r) => shared.save(r).await,
            Outgoing::Final(r) => {
                let saved = shared.save(r).await;
                let published = shared.publish(&id, &SessionEvent::Done { record: Box::new(r.clone()) }).await;
                shared.release(&id, &domain, lock.as_deref()).await;
                saved.and(published)
            }
        };
        if let Err(e) = result {
            tracing::debug!(session = %id, "could not share progress through the {} store: {e}", shared.kind());
        }
        if matches!(out, Outgoing::Final(_)) {
            break;
        }
    }
}
