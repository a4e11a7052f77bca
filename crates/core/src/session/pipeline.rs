//! One session's crawl as a streaming pipeline: the crawler hands each page's new images to an
//! indexer task that embeds and stores them in batches while the crawl goes on, and the crawl's
//! progress is forwarded (throttled) to the session's bus.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::registry::Registry;
use super::{MAX_ERRORS, PageError, SessionEvent, SessionId, SessionStatus};
use crate::crawl::{CrawlEvent, CrawlSummary, Crawler, PageOutcome, StopReason};
use crate::error::Error;
use crate::index::Namespace;
use crate::ingest::{BatchOutcome, Ingest};
/// Progress events go out at most this often; the final counters come with `Done`.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
const PAGE_EVERY: Duration = Duration::from_millis(50);

/// What a session's crawl reports to and stores through.
pub(super) struct Pipeline {
    pub registry: Arc<Registry>,
    pub ingest: Ingest,
}

impl Pipeline {
    pub(super) async fn run(self, id: SessionId, namespace: Namespace, crawler: Crawler) {
        run(self.registry, Arc::new(self.ingest), id, namespace, crawler).await;
    }
}

async fn run(registry: Arc<Registry>, ingest: Arc<Ingest>, id: SessionId, namespace: Namespace, crawler: Crawler) {
    let events = crawler.subscribe();
    let (hosts, clock) = (crawler.hosts(), crawler.clock());
    // Why the index store stopped the crawl, when it did.
    let store_gone: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let stream = {
        let (registry, id, store_gone) = (registry.clone(), id.clone(), store_gone.clone());
        let mut warned = false;
        ingest.stream(namespace, hosts.clone(), clock.clone(), crawler.cancel_handle(), move |batch| {
            if let Err((_, Error::Unavailable(why))) = &batch {
                store_gone.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| why.clone());
            }
            stored(&registry, &id, batch, &mut warned)
        })
    };
    let forwarder = tokio::spawn(forward_loop(registry.clone(), id.clone(), events));
    let heartbeat = tokio::spawn(heartbeat(registry.clone(), id.clone()));
    let summary = crawler.run(|page| stream.send(page.images)).await;
    let _ = forwarder.await;
    heartbeat.abort();
    // `Done` waits for the last batch: a client told "finished" finds every image.
    stream.finish().await;
    let timings = clock.report(hosts.floor());
    let store_gone = store_gone.lock().unwrap_or_else(|e| e.into_inner()).take();
    end(&registry, &id, &summary, Some(timings), store_gone);
}

/// Ends a session's record by how its crawl ended: the counters, the status (failed when no page
/// could be crawled, or the store went away, saying why) and the time taken.
pub(super) fn end(
    registry: &Registry,
    id: &SessionId,
    summary: &CrawlSummary,
    timings: Option<crate::timings::Timings>,
    store_gone: Option<String>,
) {
    registry.finish(id, |r| {
        r.timings = timings;
        // A crawl the replicas shared logs only its failures here: the count is its workers'.
        let ok_pages = summary.counters.pages_ok;
        r.counters = summary.counters.clone();
        r.stop = Some(summary.stop);
        r.elapsed_ms = summary.elapsed_ms;
        r.current_url.clear();
        let first_failure =
            summary.pages.iter().find_map(|p| p.outcome.failure_reason().map(|reason| format!("{}: {reason}", p.url)));
        r.status = match summary.stop {
            StopReason::Cancelled => SessionStatus::Cancelled,
            StopReason::StartRefused | StopReason::Aborted => SessionStatus::Failed,
            _ if ok_pages == 0 => SessionStatus::Failed,
            _ => SessionStatus::Finished,
        };
        // The start page sent elsewhere: say where, rather than blame the rules.
        let start_redirect = summary.pages.first().and_then(|p| match &p.outcome {
            PageOutcome::Redirected { to } => Some(to.clone()),
            _ => None,
        });
        if let Some(why) = store_gone {
            // Every batch is one transaction: what was indexed is whole, the rest was never written.
            r.status = SessionStatus::Failed;
            r.message = Some(format!(
                "the crawl was stopped: the index store stayed unreachable ({why}); {} images were indexed before",
                r.images_indexed
            ));
        } else if r.status == SessionStatus::Failed {
            r.message = Some(match (first_failure, start_redirect) {
                (Some(f), _) => format!("no page could be crawled — {f}"),
                (None, Some(to)) => format!(
                    "no page could be crawled: the start page redirects to {to}, which is outside the site being \
                     crawled; start the crawl there instead"
                ),
                (None, None) => {
                    "no page could be crawled (robots.txt or the crawl rules exclude the start page)".into()
                }
            });
        }
    });
    tracing::info!(session = %id, stop = ?summary.stop, "crawl ended");
}

/// Keeps this crawl's place (and domain lock) in the shared store alive. When another replica
/// took them over after a lapse (this process stalled or lost Redis for longer than the lease),
/// the crawl stops: two crawls of one domain must not both run.
pub(super) async fn heartbeat(registry: Arc<Registry>, id: SessionId) {
    let shared = registry.cluster.clone();
    let domain = registry.snapshot(&id).map(|r| r.domain).unwrap_or_default();
    let lock = registry.lock_of(&id);
    let mut tick = tokio::time::interval(super::shared::HEARTBEAT);
    tick.tick().await;
    loop {
        tick.tick().await;
        match shared.renew(&id, &domain, lock.as_deref()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(session = %id, "lost its place in Redis to another replica; stopping the crawl");
                registry.update(&id, |r| {
                    r.message = Some("stopped: its domain lock lapsed and another crawl took it".into());
                    None
                });
                registry.cancel_local(&id);
                return;
            }
            Err(e) => tracing::debug!(session = %id, "heartbeat failed (Redis down?): {e}"),
        }
    }
}

pub(super) async fn forward_loop(registry: Arc<Registry>, id: SessionId, mut events: broadcast::Receiver<CrawlEvent>) {
    let long_ago = Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(Instant::now);
    let (mut last_progress, mut last_page) = (long_ago, long_ago);
    loop {
        match events.recv().await {
            Ok(CrawlEvent::Progress { counters, current_url }) => {
                let send = last_progress.elapsed() >= PROGRESS_EVERY;
                if send {
                    last_progress = Instant::now();
                }
                registry.update(&id, |r| {
                    r.counters = counters;
                    r.current_url = current_url;
                    send.then(|| SessionEvent::Progress {
                        counters: r.counters.clone(),
                        current_url: r.current_url.clone(),
                        images_indexed: r.images_indexed,
                    })
                });
            }
            Ok(CrawlEvent::Page { url, outcome, images }) => {
                let failed = outcome.is_failure();
                let send = failed || last_page.elapsed() >= PAGE_EVERY;
                if send {
                    last_page = Instant::now();
                }
                registry.update(&id, |r| {
                    if let Some(reason) = outcome.failure_reason()
                        && r.errors.len() < MAX_ERRORS
                    {
                        r.errors.push(PageError { url: url.clone(), reason });
                    }
                    send.then_some(SessionEvent::Page { url, outcome, images })
                });
            }
            Ok(CrawlEvent::Finished { .. }) | Err(broadcast::error::RecvError::Closed) => break,
            // Counters are cumulative: the next event carries everything missed.
            Err(broadcast::error::RecvError::Lagged(_)) => {}
        }
    }
}

/// Counts one stored batch on the session. A failing model is noted once on the session and
/// the crawl goes on (images without vectors are still found by keywords); a failing store is
/// recorded as an error.
fn stored(registry: &Registry, id: &str, batch: BatchOutcome, warned: &mut bool) {
    match batch {
        Ok(stored) => registry.update(id, |r| {
            r.images_indexed += stored.indexed;
            r.images_embedded += stored.embedded;
            r.images_analysed += stored.analysed;
            r.images_too_small += stored.too_small;
            r.images_missing += stored.missing;
            if let Some(e) = stored.embed_error
                && !std::mem::replace(warned, true)
            {
                r.message = Some(format!("some images are searchable by keywords only: {e}"));
            }
            Some(r.indexed_event())
        }),
        Err((count, e)) => registry.update(id, |r| {
            tracing::error!(session = %r.id, "indexing failed: {e}");
            if r.errors.len() < MAX_ERRORS {
                r.errors.push(PageError { url: String::new(), reason: format!("{count} images could not be stored") });
            }
            None
        }),
    }
}
