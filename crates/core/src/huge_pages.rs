//! Transparent huge pages, switched off for a one-shot crawl.
//!
//! mimalloc asks the kernel for huge pages on its arenas. A short crawl touches its memory
//! sparsely and then exits, and each first touch of a 2 MiB page has the kernel zero all of it:
//! on the 2-core VM, a tenth of a 5,000-page CLI crawl's CPU, and without huge pages the same
//! crawl took 3-8% less CPU and wall time (docs/benchmarks.md). A server is another matter: its
//! searches walk a large graph and records at random, and there huge pages win (at 1M records
//! the top-100 search's p50 was 14 ms with them and 94 ms without; at 100k the graph's p50
//! 0.75 ms against 0.93 ms), so only `image-chat crawl` calls [`configure`]. The switch is the
//! kernel's per-process flag, `prctl(PR_SET_THP_DISABLE)`, which mimalloc itself sets when
//! `MIMALLOC_ALLOW_THP=0`; that variable, when set either way, is left to decide.

/// The variable mimalloc reads to allow (1) or forbid (0) huge pages.
pub const ENV: &str = "MIMALLOC_ALLOW_THP";

/// What [`configure`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HugePages {
    /// Turned off for the process.
    Off,
    /// `MIMALLOC_ALLOW_THP` is set, and mimalloc applies it.
    LeftToEnv(String),
    /// The kernel refused the switch (or this is not Linux); huge pages stay as the system has
    /// them.
    Unchanged(String),
}

/// Turns transparent huge pages off for the whole process unless `MIMALLOC_ALLOW_THP` is set.
/// Call it before the work allocates: memory already faulted in huge pages stays so.
pub fn configure() -> HugePages {
    decide(std::env::var(ENV).ok())
}

fn decide(env: Option<String>) -> HugePages {
    if let Some(value) = env {
        return HugePages::LeftToEnv(value);
    }
    disable()
}

#[cfg(target_os = "linux")]
fn disable() -> HugePages {
    match rustix::thread::disable_transparent_huge_pages(true) {
        Ok(()) => HugePages::Off,
        Err(e) => HugePages::Unchanged(format!("prctl(PR_SET_THP_DISABLE) failed: {e}")),
    }
}

#[cfg(not(target_os = "linux"))]
fn disable() -> HugePages {
    HugePages::Unchanged("transparent huge pages are a Linux setting".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_decides_when_it_says_anything() {
        assert_eq!(decide(Some("1".into())), HugePages::LeftToEnv("1".into()));
        assert_eq!(decide(Some("0".into())), HugePages::LeftToEnv("0".into()));
    }

    // The flag belongs to the process, so this test's process keeps it: harmless to the other
    // tests, which do not depend on page sizes.
    #[cfg(target_os = "linux")]
    #[test]
    fn without_the_variable_the_process_is_switched_off() {
        assert_eq!(decide(None), HugePages::Off);
        assert_eq!(rustix::thread::transparent_huge_pages_are_disabled().ok(), Some(true));
    }
}
