//! The embedded index behind the async [`ImageIndex`] seam: each call runs the blocking SQLite
//! work on a blocking thread, so no caller wraps it.

use super::{Filters, Hit, ImageIndex, IndexStats, Namespace, SearchRequest, SqliteIndex};
use crate::BoxFuture;
use crate::error::{Error, Result};
use crate::model::ImageRecord;

/// The work contends on one connection: past a few callers, the rest wait on the async side.
static GATE: crate::blocking::Gate = crate::blocking::Gate::per_core();

/// Runs `work` on a blocking thread with a clone of the index (clones share everything).
async fn blocking<T: Send + 'static>(
    index: &SqliteIndex,
    work: impl FnOnce(&SqliteIndex) -> Result<T> + Send + 'static,
) -> Result<T> {
    let index = index.clone();
    GATE.run(move || work(&index)).await.map_err(|e| Error::Index(format!("index task failed: {e}")))?
}

/// What a leg's request holds, owned, to cross to the blocking thread.
struct Owned {
    namespaces: Vec<Namespace>,
    filters: Filters,
    limit: usize,
}

impl Owned {
    fn of(request: &SearchRequest<'_>) -> Self {
        Self { namespaces: request.namespaces.to_vec(), filters: request.filters.clone(), limit: request.limit }
    }

    fn request(&self) -> SearchRequest<'_> {
        SearchRequest { namespaces: &self.namespaces, filters: &self.filters, limit: self.limit }
    }
}

impl ImageIndex for SqliteIndex {
    fn upsert<'a>(
        &'a self,
        namespace: &'a Namespace,
        items: &'a [(ImageRecord, Option<Vec<f32>>)],
    ) -> BoxFuture<'a, Result<usize>> {
        let (namespace, items) = (namespace.clone(), items.to_vec());
        Box::pin(blocking(self, move |i| i.upsert(&namespace, &items)))
    }

    fn delete_namespace<'a>(&'a self, namespace: &'a Namespace) -> BoxFuture<'a, Result<u64>> {
        let namespace = namespace.clone();
        Box::pin(blocking(self, move |i| i.delete_namespace(&namespace)))
    }

    fn search_text<'a>(&'a self, query: &'a str, request: &'a SearchRequest<'a>) -> BoxFuture<'a, Result<Vec<Hit>>> {
        let (query, owned) = (query.to_string(), Owned::of(request));
        Box::pin(blocking(self, move |i| i.search_text(&query, &owned.request())))
    }

    fn search_vector<'a>(
        &'a self,
        vector: &'a [f32],
        request: &'a SearchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<Hit>>> {
        let (vector, owned) = (vector.to_vec(), Owned::of(request));
        Box::pin(blocking(self, move |i| i.search_vector(&vector, &owned.request())))
    }

    fn list<'a>(&'a self, request: &'a SearchRequest<'a>) -> BoxFuture<'a, Result<Vec<Hit>>> {
        let owned = Owned::of(request);
        Box::pin(blocking(self, move |i| i.list(&owned.request())))
    }

    fn stats<'a>(&'a self, namespace: Option<&'a Namespace>) -> BoxFuture<'a, Result<IndexStats>> {
        let namespace = namespace.cloned();
        Box::pin(blocking(self, move |i| i.stats(namespace.as_ref())))
    }

    fn generation<'a>(&'a self, namespaces: &'a [Namespace]) -> BoxFuture<'a, Result<u64>> {
        let namespaces = namespaces.to_vec();
        Box::pin(blocking(self, move |i| i.generation(&namespaces)))
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}
