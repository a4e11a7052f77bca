//! Numbers in a message: a count when it quantifies the results ("show me 5", "top 10"), a size
//! when it measures the pictures ("at least 1920 pixels wide", "1920x1080 or larger").

use super::parse::{MAX_COUNT, PartKind, Query};
use super::parse_intent::leads_to_image_noun;
use super::parse_rules::min_size;
use super::parse_tokens::{Token, claim};

const NUMBER_WORDS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

fn number(word: &str) -> Option<u32> {
    word.parse::<u32>().ok().or_else(|| NUMBER_WORDS.iter().position(|w| *w == word).map(|n| n as u32))
}

/// "show me 5 …", "top 10", "3 photos of …", "a dozen". A number is a count when it
/// quantifies the results: after the words of a request or "top", or before an image noun in
/// a request. "Three children play football" counts children, and is no count.
pub(super) fn mark_count(tokens: &mut [Token], q: &mut Query, words: &[(&str, bool)], descriptive: bool) {
    for i in 0..tokens.len() {
        if !tokens[i].free() || q.count.is_some() {
            continue;
        }
        let n = if tokens[i].norm == "dozen" { Some(12) } else { number(&tokens[i].norm) };
        let Some(n) = n.filter(|n| (1..=1_000_000).contains(n)) else { continue };
        let previous = i.checked_sub(1).map(|p| &tokens[p]);
        // "top 10" in any message; "the first eight series" in a description counts series.
        let after_top = previous.is_some_and(|t| {
            t.free() && (t.norm == "top" || (!descriptive && matches!(t.norm.as_str(), "first" | "best")))
        });
        let after_request = previous.is_some_and(|t| t.request);
        let of_images = !descriptive && leads_to_image_noun(words, i, false);
        if !(after_top || after_request || of_images) {
            continue;
        }
        let count = n.min(MAX_COUNT);
        let start = if after_top { i - 1 } else { i };
        q.count = Some(count);
        let reason = if count < n {
            format!("asks for {n}; at most {MAX_COUNT} are shown")
        } else {
            "asks for a number of results".into()
        };
        claim(tokens, q, start..i + 1, PartKind::Count, count.to_string(), reason);
        if tokens
            .get(i + 1)
            .is_some_and(|t| matches!(t.norm.as_str(), "images" | "image" | "pictures" | "pics" | "results"))
        {
            tokens[i + 1].used = true;
        }
    }
}

/// Sides of a "WxH" below this are not a pixel size ("a 4x4 jeep", "a 10x12 office").
const MIN_SIZE_SIDE: u32 = 16;
/// Units after "WxH" that make it a physical size, not pixels.
const LENGTH_UNITS: &[&str] = &["in", "inch", "inches", "cm", "mm", "m", "ft", "feet", "foot", "meters", "metres"];
/// Words that make a number beside "at least"/"over"/"than" a size, not a quantity ("more than
/// 20 people" is not 20 px).
const SIZE_WORDS: &[&str] =
    &["wide", "tall", "high", "wider", "taller", "larger", "bigger", "width", "height", "across", "resolution"];

/// "at least 1920 pixels wide", "1920x1080 or larger", "wider than 800", "over 1000px".
pub(super) fn mark_sizes(tokens: &mut [Token], q: &mut Query) {
    for i in 0..tokens.len() {
        if !tokens[i].free() {
            continue;
        }
        let word = tokens[i].norm.trim_end_matches("px").to_string();
        if let Some((w, h)) =
            word.split_once(['x', '×']).and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        {
            let physical = tokens.get(i + 1).is_some_and(|t| LENGTH_UNITS.contains(&t.norm.as_str()));
            if w < MIN_SIZE_SIDE || h < MIN_SIZE_SIDE || physical {
                continue;
            }
            let (kind, value) = min_size(q, w, Some(h));
            let mut end = i;
            for k in [i + 1, i + 2] {
                if tokens.get(k).is_some_and(|t| {
                    t.free()
                        && matches!(t.norm.as_str(), "or" | "larger" | "bigger" | "more" | "above" | "pixels" | "px")
                }) {
                    end = k;
                } else {
                    break;
                }
            }
            let mut start = i;
            while start > 0
                && matches!(tokens[start - 1].norm.as_str(), "at" | "least" | "minimum" | "min")
                && tokens[start - 1].free()
            {
                start -= 1;
            }
            claim(tokens, q, start..end + 1, kind, value, "a minimum size");
            continue;
        }
        let Some(n) = word.parse::<u32>().ok().filter(|n| (16..=20_000).contains(n)) else { continue };
        let before: Vec<&str> = tokens[i.saturating_sub(2)..i].iter().map(|t| t.norm.as_str()).collect();
        let after: Vec<&str> = tokens[i + 1..(i + 3).min(tokens.len())].iter().map(|t| t.norm.as_str()).collect();
        let pixels =
            tokens[i].norm.ends_with("px") || after.first().is_some_and(|w| matches!(*w, "px" | "pixels" | "pixel"));
        let at_least = before.iter().any(|w| matches!(*w, "least" | "over" | "above" | "than" | "minimum" | "min"));
        let sized = before.iter().chain(after.iter()).any(|w| SIZE_WORDS.contains(w));
        let tall = after.iter().chain(before.iter()).any(|w| matches!(*w, "tall" | "high" | "height" | "taller"));
        if !(pixels || (at_least && sized)) {
            continue;
        }
        let (kind, value) = if tall {
            q.min_height = Some(q.min_height.map_or(n, |x| x.max(n)));
            (PartKind::MinSize, format!("≥ {n} px tall"))
        } else {
            min_size(q, n, None)
        };
        let mut start = i;
        while start > 0
            && tokens[start - 1].free()
            && matches!(
                tokens[start - 1].norm.as_str(),
                "at" | "least" | "over" | "above" | "than" | "wider" | "taller" | "minimum" | "min" | "more"
            )
        {
            start -= 1;
        }
        let mut end = i;
        while end + 1 < tokens.len()
            && tokens[end + 1].free()
            && matches!(tokens[end + 1].norm.as_str(), "px" | "pixels" | "pixel" | "wide" | "tall" | "high" | "across")
        {
            end += 1;
        }
        claim(tokens, q, start..end + 1, kind, value, "a minimum size");
    }
}
