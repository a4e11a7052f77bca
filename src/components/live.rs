//! The browser side of a session's event stream: an `EventSource` on `/crawl/{id}/status` that
//! updates the live view, closed on the final event or when the view goes away. When the stream
//! cannot be kept open the caller falls back to polling.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Event, EventSource, MessageEvent};

use super::UiState;
use crate::types::{IndexedUpdate, PageErrorView, PageUpdate, ProgressUpdate, SessionView};

pub struct Connection {
    source: EventSource,
    _listeners: Vec<Closure<dyn FnMut(MessageEvent)>>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.source.close();
    }
}

fn data<T: serde::de::DeserializeOwned>(ev: &MessageEvent) -> Option<T> {
    serde_json::from_str(&ev.data().as_string()?).ok()
}

/// Opens the stream for session `id`. `failed` is set when the browser gives up on it.
pub fn connect(id: &str, ui: UiState, failed: RwSignal<bool>) -> Option<Connection> {
    let source = EventSource::new(&format!("/crawl/{id}/status")).ok()?;
    let mut listeners = Vec::new();
    let mut listen = |name: &str, f: Box<dyn FnMut(MessageEvent)>| {
        let closure = Closure::wrap(f);
        let _ = source.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
        listeners.push(closure);
    };
    listen(
        "snapshot",
        Box::new(move |ev| {
            if let Some(view) = data::<SessionView>(&ev) {
                ui.live.set(Some(view));
            }
        }),
    );
    for name in ["finished", "failed", "cancelled", "interrupted"] {
        let source = source.clone();
        listen(
            name,
            Box::new(move |ev| {
                if let Some(view) = data::<SessionView>(&ev) {
                    ui.live.set(Some(view));
                }
                // The server ends the stream now; without this the browser would reconnect.
                source.close();
                ui.sessions_version.update(|n| *n += 1);
            }),
        );
    }
    listen(
        "progress",
        Box::new(move |ev| {
            if let Some(p) = data::<ProgressUpdate>(&ev) {
                ui.live.update(|v| {
                    if let Some(v) = v {
                        v.counters = p.counters;
                        v.current_url = p.current_url;
                        v.images_indexed = v.images_indexed.max(p.images_indexed);
                    }
                });
            }
        }),
    );
    listen(
        "indexed",
        Box::new(move |ev| {
            if let Some(p) = data::<IndexedUpdate>(&ev) {
                ui.live.update(|v| {
                    if let Some(v) = v {
                        v.images_indexed = p.images_indexed;
                        v.images_embedded = p.images_embedded;
                        v.images_analysed = p.images_analysed;
                        v.images_too_small = p.images_too_small;
                        v.images_missing = p.images_missing;
                    }
                });
            }
        }),
    );
    listen(
        "page",
        Box::new(move |ev| {
            if let Some(p) = data::<PageUpdate>(&ev)
                && p.outcome == "failed"
            {
                ui.live.update(|v| {
                    if let Some(v) = v
                        && v.errors.len() < 50
                        && !v.errors.iter().any(|e| e.url == p.url)
                    {
                        v.errors.push(PageErrorView { url: p.url, reason: p.reason.unwrap_or_default() });
                    }
                });
            }
        }),
    );
    let watched = source.clone();
    // The browser reconnects by itself after a dropped connection (the server then sends a fresh
    // snapshot); only when it gives up (CLOSED) do we switch to polling.
    let on_error = Closure::wrap(Box::new(move |_: Event| {
        if watched.ready_state() == EventSource::CLOSED {
            failed.set(true);
        }
    }) as Box<dyn FnMut(Event)>);
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Some(Connection { source, _listeners: listeners, _on_error: on_error })
}
