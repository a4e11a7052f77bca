//! The vector leg through an HNSW graph: same answers as the exact scan (within recall), filters
//! inside the walk, changes after the build, saved graphs, and files from before `seq`.

use std::path::Path;

use url::Url;

use super::*;
use crate::model::vector::normalize;
use crate::model::{ImageContext, ImageSource, ImageVariant};

const DIM: usize = 24;

/// Deterministic clustered vectors, as real embeddings are (xorshift).
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 20_001) as f32 / 10_000.0 - 1.0
    }
    fn around(&mut self, center: &[f32], spread: f32) -> Vec<f32> {
        let mut v: Vec<f32> = center.iter().map(|c| c + self.next() * spread).collect();
        normalize(&mut v);
        v
    }
    fn centers(&mut self, n: usize) -> Vec<Vec<f32>> {
        (0..n).map(|_| self.around(&[0.0; DIM], 1.0)).collect()
    }
}

fn record(i: usize) -> ImageRecord {
    let ext = if i.is_multiple_of(2) { "jpg" } else { "png" };
    let url = Url::parse(&format!("http://site.test/img/{i}.{ext}")).unwrap();
    ImageRecord {
        found_by: Default::default(),
        facts: None,
        page_url: Url::parse(&format!("http://site.test/page/{}", i / 10)).unwrap(),
        source: ImageSource::Img,
        variants: vec![ImageVariant {
            url: url.clone(),
            width: Some(100 + i as u32),
            height: Some(100),
            density: None,
            media: None,
            mime: None,
        }],
        url,
        context: ImageContext { alt: format!("picture {i}"), ..ImageContext::default() },
    }
}

fn options(min_vectors: usize) -> AnnOptions {
    AnnOptions { min_vectors, expansion: 64, background: false, dir: None }
}

fn fill(index: &SqliteIndex, range: std::ops::Range<usize>, g: &mut Gen, centers: &[Vec<f32>]) {
    let items: Vec<_> = range.map(|i| (record(i), Some(g.around(&centers[i % centers.len()], 0.3)))).collect();
    index.upsert(&nsp("big"), &items).unwrap();
}

fn ids(index: &SqliteIndex, q: &[f32], filters: &Filters, limit: usize) -> Vec<String> {
    let ns = [nsp("big")];
    let req = SearchRequest { namespaces: &ns, filters, limit };
    index.search_vector(q, &req).unwrap().into_iter().map(|h| h.image.record.url.path().to_string()).collect()
}

fn open(path: &Path, min_vectors: usize) -> SqliteIndex {
    SqliteIndex::open(path).unwrap().with_ann(options(min_vectors))
}

#[test]
fn the_graph_answers_like_the_exact_scan() {
    let dir = tempfile::tempdir().unwrap();
    let graph = open(&dir.path().join("g/index.sqlite"), 1_000);
    let exact = open(&dir.path().join("e/index.sqlite"), usize::MAX);
    let mut g = Gen(7);
    let centers = g.centers(40);
    for index in [&graph, &exact] {
        let mut g = Gen(11);
        fill(index, 0..3_000, &mut g, &centers);
    }
    let none = Filters::default();
    ids(&graph, &centers[0], &none, 10);
    assert!(graph.graph_ready("big"), "3,000 vectors passed the threshold of 1,000");
    assert!(!exact.graph_ready("big"));

    let (mut same, mut total) = (0, 0);
    for center in &centers {
        let query = g.around(center, 0.3);
        let want = ids(&exact, &query, &none, 10);
        let got = ids(&graph, &query, &none, 10);
        assert_eq!(got.len(), 10);
        same += got.iter().filter(|u| want.contains(u)).count();
        total += want.len();
    }
    let recall = same as f64 / total as f64;
    assert!(recall >= 0.95, "recall@10 against exact: {recall}");

    // Filters act inside the walk: every result passes, and there are still ten.
    let png = Filters { formats: vec![ImageFormat::Png], ..Filters::default() };
    let got = ids(&graph, &centers[3], &png, 10);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|u| u.ends_with(".png")), "{got:?}");
    // A filter only three images pass: the graph cannot find them all, the exact scan does.
    let wide = Filters { min_width: Some(100 + 2_997), ..Filters::default() };
    let mut got = ids(&graph, &centers[5], &wide, 10);
    got.sort();
    assert_eq!(got, vec!["/img/2997.png", "/img/2998.jpg", "/img/2999.png"]);
}

#[test]
fn changes_after_the_build_reach_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(&dir.path().join("index.sqlite"), 500);
    let mut g = Gen(3);
    let centers = g.centers(20);
    fill(&index, 0..1_000, &mut g, &centers);
    ids(&index, &centers[0], &Filters::default(), 10);
    assert!(index.graph_ready("big"));

    // A new image far from everything, and an old one moved there too.
    let mut lonely = vec![0.0; DIM];
    lonely[0] = 1.0;
    let mut moved = lonely.clone();
    moved[1] = 0.05;
    normalize(&mut moved);
    index.upsert(&nsp("big"), &[(record(5_000), Some(lonely.clone())), (record(17), Some(moved))]).unwrap();
    assert_eq!(ids(&index, &lonely, &Filters::default(), 2), vec!["/img/5000.jpg", "/img/17.png"]);
    assert!(index.graph_ready("big"), "updated in place, not rebuilt");
}

#[test]
fn graphs_are_saved_restored_rebuilt_when_damaged_and_deleted_with_the_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sqlite");
    let saved_graphs = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.path().join("ann"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let mut g = Gen(5);
    let centers = g.centers(20);
    let probe = g.around(&centers[2], 0.3);
    let first = {
        let index = open(&path, 500);
        fill(&index, 0..1_500, &mut g, &centers);
        let first = ids(&index, &probe, &Filters::default(), 10);
        let saved = saved_graphs();
        assert_eq!(saved.len(), 1, "the graph was saved beside the index: {saved:?}");
        assert!(saved[0].to_string_lossy().ends_with("/big-1500.usearch"), "named for the seq it covers: {saved:?}");
        // Rows written after the save are applied on top of the saved graph after a restart.
        fill(&index, 1_500..1_600, &mut g, &centers);
        first
    };
    let index = open(&path, 500);
    let again = ids(&index, &probe, &Filters::default(), 10);
    assert!(index.graph_ready("big"));
    let overlap = again.iter().filter(|u| first.contains(u)).count();
    assert!(overlap >= 8, "restored graph answers as before: {first:?} vs {again:?}");
    let newest = g.around(&centers[0], 0.0);
    index.upsert(&nsp("big"), &[(record(9_999), Some(newest.clone()))]).unwrap();
    assert_eq!(ids(&index, &newest, &Filters::default(), 1), vec!["/img/9999.png"]);
    drop(index);

    let saved = saved_graphs();
    assert_eq!(saved.len(), 1, "{saved:?}");
    std::fs::write(&saved[0], b"damaged").unwrap();
    // A save a dead process left half-written goes once it is old; a fresh one (a save in
    // progress elsewhere) and another namespace's are left alone.
    let unfinished = |name: &str, age_secs: u64| {
        let path = dir.path().join("ann").join(name);
        std::fs::write(&path, b"partial").unwrap();
        let at = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(at).unwrap();
        path
    };
    let dead = unfinished("big-1400.4242.tmp", 7_200);
    let in_progress = unfinished("big-1700.4243.tmp", 5);
    let other = unfinished("bigger-1400.4242.tmp", 7_200);
    let index = open(&path, 500);
    assert_eq!(ids(&index, &newest, &Filters::default(), 1), vec!["/img/9999.png"], "rebuilt from the rows");
    assert!(index.graph_ready("big"));
    assert!(!dead.exists(), "an old unfinished save is removed");
    assert!(in_progress.exists() && other.exists(), "{:?}", saved_graphs());

    assert_eq!(index.delete_namespace(&nsp("big")).unwrap(), 1_601);
    assert_eq!(saved_graphs(), vec![other], "the saved graph and unfinished saves go with the namespace");
    assert!(ids(&index, &newest, &Filters::default(), 1).is_empty());
}

#[test]
fn a_file_from_before_seq_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&schema().replace("    seq INTEGER NOT NULL DEFAULT 0,\n", "")).unwrap();
        conn.execute(
            "INSERT INTO images (namespace, url, page_url, alt, caption, context, page, record, vector)
             VALUES ('big', 'http://site.test/img/1.png', 'http://site.test/', 'x', '', '', '', ?1, ?2)",
            rusqlite::params![
                serde_json::to_string(&record(1)).unwrap(),
                [1.0f32, 0.0, 0.0].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()
            ],
        )
        .unwrap();
        conn.execute("INSERT INTO meta (key, value) VALUES ('dim', '3')", []).unwrap();
        conn.execute("INSERT INTO generations (namespace, gen) VALUES ('big', 1), ('*', 1)", []).unwrap();
    }
    let index = open(&path, 1_000);
    assert_eq!(ids(&index, &[1.0, 0.0, 0.0], &Filters::default(), 5), vec!["/img/1.png"]);
    index.upsert(&nsp("big"), &[(record(2), Some(vec![0.0, 1.0, 0.0]))]).unwrap();
    assert_eq!(ids(&index, &[0.0, 1.0, 0.0], &Filters::default(), 1), vec!["/img/2.jpg"]);
}

#[test]
fn a_background_build_takes_in_what_changed_while_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let options = AnnOptions { background: true, ..options(1_000) };
    let index = SqliteIndex::open(&dir.path().join("index.sqlite")).unwrap().with_ann(options);
    let mut g = Gen(9);
    let centers = g.centers(30);
    fill(&index, 0..20_000, &mut g, &centers);
    // This search starts the build and is answered by the exact scan meanwhile.
    assert_eq!(ids(&index, &centers[0], &Filters::default(), 10).len(), 10);
    assert!(!index.graph_ready("big"), "20,000 insertions take longer than this");

    // While it runs: an old image moves far away, and a new one arrives there too.
    let mut far = vec![0.0; DIM];
    far[DIM - 1] = 1.0;
    let mut near_far = far.clone();
    near_far[0] = 0.05;
    normalize(&mut near_far);
    index.upsert(&nsp("big"), &[(record(3), Some(far.clone())), (record(30_000), Some(near_far))]).unwrap();
    assert_eq!(ids(&index, &far, &Filters::default(), 2), vec!["/img/3.png", "/img/30000.jpg"]);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !index.graph_ready("big") {
        assert!(std::time::Instant::now() < deadline, "the background build finished");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Through the graph now: both changes are in it, the old place of image 3 is not.
    assert_eq!(ids(&index, &far, &Filters::default(), 2), vec!["/img/3.png", "/img/30000.jpg"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(dir.path().join("ann")).map_or(0, |d| d.count()) == 0 {
        assert!(std::time::Instant::now() < deadline, "saved after the build");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A namespace the test names.
fn nsp(name: &str) -> Namespace {
    Namespace::parse(name).unwrap()
}
