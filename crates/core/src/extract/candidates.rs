//! One walk over the parsed document in order: every image source, link and page fact, then
//! URL resolution, junk filtering and grouping of variants.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::junk::{self, Facts, RejectReason};
use super::variants::{self, url_dimensions};
use super::{
    ImageContext, ImageRecord, ImageSource, ImageVariant, MAX_IMAGES_PER_PAGE, MAX_LINKS_PER_PAGE, MetaRobots, PageImages,
    RejectedImage, clean_text, context, css, jsonld, srcset,
};

/// Attributes lazy-loading libraries put the real source in.
const LAZY_SRC: &[&str] = &["data-src", "data-lazy-src", "data-original", "data-lazy", "data-url"];
const LAZY_SRCSET: &[&str] = &["data-srcset", "data-lazy-srcset"];
/// Attributes some themes put background images in.
const BG_ATTRS: &[&str] = &["data-bg", "data-background", "data-bg-src", "data-background-image"];
/// Stylesheet rules with images looked at per page.
const MAX_STYLE_RULES: usize = 200;

/// A source of an image before resolution.
struct Cand {
    raw: String,
    width: Option<u32>,
    density: Option<f64>,
    media: Option<String>,
    mime: Option<String>,
}

impl Cand {
    fn plain(raw: &str) -> Self {
        Self { raw: raw.to_string(), width: None, density: None, media: None, mime: None }
    }
}

/// An image as found, before resolution and filtering.
struct Raw {
    source: ImageSource,
    cands: Vec<Cand>,
    ctx: ImageContext,
}

pub(super) struct Walker<'a> {
    doc: &'a Html,
    page: &'a Url,
    base: Url,
    title: String,
    heading: String,
    raws: Vec<Raw>,
    links: Vec<Url>,
    link_seen: HashSet<String>,
    canonical: Option<Url>,
    robots: MetaRobots,
    /// `og:title`, the words of the page's share image.
    og_title: String,
}

fn selector(cell: &'static OnceLock<Selector>, css: &str) -> &'static Selector {
    cell.get_or_init(|| Selector::parse(css).expect("a valid built-in selector"))
}

impl<'a> Walker<'a> {
    pub(super) fn new(doc: &'a Html, page: &'a Url) -> Self {
        static BASE: OnceLock<Selector> = OnceLock::new();
        static TITLE: OnceLock<Selector> = OnceLock::new();
        let base = doc
            .select(selector(&BASE, "base[href]"))
            .next()
            .and_then(|b| b.value().attr("href"))
            .and_then(|h| page.join(h.trim()).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or_else(|| page.clone());
        let title = doc.select(selector(&TITLE, "title")).next().map(|t| clean_text(t.text())).unwrap_or_default();
        Self {
            doc,
            page,
            base,
            title,
            heading: String::new(),
            raws: Vec::new(),
            links: Vec::new(),
            link_seen: HashSet::new(),
            canonical: None,
            robots: MetaRobots::default(),
            og_title: String::new(),
        }
    }

    pub(super) fn run(mut self) -> PageImages {
        for edge in self.doc.tree.root().traverse() {
            match edge {
                Edge::Open(node) => {
                    if let Some(el) = ElementRef::wrap(node) {
                        self.open(el);
                    }
                }
                Edge::Close(node) => {
                    if let Some(el) = ElementRef::wrap(node) {
                        if matches!(el.value().name(), "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
                            self.heading = clean_text(el.text());
                        }
                    }
                }
            }
        }
        self.finish()
    }

    fn ctx(&self, attrs: ElementRef<'_>, anchor: ElementRef<'_>) -> ImageContext {
        context::build(self.doc, attrs, anchor, &self.title, &self.heading)
    }

    fn push(&mut self, source: ImageSource, cands: Vec<Cand>, ctx: ImageContext) {
        if !cands.is_empty() {
            self.raws.push(Raw { source, cands, ctx });
        }
    }

    fn open(&mut self, el: ElementRef<'a>) {
        let v = el.value();
        match v.name() {
            "a" | "area" => {
                if let Some(href) = v.attr("href") {
                    self.link(href);
                }
            }
            "img" => self.img(el, el),
            "video" => {
                if let Some(poster) = v.attr("poster").filter(|p| !p.trim().is_empty()) {
                    let ctx = self.ctx(el, el);
                    self.push(ImageSource::VideoPoster, vec![Cand::plain(poster)], ctx);
                }
            }
            "input" if v.attr("type").is_some_and(|t| t.eq_ignore_ascii_case("image")) => {
                if let Some(src) = v.attr("src") {
                    let ctx = self.ctx(el, el);
                    self.push(ImageSource::InputImage, vec![Cand::plain(src)], ctx);
                }
            }
            // SVG <image href> / <image xlink:href>: the attribute may be namespaced.
            "image" => {
                if let Some((_, href)) = v.attrs().find(|(name, _)| *name == "href") {
                    let ctx = self.ctx(el, el);
                    self.push(ImageSource::SvgImage, vec![Cand::plain(href)], ctx);
                }
            }
            "meta" => self.meta(el),
            "link" => self.link_element(el),
            "noscript" => self.embedded_html(el),
            // Client-side templates (`<script type="text/html">`): their images show up once
            // rendered; unrendered placeholders among them are rejected, and counted.
            "script" if v.attr("type").is_some_and(is_template_type) => self.embedded_html(el),
            "style" => self.stylesheet(el),
            "script" if v.attr("type").is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) => {
                let text: String = el.text().collect();
                for (url, caption) in jsonld::image_urls(&text) {
                    let ctx = ImageContext { title: clean_text([caption.as_str()]), ..self.ctx(el, el) };
                    self.push(ImageSource::JsonLd, vec![Cand::plain(&url)], ctx);
                }
            }
            _ => {}
        }
        // `onclick="window.location='…'"`: a place a person can click to, as good as a link.
        if let Some(target) = v.attr("onclick").and_then(onclick_target) {
            self.link(&target);
        }
        if let Some(style) = v.attr("style").filter(|s| s.contains("url(") || s.contains("URL(")) {
            let cands: Vec<Cand> = css::declaration_urls(style).iter().map(|u| Cand::plain(u)).collect();
            if !cands.is_empty() {
                let ctx = self.ctx(el, el);
                for c in cands {
                    self.push(ImageSource::InlineStyle, vec![c], ctx.clone());
                }
            }
        }
        for attr in BG_ATTRS {
            if let Some(bg) = v.attr(attr).filter(|b| !b.trim().is_empty()) {
                let raw = css::urls_in(bg).into_iter().next().unwrap_or_else(|| bg.to_string());
                let ctx = self.ctx(el, el);
                self.push(ImageSource::InlineStyle, vec![Cand::plain(&raw)], ctx);
            }
        }
    }

    /// An `<img>`: `attrs` carries its attributes, `anchor` its place in the document.
    fn img(&mut self, attrs: ElementRef<'_>, anchor: ElementRef<'_>) {
        let v = attrs.value();
        let lazy = LAZY_SRC.iter().chain(LAZY_SRCSET).any(|a| v.attr(a).is_some_and(|s| !s.trim().is_empty()));
        let mut cands = Vec::new();
        if let Some(src) = v.attr("src").map(str::trim).filter(|s| !s.is_empty()) {
            // With a lazy source present, a data: URI in src is only a placeholder.
            if !(lazy && src.starts_with("data:")) {
                cands.push(Cand::plain(src));
            }
        }
        for attr in LAZY_SRC {
            if let Some(s) = v.attr(attr).map(str::trim).filter(|s| !s.is_empty()) {
                cands.push(Cand::plain(s));
            }
        }
        for attr in std::iter::once(&"srcset").chain(LAZY_SRCSET) {
            if let Some(set) = v.attr(attr) {
                cands.extend(srcset_cands(set, None, None));
            }
        }
        let in_picture = anchor.parent().and_then(ElementRef::wrap).filter(|p| p.value().name() == "picture");
        if let Some(picture) = in_picture {
            for source in picture.children().filter_map(ElementRef::wrap).filter(|c| c.value().name() == "source") {
                let sv = source.value();
                let media = sv.attr("media").map(|m| clean_text([m]));
                let mime = sv.attr("type").map(|t| clean_text([t]));
                for attr in ["srcset", "data-srcset"] {
                    if let Some(set) = sv.attr(attr) {
                        cands.extend(srcset_cands(set, media.clone(), mime.clone()));
                    }
                }
            }
        }
        let source = if in_picture.is_some() { ImageSource::Picture } else { ImageSource::Img };
        let ctx = self.ctx(attrs, anchor);
        self.push(source, cands, ctx);
    }

    fn meta(&mut self, el: ElementRef<'_>) {
        let v = el.value();
        let key = v.attr("property").or_else(|| v.attr("name")).unwrap_or("").trim().to_ascii_lowercase();
        let content = v.attr("content").unwrap_or("").trim();
        match key.as_str() {
            "og:image" | "og:image:url" | "og:image:secure_url" if !content.is_empty() => {
                let ctx = ImageContext { page_title: self.title.clone(), ..ImageContext::default() };
                self.push(ImageSource::OgImage, vec![Cand::plain(content)], ctx);
            }
            "twitter:image" | "twitter:image:src" if !content.is_empty() => {
                let ctx = ImageContext { page_title: self.title.clone(), ..ImageContext::default() };
                self.push(ImageSource::TwitterImage, vec![Cand::plain(content)], ctx);
            }
            "og:title" | "twitter:title" if self.og_title.is_empty() => self.og_title = clean_text([content]),
            "robots" | "image-chat" => {
                let c = content.to_ascii_lowercase();
                let none = c.split(',').any(|d| d.trim() == "none");
                self.robots.noindex |= none || c.split(',').any(|d| d.trim() == "noindex");
                self.robots.nofollow |= none || c.split(',').any(|d| d.trim() == "nofollow");
            }
            _ => {}
        }
    }

    fn link_element(&mut self, el: ElementRef<'_>) {
        let v = el.value();
        let (Some(rel), Some(href)) = (v.attr("rel"), v.attr("href")) else { return };
        let rels: Vec<String> = rel.split_ascii_whitespace().map(str::to_ascii_lowercase).collect();
        if rels.iter().any(|r| r == "canonical") && self.canonical.is_none() {
            self.canonical = self.base.join(href.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
        }
        if rels.iter().any(|r| r == "image_src") {
            let ctx = ImageContext { page_title: self.title.clone(), ..ImageContext::default() };
            self.push(ImageSource::LinkImageSrc, vec![Cand::plain(href)], ctx);
        }
    }

    /// `<noscript>` and template content is raw text to a parser with scripting on: parse it on
    /// its own and take its images, placed where the element is.
    fn embedded_html(&mut self, el: ElementRef<'_>) {
        let text: String = el.text().collect();
        if !text.contains("<img") && !text.contains("<IMG") {
            return;
        }
        let fragment = Html::parse_fragment(&text);
        let imgs: Vec<ElementRef<'_>> =
            fragment.tree.nodes().filter_map(ElementRef::wrap).filter(|e| e.value().name() == "img").collect();
        for img in imgs {
            self.img(img, el);
        }
    }

    fn stylesheet(&mut self, el: ElementRef<'_>) {
        let text: String = el.text().collect();
        for rule in css::stylesheet_rules(&text).into_iter().take(MAX_STYLE_RULES) {
            // Context comes from the first element the rule styles, when the selector parses.
            let target = Selector::parse(&rule.selector).ok().and_then(|s| self.doc.select(&s).next());
            let mut ctx = match target {
                Some(t) => self.ctx(t, t),
                None => ImageContext { page_title: self.title.clone(), ..ImageContext::default() },
            };
            if ctx.css_classes.is_empty() {
                ctx.css_classes = css::selector_classes(&rule.selector).iter().take(10).map(|c| c.to_string()).collect();
            }
            for url in rule.urls {
                self.push(ImageSource::StyleSheet, vec![Cand::plain(&url)], ctx.clone());
            }
        }
    }

    fn link(&mut self, href: &str) {
        if self.links.len() >= MAX_LINKS_PER_PAGE {
            return;
        }
        let Ok(mut url) = self.base.join(href.trim()) else { return };
        if !matches!(url.scheme(), "http" | "https") {
            return;
        }
        url.set_fragment(None);
        if self.link_seen.insert(url.as_str().to_string()) {
            self.links.push(url);
        }
    }

    fn finish(self) -> PageImages {
        let mut records: Vec<ImageRecord> = Vec::new();
        let mut rejected = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut by_url: HashMap<String, usize> = HashMap::new();
        for mut raw in self.raws {
            if matches!(raw.source, ImageSource::OgImage | ImageSource::TwitterImage) && raw.ctx.title.is_empty() {
                raw.ctx.title = self.og_title.clone();
            }
            let resolved = resolve(&self.base, raw.cands);
            let Some(best) = variants::best(&resolved.variants).cloned() else {
                let url = resolved.first_raw.unwrap_or_default();
                rejected.push(RejectedImage { url, reason: RejectReason::InvalidUrl, source: raw.source });
                continue;
            };
            let raw_best = resolved.raw_of.get(best.url.as_str()).cloned().unwrap_or_default();
            let (url_width, url_height) = url_dimensions(&best.url);
            let classes = raw.ctx.css_classes.clone();
            let facts = Facts {
                raw_url: &raw_best,
                url: Some(&best.url),
                alt: &raw.ctx.alt,
                classes: &classes,
                declared_width: raw.ctx.declared_width,
                declared_height: raw.ctx.declared_height,
                url_width,
                url_height,
            };
            // A template placeholder in any source (not only the best one) marks the element.
            let templated = resolved.raw_of.values().any(|r| r.contains("[[") || r.contains("{{"));
            let reason = if templated { Some(RejectReason::TemplatePlaceholder) } else { junk::classify(&facts) };
            if let Some(reason) = reason {
                rejected.push(RejectedImage { url: best.url.to_string(), reason, source: raw.source });
                continue;
            }
            let key = variants::identity_key(&best.url);
            let existing =
                by_key.get(&key).or_else(|| resolved.variants.iter().find_map(|v| by_url.get(v.url.as_str()))).copied();
            if existing.is_none() && records.len() >= MAX_IMAGES_PER_PAGE {
                rejected.push(RejectedImage { url: best.url.to_string(), reason: RejectReason::TooMany, source: raw.source });
                continue;
            }
            let index = existing.unwrap_or(records.len());
            for v in &resolved.variants {
                by_url.entry(v.url.to_string()).or_insert(index);
            }
            match existing {
                Some(i) => merge(&mut records[i], resolved.variants, raw.ctx),
                None => {
                    by_key.insert(key, records.len());
                    let mut ctx = raw.ctx;
                    ctx.filename_tokens = context::filename_tokens(&best.url);
                    records.push(ImageRecord {
                        url: best.url,
                        page_url: self.page.clone(),
                        source: raw.source,
                        variants: resolved.variants,
                        context: ctx,
                    });
                }
            }
        }
        PageImages {
            page_url: self.page.clone(),
            base_url: self.base,
            title: self.title,
            canonical: self.canonical,
            robots: self.robots,
            images: records,
            rejected,
            links: self.links,
        }
    }
}

fn is_template_type(t: &str) -> bool {
    matches!(
        t.trim().to_ascii_lowercase().as_str(),
        "text/html" | "text/template" | "text/x-template" | "text/x-handlebars-template" | "text/x-jquery-tmpl" | "text/ng-template" | "text/x-underscore-template"
    )
}

/// The URL of `location = '…'`, `location.href = "…"` or `window.open('…')` in an onclick handler.
fn onclick_target(js: &str) -> Option<String> {
    let at = ["location.href", "location", "window.open("]
        .iter()
        .find_map(|k| js.find(k).map(|i| i + k.len()))?;
    let rest = js[at..].trim_start().trim_start_matches('=').trim_start();
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = &rest[1..];
    let end = inner.find(quote)?;
    Some(inner[..end].to_string()).filter(|u| !u.trim().is_empty())
}

fn srcset_cands(set: &str, media: Option<String>, mime: Option<String>) -> Vec<Cand> {
    srcset::parse(set)
        .into_iter()
        .map(|c| Cand { raw: c.url, width: c.width, density: c.density, media: media.clone(), mime: mime.clone() })
        .collect()
}

struct Resolved {
    variants: Vec<ImageVariant>,
    /// Resolved URL -> the string as written.
    raw_of: HashMap<String, String>,
    first_raw: Option<String>,
}

/// Resolves candidates against the base URL; unresolvable and non-image schemes are dropped,
/// duplicates merged (keeping the most informative descriptor).
fn resolve(base: &Url, cands: Vec<Cand>) -> Resolved {
    let first_raw = cands.first().map(|c| c.raw.clone());
    let mut variants: Vec<ImageVariant> = Vec::new();
    let mut raw_of = HashMap::new();
    for c in cands {
        let trimmed = c.raw.trim();
        let Ok(url) = base.join(trimmed) else { continue };
        if !matches!(url.scheme(), "http" | "https" | "data") {
            continue;
        }
        raw_of.entry(url.to_string()).or_insert_with(|| trimmed.to_string());
        let (url_w, url_h) = if url.scheme() == "data" { (None, None) } else { url_dimensions(&url) };
        match variants.iter_mut().find(|v| v.url == url) {
            Some(v) => {
                v.width = v.width.or(c.width);
                v.density = v.density.or(c.density);
                v.media = v.media.take().or(c.media);
                v.mime = v.mime.take().or(c.mime);
            }
            None => variants.push(ImageVariant {
                url,
                width: c.width.or(url_w),
                height: url_h.filter(|_| c.width.is_none() || c.width == url_w),
                density: c.density,
                media: c.media,
                mime: c.mime,
            }),
        }
    }
    Resolved { variants, raw_of, first_raw }
}

/// Folds another sighting of the same image into a record: more variants, and context fields
/// the first sighting lacked.
fn merge(record: &mut ImageRecord, more: Vec<ImageVariant>, ctx: ImageContext) {
    for v in more {
        if !record.variants.iter().any(|e| e.url == v.url) {
            record.variants.push(v);
        }
    }
    if let Some(best) = variants::best(&record.variants) {
        if best.url != record.url {
            record.url = best.url.clone();
            record.context.filename_tokens = context::filename_tokens(&record.url);
        }
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
