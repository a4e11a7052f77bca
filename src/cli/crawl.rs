//! `image-chat crawl URL`: crawl a site from the terminal with a progress bar; print a summary,
//! or one JSON image record per line with `--json`.

use std::io::Write;
use std::process::ExitCode;

use super::bad_input;
use std::time::Duration;

use image_chat_core::Settings;
use image_chat_core::crawl::CrawlEvent;
use image_chat_core::index::Namespace;
use image_chat_core::ingest::{BATCH, Stored};
use image_chat_core::model::ImageRecord;
use image_chat_core::render::RenderMode;
use image_chat_core::services::{IndexUse, Services};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args)]
pub struct CrawlArgs {
    /// The site to crawl (http or https).
    url: String,
    /// Most pages to fetch (default: crawler.max_pages; at most crawler.max_pages_limit).
    #[arg(long)]
    max_pages: Option<u32>,
    /// Link depth from the start page (default: crawler.max_depth).
    #[arg(long)]
    depth: Option<u32>,
    /// Write one JSON image record per line to stdout instead of a summary.
    #[arg(long)]
    json: bool,
    /// Only crawl paths matching this pattern (`*` = any characters); repeatable.
    #[arg(long)]
    include: Vec<String>,
    /// Skip paths matching this pattern; repeatable.
    #[arg(long)]
    exclude: Vec<String>,
    /// Also crawl subdomains of the start host.
    #[arg(long)]
    subdomains: bool,
    /// Ignore robots.txt (only for sites you own).
    #[arg(long)]
    no_robots: bool,
    /// Do not read sitemaps.
    #[arg(long)]
    no_sitemaps: bool,
    /// Render pages in headless Chromium: auto (pages whose HTML shows script-built content),
    /// always or never; crawler.render when absent.
    #[arg(long, value_parser = ["auto", "always", "never"])]
    render: Option<String>,
    /// Let the SSRF guard through for this loopback/private host (e.g. 127.0.0.1); repeatable.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Embed the images and store them in the data dir's index for `image-chat search`.
    #[arg(long)]
    index: bool,
    /// Index namespace (default: the start URL's host, dots as dashes).
    #[arg(long, requires = "index")]
    namespace: Option<String>,
}

pub async fn run(args: CrawlArgs, mut settings: Settings) -> ExitCode {
    let start = match url::Url::parse(args.url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        Ok(u) => return bad_input(&format!("`{}` is not an http(s) URL with a host", u)),
        Err(e) => return bad_input(&format!("`{}` is not a URL: {e}", args.url)),
    };
    let limits = &settings.crawler;
    let max_pages = args.max_pages.unwrap_or(limits.max_pages);
    if max_pages == 0 || max_pages > limits.max_pages_limit {
        return bad_input(&format!(
            "--max-pages must be between 1 and {} (crawler.max_pages_limit)",
            limits.max_pages_limit
        ));
    }
    let depth = args.depth.unwrap_or(limits.max_depth);
    if depth > limits.max_depth_limit {
        return bad_input(&format!("--depth must be at most {} (crawler.max_depth_limit)", limits.max_depth_limit));
    }
    // The flags become settings, so the image fetches of the analysis obey them as the page
    // fetches do (an allowed loopback host, robots.txt off).
    settings.crawler.allow_hosts.extend(args.allow_hosts);
    if args.no_robots {
        settings.crawler.respect_robots_txt = false;
    }
    if let Some(mode) = args.render.as_deref().and_then(RenderMode::parse) {
        settings.crawler.render = mode;
    }
    if settings.crawler.render == RenderMode::Always
        && let Err(e) = image_chat_core::render::find_executable(settings.crawler.chromium_path())
    {
        return bad_input(&format!("--render always needs a browser: {e}"));
    }
    // The product as the server makes it: the same fetcher, the same caches (in-process, and
    // Redis when configured: a repeat crawl is answered from the HTML cache, and alt texts
    // embedded once are not embedded again), the same ingest when `--index` asks for it.
    let services = match Services::from_settings(settings, IndexUse::OneShot) {
        Ok(s) => s,
        Err(e) => return bad_input(&e.to_string()),
    };
    let settings = services.settings().clone();
    let crawler = services
        .crawler(start.clone())
        .max_pages(max_pages)
        .max_depth(depth)
        .include(args.include)
        .exclude(args.exclude)
        .subdomains(args.subdomains)
        .use_sitemaps(!args.no_sitemaps)
        .render(settings.crawler.render);

    let bar = ProgressBar::new(u64::from(max_pages));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} pages · {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut events = crawler.subscribe();
    let progress_bar = bar.clone();
    let progress = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(CrawlEvent::Progress { counters, current_url }) => {
                    progress_bar.set_position(counters.pages_fetched);
                    progress_bar.set_message(format!("{} images · {}", counters.images_kept, current_url));
                }
                Ok(CrawlEvent::Finished { .. }) | Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                Ok(CrawlEvent::Page { .. }) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            }
        }
    });
    let cancel = crawler.cancel_handle();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });

    let json = args.json;
    let keep = args.index;
    let mut kept = Vec::new();
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    let mut write_error = None;
    let summary = crawler
        .run(|page| {
            if json {
                for image in &page.images {
                    let line = serde_json::to_string(image).unwrap_or_default();
                    if let Err(e) = writeln!(stdout, "{line}") {
                        write_error.get_or_insert(e);
                    }
                }
            }
            if keep {
                kept.extend(page.images);
            }
        })
        .await;
    if let Err(e) = stdout.flush() {
        write_error.get_or_insert(e);
    }
    interrupt.abort();
    let _ = progress.await;
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return bad_input(&format!("cannot write the records: {e}"));
    }

    let c = &summary.counters;
    let mut out = std::io::stderr().lock();
    let _ = writeln!(
        out,
        "crawled {} in {:.2} s — {:?}",
        summary.start_url,
        summary.elapsed_ms as f64 / 1000.0,
        summary.stop
    );
    let _ = writeln!(
        out,
        "pages: {} fetched ({} from cache), {} failed, {} skipped, {} still queued",
        c.pages_fetched, c.pages_from_cache, c.pages_failed, c.pages_skipped, c.pages_queued
    );
    let _ = writeln!(
        out,
        "images: {} found, {} kept, {} duplicates, {} rejected",
        c.images_found, c.images_kept, c.images_deduplicated, c.images_rejected
    );
    if c.pages_rendered > 0 || settings.crawler.render != RenderMode::Never {
        let _ = writeln!(
            out,
            "rendered: {} pages in the browser ({:.1} s), {} images found only after rendering (render = {})",
            c.pages_rendered,
            c.render_ms as f64 / 1000.0,
            c.images_from_render,
            settings.crawler.render.as_str()
        );
    }
    if c.sitemaps_cut > 0 {
        let _ = writeln!(
            out,
            "sitemaps: {} read only in part (crawler.sitemap_urls_per_page × the page limit was reached)",
            c.sitemaps_cut
        );
    }
    for (reason, n) in &c.rejected_by_reason {
        let _ = writeln!(out, "  rejected {reason}: {n}");
    }
    let failures: Vec<_> = summary.pages.iter().filter(|p| p.outcome.is_failure()).take(10).collect();
    for p in &failures {
        if let Some(reason) = p.outcome.failure_reason() {
            let _ = writeln!(out, "  failed {}: {reason}", p.url);
        }
    }
    if c.pages_fetched == 0 || summary.stop == image_chat_core::crawl::StopReason::StartRefused {
        return ExitCode::FAILURE;
    }
    if args.index {
        let namespace = args.namespace.unwrap_or_else(|| start.host_str().unwrap_or("site").replace('.', "-"));
        // A crawl stopped with Ctrl-C stores what it found without fetching it again.
        let interrupted = summary.stop == image_chat_core::crawl::StopReason::Cancelled;
        return match index_images(&services, &namespace, kept, interrupted).await {
            Ok(stored) => {
                report(&settings, &namespace, &stored, &mut out);
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(&e.to_string()),
        };
    }
    ExitCode::SUCCESS
}

/// Stores the crawl's images the way the web app's sessions do (see `image_chat_core::ingest`),
/// a batch at a time with a progress bar. Ctrl-C stops the analysis; every image found is still
/// stored, with what its markup says.
async fn index_images(
    services: &Services,
    namespace: &str,
    images: Vec<ImageRecord>,
    interrupted: bool,
) -> image_chat_core::Result<Stored> {
    let namespace = &Namespace::parse(namespace)?;
    let settings = services.settings();
    if let Err(e) = services.embedder() {
        eprintln!("warning: {e}; indexing for keyword search only");
    }
    let ingest = services.ingest()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(interrupted);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let what = if settings.crawler.analyze_images { "analysing and indexing" } else { "indexing" };
    let bar = ProgressBar::new(images.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} {{bar:30}} {{pos}}/{{len}} images"))
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut total = Stored::default();
    let mut rest = images;
    let mut result = Ok(());
    while !rest.is_empty() {
        let batch: Vec<ImageRecord> = rest.drain(..rest.len().min(BATCH)).collect();
        let asked = batch.len() as u64;
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        match ingest.store(namespace, batch, stopped).await {
            Ok(stored) => total.add(&stored),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        bar.inc(asked);
    }
    bar.finish_and_clear();
    interrupt.abort();
    result.map(|()| total)
}

fn report(settings: &Settings, namespace: &str, s: &Stored, out: &mut impl Write) {
    if settings.crawler.analyze_images {
        let _ = writeln!(
            out,
            "analysed {} images ({} could not be fetched or read, {} forbidden by robots.txt)",
            s.analysed,
            s.unread + s.missing,
            s.refused_by_robots
        );
    }
    if s.missing > 0 {
        let _ = writeln!(out, "left out {} images the site says are not there (404, 410 or a web page)", s.missing);
    }
    if s.too_small > 0 {
        let _ = writeln!(
            out,
            "left out {} images whose bytes showed a tracking pixel or under 50 px on a side",
            s.too_small
        );
    }
    if let Some(e) = &s.embed_error {
        let _ = writeln!(out, "warning: some images are searchable by keywords only: {e}");
    }
    let _ = writeln!(
        out,
        "indexed {} images ({} with a vector) into namespace {namespace} ({})",
        s.indexed,
        s.embedded,
        settings.data_dir.join("index.sqlite").display()
    );
}
