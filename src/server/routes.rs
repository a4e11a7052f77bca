//! The REST API: JSON in and out, real status codes, errors as `{"error": {"code", "message"}}`.
//! Each handler is a thin shell over `service`, which the server functions share.

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;
use super::{events, service};
use crate::types::{
    ApiErrorBody, AppStatus, CacheHealth, ChatRequest, ChatResponse, CrawlForm, CrawlStarted, SessionList, SessionView,
};

/// JSON bodies whose rejections (bad JSON, a missing or unknown field, too large) answer in the
/// API's error shape, naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                // Too large and wrong content type keep their own codes; every other rejection
                // (bad JSON, a wrong type, a missing or unknown field) is a plain 400.
                let (status, code) = match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                    }
                    _ => (StatusCode::BAD_REQUEST, "invalid_request"),
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}

/// Start a crawl session.
#[utoipa::path(post, path = "/crawl", request_body = CrawlForm, responses(
    (status = 202, description = "The crawl started", body = CrawlStarted),
    (status = 400, description = "Invalid request; the message names the field", body = ApiErrorBody),
    (status = 409, description = "A crawl of this domain is already running", body = ApiErrorBody),
    (status = 413, description = "The body is larger than server.max_request_bytes", body = ApiErrorBody),
    (status = 415, description = "The body is not JSON (Content-Type: application/json)", body = ApiErrorBody),
    (status = 429, description = "Server at capacity, or too many crawls from this client", body = ApiErrorBody),
))]
pub async fn start_crawl(
    State(state): State<AppState>,
    ApiJson(form): ApiJson<CrawlForm>,
) -> Result<(StatusCode, Json<CrawlStarted>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(service::start_crawl(&state, form).await?)))
}

/// A session's state: Server-Sent Events when the client accepts `text/event-stream`
/// (`snapshot`, `progress`, `page`, `indexed`, then `finished`, `failed` or `cancelled`), else a
/// JSON snapshot (the polling fallback).
#[utoipa::path(get, path = "/crawl/{id}/status", params(("id" = String, Path, description = "Session id")), responses(
    (status = 200, description = "JSON snapshot, or an SSE stream", body = SessionView),
    (status = 404, description = "No such session", body = ApiErrorBody),
))]
pub async fn crawl_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wants_events =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/event-stream"));
    if wants_events {
        return Ok(events::stream(&state, &id).await?.into_response());
    }
    Ok(Json(service::session(&state, &id).await?).into_response())
}

/// Cancel a running crawl; what it indexed stays searchable.
#[utoipa::path(delete, path = "/crawl/{id}", params(("id" = String, Path, description = "Session id")), responses(
    (status = 202, description = "Cancelling; the event stream ends with `cancelled`", body = SessionView),
    (status = 404, description = "No such session", body = ApiErrorBody),
    (status = 409, description = "The session is not running", body = ApiErrorBody),
))]
pub async fn cancel_crawl(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(service::cancel(&state, &id).await?)))
}

/// Find images by describing them; with `conversation_id`, a follow-up is read against the
/// request before it.
#[utoipa::path(post, path = "/chat", request_body = ChatRequest, responses(
    (status = 200, description = "The request after this message, what it changed, and the results, best first", body = ChatResponse),
    (status = 400, description = "Empty or over-long message, bad limit, a chip to remove that the request does not hold", body = ApiErrorBody),
    (status = 404, description = "No such session, or no such conversation (unknown or expired)", body = ApiErrorBody),
    (status = 413, description = "The body is larger than server.max_request_bytes", body = ApiErrorBody),
    (status = 415, description = "The body is not JSON (Content-Type: application/json)", body = ApiErrorBody),
    (status = 429, description = "Too many messages from this client", body = ApiErrorBody),
))]
pub async fn chat(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Json<ChatResponse>, ApiError> {
    Ok(Json(service::chat(&state, request).await?))
}

/// Every session, newest first (past ones survive a restart).
#[utoipa::path(get, path = "/sessions", responses((status = 200, body = SessionList)))]
pub async fn sessions(State(state): State<AppState>) -> Json<SessionList> {
    Json(service::sessions(&state).await)
}

/// Measured hit rates and lookup latencies of each cache layer.
#[utoipa::path(get, path = "/api/health/cache", responses((status = 200, body = CacheHealth)))]
pub async fn cache_health(State(state): State<AppState>) -> Json<CacheHealth> {
    Json(service::cache_health(&state).await)
}

/// The app's version and each component's state.
#[utoipa::path(get, path = "/health", responses((status = 200, body = AppStatus)))]
pub async fn health(state: State<AppState>) -> Json<AppStatus> {
    super::health::handler(state).await
}

/// This API's OpenAPI 3.1 document.
pub async fn openapi(State(state): State<AppState>) -> Response {
    ([(header::CACHE_CONTROL, "no-cache")], Json(super::openapi::document(&state.settings))).into_response()
}

/// SSE comments this often keep proxies from closing an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
