//! Two- and three-turn exchanges, each with the request expected after every turn.

use super::follow_up::{Reading, read};
use super::request::{ChangeOp, diff};
use crate::search::{Query, parse};

/// A request in one line: `[words] fmt:png min:1200 or:portrait tone:dark transparent count:5
/// -people +"phrase" ~boost`, and `page:N` past the first page.
fn summary(q: &Query, page: u32) -> String {
    let mut out = format!("[{}]", q.text);
    let mut add = |s: String| {
        out.push(' ');
        out.push_str(&s);
    };
    if !q.formats.is_empty() {
        add(format!("fmt:{}", q.formats.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",")));
    }
    if let Some(w) = q.min_width {
        add(format!("min:{w}"));
    }
    if let Some(h) = q.min_height {
        add(format!("minh:{h}"));
    }
    if let Some(o) = q.orientation {
        add(format!("or:{o:?}").to_lowercase());
    }
    if let Some(t) = q.tone {
        add(format!("tone:{t:?}").to_lowercase());
    }
    if q.transparent == Some(true) {
        add("transparent".into());
    }
    if let Some(c) = q.count {
        add(format!("count:{c}"));
    }
    for t in &q.exclude_terms {
        add(format!("-{t}"));
    }
    for t in &q.must_terms {
        add(format!("+\"{t}\""));
    }
    for t in &q.boost_terms {
        add(format!("~{t}"));
    }
    if page > 0 {
        add(format!("page:{page}"));
    }
    out
}

/// Plays `turns` (message, expected summary, expected kind of turn) as one conversation.
fn converse(turns: &[(&str, &str, &str)]) {
    let mut current: Option<Query> = None;
    let mut page = 0;
    for (n, (message, want, kind)) in turns.iter().enumerate() {
        let (next, got_kind) = match &current {
            None => (parse(message).unwrap_or_else(|e| panic!("{message:?}: {e}")), "new"),
            Some(before) => match read(before, message).unwrap_or_else(|e| panic!("{message:?}: {e}")) {
                Reading::New(q) => {
                    page = 0;
                    (q, "new")
                }
                Reading::Refined(q) => {
                    page = 0;
                    let kind = if diff(before, &q).is_empty() { "same" } else { "refined" };
                    (q, kind)
                }
                Reading::NextPage => {
                    page += 1;
                    (before.clone(), "page")
                }
            },
        };
        let got = summary(&next, page);
        assert_eq!(
            (got.as_str(), got_kind),
            (*want, *kind),
            "turn {} of {:?}: {message:?}\nrequest {next:#?}",
            n + 1,
            turns.iter().map(|t| t.0).collect::<Vec<_>>()
        );
        // Every chip of the request says what it is.
        assert!(next.parts.iter().all(|p| !p.value.is_empty() || p.kind == crate::search::PartKind::Filler));
        current = Some(next);
    }
}

#[test]
fn refinements_add_or_change_constraints() {
    converse(&[
        ("people holding a parachute banner", "[people holding a parachute banner]", "new"),
        ("only the PNG ones", "[people holding a parachute banner] fmt:png", "refined"),
    ]);
    converse(&[
        ("photos of the team", "[photos of the team]", "new"),
        ("in landscape", "[photos of the team] or:landscape", "refined"),
        ("without text", "[photos of the team] or:landscape -text", "refined"),
    ]);
    converse(&[("company logos", "[company logos]", "new"), ("not the blue ones", "[company logos] -blue", "refined")]);
    converse(&[
        ("sunset over the harbour", "[sunset over the harbour]", "new"),
        ("show me 5", "[sunset over the harbour] count:5", "refined"),
    ]);
    converse(&[
        ("sunset over the harbour", "[sunset over the harbour]", "new"),
        ("just 3", "[sunset over the harbour] count:3", "refined"),
    ]);
    converse(&[
        ("sunset over the harbour", "[sunset over the harbour]", "new"),
        ("top 10", "[sunset over the harbour] count:10", "refined"),
    ]);
    converse(&[
        ("mountain lakes", "[mountain lakes]", "new"),
        ("darker ones", "[mountain lakes] tone:dark", "refined"),
    ]);
    converse(&[("mountain lakes", "[mountain lakes]", "new"), ("brighter", "[mountain lakes] tone:light", "refined")]);
    converse(&[
        ("mountain lakes", "[mountain lakes]", "new"),
        ("darker", "[mountain lakes] tone:dark", "refined"),
        ("lighter please", "[mountain lakes] tone:light", "refined"),
    ]);
    converse(&[
        ("product shots", "[product shots]", "new"),
        ("bigger", "[product shots] min:800", "refined"),
        ("even bigger", "[product shots] min:1200", "refined"),
    ]);
    converse(&[
        ("product shots", "[product shots]", "new"),
        ("high resolution only", "[product shots] min:1600", "refined"),
        ("larger", "[product shots] min:1920", "refined"),
    ]);
    converse(&[
        ("product shots, at least 1200 px wide", "[product shots] min:1200", "new"),
        ("smaller", "[product shots] min:800", "refined"),
        ("smaller", "[product shots]", "refined"),
    ]);
    converse(&[("icons", "[icons]", "new"), ("transparent ones", "[icons] transparent", "refined")]);
    converse(&[("icons", "[icons]", "new"), ("with a transparent background", "[icons] transparent", "refined")]);
    converse(&[("team photos", "[team photos]", "new"), ("square", "[team photos] or:square", "refined")]);
    converse(&[("team photos", "[team photos]", "new"), ("portrait ones", "[team photos] or:portrait", "refined")]);
    converse(&[("team photos", "[team photos]", "new"), ("landscape", "[team photos] or:landscape", "refined")]);
    converse(&[("red kayaks", "[red kayaks]", "new"), ("4K", "[red kayaks] min:3840 minh:2160", "refined")]);
    converse(&[("red kayaks", "[red kayaks]", "new"), ("HD only please", "[red kayaks] min:1280 minh:720", "refined")]);
    converse(&[("red kayaks", "[red kayaks]", "new"), ("at least 1000 px wide", "[red kayaks] min:1000", "refined")]);
    converse(&[("red kayaks", "[red kayaks]", "new"), ("no people", "[red kayaks] -people", "refined")]);
    converse(&[("red kayaks", "[red kayaks]", "new"), ("-logo", "[red kayaks] -logo", "refined")]);
    converse(&[("red kayaks", "[red kayaks]", "new"), ("except the blurry ones", "[red kayaks] -blurry", "refined")]);
    converse(&[("charts", "[charts]", "new"), ("SVG", "[charts] fmt:svg", "refined")]);
    converse(&[("charts", "[charts]", "new"), ("not GIFs", "[charts] fmt:jpeg,png,webp,svg,avif", "refined")]);
    converse(&[
        ("dogs on a beach", "[dogs on a beach]", "new"),
        ("PNG", "[dogs on a beach] fmt:png", "refined"),
        ("in portrait", "[dogs on a beach] fmt:png or:portrait", "refined"),
    ]);
    converse(&[
        ("dogs on a beach", "[dogs on a beach]", "new"),
        ("only webp, in landscape, without people", "[dogs on a beach] fmt:webp or:landscape -people", "refined"),
    ]);
}

#[test]
fn a_new_constraint_of_a_kind_replaces_the_one_before() {
    converse(&[
        ("JPEG photos of cats", "[photos of cats] fmt:jpeg", "new"),
        ("PNG instead", "[photos of cats] fmt:png", "refined"),
    ]);
    converse(&[
        ("cats in landscape", "[cats] or:landscape", "new"),
        ("actually portrait", "[cats] or:portrait", "refined"),
    ]);
    converse(&[
        ("5 photos of cats", "[photos of cats] count:5", "new"),
        ("show me 10", "[photos of cats] count:10", "refined"),
    ]);
    converse(&[
        ("dark mode screenshots", "[screenshots] tone:dark", "new"),
        ("light mode", "[screenshots] tone:light", "refined"),
    ]);
    converse(&[
        ("4k wallpapers", "[wallpapers] min:3840 minh:2160", "new"),
        ("HD is enough", "[wallpapers] min:1280 minh:720", "refined"),
    ]);
    converse(&[
        ("logos without text", "[logos] -text", "new"),
        ("and without people", "[logos] -text -people", "refined"),
    ]);
    converse(&[("png logos", "[logos] fmt:png", "new"), ("only the PNG ones", "[logos] fmt:png", "same")]);
}

#[test]
fn relaxing_takes_constraints_away() {
    converse(&[("PNG logos", "[logos] fmt:png", "new"), ("any format", "[logos]", "refined")]);
    converse(&[
        ("high-resolution photos of bridges", "[photos of bridges] min:1600", "new"),
        ("any size again", "[photos of bridges]", "refined"),
    ]);
    converse(&[
        ("landscape photos without people", "[photos] or:landscape -people", "new"),
        ("include people", "[photos] or:landscape", "refined"),
    ]);
    converse(&[
        ("landscape photos without people", "[photos] or:landscape -people", "new"),
        ("people are fine", "[photos] or:landscape", "refined"),
        ("any orientation", "[photos]", "refined"),
    ]);
    converse(&[
        ("beach photos with no text, in portrait", "[beach photos] or:portrait -text", "new"),
        ("with text", "[beach photos] or:portrait", "refined"),
    ]);
    converse(&[
        ("slides on a dark background", "[slides] tone:dark", "new"),
        ("any brightness", "[slides]", "refined"),
    ]);
    converse(&[
        ("5 PNG icons in landscape", "[icons] fmt:png or:landscape count:5", "new"),
        ("no filters", "[icons]", "refined"),
    ]);
    converse(&[
        ("5 PNG icons in landscape", "[icons] fmt:png or:landscape count:5", "new"),
        ("drop the format filter", "[icons] or:landscape count:5", "refined"),
        ("all of them", "[icons] or:landscape", "refined"),
    ]);
    converse(&[
        ("transparent PNG logos", "[logos] fmt:png transparent", "new"),
        ("remove the transparency", "[logos] fmt:png", "refined"),
    ]);
    converse(&[("PNG or JPEG charts", "[charts] fmt:png,jpeg", "new"), ("not PNG", "[charts] fmt:jpeg", "refined")]);
    converse(&[
        ("charts, not SVG", "[charts] fmt:jpeg,png,webp,gif,avif", "new"),
        ("any file type", "[charts]", "refined"),
    ]);
    converse(&[
        ("\"Apple Watch\" ads", "[Apple Watch ads] +\"apple watch\"", "new"),
        ("drop \"apple watch\"", "[Apple Watch ads]", "refined"),
    ]);
    converse(&[("red kayaks, no logos", "[red kayaks] -logos", "new"), ("logos too", "[red kayaks]", "refined")]);
    converse(&[("large maps", "[maps] min:1600", "new"), ("no size limit", "[maps]", "refined")]);
}

#[test]
fn correcting_a_misread_chip() {
    converse(&[
        ("4k wallpapers of mountains", "[wallpapers of mountains] min:3840 minh:2160", "new"),
        ("no, not 4k", "[wallpapers of mountains]", "refined"),
    ]);
    converse(&[
        ("vertical banners", "[banners] or:portrait", "new"),
        ("forget the orientation", "[banners]", "refined"),
    ]);
    converse(&[("animated logos", "[logos] fmt:gif", "new"), ("not gif", "[logos]", "refined")]);
    converse(&[
        ("square avatars", "[avatars] or:square", "new"),
        ("I meant landscape", "[avatars] or:landscape", "refined"),
    ]);
    converse(&[
        ("big trucks photos", "[trucks photos] min:1600", "new"),
        ("ignore the size", "[trucks photos]", "refined"),
    ]);
    converse(&[
        ("JPEG photos of the office", "[photos of the office] fmt:jpeg", "new"),
        ("sorry, I meant PNG", "[photos of the office] fmt:png", "refined"),
    ]);
}

#[test]
fn more_pages_on() {
    converse(&[
        ("photos of the team", "[photos of the team]", "new"),
        ("more", "[photos of the team] page:1", "page"),
        ("next page", "[photos of the team] page:2", "page"),
    ]);
    converse(&[
        ("PNG logos", "[logos] fmt:png", "new"),
        ("show me more", "[logos] fmt:png page:1", "page"),
        ("in landscape", "[logos] fmt:png or:landscape", "refined"),
    ]);
    converse(&[
        ("sunsets", "[sunsets]", "new"),
        ("more please", "[sunsets] page:1", "page"),
        ("next", "[sunsets] page:2", "page"),
    ]);
}

#[test]
fn a_new_description_starts_a_new_request() {
    converse(&[
        ("PNG logos without text", "[logos] fmt:png -text", "new"),
        ("now sunsets over the sea", "[sunsets over the sea]", "new"),
    ]);
    converse(&[
        ("people holding a parachute banner", "[people holding a parachute banner]", "new"),
        ("a red kayak on a lake", "[red kayak on a lake]", "new"),
    ]);
    converse(&[
        ("cats", "[cats]", "new"),
        ("how about dogs", "[dogs]", "new"),
        ("only PNG", "[dogs] fmt:png", "refined"),
    ]);
    converse(&[
        ("high-resolution photos of bridges", "[photos of bridges] min:1600", "new"),
        ("what about tunnels in landscape", "[tunnels] or:landscape", "new"),
    ]);
    converse(&[("cats in landscape", "[cats] or:landscape", "new"), ("dogs", "[dogs]", "new")]);
    converse(&[
        ("team photos", "[team photos]", "new"),
        ("instead the office building at night", "[office building at night]", "new"),
    ]);
    // "Three children play football" describes; it is no count, and it is a new request.
    converse(&[
        ("PNG logos", "[logos] fmt:png", "new"),
        ("Three children play football in a park", "[Three children play football in a park]", "new"),
    ]);
}

#[test]
fn more_words_for_the_same_request() {
    converse(&[
        ("people holding a banner", "[people holding a banner]", "new"),
        ("and on a beach", "[people holding a banner on a beach]", "refined"),
    ]);
    converse(&[
        ("houses in landscape", "[houses] or:landscape", "new"),
        ("with a red roof", "[houses with a red roof] or:landscape", "refined"),
    ]);
    converse(&[
        ("landscape photos without people", "[photos] or:landscape -people", "new"),
        ("also with mountains", "[photos with mountains] or:landscape -people", "refined"),
    ]);
}

#[test]
fn a_message_that_changes_nothing_says_so() {
    converse(&[("PNG logos", "[logos] fmt:png", "new"), ("ok thanks", "[logos] fmt:png", "same")]);
    converse(&[("PNG logos", "[logos] fmt:png", "new"), ("png", "[logos] fmt:png", "same")]);
    converse(&[("sunsets", "[sunsets]", "new"), ("any format", "[sunsets]", "same")]);
}

#[test]
fn changes_name_what_was_added_and_taken_away() {
    let before = parse("JPEG photos without dogs").unwrap();
    let Reading::Refined(after) = read(&before, "PNG instead, and dogs are fine").unwrap() else { panic!() };
    let changes = diff(&before, &after);
    let labels: Vec<&str> = changes.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["− JPEG", "− without \"dogs\"", "+ PNG"]);
    assert!(changes.iter().all(|c| matches!(c.op, ChangeOp::Added | ChangeOp::Removed)));
}

#[test]
fn bad_follow_ups_are_errors_like_first_messages() {
    let before = parse("cats").unwrap();
    assert!(read(&before, "   ").is_err());
    assert!(read(&before, &"x".repeat(2_000)).is_err());
}
