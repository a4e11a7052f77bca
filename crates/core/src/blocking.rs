//! Blocking work that waits its turn on the async side. Work that contends on one lock (the
//! SQLite connection, the conversation files) spawned freely keeps a blocking thread per caller
//! waiting on that lock: under 50 chat clients ~100 threads, each with its own allocator heap,
//! and RSS grew 230 MB → 1.1 GB. A gate holds callers past a few in flight before any thread.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

/// The machine's cores.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How many CPU-heavy jobs (a decode, a page parse) run at once: one core fewer than there are,
/// at least one, so the async threads (every request's, `/health`'s) always have a core.
pub fn cores_but_one() -> usize {
    cores().saturating_sub(1).max(1)
}

/// A bound on the blocking threads one kind of work may hold at once.
pub struct Gate(LazyLock<Semaphore>);

impl Gate {
    /// As many turns as cores (at least 2): the work is short, and more threads only wait.
    pub const fn per_core() -> Self {
        Self(LazyLock::new(|| Semaphore::new(cores().max(2))))
    }

    /// Runs `work` on a blocking thread once a turn is free. The turn goes with the work: a
    /// caller that stops waiting does not free it before the work ends. `Err` says why the work
    /// did not run to its end (it panicked, or the runtime is shutting down).
    pub async fn run<T: Send + 'static>(&'static self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let turn = self.0.acquire().await.map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work()
        })
        .await
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static GATE: Gate = Gate::per_core();

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_its_turns_run_at_once() {
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let calls: Vec<_> = (0..40)
            .map(|i| {
                tokio::spawn(GATE.run(move || {
                    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                    MOST.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    RUNNING.fetch_sub(1, Ordering::SeqCst);
                    i
                }))
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), i);
        }
        let turns = cores().max(2);
        let most = MOST.load(Ordering::SeqCst);
        assert!(most >= 1 && most <= turns, "{most} ran at once with {turns} turns");
    }
}
