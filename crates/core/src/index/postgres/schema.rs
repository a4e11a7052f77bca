//! The PostgreSQL store's tables, as numbered migrations applied at start-up: each runs once,
//! in its own transaction, recorded in `image_chat_migrations`; replicas starting together take
//! turns on an advisory lock, so each migration is applied exactly once.

use deadpool_postgres::Client;

use super::{LOCK_CLASS, pg};
use crate::error::{Error, Result};

/// Lock key (with [`LOCK_CLASS`]) held while migrating.
const MIGRATION_LOCK: i32 = 0;

/// Version and SQL of each migration, in order. Never edit one that has shipped: add another.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE EXTENSION IF NOT EXISTS vector;
     CREATE TABLE images (
         id bigserial PRIMARY KEY,
         namespace text NOT NULL,
         url text NOT NULL,
         page_url text NOT NULL,
         format text,
         width integer,
         height integer,
         -- From the image's pixels, when analysed: mean brightness 0-255, transparency.
         luma smallint,
         transparent boolean,
         record text NOT NULL,
         -- The four weighted fields (A alt, B caption, C context, D page) as tokenized by the
         -- embedded store's tokenizer, and the row's token count, for BM25.
         tsv tsvector NOT NULL,
         doc_len integer NOT NULL,
         -- Lower-cased descriptive text, for the vector leg's whole-word filters.
         words text NOT NULL,
         -- Typed halfvec(dim) and indexed by HNSW once the first vector says the dimension.
         vector halfvec,
         UNIQUE (namespace, url)
     );
     CREATE INDEX images_namespace_id ON images (namespace, id);
     CREATE INDEX images_tsv ON images USING gin (tsv);
     -- Documents and tokens per namespace: BM25's N and average length, kept in the same
     -- transaction as every write.
     CREATE TABLE namespace_stats (
         namespace text PRIMARY KEY,
         docs bigint NOT NULL,
         total_len bigint NOT NULL
     );
     -- Bumped on every change of a namespace, and '*' on every change at all: query results
     -- cached under it are never stale, on any replica.
     CREATE TABLE generations (namespace text PRIMARY KEY, gen bigint NOT NULL);
     CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);",
)];

/// Brings the database to the latest schema.
pub(super) async fn migrate(client: &mut Client) -> Result<()> {
    client.execute("SELECT pg_advisory_lock($1, $2)", &[&LOCK_CLASS, &MIGRATION_LOCK]).await.map_err(pg)?;
    let outcome = apply(client).await;
    // A failed unlock is not worth failing for: the lock goes with the session.
    let _ = client.execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_CLASS, &MIGRATION_LOCK]).await;
    outcome
}

async fn apply(client: &mut Client) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS image_chat_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(pg)?;
    let row = client.query_one("SELECT coalesce(max(version), 0) FROM image_chat_migrations", &[]).await.map_err(pg)?;
    let current: i32 = row.get(0);
    if let Some(newest) = MIGRATIONS.last().map(|m| m.0)
        && current > newest
    {
        return Err(Error::Index(format!(
            "the database's schema is version {current}, newer than this build knows ({newest}): upgrade image-chat"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute(sql).await.map_err(|e| match e.as_db_error() {
            Some(db) if db.message().contains("\"vector\"") && db.message().contains("extension") => {
                Error::Index(format!(
                    "pgvector is not available in this PostgreSQL ({}): install pgvector 0.8 or newer",
                    db.message()
                ))
            }
            _ => pg(e),
        })?;
        tx.execute("INSERT INTO image_chat_migrations (version) VALUES ($1)", &[version]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(())
}
