//! The one headless Chromium the process shares: started on the first render, behind the
//! egress proxy, relaunched after a number of pages or when its connection breaks, and killed
//! when it is replaced or the process ends. Tabs are bounded by a semaphore; each crawl renders
//! in a browser context of its own (cookies and storage do not leak between crawls).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};

use super::RenderError;
use super::cdp::{Connection, Event, Session};
use super::egress::{EgressProxy, EgressStats};
use crate::net::Guard;

/// Where Debian, Ubuntu and most distributions put Chromium or Chrome.
const CANDIDATES: &[&str] =
    &["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];
/// The browser window's size.
const VIEWPORT: (u32, u32) = (1366, 1024);
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
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
    connection: Arc<Connection>,
    child: Option<tokio::process::Child>,
    /// Set when a tab could not be opened: the next render relaunches (as it does once the
    /// connection has closed).
    broken: AtomicBool,
    generation: u64,
    pages: AtomicU32,
    // Dropped after the browser is gone.
    _proxy: EgressProxy,
    profile: PathBuf,
}

impl Running {
    fn usable(&self) -> bool {
        !self.broken.load(Ordering::Relaxed) && !self.connection.is_closed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let profile = std::mem::take(&mut self.profile);
        if let Some(mut child) = self.child.take() {
            let leftover = profile.clone();
            // The child is killed when dropped all the same; this also reaps it and clears its profile.
            let cleanup = async move {
                let _ = child.kill().await;
                let _ = tokio::fs::remove_dir_all(&profile).await;
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn(cleanup)),
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
        self.running.lock().await.as_ref().is_some_and(|r| r.usable())
    }

    /// A tab slot; a page is rendered only while one is held.
    pub async fn tab_slot(&self) -> OwnedSemaphorePermit {
        self.tabs.clone().acquire_owned().await.expect("the tab semaphore is never closed")
    }

    /// The running browser, launched (or relaunched) as needed.
    async fn current(&self) -> Result<Arc<Running>, RenderError> {
        let mut running = self.running.lock().await;
        if let Some(r) = running.as_ref()
            && r.usable()
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
        let (width, height) = VIEWPORT;
        let args = [
            // What chromiumoxide (the crate this replaced) passed by default, and ours.
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-setuid-sandbox".into(),
            "--hide-scrollbars".into(),
            "--mute-audio".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-background-timer-throttling".into(),
            "--disable-backgrounding-occluded-windows".into(),
            "--disable-renderer-backgrounding".into(),
            "--disable-breakpad".into(),
            "--disable-client-side-phishing-detection".into(),
            "--disable-component-extensions-with-background-pages".into(),
            "--disable-component-update".into(),
            "--disable-default-apps".into(),
            "--disable-extensions".into(),
            "--disable-features=TranslateUI".into(),
            "--disable-hang-monitor".into(),
            "--disable-ipc-flooding-protection".into(),
            "--disable-popup-blocking".into(),
            "--disable-prompt-on-repost".into(),
            "--disable-sync".into(),
            "--force-color-profile=srgb".into(),
            "--metrics-recording-only".into(),
            "--no-first-run".into(),
            "--password-store=basic".into(),
            "--use-mock-keychain".into(),
            "--lang=en_US".into(),
            "--disable-quic".into(),
            // A desktop window: pages lay out as people see them, and a long page is scrolled
            // through in fewer steps.
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
            format!("--proxy-server=http://{}", proxy.addr()),
            // Without it Chromium sends loopback and link-local requests around the proxy.
            "--proxy-bypass-list=<-loopback>".into(),
            // Names resolve at the proxy only; nothing resolves in the browser.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".into(),
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp".into(),
            "--webrtc-ip-handling-policy=disable_non_proxied_udp".into(),
            format!("--user-agent={}", self.options.user_agent),
            "about:blank".into(),
        ];
        let (connection, child) = Connection::launch(&executable, &args, LAUNCH_TIMEOUT).await?;
        tracing::info!("chromium started ({}, generation {generation})", executable.display());
        Ok(Running {
            connection,
            child: Some(child),
            broken: AtomicBool::new(false),
            generation,
            pages: AtomicU32::new(0),
            _proxy: proxy,
            profile,
        })
    }

    /// A new tab in `context` (created in this browser when it is from an older one), and its
    /// events.
    pub(super) async fn open_tab(
        &self,
        context: &Context,
    ) -> Result<(Tab, mpsc::UnboundedReceiver<Event>), RenderError> {
        let running = self.current().await?;
        let browser = &running.connection;
        let context_id = {
            let mut ctx = context.0.lock().await;
            match ctx.as_ref() {
                Some((generation, id)) if *generation == running.generation => id.clone(),
                _ => {
                    let created = browser.call(None, "Target.createBrowserContext", json!({})).await?;
                    let id = text(&created, "browserContextId")?;
                    *ctx = Some((running.generation, id.clone()));
                    id
                }
            }
        };
        running.pages.fetch_add(1, Ordering::Relaxed);
        let opened = async {
            // A window of its own: a tab behind another in one window is hidden, and a hidden
            // page gets no frames (its IntersectionObservers and animation callbacks never run).
            let params =
                json!({ "url": "about:blank", "browserContextId": context_id, "newWindow": true, "background": false });
            let target = text(&browser.call(None, "Target.createTarget", params).await?, "targetId")?;
            let attach = json!({ "targetId": target, "flatten": true });
            let session = text(&browser.call(None, "Target.attachToTarget", attach).await?, "sessionId")?;
            // Subscribed before anything is enabled, so no event of this page is missed.
            let events = browser.subscribe(&session);
            // A tab from here on: dropped, it is closed.
            let tab = Tab {
                session: Session { connection: browser.clone(), id: session },
                target,
                generation: running.generation,
                _running: running.clone(),
            };
            let (width, height) = VIEWPORT;
            let metrics = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false });
            for (method, params) in [
                ("Page.enable", json!({})),
                ("Network.enable", json!({})),
                ("Emulation.setDeviceMetricsOverride", metrics),
            ] {
                tab.session.call(method, params).await?;
            }
            Ok::<_, RenderError>((tab, events))
        };
        match opened.await {
            Ok(opened) => Ok(opened),
            Err(e) => {
                running.broken.store(true, Ordering::Relaxed);
                Err(RenderError::Protocol(format!("new tab: {e}")))
            }
        }
    }
}

/// A string field of a command's answer.
fn text(answer: &Value, field: &str) -> Result<String, RenderError> {
    answer
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| RenderError::Protocol(format!("the browser's answer has no {field}")))
}

impl Chromium {
    /// Closes a crawl's browser context (its tabs, cookies and storage), when it belongs to the
    /// browser still running.
    pub(super) async fn dispose(&self, context: &Context) {
        let Some((generation, id)) = context.0.lock().await.take() else { return };
        let running = self.running.lock().await.clone();
        if let Some(r) = running.filter(|r| r.generation == generation) {
            let dispose = r.connection.call(None, "Target.disposeBrowserContext", json!({ "browserContextId": id }));
            let _ = tokio::time::timeout(Duration::from_secs(5), dispose).await;
        }
    }
}

/// A crawl's browser context; disposed with the browser it was made in.
#[derive(Default)]
pub struct Context(Mutex<Option<(u64, String)>>);

/// One open tab, closed when dropped (a tab left open would hold its page's memory and sockets).
pub(super) struct Tab {
    session: Session,
    target: String,
    pub generation: u64,
    _running: Arc<Running>,
}

impl Tab {
    pub fn session(&self) -> &Session {
        &self.session
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        let connection = self.session.connection.clone();
        connection.unsubscribe(&self.session.id);
        let target = std::mem::take(&mut self.target);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let close = connection.call(None, "Target.closeTarget", json!({ "targetId": target }));
                let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
            });
        }
    }
}
