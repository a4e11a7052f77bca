//! `image-chat eval`: search quality on the Flickr8k and Concadia dev sets (MRR@10,
//! Recall@10, nDCG@10 for BM25, vector, hybrid and the original design's formula); with
//! `--e2e`, the same sets through the product's whole path beside them (see `eval_e2e`).

use std::path::PathBuf;
use std::process::ExitCode;

use super::bad_input;

use image_chat_core::Settings;
use image_chat_core::eval::{self, EvalReport, Metrics};
use image_chat_core::search::rank::{DEFAULT_VECTOR_WEIGHT, Fusion};
use image_chat_core::services::{IndexUse, Services};

use super::eval_e2e::{self, E2eReport, Layout};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Which set: flickr8k, concadia or all.
    #[arg(long, default_value = "all")]
    set: String,
    /// The folder holding captions/ (default: $IMAGE_CHAT_SHARED_DATA, else ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Also evaluate hybrid at these vector weights (fixed and adaptive) and with RRF.
    #[arg(long)]
    sweep: bool,
    /// Also run each set end to end: written out as a local site, crawled with image analysis,
    /// indexed, and every query asked through the path POST /chat takes (parser included).
    #[arg(long)]
    e2e: bool,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: EvalArgs, settings: Settings) -> ExitCode {
    let data = args
        .data
        .or_else(|| std::env::var_os("IMAGE_CHAT_SHARED_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    let captions = data.join("captions");
    let flickr8k = || (eval::flickr8k(&captions.join("flickr8k_train_dev.tsv")), Layout::Gallery);
    let concadia = || (eval::concadia(&captions.join("concadia_dev.json")), Layout::Article);
    let sets = match args.set.as_str() {
        "flickr8k" => vec![flickr8k()],
        "concadia" => vec![concadia()],
        "all" => vec![flickr8k(), concadia()],
        other => return bad_input(&format!("--set must be flickr8k, concadia or all, not {other:?}")),
    };
    // The model the settings name, built where the server builds it.
    let embedder = match Services::from_settings(settings.clone(), IndexUse::OneShot).map(|s| s.embedder()) {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return bad_input(&e),
        Err(e) => return bad_input(&e.to_string()),
    };
    let mut fusions = vec![Fusion::default()];
    if args.sweep {
        for w in [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95] {
            fusions.push(Fusion::Weighted { vector_weight: w, adaptive: false });
            fusions.push(Fusion::Weighted { vector_weight: w, adaptive: true });
        }
        fusions.push(Fusion::Rrf { k: 60.0 });
    }
    let mut reports: Vec<EvalReport> = Vec::new();
    let mut e2e: Vec<E2eReport> = Vec::new();
    for (set, layout) in sets {
        let set = match set {
            Ok(s) => s,
            Err(e) => return bad_input(&format!("{e} (pass --data DIR or set IMAGE_CHAT_SHARED_DATA)")),
        };
        eprintln!("evaluating {} ({} images, {} queries)…", set.name, set.docs.len(), set.queries.len());
        match tokio::task::block_in_place(|| eval::run(&set, embedder.as_ref(), &fusions)) {
            Ok(r) => reports.push(r),
            Err(e) => return bad_input(&e.to_string()),
        }
        if args.e2e {
            let progress = |step: &str| eprintln!("  end to end: {step}…");
            match eval_e2e::run(&set, layout, &settings, embedder.clone(), progress).await {
                Ok(r) => e2e.push(r),
                Err(e) => return bad_input(&format!("the end-to-end run failed: {e}")),
            }
        }
    }
    if args.json {
        let out = if args.e2e {
            serde_json::json!({ "offline": reports, "e2e": e2e })
        } else {
            serde_json::to_value(&reports).unwrap_or_default()
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    for r in &reports {
        println!("\n{} — {} images, {} queries", r.set, r.docs, r.queries);
        println!("{:<44} {:>8} {:>10} {:>8}", "method", "MRR@10", "Recall@10", "nDCG@10");
        let row = |name: &str, m: &Metrics| println!("{name:<44} {:>8.4} {:>10.4} {:>8.4}", m.mrr, m.recall, m.ndcg);
        row("BM25 only", &r.bm25);
        row("vector only", &r.vector);
        row("original (cosine + 0.5 x keyword boost)", &r.original);
        for (fusion, m) in &r.hybrid {
            let name = match fusion {
                Fusion::Weighted { vector_weight, adaptive: true } if *vector_weight == DEFAULT_VECTOR_WEIGHT => {
                    format!("hybrid (default: w={vector_weight}, adaptive)")
                }
                Fusion::Weighted { vector_weight, adaptive } => {
                    format!("hybrid w={vector_weight}{}", if *adaptive { " adaptive" } else { " fixed" })
                }
                Fusion::Rrf { k } => format!("hybrid RRF k={k}"),
            };
            row(&name, m);
        }
    }
    if !e2e.is_empty() {
        println!(
            "\nnDCG@10 offline (index fed directly) and end to end (crawl → extract → analyse → embed → index → parse → search)"
        );
        println!(
            "{:<28} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7} {:>12}",
            "set", "BM25", "vector", "hybrid", "e2e", "e2e MRR", "chips", "empty"
        );
        for (offline, end) in reports.iter().zip(&e2e) {
            println!(
                "{:<28} {:>7.4} {:>7.4} {:>7.4} {:>7.4} {:>9.4} {:>7} {:>12}",
                offline.set,
                offline.bm25.ndcg,
                offline.vector.ndcg,
                offline.hybrid[0].1.ndcg,
                end.metrics.ndcg,
                end.metrics.mrr,
                end.with_filter_chip,
                format!("{} ({} relaxed)", end.empty_answers, end.only_relaxed),
            );
        }
        println!(
            "\nA follow-up adding a constraint the picture meets, against the same typed at once (nDCG@10, Recall@10)"
        );
        println!(
            "{:<28} {:>9} {:>12} {:>9} {:>12} {:>9}",
            "set", "follow-up", "recall", "at once", "recall", "read new"
        );
        for end in &e2e {
            let r = &end.refinement;
            println!(
                "{:<28} {:>9.4} {:>12.4} {:>9.4} {:>12.4} {:>9}",
                end.set, r.follow_up.ndcg, r.follow_up.recall, r.combined.ndcg, r.combined.recall, r.read_as_new
            );
        }
        for end in &e2e {
            println!(
                "\n{}: {} pages crawled, {} images indexed, {} of {} queries got a filter chip",
                end.set, end.pages_crawled, end.images_indexed, end.with_filter_chip, end.queries
            );
            for example in &end.chip_examples {
                println!("  {example}");
            }
        }
    }
    ExitCode::SUCCESS
}
