//! `image-chat eval --e2e`: search quality through the product's own path. Each dev set is
//! written out as a small site laid out as real sites lay such pictures out (Flickr8k as
//! galleries of figures, Concadia as one article page per picture: the title as `<h1>`, the
//! paragraph as a sibling `<p>`, the image in a `<figure>`; the caption, which is the query, is
//! never on the page), served on loopback by the fixture server, crawled by the real crawler
//! with image analysis on, stored by the ingest the web app uses, and every query is asked
//! through the function `POST /chat` calls, the chat parser included. The offline figures
//! (`image-chat eval`) feed the index directly and skip the extractor and the parser; this one
//! does not.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use image_chat_core::Settings;
use image_chat_core::embed::Embedder;
use image_chat_core::eval::{DEPTH, EvalSet, Metrics};
use image_chat_core::extract::ImageRecord;
use image_chat_core::index::Namespace;
use image_chat_core::ingest::BATCH;
use image_chat_core::search::ImageFormat;
use image_chat_core::search::PartKind;
use image_chat_core::services::{IndexUse, Services};
use image_chat_fixtures::images::{jpeg_grey, png};
use image_chat_fixtures::server::{FixtureConfig, FixtureServer};
use image_chat_fixtures::site::esc;

const NAMESPACE: &str = "eval-e2e";
/// Pictures per gallery page of the Flickr8k site.
const PER_GALLERY: usize = 20;

/// How document `i`'s picture is served: a quarter PNG, the rest JPEG; landscape, portrait and
/// square; 640, 1200 or 1800 px wide (large enough that nothing is dropped as too small), so a
/// follow-up's format, shape or size constraint has something to tell apart.
pub fn picture(i: usize) -> (ImageFormat, u32, u32) {
    let format = if i % 4 == 1 { ImageFormat::Png } else { ImageFormat::Jpeg };
    let w = [640, 1200, 1800][(i / 6) % 3];
    let h = match (i / 2) % 3 {
        0 => w * 3 / 4,
        1 => w * 4 / 3,
        _ => w,
    };
    (format, w, h)
}

/// Which layout a set's site takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Pages of figures whose only words are their alt texts.
    Gallery,
    /// One article page per picture: title, paragraph, figure.
    Article,
}

/// One set's figures through the whole path.
#[derive(Clone, Debug, Default, Serialize)]
pub struct E2eReport {
    pub set: String,
    /// Pictures on the site (one per document of the set).
    pub pictures: usize,
    pub pages_crawled: u64,
    pub images_indexed: u64,
    pub queries: usize,
    pub metrics: Metrics,
    /// Queries whose answer showed a filter chip (anything but request words and boosts).
    pub with_filter_chip: usize,
    /// Queries answered with no result at all.
    pub empty_answers: usize,
    /// Queries answered only with images that miss a filter of the message.
    pub only_relaxed: usize,
    /// A few queries that got a chip, with the chips, for reading.
    pub chip_examples: Vec<String>,
    /// A constraint added by a follow-up, against the same typed at once.
    pub refinement: super::eval_refine::RefineReport,
    /// Each query's first results (paths on the site), in the set's order, to compare two stores
    /// query by query.
    #[serde(skip)]
    pub rankings: Rankings,
}

/// The URLs of each query's top results.
#[derive(Clone, Default)]
pub struct Rankings(pub Vec<Vec<String>>);

impl std::fmt::Debug for Rankings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rankings({} queries)", self.0.len())
    }
}

/// The image path of document `i`.
pub fn image_path(i: usize) -> String {
    let ext = if picture(i).0 == ImageFormat::Png { "png" } else { "jpg" };
    format!("/img/{i}.{ext}")
}

fn picture_bytes(i: usize) -> Vec<u8> {
    match picture(i) {
        (ImageFormat::Png, w, h) => png(w, h, i as u64 + 1).bytes,
        (_, w, h) => jpeg_grey(w, h, i as u64 + 1),
    }
}

/// The site's files: (path, bytes).
fn site_files(set: &EvalSet, layout: Layout) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut links = Vec::new();
    let img = |i: usize, alt: &str| {
        let (_, w, h) = picture(i);
        format!("<figure><img src=\"{}\" alt=\"{}\" width=\"{w}\" height=\"{h}\"></figure>", image_path(i), esc(alt))
    };
    match layout {
        Layout::Gallery => {
            for (g, chunk) in set.docs.chunks(PER_GALLERY).enumerate() {
                let figures: String = chunk
                    .iter()
                    .enumerate()
                    .map(|(k, d)| img(g * PER_GALLERY + k, &d.0))
                    .collect::<Vec<_>>()
                    .join("\n");
                let path = format!("/gallery/{g}.html");
                let html = format!(
                    "<!doctype html><html><head><title>Photo gallery {g}</title></head><body>\
                     <nav><a href=\"/\">Home</a></nav><h1>Photo gallery</h1><div class=\"gallery\">{figures}</div>\
                     <footer><p>All photos by their owners.</p></footer></body></html>"
                );
                links.push(path.clone());
                files.push((path, html.into_bytes()));
            }
        }
        Layout::Article => {
            for (i, (alt, title, paragraph)) in set.docs.iter().enumerate() {
                let path = format!("/wiki/{i}.html");
                let html = format!(
                    "<!doctype html><html><head><title>{t} - Wiki</title></head><body>\
                     <nav><a href=\"/\">Home</a></nav><main><h1>{t}</h1><p>{p}</p>{figure}</main>\
                     <footer><p>Text is available under a free licence.</p></footer></body></html>",
                    t = esc(title),
                    p = esc(paragraph),
                    figure = img(i, alt)
                );
                links.push(path.clone());
                files.push((path, html.into_bytes()));
            }
        }
    }
    let list: String = links.iter().map(|l| format!("<li><a href=\"{l}\">{l}</a></li>")).collect();
    let index = format!("<!doctype html><html><head><title>Index</title></head><body><ul>{list}</ul></body></html>");
    files.push(("/index.html".into(), index.into_bytes()));
    for i in 0..set.docs.len() {
        files.push((image_path(i), picture_bytes(i)));
    }
    files
}

fn write_site(dir: &Path, files: &[(String, Vec<u8>)]) -> image_chat_core::Result<()> {
    for (path, bytes) in files {
        let file = dir.join(path.trim_start_matches('/'));
        let written = file.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&file, bytes));
        written.map_err(|e| image_chat_core::Error::Invalid(format!("cannot write {}: {e}", file.display())))?;
    }
    Ok(())
}

/// Runs one set end to end; `progress` hears what is happening.
pub async fn run(
    set: &EvalSet,
    layout: Layout,
    settings: &Settings,
    embedder: Arc<dyn Embedder>,
    progress: impl Fn(&str),
) -> image_chat_core::Result<E2eReport> {
    let invalid = |e: String| image_chat_core::Error::Invalid(e);
    let dir = tempfile::tempdir().map_err(|e| invalid(format!("cannot make a folder for the site: {e}")))?;
    write_site(dir.path(), &site_files(set, layout))?;
    let server = FixtureServer::start(FixtureConfig::folder(dir.path(), "http://eval.test"))
        .await
        .map_err(|e| invalid(format!("cannot serve the site: {e}")))?;

    // The server's product, with the guard told to allow this loopback site, the analysis on
    // and the index in memory.
    let mut settings = settings.clone();
    settings.crawler.allow_hosts.push("127.0.0.1".into());
    settings.crawler.analyze_images = true;
    let services = Services::from_settings(settings, IndexUse::InMemory)?.with_embedder(Ok(embedder));
    let start = url::Url::parse(&server.url("/index.html")).map_err(|e| invalid(e.to_string()))?;
    let pages = set.docs.len().div_ceil(if layout == Layout::Gallery { PER_GALLERY } else { 1 }) as u32 + 1;
    progress(&format!("crawling {pages} pages of {} pictures", set.docs.len()));
    let crawler = services.crawler(start).max_pages(pages).max_depth(2);
    let mut images: Vec<ImageRecord> = Vec::new();
    let summary = crawler.run(|page| images.extend(page.images)).await;

    progress(&format!("analysing and indexing {} images", images.len()));
    let ingest = services.ingest()?;
    let namespace = Namespace::parse(NAMESPACE)?;
    let mut indexed = 0;
    while !images.is_empty() {
        let batch: Vec<ImageRecord> = images.drain(..images.len().min(BATCH)).collect();
        indexed += ingest.store(&namespace, batch, std::future::pending::<()>()).await?.indexed;
    }

    progress(&format!("asking {} queries through the chat path", set.queries.len()));
    let engine = services.engine()?;
    let caches = services.caches().clone();
    let chat = services.chat_parser().cloned();
    let wanted_url = |i: usize| server.url(&image_path(i));
    let mut report = E2eReport {
        set: set.name.to_string(),
        pictures: set.docs.len(),
        pages_crawled: summary.counters.pages_fetched,
        images_indexed: indexed,
        queries: set.queries.len(),
        ..E2eReport::default()
    };
    let mut metrics = Metrics::default();
    for (query, want) in &set.queries {
        let want = wanted_url(*want);
        let (answer, _) = image_chat_core::search::cached::search(
            &engine,
            &caches,
            chat.as_deref(),
            query,
            vec![namespace.clone()],
            Some(DEPTH),
        )
        .await?;
        // Paths, not URLs: the site's port changes from run to run.
        let site = server.url("");
        let paths = answer.results.iter().take(DEPTH).map(|r| r.url.strip_prefix(&site).unwrap_or(&r.url).to_string());
        report.rankings.0.push(paths.collect());
        // The picture, or a copy of it shown as one result with it.
        let rank = answer.results.iter().position(|r| r.url == want || r.alternatives.contains(&want));
        metrics.add(rank);
        let chips: Vec<String> = answer
            .query
            .parts
            .iter()
            .filter(|p| !matches!(p.kind, PartKind::Filler | PartKind::Boost))
            .map(|p| format!("{:?}: {}", p.kind, p.value))
            .collect();
        if !chips.is_empty() {
            report.with_filter_chip += 1;
            if report.chip_examples.len() < 10 {
                report.chip_examples.push(format!("{query:?} -> {}", chips.join(", ")));
            }
        }
        if answer.results.is_empty() {
            report.empty_answers += 1;
        } else if answer.results.iter().all(|r| !r.unmet.is_empty()) {
            report.only_relaxed += 1;
        }
    }
    report.metrics = metrics.mean(set.queries.len());

    progress("asking each picture's description, then a follow-up its picture meets");
    report.refinement = super::eval_refine::run(set, &engine, &caches, chat.as_deref(), wanted_url, &namespace).await?;
    Ok(report)
}
