//! A fresh database on the PostgreSQL that `scripts/test.sh` starts (its URL in
//! `IMAGE_CHAT_TEST_DATABASE_URL`), one per test, so tests that write the PostgreSQL store never
//! see each other's rows.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::skip::{Need, skip};

/// The environment variable naming the test PostgreSQL (`scripts/services.sh start` sets it).
pub const DATABASE_URL_ENV: &str = "IMAGE_CHAT_TEST_DATABASE_URL";

/// A URL of a new, empty database with pgvector available, or `None` after one printed skip line
/// (a failure where `IMAGE_CHAT_REQUIRE_SERVICES` says the service must be there).
pub async fn fresh_database() -> Option<String> {
    let Ok(base) = std::env::var(DATABASE_URL_ENV) else {
        skip(Need::Service, &format!("{DATABASE_URL_ENV} unset (scripts/test.sh starts PostgreSQL + pgvector)"));
        return None;
    };
    Some(create(&base).await.unwrap_or_else(|e| panic!("cannot make a test database on {base}: {e}")))
}

async fn create(base: &str) -> Result<String, String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
    );
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    let task = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.map_err(|e| e.to_string())?;
    drop(client);
    let _ = task.await;
    // The database named in the URL's path is replaced; the rest (user, host, port) stays.
    let (head, _) = base.rsplit_once('/').ok_or_else(|| format!("{base} names no database"))?;
    Ok(format!("{head}/{name}"))
}
