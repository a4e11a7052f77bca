//! One turn of a conversation: find or start the conversation, read the message against its
//! request (the rules, or the language model with the rules as fallback), search, and keep
//! the new request for the next message.

use std::sync::Arc;

use super::follow_up::{Reading, read};
use super::request::{Change, ChangeOp, check_bounds, chip_label, diff, remove_chip, without_notes};
use super::store::{Conversation, ConversationStore, TurnRecord, is_conversation_id};
use crate::cache::CacheLayers;
use crate::error::{Error, Result};
use crate::ids::now_secs;
use crate::index::Namespace;
use crate::search::cached::{self, CacheHits};
use crate::search::chat_parser::ChatParser;
use crate::search::engine::{SearchEngine, SearchResponse};
use crate::search::{PartKind, Query, parse};

/// What a person sent.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    /// The conversation to continue; none starts one.
    pub conversation_id: Option<String>,
    /// Start a new conversation when `conversation_id` is unknown or expired, instead of
    /// answering that it is.
    pub start_if_missing: bool,
    /// The message; may be empty when a chip is removed.
    pub message: String,
    /// A chip to take away from the request (`kind`, `value`), instead of a message.
    pub remove: Option<(PartKind, String)>,
    pub namespaces: Vec<Namespace>,
    pub limit: Option<usize>,
}

/// The answer, and what the turn did to the conversation's request.
#[derive(Clone, Debug)]
pub struct Answered {
    pub conversation_id: String,
    /// This turn's number in the conversation (1 is the first message).
    pub turn: u64,
    pub response: SearchResponse,
    /// The request before this turn (none on the first).
    pub previous: Option<Query>,
    /// What this turn changed; empty on the first.
    pub changes: Vec<Change>,
    /// The page shown (0 is the first).
    pub page: u32,
}

fn new_id() -> String {
    crate::ids::new_id()
}

fn not_found(id: &str) -> Error {
    let shown: String = id.chars().take(32).collect();
    Error::NotFound(format!(
        "no conversation {shown:?}: it expired after the idle time or never existed; send the message without \
         conversation_id to start a new one, or with start_if_missing"
    ))
}

/// A refusal of the message, naming its field as those of `remove` and `conversation_id` do.
fn invalid_message(why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("message: {why}"))
}

/// The conversation asked for, or a new one.
async fn find(store: &dyn ConversationStore, ask: &Ask, now: u64) -> Result<Conversation> {
    let Some(id) = ask.conversation_id.as_deref().filter(|i| !i.is_empty()) else {
        return Ok(Conversation::new(new_id(), now));
    };
    if !is_conversation_id(id) {
        return Err(Error::Invalid(format!(
            "conversation_id: {:?} is not a conversation id (16 hexadecimal digits, from an earlier answer)",
            id.chars().take(32).collect::<String>()
        )));
    }
    let found = store.load(id).await?;
    match found {
        Some(c) => Ok(c),
        // A chip cannot be taken from a request that is gone: say so, rather than start over.
        None if ask.start_if_missing && ask.remove.is_none() => Ok(Conversation::new(new_id(), now)),
        None => Err(not_found(id)),
    }
}

/// Reads the message of a follow-up: the model's reading when one is configured and answers,
/// the rules' otherwise (with a note saying why).
async fn read_follow_up(
    chat: Option<&ChatParser>,
    current: &Query,
    message: &str,
) -> Result<(Reading, Option<String>)> {
    let Some(chat) = chat else { return Ok((read(current, message).map_err(invalid_message)?, None)) };
    // The same bounds as the rules, before the model is asked anything.
    parse(message).map_err(invalid_message)?;
    match chat.follow_up(current, message).await {
        Ok(f) if f.next_page => Ok((Reading::NextPage, None)),
        Ok(f) if f.new_search => Ok((Reading::New(f.query), None)),
        Ok(f) => Ok((Reading::Refined(f.query), None)),
        Err(why) => Ok((
            read(current, message).map_err(invalid_message)?,
            Some(format!("the language model did not help ({why}); the message was read by rules")),
        )),
    }
}

/// Answers one turn and keeps the conversation.
pub async fn ask(
    engine: &Arc<SearchEngine>,
    caches: &CacheLayers,
    chat: Option<&ChatParser>,
    store: &dyn ConversationStore,
    ask: Ask,
) -> Result<(Answered, CacheHits)> {
    let now = now_secs();
    let mut conversation = find(store, &ask, now).await?;
    let previous = conversation.request.clone();
    let mut parser_hit = false;
    let mut fallback = None;
    let (request, page, changes, said) = match (&ask.remove, &previous) {
        (Some(_), None) => {
            return Err(Error::Invalid(
                "remove: this conversation has no request yet; send a message first".to_string(),
            ));
        }
        (Some((kind, value)), Some(current)) => {
            let mut request = current.clone();
            if !remove_chip(&mut request, *kind, value) {
                return Err(Error::Invalid(format!("remove: the request holds no chip {}: {value:?}", kind.name())));
            }
            let changes = diff(current, &request);
            (request, 0, changes, format!("remove {}", chip_label(*kind, value)))
        }
        (None, None) => {
            let parsed = cached::parse_message(caches, chat, &ask.message).await.map_err(|e| match e {
                Error::Invalid(why) => invalid_message(why),
                other => other,
            })?;
            parser_hit = parsed.cached;
            fallback = parsed.fallback;
            (parsed.query, 0, Vec::new(), ask.message.clone())
        }
        (None, Some(current)) => {
            let (reading, why) = read_follow_up(chat, current, &ask.message).await?;
            fallback = why;
            match reading {
                Reading::NextPage => {
                    let page = conversation.page + 1;
                    (current.clone(), page, vec![Change::page(page + 1)], ask.message.clone())
                }
                Reading::New(q) => (q, 0, vec![Change::new_search()], ask.message.clone()),
                Reading::Refined(q) => {
                    let mut changes = diff(current, &q);
                    if changes.is_empty() {
                        changes.push(Change::unchanged("nothing in the message changes the request"));
                    }
                    (q, 0, changes, ask.message.clone())
                }
            }
        }
    };
    check_bounds(&request).map_err(invalid_message)?;
    let request = without_notes(request);
    let remember = fallback.is_none();
    let (mut response, mut hits) =
        cached::run(engine, caches, request.clone(), ask.namespaces.clone(), ask.limit, page as usize, remember)
            .await?;
    hits.parser |= parser_hit;
    if let Some(note) = fallback {
        response.notes.insert(0, note);
    }
    if changes.iter().any(|c| c.op == ChangeOp::Unchanged) {
        response.notes.insert(0, "nothing in the message changes the request; the same request again".into());
    }
    conversation.request = Some(request);
    conversation.page = page;
    conversation.push(TurnRecord { message: said, changes: changes.clone(), at: now });
    store.save(&conversation).await?;
    Ok((
        Answered {
            conversation_id: conversation.id.clone(),
            turn: conversation.turn_count,
            response,
            previous,
            changes,
            page,
        },
        hits,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::CacheSettings;
    use crate::conversation::DiskConversations;
    use crate::embed::Embedder;
    use crate::index::{ImageIndex, SqliteIndex};

    /// Counts the texts it is asked to embed.
    struct Counting(AtomicUsize);

    impl Embedder for Counting {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
        fn model_id(&self) -> &str {
            "counting-v1"
        }
        fn dimension(&self) -> usize {
            2
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refinement_of_filters_embeds_nothing_and_a_repeat_answers_from_the_query_layer() {
        let model = Arc::new(Counting(AtomicUsize::new(0)));
        let index: Arc<dyn ImageIndex> = Arc::new(SqliteIndex::open_in_memory().unwrap());
        let engine = Arc::new(SearchEngine::new(index, Ok(model.clone() as Arc<dyn Embedder>)));
        let caches = CacheLayers::new(&CacheSettings::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = DiskConversations::open(dir.path(), 3600).unwrap();
        let say =
            |id: Option<String>, message: &str| Ask { conversation_id: id, message: message.into(), ..Ask::default() };
        let (first, hits) = ask(&engine, &caches, None, &store, say(None, "red kayaks on a lake")).await.unwrap();
        assert!(!hits.embedding);
        assert_eq!(model.0.load(Ordering::SeqCst), 1);
        let id = Some(first.conversation_id);
        for follow_up in ["only the PNG ones", "in landscape", "any format", "more"] {
            let (_, hits) = ask(&engine, &caches, None, &store, say(id.clone(), follow_up)).await.unwrap();
            assert!(hits.embedding, "{follow_up}: the words' vector came from the embedding layer");
        }
        assert_eq!(model.0.load(Ordering::SeqCst), 1, "the words were embedded once");
        // Back to a request asked before (landscape, any format): the query layer answers.
        let (_, hits) = ask(&engine, &caches, None, &store, say(id.clone(), "any size")).await.unwrap();
        assert!(hits.query, "the same request, page and index answer from the query layer");
    }
}
