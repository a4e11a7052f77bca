//! Writes: a batch goes in by binary `COPY` into a per-connection staging table, then one
//! `INSERT … ON CONFLICT` replaces rows by namespace and URL, so a batch written twice (a retry,
//! a replica that re-fetched a page) leaves one row per image. The namespace's BM25 statistics
//! and generation change in the same transaction, under a per-namespace advisory lock.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use pgvector::HalfVector;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{DIMENSION_LOCK, DIMENSION_SQL, LOCK_CLASS, PostgresIndex, dimension_of, pg};
use crate::error::{Error, Result};
use crate::index::fields::columns;
use crate::index::{Namespace, searchable_text};
use crate::model::ImageRecord;

/// Tokenizing a batch is CPU work: it waits its turn for a blocking thread.
static GATE: crate::blocking::Gate = crate::blocking::Gate::per_core();

const STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS image_chat_staging (
    url text, page_url text, format text, width integer, height integer, luma smallint, transparent boolean,
    record text, tsv text, doc_len integer, words text, vector halfvec
) ON COMMIT DELETE ROWS";

const MERGE: &str = "INSERT INTO images (namespace, url, page_url, format, width, height, luma, transparent, record, tsv, doc_len, words, vector)
    SELECT $1, url, page_url, format, width, height, luma, transparent, record, tsv::tsvector, doc_len, words, vector
    FROM image_chat_staging
    ON CONFLICT (namespace, url) DO UPDATE SET
        page_url = excluded.page_url, format = excluded.format, width = excluded.width, height = excluded.height,
        luma = excluded.luma, transparent = excluded.transparent, record = excluded.record, tsv = excluded.tsv,
        doc_len = excluded.doc_len, words = excluded.words, vector = coalesce(excluded.vector, images.vector)";

/// Raises the namespace's generation and the store's ('*').
pub(super) async fn bump(tx: &Transaction<'_>, namespace: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO generations (namespace, gen) VALUES ($1, 1), ('*', 1)
         ON CONFLICT (namespace) DO UPDATE SET gen = generations.gen + 1",
        &[&namespace],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

/// Checks a batch's vectors: one dimension, finite values. Returns the dimension.
fn vectors_dimension(items: &[(ImageRecord, Option<Vec<f32>>)]) -> Result<Option<usize>> {
    let mut dim = None;
    for v in items.iter().filter_map(|(_, v)| v.as_ref()) {
        match dim {
            None => dim = Some(v.len()),
            Some(d) if d != v.len() => {
                return Err(Error::Invalid(format!("vector of {} dimensions; this batch holds {d}", v.len())));
            }
            Some(_) => {}
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::Invalid("vector holds NaN or infinity".into()));
        }
    }
    if dim == Some(0) {
        return Err(Error::Invalid("vector of 0 dimensions".into()));
    }
    Ok(dim)
}

impl PostgresIndex {
    pub(super) async fn write(
        &self,
        namespace: &Namespace,
        items: &[(ImageRecord, Option<Vec<f32>>)],
    ) -> Result<usize> {
        if items.is_empty() {
            return Ok(0);
        }
        let dim = vectors_dimension(items)?;
        // The last of several writes of one URL in a batch wins, as row by row.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
        for (i, (record, _)) in items.iter().enumerate() {
            last.insert(record.url.as_str(), i);
        }
        let mut chosen: Vec<usize> = last.into_values().collect();
        chosen.sort_unstable();
        let fields: Vec<[String; 4]> = chosen.iter().map(|&i| columns(&items[i].0)).collect();
        let tokenizer = self.tokenizer.clone();
        let documents = GATE
            .run(move || tokenizer.documents(&fields))
            .await
            .map_err(|e| Error::Index(format!("tokenizing failed: {e}")))??;

        let (mut client, ready) = self.ready().await?;
        let halfvec = ready.halfvec.clone();
        let tx = client.transaction().await.map_err(pg)?;
        let ns = namespace.as_str();
        tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&LOCK_CLASS, &ns]).await.map_err(pg)?;
        if let Some(d) = dim {
            self.type_vectors(&tx, d).await?;
        }

        // BM25 statistics change by what the batch adds and what it replaces.
        let urls: Vec<&str> = chosen.iter().map(|&i| items[i].0.url.as_str()).collect();
        let old: HashMap<String, i32> = tx
            .query("SELECT url, doc_len FROM images WHERE namespace = $1 AND url = ANY($2)", &[&ns, &urls])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut new_docs = 0i64;
        let mut new_tokens = 0i64;
        for (url, doc) in urls.iter().zip(&documents) {
            match old.get(*url) {
                Some(before) => new_tokens += i64::from(doc.length) - i64::from(*before),
                None => {
                    new_docs += 1;
                    new_tokens += i64::from(doc.length);
                }
            }
        }

        tx.batch_execute(STAGING).await.map_err(pg)?;
        let sink = tx
            .copy_in(
                "COPY image_chat_staging (url, page_url, format, width, height, luma, transparent, record, tsv, doc_len, words, vector)
                 FROM STDIN (FORMAT binary)",
            )
            .await
            .map_err(pg)?;
        let types = [
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::INT4,
            Type::INT2,
            Type::BOOL,
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::TEXT,
            halfvec,
        ];
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        for (&i, doc) in chosen.iter().zip(&documents) {
            let (record, vector) = &items[i];
            let (width, height) = record.dimensions();
            let facts = record.facts.as_ref();
            let json = serde_json::to_string(record).map_err(|e| Error::Index(e.to_string()))?;
            // PostgreSQL text holds no NUL character (the JSON escapes it).
            let words = searchable_text(record).to_lowercase().replace('\0', " ");
            let row: [&(dyn ToSql + Sync); 12] = [
                &record.url.as_str(),
                &record.page_url.as_str(),
                &record.format().map(|f| f.as_str()),
                &width.map(|w| i32::try_from(w).unwrap_or(i32::MAX)),
                &height.map(|h| i32::try_from(h).unwrap_or(i32::MAX)),
                &facts.and_then(|f| f.luma).map(i16::from),
                &facts.and_then(|f| f.transparent),
                &json,
                &doc.tsvector,
                &doc.length,
                &words,
                &vector.as_deref().map(HalfVector::from_f32_slice),
            ];
            writer.as_mut().write(&row).await.map_err(pg)?;
        }
        writer.finish().await.map_err(pg)?;
        tx.execute(MERGE, &[&ns]).await.map_err(pg)?;
        tx.execute(
            "INSERT INTO namespace_stats (namespace, docs, total_len) VALUES ($1, $2, $3)
             ON CONFLICT (namespace) DO UPDATE SET
                 docs = namespace_stats.docs + excluded.docs, total_len = namespace_stats.total_len + excluded.total_len",
            &[&ns, &new_docs, &new_tokens],
        )
        .await
        .map_err(pg)?;
        bump(&tx, ns).await?;
        tx.commit().await.map_err(pg)?;
        Ok(items.len())
    }

    /// Types the vector column `halfvec(dim)` and indexes it, the first time vectors come;
    /// refuses vectors of another dimension after that.
    async fn type_vectors(&self, tx: &Transaction<'_>, dim: usize) -> Result<()> {
        let known = *self.dimension.lock().unwrap_or_else(|e| e.into_inner());
        let stored = match known {
            Some(d) => d,
            None => {
                tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_CLASS, &DIMENSION_LOCK])
                    .await
                    .map_err(pg)?;
                match dimension_of(tx.query_opt(DIMENSION_SQL, &[]).await.map_err(pg)?) {
                    Some(d) => d,
                    None => {
                        // halfvec indexes hold at most 4,000 dimensions.
                        if dim > 4_000 {
                            return Err(Error::Invalid(format!(
                                "vectors of {dim} dimensions: the PostgreSQL store indexes at most 4000"
                            )));
                        }
                        tx.execute("INSERT INTO meta (key, value) VALUES ('dim', $1)", &[&dim.to_string()])
                            .await
                            .map_err(pg)?;
                        tx.batch_execute(&format!(
                            "ALTER TABLE images ALTER COLUMN vector TYPE halfvec({dim});
                             CREATE INDEX images_vector ON images USING hnsw (vector halfvec_cosine_ops);"
                        ))
                        .await
                        .map_err(pg)?;
                        // Known only once this transaction commits; a failed write finds out again.
                        return Ok(());
                    }
                }
            }
        };
        if stored != dim {
            return Err(Error::Invalid(format!("vector of {dim} dimensions; this index holds {stored}")));
        }
        *self.dimension.lock().unwrap_or_else(|e| e.into_inner()) = Some(dim);
        Ok(())
    }
}
