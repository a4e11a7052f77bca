//! The rule parser reads intent only from words about the images or the results: real
//! descriptive captions (what people type when they describe the picture they want) must come
//! out with no filter, no count, no exclusion and no required phrase. Every caption of three
//! sets under `shared/data/captions` is parsed; each set must reach 99%, and a failure lists the
//! misread captions with what was read into them.

use image_chat_core::search::{Query, parse};
use image_chat_fixtures::skip::shared_or_skip;

/// Share of captions that must parse as plain descriptions.
const PRECISION: f64 = 0.99;

fn misread(q: &Query) -> Option<String> {
    let mut read = Vec::new();
    if !q.formats.is_empty() {
        read.push(format!("formats {:?}", q.formats));
    }
    if q.min_width.is_some() || q.min_height.is_some() {
        read.push(format!("min size {:?}×{:?}", q.min_width, q.min_height));
    }
    if let Some(o) = q.orientation {
        read.push(format!("orientation {o:?}"));
    }
    if let Some(t) = q.tone {
        read.push(format!("tone {t:?}"));
    }
    if q.transparent.is_some() {
        read.push("transparent".into());
    }
    if let Some(c) = q.count {
        read.push(format!("count {c}"));
    }
    if !q.exclude_terms.is_empty() {
        read.push(format!("exclude {:?}", q.exclude_terms));
    }
    if !q.must_terms.is_empty() {
        read.push(format!("require {:?}", q.must_terms));
    }
    (!read.is_empty()).then(|| read.join(", "))
}

fn check(set: &str, captions: &[String]) {
    assert!(captions.len() >= 100, "{set}: only {} captions read", captions.len());
    let mut wrong = Vec::new();
    for caption in captions {
        let q = match parse(caption) {
            Ok(q) => q,
            // Longer than a message may be: not a misreading.
            Err(_) => continue,
        };
        if let Some(read) = misread(&q) {
            wrong.push(format!("{caption:?} -> {read}"));
        }
    }
    let precision = 1.0 - wrong.len() as f64 / captions.len() as f64;
    eprintln!("{set}: {} captions, {} misread, precision {precision:.4}", captions.len(), wrong.len());
    assert!(
        precision >= PRECISION,
        "{set}: precision {precision:.4} < {PRECISION} ({} of {} misread):\n{}",
        wrong.len(),
        captions.len(),
        wrong.join("\n")
    );
}

#[test]
fn flickr8k_captions_are_descriptions() {
    let Some(path) = shared_or_skip("captions/flickr8k_train_dev.tsv") else { return };
    let text = std::fs::read_to_string(path).expect("the file reads");
    let captions: Vec<String> =
        text.lines().skip(1).flat_map(|l| l.split('\t').skip(3).map(str::to_string).collect::<Vec<_>>()).collect();
    check("Flickr8k train+dev", &captions);
}

#[test]
fn conceptual_captions_are_descriptions() {
    let Some(path) = shared_or_skip("captions/conceptual_captions_val.tsv") else { return };
    let text = std::fs::read_to_string(path).expect("the file reads");
    let captions: Vec<String> = text.lines().filter_map(|l| l.split('\t').next()).map(str::to_string).collect();
    check("Conceptual Captions val", &captions);
}

#[test]
fn concadia_captions_are_descriptions() {
    let Some(path) = shared_or_skip("captions/concadia_dev.json") else { return };
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the file reads")).expect("the file parses");
    let captions: Vec<String> = rows.iter().filter_map(|r| r["caption"].as_str()).map(str::to_string).collect();
    check("Concadia dev", &captions);
}
