//! One walk over the parsed document in order: every image source, link and page fact, then
//! URL resolution, junk filtering and grouping of variants.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use ego_tree::iter::Edge;
use scraper::{ElementRef, Html};
use url::Url;

use super::atoms::{NAMES, attr};
use super::context::Place;
use super::junk::{self, Facts, RejectReason};
use super::resolve::{Cand, mark_group_headings, merge, resolve, srcset_cands};
use super::variants;
use super::{
    ImageContext, ImageRecord, ImageSource, MAX_IMAGES_PER_PAGE, MAX_LINKS_PER_PAGE, MetaRobots, PageImages,
    RejectedImage, clean_text, context, css, jsonld,
};

/// [`super::hash64`] as a hasher: these maps hold short strings (URLs, class names) and are used
/// on every element, where SipHash's DoS resistance buys nothing.
#[derive(Default)]
pub(super) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        super::avalanche(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = super::mix(self.0, bytes);
    }
}

pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// Attributes lazy-loading libraries put the real source in.
const LAZY_SRC: &[&str] = &["data-src", "data-lazy-src", "data-original", "data-lazy", "data-url"];
const LAZY_SRCSET: &[&str] = &["data-srcset", "data-lazy-srcset"];
/// Stylesheet rules with images looked at per page.
const MAX_STYLE_RULES: usize = 200;
/// Image file names taken from an `<img>`'s other attributes when it has no source of its own.
const MAX_OTHER_SOURCES: usize = 8;
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "gif", "webp", "avif", "svg"];
const DOCUMENT_EXTENSIONS: &[&str] = &["html", "htm", "xhtml"];

/// Whether the path of a raw URL (its query and fragment aside) ends in one of these
/// extensions, compared without case.
fn has_extension(raw: &str, extensions: &[&str]) -> bool {
    let path = raw.split(['?', '#']).next().unwrap_or(raw);
    let Some((stem, ext)) = path.rsplit_once('.') else { return false };
    !stem.is_empty() && !stem.ends_with('/') && extensions.iter().any(|e| ext.eq_ignore_ascii_case(e))
}

/// An attribute value that is one image file's URL (`/up/photo.jpg`, `https://cdn/x.webp?w=2`).
fn names_image_file(value: &str) -> bool {
    value.len() <= 2048 && !value.contains(char::is_whitespace) && has_extension(value, IMAGE_EXTENSIONS)
}

/// A raw source naming a web page rather than an image.
fn names_document(raw: &str) -> bool {
    has_extension(raw, DOCUMENT_EXTENSIONS)
}

/// An image as found, before resolution and filtering.
struct Raw {
    source: ImageSource,
    cands: Vec<Cand>,
    ctx: ImageContext,
    /// Where the rest of its context is read from, if it has a place in the page.
    place: Option<Place>,
}

pub(super) struct Walker<'a> {
    doc: &'a Html,
    page: &'a Url,
    base: Url,
    title: String,
    /// The last heading closed.
    heading: Option<ego_tree::NodeId>,
    raws: Vec<Raw>,
    links: Vec<Url>,
    /// Hashes of the links kept so far (64-bit: collisions are far rarer than the cap).
    link_seen: FastSet<u64>,
    /// Raw hrefs already resolved (by hash).
    href_seen: FastSet<u64>,
    canonical: Option<Url>,
    robots: MetaRobots,
    /// `og:title`, the words of the page's share image.
    og_title: String,
    /// Stylesheet images waiting for the first element their rule styles, by the class or id of
    /// the rule's subject: the walk fills in their context when it meets that element.
    styled_by_class: FastMap<String, Vec<usize>>,
    styled_by_id: FastMap<String, Vec<usize>>,
    texts: context::TextCache,
}

impl<'a> Walker<'a> {
    pub(super) fn new(doc: &'a Html, page: &'a Url) -> Self {
        // `<base href>` and `<title>` live in the head: look there, once, before the walk.
        let mut base_href = None;
        let mut title_el = None;
        for el in doc.tree.nodes().filter_map(ElementRef::wrap) {
            match el.value().name() {
                "base" if base_href.is_none() => base_href = el.value().attr("href"),
                "title" if title_el.is_none() => title_el = Some(el),
                "body" => break,
                _ => {}
            }
            if base_href.is_some() && title_el.is_some() {
                break;
            }
        }
        let base = base_href
            .and_then(|h| page.join(h.trim()).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or_else(|| page.clone());
        let title = title_el.map(|t| clean_text(t.text())).unwrap_or_default();
        Self {
            doc,
            page,
            base,
            title,
            heading: None,
            raws: Vec::new(),
            links: Vec::new(),
            link_seen: FastSet::default(),
            href_seen: FastSet::default(),
            canonical: None,
            robots: MetaRobots::default(),
            og_title: String::new(),
            styled_by_class: FastMap::default(),
            styled_by_id: FastMap::default(),
            texts: context::TextCache::default(),
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
                    if let Some(el) = ElementRef::wrap(node)
                        && NAMES.headings.contains(&el.value().name.local)
                    {
                        self.heading = Some(node.id());
                    }
                }
            }
        }
        self.finish()
    }

    /// An image's own context now, and where the rest is read from once it is kept.
    fn ctx(&self, attrs: ElementRef<'_>, anchor: ElementRef<'_>) -> (ImageContext, Option<Place>) {
        (context::own(self.doc, attrs), Some(Place::new(attrs, anchor, self.heading)))
    }

    fn push(&mut self, source: ImageSource, cands: Vec<Cand>, (ctx, place): (ImageContext, Option<Place>)) {
        if !cands.is_empty() {
            self.raws.push(Raw { source, cands, ctx, place });
        }
    }

    fn open(&mut self, el: ElementRef<'a>) {
        let v = el.value();
        let n = &*NAMES;
        let local = &v.name.local;
        if *local == n.a || *local == n.area {
            if let Some(href) = attr(v, &n.href) {
                self.link(href);
            }
        } else if *local == n.img {
            self.img(el, el);
        } else if *local == n.video {
            if let Some(poster) = attr(v, &n.poster).filter(|p| !p.trim().is_empty()) {
                let ctx = self.ctx(el, el);
                self.push(ImageSource::VideoPoster, vec![Cand::plain(poster)], ctx);
            }
        } else if *local == n.input {
            if let (Some(src), true) =
                (attr(v, &n.src), attr(v, &n.r#type).is_some_and(|t| t.eq_ignore_ascii_case("image")))
            {
                let ctx = self.ctx(el, el);
                self.push(ImageSource::InputImage, vec![Cand::plain(src)], ctx);
            }
        } else if *local == n.image {
            // SVG <image href> / <image xlink:href>: the attribute may be namespaced.
            if let Some((_, href)) = v.attrs().find(|(name, _)| *name == "href") {
                let ctx = self.ctx(el, el);
                self.push(ImageSource::SvgImage, vec![Cand::plain(href)], ctx);
            }
        } else if *local == n.meta {
            self.meta(el);
        } else if *local == n.link {
            self.link_element(el);
        } else if *local == n.noscript {
            self.embedded_html(el);
        } else if *local == n.style {
            self.stylesheet(el);
        } else if *local == n.script {
            match attr(v, &n.r#type) {
                // Client-side templates (`<script type="text/html">`): their images show up once
                // rendered; unrendered placeholders among them are rejected, and counted.
                Some(t) if is_template_type(t) => self.embedded_html(el),
                Some(t) if t.trim().eq_ignore_ascii_case("application/ld+json") => {
                    let text: String = el.text().collect();
                    for (url, caption) in jsonld::image_urls(&text) {
                        let (ctx, place) = self.ctx(el, el);
                        let ctx = ImageContext { title: clean_text([caption.as_str()]), ..ctx };
                        self.push(ImageSource::JsonLd, vec![Cand::plain(&url)], (ctx, place));
                    }
                }
                _ => {}
            }
        }
        // One pass over the attributes for what any element may carry.
        let (mut style, mut onclick) = (None, None);
        let mut backgrounds = Vec::new();
        for (name, value) in v.attrs.iter() {
            let name = &name.local;
            if *name == n.style {
                style = Some(&**value);
            } else if *name == n.onclick {
                onclick = Some(&**value);
            } else if n.backgrounds.contains(name) && !value.trim().is_empty() {
                backgrounds.push(&**value);
            }
        }
        // `onclick="window.location='…'"`: a place a person can click to, as good as a link.
        if let Some(target) = onclick.and_then(onclick_target) {
            self.link(&target);
        }
        if let Some(style) = style.filter(|s| s.contains("url(") || s.contains("URL(")) {
            let cands: Vec<Cand> = css::declaration_urls(style).iter().map(|u| Cand::plain(u)).collect();
            if !cands.is_empty() {
                let ctx = self.ctx(el, el);
                for c in cands {
                    self.push(ImageSource::InlineStyle, vec![c], ctx.clone());
                }
            }
        }
        for bg in backgrounds {
            let raw = css::urls_in(bg).into_iter().next().unwrap_or_else(|| bg.to_string());
            let ctx = self.ctx(el, el);
            self.push(ImageSource::InlineStyle, vec![Cand::plain(&raw)], ctx);
        }
        if !self.styled_by_class.is_empty() || !self.styled_by_id.is_empty() {
            self.fill_styled(el);
        }
    }

    /// Gives stylesheet images waiting for this element (by class or id) its context.
    fn fill_styled(&mut self, el: ElementRef<'_>) {
        let v = el.value();
        let mut waiting: Vec<usize> = v.id().and_then(|id| self.styled_by_id.remove(id)).unwrap_or_default();
        // The raw attribute, split here: `classes()` would intern every class name of the page.
        for class in attr(v, &NAMES.class).into_iter().flat_map(str::split_ascii_whitespace) {
            if let Some(raws) = self.styled_by_class.remove(class) {
                waiting.extend(raws);
            }
        }
        if waiting.is_empty() {
            return;
        }
        let (ctx, place) = self.ctx(el, el);
        for i in waiting {
            let selector_classes = std::mem::take(&mut self.raws[i].ctx.css_classes);
            self.raws[i].ctx = ImageContext {
                css_classes: if ctx.css_classes.is_empty() { selector_classes } else { ctx.css_classes.clone() },
                ..ctx.clone()
            };
            self.raws[i].place = place;
        }
    }

    /// An `<img>`: `attrs` carries its attributes, `anchor` its place in the document.
    fn img(&mut self, attrs: ElementRef<'_>, anchor: ElementRef<'_>) {
        // One pass over the attributes (each `attr()` lookup interns its name).
        let (mut src, mut sets, mut lazy_srcs) = (None, Vec::new(), Vec::new());
        for (name, value) in attrs.value().attrs() {
            let value = value.trim();
            match name {
                "src" if !value.is_empty() => src = Some(value),
                "srcset" => sets.push(value),
                n if LAZY_SRCSET.contains(&n) && !value.is_empty() => sets.push(value),
                n if LAZY_SRC.contains(&n) && !value.is_empty() => lazy_srcs.push(value),
                _ => {}
            }
        }
        let lazy = !lazy_srcs.is_empty() || sets.len() > usize::from(attr(attrs.value(), &NAMES.srcset).is_some());
        let mut cands = Vec::new();
        // With a lazy source present, a data: URI in src is only a placeholder.
        if let Some(src) = src.filter(|s| !(lazy && s.starts_with("data:"))) {
            cands.push(Cand::plain(src));
        }
        // Without a real source, a theme's own attributes may name the picture
        // (`<img src="" default="/up/photo.jpg" landscape-large="/up/photo-1154x576.jpg">`).
        let no_source = lazy_srcs.is_empty()
            && sets.is_empty()
            && src.is_none_or(|s| s.starts_with("data:") || s.starts_with('#') || names_document(s));
        if no_source {
            let others = attrs
                .value()
                .attrs()
                // Words, not sources, even when they read like a file name.
                .filter(|(name, _)| !matches!(*name, "src" | "alt" | "title" | "aria-label"))
                .map(|(_, value)| value.trim())
                .filter(|value| names_image_file(value))
                .take(MAX_OTHER_SOURCES);
            cands.extend(others.map(Cand::plain));
        }
        cands.extend(lazy_srcs.into_iter().map(Cand::plain));
        for set in sets {
            cands.extend(srcset_cands(set, None, None));
        }
        let in_picture = anchor.parent().and_then(ElementRef::wrap).filter(|p| p.value().name.local == NAMES.picture);
        if let Some(picture) = in_picture {
            for source in
                picture.children().filter_map(ElementRef::wrap).filter(|c| c.value().name.local == NAMES.source)
            {
                let sv = source.value();
                let media = attr(sv, &NAMES.media).map(|m| clean_text([m]));
                let mime = attr(sv, &NAMES.r#type).map(|t| clean_text([t]));
                for name in [&NAMES.srcset, &NAMES.data_srcset] {
                    if let Some(set) = attr(sv, name) {
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
        let n = &*NAMES;
        let key = attr(v, &n.property).or_else(|| attr(v, &n.name)).unwrap_or("").trim().to_ascii_lowercase();
        let content = attr(v, &n.content).unwrap_or("").trim();
        match key.as_str() {
            "og:image" | "og:image:url" | "og:image:secure_url" if !content.is_empty() => {
                let ctx = ImageContext { page_title: self.title.clone(), ..ImageContext::default() };
                self.push(ImageSource::OgImage, vec![Cand::plain(content)], (ctx, None));
            }
            "twitter:image" | "twitter:image:src" if !content.is_empty() => {
                let ctx = ImageContext { page_title: self.title.clone(), ..ImageContext::default() };
                self.push(ImageSource::TwitterImage, vec![Cand::plain(content)], (ctx, None));
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
        let (Some(rel), Some(href)) = (attr(v, &NAMES.rel), attr(v, &NAMES.href)) else { return };
        let has_rel = |wanted: &str| rel.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case(wanted));
        if self.canonical.is_none() && has_rel("canonical") {
            self.canonical = self.base.join(href.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
        }
        if has_rel("image_src") {
            let ctx = ImageContext { page_title: self.title.clone(), ..ImageContext::default() };
            self.push(ImageSource::LinkImageSrc, vec![Cand::plain(href)], (ctx, None));
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
        // A stylesheet is one text node; borrow it rather than copy.
        let mut texts = el.text();
        let text: std::borrow::Cow<'_, str> = match (texts.next(), texts.next()) {
            (Some(only), None) => std::borrow::Cow::Borrowed(only),
            (None, _) => return,
            (Some(first), Some(second)) => std::borrow::Cow::Owned([first, second].into_iter().chain(texts).collect()),
        };
        for rule in css::stylesheet_rules(&text).into_iter().take(MAX_STYLE_RULES) {
            let ctx = ImageContext {
                page_title: self.title.clone(),
                css_classes: css::selector_classes(&rule.selector).iter().take(10).map(|c| c.to_string()).collect(),
                ..ImageContext::default()
            };
            let subject = css::selector_subject(&rule.selector);
            for url in rule.urls {
                let index = self.raws.len();
                self.push(ImageSource::StyleSheet, vec![Cand::plain(&url)], (ctx.clone(), None));
                match &subject {
                    Some(css::Subject::Class(c)) => self.styled_by_class.entry(c.clone()).or_default().push(index),
                    Some(css::Subject::Id(id)) => self.styled_by_id.entry(id.clone()).or_default().push(index),
                    None => {}
                }
            }
        }
    }

    fn link(&mut self, href: &str) {
        let href = href.trim();
        if self.links.len() >= MAX_LINKS_PER_PAGE || href.is_empty() || href.starts_with('#') {
            return;
        }
        // Menus repeat the same hrefs: resolve each distinct one once.
        if !self.href_seen.insert(super::hash64(href.as_bytes())) {
            return;
        }
        // A scheme ends at the first `:` before any `/`, `?` or `#`.
        let scheme_end = href
            .bytes()
            .position(|b| matches!(b, b':' | b'/' | b'?' | b'#'))
            .filter(|&i| href.as_bytes()[i] == b':')
            .unwrap_or(0);
        if scheme_end > 0
            && !href[..scheme_end].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            // A colon in a path (`a:b/c`) is not a scheme; let the URL parser decide.
        } else if scheme_end > 0
            && !href[..scheme_end].eq_ignore_ascii_case("http")
            && !href[..scheme_end].eq_ignore_ascii_case("https")
        {
            return;
        }
        let Ok(mut url) = self.base.join(href) else { return };
        if !matches!(url.scheme(), "http" | "https") {
            return;
        }
        url.set_fragment(None);
        if self.link_seen.insert(super::hash64(url.as_str().as_bytes())) {
            self.links.push(url);
        }
    }

    fn finish(mut self) -> PageImages {
        let mut records: Vec<ImageRecord> = Vec::new();
        let mut rejected = Vec::new();
        let mut by_key: FastMap<String, usize> = FastMap::default();
        let mut by_url: FastMap<String, usize> = FastMap::default();
        for mut raw in std::mem::take(&mut self.raws) {
            if matches!(raw.source, ImageSource::OgImage | ImageSource::TwitterImage) && raw.ctx.title.is_empty() {
                raw.ctx.title = self.og_title.clone();
            }
            let resolved = resolve(&self.base, self.page, raw.cands);
            let Some(best_index) = variants::best_index(&resolved.variants) else {
                let mut url = resolved.first_raw.unwrap_or_default();
                if url.len() > 120 {
                    let mut cut = 120;
                    while !url.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    url.truncate(cut);
                    url.push('…');
                }
                let reason = resolved.reject.unwrap_or(RejectReason::InvalidUrl);
                rejected.push(RejectedImage { url, reason, source: raw.source });
                continue;
            };
            let best = resolved.variants[best_index].clone();
            let raw_best = resolved
                .raw_of
                .iter()
                .find(|(u, _)| u == best.url.as_str())
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            let (url_width, url_height) = resolved.url_dims[best_index];
            let facts = Facts {
                raw_url: &raw_best,
                url: Some(&best.url),
                alt: &raw.ctx.alt,
                classes: &raw.ctx.css_classes,
                declared_width: raw.ctx.declared_width,
                declared_height: raw.ctx.declared_height,
                url_width,
                url_height,
            };
            // A template placeholder in any source (not only the best one) marks the element.
            let templated = resolved.raw_of.iter().any(|(_, r)| r.contains("[[") || r.contains("{{"));
            let reason = if templated { Some(RejectReason::TemplatePlaceholder) } else { junk::classify(&facts) };
            if let Some(reason) = reason {
                rejected.push(RejectedImage { url: best.url.to_string(), reason, source: raw.source });
                continue;
            }
            let key = variants::identity_key(&best.url);
            let existing = by_key
                .get(&key)
                .or_else(|| resolved.variants.iter().find_map(|v| by_url.get(&*variants::short_key(&v.url))))
                .copied();
            if existing.is_none() && records.len() >= MAX_IMAGES_PER_PAGE {
                rejected.push(RejectedImage {
                    url: best.url.to_string(),
                    reason: RejectReason::TooMany,
                    source: raw.source,
                });
                continue;
            }
            if let Some(place) = raw.place {
                context::fill(&mut raw.ctx, self.doc, &mut self.texts, place, &self.title);
            }
            let index = existing.unwrap_or(records.len());
            for v in &resolved.variants {
                by_url.entry(variants::short_key(&v.url).into_owned()).or_insert(index);
            }
            match existing {
                Some(i) => merge(&mut records[i], resolved.variants, raw.ctx),
                None => {
                    by_key.insert(key, records.len());
                    let mut ctx = raw.ctx;
                    ctx.filename_tokens = context::filename_tokens(&best.url);
                    records.push(ImageRecord {
                        found_by: Default::default(),
                        facts: None,
                        url: best.url,
                        page_url: self.page.clone(),
                        source: raw.source,
                        variants: resolved.variants,
                        context: ctx,
                    });
                }
            }
        }
        mark_group_headings(&mut records);
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
        "text/html"
            | "text/template"
            | "text/x-template"
            | "text/x-handlebars-template"
            | "text/x-jquery-tmpl"
            | "text/ng-template"
            | "text/x-underscore-template"
    )
}

/// The URL of `location = '…'`, `location.href = "…"` or `window.open('…')` in an onclick handler.
fn onclick_target(js: &str) -> Option<String> {
    let at = ["location.href", "location", "window.open("].iter().find_map(|k| js.find(k).map(|i| i + k.len()))?;
    let rest = js[at..].trim_start().trim_start_matches('=').trim_start();
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = &rest[1..];
    let end = inner.find(quote)?;
    Some(inner[..end].to_string()).filter(|u| !u.trim().is_empty())
}
