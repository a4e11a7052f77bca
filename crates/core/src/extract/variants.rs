//! Recognising the variants of one image: sizes named in URLs (`photo-800x600.jpg`, `?w=800`,
//! `/w_800,h_600/`), an identity key that ignores them, and the choice of the best variant.

use url::Url;

use super::ImageVariant;

/// Query parameters image CDNs use for size, crop, quality and format.
const SIZE_PARAMS: &[&str] = &[
    "w", "width", "h", "height", "resize", "size", "fit", "crop", "q", "quality", "auto", "fm", "format", "dpr",
    "strip", "sharp", "blur", "ar", "scale", "sz", "imwidth", "im", "f",
];

/// The width and height a URL names: a `-WxH` or `_WxH` suffix of the file stem (WordPress and
/// most CMSs; `logo_16x16.png`), `?w=`/`?width=` (and `h`), or a `w_`/`h_` path segment (Cloudinary-style).
pub fn url_dimensions(url: &Url) -> (Option<u32>, Option<u32>) {
    let path = url.path();
    let file = path.rsplit('/').next().unwrap_or("");
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    if let Some((w, h)) = stem.rsplit_once(['-', '_']).and_then(|(_, dims)| parse_wxh(dims)) {
        return (Some(w), Some(h));
    }
    let mut width = None;
    let mut height = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "w" | "width" | "imwidth" => width = width.or_else(|| v.parse().ok().filter(|&n: &u32| n > 0)),
            "h" | "height" => height = height.or_else(|| v.parse().ok().filter(|&n: &u32| n > 0)),
            _ => {}
        }
    }
    if width.is_none() {
        for segment in path.split('/').filter(|s| is_transform_segment(s)) {
            for part in segment.split(',') {
                if let Some(n) = part.strip_prefix("w_").and_then(|n| n.parse().ok()) {
                    width = Some(n);
                }
                if let Some(n) = part.strip_prefix("h_").and_then(|n| n.parse().ok()) {
                    height = Some(n);
                }
            }
        }
    }
    (width, height)
}

fn parse_wxh(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.split_once('x')?;
    let ok = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if !ok(w) || !ok(h) {
        return None;
    }
    Some((w.parse().ok().filter(|&n| n > 0)?, h.parse().ok().filter(|&n| n > 0)?))
}

/// `w_400,h_300,c_fill` style path segments of image CDNs.
fn is_transform_segment(segment: &str) -> bool {
    // Every part holds a `_`, so a segment without one is not (the common case, found by memchr).
    segment.contains('_')
        && segment.split(',').all(|part| {
            let mut it = part.splitn(2, '_');
            matches!((it.next(), it.next()), (Some(k), Some(v)) if (1..=2).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_lowercase()) && !v.is_empty())
        })
}

/// A URL as a map key: itself, except a `data:` URI, which is stood for by its length and a
/// hash (such keys may be kilobytes long).
pub fn short_key(url: &Url) -> std::borrow::Cow<'_, str> {
    let s = url.as_str();
    if url.scheme() != "data" || s.len() <= 128 {
        return std::borrow::Cow::Borrowed(s);
    }
    let hash = super::hash64(s.as_bytes());
    std::borrow::Cow::Owned(format!("data:{}:{hash:016x}", s.len()))
}

/// A key shared by every variant of one image: scheme, host and path without size suffixes,
/// transform segments or the file extension (CDNs convert formats), and the query without size
/// parameters.
pub fn identity_key(url: &Url) -> String {
    if url.scheme() == "data" {
        return short_key(url).into_owned();
    }
    let mut segments: Vec<&str> = url.path().split('/').filter(|s| !is_transform_segment(s)).collect();
    let file = segments.pop().unwrap_or("");
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let stem = match stem.rsplit_once('-') {
        Some((base, dims)) if parse_wxh(dims).is_some() => base,
        _ => stem.strip_suffix("@2x").or_else(|| stem.strip_suffix("@3x")).unwrap_or(stem),
    };
    if url.query().is_none_or(str::is_empty) {
        return format!("{}://{}{}/{stem}?", url.scheme(), url.host_str().unwrap_or(""), segments.join("/"));
    }
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !SIZE_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}://{}{}/{stem}?{}", url.scheme(), url.host_str().unwrap_or(""), segments.join("/"), query.join("&"))
}

/// The best variant: the widest known, then the highest density, then the first.
pub fn best(variants: &[ImageVariant]) -> Option<&ImageVariant> {
    best_index(variants).map(|i| &variants[i])
}

/// Where [`best`] is in `variants`.
pub fn best_index(variants: &[ImageVariant]) -> Option<usize> {
    let key = |v: &ImageVariant| (v.width.unwrap_or(0), v.density.unwrap_or(1.0));
    variants
        .iter()
        .enumerate()
        .max_by(|(ia, a), (ib, b)| {
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1)).then(ib.cmp(ia))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn v(url: &str, width: Option<u32>, density: Option<f64>) -> ImageVariant {
        ImageVariant { url: u(url), width, height: None, density, media: None, mime: None }
    }

    #[test]
    fn dimensions_from_names_queries_and_segments() {
        assert_eq!(url_dimensions(&u("http://h/a/photo-1024x768.jpg")), (Some(1024), Some(768)));
        assert_eq!(url_dimensions(&u("http://h/a/photo.jpg?w=640&h=480")), (Some(640), Some(480)));
        assert_eq!(url_dimensions(&u("http://h/image/upload/w_400,h_300,c_fill/pic.jpg")), (Some(400), Some(300)));
        assert_eq!(url_dimensions(&u("http://h/a/ob_logo_16x16.png")), (Some(16), Some(16)));
        assert_eq!(url_dimensions(&u("http://h/a/x-large.jpg")), (None, None));
        assert_eq!(url_dimensions(&u("http://h/a/2019-12x.jpg")), (None, None));
    }

    #[test]
    fn variants_of_one_image_share_a_key_and_others_do_not() {
        let k = identity_key(&u("http://h/up/photo-1024x768.jpg"));
        assert_eq!(k, identity_key(&u("http://h/up/photo-300x225.webp")));
        assert_eq!(k, identity_key(&u("http://h/up/photo.jpg")));
        assert_eq!(
            identity_key(&u("http://h/c/x.jpg?w=400&id=7")),
            identity_key(&u("http://h/c/x.jpg?id=7&w=800&fm=webp"))
        );
        assert_eq!(
            identity_key(&u("http://h/i/upload/w_400/p.jpg")),
            identity_key(&u("http://h/i/upload/w_800,h_600/p.jpg"))
        );
        assert_eq!(identity_key(&u("http://h/a/logo@2x.png")), identity_key(&u("http://h/a/logo.png")));
        assert_ne!(k, identity_key(&u("http://h/up/photo2-1024x768.jpg")));
        assert_ne!(identity_key(&u("http://h/c/x.jpg?id=7")), identity_key(&u("http://h/c/x.jpg?id=8")));
    }

    #[test]
    fn the_widest_then_densest_then_first_is_best() {
        let vs = [v("http://h/a-400x300.jpg", Some(400), None), v("http://h/a-800x600.jpg", Some(800), None)];
        assert_eq!(best(&vs).unwrap().url.as_str(), "http://h/a-800x600.jpg");
        let vs = [v("http://h/a.jpg", None, Some(1.0)), v("http://h/a@2x.jpg", None, Some(2.0))];
        assert_eq!(best(&vs).unwrap().url.as_str(), "http://h/a@2x.jpg");
        let vs = [v("http://h/a.jpg", None, None), v("http://h/b.jpg", None, None)];
        assert_eq!(best(&vs).unwrap().url.as_str(), "http://h/a.jpg");
        assert!(best(&[]).is_none());
    }
}
