//! The one binary's command line: `serve` (default) runs the web app, `crawl` crawls a site from
//! the terminal, `settings` prints the effective settings.

mod cache;
mod crawl;
mod embed;
mod eval;
pub mod eval_e2e;
pub mod eval_refine;
mod search;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use image_chat_core::Settings;
use image_chat_core::huge_pages::{self, HugePages};

use crate::server::startup::Application;

#[derive(Parser)]
#[command(name = "image-chat", version, about = "Crawl a website and find its images by describing them")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and the JSON API (the default).
    Serve {
        /// Listen address, e.g. 127.0.0.1:8080 (default: settings, then Cargo.toml's site-addr).
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
    },
    /// Crawl a site and report its images (progress bar; `--json` for one record per line).
    Crawl(crawl::CrawlArgs),
    /// Embed lines of text from stdin with the local model (JSON vectors, or --stats).
    Embed(embed::EmbedArgs),
    /// Search the images indexed by `crawl --index`.
    Search(search::SearchArgs),
    /// Measure search quality on the Flickr8k and Concadia dev sets.
    Eval(eval::EvalArgs),
    /// Cache metrics of a running server (`cache stats`).
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Print the effective settings (Leptos.toml + IMAGE_CHAT__* variables), secrets redacted.
    Settings,
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let mut settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => return bad_input(&e.to_string()),
    };
    match cli.command.unwrap_or(Command::Serve { addr: None }) {
        Command::Settings => {
            print!("{}", settings.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Command::Crawl(args) => {
            // A one-shot crawl: see `huge_pages` (a server keeps them; its searches need them).
            log_huge_pages(huge_pages::configure());
            crawl::run(args, settings).await
        }
        Command::Cache(cmd) => cache::run(cmd, &settings).await,
        Command::Embed(args) => tokio::task::block_in_place(|| embed::run(args, settings)),
        Command::Search(args) => search::run(args, settings).await,
        Command::Eval(args) => eval::run(args, settings).await,
        Command::Serve { addr } => {
            if addr.is_some() {
                settings.server.addr = addr;
            }
            match serve(settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let conf = leptos::config::get_configuration(None).map_err(|e| format!("leptos configuration: {e}"))?;
    tracing::info!("effective settings:\n{}", settings.to_redacted_toml());
    let app = Application::build(settings, conf.leptos_options).await.map_err(|e| format!("cannot listen: {e}"))?;
    tracing::info!("serving on http://{}", app.local_addr());
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

fn log_huge_pages(done: HugePages) {
    match done {
        HugePages::Off => tracing::debug!("transparent huge pages off for this process"),
        HugePages::LeftToEnv(value) => tracing::debug!("transparent huge pages: {}={value} decides", huge_pages::ENV),
        HugePages::Unchanged(why) => tracing::debug!("transparent huge pages left as the system has them: {why}"),
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs on stderr: stdout carries what a command prints (`search --json`, `crawl`'s records).
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}

/// Prints an error the user can fix (arguments, settings, missing files) and exits with 2.
fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
