//! Health probes of the components the app depends on. Each answers within its timeout and never
//! panics; the web layer runs them off the async runtime (they block on sockets and files).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config::{CacheSettings, ModelSettings, StoreSettings};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeState {
    Ok,
    /// Usable without it, with less (e.g. lexical search only without the model).
    Missing,
    Unreachable,
    NotConfigured,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub name: &'static str,
    pub state: ProbeState,
    pub detail: String,
}

impl Probe {
    fn new(name: &'static str, state: ProbeState, detail: impl Into<String>) -> Self {
        Self { name, state, detail: detail.into() }
    }
}

/// The data dir exists (it is created when missing) and is writable.
pub fn data_dir(path: &Path) -> Probe {
    let check = || -> std::io::Result<()> {
        std::fs::create_dir_all(path)?;
        let marker = path.join(".write-check");
        std::fs::write(&marker, b"ok")?;
        std::fs::remove_file(marker)
    };
    match check() {
        Ok(()) => Probe::new("data_dir", ProbeState::Ok, path.display().to_string()),
        Err(e) => Probe::new("data_dir", ProbeState::Unreachable, format!("{}: {e}", path.display())),
    }
}

/// The browser that renders JavaScript pages: not configured with `crawler.render = "never"`,
/// missing (with how to install it) when no Chromium is found; it is started on the first render.
pub fn browser(crawler: &crate::config::CrawlerSettings) -> Probe {
    use crate::render::{RenderMode, find_executable};
    if crawler.render == RenderMode::Never {
        return Probe::new(
            "browser",
            ProbeState::NotConfigured,
            "crawler.render = \"never\": pages are not rendered".to_string(),
        );
    }
    match find_executable(crawler.chromium_path()) {
        Ok(path) => Probe::new(
            "browser",
            ProbeState::Ok,
            format!(
                "{} (render = {}; started on the first page that needs it)",
                path.display(),
                crawler.render.as_str()
            ),
        ),
        Err(e) => Probe::new(
            "browser",
            ProbeState::Missing,
            format!("{e}; until then pages are not rendered (render = {})", crawler.render.as_str()),
        ),
    }
}

/// The local embedding model's files are in place. Checksums are verified by the set-up script
/// that fetches them; here only presence and a non-empty size are checked, so the probe is cheap.
pub fn model_files(model: &ModelSettings) -> Probe {
    let missing: Vec<String> = model
        .files()
        .iter()
        .filter(|f| std::fs::metadata(f).map(|m| m.len() == 0).unwrap_or(true))
        .map(|f| f.display().to_string())
        .collect();
    if missing.is_empty() {
        Probe::new("model", ProbeState::Ok, format!("all-MiniLM-L6-v2 (int8) in {}", model.dir.display()))
    } else {
        Probe::new(
            "model",
            ProbeState::Missing,
            format!(
                "missing {}; run `scripts/setup.sh` to fetch the model (search falls back to keywords only)",
                missing.join(", ")
            ),
        )
    }
}

/// Redis answers PING (with AUTH first when the URL carries a password).
pub fn redis(cache: &CacheSettings, timeout: Duration) -> Probe {
    let Some(url) = &cache.redis_url else {
        return Probe::new("redis", ProbeState::NotConfigured, "in-process caches");
    };
    match redis_ping(url.expose(), timeout) {
        Ok(()) => Probe::new("redis", ProbeState::Ok, url.redacted()),
        Err(e) => Probe::new("redis", ProbeState::Unreachable, format!("{}: {e}", url.redacted())),
    }
}

/// PostgreSQL accepts a TCP connection and answers an SSL negotiation request, which proves a
/// Postgres server (not just any listener) is there without logging in.
pub fn postgres(store: &StoreSettings, timeout: Duration) -> Probe {
    let Some(url) = &store.database_url else {
        return Probe::new("postgres", ProbeState::NotConfigured, "embedded store");
    };
    match postgres_handshake(url.expose(), timeout) {
        Ok(()) => Probe::new("postgres", ProbeState::Ok, url.redacted()),
        Err(e) => Probe::new("postgres", ProbeState::Unreachable, format!("{}: {e}", url.redacted())),
    }
}

fn connect(url: &url::Url, default_port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let host = url.host_str().ok_or("URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port().unwrap_or(default_port);
    let addrs: Vec<SocketAddr> =
        (host, port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
    let addr = addrs.first().ok_or_else(|| format!("{host} resolves to no address"))?;
    let stream = TcpStream::connect_timeout(addr, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    Ok(stream)
}

fn redis_ping(raw: &str, timeout: Duration) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("invalid URL: {e}"))?;
    if url.scheme() != "redis" {
        return Err(format!("scheme `{}` is not probed (only redis://)", url.scheme()));
    }
    let mut stream = connect(&url, 6379, timeout)?;
    if let Some(password) = url.password() {
        let user = if url.username().is_empty() { "default" } else { url.username() };
        send_command(&mut stream, &["AUTH", user, password])?;
        expect_reply(&mut stream, "+OK")?;
    }
    send_command(&mut stream, &["PING"])?;
    expect_reply(&mut stream, "+PONG")
}

fn send_command(stream: &mut TcpStream, args: &[&str]) -> Result<(), String> {
    let mut frame = format!("*{}\r\n", args.len());
    for arg in args {
        frame.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(frame.as_bytes()).map_err(|e| e.to_string())
}

fn expect_reply(stream: &mut TcpStream, expected: &str) -> Result<(), String> {
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
    let reply = String::from_utf8_lossy(&buf[..n]);
    let reply = reply.trim_end();
    if reply.starts_with(expected) { Ok(()) } else { Err(format!("unexpected reply `{reply}`")) }
}

fn postgres_handshake(raw: &str, timeout: Duration) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("invalid URL: {e}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!("scheme `{}` is not a PostgreSQL URL", url.scheme()));
    }
    let mut stream = connect(&url, 5432, timeout)?;
    // SSLRequest: length 8, code 80877103. A Postgres server answers a single 'S' or 'N'.
    stream.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).map_err(|e| e.to_string())?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).map_err(|e| e.to_string())?;
    match answer[0] {
        b'S' | b'N' => Ok(()),
        other => Err(format!("not a PostgreSQL server (answered byte {other:#x})")),
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;
    use crate::config::Secret;

    const T: Duration = Duration::from_millis(500);

    #[test]
    fn missing_model_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let model = ModelSettings { dir: dir.path().to_path_buf(), ..ModelSettings::default() };
        let probe = model_files(&model);
        assert_eq!(probe.state, ProbeState::Missing);
        assert!(probe.detail.contains("model.onnx") && probe.detail.contains("scripts/setup.sh"), "{}", probe.detail);
    }

    #[test]
    fn present_model_files_are_ok() {
        let dir = tempfile::tempdir().unwrap();
        let model = ModelSettings { dir: dir.path().to_path_buf(), ..ModelSettings::default() };
        for f in model.files() {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, b"x").unwrap();
        }
        assert_eq!(model_files(&model).state, ProbeState::Ok);
    }

    #[test]
    fn data_dir_is_created_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/data");
        assert_eq!(data_dir(&path).state, ProbeState::Ok);
        assert!(path.is_dir());
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(data_dir(&file.join("sub")).state, ProbeState::Unreachable);
    }

    #[test]
    fn unconfigured_services_say_so() {
        assert_eq!(redis(&CacheSettings::default(), T).state, ProbeState::NotConfigured);
        assert_eq!(postgres(&StoreSettings::default(), T).state, ProbeState::NotConfigured);
    }

    #[test]
    fn unreachable_services_are_reported_without_the_password() {
        let (_reserved, port) = image_chat_fixtures::refused_port();
        let cache = CacheSettings {
            redis_url: Some(Secret::new(format!("redis://:pw123@127.0.0.1:{port}"))),
            ..CacheSettings::default()
        };
        let probe = redis(&cache, T);
        assert_eq!(probe.state, ProbeState::Unreachable);
        assert!(!probe.detail.contains("pw123"), "{}", probe.detail);
        let store = StoreSettings {
            database_url: Some(Secret::new(format!("postgres://u:pw123@127.0.0.1:{port}/db"))),
            ..StoreSettings::default()
        };
        assert_eq!(postgres(&store, T).state, ProbeState::Unreachable);
    }

    #[test]
    fn a_listener_that_is_not_redis_is_unreachable_not_ok() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
        });
        let cache = CacheSettings {
            redis_url: Some(Secret::new(format!("redis://127.0.0.1:{port}"))),
            ..CacheSettings::default()
        };
        let probe = redis(&cache, T);
        server.join().unwrap();
        assert_eq!(probe.state, ProbeState::Unreachable);
        assert!(probe.detail.contains("unexpected reply"), "{}", probe.detail);
    }

    /// Runs against the Redis and PostgreSQL that `scripts/test.sh` starts.
    #[test]
    fn real_redis_and_postgres_answer_when_the_test_setup_started_them() {
        let (Ok(redis_url), Ok(pg_url)) =
            (std::env::var("IMAGE_CHAT_TEST_REDIS_URL"), std::env::var("IMAGE_CHAT_TEST_DATABASE_URL"))
        else {
            image_chat_fixtures::skip::skip(
                image_chat_fixtures::skip::Need::Service,
                "IMAGE_CHAT_TEST_REDIS_URL / IMAGE_CHAT_TEST_DATABASE_URL unset (scripts/test.sh starts both)",
            );
            return;
        };
        let cache = CacheSettings { redis_url: Some(Secret::new(redis_url)), ..CacheSettings::default() };
        let probe = redis(&cache, T);
        assert_eq!(probe.state, ProbeState::Ok, "{}", probe.detail);
        let store = StoreSettings { database_url: Some(Secret::new(pg_url)), ..StoreSettings::default() };
        let probe = postgres(&store, T);
        assert_eq!(probe.state, ProbeState::Ok, "{}", probe.detail);
    }
}
