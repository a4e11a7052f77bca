//! `image-chat crawl URL`: crawl a site from the terminal with a progress bar; print a summary,
//! or one JSON image record per line with `--json`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::bad_input;
use std::time::Duration;

use image_chat_core::Settings;
use image_chat_core::crawl::CrawlEvent;
use image_chat_core::index::Namespace;
use image_chat_core::ingest::{BatchOutcome, Stored, Stream};
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
    /// Print where the time went: each pipeline stage's busy and waiting time and the queues
    /// between them, beside the politeness floor.
    #[arg(long)]
    timings: bool,
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
    if settings.crawler.distributed {
        // Only a server's sessions are shared between replicas; said, not silently dropped.
        eprintln!(
            "note: crawler.distributed applies to crawls started on a server; this command crawls in this process"
        );
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
    let namespace = args.index.then(|| {
        let name = args.namespace.clone().unwrap_or_else(|| start.host_str().unwrap_or("site").replace('.', "-"));
        Namespace::parse(&name)
    });
    let namespace = match namespace.transpose() {
        Ok(ns) => ns,
        Err(e) => return bad_input(&e.to_string()),
    };
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
    let (hosts, clock) = (crawler.hosts(), crawler.clock());
    // With --index the images are analysed, embedded and stored while the crawl runs, as a web
    // session does.
    let progress_of_index = Arc::new(IndexProgress::default());
    let stream = match &namespace {
        Some(ns) => {
            if let Err(e) = services.embedder() {
                eprintln!("warning: {e}; indexing for keyword search only");
            }
            let ingest = match services.ingest() {
                Ok(i) => Arc::new(i),
                Err(e) => return bad_input(&e.to_string()),
            };
            let p = progress_of_index.clone();
            Some(ingest.stream(ns.clone(), hosts.clone(), clock.clone(), cancel.clone(), move |b| p.batch(b)))
        }
        None => None,
    };
    // Ctrl-C stops the crawl and the analysis; every image found is still stored, with what its
    // markup says.
    let interrupt = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };

    let json = args.json;
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
            if let Some(stream) = &stream {
                stream.send(page.images);
            }
        })
        .await;
    if let Err(e) = stdout.flush() {
        write_error.get_or_insert(e);
    }
    let _ = progress.await;
    bar.finish_and_clear();
    let stored = match stream {
        Some(stream) => {
            Some(finish_indexing(stream, &settings, summary.counters.images_kept, &progress_of_index).await)
        }
        None => None,
    };
    interrupt.abort();
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
    if let (Some(stored), Some(ns)) = (&stored, &namespace) {
        report(&settings, ns.as_str(), stored, &mut out);
    }
    if args.timings {
        let _ = write!(out, "{}", clock.report(hosts.floor()).table());
    }
    if c.pages_fetched == 0 || summary.stop == image_chat_core::crawl::StopReason::StartRefused {
        return ExitCode::FAILURE;
    }
    if let Some(e) = progress_of_index.failure() {
        return bad_input(&e);
    }
    ExitCode::SUCCESS
}

/// The index's side of a crawl with --index: batches stored so far, and the first store
/// failure.
#[derive(Default)]
struct IndexProgress {
    /// Images done with: stored, or left out (too small, missing).
    done: AtomicU64,
    failure: Mutex<Option<String>>,
}

impl IndexProgress {
    fn batch(&self, batch: BatchOutcome) {
        match batch {
            Ok(s) => {
                self.done.fetch_add(s.indexed + s.too_small + s.missing, Ordering::Relaxed);
            }
            Err((count, e)) => {
                self.done.fetch_add(count, Ordering::Relaxed);
                let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
                failure.get_or_insert_with(|| format!("{count} images could not be stored: {e}"));
            }
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Waits for the images still being analysed and stored once the crawl is over, with a
/// progress bar.
async fn finish_indexing(stream: Stream, settings: &Settings, kept: u64, progress: &Arc<IndexProgress>) -> Stored {
    let what = if settings.crawler.analyze_images { "analysing and indexing" } else { "indexing" };
    let bar = ProgressBar::new(kept);
    bar.set_style(
        ProgressStyle::with_template(&format!("{what} {{bar:30}} {{pos}}/{{len}} images"))
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let ticker = {
        let (bar, progress) = (bar.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                bar.set_position(progress.done.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let stored = stream.finish().await;
    ticker.abort();
    bar.finish_and_clear();
    stored
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
