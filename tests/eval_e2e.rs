//! Search quality through the product's whole path (`image-chat eval --e2e`): each dev set is
//! served as a local site, crawled with image analysis, indexed by the web app's ingest and
//! asked through the function `POST /chat` calls. The end-to-end figure must keep up with the
//! offline one that feeds the index directly (docs/benchmarks.md records both, on the whole
//! sets), no descriptive caption may get a filter chip that empties its answer, and the parser
//! may read a filter into at most 1% of them. The same path with the index in PostgreSQL answers
//! as the embedded store does.

use std::path::Path;
use std::sync::Arc;

use image_chat::cli::eval_e2e::{self, E2eReport, Layout};
use image_chat_core::Settings;
use image_chat_core::config::ModelSettings;
use image_chat_core::config::{Secret, StoreKind};
use image_chat_core::embed::{Embedder, OnnxEmbedder};
use image_chat_core::eval::{self, EvalReport, EvalSet};
use image_chat_core::search::rank::Fusion;
use image_chat_fixtures::postgres_db::fresh_database;
use image_chat_fixtures::skip::{Need, shared_or_skip, skip};
use tokio::sync::OnceCell;

fn embedder() -> Option<Arc<dyn Embedder>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let settings = ModelSettings { dir, ..ModelSettings::default() };
    if settings.files().iter().all(|f| f.is_file()) {
        return Some(Arc::new(OnnxEmbedder::load(&settings).expect("the model loads")));
    }
    skip(Need::Model, "model files absent (scripts/fetch-models.sh fetches them)");
    None
}

async fn end_to_end(set: &EvalSet, layout: Layout, settings: &Settings) -> E2eReport {
    let embedder = embedder().expect("checked by the caller");
    eval_e2e::run(set, layout, settings, embedder, |step| eprintln!("{step}")).await.expect("the end-to-end eval runs")
}

/// The set through the product with the embedded store, run once for the tests that need it.
async fn embedded(once: &'static OnceCell<E2eReport>, set: &EvalSet, layout: Layout) -> E2eReport {
    once.get_or_init(|| async { end_to_end(set, layout, &Settings::default()).await }).await.clone()
}

static CONCADIA: OnceCell<E2eReport> = OnceCell::const_new();
static FLICKR8K: OnceCell<E2eReport> = OnceCell::const_new();

async fn both(once: &'static OnceCell<E2eReport>, set: EvalSet, layout: Layout) -> (EvalReport, E2eReport) {
    let embedder = embedder().expect("checked by the caller");
    let offline = tokio::task::block_in_place(|| eval::run(&set, embedder.as_ref(), &[Fusion::default()]))
        .expect("the offline eval runs");
    let e2e = embedded(once, &set, layout).await;
    eprintln!("{} offline {:?}\nend to end {:?}", offline.set, offline.hybrid[0].1, e2e);
    (offline, e2e)
}

/// The same queries through the PostgreSQL store: the same top 10 for at least 95% of them and
/// nDCG@10 within 0.005 of the embedded store's.
async fn postgres_answers_as_embedded(once: &'static OnceCell<E2eReport>, set: EvalSet, layout: Layout) {
    let Some(url) = fresh_database().await else { return };
    let reference = embedded(once, &set, layout).await;
    let mut settings = Settings::default();
    settings.store.kind = StoreKind::Postgres;
    settings.store.database_url = Some(Secret::new(url));
    let pg = end_to_end(&set, layout, &settings).await;
    eprintln!("{} embedded {:?}\npostgres {:?}", set.name, reference.metrics, pg.metrics);
    assert_eq!(pg.images_indexed, reference.images_indexed);
    assert_eq!(pg.rankings.0.len(), set.queries.len());
    let same = reference.rankings.0.iter().zip(&pg.rankings.0).filter(|(a, b)| a == b).count();
    eprintln!("{same} of {} queries have the same top 10 through both stores", set.queries.len());
    let differing: Vec<_> = set
        .queries
        .iter()
        .zip(reference.rankings.0.iter().zip(&pg.rankings.0))
        .filter(|(_, (a, b))| a != b)
        .take(3)
        .collect();
    assert!(
        same * 100 >= set.queries.len() * 95,
        "{same} of {} queries have the same top 10; for example {differing:?}",
        set.queries.len()
    );
    let (a, b) = (reference.metrics.ndcg, pg.metrics.ndcg);
    assert!((a - b).abs() <= 0.005, "nDCG@10 embedded {a:.4}, postgres {b:.4}");
}

/// The set's first `docs` documents and the queries whose relevant image is among them.
fn first(set: EvalSet, docs: usize) -> EvalSet {
    EvalSet {
        name: set.name,
        docs: set.docs[..docs.min(set.docs.len())].to_vec(),
        queries: set.queries.into_iter().filter(|(_, d)| *d < docs).collect(),
    }
}

fn common_checks(e2e: &E2eReport) {
    // A constraint added by a follow-up keeps the picture in the top 10 at least as often as the
    // same constraint typed at once with the description (#19), and no follow-up that only adds
    // a constraint is taken for a new request.
    let r = &e2e.refinement;
    assert_eq!(r.exchanges, e2e.pictures, "{r:?}");
    assert_eq!(r.read_as_new, 0, "{r:?}");
    assert!(r.follow_up.recall >= r.combined.recall, "follow-up {:?} against at once {:?}", r.follow_up, r.combined);
    assert_eq!(e2e.images_indexed as usize, e2e.pictures, "every picture of the site is indexed: {e2e:?}");
    assert_eq!(e2e.empty_answers, 0, "no caption is answered with nothing: {e2e:?}");
    assert!(
        e2e.with_filter_chip * 100 <= e2e.queries,
        "at most 1% of descriptive captions get a filter chip: {:?}",
        e2e.chip_examples
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concadia_end_to_end_keeps_up_with_the_offline_hybrid() {
    let Some(path) = shared_or_skip("captions/concadia_dev.json") else { return };
    if embedder().is_none() {
        return;
    }
    let (offline, e2e) = both(&CONCADIA, eval::concadia(&path).unwrap(), Layout::Article).await;
    common_checks(&e2e);
    let (hybrid, end) = (offline.hybrid[0].1.ndcg, e2e.metrics.ndcg);
    // The target: within 0.01 of the offline hybrid. Measured 2026-12-06: end to end
    // 0.9432 against 0.9507 (0.9382 while the surrounding words were cut at 300 characters, so
    // that a paragraph naming the picture near its end lost the name: docs/benchmarks.md).
    assert!(end >= hybrid - 0.01, "end to end nDCG@10 {end:.4} against the offline hybrid {hybrid:.4}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flickr8k_end_to_end_keeps_up_with_the_offline_ranking() {
    let Some(path) = shared_or_skip("captions/flickr8k_train_dev.tsv") else { return };
    if embedder().is_none() {
        return;
    }
    // The first 250 of the 1,000 dev images and their 1,000 queries keep the test to minutes in
    // a debug build; `image-chat eval --e2e` runs the whole set (docs/benchmarks.md).
    let (offline, e2e) = both(&FLICKR8K, first(eval::flickr8k(&path).unwrap(), 250), Layout::Gallery).await;
    common_checks(&e2e);
    // On the whole set the end-to-end figure is within 0.005 of the offline vector leg (the
    // issue's target, met: docs/benchmarks.md). On this quarter the vector leg alone happens to
    // lead the offline hybrid by 0.012 (0.7955 against 0.7831), so what the test holds the
    // product's path to is the ranking it runs, the offline hybrid: it loses at most 0.005 on the
    // way through crawl, extraction and parser (0.7802 measured 2026-12-03).
    let (hybrid, end) = (offline.hybrid[0].1.ndcg, e2e.metrics.ndcg);
    assert!(end >= hybrid - 0.005, "end to end nDCG@10 {end:.4} against the offline hybrid {hybrid:.4}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concadia_through_postgres_answers_as_through_the_embedded_store() {
    let Some(path) = shared_or_skip("captions/concadia_dev.json") else { return };
    if embedder().is_none() {
        return;
    }
    postgres_answers_as_embedded(&CONCADIA, eval::concadia(&path).unwrap(), Layout::Article).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flickr8k_through_postgres_answers_as_through_the_embedded_store() {
    let Some(path) = shared_or_skip("captions/flickr8k_train_dev.tsv") else { return };
    if embedder().is_none() {
        return;
    }
    postgres_answers_as_embedded(&FLICKR8K, first(eval::flickr8k(&path).unwrap(), 250), Layout::Gallery).await;
}
