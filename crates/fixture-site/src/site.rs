//! Generated sites: N pages of realistic image markup, built on demand from (seed, page), so a
//! 50,000-page site costs nothing until it is crawled. The HTML and its ground truth come from
//! the same code path, so they cannot disagree.

use std::collections::VecDeque;
use std::fmt::Write as _;

use crate::captions::Captions;
use crate::rng::Rng;
use crate::truth::{Markup, PageTruth, RejectReason, TruthImage, TruthReject};

pub const MAX_PAGES: u32 = 50_000;
/// Children per page in the link tree; with random cross-links the depth stays logarithmic.
pub const FANOUT: u32 = 6;
pub const LOGO_PATH: &str = "/static/logo.png";
pub const LOGO_ALT: &str = "Fixture Site logo";
/// Images shared between many pages (related content), so cross-page dedup has work to do.
pub const POOL_SIZE: u64 = 24;
const DATA_GIF: &str = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
const DATA_SVG: &str =
    "data:image/svg+xml,%3Csvg%20xmlns='http://www.w3.org/2000/svg'%20viewBox='0%200%203%202'%3E%3C/svg%3E";

const CONTENT_MARKUPS: [Markup; 11] = [
    Markup::Img,
    Markup::SrcsetWidths,
    Markup::Picture,
    Markup::LazyDataSrc,
    Markup::Figure,
    Markup::SrcsetDensities,
    Markup::VideoPoster,
    Markup::LazyDataLazySrc,
    Markup::CssInline,
    Markup::LazyDataSrcset,
    Markup::CssStyleBlock,
];

// Separate random streams per concern, so adding an image never changes a page's links.
const STREAM_LINKS: u64 = 1;
const STREAM_IMAGES: u64 = 2;
const STREAM_TEXT: u64 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteSpec {
    pub pages: u32,
    pub seed: u64,
    /// Link the misbehaving `/trap/` endpoints from the home page.
    pub traps: bool,
}

impl Default for SiteSpec {
    fn default() -> Self {
        Self { pages: 100, seed: 42, traps: false }
    }
}

#[derive(Clone, Debug)]
pub struct GeneratedSite {
    spec: SiteSpec,
    captions: Captions,
}

/// One image being written: its truth and the markup that shows it.
struct Placed {
    truth: TruthImage,
    html: String,
    /// A CSS rule the page's `<style>` must carry for this image.
    css: Option<String>,
}

impl GeneratedSite {
    pub fn new(spec: SiteSpec, captions: Captions) -> Result<Self, String> {
        if spec.pages == 0 || spec.pages > MAX_PAGES {
            return Err(format!("pages must be between 1 and {MAX_PAGES}, got {}", spec.pages));
        }
        Ok(Self { spec, captions })
    }

    pub fn spec(&self) -> SiteSpec {
        self.spec
    }

    pub fn captions(&self) -> &Captions {
        &self.captions
    }

    /// Pages reachable by links from the home page; the rest are orphans listed only in the
    /// sitemap.
    pub fn linked_pages(&self) -> u32 {
        let orphans = if self.spec.pages >= 50 { self.spec.pages / 50 } else { 0 };
        self.spec.pages - orphans
    }

    /// Every 37th page (from page 5) asks not to be indexed.
    pub fn is_noindex(index: u32) -> bool {
        index % 37 == 5
    }

    pub fn page_path(index: u32) -> String {
        if index == 0 { "/".to_string() } else { format!("/page/{index}") }
    }

    /// The page a request path names: `/`, `/index.html`, `/page/7` or `/page/7/`.
    pub fn page_index(&self, path: &str) -> Option<u32> {
        let index = match path {
            "/" | "/index.html" => 0,
            _ => {
                let n = path.strip_prefix("/page/")?;
                let n = n.strip_suffix('/').unwrap_or(n);
                if n.starts_with('0') || n.starts_with('+') {
                    return None;
                }
                n.parse().ok()?
            }
        };
        (index < self.spec.pages).then_some(index)
    }

    /// Indexes of the pages that page `index` links to (redirects resolved), in link order.
    pub fn links(&self, index: u32) -> Vec<u32> {
        let linked = self.linked_pages();
        if index >= linked {
            return vec![0];
        }
        let mut rng = Rng::derive(self.spec.seed, u64::from(index), STREAM_LINKS);
        let mut out = vec![0];
        out.extend((1..=4).filter(|&n| n < linked));
        if index > 0 {
            out.push((index - 1) / FANOUT);
        }
        let first_child = u64::from(index) * u64::from(FANOUT) + 1;
        out.extend((first_child..first_child + u64::from(FANOUT)).filter(|&c| c < u64::from(linked)).map(|c| c as u32));
        for _ in 0..2 {
            out.push(rng.below(u64::from(linked)) as u32);
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|p| *p != index && seen.insert(*p));
        out
    }

    /// Link depth of every page from the home page (breadth-first); `None` for orphans.
    pub fn depths(&self) -> Vec<Option<u32>> {
        let mut depth = vec![None; self.spec.pages as usize];
        depth[0] = Some(0);
        let mut queue = VecDeque::from([0u32]);
        while let Some(page) = queue.pop_front() {
            let d = depth[page as usize].unwrap_or(0);
            for next in self.links(page) {
                if depth[next as usize].is_none() {
                    depth[next as usize] = Some(d + 1);
                    queue.push_back(next);
                }
            }
        }
        depth
    }

    pub fn render(&self, index: u32, origin: &str) -> Option<String> {
        (index < self.spec.pages).then(|| self.build(index, origin).0)
    }

    pub fn truth(&self, index: u32) -> Option<PageTruth> {
        (index < self.spec.pages).then(|| self.build(index, "http://fixture.invalid").1)
    }

    pub fn all_truth(&self) -> Vec<PageTruth> {
        (0..self.spec.pages).filter_map(|i| self.truth(i)).collect()
    }

    pub fn robots_txt(&self, origin: &str) -> String {
        format!(
            "# Fixture site robots.txt\nUser-agent: *\nDisallow: /private/\nAllow: /private/public-note\n\n\
             User-agent: BadBot\nDisallow: /\n\nSitemap: {origin}/sitemap.xml\n"
        )
    }

    /// Number of child sitemaps behind `/sitemap.xml`.
    pub fn sitemap_count(&self) -> u32 {
        self.spec.pages.div_ceil(SITEMAP_CHUNK)
    }

    /// `/sitemap.xml`: a sitemap index, as large sites publish.
    pub fn sitemap_index(&self, origin: &str) -> String {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
        );
        for k in 0..self.sitemap_count() {
            let _ = writeln!(xml, "  <sitemap><loc>{origin}/sitemaps/pages-{k}.xml</loc></sitemap>");
        }
        xml.push_str("</sitemapindex>\n");
        xml
    }

    /// `/sitemaps/pages-{k}.xml`: the canonical URLs of one chunk of pages.
    pub fn sitemap(&self, chunk: u32, origin: &str) -> Option<String> {
        if chunk >= self.sitemap_count() {
            return None;
        }
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
        );
        let start = chunk * SITEMAP_CHUNK;
        for i in start..(start + SITEMAP_CHUNK).min(self.spec.pages) {
            let _ = writeln!(xml, "  <url><loc>{origin}{}</loc></url>", Self::page_path(i));
        }
        xml.push_str("</urlset>\n");
        Some(xml)
    }

    /// A page robots.txt forbids: a crawler that ignores robots.txt finds its image.
    pub fn private_page(&self, key: &str) -> String {
        let key = esc(key);
        format!(
            "<!DOCTYPE html><html><head><title>Private {key}</title></head><body><h1>Private</h1>\
             <img src=\"/img/private-{key}-800x600.jpg\" alt=\"a private image robots.txt forbids\"></body></html>"
        )
    }

    fn caption(&self, rng: &mut Rng) -> String {
        self.captions.get(rng.next_u64()).to_string()
    }

    fn build(&self, index: u32, origin: &str) -> (String, PageTruth) {
        let seed = self.spec.seed;
        let mut text_rng = Rng::derive(seed, u64::from(index), STREAM_TEXT);
        let mut rng = Rng::derive(seed, u64::from(index), STREAM_IMAGES);
        let path = Self::page_path(index);
        let title = sentence_case(&self.caption(&mut text_rng));

        let mut placed = vec![logo()];
        let og = og_image(seed, index, &title);
        let content_count = 3 + rng.below(4) as usize;
        for k in 0..content_count {
            let markup = CONTENT_MARKUPS[(index as usize * 7 + k) % CONTENT_MARKUPS.len()];
            placed.push(self.content_image(&mut rng, markup, &format!("s{seed}p{index}k{k}")));
        }
        if rng.chance(40) {
            let k = rng.below(POOL_SIZE);
            let alt = self.captions.get(seed.wrapping_add(k).wrapping_mul(7919)).to_string();
            let url = format!("/img/pool-s{seed}-{k}-1200x800.jpg");
            let html = format!("<img src=\"{url}\" alt=\"{}\" width=\"600\" height=\"400\">", esc(&alt));
            placed.push(Placed {
                truth: image(url, vec![], &alt, &alt, Markup::Img, 1200, 800, true),
                html,
                css: None,
            });
        }
        let (junk_html, rejected) = junk(&mut rng, index);

        let mut html = String::with_capacity(16 * 1024);
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{t} | Fixture Site</title>\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"description\" content=\"{t}\">\n\
             <link rel=\"canonical\" href=\"{origin}{path}\">\n\
             <meta property=\"og:title\" content=\"{t}\">\n\
             <meta property=\"og:image\" content=\"{origin}{og}\">\n\
             <meta name=\"twitter:image\" content=\"{origin}{og}\">\n",
            t = esc(&title),
            og = og.url,
        );
        if Self::is_noindex(index) {
            html.push_str("<meta name=\"robots\" content=\"noindex, follow\">\n");
        }
        let css: Vec<&str> = placed.iter().filter_map(|p| p.css.as_deref()).collect();
        if !css.is_empty() {
            let _ = writeln!(html, "<style>\n{}\n</style>", css.join("\n"));
        }
        html.push_str("</head>\n<body>\n<header class=\"site-header\">\n");
        let _ = writeln!(html, "<a href=\"/\" class=\"brand\">{}</a>", placed[0].html);
        html.push_str(&junk_html.header);
        html.push_str("<nav>");
        for (n, target) in self.links(index).iter().take(5).enumerate() {
            let _ = write!(html, "<a href=\"{}\">Section {n}</a> ", self.href(&mut text_rng, *target, origin));
        }
        let _ = write!(html, "</nav>\n</header>\n<main>\n<article>\n<h1>{}</h1>\n", esc(&title));
        html.push_str(&junk_html.body);
        for (k, p) in placed.iter().enumerate().skip(1) {
            let heading = sentence_case(&first_words(&self.caption(&mut text_rng), 5));
            let before = sentence_case(&self.caption(&mut text_rng));
            let after = sentence_case(&self.caption(&mut text_rng));
            let _ = write!(
                html,
                "<section id=\"section-{k}\">\n<h2>{}</h2>\n<p>{}. Read more about it below.</p>\n{}\n<p>{}.</p>\n</section>\n",
                esc(&heading),
                esc(&before),
                p.html,
                esc(&after)
            );
        }
        html.push_str("</article>\n<aside class=\"related\">\n<h2>Related pages</h2>\n<ul>\n");
        for target in self.links(index).iter().skip(5) {
            let _ = writeln!(
                html,
                "<li><a href=\"{}\">{}</a></li>",
                self.href(&mut text_rng, *target, origin),
                esc(&first_words(&self.caption(&mut text_rng), 4))
            );
        }
        html.push_str(&self.odd_links(&mut text_rng, index));
        html.push_str("</ul>\n</aside>\n</main>\n<footer>\n");
        html.push_str(&junk_html.footer);
        if self.spec.traps && index == 0 {
            html.push_str("<a href=\"/trap/\">Robustness traps</a>\n");
        }
        html.push_str("<p>&copy; Fixture Site</p>\n</footer>\n</body>\n</html>\n");

        let mut images: Vec<TruthImage> = placed.into_iter().map(|p| p.truth).collect();
        images.push(og.truth);
        let truth = PageTruth {
            index,
            path,
            title,
            images,
            rejected,
            links_to: self.links(index),
            orphan: index >= self.linked_pages(),
            noindex: Self::is_noindex(index),
        };
        (html, truth)
    }

    /// One of the many ways real pages write the same link, so a crawler's URL normalization is
    /// exercised: fragments, tracking parameters, trailing slashes, absolute and relative forms,
    /// and redirects.
    fn href(&self, rng: &mut Rng, target: u32, origin: &str) -> String {
        let path = Self::page_path(target);
        match rng.below(10) {
            0 => format!("{path}#top"),
            1 => format!("{path}?utm_source=fixture&amp;utm_medium=link"),
            2 if target != 0 => format!("{path}/"),
            3 => format!("{origin}{path}"),
            4 if target != 0 => format!("../page/{target}"),
            5 if target != 0 => format!("/go/{target}"),
            6 if target != 0 => format!("/moved/{target}"),
            _ => path,
        }
    }

    /// Links a crawler must not follow or must survive: broken, off-site, robots-disallowed and
    /// non-HTTP ones.
    fn odd_links(&self, rng: &mut Rng, index: u32) -> String {
        let mut out = String::new();
        if rng.chance(50) {
            let _ = writeln!(out, "<li><a href=\"/missing/{index}\">An old page</a></li>");
        }
        if rng.chance(40) {
            let _ = writeln!(out, "<li><a href=\"/private/{index}\">Staff only</a></li>");
        }
        if rng.chance(30) {
            let _ = writeln!(out, "<li><a href=\"http://elsewhere.invalid/page/{index}\">Partner site</a></li>");
        }
        if rng.chance(20) {
            out.push_str("<li><a href=\"mailto:team@fixture.invalid\">Write to us</a> <a href=\"javascript:void(0)\">Menu</a> <a href=\"tel:+10000000000\">Call</a></li>\n");
        }
        out
    }

    fn content_image(&self, rng: &mut Rng, markup: Markup, id: &str) -> Placed {
        const WIDTHS: [u32; 5] = [800, 1024, 1200, 1600, 2048];
        const ASPECTS: [(u32, u32); 5] = [(4, 3), (3, 2), (16, 9), (1, 1), (2, 3)];
        let w = *rng.pick(&WIDTHS);
        let (aw, ah) = *rng.pick(&ASPECTS);
        let h = w * ah / aw;
        let ext = if rng.chance(25) { "png" } else { "jpg" };
        let alt = self.caption(rng);
        let at = |div: u32, ext: &str| format!("/img/{id}-{}x{}.{ext}", w / div, h / div);
        let (best, half, quarter) = (at(1, ext), at(2, ext), at(4, ext));
        let (dw, dh) = (w / 2, h / 2);
        let a = esc(&alt);
        let mk = |variants: Vec<String>, alt: &str, text: &str, url: String, html: String| Placed {
            truth: image(url, variants, alt, text, markup, w, h, false),
            html,
            css: None,
        };
        match markup {
            Markup::Img => {
                let title =
                    if rng.chance(30) { format!(" title=\"{}\"", esc(&self.caption(rng))) } else { String::new() };
                let html =
                    format!("<img src=\"{best}\" alt=\"{a}\"{title} width=\"{dw}\" height=\"{dh}\" loading=\"lazy\">");
                mk(vec![], &alt, &alt, best, html)
            }
            Markup::SrcsetWidths => {
                let html = format!(
                    "<img src=\"{half}\" srcset=\"{quarter} {}w, {half} {}w, {best} {w}w\" sizes=\"(max-width: 600px) 100vw, 50vw\" alt=\"{a}\" width=\"{dw}\" height=\"{dh}\">",
                    w / 4,
                    w / 2
                );
                mk(vec![quarter, half], &alt, &alt, best, html)
            }
            Markup::SrcsetDensities => {
                let html = format!("<img src=\"{half}\" srcset=\"{half} 1x, {best} 2x\" alt=\"{a}\">");
                mk(vec![half], &alt, &alt, best, html)
            }
            Markup::Picture => {
                let (webp_best, webp_half, fallback) = (at(1, "webp"), at(2, "webp"), at(2, "jpg"));
                let html = format!(
                    "<picture>\n<source type=\"image/webp\" srcset=\"{webp_half} 1x, {webp_best} 2x\">\n\
                     <source media=\"(max-width: 600px)\" srcset=\"{small}\">\n<img src=\"{fallback}\" alt=\"{a}\">\n</picture>",
                    small = at(4, "jpg"),
                );
                mk(vec![webp_half, at(4, "jpg"), fallback], &alt, &alt, webp_best, html)
            }
            Markup::LazyDataSrc => {
                let html = format!("<img class=\"lazyload\" src=\"{DATA_GIF}\" data-src=\"{best}\" alt=\"{a}\">");
                mk(vec![], &alt, &alt, best, html)
            }
            Markup::LazyDataLazySrc => {
                let html = format!(
                    "<img src=\"{DATA_SVG}\" data-lazy-src=\"{best}\" alt=\"{a}\" width=\"{dw}\" height=\"{dh}\">\
                     <noscript><img src=\"{best}\" alt=\"{a}\" width=\"{dw}\" height=\"{dh}\"></noscript>"
                );
                mk(vec![], &alt, &alt, best, html)
            }
            Markup::LazyDataSrcset => {
                let html = format!(
                    "<img class=\"lazyload\" data-src=\"{half}\" data-srcset=\"{half} {}w, {best} {w}w\" data-sizes=\"auto\" alt=\"{a}\">",
                    w / 2
                );
                mk(vec![half], &alt, &alt, best, html)
            }
            Markup::Figure => {
                let caption = sentence_case(&self.caption(rng));
                let img_alt = if rng.chance(50) { alt.clone() } else { String::new() };
                let html = format!(
                    "<figure>\n<img src=\"{best}\" alt=\"{}\">\n<figcaption>{}</figcaption>\n</figure>",
                    esc(&img_alt),
                    esc(&caption)
                );
                let text = if img_alt.is_empty() { caption } else { img_alt.clone() };
                mk(vec![], &img_alt, &text, best, html)
            }
            Markup::VideoPoster => {
                let html = format!(
                    "<video controls preload=\"none\" poster=\"{best}\" aria-label=\"{a}\" width=\"640\" height=\"360\">\
                     <source src=\"/media/{id}.mp4\" type=\"video/mp4\"></video>"
                );
                mk(vec![], "", &alt, best, html)
            }
            Markup::CssInline => {
                let html = if rng.chance(50) {
                    format!(
                        "<div class=\"hero\" role=\"img\" aria-label=\"{a}\" style=\"background-image: url('{best}'); min-height: 240px\"></div>"
                    )
                } else {
                    format!("<div class=\"hero\" style=\"background-image:url({best})\"><h3>{a}</h3></div>")
                };
                mk(vec![], "", &alt, best, html)
            }
            Markup::CssStyleBlock => {
                let class = format!("banner-{id}");
                let css = format!(".{class} {{ background-image: url(\"{best}\"); background-size: cover; }}");
                let html = format!("<div class=\"banner {class}\"><p>{a}</p></div>");
                Placed { css: Some(css), ..mk(vec![], "", &alt, best, html) }
            }
            Markup::OgImage | Markup::Logo => unreachable!("not a content markup"),
        }
    }
}

pub const SITEMAP_CHUNK: u32 = 1_000;

fn logo() -> Placed {
    Placed {
        truth: image(LOGO_PATH.to_string(), vec![], LOGO_ALT, LOGO_ALT, Markup::Logo, 240, 60, true),
        html: format!("<img src=\"{LOGO_PATH}\" alt=\"{LOGO_ALT}\" width=\"240\" height=\"60\" class=\"site-logo\">"),
        css: None,
    }
}

struct OgImage {
    url: String,
    truth: TruthImage,
}

fn og_image(seed: u64, index: u32, title: &str) -> OgImage {
    let url = format!("/img/og-s{seed}p{index}-1200x630.jpg");
    OgImage { truth: image(url.clone(), vec![], "", title, Markup::OgImage, 1200, 630, false), url }
}

#[allow(clippy::too_many_arguments)]
fn image(
    url: String,
    others: Vec<String>,
    alt: &str,
    text: &str,
    markup: Markup,
    width: u32,
    height: u32,
    repeated: bool,
) -> TruthImage {
    let mut variants = others;
    variants.push(url.clone());
    variants.sort();
    variants.dedup();
    TruthImage { url, variants, alt: alt.to_string(), text: text.to_string(), markup, width, height, repeated }
}

struct JunkHtml {
    header: String,
    body: String,
    footer: String,
}

/// The image-like elements a person never looks at, each with the reason an extractor must give.
fn junk(rng: &mut Rng, index: u32) -> (JunkHtml, Vec<TruthReject>) {
    let mut rejected = Vec::new();
    let mut reject = |url: &str, reason| rejected.push(TruthReject { url: url.to_string(), reason });
    let header = "<img src=\"/icons/search.svg\" alt=\"Search\" width=\"16\" height=\"16\">\n\
                  <img src=\"/icons/sprite.png\" class=\"icon sprite\" alt=\"\">\n"
        .to_string();
    reject("/icons/search.svg", RejectReason::Icon);
    reject("/icons/sprite.png", RejectReason::Icon);

    let mut body = String::new();
    if rng.chance(40) {
        body.push_str("<img src=\"/static/spacer.gif\" width=\"10\" height=\"1\" alt=\"\">\n");
        reject("/static/spacer.gif", RejectReason::Spacer);
    }
    if rng.chance(30) {
        body.push_str("<img src=\"[[=imageSrc]]\" alt=\"[[=title]]\" title=\"[[=title]]\">\n");
        reject("[[=imageSrc]]", RejectReason::TemplatePlaceholder);
    }
    if rng.chance(30) {
        let _ = writeln!(body, "<img src=\"{DATA_GIF}\" alt=\"\">");
        reject(DATA_GIF, RejectReason::DataUriPlaceholder);
    }
    if rng.chance(25) {
        let url = format!("/img/badge-{index}-20x20.png");
        let _ = writeln!(body, "<img src=\"{url}\" width=\"20\" height=\"20\" alt=\"verified badge\">");
        reject(&url, RejectReason::Tiny);
    }

    let pixel = format!("/px/t.gif?p={index}");
    let mut footer = format!("<img src=\"{pixel}\" width=\"1\" height=\"1\" alt=\"\" style=\"position:absolute\">\n");
    reject(&pixel, RejectReason::TrackingPixel);
    if rng.chance(30) {
        let url = format!("/t/pixel.gif?ev=view&p={index}");
        let _ = writeln!(footer, "<img src=\"{}\" alt=\"\">", url.replace('&', "&amp;"));
        reject(&url, RejectReason::TrackingPixel);
    }
    (JunkHtml { header, body, footer }, rejected)
}

/// Escapes text for HTML content and double-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn sentence_case(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn first_words(text: &str, n: usize) -> String {
    text.split_whitespace().take(n).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[path = "site_tests.rs"]
mod tests;
