//! The Chrome DevTools Protocol over `--remote-debugging-pipe`: Chromium reads commands from
//! its descriptor 3 and writes answers and events to its descriptor 4, each message one JSON
//! object ended by a NUL byte. A pipe, not a WebSocket on a port: nothing a page runs can reach
//! the browser's control channel, and no protocol crate (the generated types of every domain
//! took a quarter of the app's release build) is needed for the dozen commands used here.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

use super::RenderError;

/// A command unanswered after this long fails (the page's own budget is shorter).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest message read from the browser (a page's serialized DOM is the big one); past it the
/// connection is dropped, as a WebSocket client drops an oversized frame.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// Lines of the browser's stderr kept to explain a failed start.
const STDERR_LINES: usize = 12;

/// One event from the browser: `method` as the protocol names it, and its parameters.
#[derive(Debug)]
pub struct Event {
    pub method: String,
    pub params: Value,
}

type Answer = Result<Value, String>;

/// A connection to one browser process.
pub struct Connection {
    writer: tokio::sync::Mutex<ChildStdin>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    sessions: Mutex<HashMap<String, mpsc::UnboundedSender<Event>>>,
    next_id: AtomicU64,
    closed: AtomicBool,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Connection {
    /// Starts `executable` with `args` and the pipe, and waits until it answers (at most
    /// `timeout`). The process is killed when the returned `Child` is dropped.
    pub async fn launch(
        executable: &Path,
        args: &[String],
        timeout: Duration,
    ) -> Result<(Arc<Connection>, Child), RenderError> {
        // The shell moves the two pipe ends std gives a child (stdin, stdout) to the
        // descriptors Chromium reads (3, 4): no unsafe `pre_exec` needed.
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"exec 3<&0 4>&1 </dev/null >/dev/null; exec "$0" "$@""#)
            .arg(executable)
            .arg("--remote-debugging-pipe")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RenderError::Launch(format!("{}: {e}", executable.display())))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(RenderError::Launch("the browser's pipes were not opened".into()));
        };
        let connection = Arc::new(Connection {
            writer: tokio::sync::Mutex::new(stdin),
            pending: Mutex::default(),
            sessions: Mutex::default(),
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            stderr: Arc::default(),
        });
        tokio::spawn(keep_stderr(stderr, connection.stderr.clone()));
        tokio::spawn(read(stdout, Arc::downgrade(&connection)));
        let answered = tokio::time::timeout(timeout, connection.call(None, "Browser.getVersion", json!({}))).await;
        match answered {
            Ok(Ok(_)) => Ok((connection, child)),
            Ok(Err(e)) => Err(RenderError::Launch(format!("{e}{}", connection.stderr_tail()))),
            Err(_) => Err(RenderError::Launch(format!(
                "the browser did not answer within {timeout:?}{}",
                connection.stderr_tail()
            ))),
        }
    }

    /// The connection is gone (the browser exited or sent something unreadable).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Sends a command (to a page's session, or to the browser) and waits for its answer.
    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, RenderError> {
        if self.is_closed() {
            return Err(RenderError::Protocol(format!("{method}: the browser connection is closed")));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::String(session.to_string());
        }
        let mut bytes = serde_json::to_vec(&message).map_err(|e| RenderError::Protocol(e.to_string()))?;
        bytes.push(0);
        let written = {
            let mut writer = self.writer.lock().await;
            match writer.write_all(&bytes).await {
                Ok(()) => writer.flush().await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = written {
            lock(&self.pending).remove(&id);
            self.close();
            return Err(RenderError::Protocol(format!("{method}: writing to the browser: {e}")));
        }
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(RenderError::Protocol(format!("{method}: {e}"))),
            Ok(Err(_)) => Err(RenderError::Protocol(format!("{method}: the browser connection closed"))),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(RenderError::Protocol(format!("{method}: no answer within {CALL_TIMEOUT:?}")))
            }
        }
    }

    /// The events of one page's session, from now until it is detached or the browser goes.
    pub fn subscribe(&self, session: &str) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.is_closed() {
            lock(&self.sessions).insert(session.to_string(), tx);
        }
        rx
    }

    pub fn unsubscribe(&self, session: &str) {
        lock(&self.sessions).remove(session);
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        // Dropping the senders wakes every waiter with "closed".
        lock(&self.pending).clear();
        lock(&self.sessions).clear();
    }

    fn stderr_tail(&self) -> String {
        let lines = lock(&self.stderr);
        if lines.is_empty() {
            String::new()
        } else {
            format!(" (its last output: {})", lines.iter().cloned().collect::<Vec<_>>().join(" | "))
        }
    }

    fn dispatch(&self, message: Value) {
        if let Some(id) = message.get("id").and_then(Value::as_u64) {
            let Some(waiter) = lock(&self.pending).remove(&id) else { return };
            let answer = match message.get("error") {
                Some(error) => Err(error.get("message").and_then(Value::as_str).unwrap_or("error").to_string()),
                None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
            };
            let _ = waiter.send(answer);
            return;
        }
        let Some(method) = message.get("method").and_then(Value::as_str) else { return };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        match message.get("sessionId").and_then(Value::as_str) {
            Some(session) => {
                let mut sessions = lock(&self.sessions);
                if let Some(tx) = sessions.get(session)
                    && tx.send(Event { method: method.to_string(), params }).is_err()
                {
                    sessions.remove(session);
                }
            }
            None if method == "Target.detachedFromTarget" => {
                if let Some(session) = params.get("sessionId").and_then(Value::as_str) {
                    self.unsubscribe(session);
                }
            }
            None => {}
        }
    }
}

/// A page's session: the commands it takes and the value a script gives back.
#[derive(Clone)]
pub struct Session {
    pub connection: Arc<Connection>,
    pub id: String,
}

impl Session {
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RenderError> {
        self.connection.call(Some(&self.id), method, params).await
    }

    /// Runs `expression` in the page (awaiting a promise it returns) and reads its value.
    pub async fn evaluate<T: DeserializeOwned>(&self, expression: &str) -> Result<T, RenderError> {
        let answer = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }))
            .await?;
        if let Some(exception) = answer.get("exceptionDetails") {
            let text = exception
                .pointer("/exception/description")
                .or_else(|| exception.get("text"))
                .and_then(Value::as_str)
                .unwrap_or("an exception");
            return Err(RenderError::Protocol(format!("the page's script threw: {text}")));
        }
        let value = answer.pointer("/result/value").cloned().unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|e| RenderError::Protocol(format!("an unexpected value: {e}")))
    }
}

/// Reads NUL-ended messages until the pipe closes, or a message is too large to be one.
async fn read(stdout: impl AsyncRead + Unpin, connection: std::sync::Weak<Connection>) {
    let mut reader = BufReader::with_capacity(256 * 1024, stdout);
    let mut message = Vec::new();
    loop {
        let (done, used) = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => match memchr::memchr(0, chunk) {
                Some(end) => {
                    message.extend_from_slice(&chunk[..end]);
                    (true, end + 1)
                }
                None => {
                    message.extend_from_slice(chunk);
                    (false, chunk.len())
                }
            },
        };
        reader.consume(used);
        if message.len() > MAX_MESSAGE {
            tracing::warn!("chromium: a protocol message over {MAX_MESSAGE} bytes; the connection is dropped");
            break;
        }
        if !done {
            continue;
        }
        let Some(connection) = connection.upgrade() else { return };
        match serde_json::from_slice::<Value>(&message) {
            Ok(value) => connection.dispatch(value),
            Err(e) => tracing::debug!("chromium: an unreadable protocol message: {e}"),
        }
        message.clear();
    }
    if let Some(connection) = connection.upgrade() {
        connection.close();
    }
}

async fn keep_stderr(stderr: impl AsyncRead + Unpin, kept: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut kept = lock(&kept);
        if kept.len() == STDERR_LINES {
            kept.pop_front();
        }
        kept.push_back(line.chars().take(300).collect());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
#[path = "cdp_tests.rs"]
mod tests;
