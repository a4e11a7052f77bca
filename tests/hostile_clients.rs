//! Hostile clients against the real server: every JSON route answers errors in the API's shape
//! whatever layer refuses the request, half-sent requests are disconnected, one address cannot
//! hold every connection, and `/health` is answered while the server is full.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{TestApp, data_dir, spawn_in};
use serde_json::Value;

/// Sends raw bytes and reads the answer (status line, and the body when there is one).
fn raw(app: &TestApp, request: &[u8]) -> (u16, String, Value) {
    let mut s = TcpStream::connect(app.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), serde_json::from_str(body.trim()).unwrap_or(Value::Null))
}

fn assert_api_error(status: u16, head: &str, body: &Value, want: u16, code: &str) {
    assert_eq!(status, want, "{head}\n{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_on_an_api_route_is_json_with_a_4xx() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |_| {}).await;
    let app = std::sync::Arc::new(app);
    let a = app.clone();
    tokio::task::spawn_blocking(move || {
        let app = &*a;
        // A body over the limit, refused by the body-size layer before any handler.
        let body = "a".repeat(200 * 1024);
        let request = format!(
            "POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, head, json) = raw(app, request.as_bytes());
        assert_api_error(status, &head, &json, 413, "too_large");
        // Headers over the limit.
        let request = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "a".repeat(100_000));
        let (status, head, json) = raw(app, request.as_bytes());
        assert_api_error(status, &head, &json, 431, "headers_too_large");
        // A path segment that is not UTF-8, and paths no route has.
        let (status, head, json) = raw(app, b"GET /crawl/%ff/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_api_error(status, &head, &json, 400, "invalid_request");
        for path in ["/crawl/a/b/status", "/api/no_such_function", "/crawl/0123456789abcdef/status/extra"] {
            let (status, head, json) =
                raw(app, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
            assert_api_error(status, &head, &json, 404, "not_found");
        }
        // A method the route does not take.
        let (status, head, json) = raw(app, b"PUT /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert_api_error(status, &head, &json, 405, "method_not_allowed");
    })
    .await
    .unwrap();

    // The server functions answer as their REST twins do: 4xx and the same JSON.
    for (path, body, want, code) in [
        ("/api/session", r#"{"id": "nope"}"#, 404, "not_found"),
        ("/api/session", r#"{"id": "0123456789abcdef"}"#, 404, "not_found"),
        ("/api/chat", r#"{"request": {"message": ""}}"#, 400, "invalid_request"),
        ("/api/chat", r#"{"wrong": 1}"#, 400, "invalid_request"),
        ("/api/start_crawl", r#"{"form": {"url": "ftp://x"}}"#, 400, "invalid_request"),
        ("/api/cancel_crawl", r#"{"id": "0123456789abcdef"}"#, 404, "not_found"),
    ] {
        let res =
            app.client.post(app.url(path)).header("content-type", "application/json").body(body).send().await.unwrap();
        let status = res.status().as_u16();
        let json: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!((status, json["error"]["code"].as_str()), (want, Some(code)), "{path} {body}: {json}");
    }
    // A page path is still a page.
    let res = app.client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

/// Whether the server closed the connection (a read returns nothing, or an error) in time.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return true,
            // hyper may say 408 first; the close follows.
            Ok(_) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_disconnected_and_health_is_answered_while_the_server_is_full() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |s| {
        s.server.header_read_timeout_ms = 500;
        s.server.max_connections = 8;
    })
    .await;
    let addr = app.addr;
    tokio::task::spawn_blocking(move || {
        // Eight half-sent requests fill the server.
        let mut held: Vec<TcpStream> = (0..8)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
                s
            })
            .collect();
        // Full: /health is still answered, other routes say so.
        let health = |path: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer
        };
        assert!(health("/health").starts_with("HTTP/1.1 200"), "health while full");
        let busy = health("/sessions");
        assert!(busy.starts_with("HTTP/1.1 503") && busy.contains("at_capacity"), "{busy}");
        // The half-sent ones are let go after the header deadline, and room comes back.
        let started = Instant::now();
        for s in &mut held {
            assert!(closed_within(s, Duration::from_secs(10)), "a half-sent request was kept open");
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !health("/sessions").starts_with("HTTP/1.1 200") {
            assert!(Instant::now() < deadline, "the server never had room again");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |s| s.server.max_connections_per_client = 4).await;
    let addr = app.addr;
    tokio::task::spawn_blocking(move || {
        let _held: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
                s
            })
            .collect();
        // The fifth from the same address is closed at once, unanswered.
        let mut fifth = TcpStream::connect(addr).unwrap();
        let _ = fifth.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(closed_within(&mut fifth, Duration::from_secs(5)));
        let mut answer = String::new();
        let _ = fifth.read_to_string(&mut answer);
        assert!(answer.is_empty(), "{answer}");
    })
    .await
    .unwrap();
}
