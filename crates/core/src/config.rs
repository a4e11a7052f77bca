//! Typed settings: defaults that work on a laptop, then `Leptos.toml`, then `IMAGE_CHAT__*`
//! environment variables (`IMAGE_CHAT__CRAWLER__MAX_PAGES=500`).
//!
//! Unknown keys are errors, so a typo in a variable name is reported instead of silently ignored.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Prefix of the environment variables that override settings; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "IMAGE_CHAT__";
/// Names another settings file than `Leptos.toml`.
pub const SETTINGS_FILE_ENV: &str = "IMAGE_CHAT_SETTINGS";
pub const DEFAULT_SETTINGS_FILE: &str = "Leptos.toml";
/// Names a Redis when `cache.redis_url` does not.
pub const REDIS_URL_ENV: &str = "REDIS_URL";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where sessions, the index and caches live.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub crawler: CrawlerSettings,
    pub model: ModelSettings,
    pub store: StoreSettings,
    pub cache: CacheSettings,
    pub sessions: SessionSettings,
    pub search: SearchSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            server: ServerSettings::default(),
            crawler: CrawlerSettings::default(),
            model: ModelSettings::default(),
            store: StoreSettings::default(),
            cache: CacheSettings::default(),
            sessions: SessionSettings::default(),
            search: SearchSettings::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address; when unset the Leptos `site-addr` (127.0.0.1:3000) is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<SocketAddr>,
    /// Largest request body any route accepts.
    pub max_request_bytes: usize,
    /// Crawls one client (IP address) may start per minute.
    pub crawl_rate_per_min: u32,
    /// Chat messages one client may send per minute.
    pub chat_rate_per_min: u32,
    /// Open connections at most (kept below the process's file-descriptor limit); past it, a few
    /// more are let in to answer `/health` and say the server is at capacity.
    pub max_connections: usize,
    /// Open connections one client (IP address) may hold.
    pub max_connections_per_client: usize,
    /// A client that has not sent a request's headers in this long is disconnected (slowloris).
    pub header_read_timeout_ms: u64,
    /// Largest total size of a request's headers (a larger one is answered 431).
    pub max_header_bytes: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: None,
            max_request_bytes: 64 * 1024,
            crawl_rate_per_min: 10,
            chat_rate_per_min: 120,
            max_connections: 4_096,
            max_connections_per_client: 256,
            header_read_timeout_ms: 10_000,
            max_header_bytes: 64 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrawlerSettings {
    pub user_agent: String,
    /// Pages a crawl fetches when the request does not say.
    pub max_pages: u32,
    /// The most pages any one crawl may ask for.
    pub max_pages_limit: u32,
    pub max_depth: u32,
    pub max_depth_limit: u32,
    pub concurrency: usize,
    pub per_host_concurrency: usize,
    pub per_host_delay_ms: u64,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub max_body_bytes: u64,
    pub max_redirects: u32,
    pub max_retries: u32,
    pub respect_robots_txt: bool,
    /// Sitemap URLs a crawl reads at most, per page it may fetch: a sitemap index of millions
    /// of URLs costs what the crawl can use of it.
    pub sitemap_urls_per_page: u32,
    /// Fetch every kept image once and read its real format, size, transparency, brightness
    /// and perceptual hash (more requests; filters and dedup then go by the pixels).
    pub analyze_images: bool,
    /// Hosts or IP literals the SSRF guard lets through although they are loopback or private
    /// (for example `127.0.0.1` to crawl a site on this machine). Empty: only public addresses.
    #[serde(deserialize_with = "list_or_commas")]
    pub allow_hosts: Vec<String>,
    /// Render pages in headless Chromium: `auto` (pages whose HTML shows script-built content),
    /// `always` or `never`.
    pub render: crate::render::RenderMode,
    /// Browser tabs open at once, across crawls.
    pub render_concurrency: usize,
    /// One page's render budget, load to snapshot.
    pub render_timeout_ms: u64,
    /// A fixed wait after a rendered page settles (3000 reproduces a 3-second lazy-load wait).
    pub render_wait_ms: u64,
    /// Pages rendered before the browser is replaced by a fresh one.
    pub render_relaunch_pages: u32,
    /// The Chromium executable; empty: /usr/bin/chromium and the other usual paths.
    pub chromium_path: String,
    /// A server's crawls are worked on by every replica that shares its Redis
    /// (`cache.redis_url`, required): the frontier lives there and each replica fetches from it.
    pub distributed: bool,
    /// A distributed crawl's page returns to the queue when the replica holding it has not
    /// renewed its lease for this long (the replica died or stalled).
    pub lease_ms: u64,
}

impl CrawlerSettings {
    /// `chromium_path` when set; `None` lets the usual install paths be searched.
    pub fn chromium_path(&self) -> Option<&std::path::Path> {
        (!self.chromium_path.is_empty()).then(|| std::path::Path::new(&self.chromium_path))
    }
}

impl Default for CrawlerSettings {
    fn default() -> Self {
        Self {
            user_agent: concat!(
                "image-chat/",
                env!("CARGO_PKG_VERSION"),
                " (self-hosted image crawler; respects robots.txt)"
            )
            .to_string(),
            max_pages: 200,
            max_pages_limit: 50_000,
            max_depth: 5,
            max_depth_limit: 50,
            concurrency: 16,
            per_host_concurrency: 4,
            per_host_delay_ms: 0,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 20_000,
            idle_timeout_ms: 10_000,
            max_body_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            max_retries: 2,
            respect_robots_txt: true,
            sitemap_urls_per_page: 10,
            analyze_images: true,
            allow_hosts: Vec::new(),
            render: crate::render::RenderMode::Auto,
            render_concurrency: 2,
            render_timeout_ms: 20_000,
            render_wait_ms: 0,
            render_relaunch_pages: 200,
            chromium_path: String::new(),
            distributed: false,
            lease_ms: 30_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedBackend {
    /// all-MiniLM-L6-v2 on ONNX Runtime, in-process.
    Onnx,
    /// An OpenAI-compatible `/v1/embeddings` endpoint.
    OpenAi,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    pub backend: EmbedBackend,
    /// Folder the set-up script fills; the file names below are relative to it.
    pub dir: PathBuf,
    pub onnx_runtime: PathBuf,
    pub graph: PathBuf,
    pub tokenizer: PathBuf,
    /// The local model multiplies in int8, its activations quantized on each call, instead of
    /// in float32 with the int8-stored weights widened at load: faster, slightly less faithful.
    pub int8_activations: bool,
    pub openai: OpenAiSettings,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            backend: EmbedBackend::Onnx,
            dir: PathBuf::from("models"),
            onnx_runtime: PathBuf::from("onnxruntime/libonnxruntime.so.1.32.0"),
            graph: PathBuf::from("all-minilm-l6-v2/model.onnx"),
            tokenizer: PathBuf::from("all-minilm-l6-v2/tokenizer.json"),
            int8_activations: false,
            openai: OpenAiSettings::default(),
        }
    }
}

impl ModelSettings {
    /// The local model's files, as paths to read.
    pub fn files(&self) -> [PathBuf; 3] {
        [self.dir.join(&self.onnx_runtime), self.dir.join(&self.graph), self.dir.join(&self.tokenizer)]
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self { base_url: None, model: "text-embedding-3-small".into(), api_key: None }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// SQLite + vectors in the data dir.
    Embedded,
    /// PostgreSQL + pgvector at `database_url`.
    Postgres,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    pub kind: StoreKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<Secret>,
    /// A session with at least this many vectors is searched through an HNSW graph (built in
    /// the background, kept in `data_dir/ann/`); smaller ones are scanned exactly.
    pub ann_min_vectors: usize,
    /// Candidate list size of a graph search (efSearch): higher finds more of the true
    /// neighbours and costs more. The PostgreSQL store uses it as `hnsw.ef_search` (at most
    /// 1000 there).
    pub ann_expansion: usize,
    /// Connections to PostgreSQL this process keeps open at most (`store.kind = "postgres"`).
    pub pool_size: usize,
    /// How long a crawl's index writes are retried while the store is unreachable (a database
    /// restart or fail-over) before the crawl stops and its session fails, saying why.
    pub outage_retry_ms: u64,
}

impl StoreSettings {
    /// Whether the store these settings name can be opened: PostgreSQL needs its URL, and a URL
    /// the embedded store would not read is refused rather than silently ignored.
    pub fn check(&self) -> std::result::Result<(), String> {
        if !(1..=256).contains(&self.pool_size) {
            return Err("store.pool_size must be 1-256".into());
        }
        if self.outage_retry_ms > 3_600_000 {
            return Err("store.outage_retry_ms must be at most 3600000 (an hour)".into());
        }
        match (self.kind, &self.database_url) {
            (StoreKind::Embedded, None) => Ok(()),
            (StoreKind::Postgres, Some(url)) => {
                crate::index::postgres::check_url(url.expose()).map_err(|e| format!("store.database_url: {e}"))
            }
            (StoreKind::Postgres, None) => Err("store.kind = \"postgres\" needs store.database_url \
                 (postgres://user:password@host:port/database)"
                .into()),
            (StoreKind::Embedded, Some(_)) => Err("store.database_url is set but store.kind is \"embedded\": nothing \
                 would use that database (set store.kind = \"postgres\", or remove store.database_url)"
                .into()),
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            kind: StoreKind::Embedded,
            database_url: None,
            ann_min_vectors: 100_000,
            ann_expansion: 128,
            pool_size: 8,
            outage_retry_ms: 30_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// When set, the caches, sessions and progress events live in this Redis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<Secret>,
    pub max_entries: u64,
    pub max_bytes: u64,
    /// How long a call may wait on Redis before falling back to the in-process layer.
    pub redis_timeout_ms: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { redis_url: None, max_entries: 100_000, max_bytes: 256 * 1024 * 1024, redis_timeout_ms: 250 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainPolicy {
    /// One running crawl per domain.
    Exclusive,
    /// Several crawls of one domain at once, each in its own namespace.
    Parallel,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    pub max_concurrent_crawls: usize,
    pub domain_policy: DomainPolicy,
    /// Idle sessions older than this are deleted with their index data.
    pub idle_ttl_secs: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { max_concurrent_crawls: 2, domain_policy: DomainPolicy::Exclusive, idle_ttl_secs: 7 * 24 * 3600 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// Formats preferred when scores tie and among copies of one image, best first
    /// (`jpeg`, `png`, `webp`, `gif`, `svg`, `avif`).
    #[serde(deserialize_with = "formats_or_commas")]
    pub format_preference: Vec<crate::model::ImageFormat>,
    /// `rules` (built in, no model) or `chat`: an OpenAI-compatible chat-completions endpoint
    /// understands the message, with the rules as the fallback.
    pub parser: ParserBackend,
    pub chat: ChatParserSettings,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            format_preference: {
                use crate::model::ImageFormat::*;
                vec![Jpeg, Png, Webp, Svg]
            },
            parser: ParserBackend::Rules,
            chat: ChatParserSettings::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParserBackend {
    Rules,
    Chat,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatParserSettings {
    /// e.g. `http://127.0.0.1:8080/v1` (the path `/chat/completions` is added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// A slower answer falls back to the rules.
    pub timeout_ms: u64,
}

impl Default for ChatParserSettings {
    fn default() -> Self {
        Self { base_url: None, model: "gpt-4o-mini".into(), api_key: None, timeout_ms: 3_000 }
    }
}

impl SearchSettings {
    pub fn formats(&self) -> Vec<crate::model::ImageFormat> {
        self.format_preference.clone()
    }
}

/// A value that must never be printed: Debug and Serialize show it redacted. A URL keeps its
/// scheme, host and path so the printed settings still say where it points.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.has_host() => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            _ => "[redacted]".to_string(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.redacted())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl Settings {
    /// Settings as the app sees them: `$IMAGE_CHAT_SETTINGS` or `./Leptos.toml` when present,
    /// then the process environment.
    pub fn load() -> Result<Self> {
        let file = match std::env::var_os(SETTINGS_FILE_ENV) {
            Some(path) => Some(PathBuf::from(path)),
            None => Some(PathBuf::from(DEFAULT_SETTINGS_FILE)).filter(|p| p.exists()),
        };
        Self::load_from(file.as_deref(), std::env::vars())
    }

    /// Settings from an optional file and a set of environment variables (only `IMAGE_CHAT__*`
    /// ones are read), validated.
    pub fn load_from(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| Error::SettingsFile { path: path.to_path_buf(), source })?;
                Self::from_toml(&text, &path.display().to_string(), env)
            }
            None => Self::from_toml("", "defaults", env),
        }
    }

    /// Settings from the text of a settings file (`origin` names it in errors) and a set of
    /// environment variables, validated.
    pub fn from_toml(text: &str, origin: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::Settings { origin: origin.to_string(), message: e.message().to_string() })?;
        let origin = origin.to_string();
        let mut overridden = Vec::new();
        let mut redis_url = None;
        for (key, value) in env {
            // The conventional variable, below any explicit setting.
            if key == REDIS_URL_ENV {
                redis_url = Some(value);
                continue;
            }
            let Some(rest) = key.strip_prefix(ENV_PREFIX) else { continue };
            set_path(&mut table, rest, &value).map_err(|message| Error::Settings { origin: key.clone(), message })?;
            overridden.push(key);
        }
        let origin = if overridden.is_empty() {
            origin
        } else {
            overridden.sort();
            format!("{origin} + {}", overridden.join(", "))
        };
        let mut settings: Settings = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
            Error::Settings { origin: origin.clone(), message: e.message().to_string() }
        })?;
        if settings.cache.redis_url.is_none()
            && let Some(url) = redis_url.filter(|u| !u.trim().is_empty())
        {
            settings.cache.redis_url = Some(Secret::new(url));
        }
        settings.validate().map_err(|message| Error::Settings { origin, message })?;
        Ok(settings)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let c = &self.crawler;
        let checks = [
            (self.server.max_request_bytes >= 1024, "server.max_request_bytes must be at least 1024"),
            (
                self.server.max_connections >= 1 && self.server.max_connections_per_client >= 1,
                "server.max_connections and server.max_connections_per_client must be at least 1",
            ),
            (self.server.header_read_timeout_ms >= 100, "server.header_read_timeout_ms must be at least 100"),
            (
                (1..=1_000).contains(&self.crawler.sitemap_urls_per_page),
                "crawler.sitemap_urls_per_page must be between 1 and 1000",
            ),
            (
                (1024..=1024 * 1024).contains(&self.server.max_header_bytes),
                "server.max_header_bytes must be between 1024 and 1048576",
            ),
            (
                self.server.crawl_rate_per_min >= 1 && self.server.chat_rate_per_min >= 1,
                "server rate limits must be at least 1 per minute",
            ),
            (c.max_pages >= 1, "crawler.max_pages must be at least 1"),
            (c.max_pages <= c.max_pages_limit, "crawler.max_pages must not exceed crawler.max_pages_limit"),
            (c.max_depth <= c.max_depth_limit, "crawler.max_depth must not exceed crawler.max_depth_limit"),
            (c.concurrency >= 1 && c.per_host_concurrency >= 1, "crawler concurrency limits must be at least 1"),
            (
                c.connect_timeout_ms > 0 && c.request_timeout_ms > 0 && c.idle_timeout_ms > 0,
                "crawler timeouts must be greater than 0",
            ),
            (!c.user_agent.trim().is_empty(), "crawler.user_agent must not be empty"),
            (
                (1..=16).contains(&c.render_concurrency) && c.render_relaunch_pages >= 1,
                "crawler.render_concurrency must be 1-16 and crawler.render_relaunch_pages at least 1",
            ),
            (
                (1_000..=300_000).contains(&c.render_timeout_ms) && c.render_wait_ms < c.render_timeout_ms,
                "crawler.render_timeout_ms must be 1000-300000 and crawler.render_wait_ms below it",
            ),
            (
                self.store.ann_min_vectors >= 1 && (1..=4096).contains(&self.store.ann_expansion),
                "store.ann_min_vectors must be at least 1 and store.ann_expansion 1-4096",
            ),
            ((1_000..=600_000).contains(&c.lease_ms), "crawler.lease_ms must be 1000-600000"),
            (self.sessions.max_concurrent_crawls >= 1, "sessions.max_concurrent_crawls must be at least 1"),
            (
                self.search.parser != ParserBackend::Chat || self.search.chat.base_url.is_some(),
                "search.chat.base_url is required when search.parser = \"chat\"",
            ),
            (
                self.model.backend != EmbedBackend::OpenAi || self.model.openai.base_url.is_some(),
                "model.openai.base_url is required when model.backend = \"open_ai\"",
            ),
            (
                !(self.model.backend == EmbedBackend::OpenAi && self.model.int8_activations),
                "model.int8_activations applies to the local model (model.backend = \"onnx\"), not to an endpoint",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, message)) => Err((*message).to_string()),
            None => self.store.check().and_then(|()| self.check_distributed()),
        }
    }

    /// A distributed crawl needs the Redis its replicas share.
    pub fn check_distributed(&self) -> std::result::Result<(), String> {
        if self.crawler.distributed && self.cache.redis_url.is_none() {
            return Err("crawler.distributed = true needs cache.redis_url: the replicas share the crawl through \
                        that Redis"
                .into());
        }
        Ok(())
    }

    /// The effective settings as TOML, secrets redacted: what the app prints at start-up.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# settings could not be printed: {e}\n"))
    }
}

/// A list of strings, given as a list or as one comma-separated string, which is what an
/// environment variable naturally holds (`IMAGE_CHAT__CRAWLER__ALLOW_HOSTS=127.0.0.1,localhost`).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    Ok(match ListOrString::deserialize(deserializer) {
        Ok(ListOrString::List(list)) => list,
        Ok(ListOrString::String(s)) => {
            s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()
        }
        Err(_) => return Err(serde::de::Error::custom("expected a list of strings or a comma-separated string")),
    })
}

/// Image formats, as a list or a comma-separated string, read once: an unknown one is an error
/// naming it.
fn formats_or_commas<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<crate::model::ImageFormat>, D::Error> {
    list_or_commas(deserializer)?
        .iter()
        .map(|f| {
            crate::model::ImageFormat::parse(f).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown format {f:?} (use jpeg, png, webp, gif, svg, avif)"))
            })
        })
        .collect()
}

/// Sets `a__b__c` (already stripped of the prefix) in `table`. The value is read as a TOML
/// value when it is one (`10`, `true`, `["a", "b"]`) and as a plain string otherwise.
fn set_path(table: &mut toml::Table, path: &str, raw: &str) -> std::result::Result<(), String> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    if keys.iter().any(String::is_empty) {
        return Err("empty key segment in variable name".to_string());
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let (last, parents) = keys.split_last().expect("split on a non-empty str yields a segment");
    let mut current = table;
    for key in parents {
        let entry = current.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| format!("`{key}` is a value, not a section"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
