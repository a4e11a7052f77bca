//! Image URLs in CSS: `background(-image)`, `list-style(-image)`, `border-image` and `content`
//! declarations of `style` attributes and `<style>` blocks. Fonts and other `url()`s are not
//! images and are skipped.

const IMAGE_PROPERTIES: &[&str] = &[
    "background",
    "background-image",
    "list-style",
    "list-style-image",
    "border-image",
    "border-image-source",
    "content",
];

/// Image URLs in a declaration block (`a: b; c: url(x)`), in order.
pub fn declaration_urls(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let block = strip_comments(block);
    for decl in split_top_level(&block, ';') {
        let Some((prop, value)) = decl.split_once(':') else { continue };
        let prop = prop.trim();
        if IMAGE_PROPERTIES.iter().any(|p| p.eq_ignore_ascii_case(prop)) && contains_url(value) {
            out.extend(urls_in(value));
        }
    }
    out
}

/// Splits at `sep` outside parentheses and quotes (`url(data:image/png;base64,…)` stays whole).
fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<char>, 0);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, c) if c == sep && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A rule of a stylesheet that shows an image: its selector and the image URLs.
#[derive(Debug, PartialEq, Eq)]
pub struct ImageRule {
    pub selector: String,
    pub urls: Vec<String>,
}

/// Rules with image URLs in a stylesheet; `@font-face` and `@import` are skipped, `@media`
/// blocks are entered.
pub fn stylesheet_rules(sheet: &str) -> Vec<ImageRule> {
    if !contains_url(sheet) {
        return Vec::new();
    }
    let text = strip_comments(sheet);
    let mut rules = Vec::new();
    // Jump from one `url(` to the next rather than reading every rule: a big stylesheet has
    // few images. Each `url(` is placed in its rule by the nearest braces around it.
    let mut from = 0;
    while let Some(at) = next_url(&text, from) {
        let before = &text[..at];
        let open = before.rfind('{');
        // Outside any block (`@import url(…)`), or after the block it seemed to be in closed.
        let Some(open) = open.filter(|&o| !before[o..].contains('}')) else {
            from = at + 4;
            continue;
        };
        let close = text[at..].find('}').map_or(text.len(), |c| at + c);
        from = close;
        let selector = text[..open].rsplit(['{', '}', ';']).next().unwrap_or("").trim();
        if selector.is_empty() || selector.starts_with('@') {
            continue;
        }
        let urls = declaration_urls(&text[open + 1..close]);
        if !urls.is_empty() {
            rules.push(ImageRule { selector: selector.to_string(), urls });
        }
    }
    rules
}

/// Where the next `url(` (any case) starts, from `from` on.
fn next_url(text: &str, mut from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    // Scan for the parenthesis (`str::find` of one ASCII character runs on memchr), then look
    // back for `url`.
    while let Some(i) = text.get(from..)?.find('(') {
        let at = from + i;
        if at >= 3 && bytes[at - 3..at].eq_ignore_ascii_case(b"url") {
            return Some(at - 3);
        }
        from = at + 1;
    }
    None
}

/// The arguments of every `url(...)` in a CSS value, unquoted.
pub fn urls_in(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = value.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("url(") {
        let start = from + i + 4;
        let Some(end_rel) = value[start..].find(')') else { break };
        let arg = value[start..start + end_rel].trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if !arg.is_empty() {
            out.push(arg.to_string());
        }
        from = start + end_rel + 1;
    }
    out
}

fn contains_url(value: &str) -> bool {
    next_url(value, 0).is_some()
}

fn strip_comments(css: &str) -> std::borrow::Cow<'_, str> {
    if find_pair(css, '/', '*').is_none() {
        return std::borrow::Cow::Borrowed(css);
    }
    std::borrow::Cow::Owned(strip_comments_owned(css))
}

fn strip_comments_owned(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(i) = find_pair(rest, '/', '*') {
        out.push_str(&rest[..i]);
        match find_pair(&rest[i + 2..], '*', '/') {
            Some(j) => rest = &rest[i + 2 + j + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Where the two ASCII characters `a` `b` first occur together. A search for one byte runs on
/// memchr; `str::find` with a two-byte needle takes the much slower general path.
fn find_pair(s: &str, a: char, b: char) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(a) {
        let at = from + i;
        if s.as_bytes().get(at + 1) == Some(&(b as u8)) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// What a rule's subject (the last compound of its first selector) names, for finding the
/// element it styles.
#[derive(Debug, PartialEq, Eq)]
pub enum Subject {
    Id(String),
    Class(String),
}

pub fn selector_subject(selector: &str) -> Option<Subject> {
    let first = selector.split(',').next()?.trim();
    let last = first.rsplit(|c: char| c.is_whitespace() || matches!(c, '>' | '+' | '~')).next()?;
    let last = last.split(':').next().unwrap_or(last);
    let word =
        |s: &str| s.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')).next().unwrap_or("").to_string();
    if let Some((_, id)) = last.split_once('#') {
        return Some(Subject::Id(word(id))).filter(|s| !matches!(s, Subject::Id(i) if i.is_empty()));
    }
    let class = word(last.rsplit('.').next().filter(|_| last.contains('.'))?);
    (!class.is_empty()).then_some(Subject::Class(class))
}

/// Class names a selector mentions (`.a.b > .c` -> a, b, c).
pub fn selector_classes(selector: &str) -> Vec<&str> {
    selector
        .split('.')
        .skip(1)
        .map(|s| s.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')).next().unwrap_or(""))
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_image_properties_only() {
        assert_eq!(
            declaration_urls(
                "color: red; background-image: url('/a.jpg'); BACKGROUND: #fff URL(\"b.png\") no-repeat; mask: url(m.svg)"
            ),
            vec!["/a.jpg", "b.png"]
        );
        assert_eq!(declaration_urls("background:url(data:image/png;base64,AAA=)"), vec!["data:image/png;base64,AAA="]);
        assert!(declaration_urls("background: url()").is_empty());
        assert!(declaration_urls("background: url(unterminated").is_empty());
    }

    #[test]
    fn stylesheet_rules_skip_fonts_and_enter_media_blocks() {
        let sheet = "@font-face { src: url(f.woff2) } /* .x { background: url(c.jpg) } */\n\
                     .hero.big { background-image: url(\"/h.jpg\") }\n\
                     @media (max-width: 600px) { .banner-x { background: url(/s.jpg) } }\n\
                     p { color: red }";
        let rules = stylesheet_rules(sheet);
        assert_eq!(rules.len(), 2, "{rules:?}");
        assert_eq!(rules[0].selector, ".hero.big");
        assert_eq!(rules[0].urls, vec!["/h.jpg"]);
        assert_eq!(rules[1].urls, vec!["/s.jpg"]);
        assert_eq!(selector_classes(".hero.big > p.lead"), vec!["hero", "big", "lead"]);
        assert_eq!(selector_subject(".hero.big > p.lead:hover"), Some(Subject::Class("lead".into())));
        assert_eq!(selector_subject("div#main .x, .y"), Some(Subject::Class("x".into())));
        assert_eq!(selector_subject("section#top"), Some(Subject::Id("top".into())));
        assert_eq!(selector_subject("body > div"), None);
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in ["{", "}", "{{}}", "a{b", "@media{", "url(", "/*", "ü{background:url(ä)}"] {
            let _ = stylesheet_rules(s);
            let _ = declaration_urls(s);
        }
    }
}
