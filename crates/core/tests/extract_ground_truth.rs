//! Extraction against the generated sites' ground truth: recall and precision must both be 100%,
//! for the images kept and for the reasons of those rejected.

use std::collections::{BTreeMap, BTreeSet};

use image_chat_core::extract::{self, ImageRecord};
use image_chat_fixtures::captions::Captions;
use image_chat_fixtures::{GeneratedSite, SiteSpec};
use url::Url;

const ORIGIN: &str = "http://fixture.test:8080";

struct Score {
    expected: usize,
    found: usize,
    correct: usize,
}

impl Score {
    fn recall(&self) -> f64 {
        self.correct as f64 / self.expected.max(1) as f64
    }
    fn precision(&self) -> f64 {
        self.correct as f64 / self.found.max(1) as f64
    }
}

fn abs(path: &str) -> String {
    format!("{ORIGIN}{path}")
}

#[test]
fn generated_sites_extract_with_full_recall_and_precision() {
    for seed in [1, 2, 3] {
        let site = GeneratedSite::new(SiteSpec { pages: 150, seed, traps: false }, Captions::load()).unwrap();
        let mut images = Score { expected: 0, found: 0, correct: 0 };
        let mut rejects = Score { expected: 0, found: 0, correct: 0 };
        let mut problems = Vec::new();
        for i in 0..150 {
            let html = site.render(i, ORIGIN).unwrap();
            let page_url = Url::parse(&abs(&GeneratedSite::page_path(i))).unwrap();
            let got = extract::extract(&html, &page_url);
            let truth = site.truth(i).unwrap();

            let by_url: BTreeMap<String, &ImageRecord> = got.images.iter().map(|r| (r.url.to_string(), r)).collect();
            images.expected += truth.images.len();
            images.found += got.images.len();
            for t in &truth.images {
                let Some(r) = by_url.get(&abs(&t.url)) else {
                    problems.push(format!("page {i}: missing {:?} {}", t.markup, t.url));
                    continue;
                };
                let want: BTreeSet<String> = t.variants.iter().map(|v| abs(v)).collect();
                let have: BTreeSet<String> = r.variants.iter().map(|v| v.url.to_string()).collect();
                let text_ok = r.context.description() == t.text;
                if want != have {
                    problems.push(format!("page {i}: {} variants {have:?} != {want:?}", t.url));
                } else if r.context.alt != t.alt || !text_ok {
                    problems.push(format!(
                        "page {i}: {} text {:?}/{:?} != {:?}/{:?}",
                        t.url,
                        r.context.alt,
                        r.context.description(),
                        t.alt,
                        t.text
                    ));
                } else {
                    images.correct += 1;
                }
            }
            let want: Vec<String> = truth
                .rejected
                .iter()
                .map(|r| serde_json::to_value(r.reason).unwrap().as_str().unwrap().to_string())
                .collect();
            let have: Vec<&str> = got.rejected.iter().map(|r| r.reason.as_str()).collect();
            let (before_correct, before_found, before_expected) = (rejects.correct, rejects.found, rejects.expected);
            let mut have_left = have.clone();
            for w in &want {
                if let Some(pos) = have_left.iter().position(|h| h == w) {
                    have_left.remove(pos);
                    rejects.correct += 1;
                }
            }
            rejects.expected += want.len();
            rejects.found += have.len();
            let page_correct = rejects.correct - before_correct;
            if page_correct != rejects.expected - before_expected || rejects.found - before_found != page_correct {
                problems.push(format!("page {i}: rejects {have:?} != {want:?}"));
            }
        }
        println!(
            "seed {seed}: images recall {:.3} precision {:.3}; rejects recall {:.3} precision {:.3}",
            images.recall(),
            images.precision(),
            rejects.recall(),
            rejects.precision()
        );
        assert!(
            problems.is_empty(),
            "seed {seed}: {} problems:\n{}",
            problems.len(),
            problems[..problems.len().min(30)].join("\n")
        );
        assert_eq!((images.recall(), images.precision()), (1.0, 1.0));
        assert_eq!((rejects.recall(), rejects.precision()), (1.0, 1.0));
    }
}
