//! Ground truth of a generated site: which images each page holds and which of its image-like
//! elements an extractor must reject, with the reason.
//!
//! Paths are site-relative (`/img/…`); join them with the server's origin to compare with what a
//! crawler found. When several reject reasons apply, the first in [`RejectReason`]'s order is
//! the expected one.

use serde::{Deserialize, Serialize};

/// How an image appears in the page's markup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Markup {
    /// `<img src alt title width height>`.
    Img,
    /// `<img srcset="… 320w, … 640w" sizes>`.
    SrcsetWidths,
    /// `<img srcset="… 1x, … 2x">`.
    SrcsetDensities,
    /// `<picture><source type media srcset>…<img></picture>`.
    Picture,
    /// `<img src=placeholder data-src>`.
    LazyDataSrc,
    /// `<img data-lazy-src>` with a `<noscript><img src></noscript>` fallback.
    LazyDataLazySrc,
    /// `<img data-srcset data-src>`.
    LazyDataSrcset,
    /// `<figure><img><figcaption>`.
    Figure,
    /// `<video poster>`.
    VideoPoster,
    /// `style="background-image: url(…)"`.
    CssInline,
    /// A `<style>` rule's `background-image: url(…)`.
    CssStyleBlock,
    /// `<meta property="og:image">` (and `twitter:image`, same URL).
    OgImage,
    /// The site logo, the same on every page.
    Logo,
}

/// Why an image-like element is not a content image, in order of precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// 1x1 or a known beacon path.
    TrackingPixel,
    /// Unrendered template syntax such as `[[=title]]` in src or alt.
    TemplatePlaceholder,
    /// A `data:` URI placeholder with no real source behind it.
    DataUriPlaceholder,
    /// Transparent spacer GIFs.
    Spacer,
    /// UI icons and sprites (by path, class or tiny square size).
    Icon,
    /// Declared smaller than a content image can be (e.g. 20x20 badges).
    Tiny,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthImage {
    /// The best (largest) variant.
    pub url: String,
    /// Every URL of this image in the page, the best one included, sorted.
    pub variants: Vec<String>,
    /// The `alt` attribute ("" when absent or empty).
    pub alt: String,
    /// The words a person reads with the image: the alt, else its caption or label.
    pub text: String,
    pub markup: Markup,
    /// Pixel size of the best variant as the server sends it.
    pub width: u32,
    pub height: u32,
    /// The same image appears on (almost) every page: the logo, related-content images.
    pub repeated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthReject {
    pub url: String,
    pub reason: RejectReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageTruth {
    /// Page index in the site.
    pub index: u32,
    /// Canonical path of the page.
    pub path: String,
    pub title: String,
    pub images: Vec<TruthImage>,
    pub rejected: Vec<TruthReject>,
    /// Indexes of the generated pages this page links to (redirects resolved).
    pub links_to: Vec<u32>,
    /// Reachable only through the sitemap.
    pub orphan: bool,
    /// Carries `<meta name="robots" content="noindex, follow">`: a crawler keeps none of its
    /// images but follows its links.
    pub noindex: bool,
}
