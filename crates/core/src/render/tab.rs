//! Rendering one page in a tab: load, network quiet, lazy images made eager, scrolling until
//! the page stops growing (bounded, so an endless feed ends), quiet again, the optional fixed
//! wait, then the snapshot. Every step runs inside the page's time budget; when it runs out,
//! the snapshot is still taken of what is there, and that is recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use url::Url;

use super::RenderError;
use super::cdp::{Event, Session};

/// What a render waits for and how long it may take.
#[derive(Clone, Debug)]
pub struct PagePlan {
    /// The whole page's budget, load to snapshot.
    pub budget: Duration,
    /// A fixed wait after the page settles (3000 reproduces the old product's behaviour).
    pub extra_wait: Duration,
    /// No request in flight for this long counts as quiet.
    pub quiet: Duration,
    /// Scroll steps at most.
    pub max_scrolls: u32,
}

impl Default for PagePlan {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(20),
            extra_wait: Duration::ZERO,
            quiet: Duration::from_millis(300),
            max_scrolls: 30,
        }
    }
}

/// A rendered page: the DOM as markup, where the browser ended up, and how it went.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub html: String,
    pub final_url: Url,
    pub scrolls: u32,
    /// Font and media requests refused.
    pub blocked: u32,
    /// The budget ran out before the page settled; the snapshot is of what was there.
    pub budget_ran_out: bool,
    pub elapsed: Duration,
}

/// The snapshot is always attempted, within this much time beyond the budget.
const SNAPSHOT_GRACE: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Dom {
    html: String,
    url: String,
}

#[derive(Deserialize)]
struct Height {
    bottom: f64,
    height: f64,
}

/// Requests in flight and when the last one started or ended.
struct Traffic {
    in_flight: AtomicI64,
    last_change_ms: AtomicI64,
    blocked: AtomicU32,
    /// Load events of the main frame so far; the sender is dropped when the events end.
    loads: watch::Receiver<u32>,
}

pub(super) async fn render(
    page: &Session,
    events: mpsc::UnboundedReceiver<Event>,
    url: &Url,
    plan: &PagePlan,
) -> Result<Snapshot, RenderError> {
    let started = Instant::now();
    let (loaded, loads) = watch::channel(0);
    let traffic = Arc::new(Traffic {
        in_flight: AtomicI64::default(),
        last_change_ms: AtomicI64::default(),
        blocked: AtomicU32::default(),
        loads,
    });
    let watchers = watch_traffic(page, events, loaded, traffic.clone(), started).await?;
    let settled = tokio::time::timeout(plan.budget, settle(page, url, plan, &traffic, started)).await;
    let (scrolls, budget_ran_out) = match settled {
        Ok(Ok(scrolls)) => (scrolls, false),
        Ok(Err(e)) => {
            watchers.abort();
            return Err(e);
        }
        Err(_) => (0, true),
    };
    let dom = tokio::time::timeout(SNAPSHOT_GRACE, page.evaluate::<Dom>(include_str!("snapshot.js"))).await;
    watchers.abort();
    let dom = match dom {
        Ok(Ok(dom)) => dom,
        Ok(Err(e)) => return Err(RenderError::Protocol(format!("snapshot: {e}"))),
        Err(_) => return Err(RenderError::Timeout(plan.budget + SNAPSHOT_GRACE)),
    };
    let final_url = Url::parse(&dom.url).unwrap_or_else(|_| url.clone());
    Ok(Snapshot {
        html: dom.html,
        final_url,
        scrolls,
        blocked: traffic.blocked.load(Ordering::Relaxed),
        budget_ran_out,
        elapsed: started.elapsed(),
    })
}

/// Everything before the snapshot; returns the scroll steps taken.
async fn settle(
    page: &Session,
    url: &Url,
    plan: &PagePlan,
    traffic: &Traffic,
    started: Instant,
) -> Result<u32, RenderError> {
    // A tab in the background gets no frames: scroll handlers and observers would not run.
    let _ = page.call("Page.bringToFront", json!({})).await;
    goto(page, url, traffic).await?;
    quiet(traffic, plan.quiet, Duration::from_secs(5), started).await;
    let _ = page
        .evaluate::<Value>("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager'); true")
        .await;
    let mut scrolls = 0;
    let mut last_height = 0.0;
    let mut still = 0;
    // A page that fits the window has nothing below to load.
    let fits: bool = page
        .evaluate("(document.scrollingElement || document.documentElement).scrollHeight <= window.innerHeight + 1")
        .await
        .unwrap_or(false);
    while scrolls < plan.max_scrolls && !fits {
        let h: Height = page
            .evaluate(
                "(() => { window.scrollBy(0, Math.max(window.innerHeight, 600)); \
                 window.dispatchEvent(new Event('scroll')); \
                 const e = document.scrollingElement || document.documentElement; \
                 return { bottom: window.scrollY + window.innerHeight, height: e.scrollHeight }; })()",
            )
            .await
            .map_err(|e| RenderError::Protocol(format!("scroll: {e}")))?;
        scrolls += 1;
        next_frames(page).await;
        quiet(traffic, Duration::from_millis(150), Duration::from_secs(2), started).await;
        // At the bottom twice with no growth: the page is all there.
        if h.bottom + 1.0 >= h.height && h.height <= last_height {
            still += 1;
            if still >= 2 {
                break;
            }
        } else {
            still = 0;
        }
        last_height = h.height;
    }
    quiet(traffic, plan.quiet, Duration::from_secs(5), started).await;
    if !plan.extra_wait.is_zero() {
        tokio::time::sleep(plan.extra_wait).await;
    }
    Ok(scrolls)
}

/// Waits for two rendered frames (observers and scroll handlers run in them; on a busy machine
/// a frame can come later than a quiet window ends), at most a second.
async fn next_frames(page: &Session) {
    let frames = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))";
    let _ = tokio::time::timeout(Duration::from_secs(1), page.evaluate::<Value>(frames)).await;
}

/// Navigates and waits for the document's load event (the caller's budget bounds the wait).
async fn goto(page: &Session, url: &Url, traffic: &Traffic) -> Result<(), RenderError> {
    let mut loads = traffic.loads.clone();
    let before = *loads.borrow_and_update();
    let navigated = page.call("Page.navigate", json!({ "url": url.as_str() })).await.map_err(|e| match e {
        RenderError::Protocol(m) => RenderError::Navigation(m),
        other => other,
    })?;
    if let Some(error) = navigated.get("errorText").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        return Err(RenderError::Navigation(error.to_string()));
    }
    if navigated.get("loaderId").is_none() {
        // A move within the same document: nothing new loads.
        return Ok(());
    }
    match loads.wait_for(|n| *n > before).await {
        Ok(_) => Ok(()),
        Err(_) => Err(RenderError::Protocol("the page's events ended before it loaded".into())),
    }
}

/// Waits until no request has been in flight for `quiet`, or `cap` has passed.
async fn quiet(traffic: &Traffic, quiet: Duration, cap: Duration, started: Instant) {
    let deadline = Instant::now() + cap;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while Instant::now() < deadline {
        tick.tick().await;
        let now = started.elapsed().as_millis() as i64;
        let idle_for = now - traffic.last_change_ms.load(Ordering::Relaxed);
        if traffic.in_flight.load(Ordering::Relaxed) <= 0 && idle_for >= quiet.as_millis() as i64 {
            return;
        }
    }
}

/// Counts requests in flight from the page's network events, and refuses fonts and media
/// (the page's pictures need neither).
async fn watch_traffic(
    page: &Session,
    mut events: mpsc::UnboundedReceiver<Event>,
    loaded: watch::Sender<u32>,
    traffic: Arc<Traffic>,
    started: Instant,
) -> Result<tokio::task::JoinHandle<()>, RenderError> {
    let patterns = json!([{ "resourceType": "Font" }, { "resourceType": "Media" }]);
    page.call("Fetch.enable", json!({ "patterns": patterns }))
        .await
        .map_err(|e| RenderError::Protocol(format!("network events: {e}")))?;
    let page = page.clone();
    Ok(tokio::spawn(async move {
        let touch = |delta: i64| {
            traffic.in_flight.fetch_add(delta, Ordering::Relaxed);
            traffic.last_change_ms.store(started.elapsed().as_millis() as i64, Ordering::Relaxed);
        };
        while let Some(Event { method, params }) = events.recv().await {
            match method.as_str() {
                // A redirect is the same request going on, not a new one.
                "Network.requestWillBeSent" => touch(if params.get("redirectResponse").is_some() { 0 } else { 1 }),
                "Network.loadingFinished" | "Network.loadingFailed" => touch(-1),
                "Fetch.requestPaused" => {
                    traffic.blocked.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = params.get("requestId").cloned() else { continue };
                    let page = page.clone();
                    tokio::spawn(async move {
                        let fail = json!({ "requestId": id, "errorReason": "BlockedByClient" });
                        let _ = page.call("Fetch.failRequest", fail).await;
                    });
                }
                "Page.loadEventFired" => loaded.send_modify(|n| *n += 1),
                _ => {}
            }
        }
    }))
}
