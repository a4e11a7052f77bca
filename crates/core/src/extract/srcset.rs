//! `srcset` parsing exactly as the HTML standard's "parse a srcset attribute" algorithm, and the
//! candidate selection a browser makes at a device pixel ratio of 1.

/// One image candidate string of a `srcset`.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub url: String,
    /// `w` descriptor: the image's intrinsic width in pixels.
    pub width: Option<u32>,
    /// `x` descriptor: pixel density.
    pub density: Option<f64>,
    /// `h` descriptor (future-compatible; only valid beside a `w`).
    pub height: Option<u32>,
}

/// ASCII whitespace per the HTML standard (not U+000B).
fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// Parses a `srcset` attribute value; invalid candidates are dropped as the standard says.
pub fn parse(input: &str) -> Vec<Candidate> {
    let chars: Vec<char> = input.chars().collect();
    let mut pos = 0;
    let mut candidates = Vec::new();
    loop {
        while pos < chars.len() && (is_space(chars[pos]) || chars[pos] == ',') {
            pos += 1;
        }
        if pos >= chars.len() {
            return candidates;
        }
        let start = pos;
        while pos < chars.len() && !is_space(chars[pos]) {
            pos += 1;
        }
        let mut url: String = chars[start..pos].iter().collect();
        let mut descriptors = Vec::new();
        if url.ends_with(',') {
            url = url.trim_end_matches(',').to_string();
        } else {
            pos = tokenize_descriptors(&chars, pos, &mut descriptors);
        }
        if let Some(candidate) = parse_descriptors(url, &descriptors) {
            candidates.push(candidate);
        }
    }
}

/// The standard's descriptor tokenizer; returns the position after the candidate.
fn tokenize_descriptors(chars: &[char], mut pos: usize, out: &mut Vec<String>) -> usize {
    while pos < chars.len() && is_space(chars[pos]) {
        pos += 1;
    }
    #[derive(PartialEq)]
    enum State {
        InDescriptor,
        InParens,
        AfterDescriptor,
    }
    let mut state = State::InDescriptor;
    let mut current = String::new();
    loop {
        let c = chars.get(pos).copied();
        match state {
            State::InDescriptor => match c {
                Some(c) if is_space(c) => {
                    if !current.is_empty() {
                        out.push(std::mem::take(&mut current));
                        state = State::AfterDescriptor;
                    }
                }
                Some(',') => {
                    if !current.is_empty() {
                        out.push(current);
                    }
                    return pos + 1;
                }
                Some('(') => {
                    current.push('(');
                    state = State::InParens;
                }
                None => {
                    if !current.is_empty() {
                        out.push(current);
                    }
                    return pos;
                }
                Some(c) => current.push(c),
            },
            State::InParens => match c {
                Some(')') => {
                    current.push(')');
                    state = State::InDescriptor;
                }
                None => {
                    out.push(current);
                    return pos;
                }
                Some(c) => current.push(c),
            },
            State::AfterDescriptor => match c {
                Some(c) if is_space(c) => {}
                None => return pos,
                Some(_) => {
                    state = State::InDescriptor;
                    continue; // reconsume
                }
            },
        }
        pos += 1;
    }
}

fn parse_descriptors(url: String, descriptors: &[String]) -> Option<Candidate> {
    let mut c = Candidate { url, width: None, density: None, height: None };
    for d in descriptors {
        let (number, unit) = d.split_at(d.len() - d.chars().last()?.len_utf8());
        match unit {
            "w" if c.width.is_none() && c.density.is_none() => {
                c.width = Some(non_negative_integer(number).filter(|&n| n > 0)?)
            }
            "x" if c.width.is_none() && c.density.is_none() && c.height.is_none() => {
                c.density = Some(floating_point(number).filter(|&v| v >= 0.0)?)
            }
            "h" if c.height.is_none() && c.density.is_none() => {
                c.height = Some(non_negative_integer(number).filter(|&n| n > 0)?)
            }
            _ => return None,
        }
    }
    if c.height.is_some() && c.width.is_none() {
        return None;
    }
    Some(c)
}

/// A "valid non-negative integer": ASCII digits only.
fn non_negative_integer(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().map(|n| n.min(u64::from(u32::MAX)) as u32).unwrap_or(u32::MAX))
}

/// A "valid floating-point number": `-`? (digits | digits? `.` digits) ([eE] [+-]? digits)?
fn floating_point(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let has_int = i > int_start;
    let mut has_frac = false;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == frac_start {
            return None;
        }
        has_frac = true;
    }
    if !has_int && !has_frac {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The candidate a browser shows at device pixel ratio 1: densities from `x`, or from `w`
/// divided by the source size (`sizes_px`, the viewport width when `sizes` is absent); later
/// candidates with an already-seen density are dropped; the smallest density >= 1 wins, else
/// the largest.
pub fn select(candidates: &[Candidate], sizes_px: f64) -> Option<&Candidate> {
    let mut seen: Vec<(f64, &Candidate)> = Vec::new();
    for c in candidates {
        let density = match (c.width, c.density) {
            (Some(w), _) if sizes_px > 0.0 => f64::from(w) / sizes_px,
            (Some(_), _) => f64::INFINITY,
            (None, Some(x)) => x,
            (None, None) => 1.0,
        };
        if !seen.iter().any(|(d, _)| *d == density) {
            seen.push((density, c));
        }
    }
    let at_least_one = seen.iter().filter(|(d, _)| *d >= 1.0).min_by(|a, b| a.0.total_cmp(&b.0));
    at_least_one.or_else(|| seen.iter().max_by(|a, b| a.0.total_cmp(&b.0))).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_densities_and_heights() {
        let c = parse("a.jpg 320w, b.jpg 640w 480h, c.jpg 2x, d.jpg");
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].width, Some(320));
        assert_eq!((c[1].width, c[1].height), (Some(640), Some(480)));
        assert_eq!(c[2].density, Some(2.0));
        assert_eq!((c[3].url.as_str(), c[3].density, c[3].width), ("d.jpg", None, None));
    }

    #[test]
    fn urls_with_commas_survive() {
        let c = parse(
            "https://cdn.example/image/upload/w_400,h_300/pic.jpg 400w, https://cdn.example/image/upload/w_800,h_600/pic.jpg 800w",
        );
        assert_eq!(c.len(), 2);
        assert!(c[1].url.ends_with("w_800,h_600/pic.jpg"));
    }

    #[test]
    fn garbage_never_panics() {
        for s in ["", ",", "(", ")", " ( ", "a (", "a 1x (", "ä 1ẋ", "a \u{0}w", "a 99999999999999999999w", "a 1e999x"]
        {
            let _ = parse(s);
        }
        assert!(parse("a 1e999x").is_empty(), "infinite density is invalid");
    }
}
