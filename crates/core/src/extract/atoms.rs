//! Interned names, so the walk compares element and attribute names as integers instead of
//! strings (it does so for every element of every page).

use std::sync::LazyLock;

use markup5ever::{LocalName, ns};
use scraper::node::Element;

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
    pub href: LocalName,
    pub rel: LocalName,
    pub property: LocalName,
    pub name: LocalName,
    pub content: LocalName,
    pub src: LocalName,
    pub srcset: LocalName,
    pub data_srcset: LocalName,
    pub poster: LocalName,
    pub r#type: LocalName,
    pub media: LocalName,
    pub picture: LocalName,
    pub source: LocalName,
    pub figure: LocalName,
    pub figcaption: LocalName,
    pub body: LocalName,
    pub html: LocalName,
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
        href: n("href"),
        rel: n("rel"),
        property: n("property"),
        name: n("name"),
        content: n("content"),
        src: n("src"),
        srcset: n("srcset"),
        data_srcset: n("data-srcset"),
        poster: n("poster"),
        r#type: n("type"),
        media: n("media"),
        picture: n("picture"),
        source: n("source"),
        figure: n("figure"),
        figcaption: n("figcaption"),
        body: n("body"),
        html: n("html"),
        headings: [n("h1"), n("h2"), n("h3"), n("h4"), n("h5"), n("h6")],
        backgrounds: [n("data-bg"), n("data-background"), n("data-bg-src"), n("data-background-image")],
    }
});

/// The value of an attribute without a namespace: scraper's `attr()` interns the name it is
/// given on every call, and the walk asks on every element.
pub(super) fn attr<'e>(el: &'e Element, name: &LocalName) -> Option<&'e str> {
    el.attrs.iter().find(|(q, _)| q.local == *name && q.ns == ns!()).map(|(_, v)| &**v)
}
