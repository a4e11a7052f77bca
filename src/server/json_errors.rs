//! Every answer on the API's paths is JSON, errors included: whatever a layer below the handlers
//! answers in plain text or HTML (the body-size limit's 413, a path that does not parse, a route
//! that does not exist) is rewritten to `{"error": {"code", "message"}}` with its status.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Longest text of a lower layer's error kept as the message.
const MAX_MESSAGE: usize = 300;

/// Whether `path` is the API's (JSON) rather than a page's.
pub fn is_api_path(path: &str) -> bool {
    matches!(path, "/crawl" | "/chat" | "/sessions" | "/health")
        || path.starts_with("/crawl/")
        || path.starts_with("/api/")
}

/// The error code an HTTP status stands for.
pub fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        431 => "headers_too_large",
        400..=499 => "invalid_request",
        _ => "internal",
    }
}

pub async fn json_errors(request: Request, next: Next) -> Response {
    let api = is_api_path(request.uri().path());
    let (method, path) = (request.method().clone(), request.uri().path().chars().take(100).collect::<String>());
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let message = if status == StatusCode::NOT_FOUND || text.trim_start().starts_with('<') || text.trim().is_empty() {
        match status {
            StatusCode::NOT_FOUND => format!("no route {method} {path}"),
            StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed on {path}"),
            other => other.canonical_reason().unwrap_or("error").to_lowercase(),
        }
    } else if status.is_server_error() {
        // Nothing internal leaves the server.
        "something went wrong on the server; it was logged".to_string()
    } else {
        text.trim().chars().take(MAX_MESSAGE).collect()
    };
    let mut rewritten = ApiError::new(status, code_of(status), message).into_response();
    for (name, value) in
        parts.headers.iter().filter(|(n, _)| *n != header::CONTENT_TYPE && *n != header::CONTENT_LENGTH)
    {
        rewritten.headers_mut().insert(name.clone(), value.clone());
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_and_codes() {
        assert!(is_api_path("/crawl/0123456789abcdef/status") && is_api_path("/api/chat") && is_api_path("/chat"));
        assert!(!is_api_path("/") && !is_api_path("/pkg/image-chat.js") && !is_api_path("/chatroom"));
        assert_eq!(code_of(StatusCode::PAYLOAD_TOO_LARGE), "too_large");
        assert_eq!(code_of(StatusCode::BAD_REQUEST), "invalid_request");
        assert_eq!(code_of(StatusCode::NOT_FOUND), "not_found");
    }
}
