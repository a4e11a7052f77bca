//! A chat that remembers: a conversation carries the current request (its words, filters,
//! exclusions and count), and each message is read against it — a follow-up refines it, takes
//! something away, pages on, or starts a new request — and the answer says which.

pub mod follow_up;
mod redis_store;
pub mod request;
pub mod store;
mod turn;

pub use follow_up::{Reading, read};
pub use redis_store::RedisConversations;
pub use request::{Change, ChangeOp};
pub use store::{Conversation, ConversationStore, DiskConversations, TurnRecord};
pub use turn::{Answered, Ask, ask};

#[cfg(test)]
mod follow_up_tests;

use std::sync::Arc;

use crate::cache::CacheLayers;
use crate::config::Settings;
use crate::error::Result;

/// The conversation store the settings ask for: Redis when `cache.redis_url` is set (every
/// replica continues every conversation; the data dir stands in while Redis is down), the data
/// dir otherwise. Conversations expire with the sessions' idle TTL.
pub fn store_from_settings(settings: &Settings, caches: &CacheLayers) -> Result<Arc<dyn ConversationStore>> {
    let ttl = settings.sessions.idle_ttl_secs;
    let disk = DiskConversations::open(&settings.data_dir, ttl)?;
    Ok(match caches.redis() {
        Some(redis) => Arc::new(RedisConversations::new(redis.clone(), ttl, disk)),
        None => Arc::new(disk),
    })
}

/// Lets go of idle conversations every quarter of the TTL (at most every five minutes).
pub fn spawn_expiry(store: Arc<dyn ConversationStore>, ttl_secs: u64) -> tokio::task::JoinHandle<()> {
    let every = std::time::Duration::from_secs((ttl_secs / 4).clamp(1, 300));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = store.expire_idle(crate::ids::now_secs()).await {
                tracing::error!("conversation expiry failed: {e}");
            }
        }
    })
}
