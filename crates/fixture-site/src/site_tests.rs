//! The generated site against its own ground truth: every page, image and trap as described.

use super::*;

fn site(pages: u32) -> GeneratedSite {
    GeneratedSite::new(SiteSpec { pages, seed: 7, traps: true }, Captions::builtin()).unwrap()
}

#[test]
fn same_seed_same_site_other_seed_other_site() {
    let a = site(20);
    assert_eq!(a.render(5, "http://h"), site(20).render(5, "http://h"));
    let b = GeneratedSite::new(SiteSpec { pages: 20, seed: 8, traps: true }, Captions::builtin()).unwrap();
    assert_ne!(a.render(5, "http://h"), b.render(5, "http://h"));
}

#[test]
fn page_paths_round_trip_and_out_of_range_is_none() {
    let s = site(100);
    for i in [0, 1, 42, 99] {
        assert_eq!(s.page_index(&GeneratedSite::page_path(i)), Some(i));
    }
    assert_eq!(s.page_index("/page/7/"), Some(7));
    assert_eq!(s.page_index("/page/100"), None);
    assert_eq!(s.page_index("/page/007"), None);
    assert_eq!(s.page_index("/page/x"), None);
    assert!(GeneratedSite::new(SiteSpec { pages: MAX_PAGES + 1, ..SiteSpec::default() }, Captions::builtin()).is_err());
}

#[test]
fn every_linked_page_is_reachable_and_orphans_are_not() {
    let s = site(500);
    let depths = s.depths();
    let linked = s.linked_pages() as usize;
    assert_eq!(linked, 490);
    assert!(depths[..linked].iter().all(Option::is_some));
    assert!(depths[linked..].iter().all(Option::is_none));
    assert!(depths.iter().flatten().max().unwrap() <= &6);
}

#[test]
fn every_markup_and_reject_reason_occurs_in_a_small_site() {
    let truth = site(60).all_truth();
    let markups: std::collections::HashSet<_> = truth.iter().flat_map(|p| p.images.iter().map(|i| i.markup)).collect();
    assert_eq!(markups.len(), CONTENT_MARKUPS.len() + 2, "{markups:?}");
    let reasons: std::collections::HashSet<_> =
        truth.iter().flat_map(|p| p.rejected.iter().map(|r| r.reason)).collect();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
}

#[test]
fn every_truth_url_appears_in_the_html() {
    let s = site(40);
    for i in 0..40 {
        let html = s.render(i, "http://h").unwrap();
        let truth = s.truth(i).unwrap();
        for img in &truth.images {
            for v in &img.variants {
                assert!(html.contains(v.as_str()), "page {i}: {v} missing");
            }
            if !img.alt.is_empty() {
                assert!(html.contains(&esc(&img.alt)), "page {i}: alt {:?} missing", img.alt);
            }
            assert!(img.variants.contains(&img.url));
        }
        for r in &truth.rejected {
            assert!(html.contains(&r.url.replace('&', "&amp;")), "page {i}: reject {} missing", r.url);
        }
    }
}

#[test]
fn the_best_variant_is_the_largest() {
    for page in site(30).all_truth() {
        for img in page.images.into_iter().filter(|i| i.url.starts_with("/img/")) {
            let size = |u: &str| -> u64 {
                let dims = u.rsplit('-').next().unwrap().split('.').next().unwrap();
                let (w, h) = dims.split_once('x').unwrap_or(("0", "0"));
                w.parse::<u64>().unwrap_or(0) * h.parse::<u64>().unwrap_or(0)
            };
            let best = size(&img.url);
            assert!(img.variants.iter().all(|v| size(v) <= best), "{img:?}");
            assert_eq!(best, u64::from(img.width) * u64::from(img.height), "{img:?}");
        }
    }
}

#[test]
fn captions_are_escaped() {
    assert_eq!(esc("a <b> & \"c\" 'd'"), "a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;");
}

#[test]
fn sitemaps_list_every_page_once() {
    let s = site(2_500);
    assert_eq!(s.sitemap_count(), 3);
    let all: usize = (0..3).map(|k| s.sitemap(k, "http://h").unwrap().matches("<loc>").count()).sum();
    assert_eq!(all, 2_500);
    assert!(s.sitemap(3, "http://h").is_none());
    assert!(s.sitemap_index("http://h").contains("http://h/sitemaps/pages-2.xml"));
}
