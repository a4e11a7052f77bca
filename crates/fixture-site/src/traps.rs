//! Misbehaving endpoints under `/trap/`: what a crawler meets on the real web and must survive
//! with a recorded reason instead of hanging or running unbounded.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::stream;

/// Every trap, for the `/trap/` index page (which a crawl reaches from a generated site with
/// `traps` on) and the docs.
pub const TRAPS: &[(&str, &str)] = &[
    ("/trap/slow-headers?ms=30000", "answers after a long pause"),
    ("/trap/slow-body?chunks=60&ms=1000", "sends its body a little at a time"),
    ("/trap/redirect-loop/0", "redirects to a new URL forever"),
    ("/trap/redirect-cycle/a", "redirects a -> b -> a"),
    ("/trap/redirect-to-private", "redirects to the cloud metadata address 169.254.169.254"),
    ("/trap/huge?mb=64", "a 64 MB page with Content-Length"),
    ("/trap/huge-chunked?mb=64", "a 64 MB page without Content-Length"),
    ("/trap/wrong-type/image", "HTML labelled image/png"),
    ("/trap/wrong-type/binary", "binary bytes labelled text/html"),
    ("/trap/wrong-type/json", "JSON labelled application/json"),
    ("/trap/rate-limited/a?times=2&retry_after=1", "429 with Retry-After, then the page"),
    ("/trap/flaky/a?times=1", "503 with Retry-After, then the page"),
    ("/trap/status/500", "500 Internal Server Error"),
    ("/trap/status/404", "404 Not Found"),
    ("/trap/calendar/0", "an endless chain of calendar pages"),
    ("/trap/gzip", "a gzip-encoded page"),
    ("/trap/latin1", "an ISO-8859-1 page declared in the header"),
    ("/trap/meta-charset", "a windows-1252 page declared only in a meta tag"),
];

/// Per-key hit counters of the stateful traps.
#[derive(Default)]
pub struct TrapState {
    hits: Mutex<HashMap<String, u32>>,
}

impl TrapState {
    fn hit(&self, key: &str) -> u32 {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let n = hits.entry(key.to_string()).or_insert(0);
        *n += 1;
        *n
    }
}

fn param<T: std::str::FromStr>(query: Option<&str>, key: &str, default: T) -> T {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

fn html(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn page(title: &str, body: &str) -> String {
    format!("<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>")
}

fn redirect(status: StatusCode, to: &str) -> Response {
    (status, [(header::LOCATION, to)], "").into_response()
}

pub async fn handle(state: &TrapState, path: &str, query: Option<&str>) -> Response {
    let rest = path.trim_start_matches("/trap").trim_start_matches('/');
    let (name, arg) = rest.split_once('/').unwrap_or((rest, ""));
    match name {
        "" => {
            let items: String = TRAPS
                .iter()
                .map(|(href, what)| format!("<li><a href=\"{}\">{what}</a></li>", href.replace('&', "&amp;")))
                .collect();
            html(StatusCode::OK, page("Robustness traps", &format!("<ul>{items}</ul>")))
        }
        "slow-headers" => {
            let ms = param(query, "ms", 30_000u64).min(120_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            html(StatusCode::OK, page("Slow headers", "<img src=\"/img/trap-slow-800x600.jpg\" alt=\"a slow page\">"))
        }
        "slow-body" => {
            let chunks = param(query, "chunks", 60u32).min(10_000);
            let ms = param(query, "ms", 1_000u64).min(60_000);
            let body = stream::unfold(0u32, move |i| async move {
                if i > chunks {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                let chunk =
                    if i == 0 { "<!DOCTYPE html><html><body>".to_string() } else { format!("<p>chunk {i}</p>\n") };
                Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), i + 1))
            });
            html_stream(Body::from_stream(body), None)
        }
        "redirect-loop" => {
            let n: u64 = arg.parse().unwrap_or(0);
            redirect(StatusCode::FOUND, &format!("/trap/redirect-loop/{}", n.saturating_add(1)))
        }
        "redirect-to-private" => redirect(StatusCode::FOUND, "http://169.254.169.254/latest/meta-data/"),
        "redirect-cycle" => redirect(
            StatusCode::MOVED_PERMANENTLY,
            if arg == "a" { "/trap/redirect-cycle/b" } else { "/trap/redirect-cycle/a" },
        ),
        "huge" | "huge-chunked" => {
            let mb = param(query, "mb", 64u64).clamp(1, 1024);
            let total = mb * 1024 * 1024;
            let chunk = Bytes::from("<p>".to_string() + &"filler text ".repeat(5_460) + "</p>\n");
            let chunk_len = chunk.len() as u64;
            let n = total.div_ceil(chunk_len);
            let body = stream::iter((0..n).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            let length = (name == "huge").then_some(n * chunk_len);
            html_stream(Body::from_stream(body), length)
        }
        "wrong-type" => match arg {
            "image" => (
                [(header::CONTENT_TYPE, "image/png")],
                page("Not an image", "<img src=\"/img/trap-wrongtype-800x600.jpg\" alt=\"must not be parsed\">"),
            )
                .into_response(),
            "binary" => {
                let bytes: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
                ([(header::CONTENT_TYPE, "text/html")], bytes).into_response()
            }
            "json" => {
                ([(header::CONTENT_TYPE, "application/json")], "{\"images\": [\"/img/x-10x10.jpg\"]}").into_response()
            }
            _ => html(StatusCode::NOT_FOUND, page("No such trap", "")),
        },
        "rate-limited" | "flaky" => {
            let times = param(query, "times", if name == "flaky" { 1u32 } else { 2 });
            let retry_after = param(query, "retry_after", 1u32);
            if state.hit(&format!("{name}/{arg}")) <= times {
                let status =
                    if name == "flaky" { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::TOO_MANY_REQUESTS };
                let mut resp = html(status, page("Try again later", ""));
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                resp
            } else {
                let key = crate::site::esc(arg);
                html(
                    StatusCode::OK,
                    page(
                        "Finally",
                        &format!("<img src=\"/img/trap-{name}-{key}-800x600.jpg\" alt=\"patience rewarded\">"),
                    ),
                )
            }
        }
        "status" => {
            let status =
                arg.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok()).filter(|s| s.as_u16() >= 400);
            match status {
                Some(s) => html(s, page(s.canonical_reason().unwrap_or("Error"), "")),
                None => html(StatusCode::NOT_FOUND, page("No such status trap", "")),
            }
        }
        "calendar" => {
            let n: i64 = arg.parse().unwrap_or(0);
            let body = format!(
                "<a href=\"/trap/calendar/{}\">Previous month</a> <a href=\"/trap/calendar/{}\">Next month</a>\
                 <img src=\"/img/trap-calendar-{}-800x600.jpg\" alt=\"calendar month {n}\">",
                n.saturating_sub(1),
                n.saturating_add(1),
                n.rem_euclid(12)
            );
            html(StatusCode::OK, page(&format!("Calendar {n}"), &body))
        }
        "gzip" => {
            let body = page("Compressed", "<img src=\"/img/trap-gzip-800x600.jpg\" alt=\"a compressed page's image\">");
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(body.as_bytes()).expect("writing to a Vec cannot fail");
            let bytes = gz.finish().expect("writing to a Vec cannot fail");
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_ENCODING, "gzip")], bytes)
                .into_response()
        }
        "latin1" => {
            let mut bytes = b"<!DOCTYPE html><html><head><title>Caf".to_vec();
            bytes.extend_from_slice(b"\xe9</title></head><body><img src=\"/img/trap-latin1-800x600.jpg\" alt=\"caf\xe9 cr\xe8me\"></body></html>");
            ([(header::CONTENT_TYPE, "text/html; charset=iso-8859-1")], bytes).into_response()
        }
        "meta-charset" => {
            let mut bytes = b"<!DOCTYPE html><html><head><meta charset=\"windows-1252\"><title>Na".to_vec();
            bytes.extend_from_slice(b"\xefve</title></head><body><img src=\"/img/trap-meta-800x600.jpg\" alt=\"na\xefve \x93quoted\x94\"></body></html>");
            ([(header::CONTENT_TYPE, "text/html")], bytes).into_response()
        }
        _ => html(StatusCode::NOT_FOUND, page("No such trap", "")),
    }
}

fn html_stream(body: Body, length: Option<u64>) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Some(len) = length {
        resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}
