//! Fusing the keyword and vector legs, and the dedup of results.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::index::{Hit, StoredImage};
use crate::model::ImageFormat;

/// Formats preferred when scores tie, and when choosing which copy of a duplicate to show:
/// earlier is better; formats not listed come after.
pub const DEFAULT_FORMAT_PREFERENCE: [ImageFormat; 4] =
    [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp, ImageFormat::Svg];

/// Scores closer than this are a tie (the format preference decides).
const TIE: f32 = 1e-5;

fn format_rank(format: Option<ImageFormat>, preference: &[ImageFormat]) -> usize {
    format.and_then(|f| preference.iter().position(|p| *p == f)).unwrap_or(preference.len())
}

/// Orders results best first: by fused score, ties by the format preference, then by id.
pub fn order(ranked: &mut [Ranked], preference: &[ImageFormat]) {
    // Quantized scores keep the order total (an epsilon comparison would not be transitive).
    let key = |r: &Ranked| (-(r.fused / TIE).round() as i64, format_rank(r.image.format, preference), r.id);
    ranked.sort_by_key(key);
}

/// Which copy of one image is the better to show: larger when sizes are known, then the
/// preferred format.
fn better_copy(a: &StoredImage, b: &StoredImage, preference: &[ImageFormat]) -> bool {
    let area = |i: &StoredImage| u64::from(i.width.unwrap_or(0)) * u64::from(i.height.unwrap_or(0));
    (area(a), std::cmp::Reverse(format_rank(a.format, preference)))
        > (area(b), std::cmp::Reverse(format_rank(b.format, preference)))
}

/// How the two legs' scores are combined.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fusion {
    /// Min-max normalized scores, weighted; the BM25 weight adapts to how confident the keyword
    /// leg is (see [`adaptive_bm25_weight`]).
    Weighted { vector_weight: f32, adaptive: bool },
    /// Reciprocal-rank fusion with constant `k`.
    Rrf { k: f32 },
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Weighted { vector_weight: DEFAULT_VECTOR_WEIGHT, adaptive: true }
    }
}

/// Chosen by `image-chat eval` on the Flickr8k and Concadia dev sets (docs/benchmarks.md).
pub const DEFAULT_VECTOR_WEIGHT: f32 = 0.75;

/// One fused result with both legs' scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub id: i64,
    pub image: StoredImage,
    /// Raw BM25 score (higher is better), when the keyword leg found it.
    pub bm25: Option<f32>,
    /// Cosine similarity, when the vector leg found it.
    pub vector: Option<f32>,
    pub fused: f32,
    /// Images folded into this one (same image under other URLs, same alt text, near-identical).
    pub alternatives: Vec<String>,
    /// The image's vector when the vector leg found it.
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
}

/// The BM25 leg's weight for one query: more when its best hit stands far above the rest
/// (a rare, specific term matched), less when its scores are flat (common words matched).
pub fn adaptive_bm25_weight(base: f32, bm25: &[Hit]) -> f32 {
    if bm25.len() < 2 {
        return if bm25.is_empty() { 0.0 } else { base };
    }
    let top = bm25[0].score;
    let tail: f32 =
        bm25.iter().skip(1).take(10).map(|h| h.score).sum::<f32>() / bm25.len().saturating_sub(1).clamp(1, 10) as f32;
    if top <= 0.0 {
        return base;
    }
    // 0 when the top is no better than the rest, up to 1 when it is twice the rest or more.
    let confidence = ((top - tail) / top * 2.0).clamp(0.0, 1.0);
    (base * (0.5 + confidence)).min(0.9)
}

fn min_max(scores: &[f32]) -> impl Fn(f32) -> f32 {
    let lo = scores.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    move |s| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 }
}

/// Fuses the legs' hits into one ranking, best first.
pub fn fuse(bm25: Vec<Hit>, vector: Vec<Hit>, fusion: Fusion) -> Vec<Ranked> {
    let mut by_id: HashMap<i64, Ranked> = HashMap::new();
    let bm25_scores: Vec<f32> = bm25.iter().map(|h| h.score).collect();
    let vector_scores: Vec<f32> = vector.iter().map(|h| h.score).collect();
    let (nb, nv) = (min_max(&bm25_scores), min_max(&vector_scores));
    let (wb, wv) = match fusion {
        Fusion::Weighted { vector_weight, adaptive } => {
            let base = 1.0 - vector_weight;
            let wb = if adaptive { adaptive_bm25_weight(base, &bm25) } else { base };
            (wb, 1.0 - wb)
        }
        Fusion::Rrf { .. } => (1.0, 1.0),
    };
    let leg_score = |rank: usize, raw: f32, norm: &dyn Fn(f32) -> f32, weight: f32| match fusion {
        Fusion::Weighted { .. } => weight * norm(raw),
        Fusion::Rrf { k } => 1.0 / (k + rank as f32 + 1.0),
    };
    for (rank, hit) in bm25.into_iter().enumerate() {
        let s = leg_score(rank, hit.score, &nb, wb);
        by_id.insert(
            hit.id,
            Ranked {
                id: hit.id,
                image: hit.image,
                bm25: Some(hit.score),
                vector: None,
                fused: s,
                alternatives: Vec::new(),
                embedding: None,
            },
        );
    }
    for (rank, hit) in vector.into_iter().enumerate() {
        let s = leg_score(rank, hit.score, &nv, wv);
        by_id
            .entry(hit.id)
            .and_modify(|r| {
                r.vector = Some(hit.score);
                r.fused += s;
                r.embedding = hit.vector.clone();
            })
            .or_insert(Ranked {
                id: hit.id,
                image: hit.image,
                bm25: None,
                vector: Some(hit.score),
                fused: s,
                alternatives: Vec::new(),
                embedding: hit.vector,
            });
    }
    let mut ranked: Vec<Ranked> = by_id.into_values().collect();
    order(&mut ranked, &DEFAULT_FORMAT_PREFERENCE);
    ranked
}

/// Vectors at least this similar are the same image described the same way.
pub const NEAR_DUPLICATE_COSINE: f32 = 0.985;

/// Folds duplicates into one result per group, at the place of the group's best-ranked member:
/// the same URL (across namespaces), the same normalized alt text (12+ characters) on the same
/// site, near-identical vectors ([`NEAR_DUPLICATE_COSINE`]), and the same picture by its
/// perceptual hash when the crawl analysed it (another size or encoding under another URL,
/// whatever its words). The best copy (largest, then
/// preferred format) is the one shown; the others are listed as its alternatives.
pub fn dedup(ranked: Vec<Ranked>) -> Vec<Ranked> {
    dedup_with(ranked, &DEFAULT_FORMAT_PREFERENCE)
}

pub fn dedup_with(ranked: Vec<Ranked>, preference: &[ImageFormat]) -> Vec<Ranked> {
    let mut out: Vec<Ranked> = Vec::with_capacity(ranked.len());
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for r in ranked {
        // One picture under its size variants (`-150x150`, `?w=300`, `@2x`) is one image.
        let url_key = format!("url:{}", crate::extract::variants::identity_key(&r.image.record.url));
        let alt = normalize_alt(&r.image.record.context.alt);
        let alt_key = (alt.len() >= 12).then(|| format!("alt:{}:{}", r.image.record.url.host_str().unwrap_or(""), alt));
        let existing =
            by_key.get(&url_key).or_else(|| alt_key.as_ref().and_then(|k| by_key.get(k))).copied().or_else(|| {
                let v = r.embedding.as_ref()?;
                out.iter().position(|kept| {
                    kept.embedding.as_ref().is_some_and(|k| crate::index::vectors::dot(k, v) >= NEAR_DUPLICATE_COSINE)
                })
            });
        let existing = existing.or_else(|| {
            let h = picture_hash(&r.image)?;
            out.iter().position(|kept| {
                picture_hash(&kept.image)
                    .is_some_and(|k| crate::model::distance(h, k) <= crate::model::SAME_PICTURE_BITS)
            })
        });
        match existing {
            Some(i) => {
                by_key.insert(url_key, i);
                let mut r = r;
                if better_copy(&r.image, &out[i].image, preference) {
                    // The better copy takes the group's place and best score.
                    r.fused = r.fused.max(out[i].fused);
                    r.alternatives = std::mem::take(&mut out[i].alternatives);
                    r.embedding = r.embedding.take().or_else(|| out[i].embedding.take());
                    std::mem::swap(&mut out[i], &mut r);
                    let own = out[i].image.record.url.to_string();
                    out[i].alternatives.retain(|u| *u != own);
                }
                let url = r.image.record.url.to_string();
                if url != out[i].image.record.url.as_str() && !out[i].alternatives.contains(&url) {
                    out[i].alternatives.push(url);
                }
            }
            None => {
                by_key.insert(url_key, out.len());
                if let Some(k) = alt_key {
                    by_key.insert(k, out.len());
                }
                out.push(r);
            }
        }
    }
    out
}

/// The image's perceptual hash, when it was analysed and the hash says something: a nearly
/// uniform picture (a flat colour, a blank) hashes to almost all zeros or ones and would match
/// every other such picture.
fn picture_hash(image: &StoredImage) -> Option<u64> {
    let h = image.record.facts.as_ref()?.dhash?;
    (8..=56).contains(&h.count_ones()).then_some(h)
}

fn normalize_alt(alt: &str) -> String {
    alt.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;
    use crate::model::{ImageContext, ImageRecord, ImageSource};

    fn ranked(id: i64, url: &str, alt: &str, fused: f32, embedding: Option<Vec<f32>>) -> Ranked {
        let url = Url::parse(url).unwrap();
        Ranked {
            id,
            image: StoredImage {
                namespace: crate::index::Namespace::parse("n").unwrap(),
                record: ImageRecord {
                    found_by: Default::default(),
                    facts: None,
                    page_url: url.clone(),
                    source: ImageSource::Img,
                    variants: vec![],
                    url,
                    context: ImageContext { alt: alt.into(), ..ImageContext::default() },
                },
                format: None,
                width: None,
                height: None,
            },
            bm25: None,
            vector: None,
            fused,
            alternatives: vec![],
            embedding,
        }
    }

    #[test]
    fn duplicates_fold_by_url_alt_and_near_identical_vectors() {
        let a = vec![1.0, 0.0, 0.0];
        let mut a2 = vec![0.999, 0.02, 0.0];
        crate::model::vector::normalize(&mut a2);
        let b = vec![0.0, 1.0, 0.0];
        let out = dedup(vec![
            ranked(1, "http://s.test/a.jpg", "a red kayak on a lake", 0.9, Some(a)),
            ranked(2, "http://s.test/a.jpg", "other", 0.8, None),
            ranked(3, "http://s.test/a-copy.jpg", "A red kayak, on a lake!", 0.7, None),
            ranked(4, "http://s.test/a-crop.jpg", "kayak photo", 0.6, Some(a2)),
            ranked(5, "http://s.test/b.jpg", "a blue bicycle", 0.5, Some(b)),
        ]);
        assert_eq!(out.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 5]);
        assert_eq!(out[0].alternatives, vec!["http://s.test/a-copy.jpg", "http://s.test/a-crop.jpg"]);
    }

    fn hashed(mut r: Ranked, dhash: u64) -> Ranked {
        r.image.record.facts = Some(crate::model::ImageFacts {
            format: ImageFormat::Jpeg,
            width: Some(100),
            height: Some(100),
            bytes: 1,
            transparent: None,
            luma: None,
            dhash: Some(dhash),
        });
        r
    }

    #[test]
    fn one_picture_under_two_urls_folds_by_its_perceptual_hash() {
        let h = 0x0f0f_3c3c_5a5a_a5a5u64;
        let out = dedup(vec![
            hashed(ranked(1, "http://s.test/photo.jpg", "harbour at dusk", 0.9, None), h),
            hashed(ranked(2, "http://cdn.test/x/1234.jpg", "", 0.8, None), h ^ 0b101),
            hashed(ranked(3, "http://s.test/other.jpg", "a different photo", 0.7, None), !h),
            // Flat pictures hash to (almost) nothing: never folded by hash.
            hashed(ranked(4, "http://s.test/blank-1.png", "spacer one", 0.6, None), 0),
            hashed(ranked(5, "http://s.test/blank-2.png", "spacer two", 0.5, None), 1),
        ]);
        assert_eq!(out.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 3, 4, 5]);
        assert_eq!(out[0].alternatives, vec!["http://cdn.test/x/1234.jpg"]);
    }

    fn sized(mut r: Ranked, format: ImageFormat, w: u32, h: u32) -> Ranked {
        r.image.format = Some(format);
        r.image.width = Some(w);
        r.image.height = Some(h);
        r
    }

    #[test]
    fn the_best_copy_of_a_duplicate_is_shown_in_the_groups_place() {
        let out = dedup(vec![
            sized(
                ranked(1, "http://s.test/thumb.jpg", "a red kayak on a lake", 0.9, None),
                ImageFormat::Jpeg,
                150,
                100,
            ),
            ranked(2, "http://s.test/other.jpg", "a blue bicycle", 0.8, None),
            sized(
                ranked(3, "http://s.test/full.jpg", "A red kayak on a lake", 0.7, None),
                ImageFormat::Jpeg,
                1500,
                1000,
            ),
        ]);
        assert_eq!(out.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(out[0].fused, 0.9, "the group keeps its best score and place");
        assert_eq!(out[0].alternatives, vec!["http://s.test/thumb.jpg"]);
    }

    #[test]
    fn size_variants_of_one_picture_fold_whatever_their_words() {
        // A list's thumbnail and the article's full-size copy, each with its own page's words.
        let out = dedup(vec![
            sized(ranked(1, "http://s.test/up/reef-150x150.jpg", "Students", 0.9, None), ImageFormat::Jpeg, 150, 150),
            ranked(2, "http://s.test/up/boat.jpg", "a boat", 0.8, None),
            sized(ranked(3, "http://s.test/up/reef-1200x800.jpg", "", 0.7, None), ImageFormat::Jpeg, 1200, 800),
            ranked(4, "http://s.test/up/reef.jpg?w=300", "Students on the reef", 0.6, None),
        ]);
        assert_eq!(out.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(out[0].alternatives, vec!["http://s.test/up/reef-150x150.jpg", "http://s.test/up/reef.jpg?w=300"]);
    }

    #[test]
    fn format_preference_only_breaks_ties() {
        let mut r = vec![
            sized(ranked(1, "http://s.test/a.svg", "a", 0.5, None), ImageFormat::Svg, 10, 10),
            sized(ranked(2, "http://s.test/b.png", "b", 0.5, None), ImageFormat::Png, 10, 10),
            sized(ranked(3, "http://s.test/c.jpg", "c", 0.5, None), ImageFormat::Jpeg, 10, 10),
            sized(ranked(4, "http://s.test/d.svg", "d", 0.6, None), ImageFormat::Svg, 10, 10),
        ];
        order(&mut r, &DEFAULT_FORMAT_PREFERENCE);
        assert_eq!(r.iter().map(|r| r.id).collect::<Vec<_>>(), vec![4, 3, 2, 1]);
        order(&mut r, &[ImageFormat::Svg, ImageFormat::Png]);
        assert_eq!(r.iter().map(|r| r.id).collect::<Vec<_>>(), vec![4, 1, 2, 3]);
    }
}
