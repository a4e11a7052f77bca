//! The one headless Chromium the process shares: started on the first render, behind the
//! egress proxy, relaunched after a number of pages or when its connection breaks, and killed
//! when it is replaced or the process ends. Tabs are bounded by a semaphore; each crawl renders
//! in a browser context of its own (cookies and storage do not leak between crawls).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::target::{CreateBrowserContextParams, CreateTargetParams};
use chromiumoxide::{BrowserConfig, Page};
use futures_util::StreamExt;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use super::RenderError;
use super::egress::{EgressProxy, EgressStats};
use crate::net::Guard;

/// Where Debian, Ubuntu and most distributions put Chromium or Chrome.
const CANDIDATES: &[&str] =
    &["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];
/// The browser window's size.
const VIEWPORT: (u32, u32) = (1366, 1024);
pub const INSTALL_HINT: &str = "install Debian's chromium (sudo apt-get install chromium) or set crawler.chromium_path";

/// The browser, how it is started and how hard it may be used.
#[derive(Clone, Debug)]
pub struct BrowserOptions {
    /// `None`: the first of the usual install paths that exists.
    pub executable: Option<PathBuf>,
    /// Tabs open at once, across crawls.
    pub tabs: usize,
    /// Pages rendered before the browser is replaced by a fresh one.
    pub relaunch_after: u32,
    pub user_agent: String,
    pub allow_hosts: Vec<String>,
}

/// Finds the browser executable: the configured one, else the usual paths.
pub fn find_executable(configured: Option<&Path>) -> Result<PathBuf, RenderError> {
    match configured {
        Some(p) if p.is_file() => Ok(p.to_path_buf()),
        Some(p) => Err(RenderError::NotInstalled(format!("{} does not exist; {INSTALL_HINT}", p.display()))),
        None => CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| RenderError::NotInstalled(format!("no Chromium found; {INSTALL_HINT}"))),
    }
}

struct Running {
    browser: Option<chromiumoxide::Browser>,
    handler: tokio::task::JoinHandle<()>,
    /// Set when the protocol connection ended: the next render relaunches.
    broken: Arc<AtomicBool>,
    generation: u64,
    pages: AtomicU32,
    // Dropped after the browser is gone.
    _proxy: EgressProxy,
    profile: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handler.abort();
        let profile = std::mem::take(&mut self.profile);
        if let Some(mut browser) = self.browser.take() {
            let leftover = profile.clone();
            let cleanup = async move {
                let _ = browser.kill().await;
                let _ = browser.wait().await;
                let _ = tokio::fs::remove_dir_all(&profile).await;
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn(cleanup)),
                // No runtime left: chromiumoxide's child is killed on drop anyway.
                Err(_) => drop(std::fs::remove_dir_all(&leftover)),
            }
        }
    }
}

/// The shared browser.
pub struct Chromium {
    options: BrowserOptions,
    running: Mutex<Option<Arc<Running>>>,
    tabs: Arc<Semaphore>,
    generation: AtomicU64,
    stats: Arc<EgressStats>,
}

impl Chromium {
    pub fn new(options: BrowserOptions) -> Self {
        let tabs = Arc::new(Semaphore::new(options.tabs.max(1)));
        Self { options, running: Mutex::new(None), tabs, generation: AtomicU64::new(0), stats: Default::default() }
    }

    pub fn options(&self) -> &BrowserOptions {
        &self.options
    }

    /// Refusals of the current browser's egress proxy (empty before the first launch).
    pub fn egress(&self) -> Arc<EgressStats> {
        self.stats.clone()
    }

    /// Whether a browser process is running now.
    pub async fn is_running(&self) -> bool {
        self.running.lock().await.as_ref().is_some_and(|r| !r.broken.load(Ordering::Relaxed))
    }

    /// A tab slot; a page is rendered only while one is held.
    pub async fn tab_slot(&self) -> OwnedSemaphorePermit {
        self.tabs.clone().acquire_owned().await.expect("the tab semaphore is never closed")
    }

    /// The running browser, launched (or relaunched) as needed.
    async fn current(&self) -> Result<Arc<Running>, RenderError> {
        let mut running = self.running.lock().await;
        if let Some(r) = running.as_ref()
            && !r.broken.load(Ordering::Relaxed)
            && r.pages.load(Ordering::Relaxed) < self.options.relaunch_after.max(1)
        {
            return Ok(r.clone());
        }
        // The old one is killed once its last tab lets go of it.
        *running = None;
        let fresh = Arc::new(self.launch().await?);
        *running = Some(fresh.clone());
        Ok(fresh)
    }

    /// Marks the browser of `generation` broken (a protocol error): the next render relaunches.
    pub async fn retire(&self, generation: u64) {
        let mut running = self.running.lock().await;
        if running.as_ref().is_some_and(|r| r.generation == generation) {
            *running = None;
        }
    }

    async fn launch(&self) -> Result<Running, RenderError> {
        let executable = find_executable(self.options.executable.as_deref())?;
        let proxy = EgressProxy::start_with_stats(Guard::new(&self.options.allow_hosts), self.stats.clone())
            .await
            .map_err(|e| RenderError::Launch(format!("egress proxy: {e}")))?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        // Unique across every browser of the process (tests run several).
        static LAUNCHES: AtomicU64 = AtomicU64::new(0);
        let launch = LAUNCHES.fetch_add(1, Ordering::Relaxed);
        let profile = std::env::temp_dir().join(format!("image-chat-chromium-{}-{launch}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(|e| RenderError::Launch(format!("{}: {e}", profile.display())))?;
        let proxy_server = format!("http://{}", proxy.addr());
        let config = BrowserConfig::builder()
            .chrome_executable(&executable)
            .user_data_dir(&profile)
            .no_sandbox()
            // A desktop window: pages lay out as people see them, and a long page is scrolled
            // through in fewer steps.
            .window_size(VIEWPORT.0, VIEWPORT.1)
            .viewport(chromiumoxide::handler::viewport::Viewport {
                width: VIEWPORT.0,
                height: VIEWPORT.1,
                ..Default::default()
            })
            .launch_timeout(Duration::from_secs(30))
            .request_timeout(Duration::from_secs(30))
            // Keys without dashes: chromiumoxide adds them (and already passes --headless,
            // --no-sandbox, --disable-sync, --no-first-run and background networking off).
            .args([
                "disable-gpu".to_string(),
                "disable-dev-shm-usage".into(),
                "disable-background-networking".into(),
                "disable-component-update".into(),
                "disable-sync".into(),
                "disable-default-apps".into(),
                "no-first-run".into(),
                "disable-quic".into(),
                "mute-audio".into(),
                format!("proxy-server={proxy_server}"),
                // Without it Chromium reaches loopback and link-local directly, around the proxy.
                "proxy-bypass-list=<-loopback>".into(),
                // Names resolve at the proxy only; nothing resolves in the browser.
                "host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".into(),
                "force-webrtc-ip-handling-policy=disable_non_proxied_udp".into(),
                "webrtc-ip-handling-policy=disable_non_proxied_udp".into(),
                format!("user-agent={}", self.options.user_agent),
            ])
            .build()
            .map_err(RenderError::Launch)?;
        let (browser, mut handler) = chromiumoxide::Browser::launch(config)
            .await
            .map_err(|e| RenderError::Launch(format!("{}: {e}", executable.display())))?;
        // The debugging endpoint is on loopback: no page may reach it, even with loopback allowed.
        if let Some(port) = debug_port(browser.websocket_address()) {
            proxy.forbid(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
            proxy.forbid(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
        }
        let broken = Arc::new(AtomicBool::new(false));
        let flag = broken.clone();
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    // Events Chromium sends that this version cannot parse are not fatal; a
                    // dropped connection is.
                    if matches!(e, chromiumoxide::error::CdpError::Ws(_)) {
                        tracing::warn!("chromium: connection lost: {e}");
                        break;
                    }
                }
            }
            flag.store(true, Ordering::Relaxed);
        });
        tracing::info!("chromium started ({}, generation {generation})", executable.display());
        Ok(Running {
            browser: Some(browser),
            handler,
            broken,
            generation,
            pages: AtomicU32::new(0),
            _proxy: proxy,
            profile,
        })
    }

    /// A new tab in `context` (created in this browser when it is from an older one).
    pub(super) async fn open_tab(&self, context: &Context) -> Result<Tab, RenderError> {
        let running = self.current().await?;
        let browser = running.browser.as_ref().ok_or_else(|| RenderError::Protocol("browser gone".into()))?;
        let id = {
            let mut ctx = context.0.lock().await;
            match ctx.as_ref() {
                Some((generation, id)) if *generation == running.generation => id.clone(),
                _ => {
                    let id = browser
                        .create_browser_context(CreateBrowserContextParams::default())
                        .await
                        .map_err(|e| RenderError::Protocol(format!("browser context: {e}")))?;
                    *ctx = Some((running.generation, id.clone()));
                    id
                }
            }
        };
        running.pages.fetch_add(1, Ordering::Relaxed);
        // A window of its own: a tab behind another in one window is hidden, and a hidden page
        // gets no frames (its IntersectionObservers and animation callbacks never run).
        let params = CreateTargetParams::builder()
            .url("about:blank")
            .browser_context_id(id)
            .new_window(true)
            .background(false)
            .build()
            .map_err(RenderError::Protocol)?;
        let page = match browser.new_page(params).await {
            Ok(p) => p,
            Err(e) => {
                running.broken.store(true, Ordering::Relaxed);
                return Err(RenderError::Protocol(format!("new tab: {e}")));
            }
        };
        Ok(Tab { page: Some(page), generation: running.generation, _running: running })
    }
}

impl Chromium {
    /// Closes a crawl's browser context (its tabs, cookies and storage), when it belongs to the
    /// browser still running.
    pub(super) async fn dispose(&self, context: &Context) {
        let Some((generation, id)) = context.0.lock().await.take() else { return };
        let running = self.running.lock().await.clone();
        if let Some(r) = running.filter(|r| r.generation == generation)
            && let Some(browser) = r.browser.as_ref()
        {
            let _ = tokio::time::timeout(Duration::from_secs(5), browser.dispose_browser_context(id)).await;
        }
    }
}

fn debug_port(ws: &str) -> Option<u16> {
    let url = url::Url::parse(ws).ok()?;
    url.port()
}

/// A crawl's browser context; disposed with the browser it was made in.
#[derive(Default)]
pub struct Context(Mutex<Option<(u64, BrowserContextId)>>);

/// One open tab, closed when dropped (a tab left open would hold its page's memory and sockets).
pub(super) struct Tab {
    page: Option<Page>,
    pub generation: u64,
    _running: Arc<Running>,
}

impl Tab {
    pub fn page(&self) -> &Page {
        self.page.as_ref().expect("a tab has its page until dropped")
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        if let (Some(page), Ok(rt)) = (self.page.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), page.close()).await;
            });
        }
    }
}
