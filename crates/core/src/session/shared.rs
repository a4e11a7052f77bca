//! Session state shared by several replicas through Redis: records (`ic:session:{id}` and the
//! `ic:sessions` sorted set), progress events (pub/sub on `ic:events:{id}`), cancel requests
//! (`ic:cancel`), and the crawl rules across replicas — the running crawls are a sorted set
//! scored by their owner's heartbeat deadline (a crashed owner's entry lapses), and a domain is
//! locked by `SET NX PX` holding `{session}:{fence}`, renewed by the heartbeat only while it
//! still holds that value (a fencing check: a holder whose lock lapsed and was taken stops).
//!
//! Every call is bounded by the Redis timeout; when Redis is unreachable the manager falls back
//! to its own process's rules and records, and says so in the log.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::seam::{Admission, SessionStore, Unreachable};
use super::{SessionEvent, SessionRecord};
use crate::BoxFuture;
use crate::cache::RedisCache;

/// A running crawl's entry lapses this long after its owner's last heartbeat.
pub(crate) const LEASE: Duration = Duration::from_secs(30);
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);
const RUNNING: &str = "ic:running";
const SESSIONS: &str = "ic:sessions";
const CANCEL: &str = "ic:cancel";

fn session_key(id: &str) -> String {
    format!("ic:session:{id}")
}

fn domain_key(domain: &str) -> String {
    format!("ic:domain:{domain}")
}

pub(crate) fn events_channel(id: &str) -> String {
    format!("ic:events:{id}")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

// KEYS: running set, domain key. ARGV: id, now ms, deadline ms, max, exclusive (0/1), lease ms.
const ADMIT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local running = redis.call('ZCARD', KEYS[1])
if running >= tonumber(ARGV[4]) then return {1, tostring(running)} end
local lock = ''
if ARGV[5] == '1' then
  local holder = redis.call('GET', KEYS[2])
  if holder then return {2, holder} end
  lock = ARGV[1] .. ':' .. redis.call('INCR', 'ic:fence')
  redis.call('SET', KEYS[2], lock, 'PX', ARGV[6])
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return {0, lock}
";

// KEYS: running set, domain key. ARGV: id, deadline ms, lock value ('' = none), lease ms.
// Returns 1 while the session still holds its place (and lock), 0 when it lost it.
const RENEW: &str = r"
if redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[2], ARGV[1]) == 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
if ARGV[3] ~= '' then
  if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 1
";

// KEYS: running set, domain key. ARGV: id, lock value ('' = none).
const RELEASE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
";

pub(crate) struct RedisSessions {
    redis: Arc<RedisCache>,
    admit: redis::Script,
    renew: redis::Script,
    release: redis::Script,
}

impl RedisSessions {
    pub fn new(redis: Arc<RedisCache>) -> Self {
        Self {
            redis,
            admit: redis::Script::new(ADMIT),
            renew: redis::Script::new(RENEW),
            release: redis::Script::new(RELEASE),
        }
    }

    pub async fn admit(&self, id: &str, domain: &str, max: usize, exclusive: bool) -> Result<Admission, String> {
        let now = now_ms();
        let keys = [RUNNING.to_string(), domain_key(domain)];
        let args = [
            id.to_string(),
            now.to_string(),
            (now + LEASE.as_millis() as u64).to_string(),
            max.to_string(),
            if exclusive { "1" } else { "0" }.to_string(),
            LEASE.as_millis().to_string(),
        ];
        let (code, detail): (u8, String) = self.redis.eval(&self.admit, &keys, &args).await?;
        Ok(match code {
            0 => Admission::Admitted(Some(detail).filter(|d| !d.is_empty())),
            1 => Admission::AtCapacity(detail.parse().unwrap_or(max as u64)),
            _ => Admission::DomainLocked(detail.split(':').next().unwrap_or_default().to_string()),
        })
    }

    /// Renews a running crawl's place and lock; `Ok(false)` when it lost them.
    pub async fn renew(&self, id: &str, domain: &str, lock: Option<&str>) -> Result<bool, String> {
        let keys = [RUNNING.to_string(), domain_key(domain)];
        let args = [
            id.to_string(),
            (now_ms() + LEASE.as_millis() as u64).to_string(),
            lock.unwrap_or_default().to_string(),
            LEASE.as_millis().to_string(),
        ];
        let held: i64 = self.redis.eval(&self.renew, &keys, &args).await?;
        Ok(held == 1)
    }

    pub async fn release(&self, id: &str, domain: &str, lock: Option<&str>) {
        let keys = [RUNNING.to_string(), domain_key(domain)];
        let args = [id.to_string(), lock.unwrap_or_default().to_string()];
        if let Err(e) = self.redis.eval::<i64>(&self.release, &keys, &args).await {
            tracing::warn!(session = id, "could not release the crawl's place in Redis (it lapses by itself): {e}");
        }
    }

    /// Whether another replica's heartbeat keeps `id` running.
    pub async fn is_running(&self, id: &str) -> Result<bool, String> {
        let score: Option<u64> = self.redis.query(redis::cmd("ZSCORE").arg(RUNNING).arg(id).clone()).await?;
        Ok(score.is_some_and(|deadline| deadline > now_ms()))
    }

    pub async fn save(&self, record: &SessionRecord) -> Result<(), String> {
        let json = serde_json::to_string(record).map_err(|e| e.to_string())?;
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(session_key(&record.id)).arg(json).ignore();
        pipe.cmd("ZADD").arg(SESSIONS).arg(record.created_at).arg(record.id.as_str()).ignore();
        self.redis.pipeline(pipe).await
    }

    pub async fn remove(&self, id: &str) -> Result<(), String> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(session_key(id)).ignore();
        pipe.cmd("ZREM").arg(SESSIONS).arg(id).ignore();
        self.redis.pipeline(pipe).await
    }

    pub async fn get(&self, id: &str) -> Result<Option<SessionRecord>, String> {
        let json: Option<String> = self.redis.query(redis::cmd("GET").arg(session_key(id)).clone()).await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Every session any replica saved, newest first (at most `limit`).
    pub async fn list(&self, limit: usize) -> Result<Vec<SessionRecord>, String> {
        let ids: Vec<String> =
            self.redis.query(redis::cmd("ZREVRANGE").arg(SESSIONS).arg(0).arg(limit.saturating_sub(1)).clone()).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|i| session_key(i)).collect();
        let values: Vec<Option<String>> = self.redis.query(redis::cmd("MGET").arg(keys).clone()).await?;
        Ok(values.into_iter().flatten().filter_map(|j| serde_json::from_str(&j).ok()).collect())
    }

    pub async fn publish(&self, id: &str, event: &SessionEvent) -> Result<(), String> {
        let json = serde_json::to_string(event).map_err(|e| e.to_string())?;
        self.redis.query::<i64>(redis::cmd("PUBLISH").arg(events_channel(id)).arg(json).clone()).await.map(|_| ())
    }

    pub async fn request_cancel(&self, id: &str) -> Result<bool, String> {
        self.redis.query::<i64>(redis::cmd("PUBLISH").arg(CANCEL).arg(id).clone()).await.map(|_| true)
    }

    /// A pub/sub connection subscribed to `channel`, within the timeout.
    async fn subscribe(&self, channel: &str) -> Result<redis::aio::PubSub, String> {
        let connect = async {
            let mut pubsub = self.redis.client().get_async_pubsub().await.map_err(|e| e.to_string())?;
            pubsub.subscribe(channel).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(pubsub)
        };
        tokio::time::timeout(self.redis.timeout(), connect)
            .await
            .map_err(|_| "redis did not answer in time".to_string())?
    }

    /// Another replica's session events, fed into a local bus until `Done` (or no one listens).
    pub async fn follow(&self, id: &str) -> Result<broadcast::Receiver<SessionEvent>, String> {
        let pubsub = self.subscribe(&events_channel(id)).await?;
        let (tx, rx) = broadcast::channel(256);
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            loop {
                let next = tokio::time::timeout(Duration::from_secs(60), messages.next()).await;
                let msg = match next {
                    Ok(Some(msg)) => msg,
                    Ok(None) => break,
                    // Quiet for a minute: stop when no one is listening any more.
                    Err(_) if tx.receiver_count() == 0 => break,
                    Err(_) => continue,
                };
                let Ok(payload) = msg.get_payload::<String>() else { continue };
                let Ok(event) = serde_json::from_str::<SessionEvent>(&payload) else { continue };
                let done = matches!(event, SessionEvent::Done { .. });
                if tx.send(event).is_err() || done {
                    break;
                }
            }
        });
        Ok(rx)
    }

    /// Calls `cancel` for every cancel request published by any replica, resubscribing after
    /// Redis goes away and comes back.
    pub fn listen_for_cancels(self: Arc<Self>, cancel: Box<dyn Fn(&str) + Send + Sync>) {
        tokio::spawn(async move {
            loop {
                match self.subscribe(CANCEL).await {
                    Ok(pubsub) => {
                        let mut messages = pubsub.into_on_message();
                        while let Some(msg) = messages.next().await {
                            if let Ok(id) = msg.get_payload::<String>() {
                                cancel(&id);
                            }
                        }
                    }
                    Err(e) => tracing::debug!("cannot subscribe to cancel requests yet: {e}"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

impl SessionStore for RedisSessions {
    fn admit<'a>(
        &'a self,
        id: &'a str,
        domain: &'a str,
        max: usize,
        exclusive: bool,
    ) -> BoxFuture<'a, Result<Admission, Unreachable>> {
        Box::pin(RedisSessions::admit(self, id, domain, max, exclusive))
    }

    fn renew<'a>(
        &'a self,
        id: &'a str,
        domain: &'a str,
        lock: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, Unreachable>> {
        Box::pin(RedisSessions::renew(self, id, domain, lock))
    }

    fn release<'a>(&'a self, id: &'a str, domain: &'a str, lock: Option<&'a str>) -> BoxFuture<'a, ()> {
        Box::pin(RedisSessions::release(self, id, domain, lock))
    }

    fn is_running<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, Unreachable>> {
        Box::pin(RedisSessions::is_running(self, id))
    }

    fn save<'a>(&'a self, record: &'a SessionRecord) -> BoxFuture<'a, Result<(), Unreachable>> {
        Box::pin(RedisSessions::save(self, record))
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), Unreachable>> {
        Box::pin(RedisSessions::remove(self, id))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, Unreachable>> {
        Box::pin(RedisSessions::get(self, id))
    }

    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<SessionRecord>, Unreachable>> {
        Box::pin(RedisSessions::list(self, limit))
    }

    fn publish<'a>(&'a self, id: &'a str, event: &'a SessionEvent) -> BoxFuture<'a, Result<(), Unreachable>> {
        Box::pin(RedisSessions::publish(self, id, event))
    }

    fn request_cancel<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, Unreachable>> {
        Box::pin(RedisSessions::request_cancel(self, id))
    }

    fn follow<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<broadcast::Receiver<SessionEvent>, Unreachable>> {
        Box::pin(RedisSessions::follow(self, id))
    }

    fn listen_for_cancels(self: Arc<Self>, cancel: Box<dyn Fn(&str) + Send + Sync>) {
        RedisSessions::listen_for_cancels(self, cancel);
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_chat_fixtures::redis_server::{self, RedisServer};

    fn shared(server: &RedisServer) -> RedisSessions {
        RedisSessions::new(Arc::new(RedisCache::new(&server.url(), Duration::from_millis(500)).unwrap()))
    }

    async fn lapse(s: &RedisSessions, id: &str, domain: &str) {
        // What a crashed owner leaves behind once its lease has run out.
        let _: i64 = s.redis.query(redis::cmd("ZADD").arg(RUNNING).arg(1).arg(id).clone()).await.unwrap();
        let _: i64 = s.redis.query(redis::cmd("DEL").arg(domain_key(domain)).clone()).await.unwrap();
    }

    #[tokio::test]
    async fn places_and_locks_lapse_fence_and_release() {
        if !redis_server::available() {
            image_chat_fixtures::skip::skip(image_chat_fixtures::skip::Need::Service, "redis-server is not installed");
            return;
        }
        let server = RedisServer::start().unwrap();
        let s = shared(&server);
        let Admission::Admitted(Some(lock_a)) = s.admit("a", "x.test", 1, true).await.unwrap() else { panic!() };
        assert!(matches!(s.admit("b", "y.test", 1, true).await.unwrap(), Admission::AtCapacity(1)));
        assert!(s.is_running("a").await.unwrap());
        assert!(s.renew("a", "x.test", Some(&lock_a)).await.unwrap());

        // A crashed owner: its place and lock lapse, and another crawl of the domain may start.
        lapse(&s, "a", "x.test").await;
        assert!(!s.is_running("a").await.unwrap());
        let Admission::Admitted(Some(lock_b)) = s.admit("b", "x.test", 1, true).await.unwrap() else { panic!() };
        assert_ne!(lock_a, lock_b, "a new fencing token");
        // The old owner, come back, finds it lost its place and stops.
        assert!(!s.renew("a", "x.test", Some(&lock_a)).await.unwrap());
        // Its release does not free the new holder's lock.
        s.release("a", "x.test", Some(&lock_a)).await;
        assert!(matches!(s.admit("c", "x.test", 5, true).await.unwrap(), Admission::DomainLocked(h) if h == "b"));
        // Parallel crawls of one domain take no lock.
        assert!(matches!(s.admit("d", "x.test", 5, false).await.unwrap(), Admission::Admitted(None)));
        s.release("b", "x.test", Some(&lock_b)).await;
        s.release("d", "x.test", None).await;
        assert!(matches!(s.admit("e", "x.test", 1, true).await.unwrap(), Admission::Admitted(Some(_))));
    }
}
