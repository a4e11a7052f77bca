//! `image-chat eval`: search quality on the Flickr8k and Concadia dev sets (MRR@10,
//! Recall@10, nDCG@10 for BM25, vector, hybrid and the original design's formula).

use std::path::PathBuf;
use std::process::ExitCode;

use super::bad_input;

use image_chat_core::Settings;
use image_chat_core::eval::{self, EvalReport, Metrics};
use image_chat_core::search::rank::{DEFAULT_VECTOR_WEIGHT, Fusion};

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
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs, settings: Settings) -> ExitCode {
    let data = args
        .data
        .or_else(|| std::env::var_os("IMAGE_CHAT_SHARED_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    let captions = data.join("captions");
    let sets = match args.set.as_str() {
        "flickr8k" => vec![eval::flickr8k(&captions.join("flickr8k_train_dev.tsv"))],
        "concadia" => vec![eval::concadia(&captions.join("concadia_dev.json"))],
        "all" => vec![
            eval::flickr8k(&captions.join("flickr8k_train_dev.tsv")),
            eval::concadia(&captions.join("concadia_dev.json")),
        ],
        other => return bad_input(&format!("--set must be flickr8k, concadia or all, not {other:?}")),
    };
    let embedder = match image_chat_core::embed::load(&settings.model) {
        Ok(e) => e,
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
    for set in sets {
        let set = match set {
            Ok(s) => s,
            Err(e) => return bad_input(&format!("{e} (pass --data DIR or set IMAGE_CHAT_SHARED_DATA)")),
        };
        eprintln!("evaluating {} ({} images, {} queries)…", set.name, set.docs.len(), set.queries.len());
        match eval::run(&set, embedder.as_ref(), &fusions) {
            Ok(r) => reports.push(r),
            Err(e) => return bad_input(&e.to_string()),
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).unwrap_or_default());
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
    ExitCode::SUCCESS
}
