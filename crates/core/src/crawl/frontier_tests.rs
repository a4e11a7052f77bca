//! The frontier against a real Redis (the one `scripts/test.sh` starts, or one started here):
//! each URL handed out once, politeness and per-host limits across owners, leases that lapse
//! and come back, a dead-letter set, the page limit.

use std::collections::HashSet;
use std::time::Instant;

use image_chat_fixtures::redis_server::{self, RedisServer};

use super::*;

struct TestRedis {
    cache: Arc<RedisCache>,
    _own: Option<RedisServer>,
}

fn redis_or_skip() -> Option<TestRedis> {
    let (url, own) = redis_server::url_or_skip()?;
    Some(TestRedis { cache: Arc::new(RedisCache::new(&url, Duration::from_secs(2)).unwrap()), _own: own })
}

/// A crawl id no other test (or earlier run) uses.
fn crawl_id() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("t{}-{n}-{nanos}", std::process::id())
}

fn urls(host: &str, n: usize) -> Vec<(Url, u32)> {
    (0..n).map(|i| (Url::parse(&format!("http://{host}/p/{i}")).unwrap(), (i / 10) as u32)).collect()
}

async fn claim_now(f: &RedisFrontier) -> Claim {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match f.claim().await.unwrap() {
            Next::Claimed(c) => return c,
            Next::Wait(d) => {
                assert!(Instant::now() < deadline, "nothing became claimable");
                tokio::time::sleep(d).await;
            }
            other => panic!("expected a claim, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_are_seen_once_and_handed_out_breadth_first() {
    let Some(r) = redis_or_skip() else { return };
    let f = RedisFrontier::new(r.cache.clone(), &crawl_id(), "a", FrontierOptions::default());
    assert_eq!(f.enqueue(&urls("site.test", 30)).await.unwrap(), 30);
    // The same pages again (one spelled with a fragment and the default port) are not new.
    let again = vec![
        (Url::parse("http://site.test:80/p/3#top").unwrap(), 0),
        (Url::parse("http://site.test/p/29").unwrap(), 9),
    ];
    assert_eq!(f.enqueue(&again).await.unwrap(), 0);
    let mut order = Vec::new();
    for _ in 0..30 {
        let c = claim_now(&f).await;
        order.push(c.url.path().to_string());
        assert!(f.ack(c.token, true).await.unwrap());
    }
    assert_eq!(order, (0..30).map(|i| format!("/p/{i}")).collect::<Vec<_>>());
    assert_eq!(f.claim().await.unwrap(), Next::Done);
    let p = f.progress().await.unwrap();
    assert_eq!((p.seen, p.queued, p.in_flight, p.done, p.dead), (30, 0, 0, 30, 0));
    // Once forgotten, nothing of the crawl is left in Redis.
    f.forget(Duration::ZERO).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = r.cache.query(redis::cmd("KEYS").arg(format!("{}*", f.prefix)).clone()).await.unwrap();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{left:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_share_the_work_each_url_once_within_the_per_host_limit() {
    let Some(r) = redis_or_skip() else { return };
    let id = crawl_id();
    let options = FrontierOptions { per_host: 2, ..FrontierOptions::default() };
    let seed = RedisFrontier::new(r.cache.clone(), &id, "seed", options.clone());
    seed.enqueue(&urls("a.test", 60)).await.unwrap();
    seed.enqueue(&urls("b.test", 60)).await.unwrap();
    let in_flight = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<String, usize>::new()));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..6 {
        let f = RedisFrontier::new(r.cache.clone(), &id, &format!("owner-{}", w % 2), options.clone());
        let (in_flight, most) = (in_flight.clone(), most.clone());
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                match f.claim().await.unwrap() {
                    Next::Claimed(c) => {
                        let host = c.url.host_str().unwrap().to_string();
                        let now = {
                            let mut m = in_flight.lock().unwrap();
                            let n = m.entry(host.clone()).or_default();
                            *n += 1;
                            *n
                        };
                        most.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        *in_flight.lock().unwrap().get_mut(&host).unwrap() -= 1;
                        assert!(f.ack(c.token, true).await.unwrap());
                        got.push(c.url.to_string());
                    }
                    Next::Wait(d) => tokio::time::sleep(d).await,
                    Next::Done => return got,
                    Next::Limit => panic!("no limit was set"),
                }
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    assert_eq!(all.len(), 120, "every URL once");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 120);
    assert!(most.load(std::sync::atomic::Ordering::Relaxed) <= 2, "never more than 2 requests in flight per host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_is_asked_at_most_once_per_delay_across_owners() {
    let Some(r) = redis_or_skip() else { return };
    let id = crawl_id();
    let options = FrontierOptions { delay: Duration::from_millis(150), ..FrontierOptions::default() };
    let a = RedisFrontier::new(r.cache.clone(), &id, "a", options.clone());
    let b = RedisFrontier::new(r.cache.clone(), &id, "b", options);
    a.enqueue(&urls("slow.test", 4)).await.unwrap();
    let first = claim_now(&a).await;
    // Right after a claim the host is not due: the other owner is told to wait, about the delay.
    match b.claim().await.unwrap() {
        Next::Wait(d) => assert!(d <= Duration::from_millis(150) && d > Duration::ZERO, "{d:?}"),
        other => panic!("the delay holds across owners: {other:?}"),
    }
    let started = Instant::now();
    let second = claim_now(&b).await;
    assert_ne!(first.url, second.url);
    // Redis's clock spaces the claims; this one's own clock saw at least most of the delay.
    assert!(started.elapsed() >= Duration::from_millis(100), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_lease_returns_to_the_queue_and_its_late_owner_learns_it() {
    let Some(r) = redis_or_skip() else { return };
    let id = crawl_id();
    let options = FrontierOptions { lease: Duration::from_millis(200), ..FrontierOptions::default() };
    let dead_owner = RedisFrontier::new(r.cache.clone(), &id, "crashed", options.clone());
    let survivor = RedisFrontier::new(r.cache.clone(), &id, "alive", options);
    dead_owner.enqueue(&urls("site.test", 1)).await.unwrap();
    let lost = claim_now(&dead_owner).await;
    assert!(dead_owner.renew(lost.token).await.unwrap(), "renewed while held");
    assert!(!survivor.renew(lost.token).await.unwrap(), "another owner cannot renew it");
    // The owner stops renewing (killed): after the lease the URL is the survivor's.
    let taken = claim_now(&survivor).await;
    assert_eq!(taken.url, lost.url);
    assert_ne!(taken.token, lost.token);
    assert!(!dead_owner.ack(lost.token, true).await.unwrap(), "the late owner's ack does not count");
    assert!(survivor.ack(taken.token, true).await.unwrap());
    assert_eq!(survivor.claim().await.unwrap(), Next::Done);
    let p = survivor.progress().await.unwrap();
    assert_eq!((p.done, p.expired, p.in_flight, p.dead), (1, 1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_keeps_failing_goes_to_the_dead_letter_set() {
    let Some(r) = redis_or_skip() else { return };
    let options = FrontierOptions { max_tries: 3, ..FrontierOptions::default() };
    let f = RedisFrontier::new(r.cache.clone(), &crawl_id(), "a", options);
    f.enqueue(&urls("site.test", 2)).await.unwrap();
    let mut attempts = std::collections::HashMap::<String, u32>::new();
    loop {
        match f.claim().await.unwrap() {
            Next::Claimed(c) => {
                let fails = c.url.path() == "/p/0";
                *attempts.entry(c.url.path().to_string()).or_default() += 1;
                assert!(f.ack(c.token, !fails).await.unwrap());
            }
            Next::Wait(d) => tokio::time::sleep(d).await,
            Next::Done => break,
            Next::Limit => panic!("no limit was set"),
        }
    }
    assert_eq!(attempts["/p/0"], 3, "tried three times");
    assert_eq!(attempts["/p/1"], 1);
    let p = f.progress().await.unwrap();
    assert_eq!((p.done, p.dead, p.queued), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_limit_counts_distinct_urls_and_lets_retries_through() {
    let Some(r) = redis_or_skip() else { return };
    let options = FrontierOptions { max_pages: 3, ..FrontierOptions::default() };
    let f = RedisFrontier::new(r.cache.clone(), &crawl_id(), "a", options);
    f.enqueue(&urls("site.test", 10)).await.unwrap();
    let first = claim_now(&f).await;
    let second = claim_now(&f).await;
    assert!(f.ack(second.token, true).await.unwrap());
    // The first fails and is queued again (at the back); a third URL takes the last place.
    assert!(f.ack(first.token, false).await.unwrap());
    let third = claim_now(&f).await;
    assert_eq!(third.url.path(), "/p/2");
    assert!(f.ack(third.token, true).await.unwrap());
    // At the limit, only the retry comes out... once it is at the head of its queue.
    let mut seen = Vec::new();
    loop {
        match f.claim().await.unwrap() {
            Next::Claimed(c) => {
                seen.push(c.url.path().to_string());
                assert!(f.ack(c.token, true).await.unwrap());
            }
            Next::Wait(d) => tokio::time::sleep(d).await,
            Next::Limit | Next::Done => break,
        }
    }
    assert!(seen.iter().all(|p| p == "/p/0"), "{seen:?}");
    assert_eq!(f.progress().await.unwrap().done, 2 + seen.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freed_slot_lets_the_next_page_go_while_the_lease_stays() {
    let Some(r) = redis_or_skip() else { return };
    let id = crawl_id();
    let options = FrontierOptions { per_host: 1, lease: Duration::from_millis(800), ..FrontierOptions::default() };
    let f = RedisFrontier::new(r.cache.clone(), &id, "a", options.clone());
    f.enqueue(&urls("one.test", 3)).await.unwrap();
    let first = claim_now(&f).await;
    assert!(matches!(f.claim().await.unwrap(), Next::Wait(_)), "one request at a time");
    assert!(f.free_slot(first.token).await.unwrap());
    assert!(!f.free_slot(first.token).await.unwrap(), "a slot is freed once");
    // Another owner cannot free a lease it does not hold.
    let other = RedisFrontier::new(r.cache.clone(), &id, "b", options);
    let second = claim_now(&f).await;
    assert!(!other.free_slot(second.token).await.unwrap());
    assert_eq!(f.progress().await.unwrap().in_flight, 2, "the freed page is still leased");
    // Acknowledging the freed page gives nothing back twice: still one slot, held by the second.
    assert!(f.ack(first.token, true).await.unwrap());
    assert!(matches!(f.claim().await.unwrap(), Next::Wait(_)), "the second page holds the only slot");
    // A freed lease that lapses (its owner died while storing) comes back without freeing twice.
    assert!(f.free_slot(second.token).await.unwrap());
    let third = claim_now(&f).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(f.ack(third.token, false).await.is_ok());
    let again = claim_now(&other).await;
    assert_eq!(again.url, second.url, "the lapsed page came back");
    assert!(matches!(other.claim().await.unwrap(), Next::Wait(_)), "and holds the host's one slot");
}

/// A frontier on a Redis of the test's own (killed and restarted by the test), whose calls
/// time out after 500 ms.
fn own_redis_frontier() -> Option<(RedisServer, RedisFrontier)> {
    let server = redis_server::own_or_skip()?;
    let cache = Arc::new(RedisCache::new(&server.url(), Duration::from_millis(500)).unwrap());
    Some((server, RedisFrontier::new(cache, &crawl_id(), "starter", FrontierOptions::default())))
}

/// The end is what tells every worker why to stop: a Redis that drops the call and comes back
/// a moment later still gets it; one that stays away costs a bounded wait and a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_is_recorded_across_a_short_outage() {
    let Some((mut server, f)) = own_redis_frontier() else { return };
    f.keep_alive(ALIVE).await.unwrap();
    assert_eq!(f.state().await.unwrap(), CrawlState::Running);

    server.kill();
    let ending = tokio::spawn(async move { (f.end("cancelled").await, f) });
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Nothing is kept across the restart (no persistence): the end is written after it.
    let restarted = tokio::task::spawn_blocking(move || {
        server.restart().unwrap();
        server
    });
    let (ended, f) = ending.await.unwrap();
    let _server = restarted.await.unwrap();
    assert_eq!(ended, Ok(()));
    assert_eq!(f.state().await.unwrap(), CrawlState::Ended("cancelled".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_that_cannot_be_recorded_fails_within_its_bound() {
    let Some((mut server, f)) = own_redis_frontier() else { return };
    server.kill();
    let started = Instant::now();
    let ended = f.end("cancelled").await;
    assert!(ended.is_err());
    // The tries stop at END_TRIES_FOR; the last one may take the call's timeout on top.
    let took = started.elapsed();
    assert!(took >= END_TRIES_FOR - END_RETRY_EVERY * 2 && took < END_TRIES_FOR + Duration::from_secs(3), "{took:?}");
}
