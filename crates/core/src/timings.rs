//! Where a crawl's wall time goes: per pipeline stage (page fetches, extraction, rendering, image
//! fetches, image decoding, embedding, index writes) the time spent working, waiting for a
//! per-host request slot, waiting for input and waiting on the next stage, with the depth of the
//! queues between them, set beside the politeness floor (what the per-host limits alone cost).
//!
//! Stages run many tasks at once, so a stage's busy time is the sum over its tasks and can exceed
//! the wall time. Recording is a few relaxed atomic adds per item: it is always on.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A pipeline stage, in the order work flows through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    FetchPages,
    Extract,
    Render,
    FetchImages,
    Decode,
    Embed,
    Write,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::FetchPages,
        Stage::Extract,
        Stage::Render,
        Stage::FetchImages,
        Stage::Decode,
        Stage::Embed,
        Stage::Write,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::FetchPages => "fetch_pages",
            Stage::Extract => "extract",
            Stage::Render => "render",
            Stage::FetchImages => "fetch_images",
            Stage::Decode => "decode",
            Stage::Embed => "embed",
            Stage::Write => "index_write",
        }
    }
}

/// A queue between two stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// Images the crawl found, waiting for analysis (or for embedding when analysis is off).
    ToAnalyse,
    /// Batches waiting for the model.
    ToEmbed,
    /// Batches waiting for the index.
    ToWrite,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::ToAnalyse, Queue::ToEmbed, Queue::ToWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::ToAnalyse => "images_to_analyse",
            Queue::ToEmbed => "batches_to_embed",
            Queue::ToWrite => "batches_to_write",
        }
    }
}

/// Why a stage was not working.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// For a per-host request slot (politeness); for decoding, a core.
    Slot,
    /// For input from the stage before.
    Input,
    /// On the stage after (its queue was full).
    Next,
}

#[derive(Default)]
struct StageClock {
    items: AtomicU64,
    busy_us: AtomicU64,
    slot_us: AtomicU64,
    input_us: AtomicU64,
    next_us: AtomicU64,
}

#[derive(Default)]
struct QueueClock {
    depth: AtomicI64,
    max: AtomicU64,
    /// Depth summed over every change, and how many changes: the mean depth a change saw.
    sum: AtomicU64,
    changes: AtomicU64,
}

/// The clock of one crawl; shared by its stages.
pub struct Clock {
    started: Instant,
    stages: [StageClock; Stage::ALL.len()],
    queues: [QueueClock; Queue::ALL.len()],
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

fn us(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

impl Clock {
    pub fn new() -> Self {
        Self { started: Instant::now(), stages: Default::default(), queues: Default::default() }
    }

    // `ALL` lists each enum in declaration order, so a variant's discriminant is its place.
    fn stage(&self, stage: Stage) -> &StageClock {
        &self.stages[stage as usize]
    }

    fn queue(&self, queue: Queue) -> &QueueClock {
        &self.queues[queue as usize]
    }

    /// One item (a page, an image, a batch) worked on for `took`.
    pub fn busy(&self, stage: Stage, took: Duration) {
        let s = self.stage(stage);
        s.items.fetch_add(1, Relaxed);
        s.busy_us.fetch_add(us(took), Relaxed);
    }

    /// Times `work` as one item of `stage`.
    pub async fn time<T>(&self, stage: Stage, work: impl Future<Output = T>) -> T {
        let t = Instant::now();
        let out = work.await;
        self.busy(stage, t.elapsed());
        out
    }

    pub fn waited(&self, stage: Stage, why: Wait, took: Duration) {
        let s = self.stage(stage);
        let field = match why {
            Wait::Slot => &s.slot_us,
            Wait::Input => &s.input_us,
            Wait::Next => &s.next_us,
        };
        field.fetch_add(us(took), Relaxed);
    }

    /// A queue grew (`by` > 0) or shrank.
    pub fn queue_moved(&self, queue: Queue, by: i64) {
        let q = self.queue(queue);
        let depth = (q.depth.fetch_add(by, Relaxed) + by).max(0) as u64;
        q.max.fetch_max(depth, Relaxed);
        q.sum.fetch_add(depth, Relaxed);
        q.changes.fetch_add(1, Relaxed);
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// What the clock holds now, beside `floor` (see [`crate::crawl::politeness::Hosts::floor`]).
    pub fn report(&self, floor: Floor) -> Timings {
        let ms = |v: &AtomicU64| v.load(Relaxed) / 1000;
        let stages = Stage::ALL
            .iter()
            .map(|stage| {
                let s = self.stage(*stage);
                StageTiming {
                    stage: stage.as_str().to_string(),
                    items: s.items.load(Relaxed),
                    busy_ms: ms(&s.busy_us),
                    waited_for_slot_ms: ms(&s.slot_us),
                    waited_for_input_ms: ms(&s.input_us),
                    waited_on_next_ms: ms(&s.next_us),
                }
            })
            .collect();
        let queues = Queue::ALL
            .iter()
            .map(|queue| {
                let q = self.queue(*queue);
                let changes = q.changes.load(Relaxed);
                QueueTiming {
                    queue: queue.as_str().to_string(),
                    max: q.max.load(Relaxed),
                    mean: if changes == 0 { 0.0 } else { q.sum.load(Relaxed) as f64 / changes as f64 },
                }
            })
            .collect();
        let wall_ms = self.started.elapsed().as_millis() as u64;
        let ratio = if floor.ms == 0 { 0.0 } else { wall_ms as f64 / floor.ms as f64 };
        Timings { wall_ms, floor, wall_over_floor: (ratio * 100.0).round() / 100.0, stages, queues }
    }
}

/// The politeness floor: how long the busiest host's requests take at its per-host concurrency
/// (the sum of its request times ÷ the concurrency, or its request count × its delay when that
/// is longer). No schedule can finish the crawl's requests to that host sooner.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    pub ms: u64,
    /// The host it was reached on.
    pub host: String,
    pub page_requests: u64,
    pub image_requests: u64,
    /// Mean time of one request to that host (time to the last byte).
    pub mean_request_ms: f64,
    pub per_host_concurrency: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    pub stage: String,
    pub items: u64,
    /// Summed over the stage's concurrent tasks.
    pub busy_ms: u64,
    pub waited_for_slot_ms: u64,
    pub waited_for_input_ms: u64,
    pub waited_on_next_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueTiming {
    pub queue: String,
    pub max: u64,
    pub mean: f64,
}

/// Where one crawl's time went (in the session record, `image-chat crawl --timings`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// From the crawl's start to its last image stored.
    pub wall_ms: u64,
    pub floor: Floor,
    /// `wall_ms` ÷ `floor.ms` (0 when nothing was fetched).
    pub wall_over_floor: f64,
    pub stages: Vec<StageTiming>,
    pub queues: Vec<QueueTiming>,
}

impl Timings {
    /// A table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "wall {:.2} s; politeness floor {:.2} s on {} ({} page + {} image requests × {:.1} ms ÷ {}): {:.2}x the floor\n",
            self.wall_ms as f64 / 1000.0,
            self.floor.ms as f64 / 1000.0,
            if self.floor.host.is_empty() { "-" } else { &self.floor.host },
            self.floor.page_requests,
            self.floor.image_requests,
            self.floor.mean_request_ms,
            self.floor.per_host_concurrency,
            self.wall_over_floor,
        );
        out.push_str(&format!(
            "{:<13} {:>7} {:>9} {:>10} {:>10} {:>10}\n",
            "stage", "items", "busy s", "slot s", "input s", "next s"
        ));
        let s = |ms: u64| ms as f64 / 1000.0;
        for t in &self.stages {
            out.push_str(&format!(
                "{:<13} {:>7} {:>9.2} {:>10.2} {:>10.2} {:>10.2}\n",
                t.stage,
                t.items,
                s(t.busy_ms),
                s(t.waited_for_slot_ms),
                s(t.waited_for_input_ms),
                s(t.waited_on_next_ms)
            ));
        }
        for q in &self.queues {
            out.push_str(&format!("queue {:<18} max {:>6}  mean {:>8.1}\n", q.queue, q.max, q.mean));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_queues_add_up() {
        // The clock finds a stage's and a queue's counters by discriminant.
        assert!(Stage::ALL.iter().enumerate().all(|(i, s)| *s as usize == i));
        assert!(Queue::ALL.iter().enumerate().all(|(i, q)| *q as usize == i));
        let clock = Clock::new();
        clock.busy(Stage::FetchPages, Duration::from_millis(20));
        clock.busy(Stage::FetchPages, Duration::from_millis(30));
        clock.waited(Stage::FetchImages, Wait::Slot, Duration::from_millis(7));
        clock.queue_moved(Queue::ToAnalyse, 3);
        clock.queue_moved(Queue::ToAnalyse, 2);
        clock.queue_moved(Queue::ToAnalyse, -5);
        let floor = Floor { ms: 10, ..Floor::default() };
        let t = clock.report(floor);
        let fetch = &t.stages[0];
        assert_eq!((fetch.stage.as_str(), fetch.items, fetch.busy_ms), ("fetch_pages", 2, 50));
        assert_eq!(t.stages[3].waited_for_slot_ms, 7);
        let q = &t.queues[0];
        assert_eq!((q.max, q.mean), (5, (3.0 + 5.0 + 0.0) / 3.0));
        assert!(t.table().contains("fetch_pages"));
    }
}
