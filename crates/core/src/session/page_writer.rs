//! One worker's index writes for a crawl the replicas share: the pages it stores go into the
//! index together (up to a batch of images, or what came within a moment), one transaction for
//! many pages instead of one each, and each page hears when the write that holds it committed —
//! so a page is acknowledged only once its images are in the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::crawl::frontier::RedisFrontier;
use crate::error::Error;
use crate::index::Namespace;
use crate::ingest::{BATCH, Ingest, Stored};
use crate::model::ImageRecord;

/// A write goes when this long has passed since its first page came, if it is not full before.
const WAIT: Duration = Duration::from_millis(50);
/// The report kind each worker's store totals go under.
pub(super) const STORE_REPORT: &str = "store";

type Items = Vec<(ImageRecord, Option<Vec<f32>>)>;

struct Page {
    items: Items,
    stored: Stored,
    done: oneshot::Sender<Result<(), String>>,
}

pub(super) struct PageWriter {
    tx: mpsc::UnboundedSender<Page>,
}

impl PageWriter {
    /// Writes under `namespace`, reporting this worker's totals to `frontier` after each write.
    pub fn start(ingest: Arc<Ingest>, namespace: Namespace, frontier: Arc<RedisFrontier>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(ingest, namespace, frontier, rx));
        Self { tx }
    }

    /// Stores a page's embedded images; resolves once they are committed. `Err`: the store
    /// stayed unreachable, and the crawl must stop.
    pub async fn write(&self, items: Items, stored: Stored) -> Result<(), String> {
        let (done, committed) = oneshot::channel();
        self.tx.send(Page { items, stored, done }).map_err(|_| "the index writer stopped".to_string())?;
        committed.await.unwrap_or_else(|_| Err("the index writer stopped".into()))
    }
}

async fn write_loop(
    ingest: Arc<Ingest>,
    namespace: Namespace,
    frontier: Arc<RedisFrontier>,
    mut rx: mpsc::UnboundedReceiver<Page>,
) {
    let mut totals = Stored::default();
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut images = first.items.len();
        let mut pages = vec![first];
        while images < BATCH {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(page) => {
                        images += page.items.len();
                        pages.push(page);
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let items: Items = pages.iter_mut().flat_map(|p| std::mem::take(&mut p.items)).collect();
        let written = if items.is_empty() { Ok(0) } else { ingest.write(&namespace, &items).await };
        let outcome = match written {
            Ok(_) => {
                pages.iter().for_each(|p| totals.add(&p.stored));
                let json = serde_json::to_string(&totals).unwrap_or_default();
                if let Err(e) = frontier.report(STORE_REPORT, &json).await {
                    tracing::warn!("could not report the images stored: {e}");
                }
                Ok(())
            }
            Err(Error::Unavailable(why)) => {
                Err(format!("the crawl was stopped: the index store stayed unreachable ({why})"))
            }
            // Not the store gone: these pages' images are lost, said in the log, and the crawl
            // goes on (as an in-process crawl's failed batch does).
            Err(e) => {
                tracing::error!(images = items.len(), "images could not be stored: {e}");
                Ok(())
            }
        };
        for page in pages {
            let _ = page.done.send(outcome.clone());
        }
    }
}
