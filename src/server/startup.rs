use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::{delete, get, post};
use image_chat_core::Settings;
use image_chat_core::services::{IndexUse, Services};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;

use super::json_errors;
use super::rate_limit::{self, RateLimiter};
use super::routes;
use super::serve;
use super::state::AppState;
use crate::app::{App, shell};

/// The whole HTTP surface: REST routes first (leptos_axum has no SSE and its server functions
/// answer 500 for every error), then the Leptos pages and server functions, then static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let max_body = state.settings.server.max_request_bytes;
    let max_headers = state.settings.server.max_header_bytes;
    let options = state.leptos_options.clone();
    let context_state = state.clone();
    Router::new()
        .route("/health", get(routes::health))
        .route("/crawl", post(routes::start_crawl))
        .route("/crawl/{id}/status", get(routes::crawl_status))
        .route("/crawl/{id}", delete(routes::cancel_crawl))
        .route("/chat", post(routes::chat))
        .route("/sessions", get(routes::sessions))
        .route("/api/health/cache", get(routes::cache_health))
        .route("/api/openapi.json", get(routes::openapi))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(axum::middleware::from_fn_with_state(max_headers, serve::limit_headers))
        // Outermost: what any layer below answers on the API's paths is JSON.
        .layer(axum::middleware::from_fn(json_errors::json_errors))
        .with_state(state)
}

/// The product as the settings make it (the composition root in core), with the sessions kept
/// in the data dir restored. An index or model that cannot be opened is said at start-up.
pub async fn app_state(settings: Settings, leptos_options: LeptosOptions) -> image_chat_core::Result<AppState> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        image_chat_core::Error::Storage(format!("cannot create data dir {}: {e}", settings.data_dir.display()))
    })?;
    app_state_from(Arc::new(Services::from_settings(settings, IndexUse::Serve)?), leptos_options).await
}

/// The app's state over a product built elsewhere: a test can hand in one with an index in
/// memory and no model, and drive [`router`] without binding a port.
pub async fn app_state_from(
    services: Arc<Services>,
    leptos_options: LeptosOptions,
) -> image_chat_core::Result<AppState> {
    let settings = services.settings().clone();
    let sessions = services.sessions().await?;
    Ok(AppState {
        engine: services.engine()?,
        conversations: services.conversations()?,
        chat_parser: services.chat_parser().cloned(),
        caches: services.caches().clone(),
        crawl_limiter: Arc::new(RateLimiter::new(settings.server.crawl_rate_per_min)),
        chat_limiter: Arc::new(RateLimiter::new(settings.server.chat_rate_per_min)),
        sessions,
        settings,
        leptos_options,
        started: Instant::now(),
    })
}

/// A bound, not yet running server: tests build one on port 0 and read the port back.
pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: image_chat_core::config::ServerSettings,
}

impl Application {
    pub async fn build(settings: Settings, mut leptos_options: LeptosOptions) -> std::io::Result<Self> {
        let addr = settings.server.addr.unwrap_or(leptos_options.site_addr);
        let listener = TcpListener::bind(addr).await?;
        leptos_options.site_addr = listener.local_addr()?;
        let state = app_state(settings, leptos_options).await.map_err(std::io::Error::other)?;
        state.sessions.spawn_expiry();
        image_chat_core::conversation::spawn_expiry(state.conversations.clone(), state.settings.sessions.idle_ttl_secs);
        let limits = state.settings.server.clone();
        Ok(Self { listener, router: router(state), limits })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        serve::serve(self.listener, self.router, &self.limits, shutdown_signal()).await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
