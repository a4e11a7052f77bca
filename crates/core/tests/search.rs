//! Search end to end over a real index (and the real model when its files are present).

use std::path::Path;
use std::sync::Arc;

use image_chat_core::Error;
use image_chat_core::config::ModelSettings;
use image_chat_core::embed::{Embedder, OnnxEmbedder};
use image_chat_core::extract::{ImageContext, ImageRecord, ImageSource, ImageVariant};
use image_chat_core::index::{Filters, Namespace, SearchRequest, SqliteIndex};
use image_chat_core::model::ImageFacts;
use image_chat_core::search::engine::SearchEngine;
use image_chat_core::search::{ImageFormat, Tone};
use url::Url;

fn record(path: &str, alt: &str, size: (u32, u32)) -> ImageRecord {
    let url = Url::parse(&format!("http://shop.test{path}")).unwrap();
    ImageRecord {
        found_by: Default::default(),
        facts: None,
        page_url: Url::parse("http://shop.test/products").unwrap(),
        source: ImageSource::Img,
        variants: vec![ImageVariant {
            url: url.clone(),
            width: Some(size.0),
            height: Some(size.1),
            density: None,
            media: None,
            mime: None,
        }],
        url,
        context: ImageContext { alt: alt.into(), ..ImageContext::default() },
    }
}

fn embedder() -> Option<Arc<dyn Embedder>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let settings = ModelSettings { dir, ..ModelSettings::default() };
    if !settings.files().iter().all(|f| f.is_file()) {
        image_chat_fixtures::skip::skip(
            image_chat_fixtures::skip::Need::Model,
            "model files absent (scripts/fetch-models.sh fetches them)",
        );
        return None;
    }
    Some(Arc::new(OnnxEmbedder::load(&settings).unwrap()))
}

const CATALOGUE: &[(&str, &str, (u32, u32))] = &[
    ("/img/apple-watch.png", "Apple Watch Series 9 on a wrist", (1200, 1200)),
    ("/img/apple-watch-band.jpg", "a watch band made from apple leather", (800, 600)),
    ("/img/iphone-hero.jpg", "iPhone 15 Pro in titanium, high-resolution product shot", (2400, 1600)),
    ("/img/iphone-people.jpg", "two people taking a selfie with an iPhone", (2000, 1500)),
    ("/img/beach.jpg", "an empty sandy beach at sunrise", (1600, 900)),
    ("/img/beach-copy.jpg", "An empty sandy beach at sunrise!", (1600, 900)),
    ("/img/logo.svg", "Shop logo", (240, 60)),
];

fn engine(embedder: Result<Arc<dyn Embedder>, String>) -> SearchEngine {
    let index = Arc::new(SqliteIndex::open_in_memory().unwrap());
    let records: Vec<ImageRecord> = CATALOGUE.iter().map(|(p, a, s)| record(p, a, *s)).collect();
    let vectors: Vec<Option<Vec<f32>>> = match &embedder {
        Ok(e) => e
            .embed(&records.iter().map(|r| r.context.alt.as_str()).collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .map(Some)
            .collect(),
        Err(_) => vec![None; records.len()],
    };
    index.upsert(&Namespace::parse("shop").unwrap(), &records.into_iter().zip(vectors).collect::<Vec<_>>()).unwrap();
    SearchEngine::new(index, embedder)
}

fn paths(response: &image_chat_core::search::engine::SearchResponse) -> Vec<String> {
    response.results.iter().map(|r| Url::parse(&r.url).unwrap().path().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exact_phrase_beats_a_loose_match() {
    let Some(e) = embedder() else { return };
    let response = engine(Ok(e)).search("Apple Watch", &[], None).await.unwrap();
    assert_eq!(paths(&response)[0], "/img/apple-watch.png");
    let top = &response.results[0];
    assert!(top.bm25.is_some() && top.vector.is_some() && top.strong);
    assert_eq!(top.matched_terms, vec!["apple", "watch"]);
    let repeated = engine(Ok(embedder().unwrap())).search("watch on a wrist, a watch", &[], None).await.unwrap();
    assert_eq!(repeated.results[0].matched_terms, vec!["watch", "wrist"], "each word once");
}

/// The results that meet every constraint of the message, which come first; the rest are
/// the closest without them, each saying what it does not meet.
fn met(response: &image_chat_core::search::engine::SearchResponse) -> Vec<String> {
    let first_unmet = response.results.iter().position(|r| !r.unmet.is_empty()).unwrap_or(response.results.len());
    assert!(
        response.results[first_unmet..].iter().all(|r| !r.unmet.is_empty() && !r.strong),
        "the closest without the constraints follow every result that meets them: {:?}",
        response.results
    );
    paths(response).into_iter().take(first_unmet).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_exclusions_are_exact() {
    let Some(e) = embedder() else { return };
    let engine = engine(Ok(e));
    let r = engine.search("PNG images of the Apple Watch", &[], None).await.unwrap();
    assert_eq!(met(&r), vec!["/img/apple-watch.png"]);
    assert!(r.results[1..].iter().all(|x| x.unmet == ["PNG"] && !x.url.ends_with(".png")), "{:?}", r.results);
    let r = engine.search("iPhone photos without people", &[], None).await.unwrap();
    assert!(!met(&r).contains(&"/img/iphone-people.jpg".to_string()), "{:?}", paths(&r));
    assert_eq!(paths(&r)[0], "/img/iphone-hero.jpg");
    if let Some(people) = r.results.iter().find(|x| x.url.ends_with("/img/iphone-people.jpg")) {
        assert_eq!(people.unmet, vec!["without \"people\"".to_string()]);
    }
    let r = engine.search("high-resolution iPhone photos", &[], None).await.unwrap();
    let wide = met(&r);
    assert!(!wide.is_empty());
    assert!(r.results[..wide.len()].iter().all(|x| x.width.unwrap() >= 1600), "{:?}", paths(&r));
    let r = engine.search("show me 2 images", &[], None).await.unwrap();
    assert_eq!(r.results.len(), 2, "a filter-only query lists images");
    let r = engine.search("SVG images", &[], None).await.unwrap();
    assert_eq!(paths(&r), vec!["/img/logo.svg"], "a list of what passes the filters is not filled up");
    // Filters that leave nothing: the closest without them, marked, and said so.
    let r = engine.search("high-resolution PNG photos of an empty beach", &[], None).await.unwrap();
    assert!(met(&r).is_empty(), "{:?}", paths(&r));
    assert!(!r.results.is_empty(), "never an empty answer that relaxing the filters fills");
    assert!(r.results[0].url.contains("beach"), "{:?}", paths(&r));
    // The beach is 1600 px wide: of the two filters, only PNG was relaxed, and only it says so.
    assert_eq!(r.results[0].unmet, vec!["PNG".to_string()]);
    let note = r.notes.iter().find(|n| n.contains("without")).expect("a note on the filters");
    assert!(note.contains("(PNG)") && note.contains("without it"), "{note}");
    let chips: Vec<(&str, Option<&str>)> =
        r.query.parts.iter().map(|p| (p.value.as_str(), p.note.as_deref())).collect();
    assert!(
        chips
            .iter()
            .any(|(v, n)| *v == "png"
                && n.is_some_and(|n| n == "no image matching the words is PNG; showing the closest")),
        "{chips:?}"
    );
    assert!(chips.iter().any(|(v, n)| v.contains("1600") && n.is_none()), "{chips:?}");
    // Both relaxed: each chip and the note name them.
    let r = engine.search("4k PNG photos of an empty beach", &[], None).await.unwrap();
    assert!(met(&r).is_empty() && r.results[0].url.contains("beach"), "{:?}", paths(&r));
    assert_eq!(r.results[0].unmet.len(), 2, "{:?}", r.results[0]);
    let note = r.notes.iter().find(|n| n.contains("without")).expect("a note on the filters");
    assert!(note.contains("PNG") && note.contains("3840") && note.contains("without them"), "{note}");
    assert_eq!(r.query.parts.iter().filter(|p| p.note.is_some()).count(), 2, "{:?}", r.query.parts);
    let r = engine.search("photos of the Apple Watch", &[], None).await.unwrap();
    assert!(r.notes.is_empty() && r.results.iter().all(|x| x.unmet.is_empty()), "no constraints: {:?}", r.notes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_likeness_is_never_a_strong_match() {
    let Some(e) = embedder() else { return };
    // "logo" is in two file names only; no description says it, so every similarity is weak and
    // the fusion, scaling each leg to its own best, would rank a weak likeness first.
    let site: &[(&str, &str)] = &[
        ("/img/smithsonian-logo.jpg", "Smithsonian MarineGEO and Tennenbaum Marine Observatories Network"),
        ("/img/obis-logo.jpg", "Ocean Biogeographic Information System"),
        ("/img/students.jpg", "Middle school students use an infographic in class"),
        ("/img/diver.jpg", "Diver collecting water samples above a coral colony"),
        ("/img/figure-3.png", "Figure 3"),
    ];
    let records: Vec<ImageRecord> = site
        .iter()
        .map(|(path, alt)| {
            let mut r = record(path, alt, (800, 600));
            let name = path.trim_start_matches("/img/").rsplit_once('.').unwrap().0;
            r.context.filename_tokens = name.split('-').map(String::from).collect();
            r
        })
        .collect();
    let vectors = e.embed(&records.iter().map(|r| r.context.alt.as_str()).collect::<Vec<_>>()).unwrap();
    let index = Arc::new(SqliteIndex::open_in_memory().unwrap());
    index
        .upsert(
            &Namespace::parse("site").unwrap(),
            &records.into_iter().zip(vectors.into_iter().map(Some)).collect::<Vec<_>>(),
        )
        .unwrap();
    let r = SearchEngine::new(index, Ok(e)).search("logo", &[], None).await.unwrap();
    let strong: Vec<String> =
        r.results.iter().filter(|x| x.strong).map(|x| Url::parse(&x.url).unwrap().path().to_string()).collect();
    assert_eq!(strong, ["/img/obis-logo.jpg", "/img/smithsonian-logo.jpg"], "{:?}", r.results);
    assert!(r.results.iter().filter(|x| x.strong).all(|x| x.matched_terms == ["logo"]), "{:?}", r.results);
    assert!(r.results[0].strong && r.results[1].strong, "strong matches come first: {:?}", r.results);
    for x in r.results.iter().filter(|x| !x.strong) {
        assert!(x.bm25.is_none() && x.vector.unwrap() < 0.3, "{x:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrelated_message_finds_nothing_instead_of_noise() {
    let Some(e) = embedder() else { return };
    let r = engine(Ok(e)).search("quantum chromodynamics lecture notes", &[], None).await.unwrap();
    assert!(r.results.is_empty(), "{:?}", r.results.iter().map(|x| (&x.url, x.vector)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_folded_into_one_result() {
    let Some(e) = embedder() else { return };
    let r = engine(Ok(e)).search("empty beach at sunrise", &[], None).await.unwrap();
    let beaches: Vec<_> = r.results.iter().filter(|x| x.url.contains("beach")).collect();
    assert_eq!(beaches.len(), 1, "{:?}", paths(&r));
    assert_eq!(beaches[0].alternatives.len(), 1);
    // A query of filters only lists images, copies folded the same way.
    let listed = engine(Err("no model".into())).search("JPEG images", &[], None).await.unwrap();
    let beaches: Vec<_> = listed.results.iter().filter(|x| x.url.contains("beach")).collect();
    assert_eq!(beaches.len(), 1, "{:?}", paths(&listed));
    assert_eq!(beaches[0].alternatives.len(), 1);
    assert_eq!(listed.results.len(), 4, "{:?}", paths(&listed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_search_falls_back_to_keywords_and_says_so() {
    let r = engine(Err("model file models/x is missing; run scripts/fetch-models.sh".into()))
        .search("apple watch", &[], None)
        .await
        .unwrap();
    assert!(r.lexical_only.as_deref().is_some_and(|w| w.contains("keyword search only") && w.contains("fetch-models")));
    // Both watch images score the same on keywords alone; the exact phrase decides.
    assert_eq!(paths(&r)[0], "/img/apple-watch.png");
    assert!(r.results.iter().all(|x| x.vector.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_and_namespaces_are_clear_errors() {
    let engine = engine(Err("no model".into()));
    for (message, needle) in [("", "empty"), ("   ", "empty"), (&"x".repeat(10 * 1024)[..], "limit is 1000")] {
        match engine.search(message, &[], None).await {
            Err(Error::Invalid(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{message:.20}: expected an invalid-input error, got {other:?}"),
        }
    }
    // A bad name cannot be made at all: namespaces are parsed where they come in.
    assert!(matches!(Namespace::parse("no such/session"), Err(Error::Invalid(_))));
    let r = engine.search("beach", &[Namespace::parse("unknown-session").unwrap()], None).await.unwrap();
    assert!(r.results.is_empty(), "an unknown namespace has no images");
    let r = engine.search("dark mode screenshots", &[], None).await.unwrap();
    assert!(r.notes.iter().any(|n| n.contains("brightness")), "{:?}", r.notes);
}

fn analysed(path: &str, alt: &str, luma: u8, transparent: bool) -> ImageRecord {
    let mut r = record(path, alt, (800, 600));
    r.facts = Some(ImageFacts {
        format: ImageFormat::from_url(&r.url).unwrap(),
        width: Some(800),
        height: Some(600),
        bytes: 1_000,
        transparent: Some(transparent),
        luma: Some(luma),
        dhash: None,
    });
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tone_and_transparency_go_by_the_pixels_in_both_legs() {
    let index = Arc::new(SqliteIndex::open_in_memory().unwrap());
    let items = vec![
        (analysed("/img/night-city.jpg", "city skyline", 30, false), Some(vec![1.0, 0.0])),
        (analysed("/img/day-city.jpg", "city skyline at noon", 220, false), Some(vec![0.8, 0.6])),
        (analysed("/img/city-logo.png", "city logo", 200, true), Some(vec![0.6, 0.8])),
        (record("/img/unknown-city.jpg", "city view", (800, 600)), Some(vec![0.0, 1.0])),
    ];
    index.upsert(&Namespace::parse("shop").unwrap(), &items).unwrap();
    let engine = SearchEngine::new(index.clone(), Err("no model".into()));
    let r = engine.search("city pictures on a dark background", &[], None).await.unwrap();
    assert_eq!(met(&r), vec!["/img/night-city.jpg"]);
    let r = engine.search("city logo with a transparent background", &[], None).await.unwrap();
    assert_eq!(met(&r), vec!["/img/city-logo.png"]);
    let mut light = met(&engine.search("city images with a light background", &[], None).await.unwrap());
    light.sort();
    assert_eq!(light, vec!["/img/city-logo.png", "/img/day-city.jpg"], "unknown brightness never passes");

    let dark = Filters { tone: Some(Tone::Dark), ..Filters::default() };
    let request = SearchRequest { namespaces: &[], filters: &dark, limit: 10 };
    let hits = index.search_vector(&[0.0, 1.0], &request).unwrap();
    assert_eq!(hits.iter().map(|h| h.image.record.url.path()).collect::<Vec<_>>(), vec!["/img/night-city.jpg"]);
}
