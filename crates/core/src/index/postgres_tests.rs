//! The PostgreSQL store against the embedded one, leg for leg, on the same records; and what
//! only a shared database has to get right (concurrent migration, settings that stay in their
//! transaction, an unreachable server). Runs on the PostgreSQL `scripts/test.sh` starts.

use image_chat_fixtures::postgres_db::fresh_database;
use image_chat_fixtures::rng::Rng;
use url::Url;

use super::*;
use crate::config::{Secret, StoreKind};
use crate::index::{Filters, SqliteIndex};
use crate::model::vector::normalize;
use crate::model::{ImageContext, ImageFacts, ImageFormat, ImageSource, ImageVariant, Orientation, Tone};

const DIM: usize = 8;
const WORDS: &[&str] = &[
    "apple",
    "watch",
    "watches",
    "band",
    "running",
    "runner",
    "beach",
    "dawn",
    "people",
    "person",
    "camera",
    "café",
    "red",
    "car",
    "cars",
    "mountain",
    "lake",
    "it's",
    "dog's",
    "o'brien",
    "back\\slash",
    "a|b",
    "x&y",
    "!not",
    "ünïcode",
    "sunset",
    "photo",
    "the",
    "a",
    "of",
    "portrait",
    "logo",
    "icon",
    "naïve",
    "coffee",
    "table",
    "nul\0byte",
    "tab\tbed",
];
const FORMATS: &[ImageFormat] = &[ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp, ImageFormat::Gif];

fn words(rng: &mut Rng, most: u64) -> String {
    let n = rng.below(most + 1);
    (0..n).map(|_| *rng.pick(WORDS)).collect::<Vec<_>>().join(" ")
}

fn record(rng: &mut Rng, i: usize) -> ImageRecord {
    let format = *rng.pick(FORMATS);
    let url = Url::parse(&format!("http://site.test/img/{i}.{}", format.as_str())).unwrap();
    let (w, h) = (100 + rng.below(1900) as u32, 100 + rng.below(1900) as u32);
    let sized = rng.chance(85);
    let facts = rng.chance(70).then(|| ImageFacts {
        format,
        width: Some(w),
        height: Some(h),
        bytes: 1000,
        transparent: Some(rng.chance(30)),
        luma: Some(rng.below(256) as u8),
        dhash: None,
    });
    let section = *rng.pick(&["blog", "shop", "docs"]);
    ImageRecord {
        found_by: Default::default(),
        facts,
        page_url: Url::parse(&format!("http://site.test/{section}/page-{}", i % 17)).unwrap(),
        source: ImageSource::Img,
        variants: vec![ImageVariant {
            url: url.clone(),
            width: sized.then_some(w),
            height: sized.then_some(h),
            density: None,
            media: None,
            mime: None,
        }],
        url,
        context: ImageContext {
            alt: words(rng, 6),
            title: words(rng, 2),
            figcaption: words(rng, 8),
            nearby_text: words(rng, 30),
            heading: words(rng, 4),
            page_title: words(rng, 4),
            ..ImageContext::default()
        },
    }
}

fn vector(rng: &mut Rng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM).map(|_| rng.below(2001) as f32 / 1000.0 - 1.0).collect();
    normalize(&mut v);
    v
}

fn ns(name: &str) -> Namespace {
    Namespace::parse(name).unwrap()
}

async fn store(url: &str) -> PostgresIndex {
    let settings = StoreSettings {
        kind: StoreKind::Postgres,
        database_url: Some(Secret::new(url)),
        pool_size: 2,
        ..StoreSettings::default()
    };
    PostgresIndex::connect(&settings).unwrap()
}

/// The same batches, in the same order, into each index.
async fn fill(indexes: &[&dyn ImageIndex], namespace: &Namespace, seed: u64, count: usize) {
    let mut rng = Rng::new(seed);
    let items: Vec<(ImageRecord, Option<Vec<f32>>)> =
        (0..count).map(|i| (record(&mut rng, i), rng.chance(90).then(|| vector(&mut rng)))).collect();
    for batch in items.chunks(37) {
        for index in indexes {
            assert_eq!(index.upsert(namespace, batch).await.unwrap(), batch.len());
        }
    }
    // Rewrites of some images with new words (and one URL twice in a batch, the last winning):
    // statistics must follow replacements, not count them as new documents.
    let mut rewrites: Vec<(ImageRecord, Option<Vec<f32>>)> =
        items.iter().step_by(5).map(|(r, v)| (record(&mut rng, r.url.path().len()), v.clone())).collect();
    for ((r, _), (orig, _)) in rewrites.iter_mut().zip(items.iter().step_by(5)) {
        r.url = orig.url.clone();
        r.variants[0].url = orig.url.clone();
    }
    let again = rewrites[0].clone();
    rewrites.insert(0, again);
    rewrites[0].0.context.alt = "overwritten in the same batch".into();
    for index in indexes {
        index.upsert(namespace, &rewrites).await.unwrap();
    }
}

fn filter_cases() -> Vec<Filters> {
    vec![
        Filters::default(),
        Filters { formats: vec![ImageFormat::Png, ImageFormat::Webp], ..Filters::default() },
        Filters { min_width: Some(1200), min_height: Some(400), ..Filters::default() },
        Filters { orientation: Some(Orientation::Portrait), ..Filters::default() },
        Filters { orientation: Some(Orientation::Square), ..Filters::default() },
        Filters { tone: Some(Tone::Dark), transparent: Some(false), ..Filters::default() },
        Filters { tone: Some(Tone::Light), ..Filters::default() },
        Filters { page_url_prefix: Some("http://site.test/shop/".into()), ..Filters::default() },
        Filters { exclude_terms: vec!["people".into(), "red car".into()], ..Filters::default() },
        Filters { require_terms: vec!["beach".into()], ..Filters::default() },
        Filters { require_terms: vec!["apple watch".into()], formats: vec![ImageFormat::Jpeg], ..Filters::default() },
    ]
}

const QUERIES: &[&str] = &[
    "apple watch",
    "running dogs on the beach",
    "Café NAÏVE",
    "it's o'brien",
    "red cars red",
    "the",
    "back\\slash a|b x&y !not",
    "mountain lake sunset photo portrait",
    "'; DROP TABLE images; --",
    "zzzz nothing matches",
];

fn urls(hits: &[Hit]) -> Vec<String> {
    hits.iter().map(|h| h.image.record.url.to_string()).collect()
}

/// Same results in the same order, with scores equal to float precision.
fn assert_same_text_hits(what: &str, pg: &[Hit], sqlite: &[Hit]) {
    assert_eq!(urls(pg), urls(sqlite), "{what}");
    for (a, b) in pg.iter().zip(sqlite) {
        assert!((a.score - b.score).abs() <= 1e-4 * b.score.abs().max(1.0), "{what}: {} vs {}", a.score, b.score);
        assert_eq!(a.image, b.image, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_legs_and_listing_match_the_embedded_store() {
    let Some(url) = fresh_database().await else { return };
    let pg = store(&url).await;
    let everything = SqliteIndex::open_in_memory().unwrap();
    let only_a = SqliteIndex::open_in_memory().unwrap();
    fill(&[&pg, &everything, &only_a], &ns("a"), 1, 400).await;
    fill(&[&pg, &everything], &ns("b"), 2, 150).await;
    assert_eq!(ImageIndex::stats(&pg, None).await.unwrap(), ImageIndex::stats(&everything, None).await.unwrap());
    assert_eq!(
        ImageIndex::stats(&pg, Some(&ns("b"))).await.unwrap(),
        ImageIndex::stats(&everything, Some(&ns("b"))).await.unwrap()
    );

    let mut rng = Rng::new(99);
    let (mut vector_queries, mut vector_same) = (0, 0);
    for filters in filter_cases() {
        // All namespaces: the embedded store's statistics are its whole table, as here.
        // One namespace: PostgreSQL counts that namespace alone, as an index holding only it does.
        for (scope, reference) in [(vec![], &everything), (vec![ns("a")], &only_a)] {
            let request = SearchRequest { namespaces: &scope, filters: &filters, limit: 10 };
            for q in QUERIES {
                let what = format!("{q:?} in {scope:?} with {filters:?}");
                let a = ImageIndex::search_text(&pg, q, &request).await.unwrap();
                let b = ImageIndex::search_text(reference, q, &request).await.unwrap();
                assert_same_text_hits(&what, &a, &b);
            }
            for _ in 0..8 {
                let v = vector(&mut rng);
                let a = ImageIndex::search_vector(&pg, &v, &request).await.unwrap();
                let b = ImageIndex::search_vector(reference, &v, &request).await.unwrap();
                // The filter is applied inside the search: a filter never shortens the top-k.
                assert_eq!(a.len(), b.len(), "vector leg with {filters:?}");
                for hit in &a {
                    let cosine: f32 = hit.vector.as_ref().unwrap().iter().zip(&v).map(|(x, y)| x * y).sum();
                    assert!(
                        (hit.score - cosine).abs() < 5e-3,
                        "a hit's score is its vector's: {} vs {cosine}",
                        hit.score
                    );
                }
                vector_queries += 1;
                vector_same += usize::from(urls(&a) == urls(&b));
                if urls(&a) != urls(&b) {
                    eprintln!(
                        "vector top-10 differs with {filters:?}:\n  {:?}\n  {:?}",
                        a.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>(),
                        b.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>()
                    );
                }
            }
            let a = ImageIndex::list(&pg, &request).await.unwrap();
            let b = ImageIndex::list(reference, &request).await.unwrap();
            assert_eq!(urls(&a), urls(&b), "listing with {filters:?}");
        }
    }
    // HNSW over halfvec is approximate: nearly every top-10 is the exact one, in order.
    assert!(vector_same * 100 >= vector_queries * 95, "{vector_same} of {vector_queries} vector top-10s exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_generations_and_deletion_follow_every_write() {
    let Some(url) = fresh_database().await else { return };
    let pg = store(&url).await;
    let g0 = ImageIndex::generation(&pg, &[]).await.unwrap();
    fill(&[&pg], &ns("a"), 3, 120).await;
    fill(&[&pg], &ns("b"), 4, 30).await;
    let ga = ImageIndex::generation(&pg, &[ns("a")]).await.unwrap();
    assert!(ImageIndex::generation(&pg, &[]).await.unwrap() > g0);

    // The statistics kept by deltas equal a recount.
    let (client, _) = pg.ready().await.unwrap();
    let check = |rows: Vec<tokio_postgres::Row>| {
        for r in rows {
            let (ns, kept_docs, kept_len, docs, len): (String, i64, i64, i64, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            assert_eq!((kept_docs, kept_len), (docs, len), "statistics of {ns}");
        }
    };
    let recount = "SELECT s.namespace, s.docs, s.total_len, count(i.id), coalesce(sum(i.doc_len), 0)::bigint
                   FROM namespace_stats s LEFT JOIN images i ON i.namespace = s.namespace GROUP BY 1, 2, 3";
    check(client.query(recount, &[]).await.unwrap());
    drop(client);

    assert_eq!(ImageIndex::delete_namespace(&pg, &ns("b")).await.unwrap(), 30);
    assert_eq!(ImageIndex::stats(&pg, Some(&ns("b"))).await.unwrap().images, 0);
    assert_eq!(ImageIndex::generation(&pg, &[ns("a")]).await.unwrap(), ga, "deleting b leaves a's results cached");
    let f = Filters::default();
    let request = SearchRequest { namespaces: &[], filters: &f, limit: 500 };
    assert!(ImageIndex::list(&pg, &request).await.unwrap().iter().all(|h| h.image.namespace == ns("a")));
    let (client, _) = pg.ready().await.unwrap();
    check(client.query(recount, &[]).await.unwrap());
    let left: i64 =
        client.query_one("SELECT count(*) FROM namespace_stats WHERE namespace = 'b'", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_vectors_are_refused_and_nothing_is_half_written() {
    let Some(url) = fresh_database().await else { return };
    let pg = store(&url).await;
    let mut rng = Rng::new(5);
    let good = vec![(record(&mut rng, 0), Some(vector(&mut rng)))];
    ImageIndex::upsert(&pg, &ns("a"), &good).await.unwrap();
    let wrong = vec![(record(&mut rng, 1), Some(vec![1.0; DIM + 1]))];
    let err = ImageIndex::upsert(&pg, &ns("a"), &wrong).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    let mut nan = vector(&mut rng);
    nan[0] = f32::NAN;
    let err = ImageIndex::upsert(&pg, &ns("a"), &[(record(&mut rng, 2), Some(nan))]).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    let f = Filters::default();
    let request = SearchRequest { namespaces: &[], filters: &f, limit: 5 };
    let err = ImageIndex::search_vector(&pg, &[1.0; 3], &request).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert_eq!(ImageIndex::stats(&pg, None).await.unwrap().images, 1);
    // A fresh process learns the dimension from the database.
    let again = store(&url).await;
    let err = ImageIndex::upsert(&again, &ns("a"), &wrong).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrate_once_and_search_settings_stay_in_their_transaction() {
    let Some(url) = fresh_database().await else { return };
    let replicas: Vec<PostgresIndex> = futures_util::future::join_all((0..4).map(|_| store(&url))).await;
    let counts = futures_util::future::join_all(replicas.iter().map(|r| ImageIndex::stats(r, None))).await;
    assert!(counts.iter().all(|c| c.as_ref().is_ok_and(|s| s.images == 0)), "{counts:?}");
    let (client, _) = replicas[0].ready().await.unwrap();
    let applied: i64 = client.query_one("SELECT count(*) FROM image_chat_migrations", &[]).await.unwrap().get(0);
    assert_eq!(applied, schema::MIGRATIONS.len() as i64);
    drop(client);

    let pg = {
        let settings = StoreSettings {
            kind: StoreKind::Postgres,
            database_url: Some(Secret::new(&url)),
            pool_size: 1,
            ann_expansion: 300,
            ..StoreSettings::default()
        };
        PostgresIndex::connect(&settings).unwrap()
    };
    fill(&[&pg], &ns("a"), 6, 50).await;
    let mut rng = Rng::new(7);
    let f = Filters::default();
    let request = SearchRequest { namespaces: &[], filters: &f, limit: 5 };
    assert_eq!(ImageIndex::search_vector(&pg, &vector(&mut rng), &request).await.unwrap().len(), 5);
    // The pool has one connection: the one the search used.
    let (client, _) = pg.ready().await.unwrap();
    let ef: String = client.query_one("SHOW hnsw.ef_search", &[]).await.unwrap().get(0);
    let scan: String = client.query_one("SHOW hnsw.iterative_scan", &[]).await.unwrap().get(0);
    assert_eq!((ef.as_str(), scan.as_str()), ("40", "off"), "SET LOCAL ended with its transaction");
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_not_a_panic() {
    let (_held, port) = image_chat_fixtures::ports::refused_port();
    let pg = store(&format!("postgres://u:secret@127.0.0.1:{port}/x")).await;
    let f = Filters::default();
    let request = SearchRequest { namespaces: &[], filters: &f, limit: 5 };
    let err = ImageIndex::search_text(&pg, "watch", &request).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    assert!(!err.to_string().contains("secret"), "the password stays hidden: {err}");
    assert_eq!(ImageIndex::kind(&pg), "postgres");
    let bad = StoreSettings {
        kind: StoreKind::Postgres,
        database_url: Some(Secret::new("mysql://nope")),
        ..StoreSettings::default()
    };
    assert!(matches!(PostgresIndex::connect(&bad), Err(Error::Settings { .. })));
}
