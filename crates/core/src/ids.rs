//! The ids and the clock that sessions and conversations share: 16 hexadecimal digits, and Unix
//! seconds.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// 16 hex digits, unpredictable enough to not collide or be guessed in sequence.
pub(crate) fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = (std::time::SystemTime::now(), COUNTER.fetch_add(1, Ordering::Relaxed), std::process::id());
    format!("{:016x}", std::collections::hash_map::RandomState::new().hash_one(seed))
}

/// Whether `id` has the shape of an id: 16 hex digits.
pub(crate) fn is_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_hex() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|i| is_id(i)));
        assert!(!is_id("0123") && !is_id("0123456789abcdeg"));
    }
}
