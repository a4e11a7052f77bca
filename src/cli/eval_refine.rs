//! The refinement set of `image-chat eval --e2e`: each picture's description is asked, then a
//! follow-up adds a constraint its picture meets (its format, shape or size, as the site serves
//! it and the crawl analysed it) — in one conversation, as a person narrows a search — and the
//! same constraint typed at once with the description, for comparison. A conversation should
//! keep the picture in the top 10 at least as often as the combined message does.

use std::sync::Arc;

use serde::Serialize;

use image_chat_core::cache::CacheLayers;
use image_chat_core::conversation::{Ask, DiskConversations, ask};
use image_chat_core::eval::{DEPTH, EvalSet, Metrics};
use image_chat_core::index::Namespace;
use image_chat_core::search::ImageFormat;
use image_chat_core::search::chat_parser::ChatParser;
use image_chat_core::search::engine::{SearchEngine, SearchResponse};

use super::eval_e2e::picture;

/// One set's refinement figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RefineReport {
    /// Descriptions asked (one per picture).
    pub exchanges: usize,
    /// The picture's rank after the follow-up, in one conversation.
    pub follow_up: Metrics,
    /// The picture's rank for the description and the constraint typed at once.
    pub combined: Metrics,
    /// Follow-ups the conversation read as a new request instead of a refinement.
    pub read_as_new: usize,
}

/// The follow-up and the words that say the same at the end of a description, for a
/// constraint picture `i` meets: its format, shape or size, in turn.
pub fn constraint(i: usize) -> (String, String) {
    let (format, w, h) = picture(i);
    let (follow_up, combined) = match i % 3 {
        0 => {
            let name = if format == ImageFormat::Png { "PNG" } else { "JPEG" };
            (format!("only the {name} ones"), format!("{name} only"))
        }
        1 => {
            let shape = if w > h {
                "landscape"
            } else if w < h {
                "portrait"
            } else {
                return ("square ones".into(), "square images".into());
            };
            (format!("in {shape}"), format!("in {shape}"))
        }
        _ => {
            let floor = if w >= 1600 {
                1600
            } else if w >= 1200 {
                1200
            } else {
                600
            };
            let words = format!("at least {floor} px wide");
            (words.clone(), words)
        }
    };
    (follow_up, combined)
}

fn rank(answer: &SearchResponse, want: &str) -> Option<usize> {
    answer.results.iter().position(|r| r.url == want || r.alternatives.iter().any(|a| a == want))
}

/// Asks the first query of each picture, then its follow-up, and the combined message.
pub async fn run(
    set: &EvalSet,
    engine: &Arc<SearchEngine>,
    caches: &CacheLayers,
    chat: Option<&ChatParser>,
    wanted_url: impl Fn(usize) -> String,
    namespace: &Namespace,
) -> image_chat_core::Result<RefineReport> {
    let dir = tempfile::tempdir().map_err(|e| image_chat_core::Error::Storage(e.to_string()))?;
    let store = DiskConversations::open(dir.path(), 3600)?;
    let mut report = RefineReport::default();
    let (mut follow, mut combined) = (Metrics::default(), Metrics::default());
    let mut asked = std::collections::HashSet::new();
    let ask_one = |conversation_id: Option<String>, message: String| Ask {
        conversation_id,
        message,
        namespaces: vec![namespace.clone()],
        limit: Some(DEPTH),
        ..Ask::default()
    };
    for (query, doc) in &set.queries {
        if !asked.insert(*doc) {
            continue;
        }
        let want = wanted_url(*doc);
        let (follow_up, together) = constraint(*doc);
        let (first, _) = ask(engine, caches, chat, &store, ask_one(None, query.clone())).await?;
        let (refined, _) = ask(engine, caches, chat, &store, ask_one(Some(first.conversation_id), follow_up)).await?;
        if refined.changes.iter().any(|c| c.op == image_chat_core::conversation::ChangeOp::NewSearch) {
            report.read_as_new += 1;
        }
        follow.add(rank(&refined.response, &want));
        let message = format!("{}, {together}", query.trim_end_matches(['.', ' ']));
        let (at_once, _) = ask(engine, caches, chat, &store, ask_one(None, message)).await?;
        combined.add(rank(&at_once.response, &want));
        report.exchanges += 1;
    }
    report.follow_up = follow.mean(report.exchanges);
    report.combined = combined.mean(report.exchanges);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_chat_core::search::parse;

    #[test]
    fn each_constraint_is_read_as_one_in_both_forms() {
        for i in 0..36 {
            let (follow_up, together) = constraint(i);
            let (format, w, h) = picture(i);
            let message = format!("A black dog is running through the grass, {together}");
            let q = parse(&message).unwrap();
            let chips = q.parts.iter().filter(|p| p.kind != image_chat_core::search::PartKind::Filler).count();
            assert_eq!(chips, 1, "{message:?}: {q:?}");
            match i % 3 {
                0 => assert_eq!(q.formats, vec![format], "{message:?}"),
                1 => assert!(q.orientation.is_some(), "{message:?}"),
                _ => assert!(q.min_width.is_some_and(|m| m <= w), "{message:?} for {w}x{h}"),
            }
            let before = parse("A black dog is running through the grass").unwrap();
            match image_chat_core::conversation::read(&before, &follow_up).unwrap() {
                image_chat_core::conversation::Reading::Refined(r) => {
                    assert_eq!(r.text, before.text, "{follow_up:?}");
                    assert_eq!((r.formats, r.orientation, r.min_width), (q.formats, q.orientation, q.min_width));
                }
                other => panic!("{follow_up:?} read as {other:?}"),
            }
        }
    }
}
