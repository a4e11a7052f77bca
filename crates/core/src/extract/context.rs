//! The words around an image: attributes of its element, its figure caption, the link and the
//! block it sits in.

use ego_tree::{NodeId, NodeRef};
use scraper::{ElementRef, Html, Node};

use super::atoms::{NAMES, attr};
use super::candidates::FastMap;
use super::{ImageContext, MAX_FIELD_CHARS, MAX_NEARBY_CHARS, clean_text, clean_text_within};

/// Ancestors searched for the surrounding block's text.
const NEARBY_LEVELS: usize = 4;
/// Nodes looked at for one piece of context text: a wrapper around a whole page section costs
/// no more than a paragraph.
const MAX_NODES_SCANNED: usize = 400;

/// The text under an element a reader sees, capped in nodes visited as well as in characters
/// (as surrounding text).
fn bounded_text(el: ElementRef<'_>) -> String {
    clean_text_within(Texts::new(*el, None), MAX_NEARBY_CHARS)
}

/// The visible texts of the first [`MAX_NODES_SCANNED`] nodes under `root` (itself counted), in
/// document order, stepping over a descendant already known to hold no text.
struct Texts<'a> {
    root: NodeId,
    next: Option<NodeRef<'a, Node>>,
    visited: usize,
    /// A descendant read before with no text found, and its size in nodes.
    skip: Option<(NodeId, usize)>,
}

impl<'a> Texts<'a> {
    fn new(root: NodeRef<'a, Node>, skip: Option<(NodeId, usize)>) -> Self {
        Self { root: root.id(), next: Some(root), visited: 0, skip }
    }

    /// The node after `node` in document order within the root, below it if `descend`.
    fn after(&self, node: NodeRef<'a, Node>, descend: bool) -> Option<NodeRef<'a, Node>> {
        if descend && let Some(child) = node.first_child() {
            return Some(child);
        }
        let mut at = node;
        loop {
            if at.id() == self.root {
                return None;
            }
            if let Some(sibling) = at.next_sibling() {
                return Some(sibling);
            }
            at = at.parent()?;
        }
    }
}

impl<'a> Iterator for Texts<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let node = self.next?;
            if let Some((id, len)) = self.skip
                && id == node.id()
            {
                // Its nodes count as read; had the cap fallen inside it, reading would have
                // stopped there with nothing more found.
                self.visited += len;
                if self.visited >= MAX_NODES_SCANNED {
                    self.next = None;
                    return None;
                }
                self.next = self.after(node, false);
                continue;
            }
            self.visited += 1;
            self.next = if self.visited >= MAX_NODES_SCANNED { None } else { self.after(node, true) };
            if let Some(text) = node.value().as_text()
                && !in_raw_text_element(node)
            {
                return Some(text);
            }
        }
    }
}

/// Text of a script, stylesheet or (to a browser with scripting on) noscript is code or markup,
/// not words on the page.
fn in_raw_text_element(text: NodeRef<'_, Node>) -> bool {
    let n = &*NAMES;
    text.parent()
        .and_then(|p| p.value().as_element())
        .is_some_and(|e| e.name.local == n.script || e.name.local == n.style || e.name.local == n.noscript)
}

/// Texts already read for an image, by node: the images of a gallery share the blocks around
/// them, and each would otherwise read the same block again.
#[derive(Default)]
pub(super) struct TextCache {
    /// A block's text, and for a block read to its end, its size in nodes.
    blocks: FastMap<NodeId, (String, Option<usize>)>,
    headings: FastMap<NodeId, String>,
    /// The text beside an empty block ([`beside`]): the images of a gallery share it.
    beside: FastMap<NodeId, String>,
}

impl TextCache {
    /// A block's text, as surrounding text (up to [`MAX_NEARBY_CHARS`]).
    fn text(&mut self, el: ElementRef<'_>) -> String {
        self.text_skipping(el, None).0.clone()
    }

    /// The text of a block whose descendant `skip` is known to hold none.
    fn text_skipping(&mut self, el: ElementRef<'_>, skip: Option<(NodeId, usize)>) -> &(String, Option<usize>) {
        self.blocks.entry(el.id()).or_insert_with(|| {
            let mut texts = Texts::new(*el, skip);
            let text = clean_text_within(&mut texts, MAX_NEARBY_CHARS);
            // Read to its end: the walk stopped on running out of nodes, not on the caps.
            let whole = texts.next.is_none() && texts.visited < MAX_NODES_SCANNED;
            (text, whole.then_some(texts.visited))
        })
    }

    fn heading(&mut self, doc: &Html, id: NodeId) -> String {
        self.headings
            .entry(id)
            .or_insert_with(|| {
                doc.tree.get(id).and_then(ElementRef::wrap).map(|h| clean_text(h.text())).unwrap_or_default()
            })
            .clone()
    }
}

/// What an image's own element says: the attributes' part of its context.
pub(super) fn own(doc: &Html, attrs: ElementRef<'_>) -> ImageContext {
    let el = attrs.value();
    // One pass over the attributes (each `attr()` lookup interns its name).
    let (mut alt, mut title, mut label, mut labelled_by) = (None, None, None, None);
    let (mut width, mut height, mut lazy) = (None, None, false);
    let mut class = None;
    for (name, value) in el.attrs() {
        match name {
            "alt" => alt = Some(value),
            "title" => title = Some(value),
            "aria-label" => label = Some(value),
            "aria-labelledby" => labelled_by = Some(value),
            "width" => width = dimension(Some(value)),
            "height" => height = dimension(Some(value)),
            "loading" => lazy |= value.eq_ignore_ascii_case("lazy"),
            "data-src" | "data-lazy-src" | "data-srcset" | "data-original" => lazy = true,
            "class" => class = Some(value),
            _ => {}
        }
    }
    let aria_label = match label {
        Some(label) => clean_text([label]),
        None => labelled_by.map(|ids| labelled_by_text(doc, ids)).unwrap_or_default(),
    };
    // In the order scraper's `classes()` gives them (sorted, each once), without interning them.
    let mut classes: Vec<&str> = class.map(|c| c.split_ascii_whitespace().collect()).unwrap_or_default();
    classes.sort_unstable();
    classes.dedup();
    ImageContext {
        alt: clean_text(alt),
        title: clean_text(title),
        aria_label,
        css_classes: classes.iter().take(10).map(|c| c.chars().take(60).collect()).collect(),
        declared_width: width,
        declared_height: height,
        lazy: lazy || classes.iter().any(|c| c.starts_with("lazy")),
        ..ImageContext::default()
    }
}

/// Where an image sits in the page: what the costly part of its context is read from, once the
/// image has passed the junk filter (most images on a page do not).
#[derive(Clone, Copy)]
pub(super) struct Place {
    /// The image's element in the document (for an image parsed out of a `<noscript>`, that
    /// element).
    anchor: NodeId,
    /// Whether the element's own text describes it (a block with a background image does; an
    /// `<img>` has none).
    own_text: bool,
    /// The last heading closed before the image.
    heading: Option<NodeId>,
}

impl Place {
    /// An image whose attributes live on `attrs` and whose place in the document is `anchor`.
    pub(super) fn new(attrs: ElementRef<'_>, anchor: ElementRef<'_>, heading: Option<NodeId>) -> Self {
        Self { anchor: anchor.id(), own_text: !is_image_element(attrs.value().name()), heading }
    }
}

/// Fills in the context a [`Place`] stands for: caption, heading, surrounding text, link, page.
pub(super) fn fill(ctx: &mut ImageContext, doc: &Html, texts: &mut TextCache, place: Place, page_title: &str) {
    ctx.page_title = page_title.to_string();
    ctx.heading = place.heading.map(|h| texts.heading(doc, h)).unwrap_or_default();
    let Some(anchor) = doc.tree.get(place.anchor).and_then(ElementRef::wrap) else { return };
    let own_text = if place.own_text { bounded_text(anchor) } else { String::new() };
    ctx.nearby_text = if own_text.is_empty() { nearby(texts, anchor) } else { own_text };
    ctx.figcaption = figcaption(texts, anchor);
    ctx.link_href = anchor
        .ancestors()
        .filter_map(ElementRef::wrap)
        .find(|a| a.value().name.local == NAMES.a)
        .and_then(|a| attr(a.value(), &NAMES.href))
        .map(|h| clean_text([h]));
}

fn is_image_element(name: &str) -> bool {
    matches!(name, "img" | "input" | "image" | "video" | "meta" | "link" | "script" | "source")
}

/// `width="240"` or `width="240px"`; percentages and junk give `None`.
pub(super) fn dimension(value: Option<&str>) -> Option<u32> {
    let v = value?.trim();
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    let rest = &v[digits.len()..];
    if digits.is_empty() || !(rest.is_empty() || rest.eq_ignore_ascii_case("px")) {
        return None;
    }
    digits.parse().ok()
}

fn labelled_by_text(doc: &Html, ids: &str) -> String {
    let wanted: Vec<&str> = ids.split_whitespace().take(5).collect();
    let texts: Vec<String> = wanted
        .iter()
        .filter_map(|id| {
            doc.tree
                .nodes()
                .filter_map(ElementRef::wrap)
                .find(|e| e.value().id() == Some(*id))
                .map(|e| clean_text(e.text()))
        })
        .collect();
    clean_text(texts.iter().map(String::as_str))
}

fn figcaption(texts: &mut TextCache, anchor: ElementRef<'_>) -> String {
    let Some(figure) = anchor.ancestors().filter_map(ElementRef::wrap).find(|a| a.value().name.local == NAMES.figure)
    else {
        return String::new();
    };
    figure
        .descendants()
        .take(MAX_NODES_SCANNED)
        .filter_map(ElementRef::wrap)
        .find(|e| e.value().name.local == NAMES.figcaption)
        // A caption is a field like the alt: cut to its length.
        .map(|caption| clean_text_within([texts.text(caption).as_str()], MAX_FIELD_CHARS))
        .unwrap_or_default()
}

/// Text of the nearest enclosing block that has any; where a block has none, the text blocks
/// beside it in its section first (a `<figure>` between two paragraphs, as WordPress,
/// Wikipedia and most CMS pages lay out an article, is described by those paragraphs).
fn nearby(texts: &mut TextCache, anchor: ElementRef<'_>) -> String {
    let mut blocks = anchor
        .ancestors()
        .filter_map(ElementRef::wrap)
        .take(NEARBY_LEVELS)
        .take_while(|a| a.value().name.local != NAMES.body && a.value().name.local != NAMES.html)
        // A logo in the footer is not described by the footer's links.
        .take_while(|a| !is_furniture(*a))
        .peekable();
    if blocks.peek().is_none() {
        // Straight under <body>: only its neighbours can describe it.
        return beside(texts, anchor);
    }
    // Each block holds the one before, which had no text: step over it rather than read it again.
    let mut empty_inside = None;
    for block in blocks {
        let (text, size) = texts.text_skipping(block, empty_inside);
        if !text.is_empty() {
            return text.clone();
        }
        empty_inside = size.map(|size| (block.id(), size));
        let around = beside(texts, block);
        if !around.is_empty() {
            return around;
        }
    }
    String::new()
}

/// Siblings looked at on each side of an empty block for its neighbouring text.
const SIBLINGS_LOOKED_AT: usize = 6;

/// The nearest text block before `block` and the nearest after it, within its section: never
/// past a heading (the next section's, or the one this section is under, which is the image's
/// `heading` already), never from navigation, footers, forms or consent banners, and never a
/// block holding an image of its own (that block's words are that image's).
fn beside(texts: &mut TextCache, block: ElementRef<'_>) -> String {
    if let Some(known) = texts.beside.get(&block.id()) {
        return known.clone();
    }
    let before = neighbour(texts, block.prev_siblings());
    let after = neighbour(texts, block.next_siblings());
    let text = clean_text_within([before.as_str(), after.as_str()], MAX_NEARBY_CHARS);
    texts.beside.insert(block.id(), text.clone());
    text
}

fn neighbour<'a>(texts: &mut TextCache, siblings: impl Iterator<Item = NodeRef<'a, Node>>) -> String {
    for sibling in siblings.filter_map(ElementRef::wrap).take(SIBLINGS_LOOKED_AT) {
        let name: &str = &sibling.value().name.local;
        if NAMES.headings.contains(&sibling.value().name.local) || name == "hr" {
            break;
        }
        if !TEXT_BLOCKS.contains(&name) || is_furniture(sibling) || holds_image(sibling) {
            continue;
        }
        let text = texts.text(sibling);
        if !text.is_empty() {
            return text;
        }
    }
    String::new()
}

/// Elements whose text describes what stands beside them: paragraphs, list items, table cells.
const TEXT_BLOCKS: &[&str] = &["p", "li", "ul", "ol", "dl", "dd", "dt", "td", "th", "blockquote"];

/// Words in a block's id or class that mark site furniture rather than the article.
const FURNITURE: &[&str] = &[
    "cookie",
    "consent",
    "gdpr",
    "newsletter",
    "subscribe",
    "share",
    "social",
    "breadcrumb",
    "menu",
    "nav",
    "footer",
    "copyright",
];

/// Navigation, footers, forms and consent banners: by element, role, id or class.
fn is_furniture(el: ElementRef<'_>) -> bool {
    let e = el.value();
    if matches!(&*e.name.local, "nav" | "footer" | "form") {
        return true;
    }
    let role = e.attr("role").unwrap_or_default();
    if matches!(role, "navigation" | "banner" | "contentinfo" | "dialog" | "alertdialog" | "menu") {
        return true;
    }
    let marks = format!("{} {}", e.id().unwrap_or_default(), e.attr("class").unwrap_or_default()).to_ascii_lowercase();
    // By the start of a word of the name ("site-footer", "navbar", "cookieBanner"), so that
    // "unavailable" is not taken for navigation.
    marks.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| FURNITURE.iter().any(|w| word.starts_with(w)))
}

/// Whether an image element is among the first nodes of `el`.
fn holds_image(el: ElementRef<'_>) -> bool {
    el.descendants()
        .take(MAX_NODES_SCANNED)
        .filter_map(ElementRef::wrap)
        .any(|e| e.value().name.local == NAMES.img || e.value().name.local == NAMES.picture)
}

/// Words of a URL's file name: `red-kayak_2.jpg` -> `red`, `kayak`.
pub(super) fn filename_tokens(url: &url::Url) -> Vec<String> {
    let file = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or("");
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let stem = percent_encoding::percent_decode_str(stem).decode_utf8_lossy();
    stem.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1 && !w.chars().all(|c| c.is_ascii_digit() || c == 'x'))
        .take(12)
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The surrounding text as read without stepping over anything or remembering blocks.
    fn nearby_by_rereading(anchor: ElementRef<'_>) -> String {
        anchor
            .ancestors()
            .filter_map(ElementRef::wrap)
            .take(NEARBY_LEVELS)
            .take_while(|a| a.value().name.local != NAMES.body && a.value().name.local != NAMES.html)
            .map(|block| {
                let texts = block
                    .descendants()
                    .take(MAX_NODES_SCANNED)
                    .filter_map(|n| n.value().as_text().filter(|_| !in_raw_text_element(n)).map(|t| &**t));
                clean_text_within(texts, MAX_NEARBY_CHARS)
            })
            .find(|t| !t.is_empty())
            .unwrap_or_default()
    }

    /// Nested wrappers of random sizes around images, empty but for words after the inner block
    /// now and then, so that the node budget runs out before, inside and after the blocks
    /// stepped over.
    fn page(seed: u64) -> String {
        let mut s = seed | 1;
        let mut next = |n: u64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s % n
        };
        let mut html = String::from("<html><body>");
        for block in 0..30 {
            let depth = 1 + next(5);
            let mut inner = format!("<img src=\"/{block}.jpg\">");
            if next(3) == 0 {
                inner.push_str("<script>var x = 1;</script>");
            }
            for level in 0..depth {
                let before = "<span><i></i></span>".repeat(next(120) as usize);
                let after = "<b></b>".repeat(next(120) as usize);
                let words = if next(3) == 0 { format!("words {block} {level}") } else { String::new() };
                inner = format!("<div>{before}{inner}{after}{words}</div>");
            }
            html.push_str(&inner);
        }
        html.push_str("</body></html>");
        html
    }

    #[test]
    fn the_node_budget_ends_right_after_a_block_stepped_over() {
        // The outer block reads itself, the inner block (the image, its wrapper and `k` empty
        // elements), then the words: within the 400 nodes at k = 396, one past them at k = 397.
        for (k, expected) in [(396, "edge"), (397, "")] {
            let html = format!(
                "<html><body><section><div><img src=\"/a.jpg\">{}</div>edge</section></body></html>",
                "<b></b>".repeat(k)
            );
            let doc = Html::parse_document(&html);
            let img =
                doc.tree.nodes().filter_map(ElementRef::wrap).find(|e| e.value().name.local == NAMES.img).unwrap();
            assert_eq!(nearby_by_rereading(img), expected, "k = {k}");
            assert_eq!(nearby(&mut TextCache::default(), img), expected, "k = {k}");
        }
    }

    #[test]
    fn stepping_over_empty_blocks_reads_what_rereading_them_would() {
        for seed in 1..40 {
            let doc = Html::parse_document(&page(seed));
            let mut texts = TextCache::default();
            let images: Vec<ElementRef<'_>> =
                doc.tree.nodes().filter_map(ElementRef::wrap).filter(|e| e.value().name.local == NAMES.img).collect();
            assert_eq!(images.len(), 30);
            for img in images {
                assert_eq!(nearby(&mut texts, img), nearby_by_rereading(img), "seed {seed}, {:?}", img.value());
            }
        }
    }
}
