//! `render = "auto"`: which pages need a browser. A scored reading of the raw HTML (a cheap
//! scan, no parse), then what rendering taught about the host: when the first few rendered
//! pages of a host found no image the raw HTML lacked, that host is not rendered again.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use memchr::memmem::Finder;

/// Rendered pages of a host that must each add nothing before the host stops being rendered.
pub const LEARN_PAGES: u32 = 3;
/// Score from which a page is rendered.
const THRESHOLD: u32 = 3;

/// Why a page would be rendered: the signals found, each with its weight.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    pub score: u32,
    pub found: Vec<&'static str>,
    /// `<script>` tags in the page.
    pub scripts: usize,
}

impl Signals {
    /// Adds the signal of many scripts beside few of the `images` extraction found.
    pub fn with_images(mut self, images: usize) -> Self {
        if self.scripts >= 5 && images <= 1 {
            self.add(2, "many scripts and few images");
        }
        self
    }

    fn add(&mut self, weight: u32, what: &'static str) {
        self.score += weight;
        self.found.push(what);
    }

    pub fn wants_render(&self) -> bool {
        self.score >= THRESHOLD
    }

    pub fn why(&self) -> String {
        if self.found.is_empty() { "no sign of script-built content".into() } else { self.found.join(", ") }
    }
}

/// Reads the raw HTML for signs that scripts build what the page shows; `images` is how many
/// images extraction found in it.
pub fn assess(html: &str, images: usize) -> Signals {
    read(html).with_images(images)
}

/// The searchers `read` uses, built once: every page of an `auto` crawl goes through all of
/// them, and building them per page was a tenth of the scan.
struct Finders {
    roots: Vec<(Finder<'static>, &'static str)>,
    markers: Vec<(Finder<'static>, &'static str)>,
    noscript: Finder<'static>,
    noscript_end: Finder<'static>,
    script: Finder<'static>,
    img: Finder<'static>,
}

static FINDERS: LazyLock<Finders> = LazyLock::new(|| {
    let each = |list: &[(&'static str, &'static str)]| list.iter().map(|(n, why)| (Finder::new(*n), *why)).collect();
    Finders {
        roots: each(&[
            ("id=\"root\"", "an empty #root"),
            ("id=\"app\"", "an empty #app"),
            ("id=\"__next\"", "an empty #__next"),
            ("id=\"__nuxt\"", "an empty #__nuxt"),
            ("id=root", "an empty #root"),
            ("id=app", "an empty #app"),
        ]),
        markers: each(&[
            ("data-reactroot", "React markup"),
            ("ng-version", "Angular markup"),
            ("data-v-app", "Vue markup"),
            ("data-server-rendered", "Vue markup"),
            ("__next_data__", "Next.js data"),
            ("window.__nuxt__", "Nuxt data"),
        ]),
        noscript: Finder::new("<noscript"),
        noscript_end: Finder::new("</noscript"),
        script: Finder::new("<script"),
        img: Finder::new("<img"),
    }
});

/// [`assess`] before extraction (so the page need not be kept for it): every signal but the
/// one that weighs scripts against images, which [`Signals::with_images`] adds.
pub fn read(html: &str) -> Signals {
    let f = &*FINDERS;
    let lower = html.to_ascii_lowercase();
    let h = lower.as_bytes();
    let mut s = Signals::default();
    for (root, name) in &f.roots {
        if empty_element_after(&lower, root) {
            s.add(3, name);
            break;
        }
    }
    for (marker, name) in &f.markers {
        if marker.find(h).is_some() {
            s.add(1, name);
            break;
        }
    }
    if noscript_asks_for_javascript(&lower, f) {
        s.add(2, "a <noscript> asking for JavaScript");
    }
    s.scripts = f.script.find_iter(h).count();
    let placeholders = placeholder_images(&lower, f);
    if placeholders > 0 {
        s.add(if placeholders >= 3 { 3 } else { 2 }, "lazy image placeholders with no real source");
    }
    s
}

/// Whether the element carrying `attr` closes right after opening (`<div id="root"></div>`).
fn empty_element_after(lower: &str, attr: &Finder<'_>) -> bool {
    let Some(at) = attr.find(lower.as_bytes()) else { return false };
    let Some(open_end) = lower[at..].find('>') else { return false };
    let after = lower[at + open_end + 1..].trim_start();
    after.starts_with("</div") || after.starts_with("</main") || after.starts_with("</section")
}

fn noscript_asks_for_javascript(lower: &str, f: &Finders) -> bool {
    let mut rest = lower;
    while let Some(at) = f.noscript.find(rest.as_bytes()) {
        let block = &rest[at..];
        // Looked for within the block's bound only: a page of unclosed `<noscript>`s would
        // otherwise be searched to its end once per tag.
        let bound = floor(block, block.len().min(4096));
        let end = floor(block, f.noscript_end.find(&block.as_bytes()[..bound]).unwrap_or(bound));
        let text = &block[..end];
        if text.contains("javascript")
            && (text.contains("enable") || text.contains("requires") || text.contains("need"))
        {
            return true;
        }
        rest = &block[end.min(block.len())..];
        if end == 0 {
            break;
        }
    }
    false
}

/// `<img>` tags with no real source anywhere in them: no `src` but a data: or blank one, no
/// `srcset` and no `data-*` URL — what a lazy loader fills in from script.
fn placeholder_images(lower: &str, f: &Finders) -> usize {
    let mut n = 0;
    // memchr's searchers, not `str::find`: this reads every page of an `auto` crawl, and with
    // the standard library's it was a twentieth of the crawl's CPU (`perf`).
    for at in f.img.find_iter(lower.as_bytes()) {
        let tag = &lower[at..];
        let tag = &tag[..floor(tag, tag.len().min(2048))];
        // To its `>`, or to the next tag's `<` when it has none (each is scanned several times).
        let tag = &tag[..memchr::memchr2(b'>', b'<', &tag.as_bytes()[1..]).map_or(tag.len(), |i| i + 1)];
        let real_src =
            attr(tag, "src").is_some_and(|v| !v.is_empty() && !v.starts_with("data:") && !v.starts_with("about:"));
        let other = tag.contains("srcset=")
            || tag.contains("data-src")
            || tag.contains("data-lazy")
            || tag.contains("data-original");
        if !real_src && !other {
            n += 1;
        }
    }
    n
}

/// `at`, or the nearest character boundary below it.
fn floor(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = tag[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before = tag[..at].chars().last().unwrap_or(' ');
        if !before.is_ascii_whitespace() {
            continue;
        }
        let rest = tag[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else { continue };
        let rest = rest.trim_start();
        return Some(match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
            _ => rest.split(|c: char| c.is_ascii_whitespace() || c == '>').next().unwrap_or(""),
        });
    }
    None
}

/// What rendering taught about each host of a crawl.
#[derive(Default)]
pub struct HostLearning(Mutex<HashMap<String, Lesson>>);

#[derive(Default, Clone, Copy)]
struct Lesson {
    rendered: u32,
    helped: bool,
}

impl HostLearning {
    /// `None` while the host may be rendered; else why not.
    pub fn stopped(&self, host: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let lesson = map.get(host).copied().unwrap_or_default();
        (!lesson.helped && lesson.rendered >= LEARN_PAGES)
            .then(|| format!("not rendered: the first {LEARN_PAGES} rendered pages of {host} added no image"))
    }

    /// Records a rendered page of `host` and whether it added images the raw HTML lacked.
    pub fn record(&self, host: &str, added: bool) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let lesson = map.entry(host.to_string()).or_default();
        lesson.rendered += 1;
        lesson.helped |= added;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_app_root_with_scripts_wants_rendering() {
        let html = r#"<html><body><div id="root"></div><script src="/app.js"></script></body></html>"#;
        let s = assess(html, 0);
        assert!(s.wants_render(), "{s:?}");
        assert!(s.why().contains("#root"));
    }

    #[test]
    fn a_server_rendered_page_does_not() {
        let html = r#"<html><body><div id="app"><h1>Shop</h1><img src="/a.jpg" alt="a"><img src="/b.jpg"></div>
            <script>1</script></body></html>"#;
        let s = assess(html, 2);
        assert!(!s.wants_render(), "{s:?}");
    }

    #[test]
    fn noscript_and_placeholders_count() {
        let html = r#"<noscript>Please enable JavaScript to view this site.</noscript>
            <img class="lazy"><img src="data:image/gif;base64,R0lGOD"><img src="">"#;
        let s = assess(html, 0);
        assert!(s.wants_render(), "{s:?}");
        assert_eq!(placeholder_images(&html.to_ascii_lowercase(), &FINDERS), 3);
        let lazy = r#"<img data-src="/real.jpg" src="data:image/gif;base64,x"><img src="/x.jpg">"#;
        assert_eq!(placeholder_images(lazy, &FINDERS), 0, "a data-src the extractor reads is a real source");
    }

    #[test]
    fn unclosed_tags_are_read_in_one_pass() {
        // Each unclosed `<noscript` or `<img` was searched to the page's end for its close:
        // quadratic, hours for these 8 MB. Read in one pass now.
        let noscripts = "<noscript>".repeat(400_000);
        let imgs = "<img src=''".repeat(400_000);
        let started = std::time::Instant::now();
        assert!(!noscript_asks_for_javascript(&noscripts, &FINDERS));
        assert_eq!(placeholder_images(&imgs, &FINDERS), 400_000);
        let s = read(&format!("{noscripts}{imgs}"));
        assert!(s.wants_render(), "{s:?}");
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    }

    #[test]
    fn a_host_stops_being_rendered_when_rendering_adds_nothing() {
        let l = HostLearning::default();
        for _ in 0..LEARN_PAGES - 1 {
            l.record("a.test", false);
        }
        assert!(l.stopped("a.test").is_none());
        l.record("a.test", false);
        assert!(l.stopped("a.test").unwrap().contains("added no image"));
        l.record("b.test", true);
        for _ in 0..5 {
            l.record("b.test", false);
        }
        assert!(l.stopped("b.test").is_none(), "a host where rendering once helped keeps being rendered");
    }
}
