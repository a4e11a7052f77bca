//! Query embeddings, gathered into batches. Under chat load every search needs one short text
//! embedded; run one by one, each waits for the model on a blocking thread of its own (80–110
//! threads under 50 concurrent clients, each with its own allocator heap: RSS grew 230 MB →
//! 1.1 GB and stayed there). Here the waiting happens on the async side, and whatever queued
//! while the model was busy runs as the next batch on one blocking thread, which also spends
//! one inference on up to [`BATCH`] texts instead of one each.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use super::onnx::BATCH;
use super::{Embedder, embed_off_thread};
use crate::error::{Error, Result};

/// Texts that may wait for the model; a caller past this waits (asynchronously) to queue.
const QUEUE: usize = 1024;

struct Job {
    text: String,
    reply: oneshot::Sender<Result<Vec<f32>>>,
}

pub struct QueryBatcher {
    embedder: Arc<dyn Embedder>,
    /// Started on first use, on the runtime of that use.
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl QueryBatcher {
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        Self { embedder, queue: OnceLock::new() }
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// One text's vector, computed in a batch with whatever else is waiting.
    pub async fn embed(&self, text: String) -> Result<Vec<f32>> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(self.embedder.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        match queue.send(Job { text, reply }).await {
            Ok(()) => answer.await.map_err(|_| Error::Model("the embedding worker stopped".into()))?,
            // The runtime that started the worker has ended (a test's, a CLI command's): embed
            // on this one directly.
            Err(mpsc::error::SendError(job)) => {
                let embedder = self.embedder.clone();
                let mut out = embed_off_thread(embedder, vec![job.text]).await?;
                out.pop().ok_or_else(|| Error::Model("the model returned no vector".into()))
            }
        }
    }
}

async fn run(embedder: Arc<dyn Embedder>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // A caller that gave up (its request was cancelled) costs no inference.
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let texts = jobs.iter().map(|j| j.text.clone()).collect();
        let answer = match embed_off_thread(embedder.clone(), texts).await {
            Ok(vectors) if vectors.len() == jobs.len() => Ok(vectors),
            Ok(vectors) => Err(format!("the model returned {} vectors for {} texts", vectors.len(), jobs.len())),
            // Each caller gets the model's own words (the error is not `Clone`).
            Err(Error::Model(message)) => Err(message),
            Err(other) => Err(other.to_string()),
        };
        match answer {
            Ok(vectors) => {
                for (job, v) in jobs.into_iter().zip(vectors) {
                    let _ = job.reply.send(Ok(v));
                }
            }
            Err(message) => {
                for job in jobs {
                    let _ = job.reply.send(Err(Error::Model(message.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records the size of every batch it is asked for; each text's vector is its length.
    struct Recording {
        batches: Mutex<Vec<usize>>,
        hold: Mutex<()>,
    }

    impl Embedder for Recording {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.batches.lock().unwrap().push(texts.len());
            let _busy = self.hold.lock().unwrap();
            if texts.contains(&"fail") {
                return Err(Error::Model("no such word".into()));
            }
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
        fn model_id(&self) -> &str {
            "recording"
        }
        fn dimension(&self) -> usize {
            1
        }
    }

    // The guard holds the model on its blocking thread while this task waits; nothing async
    // ever takes that lock.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn texts_queued_while_the_model_is_busy_share_one_batch_and_get_their_own_vectors() {
        let model = Arc::new(Recording { batches: Mutex::new(Vec::new()), hold: Mutex::new(()) });
        let batcher = Arc::new(QueryBatcher::new(model.clone()));
        assert_eq!(batcher.embed("warm".into()).await.unwrap(), vec![4.0]);
        // Hold the model so that the next texts queue up behind the first of them.
        let busy = model.hold.lock().unwrap();
        let calls: Vec<_> = (1..=20)
            .map(|n| {
                let b = batcher.clone();
                tokio::spawn(async move { (n, b.embed("x".repeat(n)).await) })
            })
            .collect();
        // Every text is either in the batch waiting for the model or queued behind it.
        let queue = batcher.queue.get().unwrap().clone();
        while model.batches.lock().unwrap()[1..].iter().sum::<usize>() + (QUEUE - queue.capacity()) < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        drop(busy);
        for call in calls {
            let (n, v) = call.await.unwrap();
            assert_eq!(v.unwrap(), vec![n as f32]);
        }
        let batches = model.batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 21);
        assert!(batches.len() <= 3, "20 texts waiting together ran in {} batches: {batches:?}", batches.len() - 1);
    }

    #[tokio::test]
    async fn a_failed_batch_answers_every_caller_with_the_reason() {
        let model = Arc::new(Recording { batches: Mutex::new(Vec::new()), hold: Mutex::new(()) });
        let batcher = QueryBatcher::new(model);
        let err = batcher.embed("fail".into()).await.unwrap_err();
        assert!(matches!(&err, Error::Model(m) if m.contains("no such word")), "{err}");
        assert_eq!(batcher.embed("ok".into()).await.unwrap(), vec![2.0]);
    }
}
