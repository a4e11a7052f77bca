use url::Url;

use super::*;
use crate::model::vector::normalize;
use crate::model::{ImageContext, ImageSource, ImageVariant, Orientation};

fn record(url: &str, alt: &str, nearby: &str, size: Option<(u32, u32)>) -> ImageRecord {
    let url = Url::parse(url).unwrap();
    ImageRecord {
        found_by: Default::default(),
        facts: None,
        page_url: Url::parse("http://site.test/blog/post").unwrap(),
        source: ImageSource::Img,
        variants: vec![ImageVariant {
            url: url.clone(),
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            density: None,
            media: None,
            mime: None,
        }],
        url,
        context: ImageContext {
            alt: alt.into(),
            nearby_text: nearby.into(),
            page_title: "A blog post".into(),
            ..ImageContext::default()
        },
    }
}

fn vec3(x: f32, y: f32, z: f32) -> Vec<f32> {
    let mut v = vec![x, y, z];
    normalize(&mut v);
    v
}

fn all<'a>(filters: &'a Filters) -> SearchRequest<'a> {
    SearchRequest { namespaces: &[], filters, limit: 10 }
}

fn urls(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.image.record.url.path()).collect()
}

fn sample() -> SqliteIndex {
    let index = SqliteIndex::open_in_memory().unwrap();
    index
        .upsert(
            &nsp("a"),
            &[
                (
                    record("http://site.test/watch.png", "Apple Watch on a wrist", "the new watch", Some((800, 800))),
                    Some(vec3(1.0, 0.0, 0.0)),
                ),
                (
                    record(
                        "http://site.test/phone-1600x1200.jpg",
                        "iPhone camera",
                        "people testing the camera",
                        Some((1600, 1200)),
                    ),
                    Some(vec3(0.0, 1.0, 0.0)),
                ),
                (
                    record("http://site.test/beach.jpg", "an empty beach at dawn", "", Some((1200, 1800))),
                    Some(vec3(0.0, 0.0, 1.0)),
                ),
                (
                    record("http://site.test/watch-band.webp", "watch band", "a loose apple", None),
                    Some(vec3(0.9, 0.1, 0.0)),
                ),
            ],
        )
        .unwrap();
    index
}

#[test]
fn bm25_prefers_the_exact_phrase_in_alt() {
    let index = sample();
    let hits = index.search_text("apple watch", &all(&Filters::default())).unwrap();
    assert_eq!(urls(&hits)[0], "/watch.png");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(index.search_text("   ", &all(&Filters::default())).unwrap().is_empty());
}

#[test]
fn hostile_query_text_is_only_words() {
    let index = sample();
    for q in ["\"", "watch OR", "NEAR(watch", "alt: watch", "watch* -apple", "^watch", "'; DROP TABLE images; --"] {
        index.search_text(q, &all(&Filters::default())).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    assert_eq!(index.stats(None).unwrap().images, 4);
}

#[test]
fn filters_apply_inside_both_legs() {
    let index = sample();
    let f = Filters { formats: vec![ImageFormat::Png], ..Filters::default() };
    assert_eq!(urls(&index.search_text("watch", &all(&f)).unwrap()), vec!["/watch.png"]);
    assert_eq!(urls(&index.search_vector(&vec3(1.0, 0.0, 0.0), &all(&f)).unwrap()), vec!["/watch.png"]);

    let f = Filters { min_width: Some(1000), ..Filters::default() };
    let v =
        index.search_vector(&vec3(1.0, 0.0, 0.0), &SearchRequest { namespaces: &[], filters: &f, limit: 1 }).unwrap();
    assert_eq!(v.len(), 1, "a filter never empties a top-k: the best passing image comes back");
    assert!(v[0].image.width.unwrap() >= 1000);

    let f = Filters { orientation: Some(Orientation::Portrait), ..Filters::default() };
    assert_eq!(urls(&index.search_vector(&vec3(1.0, 1.0, 1.0), &all(&f)).unwrap()), vec!["/beach.jpg"]);
    let f = Filters { orientation: Some(Orientation::Square), ..Filters::default() };
    assert_eq!(urls(&index.search_text("watch", &all(&f)).unwrap()), vec!["/watch.png"]);

    let f = Filters { page_url_prefix: Some("http://site.test/shop".into()), ..Filters::default() };
    assert!(index.search_text("watch", &all(&f)).unwrap().is_empty());
}

#[test]
fn excluded_terms_are_never_returned() {
    let index = sample();
    let f = Filters { exclude_terms: vec!["people".into()], ..Filters::default() };
    for hits in [
        index.search_text("camera iphone", &all(&f)).unwrap(),
        index.search_vector(&vec3(0.0, 1.0, 0.0), &all(&f)).unwrap(),
    ] {
        assert!(!urls(&hits).contains(&"/phone-1600x1200.jpg"), "{:?}", urls(&hits));
    }
    let f = Filters { exclude_terms: vec!["apple".into()], ..Filters::default() };
    assert!(index.search_text("watch", &all(&f)).unwrap().is_empty(), "both watch images mention apple");
}

#[test]
fn vector_search_is_exact_cosine_order() {
    let index = sample();
    let hits = index.search_vector(&vec3(1.0, 0.05, 0.0), &all(&Filters::default())).unwrap();
    assert_eq!(&urls(&hits)[..2], &["/watch.png", "/watch-band.webp"]);
    assert!((hits[0].score - 0.9988).abs() < 1e-3);
    let err = index.search_vector(&[1.0, 0.0], &all(&Filters::default())).unwrap_err();
    assert!(err.to_string().contains("2 dimensions"), "{err}");
}

#[test]
fn namespaces_are_isolated_and_deletable() {
    let index = sample();
    index
        .upsert(
            &nsp("b"),
            &[(record("http://other.test/watch.png", "a pocket watch", "", None), Some(vec3(1.0, 0.0, 0.0)))],
        )
        .unwrap();
    let only_b = [nsp("b")];
    let req = SearchRequest { namespaces: &only_b, filters: &Filters::default(), limit: 10 };
    assert_eq!(index.search_text("watch", &req).unwrap().len(), 1);
    assert_eq!(index.search_vector(&vec3(1.0, 0.0, 0.0), &req).unwrap().len(), 1);
    assert_eq!(index.search_text("watch", &all(&Filters::default())).unwrap().len(), 3);
    assert_eq!(index.delete_namespace(&nsp("a")).unwrap(), 4);
    assert_eq!(index.stats(None).unwrap(), IndexStats { images: 1, vectors: 1, namespaces: 1 });
    assert!(
        index.search_vector(&vec3(0.0, 0.0, 1.0), &all(&Filters::default())).unwrap().iter().all(|h| h
            .image
            .namespace
            .as_str()
            == "b")
    );
}

#[test]
fn upserts_replace_by_url_and_check_vectors() {
    let index = sample();
    index
        .upsert(&nsp("a"), &[(record("http://site.test/watch.png", "a gold watch", "", Some((800, 800))), None)])
        .unwrap();
    assert_eq!(index.stats(Some(&nsp("a"))).unwrap().images, 4);
    let hits = index.search_text("gold", &all(&Filters::default())).unwrap();
    assert_eq!(urls(&hits), vec!["/watch.png"]);
    assert!(
        index.search_text("wrist", &all(&Filters::default())).unwrap().is_empty(),
        "the old text is gone from the FTS index"
    );
    assert_eq!(index.stats(Some(&nsp("a"))).unwrap().vectors, 4, "a replacement without a vector keeps the old one");
    assert!(
        index.upsert(&nsp("a"), &[(record("http://site.test/x.jpg", "x", "", None), Some(vec![1.0, 0.0]))]).is_err()
    );
    assert!(
        index
            .upsert(&nsp("a"), &[(record("http://site.test/x.jpg", "x", "", None), Some(vec![f32::NAN, 0.0, 0.0]))])
            .is_err()
    );
}

#[test]
fn the_index_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/index.sqlite");
    {
        let index = SqliteIndex::open(&path).unwrap();
        index
            .upsert(
                &nsp("a"),
                &[(
                    record("http://site.test/watch.png", "Apple Watch", "", Some((800, 800))),
                    Some(vec3(1.0, 0.0, 0.0)),
                )],
            )
            .unwrap();
    }
    let index = SqliteIndex::open(&path).unwrap();
    assert_eq!(urls(&index.search_text("apple", &all(&Filters::default())).unwrap()), vec!["/watch.png"]);
    assert_eq!(
        urls(&index.search_vector(&vec3(1.0, 0.0, 0.0), &all(&Filters::default())).unwrap()),
        vec!["/watch.png"]
    );
    let hit = &index.search_text("apple", &all(&Filters::default())).unwrap()[0];
    assert_eq!(hit.image.format, Some(ImageFormat::Png));
    assert_eq!((hit.image.width, hit.image.height), (Some(800), Some(800)));
}

#[test]
fn required_phrases_apply_inside_both_legs() {
    let index = sample();
    let f = Filters { require_terms: vec!["apple watch".into()], ..Filters::default() };
    assert_eq!(urls(&index.search_text("watch", &all(&f)).unwrap()), vec!["/watch.png"]);
    assert_eq!(urls(&index.search_vector(&vec3(0.9, 0.1, 0.0), &all(&f)).unwrap()), vec!["/watch.png"]);
}

#[test]
fn filter_only_listing() {
    let index = sample();
    let f = Filters { formats: vec![ImageFormat::Jpeg], exclude_terms: vec!["people".into()], ..Filters::default() };
    assert_eq!(urls(&index.list(&all(&f)).unwrap()), vec!["/beach.jpg"]);
}

/// A namespace the test names.
fn nsp(name: &str) -> Namespace {
    Namespace::parse(name).unwrap()
}
