//! Every real page under `shared/data/html/readability/` extracts without panic, in bounded time,
//! with sane output.

use std::time::{Duration, Instant};

use image_chat_core::extract;
use image_chat_fixtures::skip::shared_or_skip;
use url::Url;

#[test]
fn every_readability_page_extracts_without_panic() {
    let Some(dir) = shared_or_skip("html/readability") else { return };
    let mut pages = 0;
    let mut images = 0;
    let mut slowest = (Duration::ZERO, String::new());
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("html") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let html = String::from_utf8_lossy(&bytes);
        let url = Url::parse(&format!("http://pages.test/{}", path.file_name().unwrap().to_string_lossy())).unwrap();
        // No real page is too complex to parse (the budget only stops hostile ones).
        assert_eq!(extract::budget::check(&html), Ok(()), "{}", path.display());
        let started = Instant::now();
        let result = std::panic::catch_unwind(|| extract::extract(&html, &url));
        let took = started.elapsed();
        let page = result.unwrap_or_else(|_| panic!("extract panicked on {}", path.display()));
        if took > slowest.0 {
            slowest = (took, path.display().to_string());
        }
        for r in &page.images {
            assert!(matches!(r.url.scheme(), "http" | "https" | "data"), "{}: {}", path.display(), r.url);
            assert!(r.variants.iter().any(|v| v.url == r.url));
            assert!(r.context.alt.chars().count() <= extract::MAX_FIELD_CHARS);
        }
        pages += 1;
        images += page.images.len();
    }
    println!("{pages} pages, {images} images kept; slowest {:?} ({})", slowest.0, slowest.1);
    assert!(pages >= 130, "expected the 130 readability pages, found {pages}");
    assert!(images > 1_000, "real pages hold thousands of images, found {images}");
}

/// The mirrored site's article pages name their picture only in theme attributes
/// (`<img id="article-image" src="index.html" landscape-large="…">`, the mirror having turned an
/// empty `src` into the page's own file): the picture is found, the page never taken for one.
#[test]
fn a_mirrored_site_yields_its_article_pictures_and_never_a_page() {
    let Some(site) = shared_or_skip("sites/sanctuaries.marinebon.org") else { return };
    let mut stack = vec![site.clone()];
    let mut pages = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("html") {
                continue;
            }
            let relative = path.strip_prefix(&site).unwrap().to_string_lossy().replace('\\', "/");
            let url = Url::parse(&format!("https://sanctuaries.marinebon.org/{relative}")).unwrap();
            let html = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert_eq!(extract::budget::check(&html), Ok(()), "{relative}");
            let page = extract::extract(&html, &url);
            for r in &page.images {
                assert_ne!(r.url, r.page_url, "{relative}: the page taken for an image");
            }
            if relative == "news/pinellas_youth_education/index.html" {
                let article =
                    page.images.iter().find(|r| r.url.path().contains("IMG_1494")).expect("the article picture");
                assert_eq!(article.context.heading, "Elementary Students Learn About Biodiversity and Climate");
                assert!(article.variants.len() >= 4, "{:?}", article.variants);
            }
            pages += 1;
        }
    }
    assert!(pages >= 100, "expected the mirrored site's pages, found {pages}");
}

/// Markers of site furniture that must never be taken for an image's surrounding words.
const FURNITURE: &[&str] =
    &["we use cookies", "accept cookies", "cookie policy", "subscribe to our newsletter", "all rights reserved"];

/// Images on the real pages that have surrounding words, and none of those words are site
/// furniture. Measured 2026-12-03 (docs/benchmarks.md): 75.4% before the text blocks beside an
/// empty figure were read, 78.6% with them, 74.4% once navigation, footers, forms and banners
/// are no longer read as any image's words (their logos and icons now have none, and three
/// pages' images had footer links and copyright lines as their words).
#[test]
fn real_pages_give_images_surrounding_words_and_no_furniture() {
    let Some(dir) = shared_or_skip("html/readability") else { return };
    let (mut images, mut with_words) = (0usize, 0usize);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("html") {
            continue;
        }
        let html = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let url = Url::parse(&format!("http://pages.test/{}", path.file_name().unwrap().to_string_lossy())).unwrap();
        for r in extract::extract(&html, &url).images {
            images += 1;
            let words = r.context.nearby_text.to_lowercase();
            with_words += usize::from(!words.is_empty());
            assert!(!FURNITURE.iter().any(|f| words.contains(f)), "{}: {:?}", path.display(), r.context.nearby_text);
        }
    }
    let share = with_words as f64 / images as f64;
    println!("{with_words} of {images} images have surrounding words ({:.1}%)", share * 100.0);
    assert!(share >= 0.74, "surrounding words for {:.1}% of the images", share * 100.0);
}
