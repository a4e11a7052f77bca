//! Server functions: thin wrappers over the same `service` calls the REST routes make, used by
//! the UI and callable as JSON endpoints under `/api/`.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::types::{AppStatus, ChatRequest, ChatResponse, CrawlForm, CrawlStarted, SessionList, SessionView};

#[cfg(feature = "ssr")]
fn state() -> crate::server::state::AppState {
    expect_context::<crate::server::state::AppState>()
}

#[cfg(feature = "ssr")]
fn fail(e: crate::server::error::ApiError) -> ServerFnError {
    ServerFnError::ServerError(e.message)
}

/// The app's version and each component's health.
#[server(endpoint = "status")]
pub async fn get_status() -> Result<AppStatus, ServerFnError> {
    Ok(crate::server::health::status(&state()).await)
}

#[server(endpoint = "start_crawl", input = Json)]
pub async fn start_crawl(form: CrawlForm) -> Result<CrawlStarted, ServerFnError> {
    crate::server::service::start_crawl(&state(), form).await.map_err(fail)
}

#[server(endpoint = "cancel_crawl", input = Json)]
pub async fn cancel_crawl(id: String) -> Result<SessionView, ServerFnError> {
    crate::server::service::cancel(&state(), &id).await.map_err(fail)
}

#[server(endpoint = "session", input = Json)]
pub async fn get_session(id: String) -> Result<SessionView, ServerFnError> {
    crate::server::service::session(&state(), &id).await.map_err(fail)
}

#[server(endpoint = "sessions", input = Json)]
pub async fn list_sessions() -> Result<SessionList, ServerFnError> {
    Ok(crate::server::service::sessions(&state()).await)
}

#[server(endpoint = "chat", input = Json)]
pub async fn chat(request: ChatRequest) -> Result<ChatResponse, ServerFnError> {
    crate::server::service::chat(&state(), request).await.map_err(fail)
}
