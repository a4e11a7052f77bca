//! Exact vector search over L2-normalized f32 vectors: cosine similarity is a dot product,
//! written so the compiler vectorizes it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

pub use crate::model::vector::{dot, normalize};

#[derive(PartialEq)]
struct Scored(f32, usize);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    // Reversed, so the heap's top is the worst kept score.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

/// The `k` rows of `matrix` (row-major, `dim` columns) most similar to `query` among those
/// `accept` lets through, best first, as (row, score).
pub fn top_k(
    matrix: &[f32],
    dim: usize,
    query: &[f32],
    k: usize,
    mut accept: impl FnMut(usize) -> bool,
) -> Vec<(usize, f32)> {
    if k == 0 || dim == 0 || query.len() != dim {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
    for (row, v) in matrix.chunks_exact(dim).enumerate() {
        let score = dot(v, query);
        if heap.len() == k && heap.peek().is_some_and(|worst| score <= worst.0) {
            continue;
        }
        if !accept(row) {
            continue;
        }
        heap.push(Scored(score, row));
        if heap.len() > k {
            heap.pop();
        }
    }
    let mut out: Vec<(usize, f32)> = heap.into_iter().map(|Scored(s, r)| (r, s)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.05).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }

    #[test]
    fn top_k_is_exact_and_respects_the_filter() {
        let dim = 3;
        let mut rows = [vec![1.0, 0.0, 0.0], vec![0.9, 0.1, 0.0], vec![0.0, 1.0, 0.0], vec![0.7, 0.7, 0.0]];
        rows.iter_mut().for_each(|r| normalize(r));
        let matrix: Vec<f32> = rows.concat();
        let got = top_k(&matrix, dim, &[1.0, 0.0, 0.0], 2, |_| true);
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 1]);
        let filtered = top_k(&matrix, dim, &[1.0, 0.0, 0.0], 2, |row| row != 0);
        assert_eq!(filtered.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 3], "the filter acts before the cut");
        assert!(top_k(&matrix, dim, &[1.0, 0.0], 2, |_| true).is_empty(), "wrong dimension");
    }
}
