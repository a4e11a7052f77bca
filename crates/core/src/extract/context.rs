//! The words around an image: attributes of its element, its figure caption, the link and the
//! block it sits in.

use scraper::{ElementRef, Html};

use super::{ImageContext, clean_text};

/// Ancestors searched for the surrounding block's text.
const NEARBY_LEVELS: usize = 4;
/// Nodes looked at for one piece of context text: a wrapper around a whole page section costs
/// no more than a paragraph.
const MAX_NODES_SCANNED: usize = 400;

/// The text under an element, capped in nodes visited as well as in characters.
fn bounded_text(el: ElementRef<'_>) -> String {
    let texts = el.descendants().take(MAX_NODES_SCANNED).filter_map(|n| n.value().as_text().map(|t| &**t));
    clean_text(texts)
}

/// Context of an image whose attributes live on `attrs` and whose place in the document is
/// `anchor` (the same element, except for images parsed out of a `<noscript>`).
pub(super) fn build(
    doc: &Html,
    attrs: ElementRef<'_>,
    anchor: ElementRef<'_>,
    page_title: &str,
    heading: &str,
) -> ImageContext {
    let el = attrs.value();
    // One pass over the attributes (each `attr()` lookup interns its name).
    let (mut alt, mut title, mut label, mut labelled_by) = (None, None, None, None);
    let (mut width, mut height, mut lazy) = (None, None, false);
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
            _ => {}
        }
    }
    let aria_label = match label {
        Some(label) => clean_text([label]),
        None => labelled_by.map(|ids| labelled_by_text(doc, ids)).unwrap_or_default(),
    };
    let own_text = if is_image_element(el.name()) { String::new() } else { bounded_text(anchor) };
    let nearby_text = if own_text.is_empty() { nearby(anchor) } else { own_text };
    ImageContext {
        alt: clean_text(alt),
        title: clean_text(title),
        aria_label,
        figcaption: figcaption(anchor),
        heading: heading.to_string(),
        nearby_text,
        page_title: page_title.to_string(),
        link_href: anchor
            .ancestors()
            .filter_map(ElementRef::wrap)
            .find(|a| a.value().name() == "a")
            .and_then(|a| a.value().attr("href"))
            .map(|h| clean_text([h])),
        css_classes: el.classes().take(10).map(|c| c.chars().take(60).collect()).collect(),
        filename_tokens: Vec::new(),
        declared_width: width,
        declared_height: height,
        lazy: lazy || el.classes().any(|c| c.starts_with("lazy")),
    }
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

fn figcaption(anchor: ElementRef<'_>) -> String {
    let Some(figure) = anchor.ancestors().filter_map(ElementRef::wrap).find(|a| a.value().name() == "figure") else {
        return String::new();
    };
    figure
        .descendants()
        .take(MAX_NODES_SCANNED)
        .filter_map(ElementRef::wrap)
        .find(|e| e.value().name() == "figcaption")
        .map(bounded_text)
        .unwrap_or_default()
}

/// Text of the nearest enclosing block that has any.
fn nearby(anchor: ElementRef<'_>) -> String {
    anchor
        .ancestors()
        .filter_map(ElementRef::wrap)
        .take(NEARBY_LEVELS)
        .take_while(|a| !matches!(a.value().name(), "body" | "html"))
        .map(bounded_text)
        .find(|t| !t.is_empty())
        .unwrap_or_default()
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
