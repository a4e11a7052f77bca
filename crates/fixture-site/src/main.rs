//! `fixture-site`: serve a generated site, a mirrored folder or just the traps from the command
//! line, or print a generated site's ground truth.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use image_chat_fixtures::captions::Captions;
use image_chat_fixtures::folder::FolderSite;
use image_chat_fixtures::{FixtureConfig, FixtureServer, GeneratedSite, SiteSpec};

#[derive(Parser)]
#[command(name = "fixture-site", about = "Local fixture sites for image-chat tests and benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a generated site (default) or a mirrored folder, plus the /trap/ endpoints.
    Serve {
        /// Pages of the generated site (1..=50000).
        #[arg(long, default_value_t = 100)]
        pages: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Link the /trap/ endpoints from the home page.
        #[arg(long)]
        traps: bool,
        /// Serve this mirrored folder instead of a generated site.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// The origin the folder's absolute links name (default: from the folder's name).
        #[arg(long, requires = "folder")]
        origin: Option<String>,
        /// Loopback only: the fixture server is for this machine.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// 0 picks a free port.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Wait this long before every response, as a real site's network would.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// Serve the rendering benchmark's site: PAGES pages on a hub page, JS_PERCENT of them
    /// client-rendered.
    ServeJs {
        #[arg(long, default_value_t = 200)]
        pages: usize,
        /// Share of client-rendered pages, 0-100.
        #[arg(long, default_value_t = 100)]
        js_percent: usize,
        /// 0 picks a free port (on 127.0.0.1).
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// Print a generated site's ground truth, one JSON page record per line.
    Truth {
        #[arg(long, default_value_t = 100)]
        pages: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("info").init();
    match Cli::parse().command {
        Command::Truth { pages, seed } => {
            let site = match GeneratedSite::new(SiteSpec { pages, seed, traps: false }, Captions::load()) {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let mut out = std::io::stdout().lock();
            for page in site.all_truth() {
                match serde_json::to_string(&page) {
                    // A closed pipe (`| head`) ends the listing quietly.
                    Ok(line) => {
                        if writeln!(out, "{line}").is_err() {
                            break;
                        }
                    }
                    Err(e) => return fail(&e.to_string()),
                }
            }
            ExitCode::SUCCESS
        }
        Command::ServeJs { pages, js_percent, port, latency_ms } => {
            if !(1..=50_000).contains(&pages) || js_percent > 100 {
                return fail("--pages must be 1-50000 and --js-percent 0-100");
            }
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let latency = std::time::Duration::from_millis(latency_ms);
            let site = match image_chat_fixtures::js_site::JsSite::start(addr, pages, js_percent, latency).await {
                Ok(s) => s,
                Err(e) => return fail(&e.to_string()),
            };
            println!("serving {pages} pages ({js_percent}% client-rendered) at {}/; Ctrl-C stops", site.origin());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Command::Serve { pages, seed, traps, folder, origin, host, port, latency_ms } => {
            let latency = std::time::Duration::from_millis(latency_ms);
            if !host.is_loopback() {
                return fail("--host must be a loopback address (127.0.0.1 or ::1)");
            }
            let addr = SocketAddr::new(host, port);
            let (config, what) = match folder {
                Some(root) => {
                    let Some(origin) =
                        origin.or_else(|| FolderSite::host_from_folder(&root).map(|h| format!("https://{h}")))
                    else {
                        return fail(
                            "cannot tell the mirrored origin from the folder name; pass --origin https://host",
                        );
                    };
                    let what = format!("folder {} (rewriting {origin})", root.display());
                    (FixtureConfig { addr, latency, ..FixtureConfig::folder(root, &origin) }, what)
                }
                None => {
                    let spec = SiteSpec { pages, seed, traps };
                    let what = format!(
                        "generated site of {pages} pages (seed {seed}, captions: {})",
                        Captions::load().source()
                    );
                    (FixtureConfig { addr, latency, ..FixtureConfig::generated(spec) }, what)
                }
            };
            let server = match FixtureServer::start(config).await {
                Ok(s) => s,
                Err(e) => return fail(&e.to_string()),
            };
            println!("serving {what} at {}/ (traps at {}/trap/); Ctrl-C stops", server.origin(), server.origin());
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
