//! Link traps: URLs that look like an endless generator of pages (a calendar, a session id in
//! the path, a path that repeats), recorded instead of followed.

use std::collections::HashMap;

use url::Url;

use super::MAX_URL_LEN;

/// Why a URL looks like an endless generator of pages, if it does.
pub(super) fn link_trap(url: &Url) -> Option<String> {
    if url.as_str().len() > MAX_URL_LEN {
        return Some(format!("URL longer than {MAX_URL_LEN} characters"));
    }
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    if segments.len() > 30 {
        return Some("path deeper than 30 segments".into());
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in &segments {
        let n = counts.entry(s).or_insert(0);
        *n += 1;
        if *n >= 4 {
            return Some(format!("path segment `{s}` repeats"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_traps_are_recognised() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(link_trap(&u("http://s.test/a/b/c")).is_none());
        assert!(link_trap(&u("http://s.test/x/a/x/a/x/a/x/a")).is_some());
        assert!(link_trap(&u(&format!("http://s.test/{}", "a/".repeat(40)))).is_some());
        assert!(link_trap(&u(&format!("http://s.test/?q={}", "a".repeat(3000)))).is_some());
    }
}
