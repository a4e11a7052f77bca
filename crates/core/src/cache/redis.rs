//! The Redis side of a cache layer: async, through a connection manager, every call bounded by
//! the configured timeout (connecting included), so no request ever waits on a dead Redis
//! longer than that. After a failure the connection is dropped and rebuilt at most every
//! `RETRY_EVERY`, so a Redis that comes back is used again within a second.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{BoxFuture, Cache};
use crate::error::{Error, Result};

const RETRY_EVERY: Duration = Duration::from_millis(500);

pub struct RedisCache {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    retry_at: Mutex<Option<Instant>>,
    timeout: Duration,
}

impl RedisCache {
    /// Checks the URL; connects on first use (a Redis that is down at start is not an error).
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| Error::Invalid(format!("cache.redis_url: {e}")))?;
        Ok(Self { client, conn: tokio::sync::Mutex::new(None), retry_at: Mutex::new(None), timeout })
    }

    async fn connection(&self) -> std::result::Result<ConnectionManager, String> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        if self.retry_at.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|t| Instant::now() < t) {
            return Err("redis unavailable (will retry shortly)".into());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(0);
        match ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(c) => {
                *guard = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                *self.retry_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + RETRY_EVERY);
                Err(e.to_string())
            }
        }
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
        *self.retry_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + RETRY_EVERY);
    }

    /// Runs `op` on a connection within the timeout; on failure the connection is dropped.
    async fn call<T, F, Fut>(&self, op: F) -> std::result::Result<T, String>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        // A refusal while waiting to retry leaves the retry time alone; a failed call on a
        // connection drops it, so the next attempt after `RETRY_EVERY` builds a fresh one.
        let attempt = async {
            let conn = self.connection().await.map_err(|e| (false, e))?;
            op(conn).await.map_err(|e| (true, e.to_string()))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err((used_connection, e))) => {
                if used_connection {
                    self.forget().await;
                }
                Err(e)
            }
            Err(_) => {
                self.forget().await;
                Err(format!("redis did not answer within {} ms", self.timeout.as_millis()))
            }
        }
    }

    pub async fn get_many(&self, keys: &[String]) -> std::result::Result<Vec<Option<Vec<u8>>>, String> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.call(|mut c| async move {
            // MGET of one key answers a bare value; ask for a list explicitly.
            redis::cmd("MGET").arg(&keys).query_async::<Vec<Option<Vec<u8>>>>(&mut c).await
        })
        .await
    }

    pub async fn set_many(&self, items: &[(String, Vec<u8>)], ttl: Duration) -> std::result::Result<(), String> {
        if items.is_empty() {
            return Ok(());
        }
        let ms = ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64;
        let items = items.to_vec();
        self.call(|mut c| async move {
            let mut pipe = redis::pipe();
            for (k, v) in &items {
                pipe.cmd("SET").arg(k).arg(v).arg("PX").arg(ms).ignore();
            }
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> std::result::Result<(), String> {
        let key = key.to_string();
        self.call(|mut c| async move { c.del::<_, ()>(key).await }).await
    }

    /// Runs one command (or a script invocation prepared by the caller) within the timeout.
    pub async fn query<T: redis::FromRedisValue + Send + 'static>(
        &self,
        cmd: redis::Cmd,
    ) -> std::result::Result<T, String> {
        self.call(|mut c| async move { cmd.query_async::<T>(&mut c).await }).await
    }

    /// Runs a pipeline within the timeout.
    pub async fn pipeline(&self, pipe: redis::Pipeline) -> std::result::Result<(), String> {
        self.call(|mut c| async move { pipe.query_async::<()>(&mut c).await }).await
    }

    /// Runs a Lua script within the timeout.
    pub async fn eval<T: redis::FromRedisValue + Send + 'static>(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[String],
    ) -> std::result::Result<T, String> {
        let mut invocation = script.prepare_invoke();
        for k in keys {
            invocation.key(k);
        }
        for a in args {
            invocation.arg(a);
        }
        self.call(|mut c| async move { invocation.invoke_async::<T>(&mut c).await }).await
    }

    /// The client, for a dedicated pub/sub connection.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn ping(&self) -> std::result::Result<(), String> {
        self.call(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await.map(|_| ()) }).await
    }
}

/// Redis alone behind the cache seam (a failure reads as a miss; the layers count failures).
impl Cache for RedisCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.get_many(&[key.to_string()]).await.ok()?.pop().flatten() })
    }

    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self.set_many(&[(key.to_string(), value)], ttl).await;
        })
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
