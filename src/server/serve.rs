//! The accept loop: HTTP/1 and HTTP/2 on each connection, with the limits a hostile client
//! meets — a deadline for a request's headers (a slowloris is disconnected), a cap on the
//! connections one address may hold, and a global cap kept below the file-descriptor limit.
//! Past the global cap a small reserve of connections is still let in, on a short deadline,
//! to answer `/health` and tell everyone else that the server is at capacity.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use super::error::ApiError;
use image_chat_core::config::ServerSettings;

/// Connections let in past the global cap to answer `/health` (and 503 to the rest).
const RESERVE: usize = 32;
/// Headers of a connection let in on the reserve must come this fast.
const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// hyper's own buffer for a request's head; what is larger than `max_header_bytes` but fits
/// here is answered 431 in the API's shape (beyond it hyper answers a bare 431 itself).
const HEAD_BUFFER: usize = 1024 * 1024;
/// How long open connections may take to finish once the server is told to stop.
const DRAIN: Duration = Duration::from_secs(10);

/// Open connections per client address.
#[derive(Default)]
struct PerClient(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted against its client; uncounted when dropped.
struct ClientSlot {
    clients: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot { clients: self.clone(), ip })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.clients.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What a connection let in on the reserve answers: `/health` as usual, 503 to anything else.
fn reserve_router(app: Router) -> Router {
    Router::new().route("/health", axum::routing::get_service(app)).fallback(|| async {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "at_capacity",
            "the server holds as many connections as it may; try again shortly",
        );
        e.retry_after = Some(5);
        e.into_response()
    })
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish (for
/// at most a few seconds).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ServerSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let regular = Arc::new(Semaphore::new(limits.max_connections));
    let reserve = Arc::new(Semaphore::new(RESERVE));
    let clients = Arc::new(PerClient::default());
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let reserve_app = reserve_router(app.clone());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken: go on.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = clients.take(peer.ip(), limits.max_connections_per_client) else {
            tracing::debug!(client = %peer.ip(), "too many connections from one address; refused");
            continue;
        };
        let (permit, router, timeout) = match regular.clone().try_acquire_owned() {
            Ok(p) => (p, app.clone(), header_timeout),
            Err(_) => match reserve.clone().try_acquire_owned() {
                Ok(p) => (p, reserve_app.clone(), RESERVE_HEADER_TIMEOUT.min(header_timeout)),
                Err(_) => continue,
            },
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(timeout).max_buf_size(HEAD_BUFFER);
        builder.http2().timer(TokioTimer::new());
        let service = router.map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection =
            builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            let _held: (OwnedSemaphorePermit, ClientSlot) = (permit, slot);
            if let Err(e) = connection.await {
                tracing::debug!(client = %peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("some connections were still open {} s after the stop; closed", DRAIN.as_secs());
    }
    Ok(())
}

/// Middleware: a request whose headers are larger than `server.max_header_bytes` is answered 431
/// (in the API's shape on its paths).
pub async fn limit_headers(
    axum::extract::State(max): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let size: usize = request.headers().iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    if size > max {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request's headers are {size} bytes; the limit is {max}"),
        )
        .into_response();
    }
    next.run(request).await
}
