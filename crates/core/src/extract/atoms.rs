//! Interned names, so the walk compares element and attribute names as integers instead of
//! strings (it does so for every element of every page).

use std::sync::LazyLock;

use markup5ever::LocalName;

pub(super) struct Names {
    pub a: LocalName,
    pub area: LocalName,
    pub img: LocalName,
    pub video: LocalName,
    pub input: LocalName,
    pub image: LocalName,
    pub meta: LocalName,
    pub link: LocalName,
    pub noscript: LocalName,
    pub script: LocalName,
    pub style: LocalName,
    pub onclick: LocalName,
    pub class: LocalName,
    pub headings: [LocalName; 6],
    pub backgrounds: [LocalName; 4],
}

pub(super) static NAMES: LazyLock<Names> = LazyLock::new(|| {
    let n = LocalName::from;
    Names {
        a: n("a"),
        area: n("area"),
        img: n("img"),
        video: n("video"),
        input: n("input"),
        image: n("image"),
        meta: n("meta"),
        link: n("link"),
        noscript: n("noscript"),
        script: n("script"),
        style: n("style"),
        onclick: n("onclick"),
        class: n("class"),
        headings: [n("h1"), n("h2"), n("h3"), n("h4"), n("h5"), n("h6")],
        backgrounds: [n("data-bg"), n("data-background"), n("data-bg-src"), n("data-background-image")],
    }
});
