//! An approximate nearest-neighbour graph (HNSW, by usearch) over one namespace's vectors, keyed
//! by image id. Used past a configurable number of vectors, where the exact scan stops being
//! cheap. The graph stores f16 copies (half the memory of f32; recall was the same in our
//! measurements); callers recompute the scores of what it returns from their exact f32 copy.

use std::path::Path;

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::{Error, Result};

/// Concurrent searches the graph serves; a search past this many gets an error and the caller
/// falls back to the exact scan.
const SEARCH_THREADS: usize = 64;
/// Neighbours per node (HNSW's M).
const CONNECTIVITY: usize = 16;
/// Candidate list size while inserting (efConstruction).
const EXPANSION_ADD: usize = 128;

fn ann_error(e: impl std::fmt::Display) -> Error {
    Error::Index(format!("vector graph: {e}"))
}

pub(crate) struct Ann {
    index: Index,
    dim: usize,
}

impl Ann {
    /// An empty graph for `dim`-dimensional normalized vectors, room reserved for `capacity`.
    /// `expansion` is the candidate list size of a search (efSearch); a search for more results
    /// than that uses the larger number.
    pub fn new(dim: usize, capacity: usize, expansion: usize) -> Result<Self> {
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::IP,
            quantization: ScalarKind::F16,
            connectivity: CONNECTIVITY,
            expansion_add: EXPANSION_ADD,
            expansion_search: expansion.max(1),
            multi: false,
        };
        let index = Index::new(&options).map_err(ann_error)?;
        index.reserve_capacity_and_threads(capacity.max(1024), SEARCH_THREADS).map_err(ann_error)?;
        Ok(Self { index, dim })
    }

    /// A graph saved by [`Ann::save`]; an error when the file is unreadable or was made for
    /// another dimension (the caller then builds a new one).
    pub fn restore(path: &Path, dim: usize, expansion: usize) -> Result<Self> {
        let ann = Self::new(dim, 1024, expansion)?;
        let name = path.to_str().ok_or_else(|| ann_error("graph path is not UTF-8"))?;
        ann.index.load(name).map_err(ann_error)?;
        if ann.index.dimensions() != dim {
            return Err(ann_error(format!("saved graph has {} dimensions, not {dim}", ann.index.dimensions())));
        }
        ann.index.change_expansion_search(expansion.max(1));
        let capacity = ann.index.size() + ann.index.size() / 4 + 1024;
        ann.index.reserve_capacity_and_threads(capacity, SEARCH_THREADS).map_err(ann_error)?;
        Ok(ann)
    }

    pub fn len(&self) -> usize {
        self.index.size()
    }

    /// Makes room for `more` insertions. Not safe beside searches or insertions on other threads:
    /// callers hold the graph exclusively.
    pub fn reserve(&self, more: usize) -> Result<()> {
        let needed = self.index.size() + more;
        if needed > self.index.capacity() {
            let capacity = needed.max(self.index.capacity() * 2);
            self.index.reserve_capacity_and_threads(capacity, SEARCH_THREADS).map_err(ann_error)?;
        }
        Ok(())
    }

    /// Inserts or replaces the vector of `id`. Room must have been reserved ([`Ann::reserve`]);
    /// several threads may insert different ids at once.
    pub fn insert(&self, id: i64, vector: &[f32]) -> Result<()> {
        if vector.len() != self.dim {
            return Err(ann_error(format!("vector of {} dimensions, graph holds {}", vector.len(), self.dim)));
        }
        let key = id as u64;
        if self.index.contains(key) {
            self.index.remove(key).map_err(ann_error)?;
        }
        self.index.add(key, vector).map_err(ann_error)
    }

    pub fn remove(&self, id: i64) -> Result<()> {
        self.index.remove(id as u64).map(|_| ()).map_err(ann_error)
    }

    /// Ids of up to `k` vectors near `query` among those `accept` lets through, nearest first.
    /// The filter is applied while walking the graph, not to a cut-off list.
    pub fn search(&self, query: &[f32], k: usize, accept: impl Fn(i64) -> bool) -> Result<Vec<i64>> {
        if query.len() != self.dim {
            return Err(ann_error(format!("query of {} dimensions, graph holds {}", query.len(), self.dim)));
        }
        let found = self.index.filtered_search(query, k, |key| accept(key as i64)).map_err(ann_error)?;
        Ok(found.keys.into_iter().map(|k| k as i64).collect())
    }

    /// Writes the graph to `path` through a temporary file of this process's own, so neither a
    /// crash nor another replica saving at the same moment ever leaves half a graph.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ann_error(format!("cannot create {}: {e}", dir.display())))?;
        }
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let name = tmp.to_str().ok_or_else(|| ann_error("graph path is not UTF-8"))?;
        let saved = self.index.save(name).map_err(ann_error).and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|e| ann_error(format!("cannot write {}: {e}", path.display())))
        });
        if saved.is_err() {
            // A half-written graph (a full disk) is of no use to anyone.
            let _ = std::fs::remove_file(&tmp);
        }
        saved
    }

    /// Bytes the graph holds in memory.
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::vector::normalize;

    fn vector(seed: u64, dim: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        normalize(&mut v);
        v
    }

    #[test]
    fn finds_replaces_removes_and_survives_a_save() {
        let dim = 16;
        let ann = Ann::new(dim, 10, 32).unwrap();
        ann.reserve(200).unwrap();
        for id in 0..200 {
            ann.insert(id, &vector(id as u64, dim)).unwrap();
        }
        assert_eq!(ann.len(), 200);
        assert_eq!(ann.search(&vector(42, dim), 1, |_| true).unwrap(), vec![42]);
        let found = ann.search(&vector(42, dim), 5, |id| id % 2 == 1).unwrap();
        assert_eq!(found.len(), 5);
        assert!(found.iter().all(|id| id % 2 == 1), "the filter holds: {found:?}");

        ann.insert(42, &vector(1000, dim)).unwrap();
        assert_eq!(ann.search(&vector(1000, dim), 1, |_| true).unwrap(), vec![42], "replaced");
        ann.remove(7).unwrap();
        assert!(!ann.search(&vector(7, dim), 10, |_| true).unwrap().contains(&7));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.usearch");
        ann.save(&path).unwrap();
        let back = Ann::restore(&path, dim, 32).unwrap();
        assert_eq!(back.search(&vector(1000, dim), 1, |_| true).unwrap(), vec![42]);
        assert!(Ann::restore(&path, dim + 1, 32).is_err(), "wrong dimension refused");
        std::fs::write(&path, b"not a graph").unwrap();
        assert!(Ann::restore(&path, dim, 32).is_err(), "garbage refused");
        assert!(ann.search(&[0.0; 3], 1, |_| true).is_err());
    }
}
