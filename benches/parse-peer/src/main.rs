//! Per-page parse cost of a folder of HTML pages, four ways:
//! - html5ever's tree (scraper's `Html::parse_document`, what image-chat's extraction walks);
//! - lol_html with a handler on every element and every text chunk, keeping a stack of open
//!   elements and the first words of the nearest four: the least a streaming extractor needs to
//!   give each image its caption, heading and surrounding text;
//! - lol_html with handlers on `img` and `a[href]` only (images without context, and links);
//! - lol_html with a handler on `a[href]` only (what spider-rs does per page).
//!
//! Usage: parse-peer DIR [ROUNDS]

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Instant;

use lol_html::{element, text, EndTagHandler, HtmlRewriter, Settings};

/// Words kept per open element, as image-chat caps each context field.
const FIELD_BYTES: usize = 300;
/// Enclosing elements whose text an image's context may come from.
const LEVELS: usize = 4;

#[derive(Default)]
struct Stack {
    open: Vec<String>,
    seen: usize,
}

fn with_context(html: &str) -> usize {
    let stack = Rc::new(RefCell::new(Stack::default()));
    let (on_element, on_text) = (stack.clone(), stack.clone());
    let mut rewriter = HtmlRewriter::new(
        Settings {
            element_content_handlers: vec![
                element!("*", move |el| {
                    let mut s = on_element.borrow_mut();
                    s.seen += 1;
                    for name in ["src", "srcset", "alt", "title", "href", "style", "class"] {
                        if let Some(v) = el.get_attribute(name) {
                            s.seen += v.len();
                        }
                    }
                    if el.can_have_content() && !el.is_self_closing() {
                        s.open.push(String::new());
                        let closing = on_element.clone();
                        if let Some(handlers) = el.end_tag_handlers() {
                            let pop: EndTagHandler<'static> = Box::new(move |_| {
                                closing.borrow_mut().open.pop();
                                Ok(())
                            });
                            handlers.push(pop);
                        }
                    }
                    Ok(())
                }),
                text!("*", move |chunk| {
                    let mut s = on_text.borrow_mut();
                    let n = s.open.len();
                    for words in &mut s.open[n.saturating_sub(LEVELS)..] {
                        if words.len() < FIELD_BYTES {
                            words.push_str(chunk.as_str());
                        }
                    }
                    Ok(())
                }),
            ],
            ..Settings::new()
        },
        |_: &[u8]| {},
    );
    rewriter.write(html.as_bytes()).expect("an in-memory sink does not fail");
    rewriter.end().expect("an in-memory sink does not fail");
    let seen = stack.borrow().seen;
    seen
}

fn selected(html: &str, selectors: &[&str]) -> usize {
    let count = Rc::new(RefCell::new(0usize));
    let handlers = selectors
        .iter()
        .map(|selector| {
            let count = count.clone();
            element!(selector, move |el| {
                let attr = if el.tag_name() == "img" { "src" } else { "href" };
                *count.borrow_mut() += el.get_attribute(attr).map_or(0, |v| v.len());
                Ok(())
            })
        })
        .collect();
    let mut rewriter =
        HtmlRewriter::new(Settings { element_content_handlers: handlers, ..Settings::new() }, |_: &[u8]| {});
    rewriter.write(html.as_bytes()).expect("an in-memory sink does not fail");
    rewriter.end().expect("an in-memory sink does not fail");
    let n = *count.borrow();
    n
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: parse-peer DIR [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).expect("readable page")).into_owned())
        .collect();
    pages.sort();
    let bytes: usize = pages.iter().map(String::len).sum();
    let per_page = |f: &dyn Fn(&str) -> usize| {
        // The median of `rounds` passes, in µs per page.
        let mut passes: Vec<f64> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                for page in &pages {
                    black_box(f(black_box(page)));
                }
                started.elapsed().as_secs_f64() * 1e6 / pages.len() as f64
            })
            .collect();
        passes.sort_by(f64::total_cmp);
        passes[rounds / 2]
    };
    println!("{} pages, {} KB, median of {rounds} passes, µs per page:", pages.len(), bytes / 1024);
    println!("  html5ever tree (scraper)                    {:8.1}", per_page(&|p| {
        scraper::Html::parse_document(p).tree.nodes().count()
    }));
    println!("  lol_html, every element and text (context)  {:8.1}", per_page(&with_context));
    println!("  lol_html, img and a[href]                   {:8.1}", per_page(&|p| selected(p, &["img", "a[href]"])));
    println!("  lol_html, a[href] only (spider-rs's work)   {:8.1}", per_page(&|p| selected(p, &["a[href]"])));
}
