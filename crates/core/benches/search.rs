//! Vector-leg search latency (p50/p99) over synthetic clustered, normalized 384-d vectors:
//! exact search through the SQLite index (including loading the hits) at every size, and from
//! 100k records on also through the HNSW graph, with its recall@10 against exact, build time and
//! memory per record. Run: `cargo bench -p image-chat-core --bench search [-- 10000 100000 1000000]`
//!
//! With `IMAGE_CHAT_BENCH_DATABASE_URL` set (a PostgreSQL + pgvector 0.8 database, whose
//! `bench` namespace it replaces), the same records also go into the PostgreSQL store in the
//! same run, through the same `ImageIndex` seam the product uses: ingest rate, p50/p99 and
//! recall@10 against the exact search.

use std::time::Instant;

use image_chat_core::config::{Secret, StoreKind, StoreSettings};
use image_chat_core::extract::{ImageContext, ImageRecord, ImageSource, ImageVariant};
use image_chat_core::index::vectors::normalize;
use image_chat_core::index::{AnnOptions, Filters, ImageIndex, Namespace, PostgresIndex, SearchRequest, SqliteIndex};
use url::Url;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DIM: usize = 384;
const QUERIES: usize = 200;

/// A small deterministic generator (SplitMix64) for the synthetic vectors.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) as f64 / u64::MAX as f64 * 2.0 - 1.0) as f32
    }
    fn vector(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM).map(|_| self.next()).collect();
        normalize(&mut v);
        v
    }
    /// A point near `center` (cosine about 0.65 to it).
    fn around(&mut self, center: &[f32]) -> Vec<f32> {
        let mut v: Vec<f32> = center.iter().map(|c| c + self.next() * 0.1).collect();
        normalize(&mut v);
        v
    }
}

fn record(i: usize) -> ImageRecord {
    let url = Url::parse(&format!("http://bench.test/img/{i}.jpg")).unwrap();
    ImageRecord {
        found_by: Default::default(),
        facts: None,
        page_url: Url::parse(&format!("http://bench.test/page/{}", i / 10)).unwrap(),
        source: ImageSource::Img,
        variants: vec![ImageVariant {
            url: url.clone(),
            width: Some(800 + (i % 5) as u32 * 400),
            height: Some(600),
            density: None,
            media: None,
            mime: None,
        }],
        url,
        context: ImageContext { alt: format!("synthetic image number {i}"), ..ImageContext::default() },
    }
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(v: &[f64], q: f64) -> f64 {
    v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
}

/// p50 and p99 of `QUERIES` searches, in ms, and the URLs each returned.
fn time_queries(
    index: &SqliteIndex,
    queries: &[Vec<f32>],
    filters: &Filters,
    limit: usize,
) -> (f64, f64, Vec<Vec<String>>) {
    let ns = [Namespace::parse("bench").unwrap()];
    let req = SearchRequest { namespaces: &ns, filters, limit };
    let mut found = Vec::new();
    let mut times: Vec<f64> = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            let hits = index.search_vector(q, &req).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            found.push(hits.iter().map(|h| h.image.record.url.to_string()).collect());
            ms
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), percentile(&times, 0.99), found)
}

/// The PostgreSQL store's side of the run: the same records and queries, timed through the
/// async seam; recall is counted by URL (the two stores number rows differently).
fn postgres_side(
    url: &str,
    n: usize,
    items: &mut dyn Iterator<Item = Vec<(ImageRecord, Option<Vec<f32>>)>>,
    queries: &[Vec<f32>],
    truth: &[Vec<String>],
) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let settings =
        StoreSettings { kind: StoreKind::Postgres, database_url: Some(Secret::new(url)), ..StoreSettings::default() };
    let pg = PostgresIndex::connect(&settings).unwrap();
    let ns = Namespace::parse("bench").unwrap();
    runtime.block_on(ImageIndex::delete_namespace(&pg, &ns)).unwrap();
    let started = Instant::now();
    for batch in items {
        runtime.block_on(ImageIndex::upsert(&pg, &ns, &batch)).unwrap();
    }
    let insert_secs = started.elapsed().as_secs_f64();
    let search = |filters: &Filters, limit: usize| {
        let spaces = [ns.clone()];
        let req = SearchRequest { namespaces: &spaces, filters, limit };
        let mut found: Vec<Vec<String>> = Vec::new();
        let mut times: Vec<f64> = queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                let hits = runtime.block_on(ImageIndex::search_vector(&pg, q, &req)).unwrap();
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                found.push(hits.iter().map(|h| h.image.record.url.to_string()).collect());
                ms
            })
            .collect();
        times.sort_by(f64::total_cmp);
        (percentile(&times, 0.5), percentile(&times, 0.99), found)
    };
    search(&Filters::default(), 10); // warms the index pages
    let (p50, p99, found) = search(&Filters::default(), 10);
    let recall = found.iter().zip(truth).map(|(f, t)| f.iter().filter(|u| t.contains(u)).count()).sum::<usize>() as f64
        / truth.iter().map(Vec::len).sum::<usize>() as f64;
    let (_, fp99, _) = search(&Filters { min_width: Some(2000), ..Filters::default() }, 10);
    println!(
        "{n} records, PostgreSQL + pgvector (halfvec HNSW, M 16, ef_search 128, iterative scans): ingest {insert_secs:.1} s ({:.0} images/s); p50 {p50:.2} ms, p99 {p99:.2} ms, recall@10 {recall:.3} against exact; p99 with a width filter {fp99:.2} ms",
        n as f64 / insert_secs
    );
}

fn main() {
    let database = std::env::var("IMAGE_CHAT_BENCH_DATABASE_URL").ok();
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 100_000] } else { sizes };
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let exact =
            SqliteIndex::open(&path).unwrap().with_ann(AnnOptions { min_vectors: usize::MAX, ..AnnOptions::default() });
        let mut rng = Rng(n as u64);
        // Clustered, as real embeddings are: HNSW finds nothing on structureless random data.
        let centers: Vec<Vec<f32>> = (0..(n / 200).max(50)).map(|_| rng.vector()).collect();
        let started = Instant::now();
        for chunk_start in (0..n).step_by(5_000) {
            let items: Vec<_> = (chunk_start..(chunk_start + 5_000).min(n))
                .map(|i| (record(i), Some(rng.around(&centers[i % centers.len()]))))
                .collect();
            exact.upsert(&Namespace::parse("bench").unwrap(), &items).unwrap();
        }
        let insert_secs = started.elapsed().as_secs_f64();
        let embedded_rate = n as f64 / insert_secs;
        let queries: Vec<Vec<f32>> = (0..QUERIES).map(|i| rng.around(&centers[(i * 7919) % centers.len()])).collect();
        let none = Filters::default();
        let width = Filters { min_width: Some(2000), ..Filters::default() };

        let before = resident_kib();
        time_queries(&exact, &queries[..1], &none, 10); // loads the namespace's vectors
        let vector_kib = resident_kib().saturating_sub(before);
        let (p50, p99, truth) = time_queries(&exact, &queries, &none, 10);
        let (_, fp99, _) = time_queries(&exact, &queries, &width, 10);
        if let Some(url) = &database {
            // The same records again (the generator replayed from its seed), then the same queries.
            let mut replay = Rng(n as u64);
            let centers: Vec<Vec<f32>> = (0..(n / 200).max(50)).map(|_| replay.vector()).collect();
            let mut batches = (0..n).step_by(5_000).map(|start| {
                (start..(start + 5_000).min(n))
                    .map(|i| (record(i), Some(replay.around(&centers[i % centers.len()]))))
                    .collect::<Vec<_>>()
            });
            postgres_side(url, n, &mut batches, &queries, &truth);
        }
        println!(
            "{n} records: insert {insert_secs:.1} s ({embedded_rate:.0} images/s); exact p50 {p50:.2} ms, p99 {p99:.2} ms; p99 with a width filter {fp99:.2} ms; vectors + filter data ~{} bytes/record",
            vector_kib * 1024 / n as u64
        );
        if n < 100_000 {
            continue;
        }
        drop(exact);
        let graph = SqliteIndex::open(&path).unwrap().with_ann(AnnOptions {
            min_vectors: n,
            expansion: 128,
            background: false,
            dir: Some(dir.path().join("ann")),
        });
        let before = resident_kib();
        let t = Instant::now();
        time_queries(&graph, &queries[..1], &none, 10); // loads the vectors and builds the graph
        let build_secs = t.elapsed().as_secs_f64();
        let graph_kib = resident_kib().saturating_sub(before);
        assert!(graph.graph_ready("bench"));
        let graph_bytes = graph.graph_bytes("bench").unwrap_or(0);
        let (p50, p99, found) = time_queries(&graph, &queries, &none, 10);
        let recall = found.iter().zip(&truth).map(|(f, t)| f.iter().filter(|id| t.contains(id)).count()).sum::<usize>()
            as f64
            / truth.iter().map(Vec::len).sum::<usize>() as f64;
        let (p50_100, p99_100, _) = time_queries(&graph, &queries, &none, 100);
        let (_, fp99, _) = time_queries(&graph, &queries, &width, 10);
        println!(
            "{n} records, HNSW (M 16, ef 128, f16): load + build {build_secs:.1} s; p50 {p50:.2} ms, p99 {p99:.2} ms, recall@10 {recall:.3} against exact; top 100 p50 {p50_100:.2} ms, p99 {p99_100:.2} ms; p99 with a width filter {fp99:.2} ms; the graph itself {} bytes/record (usearch's count), resident growth while loading and building ~{} bytes/record",
            graph_bytes / n,
            graph_kib * 1024 / n as u64
        );
    }
}
