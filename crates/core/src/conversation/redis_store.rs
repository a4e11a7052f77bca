//! Conversations in Redis (`ic:conversation:{id}`, expiring with the sessions' idle TTL), so any
//! replica continues any conversation. While Redis cannot be reached, conversations are kept
//! in the data dir and found there again, as session records are.

use std::sync::Arc;
use std::time::Duration;

use super::store::{Conversation, ConversationStore, DiskConversations, is_conversation_id};
use crate::cache::{BoxFuture, RedisCache};
use crate::error::Result;

fn key(id: &str) -> String {
    format!("ic:conversation:{id}")
}

pub struct RedisConversations {
    redis: Arc<RedisCache>,
    ttl: Duration,
    fallback: DiskConversations,
}

impl RedisConversations {
    pub fn new(redis: Arc<RedisCache>, ttl_secs: u64, fallback: DiskConversations) -> Self {
        Self { redis, ttl: Duration::from_secs(ttl_secs.max(1)), fallback }
    }
}

impl ConversationStore for RedisConversations {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Conversation>>> {
        Box::pin(async move {
            if !is_conversation_id(id) {
                return Ok(None);
            }
            match self.redis.get_many(&[key(id)]).await {
                Ok(mut values) => {
                    if let Some(bytes) = values.pop().flatten() {
                        match serde_json::from_slice(&bytes) {
                            Ok(c) => return Ok(Some(c)),
                            Err(e) => tracing::warn!(conversation = id, "unreadable conversation in Redis ({e})"),
                        }
                    }
                }
                Err(e) => tracing::warn!(conversation = id, "Redis unreachable ({e}); looking in the data dir"),
            }
            // Saved while Redis was down, or never there.
            self.fallback.load(id).await
        })
    }

    fn save<'a>(&'a self, conversation: &'a Conversation) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let json = serde_json::to_vec(conversation).map_err(|e| crate::Error::Storage(e.to_string()))?;
            match self.redis.set_many(&[(key(&conversation.id), json)], self.ttl).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    tracing::warn!(conversation = conversation.id, "Redis unreachable ({e}); kept in the data dir");
                    self.fallback.save(conversation).await
                }
            }
        })
    }

    fn expire_idle(&self, now: u64) -> BoxFuture<'_, Result<usize>> {
        // Redis lets its keys expire; what was kept while it was down is in the data dir.
        self.fallback.expire_idle(now)
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
