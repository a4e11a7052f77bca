use super::*;

fn page() -> Url {
    Url::parse("http://site.test/dir/page.html").unwrap()
}

fn one(html: &str) -> ImageRecord {
    let p = extract(html, &page());
    assert_eq!(p.images.len(), 1, "{:#?}", p.images);
    p.images.into_iter().next().unwrap()
}

#[test]
fn img_with_alt_title_and_declared_size() {
    let r = one(
        r#"<h2>Boats</h2><p>On the lake <img src="kayak.jpg" alt=" A red  kayak " title="Morning" width="400" height="300"></p>"#,
    );
    assert_eq!(r.url.as_str(), "http://site.test/dir/kayak.jpg");
    assert_eq!(r.source, ImageSource::Img);
    assert_eq!(r.context.alt, "A red kayak");
    assert_eq!(r.context.title, "Morning");
    assert_eq!(r.context.heading, "Boats");
    assert_eq!(r.context.nearby_text, "On the lake");
    assert_eq!((r.context.declared_width, r.context.declared_height), (Some(400), Some(300)));
    assert_eq!(r.context.filename_tokens, vec!["kayak"]);
}

#[test]
fn srcset_widths_group_into_one_record_naming_the_largest() {
    let r = one(
        r#"<img src="a-640x480.jpg" srcset="a-320x240.jpg 320w, a-640x480.jpg 640w, a-1280x960.jpg 1280w" sizes="50vw" alt="x">"#,
    );
    assert_eq!(r.url.as_str(), "http://site.test/dir/a-1280x960.jpg");
    assert_eq!(r.variants.len(), 3);
    assert_eq!(r.dimensions(), (Some(1280), Some(960)));
}

#[test]
fn picture_sources_are_variants_with_media_and_type() {
    let r = one(
        r#"<picture><source type="image/webp" srcset="p.webp 1x, p@2x.webp 2x"><source media="(max-width: 600px)" srcset="small.jpg"><img src="p.jpg" alt="pic"></picture>"#,
    );
    assert_eq!(r.source, ImageSource::Picture);
    assert_eq!(r.url.as_str(), "http://site.test/dir/p@2x.webp");
    assert_eq!(r.variants.len(), 4);
    assert!(r.variants.iter().any(|v| v.mime.as_deref() == Some("image/webp")));
    assert!(r.variants.iter().any(|v| v.media.as_deref() == Some("(max-width: 600px)")));
}

#[test]
fn lazy_sources_win_over_placeholders_and_noscript_merges() {
    let html = r#"<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/real.jpg" alt="real" class="lazyload">
        <noscript><img src="/real.jpg" alt="real"></noscript>
        <img data-srcset="/s-400x300.jpg 400w, /s-800x600.jpg 800w" data-src="/s-400x300.jpg" alt="set">
        <img src="/o.jpg" data-original="/o-big.jpg" alt="orig">"#;
    let p = extract(html, &page());
    let urls: Vec<&str> = p.images.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(urls.len(), 3, "{urls:?}");
    assert!(urls.contains(&"http://site.test/real.jpg"));
    assert!(urls.contains(&"http://site.test/s-800x600.jpg"));
    assert!(p.images.iter().all(|r| r.context.lazy));
    assert!(p.rejected.is_empty(), "{:?}", p.rejected);
}

#[test]
fn every_other_source_kind() {
    let html = r#"<html><head><title>T</title>
        <meta property="og:image" content="/og.jpg"><meta name="twitter:image" content="/tw.jpg">
        <link rel="image_src" href="/ls.jpg">
        <style>.hero { background-image: url('/hero.jpg') } @font-face { src: url(/f.woff) }</style>
        <script type="application/ld+json">{"@type":"Article","image":{"@type":"ImageObject","url":"/ld.jpg","caption":"LD caption"}}</script>
        </head><body>
        <div class="hero"><p>Hero text</p></div>
        <div style="background: url(/inline.jpg)" aria-label="Inline bg"></div>
        <div data-bg="/databg.jpg">Data bg</div>
        <video poster="/poster.jpg" aria-label="A video"></video>
        <input type="image" src="/button-photo.jpg" alt="Submit photo">
        <svg><image href="/svg.jpg"></image><image xlink:href="/xlink.jpg"></image></svg>
        </body></html>"#;
    let p = extract(html, &page());
    let got: std::collections::HashMap<&str, ImageSource> = p.images.iter().map(|r| (r.url.path(), r.source)).collect();
    for (path, source) in [
        ("/og.jpg", ImageSource::OgImage),
        ("/tw.jpg", ImageSource::TwitterImage),
        ("/ls.jpg", ImageSource::LinkImageSrc),
        ("/hero.jpg", ImageSource::StyleSheet),
        ("/ld.jpg", ImageSource::JsonLd),
        ("/inline.jpg", ImageSource::InlineStyle),
        ("/databg.jpg", ImageSource::InlineStyle),
        ("/poster.jpg", ImageSource::VideoPoster),
        ("/button-photo.jpg", ImageSource::InputImage),
        ("/svg.jpg", ImageSource::SvgImage),
        ("/xlink.jpg", ImageSource::SvgImage),
    ] {
        assert_eq!(got.get(path), Some(&source), "{path}: {got:?}");
    }
    assert_eq!(p.images.len(), 11, "fonts are not images");
    let hero = p.images.iter().find(|r| r.url.path() == "/hero.jpg").unwrap();
    assert_eq!(hero.context.nearby_text, "Hero text");
    let ld = p.images.iter().find(|r| r.url.path() == "/ld.jpg").unwrap();
    assert_eq!(ld.context.title, "LD caption");
    assert!(p.images.iter().all(|r| r.context.page_title == "T"));
}

#[test]
fn figure_caption_link_and_aria_labelledby() {
    let html = r#"<p id="lbl">Label text</p><figure><a href="/full.jpg"><img src="/thumb.jpg" aria-labelledby="lbl"></a>
        <figcaption>The caption</figcaption></figure>"#;
    let r = one(html);
    assert_eq!(r.context.figcaption, "The caption");
    assert_eq!(r.context.aria_label, "Label text");
    assert_eq!(r.context.link_href.as_deref(), Some("/full.jpg"));
    assert_eq!(r.context.description(), "The caption");
}

#[test]
fn base_href_canonical_robots_and_links() {
    let html = r#"<head><base href="http://cdn.test/base/"><link rel="canonical" href="/canon">
        <meta name="robots" content="noindex, NOFOLLOW"></head>
        <body><img src="i.jpg" alt="x"><a href="next.html#frag">n</a><a href="next.html">dup</a>
        <a href="mailto:x@y">m</a><a href="javascript:void(0)">j</a><a href="https://other.test/">o</a></body>"#;
    let p = extract(html, &page());
    assert_eq!(p.images[0].url.as_str(), "http://cdn.test/base/i.jpg");
    assert_eq!(p.canonical.unwrap().as_str(), "http://cdn.test/canon");
    assert_eq!(p.robots, MetaRobots { noindex: true, nofollow: true });
    let links: Vec<&str> = p.links.iter().map(Url::as_str).collect();
    assert_eq!(links, vec!["http://cdn.test/base/next.html", "https://other.test/"]);
}

#[test]
fn a_source_naming_the_page_itself_is_not_an_image() {
    // As a site mirror leaves an empty `src`.
    let html = r#"<img src="page.html" alt="self"><img src="page.html#top" alt="self with a fragment">
        <img src="/photo.jpg" alt="a photo">"#;
    let p = extract(html, &page());
    assert_eq!(p.images.iter().map(|r| r.url.as_str()).collect::<Vec<_>>(), ["http://site.test/photo.jpg"]);
    assert_eq!(p.rejected.len(), 2, "{:?}", p.rejected);
    assert!(p.rejected.iter().all(|r| r.reason == RejectReason::NotAnImage), "{:?}", p.rejected);
    // Scripts and other pages can serve images (resizers, counter pixels): still sources.
    let r = one(r#"<img src="/imrs.php?src=https://cdn.test/a.jpg&amp;w=300" alt="resized">"#);
    assert_eq!(r.url.as_str(), "http://site.test/imrs.php?src=https://cdn.test/a.jpg&w=300");
    let r = one(r#"<img src="/count/story.html?id=7" alt="counted">"#);
    assert_eq!(r.url.as_str(), "http://site.test/count/story.html?id=7");
}

#[test]
fn a_theme_attribute_names_the_picture_when_src_does_not() {
    let r = one(r#"<img id="article-image" src="page.html" custom-size=true alt="Students on the reef"
            landscape-small="/up/reef-750x440.jpg" landscape-large="/up/reef-1154x576.jpg"
            default="/up/reef-e1491595382614.jpg" data-caption="see photo.jpg">"#);
    assert_eq!(r.url.as_str(), "http://site.test/up/reef-1154x576.jpg");
    let mut urls: Vec<&str> = r.variants.iter().map(|v| v.url.as_str()).collect();
    urls.sort_unstable();
    assert_eq!(
        urls,
        [
            "http://site.test/up/reef-1154x576.jpg",
            "http://site.test/up/reef-750x440.jpg",
            "http://site.test/up/reef-e1491595382614.jpg"
        ]
    );
    assert_eq!(r.context.alt, "Students on the reef");
    // A lazy loader of its own, with no src at all.
    let r = one(r#"<img class="lazyLoad" data-source-standard="http://cdn.test/2015/03/roll-300x200.jpg">"#);
    assert_eq!(r.url.as_str(), "http://cdn.test/2015/03/roll-300x200.jpg");
    // Alt text that reads like a file name is words; a real src makes other attributes irrelevant.
    let p = extract(r#"<img alt="sunset.jpg"><img src="/a.jpg" data-hover="/b.jpg" alt="a">"#, &page());
    assert_eq!(p.images.iter().map(|r| r.url.as_str()).collect::<Vec<_>>(), ["http://site.test/a.jpg"]);
    assert_eq!(p.images[0].variants.len(), 1);
}

#[test]
fn junk_is_rejected_with_reasons_and_counted() {
    let html = r#"<img src="/px/t.gif" width="1" height="1"><img src="[[=imageSrc]]" alt="[[=title]]">
        <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><img src="/spacer.gif">
        <img src="/icons/menu.svg" alt="menu"><img src="/b.png" width="20" height="20" alt="badge">
        <img src="/loading.gif" alt="Loading Events"><img src="/photo.jpg" alt="a photo">"#;
    let p = extract(html, &page());
    assert_eq!(p.images.len(), 1);
    let reasons: Vec<RejectReason> = p.rejected.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        vec![
            RejectReason::TrackingPixel,
            RejectReason::TemplatePlaceholder,
            RejectReason::DataUriPlaceholder,
            RejectReason::Spacer,
            RejectReason::Icon,
            RejectReason::Tiny,
            RejectReason::Spinner
        ]
    );
}

#[test]
fn context_fields_are_capped() {
    let long = "word ".repeat(500);
    let r = one(&format!(r#"<p>{long}<img src="/a.jpg" alt="{long}"></p>"#));
    assert_eq!(r.context.alt.chars().count(), MAX_FIELD_CHARS);
    assert_eq!(r.context.nearby_text.chars().count(), MAX_NEARBY_CHARS);
    let r = one(&format!(r#"<figure><img src="/a.jpg"><figcaption>{long}</figcaption></figure>"#));
    assert_eq!(r.context.figcaption.chars().count(), MAX_FIELD_CHARS);
}

#[test]
fn the_words_that_name_the_picture_late_in_a_long_paragraph_are_kept() {
    // Norwich Market on Wikipedia: the paragraph before the figure names the arcade at its end.
    let paragraph =
        format!("{} was replaced with George Skipper's Royal Arcade.", "Meanwhile the station had opened. ".repeat(12));
    let r = one(&format!(
        r#"<main><h1>Norwich Market</h1><p>{paragraph}</p><figure><img src="/a.jpg" alt="A shopping mall"></figure></main>"#
    ));
    assert!(r.context.nearby_text.ends_with("Royal Arcade."), "{}", r.context.nearby_text);
}

#[test]
fn hostile_input_never_panics() {
    let inputs = [
        "",
        "<",
        "<img",
        "<img src>",
        "<img src=\"http://[::1\">",
        "<img srcset=\", , ,\">",
        "<picture><source srcset><img></picture>",
        "<div style=\"background:url(\">",
        "<style>{{{{</style>",
        "<script type=\"application/ld+json\">[[[[</script>",
        "<noscript><img src=x><noscript><img src=y></noscript></noscript>",
        "<base href=\"javascript:alert(1)\"><img src=a.jpg alt=ok>",
        "\u{0}\u{feff}<img src=\"\u{0}\">",
        "<svg><image href=\"\"></image></svg>",
    ];
    for html in inputs {
        let _ = extract(html, &page());
    }
    let deep = "<div>".repeat(5_000) + "<img src=a.jpg alt=deep>";
    let p = extract(&deep, &page());
    assert_eq!(p.images.len(), 1);
}

#[test]
fn per_page_image_limit_counts_the_rest() {
    let html: String = (0..MAX_IMAGES_PER_PAGE + 5).map(|i| format!("<img src=\"/p{i}.jpg\" alt=\"p\">")).collect();
    let p = extract(&html, &page());
    assert_eq!(p.images.len(), MAX_IMAGES_PER_PAGE);
    assert_eq!(p.rejected.iter().filter(|r| r.reason == RejectReason::TooMany).count(), 5);
}

#[test]
fn onclick_navigation_counts_as_a_link() {
    let html = r#"<h3 onclick="window.location='/news/a/';">A</h3><div onclick="location.href = &quot;/news/b/&quot;">B</div>
        <span onclick="window.open('/news/c/')">C</span><button onclick="doThing()">D</button>"#;
    let p = extract(html, &page());
    let links: Vec<&str> = p.links.iter().map(Url::as_str).collect();
    assert_eq!(links, vec!["http://site.test/news/a/", "http://site.test/news/b/", "http://site.test/news/c/"]);
}

#[test]
fn images_in_client_side_templates_are_seen() {
    let html = r#"<script type="text/html" id="tmpl"><div><img src="[[=imageSrc]]" alt="[[=title]]"><img src="/static-in-template.jpg" alt="static"></div></script>
        <script>var x = '<img src="/not-markup.jpg">';</script>"#;
    let p = extract(html, &page());
    assert_eq!(p.images.iter().map(|r| r.url.path()).collect::<Vec<_>>(), vec!["/static-in-template.jpg"]);
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(p.rejected[0].reason, RejectReason::TemplatePlaceholder);
}

#[test]
fn nearby_text_leaves_out_scripts_styles_and_noscript_markup() {
    let r = one(r#"<div><script>var ads = window.ads || []; ads.push("slot");</script><style>.x { color: red }</style>
        <img src="/boat.jpg" alt=""><noscript><img src="/boat.jpg"></noscript> Sailing at dawn</div>"#);
    assert_eq!(r.context.nearby_text, "Sailing at dawn");
}

#[test]
fn nearby_text_climbs_past_empty_blocks_within_the_node_budget() {
    // The image sits three empty levels deep; the fourth level holds the words.
    let r = one(r#"<section>Harbour at night <div><span><a href="/h"><img src="/h.jpg"></a></span></div></section>"#);
    assert_eq!(r.context.nearby_text, "Harbour at night");
    // The same words after an empty list of 500 nodes are past the nodes a block is read for;
    // stepping over the already-read empty list must not read past that budget either.
    let items = "<li><b></b></li>".repeat(250);
    let html = format!(r#"<section><div><ul>{items}</ul><span><img src="/h.jpg"></span></div>Far words</section>"#);
    assert_eq!(one(&html).context.nearby_text, "");
    let items = "<li></li>".repeat(20);
    let html = format!(r#"<section><div><ul>{items}</ul><span><img src="/h.jpg"></span></div>Near words</section>"#);
    assert_eq!(one(&html).context.nearby_text, "Near words");
}

#[test]
fn hash64_tells_apart_keys_that_differ_only_at_the_end() {
    let keys =
        ["", "a", "a\0", "ab", "abcdefgh", "abcdefgh\0", "abcdefghi", "http://site.test/a", "http://site.test/b"];
    let hashes: std::collections::HashSet<u64> = keys.iter().map(|k| hash64(k.as_bytes())).collect();
    assert_eq!(hashes.len(), keys.len());
    assert_eq!(hash64(b"same"), hash64(b"same"));
}

fn nearby_of(html: &str, path: &str) -> String {
    let p = extract(html, &page());
    let r = p.images.iter().find(|r| r.url.path() == path).unwrap_or_else(|| panic!("{path}: {:#?}", p.images));
    r.context.nearby_text.clone()
}

#[test]
fn a_figure_between_paragraphs_is_described_by_them() {
    // WordPress: the figure's own block holds no words; the paragraphs beside it do.
    let wordpress = r#"<article><h1>Reef survey</h1><div class="entry-content"><p>Divers counted fish on the reef.</p>
        <figure class="wp-block-image"><img src="/reef.jpg" alt=""></figure><p>The count doubled since 2010.</p></div></article>"#;
    assert_eq!(nearby_of(wordpress, "/reef.jpg"), "Divers counted fish on the reef. The count doubled since 2010.");
    // An article page straight under <body>: title, paragraph, figure.
    let article = r#"<html><body><h1>Lighthouses</h1><p>The tower was built in 1871.</p><figure><img src="/tower.jpg"></figure></body></html>"#;
    assert_eq!(nearby_of(article, "/tower.jpg"), "The tower was built in 1871.");
    // A figure with a caption keeps it: its own block has words.
    let captioned =
        r#"<p>Before.</p><figure><img src="/c.jpg"><figcaption>The caption</figcaption></figure><p>After.</p>"#;
    assert_eq!(nearby_of(captioned, "/c.jpg"), "The caption");
}

#[test]
fn wikipedia_thumbs_and_card_grids_keep_their_own_words() {
    let thumb = r#"<p>Intro.</p><div class="thumb tright"><div class="thumbinner"><a href="/f" class="image"><img src="/w.jpg"></a>
        <div class="thumbcaption">A heron in flight</div></div></div><p>Next paragraph.</p>"#;
    assert_eq!(nearby_of(thumb, "/w.jpg"), "A heron in flight");
    let cards = r#"<div class="cards"><div class="card"><a href="/1"><img src="/c1.jpg"></a><p>Red kayak for two</p></div>
        <div class="card"><a href="/2"><img src="/c2.jpg"></a><p>Blue canoe</p></div></div>"#;
    assert_eq!(nearby_of(cards, "/c1.jpg"), "Red kayak for two");
    assert_eq!(nearby_of(cards, "/c2.jpg"), "Blue canoe");
}

#[test]
fn neighbouring_text_stays_in_the_section_and_out_of_the_furniture() {
    // A gallery whose only words are its heading: the heading is the heading field, not nearby text.
    let gallery = r#"<html><body><h2>Gallery</h2><div class="gallery"><img src="/g1.jpg"><img src="/g2.jpg"></div>
        <footer><p>Copyright 2024</p></footer></body></html>"#;
    let p = extract(gallery, &page());
    assert_eq!(p.images.len(), 2);
    assert!(
        p.images.iter().all(|r| r.context.nearby_text.is_empty() && r.context.heading == "Gallery"),
        "{:#?}",
        p.images
    );
    // Never across a heading, never a consent banner, navigation or another image's block.
    let html = r#"<html><body><p>The last section's words.</p><h2>Whales</h2><figure><img src="/whale.jpg"></figure>
        <p class="cookie-notice">We use cookies</p><nav><p>Home</p></nav><p>Other <img src="/other.jpg"></p>
        <p>A humpback breaching.</p></body></html>"#;
    assert_eq!(nearby_of(html, "/whale.jpg"), "A humpback breaching.");
}

#[test]
fn a_logo_in_the_footer_is_not_described_by_the_footer_links() {
    let html = r#"<html><body><main><p>Story.</p></main><div class="footer-wrapper"><footer><h2><a href="/">
        <img src="/logo.jpg" alt="Site" width="200" height="80"></a></h2><div class="links"><a href="/p">Privacy Policy</a>
        <small>All rights reserved</small></div></footer></div></body></html>"#;
    assert_eq!(nearby_of(html, "/logo.jpg"), "");
    // "unavailable" is not navigation: the words of a block so named still describe its image.
    let html = r#"<div class="unavailable-item"><img src="/sold.jpg"> Sold out kayak</div>"#;
    assert_eq!(nearby_of(html, "/sold.jpg"), "Sold out kayak");
}

#[test]
fn a_source_whose_fifth_byte_falls_inside_a_character_is_read_without_a_panic() {
    // Found by the `extract` fuzz target: the `data:` prefix test sliced bytes 0..5.
    let page = Url::parse("http://fixture.test/").unwrap();
    let html =
        "<img src=\"\u{FFFD}\u{FFFD}-data:image/svg+xml,%3Csvg%3E\" alt=\"x\"><img src=\"\u{e9}\u{e9}\u{e9}.png\">";
    let found = extract(html, &page);
    assert!(found.images.iter().any(|i| i.url.path().ends_with(".png")), "{:?}", found.images);
}
