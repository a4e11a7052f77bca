//! The network floor every fetch of ours stands on: the SSRF guard, the fetch seam and its
//! reqwest implementation (redirects by hand, retries, timeouts, size caps, charset), typed fetch
//! errors with the HTTP status, and robots.txt (RFC 9309) read once per origin for every caller.
//! The crawler and the image analysis both fetch through it.

pub mod fetch;
mod fetch_error;
pub mod guard;
pub mod robots;
mod robots_cache;
mod robots_match;

use std::sync::Arc;

use url::Url;

pub use fetch::{Body, FetchConfig, FetchError, Fetched, HttpFetcher, RenderNote, Validators, Want};
pub use guard::Guard;
pub use robots_cache::RobotsCache;

use crate::BoxFuture;
use crate::config::CrawlerSettings;
use crate::error::{Error, Result};

/// Which redirects a fetch may follow: each hop's target is asked (the SSRF guard applies to
/// every hop in any case).
pub type Follow<'a> = &'a (dyn Fn(&Url) -> bool + Send + Sync);

/// The fetch seam: how a page, an image or a robots.txt is fetched. reqwest by default; a
/// renderer that runs the page's scripts stands behind the same calls.
pub trait Fetcher: Send + Sync {
    /// Fetches `url` as `want` says, following redirects while `follow(next)` agrees; with
    /// `validators`, asks only for a changed page.
    fn fetch<'a>(
        &'a self,
        url: &'a Url,
        want: Want,
        follow: Follow<'a>,
        validators: &'a Validators,
    ) -> BoxFuture<'a, Fetched>;
    /// The SSRF guard every request of this fetcher passes.
    fn guard(&self) -> &Guard;
    /// Which implementation this is, for logs and `/health`.
    fn kind(&self) -> &'static str;
}

impl dyn Fetcher + '_ {
    /// An unconditional fetch.
    pub async fn get(&self, url: &Url, want: Want, follow: Follow<'_>) -> Fetched {
        self.fetch(url, want, follow, &Validators::default()).await
    }
}

/// Follows every redirect (the guard still checks each hop).
pub fn any_redirect(_: &Url) -> bool {
    true
}

impl Fetcher for HttpFetcher {
    fn fetch<'a>(
        &'a self,
        url: &'a Url,
        want: Want,
        follow: Follow<'a>,
        validators: &'a Validators,
    ) -> BoxFuture<'a, Fetched> {
        Box::pin(self.fetch_if_changed(url, want, follow, validators))
    }

    fn guard(&self) -> &Guard {
        HttpFetcher::guard(self)
    }

    fn kind(&self) -> &'static str {
        "http"
    }
}

/// The crawler settings' fetcher: their User-Agent, SSRF allow-list, timeouts, redirect and body
/// limits.
pub fn fetcher_from_settings(s: &CrawlerSettings) -> Result<Arc<dyn Fetcher>> {
    let fetcher =
        HttpFetcher::new(FetchConfig::from_settings(s), Guard::new(&s.allow_hosts)).map_err(Error::Invalid)?;
    Ok(Arc::new(fetcher))
}
