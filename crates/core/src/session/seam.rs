//! The session seam: where a session's record, progress events and the crawl rules (capacity,
//! domain locks, cancel requests) are shared. This process alone by default ([`LocalSessions`]:
//! nothing to share, every rule kept by the registry in this process), every replica through
//! Redis when one is configured ([`super::shared::RedisSessions`]). The registry and the manager
//! call the same methods either way; which one stands behind them is chosen in one place.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::{SessionEvent, SessionRecord};
use crate::BoxFuture;

/// What acquiring the crawl rules answered.
pub(crate) enum Admission {
    /// Admitted; the domain lock's value (session and fencing token) when one was taken.
    Admitted(Option<String>),
    AtCapacity(u64),
    DomainLocked(String),
}

/// A failure to reach the shared store; the registry carries on with this process's rules.
pub(crate) type Unreachable = String;

pub(crate) trait SessionStore: Send + Sync {
    /// Takes a place among the running crawls (and the domain's lock when `exclusive`).
    fn admit<'a>(
        &'a self,
        id: &'a str,
        domain: &'a str,
        max: usize,
        exclusive: bool,
    ) -> BoxFuture<'a, Result<Admission, Unreachable>>;
    /// Keeps a running crawl's place and lock alive; `Ok(false)` when another replica took them.
    fn renew<'a>(
        &'a self,
        id: &'a str,
        domain: &'a str,
        lock: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, Unreachable>>;
    fn release<'a>(&'a self, id: &'a str, domain: &'a str, lock: Option<&'a str>) -> BoxFuture<'a, ()>;
    /// Whether another replica's heartbeat keeps `id` running.
    fn is_running<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, Unreachable>>;
    fn save<'a>(&'a self, record: &'a SessionRecord) -> BoxFuture<'a, Result<(), Unreachable>>;
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), Unreachable>>;
    /// A session another replica saved.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, Unreachable>>;
    /// Sessions other replicas saved, newest first (at most `limit`).
    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<SessionRecord>, Unreachable>>;
    fn publish<'a>(&'a self, id: &'a str, event: &'a SessionEvent) -> BoxFuture<'a, Result<(), Unreachable>>;
    /// Asks the replica running `id` to cancel it; `Ok(false)` when there is no other replica
    /// to ask.
    fn request_cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, Unreachable>>;
    /// Another replica's events of `id`, until `Done`.
    fn follow<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<broadcast::Receiver<SessionEvent>, Unreachable>>;
    /// Calls `cancel` for every cancel request any replica publishes.
    fn listen_for_cancels(self: Arc<Self>, cancel: Box<dyn Fn(&str) + Send + Sync>);
    /// Which implementation this is, for logs.
    fn kind(&self) -> &'static str;
}

/// Sessions of this process alone: nothing is shared, no other replica runs anything, and the
/// registry's own rules are the only ones.
pub(crate) struct LocalSessions;

impl SessionStore for LocalSessions {
    fn admit<'a>(&'a self, _: &'a str, _: &'a str, _: usize, _: bool) -> BoxFuture<'a, Result<Admission, Unreachable>> {
        Box::pin(async { Ok(Admission::Admitted(None)) })
    }

    fn renew<'a>(&'a self, _: &'a str, _: &'a str, _: Option<&'a str>) -> BoxFuture<'a, Result<bool, Unreachable>> {
        Box::pin(async { Ok(true) })
    }

    fn release<'a>(&'a self, _: &'a str, _: &'a str, _: Option<&'a str>) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn is_running<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, Unreachable>> {
        Box::pin(async { Ok(false) })
    }

    fn save<'a>(&'a self, _: &'a SessionRecord) -> BoxFuture<'a, Result<(), Unreachable>> {
        Box::pin(async { Ok(()) })
    }

    fn remove<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), Unreachable>> {
        Box::pin(async { Ok(()) })
    }

    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, Unreachable>> {
        Box::pin(async { Ok(None) })
    }

    fn list(&self, _: usize) -> BoxFuture<'_, Result<Vec<SessionRecord>, Unreachable>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn publish<'a>(&'a self, _: &'a str, _: &'a SessionEvent) -> BoxFuture<'a, Result<(), Unreachable>> {
        Box::pin(async { Ok(()) })
    }

    fn request_cancel<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, Unreachable>> {
        Box::pin(async { Ok(false) })
    }

    fn follow<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<broadcast::Receiver<SessionEvent>, Unreachable>> {
        Box::pin(async move { Err(format!("session {id} is not of this process, and no other replica is shared")) })
    }

    fn listen_for_cancels(self: Arc<Self>, _: Box<dyn Fn(&str) + Send + Sync>) {}

    fn kind(&self) -> &'static str {
        "this process"
    }
}
