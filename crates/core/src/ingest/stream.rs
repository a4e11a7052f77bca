//! A crawl's images through the ingest steps while the crawl runs, as three stages joined by
//! queues, so none waits for another's batch: analysis (image fetches take their host's request
//! slot from the crawl's own budget, so pages and images share each host's limit), embedding,
//! and index writes. The crawl hands images over without waiting; analysis hands a partial
//! batch on once it is a moment old and the model is free, a full one always.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;

use super::{BATCH, Ingest, Stored};
use crate::crawl::CancelHandle;
use crate::crawl::politeness::Hosts;
use crate::enrich::{EnrichStats, ImageRead, drop_too_small, wants_reading};
use crate::error::Error;
use crate::index::Namespace;
use crate::model::ImageRecord;
use crate::timings::{Clock, Queue, Stage, Wait};

/// A partial batch goes on after this long, so results appear quickly.
const BATCH_WAIT: Duration = Duration::from_millis(150);
/// Batches queued for the model, and for the index, before the stage before them waits.
const QUEUED_BATCHES: usize = 4;

/// A batch with its vectors, on its way to the index.
type Embedded = (Vec<(ImageRecord, Option<Vec<f32>>)>, Stored);

/// What became of one batch: stored (with its counts), or the store failed for this many
/// images.
pub type BatchOutcome = std::result::Result<Stored, (u64, Error)>;

/// The crawl's end of the stream.
pub struct Stream {
    tx: mpsc::UnboundedSender<Vec<ImageRecord>>,
    clock: Arc<Clock>,
    stages: tokio::task::JoinHandle<Stored>,
}

struct Batch {
    images: Vec<ImageRecord>,
    stored: Stored,
}

impl Batch {
    fn new() -> Self {
        Self { images: Vec::new(), stored: Stored::default() }
    }
}

impl Stream {
    /// Hands a page's new images on; never waits.
    pub fn send(&self, images: Vec<ImageRecord>) {
        if images.is_empty() {
            return;
        }
        self.clock.queue_moved(Queue::ToAnalyse, images.len() as i64);
        let _ = self.tx.send(images);
    }

    /// Waits for every image handed on to be stored; the totals.
    pub async fn finish(self) -> Stored {
        drop(self.tx);
        self.stages.await.unwrap_or_default()
    }
}

impl Ingest {
    /// Starts the stages for one crawl's images, stored under `namespace`: image fetches take
    /// request slots from `hosts` (the crawl's), the stages record on `clock` (the crawl's),
    /// `on_batch` hears of each batch stored. Once `stop` is cancelled no image is fetched any
    /// more: the rest are stored with what their markup says.
    pub fn stream(
        self: &Arc<Self>,
        namespace: Namespace,
        hosts: Arc<Hosts>,
        clock: Arc<Clock>,
        stop: CancelHandle,
        on_batch: impl FnMut(BatchOutcome) + Send + 'static,
    ) -> Stream {
        let (tx, rx) = mpsc::unbounded_channel();
        let (to_embed, embed_rx) = mpsc::channel(QUEUED_BATCHES);
        let (to_write, write_rx) = mpsc::channel(QUEUED_BATCHES);
        let analyse = tokio::spawn(analyse(self.clone(), hosts, clock.clone(), rx, to_embed, stop.clone()));
        let embed = tokio::spawn(embed(self.clone(), clock.clone(), embed_rx, to_write));
        let write = tokio::spawn(write(self.clone(), namespace, clock.clone(), write_rx, stop.clone(), on_batch));
        let stages = tokio::spawn(async move {
            let _ = analyse.await;
            let _ = embed.await;
            write.await.unwrap_or_default()
        });
        Stream { tx, clock, stages }
    }
}

/// Reads images as they come, `in_flight` at a time, into batches for the model.
async fn analyse(
    ingest: Arc<Ingest>,
    hosts: Arc<Hosts>,
    clock: Arc<Clock>,
    mut rx: mpsc::UnboundedReceiver<Vec<ImageRecord>>,
    out: mpsc::Sender<Batch>,
    stop: CancelHandle,
) {
    let enricher = ingest.enricher.as_ref();
    let in_flight = enricher.map_or(1, |e| e.in_flight());
    let (hosts, clock_ref) = (hosts.as_ref(), clock.as_ref());
    let mut waiting: VecDeque<ImageRecord> = VecDeque::new();
    // The records being read stay here, so a stop keeps them (with their markup's facts).
    let mut held: HashMap<u64, ImageRecord> = HashMap::new();
    let mut next_id = 0u64;
    let mut reading = FuturesUnordered::new();
    let mut batch = Batch::new();
    let mut stats = EnrichStats::default();
    let mut due_at: Option<tokio::time::Instant> = None;
    let mut due = false;
    let (mut open, mut stopped) = (true, stop.is_cancelled());
    let cancelled = stop.cancelled();
    let mut cancelled = std::pin::pin!(cancelled);
    loop {
        while reading.len() < in_flight
            && let Some(record) = waiting.pop_front()
        {
            clock.queue_moved(Queue::ToAnalyse, -1);
            match enricher {
                Some(e) if !stopped && wants_reading(&record) => {
                    let (id, url) = (next_id, record.url.clone());
                    next_id += 1;
                    held.insert(id, record);
                    reading.push(async move { (id, e.read(url, hosts, clock_ref).await) });
                }
                _ => push(&mut batch, record, &mut due_at),
            }
        }
        if batch.images.len() >= BATCH {
            send(&clock, &out, &mut batch, &mut stats, &mut due_at, &mut due).await;
            continue;
        }
        if !open && waiting.is_empty() && reading.is_empty() {
            if !batch.images.is_empty() {
                send(&clock, &out, &mut batch, &mut stats, &mut due_at, &mut due).await;
            }
            break;
        }
        let idle = reading.is_empty().then(Instant::now);
        tokio::select! {
            biased;
            () = &mut cancelled, if !stopped => {
                stopped = true;
                reading = FuturesUnordered::new();
                for (_, record) in held.drain() {
                    push(&mut batch, record, &mut due_at);
                }
            }
            Some((id, read)) = reading.next(), if !reading.is_empty() => {
                let Some(mut record) = held.remove(&id) else { continue };
                stats.count(&read);
                match read {
                    ImageRead::Facts(facts, _) => {
                        record.facts = Some(facts);
                        push(&mut batch, record, &mut due_at);
                    }
                    // Nobody could see it: left out.
                    ImageRead::Missing => {}
                    ImageRead::Unread | ImageRead::Refused => push(&mut batch, record, &mut due_at),
                }
            }
            got = rx.recv(), if open => match got {
                Some(images) => waiting.extend(images),
                None => open = false,
            },
            () = sleep_until(due_at), if due_at.is_some() && !due => due = true,
            Ok(permit) = out.reserve(), if due && !batch.images.is_empty() => {
                permit.send(take(&mut batch, &mut stats, &mut due_at, &mut due));
                clock.queue_moved(Queue::ToEmbed, 1);
            }
        }
        if let Some(t) = idle {
            clock.waited(Stage::FetchImages, Wait::Input, t.elapsed());
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn push(batch: &mut Batch, record: ImageRecord, due_at: &mut Option<tokio::time::Instant>) {
    if batch.images.is_empty() {
        *due_at = Some(tokio::time::Instant::now() + BATCH_WAIT);
    }
    batch.images.push(record);
}

/// The batch to hand on, with the reads counted since the last one; a new batch starts.
fn take(
    batch: &mut Batch,
    stats: &mut EnrichStats,
    due_at: &mut Option<tokio::time::Instant>,
    due: &mut bool,
) -> Batch {
    let mut full = std::mem::replace(batch, Batch::new());
    full.stored.set_reads(&std::mem::take(stats));
    (*due_at, *due) = (None, false);
    full
}

/// Hands a batch to the model, waiting while its queue is full.
async fn send(
    clock: &Clock,
    out: &mpsc::Sender<Batch>,
    batch: &mut Batch,
    stats: &mut EnrichStats,
    due_at: &mut Option<tokio::time::Instant>,
    due: &mut bool,
) {
    let full = take(batch, stats, due_at, due);
    let t = Instant::now();
    let _ = out.send(full).await;
    clock.waited(Stage::FetchImages, Wait::Next, t.elapsed());
    clock.queue_moved(Queue::ToEmbed, 1);
}

async fn embed(ingest: Arc<Ingest>, clock: Arc<Clock>, mut rx: mpsc::Receiver<Batch>, out: mpsc::Sender<Embedded>) {
    loop {
        let t = Instant::now();
        let Some(Batch { mut images, mut stored }) = rx.recv().await else { break };
        clock.waited(Stage::Embed, Wait::Input, t.elapsed());
        clock.queue_moved(Queue::ToEmbed, -1);
        stored.too_small = drop_too_small(&mut images);
        let (items, error) = clock.time(Stage::Embed, ingest.embed(images)).await;
        stored.embed_error = error;
        stored.count(&items);
        let t = Instant::now();
        let _ = out.send((items, stored)).await;
        clock.waited(Stage::Embed, Wait::Next, t.elapsed());
        clock.queue_moved(Queue::ToWrite, 1);
    }
}

async fn write(
    ingest: Arc<Ingest>,
    namespace: Namespace,
    clock: Arc<Clock>,
    mut rx: mpsc::Receiver<Embedded>,
    stop: CancelHandle,
    mut on_batch: impl FnMut(BatchOutcome),
) -> Stored {
    let mut total = Stored::default();
    // Once the store stayed unreachable past the retry time, the crawl is stopped and what is
    // still queued is counted as not stored, without waiting on the store again.
    let mut store_gone = false;
    loop {
        let t = Instant::now();
        let Some((items, stored)) = rx.recv().await else { break };
        clock.waited(Stage::Write, Wait::Input, t.elapsed());
        clock.queue_moved(Queue::ToWrite, -1);
        if store_gone {
            on_batch(Err((
                items.len() as u64,
                Error::Unavailable("the crawl stopped: the index store is unavailable".into()),
            )));
            continue;
        }
        let written = clock.time(Stage::Write, ingest.write(&namespace, &items)).await;
        match written {
            Ok(_) => {
                total.add(&stored);
                on_batch(Ok(stored));
            }
            Err(e) => {
                if matches!(e, Error::Unavailable(_)) {
                    store_gone = true;
                    stop.cancel();
                }
                on_batch(Err((items.len() as u64, e)));
            }
        }
    }
    total
}
