//! From the sources a walk found to image records: candidates resolved against the base URL
//! (unresolvable, non-image and self-naming ones set aside), sightings of one image merged, and
//! headings that stand over a whole group marked.

use url::Url;

use super::candidates::FastMap;
use super::junk::{self, RejectReason};
use super::variants::{self, url_dimensions};
use super::{ImageContext, ImageRecord, ImageVariant, MAX_DATA_URI_BYTES, context, srcset};

/// A source of an image before resolution.
pub(super) struct Cand {
    pub raw: String,
    pub width: Option<u32>,
    pub density: Option<f64>,
    pub media: Option<String>,
    pub mime: Option<String>,
}

impl Cand {
    pub(super) fn plain(raw: &str) -> Self {
        Self { raw: raw.to_string(), width: None, density: None, media: None, mime: None }
    }
}

pub(super) fn srcset_cands(set: &str, media: Option<String>, mime: Option<String>) -> Vec<Cand> {
    srcset::parse(set)
        .into_iter()
        .map(|c| Cand { raw: c.url, width: c.width, density: c.density, media: media.clone(), mime: mime.clone() })
        .collect()
}

pub(super) struct Resolved {
    pub variants: Vec<ImageVariant>,
    /// The size each variant's URL names, by index.
    pub url_dims: Vec<(Option<u32>, Option<u32>)>,
    /// (resolved URL, the string as written), few per image: a list beats a map.
    pub raw_of: Vec<(String, String)>,
    pub first_raw: Option<String>,
    /// Why a source was set aside: a `data:` URI too small to be an image or too large (decided
    /// unparsed), or a URL naming the page itself.
    pub reject: Option<RejectReason>,
}

/// Resolves candidates against the base URL; unresolvable and non-image schemes are dropped,
/// duplicates merged (keeping the most informative descriptor).
pub(super) fn resolve(base: &Url, page: &Url, cands: Vec<Cand>) -> Resolved {
    let first_raw = cands.first().map(|c| c.raw.clone());
    let mut variants: Vec<ImageVariant> = Vec::new();
    let mut url_dims = Vec::new();
    let mut raw_of: Vec<(String, String)> = Vec::new();
    let mut reject = None;
    let page_sans_fragment = &page[..url::Position::AfterQuery];
    for c in cands {
        let trimmed = c.raw.trim();
        // data: URIs outside the kept size range are decided without the (costly) URL parse.
        if trimmed.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")) {
            if trimmed.len() < junk::MIN_DATA_URI_BYTES {
                reject = reject.or(Some(RejectReason::DataUriPlaceholder));
                continue;
            }
            if trimmed.len() > MAX_DATA_URI_BYTES {
                reject = Some(RejectReason::DataUriTooLarge);
                continue;
            }
        }
        let Ok(url) = base.join(trimmed) else { continue };
        if !matches!(url.scheme(), "http" | "https" | "data") {
            continue;
        }
        // Only the page itself: a counter "pixel" can be served from an `.html` URL.
        if &url[..url::Position::AfterQuery] == page_sans_fragment {
            reject = reject.or(Some(RejectReason::NotAnImage));
            continue;
        }
        if !raw_of.iter().any(|(u, _)| u == url.as_str()) {
            raw_of.push((url.to_string(), trimmed.to_string()));
        }
        let (url_w, url_h) = if url.scheme() == "data" { (None, None) } else { url_dimensions(&url) };
        match variants.iter_mut().find(|v| v.url == url) {
            Some(v) => {
                v.width = v.width.or(c.width);
                v.density = v.density.or(c.density);
                v.media = v.media.take().or(c.media);
                v.mime = v.mime.take().or(c.mime);
            }
            None => {
                url_dims.push((url_w, url_h));
                variants.push(ImageVariant {
                    url,
                    width: c.width.or(url_w),
                    height: url_h.filter(|_| c.width.is_none() || c.width == url_w),
                    density: c.density,
                    media: c.media,
                    mime: c.mime,
                })
            }
        }
    }
    Resolved { variants, url_dims, raw_of, first_raw, reject }
}

/// Folds another sighting of the same image into a record: more variants, and context fields
/// the first sighting lacked.
pub(super) fn merge(record: &mut ImageRecord, more: Vec<ImageVariant>, ctx: ImageContext) {
    for v in more {
        if !record.variants.iter().any(|e| e.url == v.url) {
            record.variants.push(v);
        }
    }
    if let Some(best) = variants::best(&record.variants)
        && best.url != record.url
    {
        record.url = best.url.clone();
        record.context.filename_tokens = context::filename_tokens(&record.url);
    }
    let c = &mut record.context;
    for (mine, theirs) in [
        (&mut c.alt, ctx.alt),
        (&mut c.title, ctx.title),
        (&mut c.aria_label, ctx.aria_label),
        (&mut c.figcaption, ctx.figcaption),
        (&mut c.heading, ctx.heading),
        (&mut c.nearby_text, ctx.nearby_text),
    ] {
        if mine.is_empty() {
            *mine = theirs;
        }
    }
    c.link_href = c.link_href.take().or(ctx.link_href);
    c.declared_width = c.declared_width.or(ctx.declared_width);
    c.declared_height = c.declared_height.or(ctx.declared_height);
    c.lazy |= ctx.lazy;
}

/// Flags the images whose heading stands over more than [`super::HEADING_GROUP`] of them.
pub(super) fn mark_group_headings(records: &mut [ImageRecord]) {
    let mut under: FastMap<String, usize> = FastMap::default();
    for r in records.iter().filter(|r| !r.context.heading.is_empty()) {
        *under.entry(r.context.heading.clone()).or_default() += 1;
    }
    for r in records.iter_mut() {
        r.context.heading_over_many = under.get(&r.context.heading).is_some_and(|n| *n > super::HEADING_GROUP);
    }
}
