//! The index in PostgreSQL + pgvector (`store.kind = "postgres"`), for replicas that share
//! nothing but the database. Keyword leg: BM25 as the embedded store's FTS5 computes it (the
//! same tokenizer, field weights, k1 1.2, b 0.75 and idf), over a GIN-indexed `tsvector` whose
//! weights are the fields, with per-namespace document counts and lengths kept in the write's
//! transaction. Vector leg: `halfvec` under an HNSW index, filters inside the query with
//! iterative index scans (pgvector 0.8). Both legs return scores; fusion and everything after
//! is the shared Rust code.

mod filters;
mod schema;
mod terms;
mod tls;
mod write;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use pgvector::HalfVector;
use tokio::sync::OnceCell;
use tokio_postgres::types::{Kind, Type};

use self::filters::{Params, TermMatch, conditions};
use self::terms::{Tokenizer, any_of, quote};
use super::fields::FIELD_WEIGHTS;
use super::{Hit, ImageIndex, IndexStats, Namespace, SearchRequest, StoredImage};
use crate::BoxFuture;
use crate::config::StoreSettings;
use crate::error::{Error, Result};
use crate::model::{ImageFormat, ImageRecord};

/// The first key of every advisory lock this store takes (the second names what it guards), so
/// they never collide with another application's on the same database.
const LOCK_CLASS: i32 = 0x1C_A7;
/// Lock key (with [`LOCK_CLASS`]) held while the vector column is typed.
const DIMENSION_LOCK: i32 = 1;
/// pgvector's largest `hnsw.ef_search`.
const MAX_EF_SEARCH: usize = 1_000;
/// A statement running longer than this is cancelled by the server (unless the URL sets one).
const STATEMENT_TIMEOUT_MS: u64 = 60_000;

/// The PostgreSQL store. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PostgresIndex {
    pool: Pool,
    /// The URL with its password hidden, for messages.
    target: String,
    tokenizer: Arc<Tokenizer>,
    ready: Arc<OnceCell<Ready>>,
    /// The vectors' dimension, once known.
    dimension: Arc<Mutex<Option<usize>>>,
    ef_search: usize,
}

/// The stored vectors' dimension, once the first vector set it.
const DIMENSION_SQL: &str = "SELECT value FROM meta WHERE key = 'dim'";

fn dimension_of(row: Option<tokio_postgres::Row>) -> Option<usize> {
    row.and_then(|r| r.get::<_, String>(0).parse().ok())
}

/// What the first use finds out, after applying the migrations.
struct Ready {
    halfvec: Type,
}

/// A PostgreSQL error as the domain's: a statement the server refused is an index error; a
/// connection that failed or broke, or a server shutting down, starting up or out of
/// connections, means the store is unavailable (the caller may retry).
fn pg(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let message = format!("PostgreSQL {code}: {}", db.message());
            // Class 08: connection exception; 57P: shut down, starting up; 53300: too many connections.
            if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
                Error::Unavailable(message)
            } else {
                Error::Index(message)
            }
        }
        None => {
            let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            Error::Unavailable(format!("PostgreSQL: {e}{cause}"))
        }
    }
}

/// Whether the TLS options of a `store.database_url` can work: a known `sslmode`, no client
/// certificate, a readable `sslrootcert` where the certificate is checked. Settings call it as
/// they load, so a mistake there stops start-up, naming the setting.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    tls::prepare(url).map(|_| ())
}

impl PostgresIndex {
    /// A pool for `store.database_url` (no connection is made until the first use, which also
    /// applies the migrations).
    pub fn connect(store: &StoreSettings) -> Result<Self> {
        let settings_error = |message: String| Error::Settings { origin: "store".into(), message };
        let url = store.database_url.as_ref().ok_or_else(|| settings_error("store.database_url is not set".into()))?;
        let (rest, ssl_mode, connector) =
            tls::prepare(url.expose()).map_err(|e| settings_error(format!("store.database_url: {e}")))?;
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| settings_error(format!("store.database_url is not a PostgreSQL URL: {e}")))?;
        config.ssl_mode(ssl_mode);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_options().is_none() {
            // Notices (a migration's "already exists, skipping") are not worth a log line each.
            config.options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS} -c client_min_messages=warning"));
        }
        let manager =
            Manager::from_config(config, connector, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let timeouts = Timeouts {
            wait: Some(Duration::from_secs(10)),
            create: Some(Duration::from_secs(10)),
            recycle: Some(Duration::from_secs(5)),
        };
        let pool = Pool::builder(manager)
            .max_size(store.pool_size)
            .timeouts(timeouts)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| settings_error(format!("cannot make a PostgreSQL pool: {e}")))?;
        Ok(Self {
            pool,
            target: url.redacted(),
            tokenizer: Arc::new(Tokenizer::new()?),
            ready: Arc::new(OnceCell::new()),
            dimension: Arc::new(Mutex::new(None)),
            ef_search: store.ann_expansion.clamp(1, MAX_EF_SEARCH),
        })
    }

    async fn client(&self) -> Result<Client> {
        self.pool.get().await.map_err(|e| {
            // The pool's own text for a failed connection is "…: db error"; the server's reason
            // (or the TLS handshake's) is in the error it wraps.
            let why = match e {
                deadpool_postgres::PoolError::Backend(e) => match pg(e) {
                    Error::Unavailable(m) | Error::Index(m) => m,
                    other => other.to_string(),
                },
                other => other.to_string(),
            };
            Error::Unavailable(format!("PostgreSQL at {} cannot be reached: {why}", self.target))
        })
    }

    /// A client on a migrated database.
    async fn ready(&self) -> Result<(Client, &Ready)> {
        let mut client = self.client().await?;
        let ready = self
            .ready
            .get_or_try_init(|| async {
                schema::migrate(&mut client).await?;
                let row = client
                    .query_one(
                        "SELECT extversion, (SELECT oid FROM pg_type WHERE typname = 'halfvec' LIMIT 1)
                         FROM pg_extension WHERE extname = 'vector'",
                        &[],
                    )
                    .await
                    .map_err(pg)?;
                let version: String = row.get(0);
                let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
                if (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (0, 8) {
                    return Err(Error::Index(format!(
                        "pgvector {version} is too old: filtered vector search needs 0.8 or newer (ALTER EXTENSION vector UPDATE)"
                    )));
                }
                let oid: u32 = row.get(1);
                Ok(Ready { halfvec: Type::new("halfvec".into(), oid, Kind::Simple, "public".into()) })
            })
            .await?;
        Ok((client, ready))
    }

    /// The dimension the stored vectors have, if any are stored.
    async fn stored_dimension(&self, client: &Client) -> Result<Option<usize>> {
        if let Some(d) = *self.dimension.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(Some(d));
        }
        let found = dimension_of(client.query_opt(DIMENSION_SQL, &[]).await.map_err(pg)?);
        *self.dimension.lock().unwrap_or_else(|e| e.into_inner()) = found;
        Ok(found)
    }

    async fn load(&self, client: &Client, ids: &[(i64, f32)]) -> Result<Vec<Hit>> {
        let wanted: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
        let rows = client
            .query("SELECT id, namespace, format, width, height, record FROM images WHERE id = ANY($1)", &[&wanted])
            .await
            .map_err(pg)?;
        let mut found: HashMap<i64, StoredImage> = HashMap::with_capacity(rows.len());
        for row in rows {
            let record: ImageRecord = serde_json::from_str(row.get::<_, &str>(5))
                .map_err(|e| Error::Index(format!("stored record unreadable: {e}")))?;
            let dimension = |i: usize| row.get::<_, Option<i32>>(i).and_then(|v| u32::try_from(v).ok());
            found.insert(
                row.get(0),
                StoredImage {
                    namespace: Namespace::parse(row.get(1))?,
                    record,
                    format: row.get::<_, Option<&str>>(2).and_then(ImageFormat::parse),
                    width: dimension(3),
                    height: dimension(4),
                },
            );
        }
        // A row deleted between the search and this read is left out.
        Ok(ids
            .iter()
            .filter_map(|&(id, score)| found.remove(&id).map(|image| Hit { id, score, image, vector: None }))
            .collect())
    }

    async fn search_text(&self, query: &str, request: &SearchRequest<'_>) -> Result<Vec<Hit>> {
        let terms = self.tokenizer.query_terms(query)?;
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (client, _) = self.ready().await?;
        let scope: Option<Vec<String>> = (!request.namespaces.is_empty())
            .then(|| request.namespaces.iter().map(|n| n.as_str().to_string()).collect());

        // BM25's N, average length and each term's document frequency, over the namespaces
        // searched (FTS5 counts them over its whole table; here a session is its own corpus).
        let row = client
            .query_one(
                "SELECT coalesce(sum(docs), 0)::float8, coalesce(sum(total_len), 0)::float8 FROM namespace_stats
                 WHERE $1::text[] IS NULL OR namespace = ANY($1)",
                &[&scope],
            )
            .await
            .map_err(pg)?;
        let (docs, tokens): (f64, f64) = (row.get(0), row.get(1));
        if docs <= 0.0 {
            return Ok(Vec::new());
        }
        let mut unique: Vec<String> = terms.clone();
        unique.sort();
        unique.dedup();
        let quoted: Vec<String> = unique.iter().map(|t| quote(t)).collect();
        let rows = client
            .query(
                "SELECT (SELECT count(*) FROM images WHERE images.tsv @@ t::tsquery
                           AND ($2::text[] IS NULL OR images.namespace = ANY($2)))::float8
                 FROM unnest($1::text[]) WITH ORDINALITY AS q (t, n) ORDER BY n",
                &[&quoted, &scope],
            )
            .await
            .map_err(pg)?;
        let frequency: HashMap<&str, f64> =
            unique.iter().map(String::as_str).zip(rows.iter().map(|r| r.get(0))).collect();
        let idf: Vec<f64> = terms
            .iter()
            .map(|t| {
                let hits = frequency.get(t.as_str()).copied().unwrap_or(0.0);
                // FTS5's: a term in more than half the documents still counts a little.
                let idf = ((docs - hits + 0.5) / (hits + 0.5)).ln();
                if idf <= 0.0 { 1e-6 } else { idf }
            })
            .collect();

        let mut params = Params::default();
        let (terms_p, idf_p) = (params.bind(terms.clone()), params.bind(idf));
        let avgdl = params.bind(tokens / docs);
        let matches = params.bind(any_of(&terms));
        let filters = conditions(request.filters, request.namespaces, TermMatch::Phrase, &self.tokenizer, &mut params)?;
        let limit = params.bind(i64::try_from(request.limit).unwrap_or(i64::MAX));
        let [a, b, c, d] = FIELD_WEIGHTS;
        let sql = format!(
            "SELECT images.id, (
                 SELECT coalesce(sum(q.idf * f.freq * 2.2 / (f.freq + 1.2 * (0.25 + 0.75 * images.doc_len / {avgdl}::float8))), 0)
                 FROM unnest({terms_p}::text[], {idf_p}::float8[]) AS q (term, idf)
                 CROSS JOIN LATERAL (
                     SELECT coalesce(sum(CASE w WHEN 'A' THEN {a:.1} WHEN 'B' THEN {b:.1} WHEN 'C' THEN {c:.1} ELSE {d:.1} END), 0)::float8 AS freq
                     FROM unnest(images.tsv) AS u (lexeme, positions, weights), unnest(u.weights) AS w
                     WHERE u.lexeme = q.term
                 ) AS f
             ) AS score
             FROM images WHERE images.tsv @@ {matches}::text::tsquery{filters}
             ORDER BY score DESC, images.id LIMIT {limit}"
        );
        let rows = client.query(&sql, &params.refs()).await.map_err(pg)?;
        let ids: Vec<(i64, f32)> = rows.iter().map(|r| (r.get(0), r.get::<_, f64>(1) as f32)).collect();
        self.load(&client, &ids).await
    }

    async fn search_vector(&self, vector: &[f32], request: &SearchRequest<'_>) -> Result<Vec<Hit>> {
        let (mut client, _) = self.ready().await?;
        let Some(dim) = self.stored_dimension(&client).await? else { return Ok(Vec::new()) };
        if vector.len() != dim {
            return Err(Error::Invalid(format!("query vector of {} dimensions; the index holds {dim}", vector.len())));
        }
        let mut params = Params::default();
        let query = params.bind(HalfVector::from_f32_slice(vector));
        let filters = conditions(request.filters, request.namespaces, TermMatch::Words, &self.tokenizer, &mut params)?;
        let limit = params.bind(i64::try_from(request.limit).unwrap_or(i64::MAX));
        // One ORDER BY key, the distance: a second one keeps the planner off the HNSW index.
        let sql = format!(
            "SELECT images.id, 1 - (images.vector <=> {query}) AS score, images.vector FROM images
             WHERE images.vector IS NOT NULL{filters} ORDER BY images.vector <=> {query} LIMIT {limit}"
        );
        let ef = request.limit.max(self.ef_search).min(MAX_EF_SEARCH);
        // The search settings live in this transaction only, never on the pooled connection.
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute(&format!("SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = strict_order"))
            .await
            .map_err(pg)?;
        let rows = tx.query(&sql, &params.refs()).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        let mut found: Vec<(i64, f32, Vec<f32>)> = rows
            .iter()
            .map(|r| {
                let v: HalfVector = r.get(2);
                (r.get(0), r.get::<_, f64>(1) as f32, v.to_vec().iter().map(|h| h.to_f32()).collect())
            })
            .collect();
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let ids: Vec<(i64, f32)> = found.iter().map(|(id, score, _)| (*id, *score)).collect();
        let mut hits = self.load(&client, &ids).await?;
        let mut vectors: HashMap<i64, Vec<f32>> = found.into_iter().map(|(id, _, v)| (id, v)).collect();
        for hit in &mut hits {
            hit.vector = vectors.remove(&hit.id);
        }
        Ok(hits)
    }

    async fn list(&self, request: &SearchRequest<'_>) -> Result<Vec<Hit>> {
        let (client, _) = self.ready().await?;
        let mut params = Params::default();
        let filters = conditions(request.filters, request.namespaces, TermMatch::Phrase, &self.tokenizer, &mut params)?;
        let limit = params.bind(i64::try_from(request.limit).unwrap_or(i64::MAX));
        let sql = format!("SELECT images.id FROM images WHERE true{filters} ORDER BY images.id DESC LIMIT {limit}");
        let rows = client.query(&sql, &params.refs()).await.map_err(pg)?;
        let ids: Vec<(i64, f32)> = rows.iter().map(|r| (r.get(0), 0.0)).collect();
        self.load(&client, &ids).await
    }

    async fn delete_namespace(&self, namespace: &Namespace) -> Result<u64> {
        let (mut client, _) = self.ready().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let ns = namespace.as_str();
        tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&LOCK_CLASS, &ns]).await.map_err(pg)?;
        let n = tx.execute("DELETE FROM images WHERE namespace = $1", &[&ns]).await.map_err(pg)?;
        tx.execute("DELETE FROM namespace_stats WHERE namespace = $1", &[&ns]).await.map_err(pg)?;
        write::bump(&tx, ns).await?;
        tx.commit().await.map_err(pg)?;
        Ok(n)
    }

    async fn stats(&self, namespace: Option<&Namespace>) -> Result<IndexStats> {
        let (client, _) = self.ready().await?;
        let ns = namespace.map(Namespace::as_str);
        let row = client
            .query_one(
                "SELECT count(*), count(vector), count(DISTINCT namespace) FROM images
                 WHERE $1::text IS NULL OR namespace = $1",
                &[&ns],
            )
            .await
            .map_err(pg)?;
        let count = |i: usize| row.get::<_, i64>(i).max(0) as u64;
        Ok(IndexStats { images: count(0), vectors: count(1), namespaces: count(2) })
    }

    async fn generation(&self, namespaces: &[Namespace]) -> Result<u64> {
        let (client, _) = self.ready().await?;
        let names: Vec<&str> =
            if namespaces.is_empty() { vec!["*"] } else { namespaces.iter().map(Namespace::as_str).collect() };
        let rows =
            client.query("SELECT gen FROM generations WHERE namespace = ANY($1)", &[&names]).await.map_err(pg)?;
        Ok(rows.iter().fold(0u64, |sum, r| sum.wrapping_add(r.get::<_, i64>(0) as u64)))
    }
}

impl ImageIndex for PostgresIndex {
    fn upsert<'a>(
        &'a self,
        namespace: &'a Namespace,
        items: &'a [(ImageRecord, Option<Vec<f32>>)],
    ) -> BoxFuture<'a, Result<usize>> {
        Box::pin(self.write(namespace, items))
    }

    fn delete_namespace<'a>(&'a self, namespace: &'a Namespace) -> BoxFuture<'a, Result<u64>> {
        Box::pin(PostgresIndex::delete_namespace(self, namespace))
    }

    fn search_text<'a>(&'a self, query: &'a str, request: &'a SearchRequest<'a>) -> BoxFuture<'a, Result<Vec<Hit>>> {
        Box::pin(PostgresIndex::search_text(self, query, request))
    }

    fn search_vector<'a>(
        &'a self,
        vector: &'a [f32],
        request: &'a SearchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<Hit>>> {
        Box::pin(PostgresIndex::search_vector(self, vector, request))
    }

    fn list<'a>(&'a self, request: &'a SearchRequest<'a>) -> BoxFuture<'a, Result<Vec<Hit>>> {
        Box::pin(PostgresIndex::list(self, request))
    }

    fn stats<'a>(&'a self, namespace: Option<&'a Namespace>) -> BoxFuture<'a, Result<IndexStats>> {
        Box::pin(PostgresIndex::stats(self, namespace))
    }

    fn generation<'a>(&'a self, namespaces: &'a [Namespace]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(PostgresIndex::generation(self, namespaces))
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

#[cfg(test)]
#[path = "../postgres_tests.rs"]
mod tests;
