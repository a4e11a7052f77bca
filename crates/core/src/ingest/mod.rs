//! What becomes of a crawl's images before they can be found, the same for the web app's
//! sessions and `image-chat crawl --index`: each is fetched once for its real size and format
//! (`crawler.analyze_images`), those the bytes show too small to be content are left out, the
//! text of each is embedded through the embedding cache (when a model is there), and the batch
//! is stored. A crawl streams its images through these steps as it finds them ([`stream`]).

mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::CacheLayers;
use crate::embed::{Embedder, embed_cached, image_text};
use crate::enrich::{EnrichStats, Enricher, drop_too_small};
use crate::error::{Error, Result};
use crate::index::{ImageIndex, Namespace};
use crate::model::ImageRecord;

pub use stream::{BatchOutcome, Stream};

/// How many images are embedded and stored together.
pub const BATCH: usize = 128;

/// What storing one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    /// Stored in the index (searchable at least by keywords).
    pub indexed: u64,
    /// Stored with a vector.
    pub embedded: u64,
    pub analysed: u64,
    /// Fetched but unreadable (a timeout, a server error, a format we cannot decode): the
    /// markup stands for them.
    pub unread: u64,
    pub refused_by_robots: u64,
    /// Left out: the site says they are not there (404, 410, a web page in their place).
    pub missing: u64,
    /// Left out: the bytes show a tracking pixel or an image under 50 px on a side.
    pub too_small: u64,
    /// Why the model failed on this batch (its images are stored for keyword search).
    pub embed_error: Option<String>,
}

impl Stored {
    /// Takes the counts of the analysis of this batch's images.
    fn set_reads(&mut self, reads: &EnrichStats) {
        self.analysed = reads.analysed;
        self.missing = reads.missing;
        self.unread = reads.failed - reads.missing;
        self.refused_by_robots = reads.refused_by_robots;
    }

    /// Counts the images of a batch about to be stored.
    fn count(&mut self, items: &[(ImageRecord, Option<Vec<f32>>)]) {
        self.indexed = items.len() as u64;
        self.embedded = items.iter().filter(|(_, v)| v.is_some()).count() as u64;
    }

    pub fn add(&mut self, other: &Stored) {
        self.indexed += other.indexed;
        self.embedded += other.embedded;
        self.analysed += other.analysed;
        self.unread += other.unread;
        self.refused_by_robots += other.refused_by_robots;
        self.missing += other.missing;
        self.too_small += other.too_small;
        if self.embed_error.is_none() {
            self.embed_error.clone_from(&other.embed_error);
        }
    }
}

#[derive(Clone)]
pub struct Ingest {
    index: Arc<dyn ImageIndex>,
    /// The model, or why there is none (images are then stored for keywords only).
    embedder: std::result::Result<Arc<dyn Embedder>, String>,
    caches: Arc<CacheLayers>,
    enricher: Option<Enricher>,
    /// How long a batch's write is retried while the store is unreachable.
    outage_retry: Duration,
}

/// [`Ingest::with_outage_retry`]'s default: a database restart or fail-over takes seconds.
pub const OUTAGE_RETRY: Duration = Duration::from_secs(30);

impl Ingest {
    /// The steps: analysis by `enricher` when there is one (the composition root builds it when
    /// `crawler.analyze_images` is on, fetching as the crawler fetches), then embedding through
    /// the embedding cache, then the index.
    pub fn new(
        index: Arc<dyn ImageIndex>,
        embedder: std::result::Result<Arc<dyn Embedder>, String>,
        caches: Arc<CacheLayers>,
        enricher: Option<Enricher>,
    ) -> Self {
        Self { index, embedder, caches, enricher, outage_retry: OUTAGE_RETRY }
    }

    /// Retries a write for up to `retry` while the store is unreachable (`store.outage_retry_ms`).
    pub fn with_outage_retry(mut self, retry: Duration) -> Self {
        self.outage_retry = retry;
        self
    }

    /// Writes a batch; while the store is unreachable ([`Error::Unavailable`]: a restart, a
    /// fail-over) the same batch is tried again, with growing pauses, until the outage retry
    /// time is spent. A write is one transaction and replaces by URL, so a retry never stores
    /// an image twice.
    pub async fn write(&self, namespace: &Namespace, items: &[(ImageRecord, Option<Vec<f32>>)]) -> Result<usize> {
        let deadline = Instant::now() + self.outage_retry;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.index.upsert(namespace, items).await {
                Err(Error::Unavailable(why)) if Instant::now() + pause < deadline => {
                    tracing::warn!("the index store is unavailable ({why}); trying again in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                outcome => return outcome,
            }
        }
    }

    pub fn embedder(&self) -> &std::result::Result<Arc<dyn Embedder>, String> {
        &self.embedder
    }

    pub fn index(&self) -> &Arc<dyn ImageIndex> {
        &self.index
    }

    /// Analyses, filters, embeds and stores `images` under `namespace`. Once `stop` resolves (a
    /// cancelled crawl) no more image is fetched for analysis: the rest are stored with what
    /// their markup says, so stopping is prompt and loses none. A failing model is reported in
    /// [`Stored::embed_error`] and the images are stored for keyword search; a failing store is
    /// the error.
    pub async fn store(
        &self,
        namespace: &Namespace,
        images: Vec<ImageRecord>,
        stop: impl Future<Output = ()>,
    ) -> Result<Stored> {
        let (items, stored) = self.prepare(images, stop, None::<std::future::Ready<()>>).await;
        self.write(namespace, &items).await?;
        Ok(stored)
    }

    /// The steps of [`Ingest::store`] before the write, for one page of a crawl replicas share:
    /// its images are read one at a time (the page holds one request slot of its host among all
    /// the replicas'), `reads_done` runs once they are read (it frees that slot), then the too
    /// small are left out and the rest embedded. The caller writes the items (several pages in
    /// one [`Ingest::write`]).
    pub async fn prepare_page(
        &self,
        images: Vec<ImageRecord>,
        stop: impl Future<Output = ()>,
        reads_done: impl Future<Output = ()>,
    ) -> (Vec<(ImageRecord, Option<Vec<f32>>)>, Stored) {
        self.prepare(images, stop, Some(reads_done)).await
    }

    /// Analysis (all at once, or one by one then `one_by_one`), the too small left out,
    /// embedding; what is to be written, counted.
    async fn prepare(
        &self,
        mut images: Vec<ImageRecord>,
        stop: impl Future<Output = ()>,
        one_by_one: Option<impl Future<Output = ()>>,
    ) -> (Vec<(ImageRecord, Option<Vec<f32>>)>, Stored) {
        let mut stored = Stored::default();
        if let Some(enricher) = &self.enricher {
            let reads = if one_by_one.is_some() {
                enricher.enrich_one_by_one(&mut images, stop).await
            } else {
                enricher.enrich_until(&mut images, stop).await
            };
            stored.set_reads(&reads);
        }
        if let Some(reads_done) = one_by_one {
            reads_done.await;
        }
        stored.too_small = drop_too_small(&mut images);
        let (items, embed_error) = self.embed(images).await;
        stored.embed_error = embed_error;
        stored.count(&items);
        (items, stored)
    }

    /// Each image with its text's vector (through the embedding cache), or none when it has no
    /// text or the model failed; and why it failed.
    async fn embed(&self, images: Vec<ImageRecord>) -> (Vec<(ImageRecord, Option<Vec<f32>>)>, Option<String>) {
        let texts: Vec<String> = images.iter().map(|r| image_text(&r.context)).collect();
        let mut error = None;
        let vectors: Vec<Option<Vec<f32>>> = match &self.embedder {
            Ok(embedder) => {
                let with_text: Vec<String> = texts.iter().filter(|t| !t.is_empty()).cloned().collect();
                match embed_cached(embedder.clone(), &self.caches.embedding, &with_text).await {
                    Ok((v, _)) => {
                        let mut v = v.into_iter();
                        texts.iter().map(|t| if t.is_empty() { None } else { v.next() }).collect()
                    }
                    Err(e) => {
                        error = Some(e.to_string());
                        vec![None; images.len()]
                    }
                }
            }
            Err(_) => vec![None; images.len()],
        };
        (images.into_iter().zip(vectors).collect(), error)
    }
}
