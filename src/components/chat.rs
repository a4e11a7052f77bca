use leptos::prelude::*;

use super::UiState;
use super::crawl_form::server_message;
use super::results::ResultGrid;
use crate::api::{chat, list_sessions};
use crate::types::{ChatRequest, ChatResponse, Chip, ChipRef, SessionView};

#[derive(Clone)]
struct Turn {
    id: usize,
    message: String,
    answer: Option<Result<ChatResponse, String>>,
}

/// What a turn asks: a message, or a chip of the request taken away.
#[derive(Clone)]
enum Say {
    Message(String),
    Remove(Chip),
}

const EXAMPLES: &[&str] =
    &["photos of the team", "PNG logos", "landscape photos without people", "high-resolution images"];

/// The chat: pick a session (or all), ask in plain language, see the parsed query as removable
/// chips and the results as a grid. One conversation per page: each message is read against
/// the request before it ("only the PNG ones" refines it) until "New search" starts over.
#[component]
pub fn ChatPanel() -> impl IntoView {
    let ui = expect_context::<UiState>();
    let sessions = Resource::new(move || ui.sessions_version.get(), |_| list_sessions());
    let draft = RwSignal::new(String::new());
    let turns = RwSignal::new(Vec::<Turn>::new());
    let input_error = RwSignal::new(None::<String>);
    let conversation = RwSignal::new(None::<String>);
    // Each answer comes back with the id of the turn that asked, so answers arriving out of
    // order land on the right turn.
    let ask = Action::new(|(id, request): &(usize, ChatRequest)| {
        let (id, request) = (*id, request.clone());
        async move { (id, chat(request).await) }
    });
    let pending = ask.pending();

    Effect::new(move |_| {
        if let Some((turn_id, result)) = ask.value().get() {
            let answer = result.map_err(|e| server_message(&e.to_string()));
            if let Ok(a) = &answer
                && turns.with_untracked(|t| t.last().is_some_and(|last| last.id == turn_id))
            {
                conversation.set(Some(a.conversation_id.clone()));
            }
            turns.update(|t| {
                if let Some(turn) = t.iter_mut().find(|t| t.id == turn_id) {
                    turn.answer = Some(answer);
                }
            });
        }
    });

    let say = move |said: Say| {
        let (message, remove, shown) = match said {
            Say::Message(m) => {
                let m = m.trim().to_string();
                if m.is_empty() {
                    input_error.set(Some("Describe the image you are looking for".into()));
                    return;
                }
                (m.clone(), None, m)
            }
            Say::Remove(chip) => {
                let shown = format!("Remove {}: {}", chip.kind.replace('_', " "), chip.value);
                (String::new(), Some(ChipRef { kind: chip.kind, value: chip.value }), shown)
            }
        };
        input_error.set(None);
        let id = turns.with_untracked(Vec::len);
        turns.update(|t| t.push(Turn { id, message: shown, answer: None }));
        let request = ChatRequest {
            message,
            session_id: ui.search_in.get_untracked(),
            limit: Some(24),
            conversation_id: conversation.get_untracked(),
            // An expired conversation starts over rather than failing the message.
            start_if_missing: true,
            remove,
        };
        ask.dispatch((id, request));
    };
    let send = move |message: String| say(Say::Message(message));
    let remove = move |chip: Chip| say(Say::Remove(chip));
    let new_search = move |_| {
        conversation.set(None);
        turns.set(Vec::new());
        input_error.set(None);
    };

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send(draft.get_untracked());
        draft.set(String::new());
    };

    view! {
        <section class="card chat" aria-labelledby="chat-title">
            <div class="card-head">
                <h2 id="chat-title">"2. Ask for images"</h2>
                <button
                    type="button"
                    class="secondary"
                    data-testid="new-search"
                    title="Forget this conversation: the next message starts a new request"
                    hidden=move || turns.with(Vec::is_empty)
                    on:click=new_search
                >
                    "New search"
                </button>
                <label class="picker">
                    <span>"Search in"</span>
                    <Transition fallback=|| view! { <select disabled=true><option>"all crawls"</option></select> }>
                        {move || sessions.get().map(|list| {
                            let list: Vec<SessionView> = list.map(|l| l.sessions).unwrap_or_default();
                            view! { <SessionPicker sessions=list /> }
                        })}
                    </Transition>
                </label>
            </div>
            <ol class="turns" aria-live="polite" data-testid="chat-history">
                {move || {
                    let all = turns.get();
                    let last = all.len().saturating_sub(1);
                    all.into_iter()
                        .enumerate()
                        .map(|(i, turn)| view! { <TurnView turn=turn latest={i == last} remove=remove /> })
                        .collect_view()
                }}
            </ol>
            {move || turns.with(Vec::is_empty).then(|| view! {
                <div class="empty" data-testid="chat-empty">
                    <p class="muted">"Describe the images you want, in your own words. For example:"</p>
                    <p class="examples">
                        {EXAMPLES.iter().map(|e| view! {
                            <button type="button" class="chip-button" on:click=move |_| send(e.to_string())>{*e}</button>
                        }).collect_view()}
                    </p>
                </div>
            })}
            <form class="ask" on:submit=on_submit data-testid="chat-form">
                <label class="grow">
                    <span class="visually-hidden">"Message"</span>
                    <input
                        type="text"
                        name="message"
                        maxlength="1000"
                        placeholder="e.g. PNG images of the Apple Watch"
                        autocomplete="off"
                        data-testid="chat-input"
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev))
                    />
                </label>
                <button type="submit" data-testid="chat-send" disabled=move || pending.get()>
                    {move || if pending.get() { "Searching\u{2026}" } else { "Search" }}
                </button>
            </form>
            <p class="error" role="alert" hidden=move || input_error.get().is_none()>{move || input_error.get().unwrap_or_default()}</p>
        </section>
    }
}

#[component]
fn SessionPicker(sessions: Vec<SessionView>) -> impl IntoView {
    let ui = expect_context::<UiState>();
    let on_change = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        ui.search_in.set((value != "all").then_some(value));
    };
    view! {
        <select data-testid="session-picker" on:change=on_change prop:value=move || ui.search_in.get().unwrap_or_else(|| "all".into())>
            <option value="all">"all crawls"</option>
            {sessions
                .into_iter()
                .map(|s| {
                    let label = format!("{} \u{b7} {} images \u{b7} {}", s.domain, s.images_indexed, s.status);
                    view! { <option value=s.id.clone()>{label}</option> }
                })
                .collect_view()}
        </select>
    }
}

#[component]
fn TurnView(turn: Turn, latest: bool, remove: impl Fn(Chip) + Copy + Send + Sync + 'static) -> impl IntoView {
    view! {
        <li class="turn" data-testid="turn">
            <p class="you"><span class="visually-hidden">"You asked: "</span>{turn.message.clone()}</p>
            {match turn.answer {
                None => view! { <p class="muted" data-testid="searching">"Searching\u{2026}"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert" data-testid="chat-error">{e}</p> }.into_any(),
                Some(Ok(answer)) => view! { <Answer answer=answer latest=latest remove=remove /> }.into_any(),
            }}
        </li>
    }
}

/// "refined: + PNG", "new search", "page 2": what the message did to the request.
fn changes_line(answer: &ChatResponse) -> Option<String> {
    let changes = &answer.query.changes;
    if changes.is_empty() {
        return None;
    }
    let labels: Vec<&str> = changes.iter().map(|c| c.label.as_str()).collect();
    let refined = changes.iter().any(|c| matches!(c.op.as_str(), "added" | "removed" | "words"));
    Some(if refined { format!("refined: {}", labels.join(", ")) } else { labels.join(", ") })
}

#[component]
fn Answer(answer: ChatResponse, latest: bool, remove: impl Fn(Chip) + Copy + Send + Sync + 'static) -> impl IntoView {
    let chips: Vec<Chip> = answer.query.chips.clone();
    let count = answer.results.len();
    let empty = answer.results.is_empty();
    let changes = changes_line(&answer);
    view! {
        <div class="answer">
            {changes.map(|c| view! { <p class="changes" data-testid="changes">{c}</p> })}
            {(!chips.is_empty()).then(|| view! {
                <ul class="chips" aria-label="The request: filters understood so far" data-testid="chips">
                    {chips.into_iter().map(|chip| {
                        let label = format!("{}: {}", chip.kind.replace('_', " "), chip.value);
                        let this = chip.clone();
                        view! {
                            <li class="chip" class:relaxed=chip.note.is_some() title=chip.reason.clone() data-testid="chip" data-kind=chip.kind.clone()>
                                <span>{label.clone()}</span>
                                {chip.note.clone().map(|n| view! { <span class="chip-note" data-testid="chip-note">{n}</span> })}
                                {latest.then(|| view! {
                                    <button
                                        type="button"
                                        class="chip-remove"
                                        aria-label=format!("Remove filter {label}")
                                        data-testid="chip-remove"
                                        on:click=move |_| remove(this.clone())
                                    >
                                        "\u{d7}"
                                    </button>
                                })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
            {answer.lexical_only.clone().map(|w| view! { <p class="note" role="status">{format!("Keyword search only: {w}")}</p> })}
            {answer.notes.iter().map(|n| view! { <p class="note">{n.clone()}</p> }).collect_view()}
            {if empty {
                view! {
                    <div class="no-results" data-testid="no-results">
                        <p><strong>"No images matched."</strong></p>
                        <p class="muted">
                            "Try fewer or more general words, remove a filter chip, search all crawls, "
                            "or crawl more pages of the site."
                        </p>
                    </div>
                }.into_any()
            } else {
                view! {
                    <p class="muted small" data-testid="result-count">
                        {format!("{count} images \u{b7} {} ms", answer.took_ms)}
                    </p>
                    <ResultGrid results=answer.results.clone() />
                }.into_any()
            }}
        </div>
    }
}
