//! The embedded index: one SQLite file in the data dir holding the records, an FTS5 table for
//! BM25 over weighted fields, and the vectors; exact vector search over an in-memory copy of a
//! namespace's vectors, loaded on first use and dropped when the namespace changes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::fields::{FIELD_WEIGHTS, TOKENIZER, columns, query_words, shape_and_tone_conditions};
use super::resident::{AnnOptions, Change, Resident, Row, State};
use super::{Filters, Hit, IndexStats, Namespace, SearchRequest, StoredImage, searchable_text};
use crate::error::{Error, Result};
use crate::model::ImageFormat;
use crate::model::ImageRecord;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    url TEXT NOT NULL,
    page_url TEXT NOT NULL,
    format TEXT,
    width INTEGER,
    height INTEGER,
    alt TEXT NOT NULL,
    caption TEXT NOT NULL,
    context TEXT NOT NULL,
    page TEXT NOT NULL,
    record TEXT NOT NULL,
    vector BLOB,
    -- Raised on every write of the row: in-memory vectors apply only what is newer.
    seq INTEGER NOT NULL DEFAULT 0,
    -- From the image's pixels, when analysed: mean brightness 0-255, transparency 0/1.
    luma INTEGER,
    transparent INTEGER,
    UNIQUE (namespace, url)
);
CREATE INDEX IF NOT EXISTS images_namespace ON images (namespace);
-- Bumped on every change of a namespace, and '*' on every change at all: cached query results
-- and in-memory vectors are keyed by it, so they are never served stale, even across processes.
CREATE TABLE IF NOT EXISTS generations (namespace TEXT PRIMARY KEY, gen INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS images_fts USING fts5 (
    alt, caption, context, page,
    content = 'images', content_rowid = 'id',
    tokenize = '{TOKENIZER}'
);
CREATE TRIGGER IF NOT EXISTS images_ai AFTER INSERT ON images BEGIN
    INSERT INTO images_fts (rowid, alt, caption, context, page) VALUES (new.id, new.alt, new.caption, new.context, new.page);
END;
CREATE TRIGGER IF NOT EXISTS images_ad AFTER DELETE ON images BEGIN
    INSERT INTO images_fts (images_fts, rowid, alt, caption, context, page) VALUES ('delete', old.id, old.alt, old.caption, old.context, old.page);
END;
CREATE TRIGGER IF NOT EXISTS images_au AFTER UPDATE ON images BEGIN
    INSERT INTO images_fts (images_fts, rowid, alt, caption, context, page) VALUES ('delete', old.id, old.alt, old.caption, old.context, old.page);
    INSERT INTO images_fts (rowid, alt, caption, context, page) VALUES (new.id, new.alt, new.caption, new.context, new.page);
END;
";

/// The tables, with the tokenizer both stores share.
fn schema() -> String {
    SCHEMA.replace("{TOKENIZER}", TOKENIZER)
}

/// The embedded index. Its own methods block on the database (tests, the offline eval and the
/// benchmarks call them so); through [`ImageIndex`] each runs on a blocking thread. Cheap to
/// clone: clones share the connection and the vectors held in memory.
#[derive(Clone)]
pub struct SqliteIndex {
    conn: Arc<Mutex<Connection>>,
    vectors: Arc<Mutex<HashMap<String, Arc<Resident>>>>,
    ann: AnnOptions,
}

fn db(e: rusqlite::Error) -> Error {
    Error::Index(e.to_string())
}

impl SqliteIndex {
    /// Opens (creating when missing) the index file at `path`.
    /// Graphs of large namespaces are kept in `ann/` beside the file.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Index(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut index = Self::with_connection(Connection::open(path).map_err(db)?)?;
        index.ann.dir = path.parent().map(|d| d.join("ann"));
        Ok(index)
    }

    /// The index in the data dir, with graphs for large namespaces as the settings say (built
    /// in the background: the exact scan answers meanwhile).
    pub fn open_configured(settings: &crate::config::Settings) -> Result<Self> {
        // Settings built in code skip `Settings::load`'s checks; this is where a store is chosen.
        settings.store.check().map_err(|message| crate::Error::Settings { origin: "store".into(), message })?;
        let options = AnnOptions {
            min_vectors: settings.store.ann_min_vectors,
            expansion: settings.store.ann_expansion,
            background: true,
            dir: None,
        };
        Ok(Self::open(&settings.data_dir.join("index.sqlite"))?.with_ann(options))
    }

    /// Sets when and how large namespaces are searched through an HNSW graph (the directory
    /// for saved graphs stays as opened unless `options.dir` names one).
    pub fn with_ann(mut self, options: AnnOptions) -> Self {
        let dir = options.dir.clone().or(self.ann.dir.take());
        self.ann = AnnOptions { dir, ..options };
        self
    }

    /// An index that lives in memory only (tests, throwaway runs).
    pub fn open_in_memory() -> Result<Self> {
        Self::with_connection(Connection::open_in_memory().map_err(db)?)
    }

    fn with_connection(conn: Connection) -> Result<Self> {
        // Replicas sharing the data dir write to one file: wait for the other's lock a while
        // rather than fail at once.
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        conn.execute_batch(&schema()).map_err(db)?;
        // Files made by earlier versions get the columns added since.
        for (column, upgrade) in [
            ("seq", "ALTER TABLE images ADD COLUMN seq INTEGER NOT NULL DEFAULT 0; UPDATE images SET seq = id;"),
            ("luma", "ALTER TABLE images ADD COLUMN luma INTEGER;"),
            ("transparent", "ALTER TABLE images ADD COLUMN transparent INTEGER;"),
        ] {
            let has: bool = conn
                .query_row("SELECT count(*) FROM pragma_table_info('images') WHERE name = ?1", [column], |r| r.get(0))
                .map_err(db)?;
            if !has {
                conn.execute_batch(upgrade).map_err(db)?;
            }
        }
        conn.execute_batch("CREATE INDEX IF NOT EXISTS images_namespace_seq ON images (namespace, seq);")
            .map_err(db)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            vectors: Arc::new(Mutex::new(HashMap::new())),
            ann: AnnOptions { dir: None, ..AnnOptions::default() },
        })
    }

    /// Whether the namespace's vectors are searched through a graph now (tests, benchmarks).
    pub fn graph_ready(&self, namespace: &str) -> bool {
        self.vectors.lock().unwrap_or_else(|e| e.into_inner()).get(namespace).is_some_and(|r| r.read().has_graph())
    }

    /// Bytes the namespace's graph holds, when it has one (benchmarks).
    pub fn graph_bytes(&self, namespace: &str) -> Option<usize> {
        self.vectors.lock().unwrap_or_else(|e| e.into_inner()).get(namespace).and_then(|r| r.read().graph_bytes())
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget_vectors(&self, namespace: &str) {
        if let Some(gone) = self.vectors.lock().unwrap_or_else(|e| e.into_inner()).remove(namespace) {
            gone.cancel();
        }
    }

    fn dimension(conn: &Connection) -> Result<Option<usize>> {
        let v: Option<String> =
            conn.query_row("SELECT value FROM meta WHERE key = 'dim'", [], |r| r.get(0)).optional().map_err(db)?;
        Ok(v.and_then(|s| s.parse().ok()))
    }

    fn bump(tx: &rusqlite::Transaction<'_>, namespace: &str) -> Result<()> {
        tx.execute(
            "INSERT INTO generations (namespace, gen) VALUES (?1, 1), ('*', 1)
             ON CONFLICT (namespace) DO UPDATE SET gen = gen + 1",
            [namespace],
        )
        .map_err(db)?;
        Ok(())
    }

    fn generation_of(conn: &Connection, namespaces: &[&str]) -> Result<u64> {
        let names = if namespaces.is_empty() { &["*"][..] } else { namespaces };
        let mut stmt = conn.prepare_cached("SELECT gen FROM generations WHERE namespace = ?1").map_err(db)?;
        let mut sum = 0u64;
        for ns in names {
            let g: Option<i64> = stmt.query_row([ns], |r| r.get(0)).optional().map_err(db)?;
            sum = sum.wrapping_add(g.unwrap_or(0) as u64);
        }
        Ok(sum)
    }

    /// The namespace's vectors in memory, brought up to date with storage (only rows written
    /// since the last look are read).
    fn namespace_vectors(&self, namespace: &str) -> Result<Option<Arc<Resident>>> {
        let conn = self.conn();
        let generation = Self::generation_of(&conn, &[namespace])?;
        let known = self.vectors.lock().unwrap_or_else(|e| e.into_inner()).get(namespace).cloned();
        // Another process sharing the file may have changed the namespace: compare generations.
        if let Some(r) = &known
            && r.read().generation == generation
        {
            return Ok(Some(r.clone()));
        }
        let Some(dim) = Self::dimension(&conn)? else { return Ok(None) };
        let mut resident =
            known.filter(|r| r.read().dim == dim).unwrap_or_else(|| Arc::new(Resident::new(namespace, dim)));
        for attempt in 0..2 {
            let mut st = resident.write();
            if st.generation != generation {
                Self::apply_changes(&conn, namespace, &mut st)?;
                st.generation = generation;
            }
            // Rows deleted by another process leave no trace in `seq`: start over when the
            // counts disagree.
            let stored = Self::stored_vectors(&conn, namespace)?;
            if stored == st.live() || attempt == 1 {
                break;
            }
            drop(st);
            resident.cancel();
            resident = Arc::new(Resident::new(namespace, dim));
        }
        self.vectors.lock().unwrap_or_else(|e| e.into_inner()).insert(namespace.to_string(), resident.clone());
        drop(conn);
        resident.maintain(&self.ann);
        Ok(Some(resident))
    }

    /// How many of a namespace's rows have a vector.
    fn stored_vectors(conn: &Connection, namespace: &str) -> Result<usize> {
        let n: i64 = conn
            .query_row("SELECT count(*) FROM images WHERE namespace = ?1 AND vector IS NOT NULL", [namespace], |r| {
                r.get(0)
            })
            .map_err(db)?;
        Ok(n as usize)
    }

    /// Applies the rows of a namespace written after the last applied `seq`, in order, a chunk
    /// at a time (a million rows never sit in memory twice): those with a vector, and those that
    /// lost theirs.
    fn apply_changes(conn: &Connection, namespace: &str, st: &mut State) -> Result<()> {
        const CHUNK: usize = 4_096;
        let dim = st.dim;
        if st.seq == 0 {
            st.reserve(Self::stored_vectors(conn, namespace)?);
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, seq, format, width, height, page_url, record, vector, luma, transparent FROM images
                 WHERE namespace = ?1 AND seq > ?2 ORDER BY seq",
            )
            .map_err(db)?;
        let mut rows = stmt.query(params![namespace, st.seq]).map_err(db)?;
        let mut changes = Vec::with_capacity(CHUNK);
        while let Some(row) = rows.next().map_err(db)? {
            let blob: Option<Vec<u8>> = row.get(7).map_err(db)?;
            let vector = blob
                .filter(|b| b.len() == dim * 4)
                .map(|b| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
            let record: ImageRecord = serde_json::from_str(&row.get::<_, String>(6).map_err(db)?)
                .map_err(|e| Error::Index(format!("stored record unreadable: {e}")))?;
            changes.push(Change {
                row: Row {
                    id: row.get(0).map_err(db)?,
                    seq: row.get(1).map_err(db)?,
                    format: row.get::<_, Option<String>>(2).map_err(db)?.and_then(|f| ImageFormat::parse(&f)),
                    width: row.get(3).map_err(db)?,
                    height: row.get(4).map_err(db)?,
                    page_url: row.get(5).map_err(db)?,
                    luma: row.get(8).map_err(db)?,
                    transparent: row.get(9).map_err(db)?,
                    text: searchable_text(&record).to_lowercase(),
                    live: false,
                },
                vector,
            });
            if changes.len() == CHUNK {
                st.apply(namespace, std::mem::replace(&mut changes, Vec::with_capacity(CHUNK)));
            }
        }
        st.apply(namespace, changes);
        Ok(())
    }

    fn load(&self, ids: &[(i64, f32)]) -> Result<Vec<Hit>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT namespace, format, width, height, record FROM images WHERE id = ?1")
            .map_err(db)?;
        let mut hits = Vec::with_capacity(ids.len());
        for &(id, score) in ids {
            let image = stmt
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })
                .map_err(db)?;
            let record: ImageRecord =
                serde_json::from_str(&image.4).map_err(|e| Error::Index(format!("stored record unreadable: {e}")))?;
            hits.push(Hit {
                id,
                score,
                vector: None,
                image: StoredImage {
                    namespace: Namespace::parse(&image.0)?,
                    record,
                    format: image.1.and_then(|f| ImageFormat::parse(&f)),
                    width: image.2,
                    height: image.3,
                },
            });
        }
        Ok(hits)
    }

    fn all_namespaces(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT DISTINCT namespace FROM images").map_err(db)?;
        let names = stmt.query_map([], |r| r.get(0)).map_err(db)?.collect::<Result<Vec<String>, _>>().map_err(db)?;
        Ok(names)
    }
}

/// A query as an FTS5 expression: each word quoted (no operator injection), any may match.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = query_words(text).map(|w| format!("\"{w}\"")).collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

/// SQL conditions (on `images`) and their parameters for the filters.
fn filter_sql(filters: &Filters, namespaces: &[Namespace]) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut sql = String::new();
    let mut args: Vec<Value> = Vec::new();
    if !namespaces.is_empty() {
        sql.push_str(&format!(" AND images.namespace IN ({})", vec!["?"; namespaces.len()].join(",")));
        args.extend(namespaces.iter().map(|n| Value::Text(n.as_str().to_string())));
    }
    if !filters.formats.is_empty() {
        sql.push_str(&format!(" AND images.format IN ({})", vec!["?"; filters.formats.len()].join(",")));
        args.extend(filters.formats.iter().map(|f| Value::Text(f.as_str().into())));
    }
    if let Some(w) = filters.min_width {
        sql.push_str(" AND images.width >= ?");
        args.push(Value::Integer(w.into()));
    }
    if let Some(h) = filters.min_height {
        sql.push_str(" AND images.height >= ?");
        args.push(Value::Integer(h.into()));
    }
    sql.push_str(&shape_and_tone_conditions(filters));
    if let Some(t) = filters.transparent {
        sql.push_str(" AND images.transparent = ?");
        args.push(Value::Integer(t.into()));
    }
    if let Some(prefix) = &filters.page_url_prefix {
        sql.push_str(" AND substr(images.page_url, 1, ?) = ?");
        args.push(Value::Integer(prefix.chars().count() as i64));
        args.push(Value::Text(prefix.clone()));
    }
    for (terms, op) in [(&filters.require_terms, "IN"), (&filters.exclude_terms, "NOT IN")] {
        for term in terms {
            if let Some(q) = fts_query(term) {
                // One phrase over the descriptive columns (not the page title or URL).
                let phrase = q.replace("\" OR \"", " ");
                sql.push_str(&format!(" AND images.id {op} (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)"));
                args.push(Value::Text(format!("{{alt caption context}} : {phrase}")));
            }
        }
    }
    (sql, args)
}

/// The [`ImageIndex`] calls, blocking.
impl SqliteIndex {
    pub fn upsert(&self, namespace: &Namespace, items: &[(ImageRecord, Option<Vec<f32>>)]) -> Result<usize> {
        let namespace = namespace.as_str();
        let mut conn = self.conn();
        let mut dim = Self::dimension(&conn)?;
        // Immediate: the next `seq` is read and used in one write transaction, even with another
        // process writing the same file.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
        let mut seq: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM images", [], |r| r.get(0)).map_err(db)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO images (namespace, url, page_url, format, width, height, alt, caption, context, page, record, vector, seq, luma, transparent)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                     ON CONFLICT (namespace, url) DO UPDATE SET
                       page_url = excluded.page_url, format = excluded.format, width = excluded.width, height = excluded.height,
                       alt = excluded.alt, caption = excluded.caption, context = excluded.context, page = excluded.page,
                       record = excluded.record, vector = coalesce(excluded.vector, images.vector), seq = excluded.seq,
                       luma = excluded.luma, transparent = excluded.transparent",
                )
                .map_err(db)?;
            for (record, vector) in items {
                let blob = match vector {
                    Some(v) => {
                        match dim {
                            None => {
                                tx.execute("INSERT INTO meta (key, value) VALUES ('dim', ?1)", [v.len().to_string()])
                                    .map_err(db)?;
                                dim = Some(v.len());
                            }
                            Some(d) if d != v.len() => {
                                return Err(Error::Invalid(format!(
                                    "vector of {} dimensions; this index holds {d}",
                                    v.len()
                                )));
                            }
                            Some(_) => {}
                        }
                        if v.iter().any(|x| !x.is_finite()) {
                            return Err(Error::Invalid("vector holds NaN or infinity".into()));
                        }
                        Some(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
                    }
                    None => None,
                };
                let [alt, caption, context, page] = columns(record);
                let (width, height) = record.dimensions();
                let json = serde_json::to_string(record).map_err(|e| Error::Index(e.to_string()))?;
                seq += 1;
                stmt.execute(params![
                    namespace,
                    record.url.as_str(),
                    record.page_url.as_str(),
                    record.format().map(ImageFormat::as_str),
                    width,
                    height,
                    alt,
                    caption,
                    context,
                    page,
                    json,
                    blob,
                    seq,
                    record.facts.as_ref().and_then(|f| f.luma),
                    record.facts.as_ref().and_then(|f| f.transparent)
                ])
                .map_err(db)?;
            }
        }
        Self::bump(&tx, namespace)?;
        tx.commit().map_err(db)?;
        Ok(items.len())
    }

    pub fn delete_namespace(&self, namespace: &Namespace) -> Result<u64> {
        let namespace = namespace.as_str();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        let n = tx.execute("DELETE FROM images WHERE namespace = ?1", [namespace]).map_err(db)?;
        Self::bump(&tx, namespace)?;
        tx.commit().map_err(db)?;
        drop(conn);
        self.forget_vectors(namespace);
        Resident::forget_saved(&self.ann, namespace);
        Ok(n as u64)
    }

    pub fn generation(&self, namespaces: &[Namespace]) -> Result<u64> {
        let namespaces: Vec<&str> = namespaces.iter().map(Namespace::as_str).collect();
        Self::generation_of(&self.conn(), &namespaces)
    }

    pub fn search_text(&self, query: &str, request: &SearchRequest<'_>) -> Result<Vec<Hit>> {
        let Some(expr) = fts_query(query) else { return Ok(Vec::new()) };
        let (conditions, mut args) = filter_sql(request.filters, request.namespaces);
        let weights = FIELD_WEIGHTS.map(|w| format!("{w:.1}")).join(", ");
        let sql = format!(
            "SELECT images.id, -bm25(images_fts, {weights}) AS score FROM images_fts JOIN images ON images.id = images_fts.rowid
             WHERE images_fts MATCH ?{conditions} ORDER BY score DESC, images.id LIMIT ?"
        );
        args.insert(0, rusqlite::types::Value::Text(expr));
        args.push(rusqlite::types::Value::Integer(request.limit as i64));
        let ids: Vec<(i64, f32)> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(&sql).map_err(db)?;
            stmt.query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get::<_, f64>(1)? as f32)))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?
        };
        self.load(&ids)
    }

    pub fn search_vector(&self, vector: &[f32], request: &SearchRequest<'_>) -> Result<Vec<Hit>> {
        let namespaces: Vec<String> = if request.namespaces.is_empty() {
            self.all_namespaces()?
        } else {
            request.namespaces.iter().map(|n| n.as_str().to_string()).collect()
        };
        let f = request.filters;
        let mut best: Vec<(i64, f32, Vec<f32>)> = Vec::new();
        for ns in namespaces {
            let Some(vs) = self.namespace_vectors(&ns)? else { continue };
            let st = vs.read();
            if vector.len() != st.dim {
                return Err(Error::Invalid(format!(
                    "query vector of {} dimensions; the index holds {}",
                    vector.len(),
                    st.dim
                )));
            }
            let found = st.nearest(vector, request.limit, |row| f.accepts_view(&row.view()));
            best.extend(found.into_iter().map(|(slot, score)| (st.row(slot).id, score, st.vector(slot).to_vec())));
        }
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        best.truncate(request.limit);
        let ids: Vec<(i64, f32)> = best.iter().map(|(id, score, _)| (*id, *score)).collect();
        let mut hits = self.load(&ids)?;
        for (hit, (_, _, v)) in hits.iter_mut().zip(best) {
            hit.vector = Some(v);
        }
        Ok(hits)
    }

    pub fn list(&self, request: &SearchRequest<'_>) -> Result<Vec<Hit>> {
        let (conditions, mut args) = filter_sql(request.filters, request.namespaces);
        let sql = format!("SELECT images.id FROM images WHERE 1 = 1{conditions} ORDER BY images.id DESC LIMIT ?");
        args.push(rusqlite::types::Value::Integer(request.limit as i64));
        let ids: Vec<(i64, f32)> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(&sql).map_err(db)?;
            stmt.query_map(params_from_iter(args), |r| Ok((r.get(0)?, 0.0)))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?
        };
        self.load(&ids)
    }

    pub fn stats(&self, namespace: Option<&Namespace>) -> Result<IndexStats> {
        let namespace = namespace.map(Namespace::as_str);
        let conn = self.conn();
        let (images, vectors, namespaces): (i64, i64, i64) = conn
            .query_row(
                "SELECT count(*), count(vector), count(DISTINCT namespace) FROM images WHERE ?1 IS NULL OR namespace = ?1",
                [namespace],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(db)?;
        Ok(IndexStats { images: images as u64, vectors: vectors as u64, namespaces: namespaces as u64 })
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "ann_tests.rs"]
mod ann_tests;
