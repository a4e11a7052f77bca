//! JavaScript rendering: pages whose pictures scripts put there, rendered in headless Chromium
//! over CDP and read by the same extractor as fetched pages.
//!
//! The renderer is the fetch seam's second implementation ([`RenderFetcher`]): a crawl asks it
//! for a page the way it asks reqwest, and gets the rendered DOM back as the body. Everything
//! the browser fetches leaves through the egress proxy ([`egress`]), which applies the crawler's
//! SSRF guard to every connection. `auto` decides per page from the raw HTML and learns per
//! host ([`need`]).

pub mod browser;
mod cdp;
pub mod egress;
pub mod need;
mod tab;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

pub use browser::{BrowserOptions, Chromium, INSTALL_HINT, find_executable};
pub use tab::PagePlan;

use crate::BoxFuture;
use crate::net::{Body, FetchError, Fetched, Fetcher, Follow, Guard, Validators, Want};

/// When a crawl renders pages in the browser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenderMode {
    /// Fetch first; render the pages whose raw HTML shows script-built content, and stop
    /// rendering a host where rendering adds nothing.
    #[default]
    Auto,
    /// Render every page.
    Always,
    /// Never start the browser.
    Never,
}

impl RenderMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "always" => Some(Self::Always),
            "never" => Some(Self::Never),
            _ => None,
        }
    }
}

/// Why rendering did not give a page.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RenderError {
    #[error("Chromium is not installed: {0}")]
    NotInstalled(String),
    #[error("Chromium could not be started: {0}")]
    Launch(String),
    #[error("the browser failed: {0}")]
    Protocol(String),
    #[error("the page did not load: {0}")]
    Navigation(String),
    #[error("rendering took longer than {0:?}")]
    Timeout(Duration),
}

/// One crawl's renderer: the shared browser, a browser context of the crawl's own, the page
/// plan; every fetch other than a page's HTML goes to `http`.
pub struct RenderFetcher {
    chromium: Arc<Chromium>,
    context: browser::Context,
    plan: PagePlan,
    http: Arc<dyn Fetcher>,
}

impl RenderFetcher {
    pub fn new(chromium: Arc<Chromium>, plan: PagePlan, http: Arc<dyn Fetcher>) -> Self {
        Self { chromium, context: browser::Context::default(), plan, http }
    }

    /// Renders `url` (already allowed by the crawl's rules and robots.txt).
    pub async fn render(&self, url: &Url) -> Result<tab::Snapshot, RenderError> {
        if let Err(refusal) = self.http.guard().check_url(url) {
            return Err(RenderError::Navigation(format!("refused: {refusal}")));
        }
        let _slot = self.chromium.tab_slot().await;
        let (tab, events) = self.chromium.open_tab(&self.context).await?;
        let result = tab::render(tab.session(), events, url, &self.plan).await;
        if let Err(RenderError::Protocol(_)) = &result {
            // A protocol error leaves the browser in doubt: the next page gets a fresh one.
            self.chromium.retire(tab.generation).await;
        }
        result
    }
}

impl Drop for RenderFetcher {
    fn drop(&mut self) {
        let (chromium, context) = (self.chromium.clone(), std::mem::take(&mut self.context));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { chromium.dispose(&context).await });
        }
    }
}

impl Fetcher for RenderFetcher {
    fn fetch<'a>(
        &'a self,
        url: &'a Url,
        want: Want,
        follow: Follow<'a>,
        validators: &'a Validators,
    ) -> BoxFuture<'a, Fetched> {
        if want != Want::Html {
            return self.http.fetch(url, want, follow, validators);
        }
        Box::pin(async move {
            match self.render(url).await {
                Ok(snapshot) => {
                    let final_url = snapshot.final_url.clone();
                    // A script that navigated elsewhere is held to the crawl's redirect rules.
                    if final_url.as_str() != url.as_str() && page_moved(url, &final_url) && !follow(&final_url) {
                        return Fetched::Redirected { to: final_url };
                    }
                    Fetched::Body(Body {
                        final_url,
                        status: 200,
                        bytes: snapshot.html.len() as u64,
                        text: snapshot.html,
                        raw: Vec::new(),
                        content_type: "text/html".into(),
                        redirects: Vec::new(),
                        cache_control: None,
                        sets_cookie: false,
                        validators: Validators::default(),
                        rendered: Some(crate::net::RenderNote {
                            elapsed_ms: snapshot.elapsed.as_millis() as u64,
                            scrolls: snapshot.scrolls,
                            blocked: snapshot.blocked,
                            budget_ran_out: snapshot.budget_ran_out,
                        }),
                    })
                }
                Err(e) => Fetched::Failed(FetchError::Render(e.to_string())),
            }
        })
    }

    fn guard(&self) -> &Guard {
        self.http.guard()
    }

    fn kind(&self) -> &'static str {
        "chromium"
    }
}

/// Whether the browser ended on another page (not merely another fragment of this one).
fn page_moved(from: &Url, to: &Url) -> bool {
    let mut a = from.clone();
    let mut b = to.clone();
    a.set_fragment(None);
    b.set_fragment(None);
    a != b
}
