//! A crawl's frontier in Redis, for a crawl that several replicas work on together: the seen-set
//! of URL fingerprints, a ready queue per host in breadth-first order, per-host next-allowed
//! times and in-flight counts (politeness holds across replicas), and leases on claimed URLs
//! held by an owner token. Enqueue, claim, renew and acknowledge are Lua scripts, so each is
//! atomic; time is Redis's own clock, so replicas whose clocks differ still space requests.
//! A replica that dies leaves leases that expire and go back to the queue; a URL that fails too
//! often goes to a dead-letter set, counted.
//!
//! Every key of one crawl shares the hash tag `{crawl id}` (one Redis Cluster slot); the scripts
//! derive a crawl's keys from its prefix, which is passed as their one key.
//!
//! Besides the queue, a crawl's keys hold how it ended (`end`, set by the replica that started
//! it, or by a worker that cannot go on), whether that replica is still alive (`alive`, a key
//! it keeps renewing), and each worker's reports (`w`, a hash by worker and kind).

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;

use super::normalize::page_key;
use crate::cache::RedisCache;

/// How a crawl's frontier hands out work.
#[derive(Clone, Debug, PartialEq)]
pub struct FrontierOptions {
    /// A claimed URL returns to the queue when its lease is not renewed for this long.
    pub lease: Duration,
    /// Requests in flight to one host, across all replicas.
    pub per_host: usize,
    /// Time between two requests to one host, across all replicas.
    pub delay: Duration,
    /// A URL that failed (or whose lease expired) this many times goes to the dead-letter set.
    pub max_tries: u32,
    /// Distinct URLs handed out at most (the crawl's page limit); 0: no limit.
    pub max_pages: u64,
}

/// The coordinator's `alive` mark lapses this long after its last renewal: its workers then
/// leave the crawl.
pub const ALIVE: Duration = Duration::from_secs(15);
/// A worker or coordinator that cannot reach Redis for this long gives the crawl up.
pub const UNREACHABLE_FOR: Duration = Duration::from_secs(60);
/// How long [`RedisFrontier::end`] keeps trying to record why the crawl ended. Less than
/// [`ALIVE`]: past it, the workers find the crawl orphaned and stop all the same.
pub const END_TRIES_FOR: Duration = Duration::from_secs(5);
/// Wait between two tries of the end; the Redis connection is rebuilt at most this often.
const END_RETRY_EVERY: Duration = Duration::from_millis(250);

/// A page whose lease lapsed this many times (each time, the replica holding it died or
/// stalled) is given up: a page that kills its workers must not kill them all.
pub const MAX_TRIES: u32 = 3;

impl Default for FrontierOptions {
    fn default() -> Self {
        Self { lease: Duration::from_secs(30), per_host: 4, delay: Duration::ZERO, max_tries: MAX_TRIES, max_pages: 0 }
    }
}

/// A URL this replica holds a lease on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub token: u64,
    pub url: Url,
    pub depth: u32,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Claimed(Claim),
    /// Nothing may be fetched now: ask again after this long (a host's delay, its in-flight
    /// limit, or leases held elsewhere that may fail and come back).
    Wait(Duration),
    /// The queue is empty and nothing is in flight: the crawl is done.
    Done,
    /// The page limit is reached; in-flight URLs may still be acknowledged.
    Limit,
}

/// Counts over every replica.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrontierProgress {
    /// URLs ever accepted into the queue (the seen-set's size).
    pub seen: u64,
    /// Waiting in the queues.
    pub queued: u64,
    /// Leased now.
    pub in_flight: u64,
    /// Acknowledged as done.
    pub done: u64,
    /// Given up after `max_tries`.
    pub dead: u64,
    /// Leases that expired (a replica died or stalled) and went back to the queue.
    pub expired: u64,
    /// Distinct URLs handed out (what the page limit counts).
    pub claimed: u64,
}

// Keys, from the prefix P: P..'seen' (set), P..'q:'..host (list of 'depth url'), P..'hosts'
// (zset host -> when it may be asked next, only hosts with queued URLs), P..'next' (hash
// host -> next allowed ms), P..'busy' (hash host -> in flight), P..'leases' (zset token ->
// expiry), P..'leased' (hash token -> 'owner\thost\tdepth url'), P..'tries' (hash url ->
// failures), P..'dead' (set), P..'n' (hash of counters), P..'tok' (token counter).
const COMMON: &str = r"
local P = KEYS[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ready_at(host, now)
  local next = tonumber(redis.call('HGET', P .. 'next', host) or '0')
  if next > now then return next end
  return now
end
local function requeue(host, entry, front, now)
  if front then redis.call('LPUSH', P .. 'q:' .. host, entry) else redis.call('RPUSH', P .. 'q:' .. host, entry) end
  redis.call('ZADD', P .. 'hosts', 'NX', ready_at(host, now), host)
  redis.call('HINCRBY', P .. 'n', 'queued', 1)
end
local function url_of(entry) return string.sub(entry, string.find(entry, ' ', 1, true) + 1) end
-- Ends a lease; a failure counts against the URL, which is queued again or dead.
local function release(token, failed, max_tries, front, now)
  local info = redis.call('HGET', P .. 'leased', token)
  if not info then return false end
  local tab1 = string.find(info, '\t', 1, true)
  local tab2 = string.find(info, '\t', tab1 + 1, true)
  local host = string.sub(info, tab1 + 1, tab2 - 1)
  local entry = string.sub(info, tab2 + 1)
  redis.call('HDEL', P .. 'leased', token)
  redis.call('ZREM', P .. 'leases', token)
  -- A lease whose host slot was freed early (its requests done) gave it back then.
  if redis.call('SREM', P .. 'freed', token) == 0 then redis.call('HINCRBY', P .. 'busy', host, -1) end
  if failed then
    local url = url_of(entry)
    if redis.call('HINCRBY', P .. 'tries', url, 1) >= max_tries then
      redis.call('SADD', P .. 'dead', url)
    else
      requeue(host, entry, front, now)
    end
  end
  return true
end
";

// ARGV: then pairs of (fingerprint, host, 'depth url'). Returns how many were new.
const ENQUEUE: &str = r"
local now = now_ms()
local added = 0
for i = 1, #ARGV, 3 do
  if redis.call('SADD', P .. 'seen', ARGV[i]) == 1 then
    requeue(ARGV[i + 1], ARGV[i + 2], false, now)
    added = added + 1
  end
end
return added
";

// ARGV: owner, lease ms, per-host limit, delay ms, max tries, max pages (0: none).
// Returns {1, token, entry} | {2, wait ms} | {3} done | {4} page limit.
const CLAIM: &str = r"
local owner, lease, per_host, delay = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local max_tries, max_pages = tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()
for _, token in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, 100)) do
  if release(token, true, max_tries, true, now) then redis.call('HINCRBY', P .. 'n', 'expired', 1) end
end
local limited = max_pages > 0 and tonumber(redis.call('HGET', P .. 'n', 'claimed') or '0') >= max_pages
for _, host in ipairs(redis.call('ZRANGEBYSCORE', P .. 'hosts', '-inf', now, 'LIMIT', 0, 64)) do
  if tonumber(redis.call('HGET', P .. 'busy', host) or '0') < per_host then
    local queue = P .. 'q:' .. host
    local entry = nil
    if limited then
      -- Past the page limit only URLs handed out before (a retry) may go again.
      local head = redis.call('LINDEX', queue, 0)
      if head and redis.call('HEXISTS', P .. 'tries', url_of(head)) == 1 then entry = redis.call('LPOP', queue) end
    else
      entry = redis.call('LPOP', queue)
    end
    if entry then
      redis.call('HINCRBY', P .. 'n', 'queued', -1)
      if redis.call('LLEN', queue) == 0 then redis.call('ZREM', P .. 'hosts', host)
      else redis.call('ZADD', P .. 'hosts', now + delay, host) end
      redis.call('HSET', P .. 'next', host, now + delay)
      redis.call('HINCRBY', P .. 'busy', host, 1)
      if redis.call('HEXISTS', P .. 'tries', url_of(entry)) == 0 then
        redis.call('HINCRBY', P .. 'n', 'claimed', 1)
        redis.call('HSET', P .. 'tries', url_of(entry), 0)
      end
      local token = redis.call('INCR', P .. 'tok')
      redis.call('HSET', P .. 'leased', token, owner .. '\t' .. host .. '\t' .. entry)
      redis.call('ZADD', P .. 'leases', now + lease, token)
      return {1, token, entry}
    elseif not limited and redis.call('LLEN', queue) == 0 then
      redis.call('ZREM', P .. 'hosts', host)
    end
  end
end
local in_flight = redis.call('ZCARD', P .. 'leases')
local queued = tonumber(redis.call('HGET', P .. 'n', 'queued') or '0')
if queued == 0 and in_flight == 0 then return {3} end
if limited and in_flight == 0 then return {4} end
-- Ask again when the next host may be asked or the next lease expires, at most in a second.
local wait = 1000
local first = redis.call('ZRANGE', P .. 'hosts', 0, 0, 'WITHSCORES')
if first[2] then
  -- A host that may be asked but has its requests in flight: look again shortly (a page
  -- takes tens of milliseconds; the asking replica's own acknowledgements wake it sooner).
  if tonumber(first[2]) > now then wait = math.min(wait, tonumber(first[2]) - now) else wait = math.min(wait, 10) end
end
local lapse = redis.call('ZRANGE', P .. 'leases', 0, 0, 'WITHSCORES')
if lapse[2] then wait = math.min(wait, math.max(tonumber(lapse[2]) - now, 1)) end
return {2, wait}
";

// ARGV: token, owner, lease ms. Returns 1 while the owner still holds the lease.
const RENEW: &str = r"
local info = redis.call('HGET', P .. 'leased', ARGV[1])
if not info or string.sub(info, 1, #ARGV[2] + 1) ~= ARGV[2] .. '\t' then return 0 end
redis.call('ZADD', P .. 'leases', 'XX', now_ms() + tonumber(ARGV[3]), ARGV[1])
return 1
";

// ARGV: token, owner. Gives the lease's host slot back while the lease stays (the page's requests
// are done; what is left is storing it). Returns 1 when it did.
const FREE: &str = r"
local info = redis.call('HGET', P .. 'leased', ARGV[1])
if not info or string.sub(info, 1, #ARGV[2] + 1) ~= ARGV[2] .. '\t' then return 0 end
if redis.call('SADD', P .. 'freed', ARGV[1]) == 0 then return 0 end
local tab1 = string.find(info, '\t', 1, true)
local tab2 = string.find(info, '\t', tab1 + 1, true)
redis.call('HINCRBY', P .. 'busy', string.sub(info, tab1 + 1, tab2 - 1), -1)
return 1
";

// ARGV: token, owner, ok (1/0), max tries. Returns 1 when the lease was still this owner's.
const ACK: &str = r"
local info = redis.call('HGET', P .. 'leased', ARGV[1])
if not info or string.sub(info, 1, #ARGV[2] + 1) ~= ARGV[2] .. '\t' then return 0 end
local ok = ARGV[3] == '1'
release(ARGV[1], not ok, tonumber(ARGV[4]), false, now_ms())
if ok then redis.call('HINCRBY', P .. 'n', 'done', 1) end
return 1
";

// ARGV: ms to keep. A finished crawl's queues are empty (Redis drops empty lists); the rest
// goes after the given time (the dead-letter set stays readable until then).
const FORGET: &str = r"
for _, name in ipairs({'seen', 'hosts', 'next', 'busy', 'leases', 'leased', 'tries', 'dead', 'n', 'tok', 'end', 'alive', 'w', 'freed'}) do
  redis.call('PEXPIRE', P .. name, ARGV[1])
end
return 1
";

// ARGV: why. The first end said stays.
const END: &str = r"
redis.call('SET', P .. 'end', ARGV[1], 'NX')
return 1
";

// Returns how the crawl ended, 'orphaned' when the replica that started it stopped renewing
// `alive`, or '' while it runs.
const STATE: &str = r"
local ended = redis.call('GET', P .. 'end')
if ended then return ended end
if redis.call('EXISTS', P .. 'alive') == 0 then return 'orphaned' end
return ''
";

const PROGRESS: &str = r"
local n = redis.call('HMGET', P .. 'n', 'queued', 'done', 'expired', 'claimed')
return {redis.call('SCARD', P .. 'seen'), tonumber(n[1] or '0'), redis.call('ZCARD', P .. 'leases'),
        tonumber(n[2] or '0'), redis.call('SCARD', P .. 'dead'), tonumber(n[3] or '0'), tonumber(n[4] or '0')}
";

/// One replica's handle on one crawl's frontier.
pub struct RedisFrontier {
    redis: Arc<RedisCache>,
    prefix: String,
    owner: String,
    options: FrontierOptions,
    enqueue: redis::Script,
    claim: redis::Script,
    renew: redis::Script,
    ack: redis::Script,
    progress: redis::Script,
    forget: redis::Script,
    end: redis::Script,
    state: redis::Script,
    free: redis::Script,
}

/// How a crawl stands, as its workers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrawlState {
    Running,
    /// Ended, and why (`completed`, `cancelled`, or a worker's reason it could not go on).
    Ended(String),
    /// The replica that started the crawl stopped renewing it (it died): nobody will end it.
    Orphaned,
}

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{COMMON}\n{body}"))
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

impl RedisFrontier {
    /// The frontier of crawl `crawl`, worked on by `owner` (unique per replica and crawl).
    pub fn new(redis: Arc<RedisCache>, crawl: &str, owner: &str, options: FrontierOptions) -> Self {
        Self {
            redis,
            prefix: format!("ic:frontier:{{{crawl}}}:"),
            owner: owner.replace('\t', " "),
            options,
            enqueue: script(ENQUEUE),
            claim: script(CLAIM),
            renew: script(RENEW),
            ack: script(ACK),
            progress: script(PROGRESS),
            forget: script(FORGET),
            end: script(END),
            state: script(STATE),
            free: script(FREE),
        }
    }

    fn keys(&self) -> [String; 1] {
        [self.prefix.clone()]
    }

    /// Adds the URLs not seen before, at their depth, behind those queued; returns how many
    /// were new. A URL is known by its page key (fragment, default port and such normalized).
    pub async fn enqueue(&self, urls: &[(Url, u32)]) -> Result<usize, String> {
        let mut args = Vec::with_capacity(urls.len() * 3);
        for (url, depth) in urls {
            let (Some(key), Some(host)) = (page_key(url), url.host_str()) else { continue };
            let digest = Sha256::digest(key.as_bytes());
            args.push(digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>());
            args.push(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            });
            args.push(format!("{depth} {url}"));
        }
        if args.is_empty() {
            return Ok(0);
        }
        let added: i64 = self.redis.eval(&self.enqueue, &self.keys(), &args).await?;
        Ok(added.max(0) as usize)
    }

    /// The next URL this replica may fetch, or what to do instead.
    pub async fn claim(&self) -> Result<Next, String> {
        let o = &self.options;
        let args = [
            self.owner.clone(),
            millis(o.lease),
            o.per_host.to_string(),
            millis(o.delay),
            o.max_tries.max(1).to_string(),
            o.max_pages.to_string(),
        ];
        let reply: Vec<redis::Value> = self.redis.eval(&self.claim, &self.keys(), &args).await?;
        let int = |i: usize| reply.get(i).and_then(|v| redis::from_redis_value::<i64>(v).ok());
        match int(0) {
            Some(1) => {
                let token = int(1).ok_or("claim: no token")? as u64;
                let entry: String =
                    reply.get(2).and_then(|v| redis::from_redis_value(v).ok()).ok_or("claim: no entry")?;
                let (depth, url) = entry.split_once(' ').ok_or("claim: malformed entry")?;
                let url = Url::parse(url).map_err(|e| format!("claim: queued URL unreadable: {e}"))?;
                Ok(Next::Claimed(Claim { token, url, depth: depth.parse().unwrap_or(0) }))
            }
            Some(2) => Ok(Next::Wait(Duration::from_millis(int(1).unwrap_or(100).max(1) as u64))),
            Some(3) => Ok(Next::Done),
            Some(4) => Ok(Next::Limit),
            other => Err(format!("claim: unexpected reply {other:?}")),
        }
    }

    /// Keeps a lease; `Ok(false)` when it expired and the URL may be another replica's now.
    pub async fn renew(&self, token: u64) -> Result<bool, String> {
        let args = [token.to_string(), self.owner.clone(), millis(self.options.lease)];
        let held: i64 = self.redis.eval(&self.renew, &self.keys(), &args).await?;
        Ok(held == 1)
    }

    /// Gives a lease's host slot back once the page's requests are done, keeping the lease
    /// until it is acknowledged (storing a page must not hold its host's request budget).
    /// `Ok(false)` when the lease is no longer this owner's, or its slot was freed already.
    pub async fn free_slot(&self, token: u64) -> Result<bool, String> {
        let freed: i64 = self.redis.eval(&self.free, &self.keys(), &[token.to_string(), self.owner.clone()]).await?;
        Ok(freed == 1)
    }

    /// Ends a lease: done, or failed (queued again at the back until `max_tries`). `Ok(false)`
    /// when the lease had expired and was given to another replica (whose outcome counts).
    pub async fn ack(&self, token: u64, ok: bool) -> Result<bool, String> {
        let args = [
            token.to_string(),
            self.owner.clone(),
            if ok { "1" } else { "0" }.to_string(),
            self.options.max_tries.max(1).to_string(),
        ];
        let held: i64 = self.redis.eval(&self.ack, &self.keys(), &args).await?;
        Ok(held == 1)
    }

    /// Lets the crawl's keys lapse after `keep` (a finished or cancelled crawl).
    pub async fn forget(&self, keep: Duration) -> Result<(), String> {
        let _: i64 = self.redis.eval(&self.forget, &self.keys(), &[millis(keep.max(Duration::from_millis(1)))]).await?;
        Ok(())
    }

    /// Ends the crawl for every worker; the first reason given stays. Tried again for up to
    /// [`END_TRIES_FOR`]: one refused call (a dropped connection, a timeout under load) must
    /// not leave the workers fetching until the `alive` mark lapses and then reading the
    /// crawl as orphaned rather than, say, cancelled.
    pub async fn end(&self, why: &str) -> Result<(), String> {
        let started = tokio::time::Instant::now();
        loop {
            match self.redis.eval::<i64>(&self.end, &self.keys(), &[why.to_string()]).await {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() + END_RETRY_EVERY < END_TRIES_FOR => {
                    tracing::debug!("could not record the crawl's end ({e}); trying again");
                    tokio::time::sleep(END_RETRY_EVERY).await;
                }
                Err(e) => {
                    tracing::warn!("could not record the crawl's end ({why}) in Redis: {e}");
                    return Err(e);
                }
            }
        }
    }

    pub async fn state(&self) -> Result<CrawlState, String> {
        let state: String = self.redis.eval(&self.state, &self.keys(), &[] as &[String]).await?;
        Ok(match state.as_str() {
            "" => CrawlState::Running,
            "orphaned" => CrawlState::Orphaned,
            _ => CrawlState::Ended(state),
        })
    }

    /// Marks the crawl's starter alive for `ttl` (renewed by its loop).
    pub async fn keep_alive(&self, ttl: Duration) -> Result<(), String> {
        let cmd = redis::cmd("SET").arg(format!("{}alive", self.prefix)).arg(1).arg("PX").arg(millis(ttl)).clone();
        self.redis.query::<()>(cmd).await
    }

    /// Stores this worker's latest report of `kind` (replacing the one before).
    pub async fn report(&self, kind: &str, json: &str) -> Result<(), String> {
        let cmd = redis::cmd("HSET")
            .arg(format!("{}w", self.prefix))
            .arg(format!("{kind}\t{}", self.owner))
            .arg(json)
            .clone();
        self.redis.query::<()>(cmd).await
    }

    /// Every worker's latest report of `kind`.
    pub async fn reports(&self, kind: &str) -> Result<Vec<String>, String> {
        let cmd = redis::cmd("HGETALL").arg(format!("{}w", self.prefix)).clone();
        let all: Vec<(String, String)> = self.redis.query(cmd).await?;
        let tag = format!("{kind}\t");
        Ok(all.into_iter().filter(|(k, _)| k.starts_with(&tag)).map(|(_, v)| v).collect())
    }

    /// Leases `owner` holds now (which replica has what in flight).
    pub async fn leases_of(&self, owner: &str) -> Result<usize, String> {
        let held: Vec<String> =
            self.redis.query(redis::cmd("HVALS").arg(format!("{}leased", self.prefix)).clone()).await?;
        let tag = format!("{}\t", owner.replace('\t', " "));
        Ok(held.iter().filter(|h| h.starts_with(&tag)).count())
    }

    /// The worker this handle claims as.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn options(&self) -> &FrontierOptions {
        &self.options
    }

    pub async fn progress(&self) -> Result<FrontierProgress, String> {
        let n: Vec<i64> = self.redis.eval(&self.progress, &self.keys(), &[] as &[String]).await?;
        let at = |i: usize| n.get(i).copied().unwrap_or(0).max(0) as u64;
        Ok(FrontierProgress {
            seen: at(0),
            queued: at(1),
            in_flight: at(2),
            done: at(3),
            dead: at(4),
            expired: at(5),
            claimed: at(6),
        })
    }
}

#[cfg(test)]
#[path = "frontier_tests.rs"]
mod tests;
