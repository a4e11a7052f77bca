//! Vector-leg search latency (p50/p99) over synthetic normalized 384-d vectors at 10k and 100k
//! records, exact search through the SQLite index (including loading the hits), and memory per
//! record. Run: `cargo bench -p image-chat-core --bench search [-- 10000 100000]`

use std::time::Instant;

use image_chat_core::extract::{ImageContext, ImageRecord, ImageSource, ImageVariant};
use image_chat_core::index::vectors::normalize;
use image_chat_core::index::{Filters, ImageIndex, SearchRequest, SqliteIndex};
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
}

fn record(i: usize) -> ImageRecord {
    let url = Url::parse(&format!("http://bench.test/img/{i}.jpg")).unwrap();
    ImageRecord {
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

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10_000, 100_000] } else { sizes };
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let index = SqliteIndex::open(&dir.path().join("index.sqlite")).unwrap();
        let mut rng = Rng(n as u64);
        let started = Instant::now();
        for chunk_start in (0..n).step_by(5_000) {
            let items: Vec<_> =
                (chunk_start..(chunk_start + 5_000).min(n)).map(|i| (record(i), Some(rng.vector()))).collect();
            index.upsert("bench", &items).unwrap();
        }
        let load_secs = started.elapsed().as_secs_f64();
        let filters = Filters::default();
        let ns = ["bench".to_string()];
        let req = SearchRequest { namespaces: &ns, filters: &filters, limit: 10 };
        let before = resident_kib();
        index.search_vector(&rng.vector(), &req).unwrap(); // loads the namespace's vectors
        let vector_kib = resident_kib().saturating_sub(before);
        let mut times: Vec<f64> = (0..QUERIES)
            .map(|_| {
                let q = rng.vector();
                let t = Instant::now();
                let hits = index.search_vector(&q, &req).unwrap();
                assert_eq!(hits.len(), 10);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let filtered = Filters { min_width: Some(2000), ..Filters::default() };
        let freq = SearchRequest { namespaces: &ns, filters: &filtered, limit: 10 };
        let mut ftimes: Vec<f64> = (0..QUERIES)
            .map(|_| {
                let q = rng.vector();
                let t = Instant::now();
                index.search_vector(&q, &freq).unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        ftimes.sort_by(f64::total_cmp);
        let p = |v: &[f64], q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
        println!(
            "{n} records: insert {:.1} s; exact vector search p50 {:.2} ms, p99 {:.2} ms; with a width filter p50 {:.2} ms, p99 {:.2} ms; in-memory vectors + filter data ~{} bytes/record",
            load_secs,
            p(&times, 0.5),
            p(&times, 0.99),
            p(&ftimes, 0.5),
            p(&ftimes, 0.99),
            vector_kib * 1024 / n as u64
        );
    }
}
