//! `image-chat search "query"`: search the images `image-chat crawl --index` stored.

use std::process::ExitCode;

use super::bad_input;

use image_chat_core::Settings;
use image_chat_core::config::StoreKind;
use image_chat_core::index::Namespace;
use image_chat_core::search::cached;
use image_chat_core::services::{IndexUse, Services};

#[derive(clap::Args)]
pub struct SearchArgs {
    /// What to look for, in plain words ("PNG images of the Apple Watch").
    query: String,
    /// Search only this namespace (repeatable; default: all).
    #[arg(long)]
    namespace: Vec<String>,
    /// Most results (default 20, at most 100; "show me 5 …" in the query wins).
    #[arg(long)]
    limit: Option<usize>,
    /// Print the whole response as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: SearchArgs, settings: Settings) -> ExitCode {
    let path = settings.data_dir.join("index.sqlite");
    // Only the embedded store lives in the data dir; PostgreSQL says for itself what it holds.
    if settings.store.kind == StoreKind::Embedded && !path.exists() {
        return bad_input(&format!(
            "no index at {}; crawl a site first with `image-chat crawl URL --index`",
            path.display()
        ));
    }
    // The engine, caches and parser the server answers `/chat` with, so a search here gives
    // the server's answer; one search, then exit: an exact scan, no graph.
    let services = match Services::from_settings(settings, IndexUse::OneShot) {
        Ok(s) => s,
        Err(e) => return bad_input(&e.to_string()),
    };
    let engine = match services.engine() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (caches, chat) = (services.caches(), services.chat_parser());
    let namespaces = match args.namespace.iter().map(|n| Namespace::parse(n)).collect::<Result<Vec<_>, _>>() {
        Ok(n) => n,
        Err(e) => return bad_input(&format!("--namespace: {e}")),
    };
    let found = cached::search(&engine, caches, chat.map(|c| &**c), &args.query, namespaces, args.limit).await;
    let response = match found {
        Ok((r, _)) => r,
        Err(image_chat_core::Error::Invalid(m)) => return bad_input(&m),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&response).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    if let Some(warning) = &response.lexical_only {
        eprintln!("warning: {warning}");
    }
    let chips: Vec<String> = response
        .query
        .parts
        .iter()
        .filter(|p| !p.value.is_empty())
        .map(|p| format!("{:?}: {}", p.kind, p.value).to_lowercase())
        .collect();
    println!(
        "looking for {:?}{}",
        response.query.text,
        if chips.is_empty() { String::new() } else { format!(" [{}]", chips.join(", ")) }
    );
    for note in &response.notes {
        println!("note: {note}");
    }
    if response.results.is_empty() {
        println!("no images match; try fewer filters or other words");
        return ExitCode::SUCCESS;
    }
    let mut weaker_shown = false;
    for (i, r) in response.results.iter().enumerate() {
        if !r.strong && !weaker_shown {
            println!("-- weaker matches --");
            weaker_shown = true;
        }
        let size = match (r.width, r.height) {
            (Some(w), Some(h)) => format!(" {w}x{h}"),
            _ => String::new(),
        };
        let format = r.format.map(|f| format!(" {}", f.as_str())).unwrap_or_default();
        println!("{:>2}. {:.3}{format}{size}  {}\n    {}\n    on {}", i + 1, r.fused, r.url, r.description, r.page_url);
    }
    ExitCode::SUCCESS
}
