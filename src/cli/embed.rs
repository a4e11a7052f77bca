//! `image-chat embed`: embed lines of text from stdin with the local model — one JSON vector
//! per line, or with `--stats` the throughput (texts/s) and single-text latency instead.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use super::bad_input;
use std::time::Instant;

use image_chat_core::Settings;
use image_chat_core::services::{IndexUse, Services};

#[derive(clap::Args)]
pub struct EmbedArgs {
    /// Print throughput and latency instead of the vectors.
    #[arg(long)]
    stats: bool,
}

/// Most lines read from stdin.
const MAX_LINES: usize = 1_000_000;

pub fn run(args: EmbedArgs, settings: Settings) -> ExitCode {
    // The model the settings name, built where the server builds it.
    let embedder = match Services::from_settings(settings.clone(), IndexUse::OneShot).map(|s| s.embedder()) {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return bad_input(&e),
        Err(e) => return bad_input(&e.to_string()),
    };
    let lines: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .take(MAX_LINES)
        .collect();
    if lines.is_empty() {
        return bad_input("no text on standard input (one text per line)");
    }
    let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
    let started = Instant::now();
    let vectors = match embedder.embed(&texts) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let batch_secs = started.elapsed().as_secs_f64();
    if args.stats {
        let mut single = Vec::new();
        for text in texts.iter().take(50) {
            let t = Instant::now();
            let _ = embedder.embed(&[text]);
            single.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        single.sort_by(f64::total_cmp);
        println!("texts: {}", texts.len());
        println!("texts_per_second: {:.1}", texts.len() as f64 / batch_secs);
        println!("single_text_ms_p50: {:.2}", single[single.len() / 2]);
        return ExitCode::SUCCESS;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for v in vectors {
        if writeln!(out, "{}", serde_json::to_string(&v).unwrap_or_default()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
