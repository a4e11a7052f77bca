//! One namespace's vectors held in memory for the vector leg: an f32 matrix beside the facts the
//! filters need. It is kept current by applying only the rows changed since the last look (each
//! write gives a row a higher `seq`), so a crawl that adds a batch every few hundred milliseconds
//! never makes a search reload everything. Past `AnnOptions::min_vectors` an HNSW graph is
//! built in the background and saved in the data dir; until it is ready, and whenever it cannot
//! answer (a filter too narrow for the graph), the exact scan answers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use super::FilterView;
use super::ann::Ann;
use super::vectors::{dot, top_k};
use crate::error::Result;
use crate::model::ImageFormat;

/// A temporary graph file older than this is no save in progress but one a dead process left.
const UNFINISHED_SAVE_AGE: Duration = Duration::from_secs(3600);

/// Rows copied out per step of a background build, so writers wait at most one step.
const BUILD_STEP: usize = 8_192;

/// When and how the vector leg uses an HNSW graph.
#[derive(Clone, Debug)]
pub struct AnnOptions {
    /// Namespaces with at least this many vectors get a graph.
    pub min_vectors: usize,
    /// Candidate list size of a graph search (efSearch).
    pub expansion: usize,
    /// Build on a thread of its own (the server) or before the search that crossed the
    /// threshold returns (tests, benchmarks).
    pub background: bool,
    /// Where graphs are saved between runs; `None` keeps them in memory only.
    pub dir: Option<PathBuf>,
}

impl Default for AnnOptions {
    fn default() -> Self {
        Self { min_vectors: 100_000, expansion: 128, background: true, dir: None }
    }
}

/// What filters need of one image, and whether it still has a vector here.
pub(crate) struct Row {
    pub id: i64,
    pub seq: i64,
    pub format: Option<ImageFormat>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub page_url: String,
    pub luma: Option<u8>,
    pub transparent: Option<bool>,
    /// Lower-case searchable text, for exclusions.
    pub text: String,
    pub live: bool,
}

impl Row {
    pub fn view(&self) -> FilterView<'_> {
        FilterView {
            format: self.format,
            width: self.width,
            height: self.height,
            page_url: &self.page_url,
            luma: self.luma,
            transparent: self.transparent,
            text: Some(&self.text),
        }
    }
}

/// A row as read from storage: its vector, or `None` when it no longer has one.
pub(crate) struct Change {
    pub row: Row,
    pub vector: Option<Vec<f32>>,
}

enum Graph {
    None,
    /// Ids changed while the graph was being built; the builder adds them before publishing it.
    Building {
        dirty: Vec<i64>,
    },
    Ready {
        ann: Arc<Ann>,
        /// Changes applied since the graph was last saved.
        unsaved: usize,
    },
    /// Building or updating failed: the exact scan answers from now on.
    Failed,
}

pub(crate) struct State {
    /// The storage generation these rows reflect.
    pub generation: u64,
    /// Highest `seq` applied.
    pub seq: i64,
    pub dim: usize,
    matrix: Vec<f32>,
    rows: Vec<Row>,
    slot_of: HashMap<i64, usize>,
    live: usize,
    graph: Graph,
}

pub(crate) struct Resident {
    namespace: String,
    state: RwLock<State>,
    cancelled: AtomicBool,
}

impl State {
    pub fn live(&self) -> usize {
        self.live
    }

    pub fn row(&self, slot: usize) -> &Row {
        &self.rows[slot]
    }

    pub fn vector(&self, slot: usize) -> &[f32] {
        &self.matrix[slot * self.dim..(slot + 1) * self.dim]
    }

    /// Makes room for `rows` more rows at once (a first load), so the matrix never holds twice
    /// what it needs while growing.
    pub fn reserve(&mut self, rows: usize) {
        self.matrix.reserve_exact(rows * self.dim);
        self.rows.reserve_exact(rows);
        self.slot_of.reserve(rows);
    }

    pub fn graph_bytes(&self) -> Option<usize> {
        match &self.graph {
            Graph::Ready { ann, .. } => Some(ann.memory_bytes()),
            _ => None,
        }
    }

    pub fn has_graph(&self) -> bool {
        matches!(self.graph, Graph::Ready { .. })
    }

    /// Applies rows read from storage, in `seq` order.
    pub fn apply(&mut self, namespace: &str, changes: Vec<Change>) {
        let mut graph_failed = false;
        if let Graph::Ready { ann, .. } = &self.graph
            && let Err(e) = ann.reserve(changes.len())
        {
            tracing::warn!("namespace {namespace}: {e}; searching it exactly");
            graph_failed = true;
        }
        for Change { row, vector } in changes {
            let id = row.id;
            self.seq = self.seq.max(row.seq);
            if vector.is_none() && !self.slot_of.contains_key(&id) {
                continue;
            }
            let slot = match self.slot_of.get(&id) {
                Some(&slot) => {
                    if self.rows[slot].live {
                        self.live -= 1;
                    }
                    self.rows[slot] = row;
                    slot
                }
                None => {
                    self.rows.push(row);
                    self.matrix.resize(self.rows.len() * self.dim, 0.0);
                    self.slot_of.insert(id, self.rows.len() - 1);
                    self.rows.len() - 1
                }
            };
            let live = vector.as_ref().is_some_and(|v| v.len() == self.dim);
            self.rows[slot].live = live;
            if let Some(v) = vector.filter(|_| live) {
                self.matrix[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(&v);
                self.live += 1;
            }
            let vector = &self.matrix[slot * self.dim..(slot + 1) * self.dim];
            match &mut self.graph {
                Graph::Building { dirty } => dirty.push(id),
                Graph::Ready { ann, unsaved } if !graph_failed => {
                    let done = if live { ann.insert(id, vector) } else { ann.remove(id) };
                    *unsaved += 1;
                    if let Err(e) = done {
                        tracing::warn!("namespace {namespace}: {e}; searching it exactly");
                        graph_failed = true;
                    }
                }
                _ => {}
            }
        }
        if graph_failed {
            self.graph = Graph::Failed;
        }
    }

    /// The `k` live rows nearest to `query` that `accept` lets through, best first, as
    /// (slot, exact cosine). Through the graph when there is one and it finds `k` (or every live
    /// row); otherwise by the exact scan, so a narrow filter never loses results.
    pub fn nearest(&self, query: &[f32], k: usize, accept: impl Fn(&Row) -> bool) -> Vec<(usize, f32)> {
        if let Graph::Ready { ann, .. } = &self.graph {
            let found = ann.search(query, k, |id| {
                self.slot_of.get(&id).is_some_and(|&slot| self.rows[slot].live && accept(&self.rows[slot]))
            });
            if let Ok(ids) = found
                && ids.len() >= k.min(self.live)
            {
                let mut scored: Vec<(usize, f32)> = ids
                    .iter()
                    .filter_map(|id| self.slot_of.get(id))
                    .map(|&slot| (slot, dot(self.vector(slot), query)))
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(self.rows[a.0].id.cmp(&self.rows[b.0].id)));
                return scored;
            }
        }
        top_k(&self.matrix, self.dim, query, k, |slot| self.rows[slot].live && accept(&self.rows[slot]))
    }
}

impl Resident {
    pub fn new(namespace: &str, dim: usize) -> Self {
        Self {
            namespace: namespace.to_string(),
            state: RwLock::new(State {
                generation: 0,
                seq: 0,
                dim,
                matrix: Vec::new(),
                rows: Vec::new(),
                slot_of: HashMap::new(),
                live: 0,
                graph: Graph::None,
            }),
            cancelled: AtomicBool::new(false),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops a background build of a namespace that is going away.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// The namespace's files in the graph folder, each with what follows `{namespace}-` in its
    /// name.
    fn files(options: &AnnOptions, namespace: &str) -> Vec<(String, std::fs::DirEntry)> {
        let Some(dir) = &options.dir else { return Vec::new() };
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let prefix = format!("{namespace}-");
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let rest = e.file_name().to_str()?.strip_prefix(&prefix)?.to_string();
                Some((rest, e))
            })
            .collect()
    }

    /// The namespace's saved graphs, as (seq covered, path). A graph is saved as
    /// `{namespace}-{seq}.usearch`: every row with a `seq` up to that is in it. The covered `seq`
    /// lives in the name, so the graph and what it covers are renamed into place together.
    fn saved(options: &AnnOptions, namespace: &str) -> Vec<(i64, PathBuf)> {
        Self::files(options, namespace)
            .into_iter()
            .filter_map(|(rest, e)| {
                let seq = rest.strip_suffix(".usearch").filter(|s| digits(s))?;
                Some((seq.parse().ok()?, e.path()))
            })
            .collect()
    }

    /// Deletes a namespace's saved graphs, and any save of it left half-written.
    pub fn forget_saved(options: &AnnOptions, namespace: &str) {
        for (_, path) in Self::saved(options, namespace) {
            let _ = std::fs::remove_file(path);
        }
        Self::remove_unfinished(options, namespace, Duration::ZERO);
    }

    /// Removes the namespace's temporary graph files (`{namespace}-{seq}.{pid}.tmp`) older than
    /// `age`: a process that died while saving leaves one behind, as large as the graph. A save
    /// in progress is younger than an hour (a graph of millions of vectors is written in seconds).
    fn remove_unfinished(options: &AnnOptions, namespace: &str, age: Duration) {
        for (rest, entry) in Self::files(options, namespace) {
            // `{seq}.{pid}.tmp`: digits only, so one namespace never matches another's files.
            let Some(stem) = rest.strip_suffix(".tmp") else { continue };
            if !stem.split('.').all(digits) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|elapsed| elapsed >= age));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Starts building the graph when the namespace has grown past the threshold, and saves a
    /// ready graph that has taken many changes since it was saved.
    pub fn maintain(self: &Arc<Self>, options: &AnnOptions) {
        let mut st = self.write();
        match &st.graph {
            Graph::None if st.live >= options.min_vectors => {
                st.graph = Graph::Building { dirty: Vec::new() };
                drop(st);
                let (me, options) = (self.clone(), options.clone());
                if options.background {
                    std::thread::Builder::new()
                        .name(format!("ann-{}", self.namespace))
                        .spawn(move || me.build(&options))
                        .map(|_| ())
                        .unwrap_or_else(|e| {
                            tracing::warn!("cannot start a graph build: {e}");
                            self.write().graph = Graph::Failed;
                        });
                } else {
                    me.build(&options);
                }
            }
            Graph::Ready { ann, unsaved } if *unsaved > (ann.len() / 4).max(10_000) && options.dir.is_some() => {
                let ann = ann.clone();
                if let Graph::Ready { unsaved, .. } = &mut st.graph {
                    *unsaved = 0;
                }
                drop(st);
                let (me, background) = (self.clone(), options.background);
                let options = options.clone();
                let save = move || me.save(&ann, &options);
                if background {
                    let _ = std::thread::Builder::new().name("ann-save".into()).spawn(save);
                } else {
                    save();
                }
            }
            _ => {}
        }
    }

    /// Builds (or restores and brings up to date) the graph, then publishes and saves it.
    fn build(&self, options: &AnnOptions) {
        let started = std::time::Instant::now();
        match self.try_build(options) {
            Ok(Some(ann)) => {
                tracing::info!(
                    "namespace {}: vector graph of {} ready in {:.1} s ({} MiB)",
                    self.namespace,
                    ann.len(),
                    started.elapsed().as_secs_f64(),
                    ann.memory_bytes() >> 20
                );
                self.save(&ann, options);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("namespace {}: {e}; searching it exactly", self.namespace);
                self.write().graph = Graph::Failed;
            }
        }
    }

    fn try_build(&self, options: &AnnOptions) -> Result<Option<Arc<Ann>>> {
        let (dim, live) = {
            let st = self.read();
            (st.dim, st.live)
        };
        Self::remove_unfinished(options, &self.namespace, UNFINISHED_SAVE_AGE);
        let newest = Self::saved(options, &self.namespace).into_iter().max();
        let restored = newest.and_then(|(seq, path)| match Ann::restore(&path, dim, options.expansion) {
            Ok(ann) => Some((ann, seq)),
            Err(e) => {
                tracing::warn!("namespace {}: saved {e}; building it again", self.namespace);
                None
            }
        });
        let (ann, covered) = match restored {
            Some(found) => found,
            None => (Ann::new(dim, live + live / 8, options.expansion)?, 0),
        };
        let threads = crate::blocking::cores().clamp(1, 8);
        let mut next = 0;
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let (chunk, end) = {
                let st = self.read();
                if next >= st.rows.len() {
                    break;
                }
                let end = (next + BUILD_STEP).min(st.rows.len());
                let chunk: Vec<(i64, Vec<f32>)> = (next..end)
                    .filter(|&slot| st.rows[slot].live && st.rows[slot].seq > covered)
                    .map(|slot| (st.rows[slot].id, st.vector(slot).to_vec()))
                    .collect();
                (chunk, end)
            };
            ann.reserve(chunk.len())?;
            let per = chunk.len().div_ceil(threads).max(1);
            std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .chunks(per)
                    .map(|part| s.spawn(|| part.iter().try_for_each(|(id, v)| ann.insert(*id, v))))
                    .collect();
                handles.into_iter().try_for_each(|h| {
                    h.join().map_err(|_| crate::Error::Index("vector graph: an insert thread panicked".into()))?
                })
            })?;
            next = end;
        }
        // Publish under the write lock, after adding what changed since the last step.
        let mut st = self.write();
        let dirty = match std::mem::replace(&mut st.graph, Graph::None) {
            Graph::Building { dirty } => dirty,
            // Forgotten or failed meanwhile.
            other => {
                st.graph = other;
                return Ok(None);
            }
        };
        let late: Vec<usize> =
            (next..st.rows.len()).chain(dirty.iter().filter_map(|id| st.slot_of.get(id).copied())).collect();
        ann.reserve(late.len())?;
        for slot in late {
            let row = &st.rows[slot];
            if row.live {
                ann.insert(row.id, st.vector(slot))?;
            } else {
                ann.remove(row.id)?;
            }
        }
        let ann = Arc::new(ann);
        st.graph = Graph::Ready { ann: ann.clone(), unsaved: 0 };
        Ok(Some(ann))
    }

    /// Saves the graph with the `seq` it covers. Writers wait meanwhile (the graph must not
    /// change while it is written); searches go on.
    fn save(&self, ann: &Ann, options: &AnnOptions) {
        let Some(dir) = &options.dir else { return };
        let st = self.read();
        let path = dir.join(format!("{}-{}.usearch", self.namespace, st.seq));
        match ann.save(&path) {
            // Older saves are superseded, and saves a dead process left unfinished are litter.
            Ok(()) => {
                Self::saved(options, &self.namespace)
                    .into_iter()
                    .filter(|(seq, _)| *seq < st.seq)
                    .for_each(|(_, old)| drop(std::fs::remove_file(old)));
                Self::remove_unfinished(options, &self.namespace, UNFINISHED_SAVE_AGE);
            }
            Err(e) => tracing::warn!("namespace {}: {e}; the graph is rebuilt after a restart", self.namespace),
        }
    }
}

/// A non-empty run of ASCII digits.
fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}
