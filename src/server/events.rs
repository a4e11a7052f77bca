//! A session's progress as Server-Sent Events: a `snapshot` first (so a reconnecting client is
//! whole again at once), then the live events, ending with the final record under its status's
//! name (`finished`, `failed`, `cancelled`).

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream;
use futures_util::{Stream, StreamExt as _};
use image_chat_core::crawl::PageOutcome;
use image_chat_core::session::{SessionEvent, SessionRecord};
use tokio::sync::broadcast;

use super::convert;
use super::error::ApiError;
use super::routes::KEEP_ALIVE;
use super::state::AppState;
use crate::types::{IndexedUpdate, PageUpdate, ProgressUpdate};

enum Step {
    Live(broadcast::Receiver<SessionEvent>),
    Final(Box<SessionRecord>),
    End,
}

fn event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default().event(name).json_data(data).unwrap_or_else(|_| Event::default().comment("unserializable"))
}

fn terminal(record: &SessionRecord) -> Event {
    event(record.status.as_str(), &convert::session(record))
}

fn page_update(url: String, outcome: &PageOutcome, images: usize) -> PageUpdate {
    let kind = serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_default();
    let reason = match outcome {
        PageOutcome::Failed { reason } | PageOutcome::LinkTrap { reason } | PageOutcome::TooComplex { reason } => {
            Some(reason.clone())
        }
        PageOutcome::Redirected { to } => Some(format!("redirected to {to}")),
        PageOutcome::NotHtml { content_type } => Some(format!("not HTML ({content_type})")),
        _ => None,
    };
    PageUpdate { url, outcome: kind, reason, images }
}

pub async fn stream(
    state: &AppState,
    id: &str,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let id = super::service::session_id(id)?;
    let sub = state.sessions.subscribe(&id).await?;
    let first = event("snapshot", &convert::session(&sub.record));
    let next = match sub.events {
        Some(rx) => Step::Live(rx),
        None => Step::Final(Box::new(sub.record)),
    };
    let sessions = state.sessions.clone();
    let rest = stream::unfold(next, move |step| {
        let sessions = sessions.clone();
        let id = id.clone();
        async move {
            match step {
                Step::End => None,
                Step::Final(record) => Some((terminal(&record), Step::End)),
                Step::Live(mut rx) => {
                    let ev = match rx.recv().await {
                        Ok(SessionEvent::Done { record }) => return Some((terminal(&record), Step::End)),
                        Ok(SessionEvent::Progress { counters, current_url, images_indexed }) => event(
                            "progress",
                            &ProgressUpdate { counters: convert::counters(&counters), current_url, images_indexed },
                        ),
                        Ok(SessionEvent::Indexed {
                            images_indexed,
                            images_embedded,
                            images_analysed,
                            images_too_small,
                            images_missing,
                        }) => event(
                            "indexed",
                            &IndexedUpdate {
                                images_indexed,
                                images_embedded,
                                images_analysed,
                                images_too_small,
                                images_missing,
                            },
                        ),
                        Ok(SessionEvent::Page { url, outcome, images }) => {
                            event("page", &page_update(url, &outcome, images))
                        }
                        // Fell behind: the current snapshot replaces what was missed.
                        Err(broadcast::error::RecvError::Lagged(_)) => match sessions.get(&id).await {
                            Ok(record) => event("snapshot", &convert::session(&record)),
                            Err(_) => return None,
                        },
                        Err(broadcast::error::RecvError::Closed) => {
                            return sessions.get(&id).await.ok().map(|r| (terminal(&r), Step::End));
                        }
                    };
                    Some((ev, Step::Live(rx)))
                }
            }
        }
    });
    let all = stream::once(async move { first }).chain(rest).map(Ok::<_, Infallible>);
    Ok(Sse::new(all).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
