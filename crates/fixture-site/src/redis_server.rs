//! A real `redis-server` process for tests that must stop and restart Redis (the shared one that
//! `scripts/test.sh` starts cannot be killed by one test). Loopback only, no persistence.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::free_port;

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

/// A Redis for a test: the one `scripts/test.sh` started (`IMAGE_CHAT_TEST_REDIS_URL`), else one
/// started here (kept alive by the returned server), else `None` after one printed line saying
/// why the test is skipped (a user's clone without redis-server; CI fails the skip instead).
pub fn url_or_skip() -> Option<(String, Option<RedisServer>)> {
    if let Ok(url) = std::env::var("IMAGE_CHAT_TEST_REDIS_URL") {
        return Some((url, None));
    }
    if !available() {
        crate::skip::skip(
            crate::skip::Need::Service,
            "no Redis: IMAGE_CHAT_TEST_REDIS_URL unset and redis-server not installed",
        );
        return None;
    }
    let server = RedisServer::start().expect("a redis-server of the test's own starts");
    Some((server.url(), Some(server)))
}

/// A Redis of the test's own, which it may kill and restart; `None` after one printed line when
/// redis-server is not installed (a user's clone; CI fails the skip instead).
pub fn own_or_skip() -> Option<RedisServer> {
    if !available() {
        crate::skip::skip(
            crate::skip::Need::Service,
            "redis-server is not installed (scripts/setup.sh --test installs it)",
        );
        return None;
    }
    Some(RedisServer::start().expect("redis-server starts"))
}

/// Whether `redis-server` can be run here.
pub fn available() -> bool {
    Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> std::io::Result<Self> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("image-chat-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self { child: None, port, dir };
        server.restart()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (as a crash would) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(std::io::Error::other(format!("redis-server did not start on port {}", self.port)))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
