//! Server functions: thin wrappers over the same `service` calls the REST routes make, used by
//! the UI and callable as JSON endpoints under `/api/`.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::types::{
    ApiErrorBody, AppStatus, ChatRequest, ChatResponse, CrawlForm, CrawlStarted, SessionList, SessionView,
};

#[cfg(feature = "ssr")]
fn state() -> crate::server::state::AppState {
    expect_context::<crate::server::state::AppState>()
}

/// An API error as a server function answers it: the same JSON body and status as the REST route's.
#[cfg(feature = "ssr")]
fn fail(e: crate::server::error::ApiError) -> ApiErrorBody {
    crate::types::set_status(e.status.as_u16());
    if let (Some(options), Some(secs)) = (use_context::<leptos_axum::ResponseOptions>(), e.retry_after)
        && let Ok(value) = axum::http::HeaderValue::from_str(&secs.to_string())
    {
        options.insert_header(axum::http::header::RETRY_AFTER, value);
    }
    ApiErrorBody::new(e.code, e.message)
}

/// The app's version and each component's health.
#[server(endpoint = "status")]
pub async fn get_status() -> Result<AppStatus, ApiErrorBody> {
    Ok(crate::server::health::status(&state()).await)
}

#[server(endpoint = "start_crawl", input = Json)]
pub async fn start_crawl(form: CrawlForm) -> Result<CrawlStarted, ApiErrorBody> {
    crate::server::service::start_crawl(&state(), form).await.map_err(fail)
}

#[server(endpoint = "cancel_crawl", input = Json)]
pub async fn cancel_crawl(id: String) -> Result<SessionView, ApiErrorBody> {
    crate::server::service::cancel(&state(), &id).await.map_err(fail)
}

#[server(endpoint = "session", input = Json)]
pub async fn get_session(id: String) -> Result<SessionView, ApiErrorBody> {
    crate::server::service::session(&state(), &id).await.map_err(fail)
}

#[server(endpoint = "sessions", input = Json)]
pub async fn list_sessions() -> Result<SessionList, ApiErrorBody> {
    Ok(crate::server::service::sessions(&state()).await)
}

#[server(endpoint = "chat", input = Json)]
pub async fn chat(request: ChatRequest) -> Result<ChatResponse, ApiErrorBody> {
    crate::server::service::chat(&state(), request).await.map_err(fail)
}
