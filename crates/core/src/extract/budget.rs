//! What one page may cost: a page with more elements, or nested deeper, than any real page
//! has is refused before it is parsed (`too_complex`) — the HTML parser's work grows with the
//! square of the nesting, and a hostile page of 100,000 nested `<div>`s took half a minute —
//! and a parse stops between chunks once its crawl is cancelled.

use std::sync::atomic::{AtomicBool, Ordering};

use html5ever::tendril::TendrilSink;
use scraper::{Html, HtmlTreeSink};

/// Elements a page may hold (real pages hold tens of thousands at the most).
pub const MAX_ELEMENTS: usize = 150_000;
/// Elements a page may nest inside one another (browsers stop nesting at 512).
pub const MAX_NESTING: usize = 1_000;
/// Text fed to the parser between two looks at the cancel flag.
const CHUNK: usize = 64 * 1024;

/// What a tag does to the nesting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Its end tag may be left out (`<li>`, `<p>`, `<td>` …), or it has none (`<img>`, `<br>` …):
    /// it never makes the nesting deeper.
    Flat,
    /// Its content is text up to its end tag, never elements.
    RawText,
    /// Anything else: one level deeper until its end tag.
    Nests,
}

/// Classifies a tag name in any case; one `match` on the lowered name, as this runs for every
/// tag of every page.
fn kind(name: &[u8]) -> Kind {
    let mut lowered = [0u8; 9];
    let Some(buf) = lowered.get_mut(..name.len()) else { return Kind::Nests };
    for (to, from) in buf.iter_mut().zip(name) {
        *to = from.to_ascii_lowercase();
    }
    match &*buf {
        b"p" | b"li" | b"dt" | b"dd" | b"tr" | b"td" | b"th" | b"option" | b"optgroup" | b"thead" | b"tbody"
        | b"tfoot" | b"colgroup" | b"caption" | b"rb" | b"rt" | b"rtc" | b"rp" | b"html" | b"head" | b"body"
        | b"img" | b"br" | b"hr" | b"input" | b"meta" | b"link" | b"area" | b"base" | b"col" | b"embed" | b"param"
        | b"source" | b"track" | b"wbr" | b"image" | b"keygen" => Kind::Flat,
        b"script" | b"style" | b"textarea" | b"title" | b"xmp" | b"iframe" | b"noembed" | b"noframes"
        | b"plaintext" => Kind::RawText,
        _ => Kind::Nests,
    }
}

/// Why a page was not parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// More elements, or deeper nesting, than a page may have.
    TooComplex(String),
    /// The crawl was cancelled while the page was being parsed.
    Cancelled,
}

/// Counts a page's elements and how deep they nest, from its bytes alone (no parse): tags are
/// found with `memchr`, comments and raw text skipped, elements whose end tag is optional
/// counted flat. An estimate that errs on the generous side for real pages.
pub fn check(html: &str) -> Result<(), String> {
    let bytes = html.as_bytes();
    let (mut elements, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut at = 0;
    while let Some(found) = memchr::memchr(b'<', &bytes[at..]) {
        let start = at + found + 1;
        at = start;
        let Some(&first) = bytes.get(start) else { break };
        if first == b'!' {
            // A comment runs to `-->`; a doctype or CDATA to `>`.
            let close: &[u8] = if bytes[start..].starts_with(b"!--") { b"-->" } else { b">" };
            at = memchr::memmem::find(&bytes[start..], close).map_or(bytes.len(), |i| start + i + close.len());
            continue;
        }
        let closing = first == b'/';
        let name_start = start + usize::from(closing);
        let name_end = bytes[name_start..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric() && *b != b'-')
            .map_or(bytes.len(), |i| name_start + i);
        if name_end == name_start || !bytes[name_start].is_ascii_alphabetic() {
            continue;
        }
        let name = &bytes[name_start..name_end];
        let kind = kind(name);
        if closing {
            if kind != Kind::Flat {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        elements += 1;
        if elements > MAX_ELEMENTS {
            return Err(format!("more than {MAX_ELEMENTS} elements"));
        }
        let tag_end = memchr::memchr(b'>', &bytes[name_end..]).map_or(bytes.len(), |i| name_end + i);
        if kind == Kind::RawText {
            // Skip to its end tag: what is inside is text.
            at = end_tag_after(bytes, tag_end, name);
            continue;
        }
        let self_closing = tag_end > 0 && bytes.get(tag_end - 1) == Some(&b'/');
        if kind == Kind::Nests && !self_closing {
            depth += 1;
            deepest = deepest.max(depth);
            if deepest > MAX_NESTING {
                return Err(format!("elements nested more than {MAX_NESTING} deep"));
            }
        }
        at = tag_end.max(at);
    }
    Ok(())
}

/// Where the text after `from` ends: just past its `</name`, in any case (the end of the page
/// when there is none). Looks only at each `</`, as a byte-wise window search cost more than
/// the rest of the scan on pages heavy with script.
fn end_tag_after(bytes: &[u8], from: usize, name: &[u8]) -> usize {
    let mut at = from.min(bytes.len());
    while let Some(i) = memchr::memmem::find(&bytes[at..], b"</") {
        let name_at = at + i + 2;
        let candidate = &bytes[name_at..bytes.len().min(name_at + name.len())];
        if candidate.eq_ignore_ascii_case(name) {
            return name_at + name.len();
        }
        at = name_at;
    }
    bytes.len()
}

/// Parses `html` as a document, a chunk at a time, giving up once `stop` is set.
pub fn parse(html: &str, stop: &AtomicBool) -> Result<Html, Refused> {
    let mut parser = html5ever::driver::parse_document(HtmlTreeSink::new(Html::new_document()), Default::default());
    let mut rest = html;
    while !rest.is_empty() {
        if stop.load(Ordering::Relaxed) {
            return Err(Refused::Cancelled);
        }
        let mut cut = rest.len().min(CHUNK);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (chunk, after) = rest.split_at(cut);
        parser.process(chunk.into());
        rest = after;
    }
    Ok(parser.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_shapes_pass_and_hostile_ones_do_not() {
        assert!(check("<html><body><ul><li>a<li>b</ul><p>x<p>y<img src=a.jpg><br></body></html>").is_ok());
        // Unclosed list items and paragraphs are flat, as the parser closes them.
        assert!(check(&"<li>item <p>text <td>cell".repeat(5_000)).is_ok());
        // Script text is not markup.
        assert!(check(&format!("<script>{}</script>", "<div>".repeat(5_000))).is_ok());
        assert!(check(&format!("<!-- {} -->", "<div>".repeat(5_000))).is_ok());
        let nested = format!("{}x{}", "<div>".repeat(2_000), "</div>".repeat(2_000));
        assert!(check(&nested).unwrap_err().contains("nested"));
        let unclosed = "<div><span>".repeat(600);
        assert!(check(&unclosed).unwrap_err().contains("nested"));
        let many = "<img src=a.jpg>".repeat(MAX_ELEMENTS + 1);
        assert!(check(&many).unwrap_err().contains("elements"));
        // Balanced but long: fine.
        assert!(check(&"<div><span>x</span></div>".repeat(20_000)).is_ok());
    }

    #[test]
    fn a_parse_gives_up_once_stopped_and_reads_like_the_whole_one_otherwise() {
        let html = format!("<html><body>{}</body></html>", "<p>Word <img src=/a.jpg alt=é></p>".repeat(10_000));
        let whole = Html::parse_document(&html);
        let chunked = parse(&html, &AtomicBool::new(false)).unwrap();
        assert_eq!(whole.html(), chunked.html());
        assert!(matches!(parse(&html, &AtomicBool::new(true)), Err(Refused::Cancelled)));
    }
}
