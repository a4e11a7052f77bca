use super::*;

struct Want {
    text: &'static str,
    formats: &'static [ImageFormat],
    exclude: &'static [&'static str],
    must: &'static [&'static str],
    min_width: Option<u32>,
    min_height: Option<u32>,
    orientation: Option<Orientation>,
    tone: Option<Tone>,
    transparent: Option<bool>,
    count: Option<u32>,
}

const NONE: Want = Want {
    text: "",
    formats: &[],
    exclude: &[],
    must: &[],
    min_width: None,
    min_height: None,
    orientation: None,
    tone: None,
    transparent: None,
    count: None,
};

fn check(message: &str, want: Want) {
    let q = parse(message).unwrap_or_else(|e| panic!("{message:?}: {e}"));
    let got = (
        q.text.as_str(),
        q.formats.as_slice(),
        q.exclude_terms.iter().map(String::as_str).collect::<Vec<_>>(),
        q.must_terms.iter().map(String::as_str).collect::<Vec<_>>(),
        q.min_width,
        q.min_height,
        q.orientation,
        q.tone,
        q.transparent,
        q.count,
    );
    let expected = (
        want.text,
        want.formats,
        want.exclude.to_vec(),
        want.must.to_vec(),
        want.min_width,
        want.min_height,
        want.orientation,
        want.tone,
        want.transparent,
        want.count,
    );
    assert_eq!(got, expected, "{message:?} parsed as {q:#?}");
    // Every filter that is set was explained.
    let kinds: Vec<PartKind> = q.parts.iter().map(|p| p.kind).collect();
    if !q.formats.is_empty() {
        assert!(kinds.contains(&PartKind::Format), "{message:?}");
    }
    if !q.exclude_terms.is_empty() {
        assert!(kinds.contains(&PartKind::Exclude), "{message:?}");
    }
    if q.count.is_some() {
        assert!(kinds.contains(&PartKind::Count), "{message:?}");
    }
}

use ImageFormat::*;

#[test]
fn the_issue_examples() {
    check("PNG images of the Apple Watch", Want { text: "Apple Watch", formats: &[Png], ..NONE });
    check(
        "I need high-resolution iPhone photos",
        Want { text: "iPhone photos", min_width: Some(HIGH_RES_MIN_WIDTH), ..NONE },
    );
    check(
        "camera feature screenshots in dark mode",
        Want { text: "camera feature screenshots", tone: Some(Tone::Dark), ..NONE },
    );
    check("product photos without people", Want { text: "product photos", exclude: &["people"], ..NONE });
    check("show me 5 sunset photos", Want { text: "sunset photos", count: Some(5), ..NONE });
    check(
        "high-resolution photos without people",
        Want { text: "photos", exclude: &["people"], min_width: Some(HIGH_RES_MIN_WIDTH), ..NONE },
    );
}

#[test]
fn stop_phrases_are_dropped() {
    check("show me pictures of red kayaks", Want { text: "red kayaks", ..NONE });
    check("find images of a lighthouse", Want { text: "lighthouse", ..NONE });
    check("Find me the team photo", Want { text: "team photo", ..NONE });
    check("can you show me coral reefs", Want { text: "coral reefs", ..NONE });
    check("I'm looking for diagrams of the ocean floor", Want { text: "diagrams of the ocean floor", ..NONE });
    check("search for satellite maps", Want { text: "satellite maps", ..NONE });
    check("please find some logos", Want { text: "logos", ..NONE });
    check("do you have any charts about temperature", Want { text: "charts about temperature", ..NONE });
    check("I want images of whales", Want { text: "whales", ..NONE });
    check("give me pictures", Want { text: "", ..NONE });
}

#[test]
fn format_synonyms() {
    check("jpg photos of dogs", Want { text: "photos of dogs", formats: &[Jpeg], ..NONE });
    check("JPEG banners", Want { text: "banners", formats: &[Jpeg], ..NONE });
    check("svg icons for the menu", Want { text: "icons for the menu", formats: &[Svg], ..NONE });
    check("vector logo", Want { text: "logo", formats: &[Svg], ..NONE });
    check("animated loading spinner", Want { text: "loading spinner", formats: &[Gif], ..NONE });
    check("GIFs of cats", Want { text: "cats", formats: &[Gif], ..NONE });
    check("webp or png screenshots", Want { text: "screenshots", formats: &[Webp, Png], ..NONE });
    check("avif hero images", Want { text: "hero", formats: &[Avif], ..NONE });
}

#[test]
fn sizes_and_resolution() {
    check("hi-res product shots", Want { text: "product shots", min_width: Some(HIGH_RES_MIN_WIDTH), ..NONE });
    check("large maps", Want { text: "maps", min_width: Some(HIGH_RES_MIN_WIDTH), ..NONE });
    check("4k wallpapers", Want { text: "wallpapers", min_width: Some(3840), min_height: Some(2160), ..NONE });
    check("full hd screenshots", Want { text: "screenshots", min_width: Some(1920), min_height: Some(1080), ..NONE });
    check("photos at least 1200 pixels wide", Want { text: "photos", min_width: Some(1200), ..NONE });
    check(
        "banners 1920x1080 or larger",
        Want { text: "banners", min_width: Some(1920), min_height: Some(1080), ..NONE },
    );
    check("charts wider than 800px", Want { text: "charts", min_width: Some(800), ..NONE });
    check("posters at least 1000 pixels tall", Want { text: "posters", min_height: Some(1000), ..NONE });
}

#[test]
fn orientation_tone_and_transparency() {
    check(
        "landscape photos of mountains",
        Want { text: "photos of mountains", orientation: Some(Orientation::Landscape), ..NONE },
    );
    check("vertical banners", Want { text: "banners", orientation: Some(Orientation::Portrait), ..NONE });
    check("square avatars", Want { text: "avatars", orientation: Some(Orientation::Square), ..NONE });
    check("logo with transparent background", Want { text: "logo", transparent: Some(true), ..NONE });
    check("png logo with no background", Want { text: "logo", formats: &[Png], transparent: Some(true), ..NONE });
    check("app screenshots in light mode", Want { text: "app screenshots", tone: Some(Tone::Light), ..NONE });
    check("products on a white background", Want { text: "products", tone: Some(Tone::Light), ..NONE });
    check("a portrait of a scientist", Want { text: "portrait of a scientist", ..NONE });
}

#[test]
fn negations() {
    check("beach photos without any people", Want { text: "beach photos", exclude: &["people"], ..NONE });
    check("forest pictures with no text", Want { text: "forest", exclude: &["text"], ..NONE });
    check("cars but not trucks", Want { text: "cars", exclude: &["trucks"], ..NONE });
    check("team photos excluding the CEO", Want { text: "team photos", exclude: &["ceo"], ..NONE });
    check("animals except dogs or cats", Want { text: "animals", exclude: &["dogs", "cats"], ..NONE });
    check("diagrams without labels in the ocean", Want { text: "diagrams in the ocean", exclude: &["labels"], ..NONE });
    check("reef photos -divers", Want { text: "reef photos", exclude: &["divers"], ..NONE });
    check("city at night, not blurry", Want { text: "city at night", exclude: &["blurry"], ..NONE });
    check("city at night , not blurry", Want { text: "city at night", exclude: &["blurry"], ..NONE });
}

#[test]
fn quoted_phrases_and_plus_are_required() {
    check("\"Apple Watch\" ads", Want { text: "Apple Watch ads", must: &["apple watch"], ..NONE });
    check("“sea turtle” drawings", Want { text: "sea turtle drawings", must: &["sea turtle"], ..NONE });
    check("kayak +red", Want { text: "kayak red", must: &["red"], ..NONE });
}

#[test]
fn counts() {
    check("show me three lighthouses", Want { text: "lighthouses", count: Some(3), ..NONE });
    check("top 10 infographics", Want { text: "infographics", count: Some(10), ..NONE });
    check("find 1000 photos", Want { text: "photos", count: Some(MAX_COUNT), ..NONE });
    check("a photo of 2 dogs", Want { text: "photo of 2 dogs", ..NONE });
    check("give me 4 images of boats", Want { text: "boats", count: Some(4), ..NONE });
}

#[test]
fn bad_input_is_an_error_with_a_message() {
    assert_eq!(parse(""), Err(QueryError::Empty));
    assert_eq!(parse("   \n\t "), Err(QueryError::Empty));
    let long = "a".repeat(10 * 1024);
    let err = parse(&long).unwrap_err();
    assert_eq!(err, QueryError::TooLong(10 * 1024));
    assert!(err.to_string().contains("limit is 1000"));
}

#[test]
fn odd_input_never_panics() {
    for m in [
        "\"",
        "\"\"",
        "-",
        "+",
        "-5",
        "without",
        "no no no",
        "x×y",
        "0x0",
        "99999999999999999999 px",
        "🦀 crabs",
        "show",
        "of of of",
        "---",
        "\"unclosed phrase",
    ] {
        let _ = parse(m);
    }
    assert_eq!(parse("without").unwrap().exclude_terms, Vec::<String>::new());
}

#[test]
fn parts_explain_every_filter() {
    let q = parse("show me 3 transparent PNG logos without text").unwrap();
    let kinds: Vec<PartKind> = q.parts.iter().map(|p| p.kind).collect();
    for k in [PartKind::Count, PartKind::Format, PartKind::Transparency, PartKind::Exclude, PartKind::Filler] {
        assert!(kinds.contains(&k), "{k:?} missing from {:?}", q.parts);
    }
    assert!(q.parts.iter().all(|p| !p.reason.is_empty() && !p.matched.is_empty()));
    assert_eq!(q.text, "logos");
}

#[test]
fn descriptions_of_the_subject_are_not_filters() {
    check("A large brown dog runs on the beach", Want { text: "large brown dog runs on the beach", ..NONE });
    check("Three children play football in a park", Want { text: "Three children play football in a park", ..NONE });
    check("Two dogs", Want { text: "Two dogs", ..NONE });
    check("A man with no hat walks his dog", Want { text: "man with no hat walks his dog", ..NONE });
    check("A man without a shirt climbs a rock", Want { text: "man without a shirt climbs a rock", ..NONE });
    check("a big city at dusk", Want { text: "big city at dusk", ..NONE });
    check("people in a town square", Want { text: "people in a town square", ..NONE });
    check("snow covered landscape", Want { text: "snow covered landscape", ..NONE });
    check("fish in a transparent container", Want { text: "fish in a transparent container", ..NONE });
    check("vector illustration of a kite", Want { text: "vector illustration of a kite", ..NONE });
    check("a 4x4 red jeep", Want { text: "4x4 red jeep", ..NONE });
    check("more than 20 people at a party", Want { text: "more than 20 people at a party", ..NONE });
    check(
        "pair of orange sneakers isolated on a white background",
        Want { text: "pair of orange sneakers isolated on a white background", ..NONE },
    );
    check(
        "Two ladies wearing nothing except body paint",
        Want { text: "Two ladies wearing nothing except body paint", ..NONE },
    );
    check("an animated cartoon of a dog", Want { text: "animated cartoon of a dog", ..NONE });
    check(
        "A person paints characters on a vertical banner",
        Want { text: "person paints characters on a vertical banner", ..NONE },
    );
    check(
        "Two toddlers , one topless , one without pants",
        Want { text: "Two toddlers one topless one without pants", ..NONE },
    );
}

#[test]
fn size_and_shape_words_filter_before_an_image_noun() {
    check("large images of dogs", Want { text: "dogs", min_width: Some(HIGH_RES_MIN_WIDTH), ..NONE });
    check(
        "big photos of the harbour",
        Want { text: "photos of the harbour", min_width: Some(HIGH_RES_MIN_WIDTH), ..NONE },
    );
    check(
        "large square PNG icons",
        Want {
            text: "icons",
            formats: &[Png],
            min_width: Some(HIGH_RES_MIN_WIDTH),
            orientation: Some(Orientation::Square),
            ..NONE
        },
    );
    check(
        "harbour photos in landscape",
        Want { text: "harbour photos", orientation: Some(Orientation::Landscape), ..NONE },
    );
    check("transparent product shots", Want { text: "product shots", transparent: Some(true), ..NONE });
    check("a dog, 4k", Want { text: "dog", min_width: Some(3840), min_height: Some(2160), ..NONE });
}

#[test]
fn a_number_counts_results_not_what_is_in_the_picture() {
    check("5 photos of boats", Want { text: "photos of boats", count: Some(5), ..NONE });
    check("3 PNG logos", Want { text: "logos", formats: &[Png], count: Some(3), ..NONE });
    check("pictures of 3 dogs", Want { text: "3 dogs", ..NONE });
    check("Two photos of a dog hang on the wall", Want { text: "Two photos of a dog hang on the wall", ..NONE });
    check("show me 2 dogs", Want { text: "dogs", count: Some(2), ..NONE });
}

#[test]
fn quotes_are_required_in_a_short_request_and_boosted_in_a_description() {
    let q = parse("Poster for the film \"Casablanca\" (1942)").unwrap();
    assert_eq!(q.must_terms, Vec::<String>::new(), "{q:#?}");
    assert_eq!(q.boost_terms, vec!["casablanca".to_string()]);
    assert_eq!(q.text, "Poster for the film Casablanca 1942");
    assert!(q.parts.iter().any(|p| p.kind == PartKind::Boost && p.matched == "\"Casablanca\""), "{q:#?}");
    let q = parse("A man holds a sign that says \"no parking\" on a street").unwrap();
    assert!(q.must_terms.is_empty() && q.exclude_terms.is_empty(), "{q:#?}");
    assert_eq!(q.boost_terms, vec!["no parking".to_string()]);
    // Words inside quotes are never filters: "PNG Express" is a name.
    check("\"PNG Express\" logo", Want { text: "PNG Express logo", must: &["png express"], ..NONE });
}

#[test]
fn one_chip_per_thing_understood() {
    let q = parse("jpg or jpeg photos of dogs").unwrap();
    let formats: Vec<&Part> = q.parts.iter().filter(|p| p.kind == PartKind::Format).collect();
    assert_eq!(formats.len(), 1, "{q:#?}");
    assert_eq!(formats[0].matched, format!("jpg{MATCHED_SEPARATOR}jpeg"));
    let q = parse("high-res large maps").unwrap();
    assert_eq!(q.parts.iter().filter(|p| p.kind == PartKind::MinSize).count(), 1, "{q:#?}");
}

#[test]
fn a_format_after_a_negation_asks_for_every_other_format() {
    check("logos, not SVG", Want { text: "logos", formats: &[Jpeg, Png, Webp, Gif, Avif], ..NONE });
    check("photos but not the GIFs", Want { text: "photos", formats: &[Jpeg, Png, Webp, Svg, Avif], ..NONE });
    check("icons without svg", Want { text: "icons", formats: &[Jpeg, Png, Webp, Gif, Avif], ..NONE });
    check("PNG or JPEG logos, no GIFs", Want { text: "logos", formats: &[Png, Jpeg], ..NONE });
    let q = parse("logos, not SVG").unwrap();
    let chip = q.parts.iter().find(|p| p.kind == PartKind::Format).unwrap();
    assert_eq!((chip.value.as_str(), chip.matched.as_str()), ("not svg", "not SVG"));
    // A negation of something else still excludes words, and a format after it is asked for.
    check("logos without text in png", Want { text: "logos", formats: &[Png], exclude: &["text"], ..NONE });
}

#[test]
fn kind_names_are_the_apis_and_every_kind_but_filler_is_a_chip() {
    for kind in PartKind::CHIPS.into_iter().chain([PartKind::Filler]) {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.name(), "{kind:?}");
        assert_eq!(PartKind::chip_named(kind.name()), (kind != PartKind::Filler).then_some(kind));
    }
    assert_eq!(PartKind::chip_named("colour"), None);
}
