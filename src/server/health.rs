use std::time::Duration;

use axum::Json;
use axum::extract::State;
use image_chat_core::probe::{self, Probe, ProbeState};

use super::state::AppState;
use crate::types::{AppStatus, ComponentStatus};

/// How long one probe of an external service may take; `/health` must answer fast even when a
/// service hangs.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// `GET /health`: 200 with each component's state. `status` is `degraded` when a configured
/// component is unusable; the app still serves what it can.
pub async fn handler(State(state): State<AppState>) -> Json<AppStatus> {
    Json(status(&state).await)
}

pub async fn status(state: &AppState) -> AppStatus {
    let settings = state.settings.clone();
    let probes = tokio::task::spawn_blocking(move || {
        vec![
            Probe { name: "web", state: ProbeState::Ok, detail: "serving".into() },
            probe::data_dir(&settings.data_dir),
            probe::model_files(&settings.model),
            probe::browser(&settings.crawler),
            probe::redis(&settings.cache, PROBE_TIMEOUT),
            probe::postgres(&settings.store, PROBE_TIMEOUT),
        ]
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!("health probes panicked: {e}");
        vec![Probe { name: "probes", state: ProbeState::Unreachable, detail: "health check failed".into() }]
    });
    let degraded = probes.iter().any(|p| matches!(p.state, ProbeState::Missing | ProbeState::Unreachable));
    AppStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        status: if degraded { "degraded" } else { "ok" }.to_string(),
        uptime_secs: state.started.elapsed().as_secs(),
        components: probes
            .into_iter()
            .map(|p| ComponentStatus {
                name: p.name.to_string(),
                state: serde_json::to_value(p.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                detail: p.detail,
            })
            .collect(),
    }
}
