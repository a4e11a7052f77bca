use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use image_chat_core::Settings;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;

use super::health;
use super::state::AppState;
use crate::app::{App, shell};

/// The whole HTTP surface: REST routes first (leptos_axum has no SSE and its server functions
/// answer 500 for every error), then the Leptos pages and server functions, then static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let max_body = state.settings.server.max_request_bytes;
    let options = state.leptos_options.clone();
    let context_state = state.clone();
    Router::new()
        .route("/health", get(health::handler))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(RequestBodyLimitLayer::new(max_body))
        .with_state(state)
}

/// A bound, not yet running server: tests build one on port 0 and read the port back.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(settings: Settings, mut leptos_options: LeptosOptions) -> std::io::Result<Self> {
        let addr = settings.server.addr.unwrap_or(leptos_options.site_addr);
        let listener = TcpListener::bind(addr).await?;
        leptos_options.site_addr = listener.local_addr()?;
        let state = AppState { settings: Arc::new(settings), leptos_options, started: Instant::now() };
        Ok(Self { listener, router: router(state) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown_signal()).await
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
