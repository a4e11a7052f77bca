//! Server functions: thin wrappers over the same calls the REST routes make.

use leptos::prelude::*;

use crate::types::AppStatus;

/// The app's version and each component's health.
#[server(endpoint = "status")]
pub async fn get_status() -> Result<AppStatus, ServerFnError> {
    use crate::server::state::AppState;
    let state = expect_context::<AppState>();
    Ok(crate::server::health::status(&state).await)
}
