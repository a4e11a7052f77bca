//! How much memory the CPU work of all crawls of the process may take at once: pictures being
//! decoded, pages being parsed. Each piece of work asks for its size first and waits while
//! others hold the rest, so many large ones take turns instead of piling up (eight 24-megapixel
//! 16-bit PNGs analysed at once took 1.1 GB; 35 pages of 200,000 `<img>` parsed at once, 4 GB).

use std::sync::{Condvar, Mutex};

/// Decoded bytes all picture decodes may hold at once: one of the largest pictures decoded
/// (256 MiB) and room beside it for ordinary ones.
pub const DECODE_BYTES_IN_FLIGHT: u64 = 384 << 20;
/// Bytes of HTML all parses may hold at once. A parsed page takes up to ~30 times its bytes
/// (a page of bare `<img>` tags: 5 MB of HTML, 160 MB of tree); ordinary pages of 50 KB-1 MB
/// never wait on each other; two 5 MB pages of bare tags parse at once (one core each here),
/// a third waits. At 8 MiB a crawl of such pages took half as long again; with no budget, a
/// crawl of twelve took 2.9 GB.
pub const PARSE_BYTES_IN_FLIGHT: u64 = 12 << 20;

/// A pool of bytes handed out to pieces of work.
pub struct MemoryBudget {
    limit: u64,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Default)]
struct State {
    held: u64,
    /// The most ever held at once (tests assert it stays within the limit).
    high_water: u64,
}

/// Bytes held for one piece of work; handed back when dropped.
pub struct Held<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl MemoryBudget {
    pub const fn new(limit: u64) -> Self {
        Self { limit, state: Mutex::new(State { held: 0, high_water: 0 }), freed: Condvar::new() }
    }

    /// The process's budget for picture decodes.
    pub fn decodes() -> &'static Self {
        static DECODES: MemoryBudget = MemoryBudget::new(DECODE_BYTES_IN_FLIGHT);
        &DECODES
    }

    /// The process's budget for page parses.
    pub fn parses() -> &'static Self {
        static PARSES: MemoryBudget = MemoryBudget::new(PARSE_BYTES_IN_FLIGHT);
        &PARSES
    }

    /// Blocks until `bytes` (at most the whole budget) are free, then holds them. Call from a
    /// blocking thread.
    pub fn hold(&self, bytes: u64) -> Held<'_> {
        let bytes = bytes.min(self.limit);
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while state.held + bytes > self.limit {
            state = self.freed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.held += bytes;
        state.high_water = state.high_water.max(state.held);
        Held { budget: self, bytes }
    }

    /// The most held at once so far.
    pub fn high_water(&self) -> u64 {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).high_water
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut state = self.budget.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.held -= self.bytes;
        drop(state);
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn holders_wait_for_room_and_never_exceed_the_limit() {
        let budget = Arc::new(MemoryBudget::new(100));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    // Over the limit is clamped to the whole budget rather than waiting forever.
                    let _held = budget.hold(if i == 0 { 1_000 } else { 40 });
                    std::thread::yield_now();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(budget.high_water() <= 100);
        assert_eq!(budget.hold(100).bytes, 100, "everything was handed back");
    }
}
