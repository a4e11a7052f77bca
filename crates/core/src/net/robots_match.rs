//! How an Allow/Disallow pattern matches a path: Google's rules (anchored at the start, `*` any
//! run of bytes, `$` the end only when last), in time linear in the path per pattern.
//!
//! The `robotstxt` crate's own matcher indexes the path by `chars().nth()` inside a loop over
//! every candidate position, and shifts a vector on every insert: cubic in the lengths. A
//! robots.txt with one long wildcard rule and a long URL held a core for minutes (found by
//! fuzzing); a hostile site could stall every crawl that asks it. A pattern of literal segments
//! between `*`s matches when the first is a prefix and each later one occurs, leftmost first,
//! after the one before it (leftmost is always safe for `*`-only patterns).

use memchr::memmem;
use robotstxt::matcher::RobotsMatchStrategy;

/// The longest-match strategy of Google's matcher (a rule's priority is its pattern's length),
/// with the linear matcher.
#[derive(Default)]
pub(super) struct LinearLongestMatch;

impl RobotsMatchStrategy for LinearLongestMatch {
    fn match_allow(&self, path: &str, pattern: &str) -> i32 {
        if Self::matches(path, pattern) { pattern.len() as i32 } else { -1 }
    }

    fn match_disallow(&self, path: &str, pattern: &str) -> i32 {
        if Self::matches(path, pattern) { pattern.len() as i32 } else { -1 }
    }

    fn matches(path: &str, pattern: &str) -> bool {
        matches(path.as_bytes(), pattern.as_bytes())
    }
}

pub(super) fn matches(path: &[u8], pattern: &[u8]) -> bool {
    let (pattern, to_end) = match pattern.strip_suffix(b"$") {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let mut segments = pattern.split(|&b| b == b'*');
    let first = segments.next().unwrap_or_default();
    if !path.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    let rest: Vec<&[u8]> = segments.collect();
    let Some((last, middle)) = rest.split_last() else {
        // No `*`: a prefix, or the whole path with `$`.
        return !to_end || at == path.len();
    };
    for segment in middle {
        match memmem::find(&path[at..], segment) {
            Some(i) => at += i + segment.len(),
            None => return false,
        }
    }
    if to_end {
        path.len() >= at + last.len() && path.ends_with(last)
    } else {
        memmem::find(&path[at..], last).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Google's matcher (robots.cc `Matches`), position list updated in place. (The crate's
    /// port inserts where the original assigns, shifting the list under its own loop: on
    /// `//` against `*/$` it says no where Google's says yes.)
    fn reference(path: &[u8], pattern: &[u8]) -> bool {
        let mut pos = vec![0usize; path.len() + 1];
        let mut numpos = 1;
        for (i, &p) in pattern.iter().enumerate() {
            if p == b'$' && i + 1 == pattern.len() {
                return pos[numpos - 1] == path.len();
            }
            if p == b'*' {
                numpos = path.len() - pos[0] + 1;
                for k in 1..numpos {
                    pos[k] = pos[k - 1] + 1;
                }
            } else {
                let mut next = 0;
                for k in 0..numpos {
                    if pos[k] < path.len() && path[pos[k]] == p {
                        pos[next] = pos[k] + 1;
                        next += 1;
                    }
                }
                numpos = next;
                if numpos == 0 {
                    return false;
                }
            }
        }
        true
    }

    #[test]
    fn agrees_with_googles_algorithm_on_every_small_case() {
        // Every path and pattern of up to 5 symbols over a small alphabet, against Google's
        // algorithm as written.
        fn all(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![Vec::new()];
            let mut frontier = vec![Vec::new()];
            for _ in 0..max {
                let mut next = Vec::new();
                for s in &frontier {
                    for &c in alphabet {
                        let mut t: Vec<u8> = s.clone();
                        t.push(c);
                        next.push(t);
                    }
                }
                out.extend(next.iter().cloned());
                frontier = next;
            }
            out
        }
        let paths = all(b"/ab", 5);
        let patterns = all(b"/a*$", 5);
        let mut checked = 0;
        for path in &paths {
            for pattern in &patterns {
                assert_eq!(
                    matches(path, pattern),
                    reference(path, pattern),
                    "path {:?} pattern {:?}",
                    String::from_utf8_lossy(path),
                    String::from_utf8_lossy(pattern)
                );
                checked += 1;
            }
        }
        assert!(checked > 100_000);
    }

    #[test]
    fn a_long_wildcard_rule_against_a_long_path_is_answered_at_once() {
        // The fuzzer's input: minutes with the crate's matcher, cubic in the lengths.
        let pattern = format!("/*.itemap{}x", "a".repeat(3_000));
        let path = format!("/{}", "a".repeat(5_000));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(matches(path.as_bytes(), pattern.as_bytes()));
        });
        let answer = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("answered within 30 s");
        assert!(!answer);
    }
}
