//! Junk filtering: images no person looks for (tracking pixels, spacers, icons, spinners,
//! template placeholders, tiny badges). Each rejection carries a reason code and is counted,
//! never silently dropped. When several reasons apply, the first in [`RejectReason`]'s order
//! is given.

use serde::{Deserialize, Serialize};
use url::Url;

/// Smallest declared side of a content image, in CSS pixels.
pub const MIN_SIDE: u32 = 50;
/// `data:` URIs shorter than this are placeholders (a 1x1 GIF is about 80 bytes).
pub const MIN_DATA_URI_BYTES: usize = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// 1x1 images and known beacon/analytics URLs.
    TrackingPixel,
    /// Unrendered template syntax (`[[=title]]`, `{{ src }}`) in the URL or alt.
    TemplatePlaceholder,
    /// A tiny `data:` URI standing in for a lazily loaded image.
    DataUriPlaceholder,
    /// A `data:` URI above the size cap.
    DataUriTooLarge,
    /// Spacer GIFs and blank images.
    Spacer,
    /// Loading spinners.
    Spinner,
    /// UI icons, sprites, favicons, emoji.
    Icon,
    /// Declared smaller than a content image can be.
    Tiny,
    /// A URL that does not resolve or is not http(s)/data.
    InvalidUrl,
    /// A source naming the page itself, as site mirrors and broken templates leave in `src`.
    NotAnImage,
    /// Past the per-page image limit.
    TooMany,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TrackingPixel => "tracking_pixel",
            Self::TemplatePlaceholder => "template_placeholder",
            Self::DataUriPlaceholder => "data_uri_placeholder",
            Self::DataUriTooLarge => "data_uri_too_large",
            Self::Spacer => "spacer",
            Self::Spinner => "spinner",
            Self::Icon => "icon",
            Self::Tiny => "tiny",
            Self::InvalidUrl => "invalid_url",
            Self::NotAnImage => "not_an_image",
            Self::TooMany => "too_many",
        }
    }
}

/// What the classifier looks at.
pub struct Facts<'a> {
    pub raw_url: &'a str,
    pub url: Option<&'a Url>,
    pub alt: &'a str,
    pub classes: &'a [String],
    pub declared_width: Option<u32>,
    pub declared_height: Option<u32>,
    /// Size the URL names (`-20x20.png`).
    pub url_width: Option<u32>,
    pub url_height: Option<u32>,
}

const TRACKER_HOSTS: &[&str] = &[
    "google-analytics.com",
    "googletagmanager.com",
    "doubleclick.net",
    "facebook.com/tr",
    "bat.bing.com",
    "analytics.twitter.com",
    "pixel.wp.com",
    "stats.wp.com",
    "sb.scorecardresearch.com",
    "quantserve.com",
];
const TRACKER_WORDS: &[&str] = &["pixel", "beacon", "tracking", "tracker", "1x1"];
const SPACER_FILES: &[&str] = &["spacer", "blank", "transparent", "clear", "s", "dot", "trans", "empty"];
const SPINNER_WORDS: &[&str] = &["loading", "loader", "spinner", "ajax-load", "preloader"];
const ICON_WORDS: &[&str] = &["icon", "icons", "sprite", "sprites", "favicon", "emoji", "smilies", "glyph"];

/// The reason an image is junk, or `None` for a content image.
pub fn classify(f: &Facts<'_>) -> Option<RejectReason> {
    let Some(url) = f.url else { return Some(RejectReason::InvalidUrl) };
    let declared_1x1 = matches!((f.declared_width, f.declared_height), (Some(w), Some(h)) if w <= 1 && h <= 1);
    let templated = |s: &str| {
        // Every mark starts with one of these bytes; most URLs and alts hold none of them.
        s.bytes().any(|b| matches!(b, b'[' | b']' | b'{' | b'}' | b'<' | b'$' | b'%')) && {
            let lower = s.to_ascii_lowercase();
            ["[[", "]]", "{{", "}}", "<%", "${", "%7b%7b", "%5b%5b"].iter().any(|t| lower.contains(t))
        }
    };
    if url.scheme() == "data" {
        // The payload is no file name or host: only the size and the markup tell.
        if declared_1x1 {
            return Some(RejectReason::TrackingPixel);
        }
        if templated(f.alt) {
            return Some(RejectReason::TemplatePlaceholder);
        }
        let len = f.raw_url.len();
        if len < MIN_DATA_URI_BYTES {
            return Some(RejectReason::DataUriPlaceholder);
        }
        if len > super::MAX_DATA_URI_BYTES {
            return Some(RejectReason::DataUriTooLarge);
        }
        return None;
    }
    // Host and path in one lowercased buffer (the URL parser has lowercased the host already).
    let host = url.host_str().unwrap_or("");
    let mut host_path = String::with_capacity(host.len() + url.path().len());
    host_path.push_str(host);
    host_path.push_str(url.path());
    host_path.make_ascii_lowercase();
    let path = &host_path[host.len()..];
    let file = path.rsplit('/').next().unwrap_or("");
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let words = || stem.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty());
    let segments = || path.split('/').filter(|s| !s.is_empty());

    if declared_1x1
        || TRACKER_HOSTS.iter().any(|t| host_path.contains(t))
        || words().any(|w| TRACKER_WORDS.contains(&w))
        || segments().next().is_some_and(|s| s == "px" || s == "beacon")
    {
        return Some(RejectReason::TrackingPixel);
    }
    if templated(f.raw_url) || templated(f.alt) {
        return Some(RejectReason::TemplatePlaceholder);
    }
    if url.scheme() != "http" && url.scheme() != "https" {
        return Some(RejectReason::InvalidUrl);
    }
    // Asset pipelines add a content hash (`blank-f2c3…75f.png`): the name is what precedes it
    // (the whole stem when there is none).
    let unhashed = stem
        .rsplit_once(['-', '.'])
        .filter(|(_, hash)| hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or(stem, |(name, _)| name);
    if SPACER_FILES.contains(&unhashed) || words().any(|w| w == "spacer") {
        return Some(RejectReason::Spacer);
    }
    if SPINNER_WORDS.iter().any(|w| stem.contains(w)) {
        return Some(RejectReason::Spinner);
    }
    let class_is_icon = f.classes.iter().any(|c| {
        let c = c.to_ascii_lowercase();
        ICON_WORDS.iter().any(|w| {
            c == *w
                || c.strip_prefix(w).is_some_and(|rest| rest.starts_with('-'))
                || c.strip_suffix(w).is_some_and(|rest| rest.ends_with('-'))
        })
    });
    if file.ends_with(".ico")
        || class_is_icon
        || segments().any(|s| ICON_WORDS.contains(&s))
        || words().any(|w| ICON_WORDS.contains(&w))
    {
        return Some(RejectReason::Icon);
    }
    let small = |d: Option<u32>| d.is_some_and(|n| n < MIN_SIDE);
    if small(f.declared_width) || small(f.declared_height) || small(f.url_width) || small(f.url_height) {
        return Some(RejectReason::Tiny);
    }
    None
}

/// Why an image whose real pixel size is known (it was fetched and read) is no content image: a
/// tracking pixel, or smaller than [`MIN_SIDE`] on a side — the bar declared sizes are held to.
/// Markup and URLs can hide both; the bytes cannot.
pub fn by_real_size(width: u32, height: u32) -> Option<RejectReason> {
    if width <= 1 && height <= 1 {
        Some(RejectReason::TrackingPixel)
    } else if width < MIN_SIDE || height < MIN_SIDE {
        Some(RejectReason::Tiny)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_sizes_below_the_bar_are_rejected() {
        assert_eq!(by_real_size(1, 1), Some(RejectReason::TrackingPixel));
        assert_eq!(by_real_size(16, 16), Some(RejectReason::Tiny));
        assert_eq!(by_real_size(1200, 30), Some(RejectReason::Tiny));
        assert_eq!(by_real_size(50, 50), None);
        assert_eq!(by_real_size(800, 600), None);
    }

    fn reason(raw: &str, alt: &str, classes: &[&str], declared: (Option<u32>, Option<u32>)) -> Option<RejectReason> {
        let base = Url::parse("http://site.test/page/").unwrap();
        let url = base.join(raw).ok();
        let classes: Vec<String> = classes.iter().map(|s| s.to_string()).collect();
        let (url_width, url_height) = url.as_ref().map(super::super::variants::url_dimensions).unwrap_or((None, None));
        classify(&Facts {
            raw_url: raw,
            url: url.as_ref(),
            alt,
            classes: &classes,
            declared_width: declared.0,
            declared_height: declared.1,
            url_width,
            url_height,
        })
    }

    #[test]
    fn each_reason_in_order_of_precedence() {
        let none = (None, None);
        assert_eq!(reason("/px/t.gif?p=1", "", &[], (Some(1), Some(1))), Some(RejectReason::TrackingPixel));
        assert_eq!(reason("/t/pixel.gif?ev=view", "", &[], none), Some(RejectReason::TrackingPixel));
        assert_eq!(
            reason("https://www.facebook.com/tr?id=1&ev=PageView", "", &[], none),
            Some(RejectReason::TrackingPixel)
        );
        assert_eq!(reason("[[=imageSrc]]", "[[=title]]", &[], none), Some(RejectReason::TemplatePlaceholder));
        assert_eq!(reason("/img/a.jpg", "{{ title }}", &[], none), Some(RejectReason::TemplatePlaceholder));
        assert_eq!(
            reason("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "", &[], none),
            Some(RejectReason::DataUriPlaceholder)
        );
        let big = format!("data:image/png;base64,{}", "A".repeat(40_000));
        assert_eq!(reason(&big, "", &[], none), Some(RejectReason::DataUriTooLarge));
        let fine = format!("data:image/png;base64,{}", "A".repeat(2_000));
        assert_eq!(reason(&fine, "a chart", &[], none), None);
        assert_eq!(reason("/static/spacer.gif", "", &[], (Some(10), Some(1))), Some(RejectReason::Spacer));
        assert_eq!(
            reason("/wp-content/plugins/x/tribe-loading.gif", "Loading Events", &[], none),
            Some(RejectReason::Spinner)
        );
        assert_eq!(reason("/icons/search.svg", "Search", &[], (Some(16), Some(16))), Some(RejectReason::Icon));
        assert_eq!(reason("/img/sprite.png", "", &["icon", "sprite"], none), Some(RejectReason::Icon));
        assert_eq!(reason("/themes/sage/assets/images/icons/facebook.png", "", &[], none), Some(RejectReason::Icon));
        assert_eq!(reason("/favicon.ico", "", &[], none), Some(RejectReason::Icon));
        assert_eq!(reason("/img/badge-3-20x20.png", "badge", &[], (Some(20), Some(20))), Some(RejectReason::Tiny));
        assert_eq!(reason("/img/star-16x16.png", "", &[], none), Some(RejectReason::Tiny));
        // One side under the bar is enough, as for declared sizes: thin logos and rules.
        assert_eq!(reason("/img/nyt-logo-185x26.png", "", &[], none), Some(RejectReason::Tiny));
        assert_eq!(reason("/img/ap_logo_75x27.png", "AP", &[], none), Some(RejectReason::Tiny));
        assert_eq!(reason("/cdn/thumb.jpg?w=30", "", &[], none), Some(RejectReason::Tiny));
        assert_eq!(reason("/img/harbour_1200x800.jpg", "harbour", &[], none), None);
        assert_eq!(reason("/assets/blank-f2c3362333e2a7a0.png", "", &[], none), Some(RejectReason::Spacer));
        assert_eq!(reason("/assets/harbour-f2c3362333e2a7a0.jpg", "", &[], none), None);
        assert_eq!(reason("javascript:alert(1)", "", &[], none), Some(RejectReason::InvalidUrl));
    }

    #[test]
    fn content_images_pass() {
        for (raw, classes, declared) in [
            ("/img/s42p3k1-1024x1536.png", vec![], (Some(512), Some(768))),
            ("/static/logo.png", vec!["site-logo"], (Some(240), Some(60))),
            ("/uploads/2018/04/reef-survey-150x150.jpg", vec!["attachment-thumbnail"], (None, None)),
            ("/photos/iconic-bridge.jpg", vec!["hero"], (None, None)),
            ("/img/pixelated-art-1200x800.jpg", vec![], (None, None)),
        ] {
            assert_eq!(reason(raw, "a real photo", &classes, declared), None, "{raw}");
        }
    }
}
