//! The HTTP side: health, readiness and Prometheus metrics for the operator, and the server
//! that every route runs in, with its time-outs, body limit and connection cap (the WhatsApp
//! webhook must face the internet). The webhook and the API join the routers in `service`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// True while every part of the queue runs.
    pub queue_running: Arc<AtomicBool>,
    /// The official warnings feed, when it is on: shown, never a reason to be unready (the
    /// city's own broadcasts go on while the federal API is down).
    pub warnings: Option<Arc<crate::warnings::FeedHealth>>,
    /// The roles this instance runs and whether it holds each (several instances on one
    /// database): shown, never a reason to be unready, since a standby is ready to take over.
    pub roles: Option<Arc<crate::roles::Roles>>,
}

/// Health, readiness and metrics on one router.
pub fn router(state: AppState) -> Router {
    health().merge(operator(state))
}

/// `/healthz`: the process answers. Served on every listener.
pub fn health() -> Router {
    Router::new().route("/healthz", get(|| async { "ok" }))
}

/// `/readyz` and `/metrics`: for the operator, on the admin listener when there is one.
pub fn operator(state: AppState) -> Router {
    Router::new()
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The process's Prometheus recorder, installed on first use.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("amtsbote_send_seconds".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: no recorder could be installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Prometheus text: counters from the lanes, and the gauges housekeeping keeps current. A
/// scrape asks the database nothing: the lanes need its connections more.
/// Labels are channels, topics, priorities and outcomes only: never an address or a token.
async fn metrics() -> (StatusCode, String) {
    match metrics_handle() {
        Some(handle) => (StatusCode::OK, handle.render()),
        None => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
    }
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let database = state.store.ping().await;
    let queue = state.queue_running.load(Ordering::SeqCst);
    let ok = database.is_ok() && queue;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if let Err(e) = &database {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    let mut detail = json!({"database": database.is_ok(), "queue": queue});
    if let Some(w) = &state.warnings {
        detail["warnings"] = w.detail();
    }
    if let Some(roles) = &state.roles {
        detail["instance"] = json!(roles.instance());
        detail["roles"] = json!(roles.held());
    }
    (status, Json(detail))
}

/// How the HTTP side guards itself: it faces the internet (Meta must reach the webhook), so a
/// client that opens connections and sends nothing, or half a request, must not use up the
/// file descriptors the lanes and the database need.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A connection that has not sent a request's headers within this is closed (the time runs
    /// from the connection's start, and again after each answer while it is kept alive).
    pub header_read: Duration,
    /// Reading the body and answering must end within this, else 408.
    pub request: Duration,
    /// Connections open at once; at the cap, the oldest connection that is not in the middle of
    /// a request makes room for a new one, else the oldest still reading a request's body.
    pub max_connections: usize,
    /// Connections open at once from one address (0: no cap, for a listener behind a reverse
    /// proxy that buffers bodies, where every connection comes from the proxy).
    pub max_connections_per_ip: usize,
    /// A request body must arrive at this many bytes per second at least, counted from one
    /// second after the request began; slower, it is cut with 408 (0: no minimum).
    pub min_body_rate: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: Duration::from_secs(5),
            request: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_ip: 64,
            min_body_rate: 1024,
        }
    }
}

/// How long a body may take before the minimum rate counts: the first packet's round trip.
const BODY_GRACE: Duration = Duration::from_secs(1);

/// A request body that must keep arriving at `min_rate` bytes per second after `BODY_GRACE`:
/// a client that trickles a large body would otherwise hold a connection for the whole
/// request time-out and, with many of them, every connection the server has.
struct Paced<B> {
    inner: B,
    started: tokio::time::Instant,
    received: u64,
    min_rate: u64,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// Set when the body was cut: the answer becomes 408.
    cut: Arc<AtomicBool>,
    /// The connection, told while the body is still being read.
    conn: Arc<Connection>,
    reading: bool,
}

impl<B> Paced<B> {
    fn new(inner: B, min_rate: u64, cut: Arc<AtomicBool>, conn: Arc<Connection>) -> Self {
        let started = tokio::time::Instant::now();
        conn.reading_body.fetch_add(1, Ordering::SeqCst);
        Paced {
            inner,
            started,
            received: 0,
            min_rate,
            deadline: Box::pin(tokio::time::sleep_until(started + BODY_GRACE)),
            cut,
            conn,
            reading: true,
        }
    }

    /// When the body must have grown past what it has now.
    fn due(&self) -> tokio::time::Instant {
        let per_byte = 1.0 / self.min_rate.max(1) as f64;
        self.started + BODY_GRACE + Duration::from_secs_f64(self.received as f64 * per_byte)
    }

    fn done_reading(&mut self) {
        if std::mem::take(&mut self.reading) {
            self.conn.reading_body.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl<B> Drop for Paced<B> {
    fn drop(&mut self) {
        self.done_reading();
    }
}

impl<B> hyper::body::Body for Paced<B>
where
    B: hyper::body::Body<Data = axum::body::Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if this.min_rate > 0 {
                        let due = this.due();
                        this.deadline.as_mut().reset(due);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done_reading();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.done_reading();
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.min_rate > 0 && this.deadline.as_mut().poll(cx).is_ready() {
                    this.cut.store(true, Ordering::SeqCst);
                    this.done_reading();
                    tracing::info!(
                        received = this.received,
                        min_rate = this.min_rate,
                        "HTTP: a request body arrived too slowly; cut with 408"
                    );
                    metrics::counter!("amtsbote_http_slow_bodies_total").increment(1);
                    return Poll::Ready(Some(Err("the request body arrived too slowly".into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The largest request body on any route but an upload (the webhook's limit; an API request is
/// far smaller).
pub const MAX_BODY: usize = 1024 * 1024;

/// The routes that take a picture or document: their bodies may be as large as the largest
/// medium (`domain::media::upload_max`) plus the multipart framing.
pub const UPLOAD_PATHS: [&str; 2] = ["/api/v1/media", "/dashboard/media"];

/// The largest body of an upload route.
pub fn max_upload_body() -> usize {
    usize::try_from(crate::domain::media::upload_max()).unwrap_or(usize::MAX) + 64 * 1024
}

/// The body limit of `path`: [`MAX_BODY`], more on an upload route. A body announced larger
/// is refused with 413 before it is read, a longer one is cut where it passes the limit.
async fn limit_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let upload = UPLOAD_PATHS.contains(&request.uri().path());
    let max = if upload { max_upload_body() } else { MAX_BODY };
    let announced = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        if upload {
            use crate::domain::media::{MediaKind, binding_limit, human_size, platform_name};
            let (limit, platform) = binding_limit(MediaKind::Document);
            let error = format!(
                "the upload is larger than {}, the most {} takes for a document",
                human_size(limit),
                platform_name(platform)
            );
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(serde_json::json!({"error": error, "field": "file"})),
            )
                .into_response();
        }
        return (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
    }
    let request =
        request.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, max)));
    next.run(request).await
}

/// How many connections fit beside what the rest of the process needs: the open-file limit
/// less `reserved` descriptors (database, lanes, logs), at least 16, at most `wanted`. Raises
/// the soft open-file limit to the hard one first, as systemd expects of a server.
pub fn connections_within_fd_limit(wanted: usize, reserved: u64) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit = raised,
            Err(e) => tracing::debug!(error = %e, "cannot raise the open-file limit"),
        }
    }
    let Some(files) = limit.current else {
        return wanted;
    };
    let fit = usize::try_from(files.saturating_sub(reserved)).unwrap_or(usize::MAX);
    let cap = wanted.min(fit).max(16);
    if cap < wanted {
        tracing::warn!(
            open_files = files,
            reserved,
            connections = cap,
            "the open-file limit allows fewer HTTP connections than http.max_connections; raise LimitNOFILE"
        );
    }
    cap
}

/// The open connections, oldest first, and whether each is answering a request right now.
#[derive(Default)]
struct Connections {
    next: AtomicU64,
    open: Mutex<Open>,
    closed: Notify,
}

#[derive(Default)]
struct Open {
    by_id: BTreeMap<u64, Arc<Connection>>,
    /// Open connections per client address.
    per_ip: std::collections::HashMap<std::net::IpAddr, usize>,
}

struct Connection {
    ip: std::net::IpAddr,
    in_request: AtomicUsize,
    /// Requests of this connection whose body is still being read.
    reading_body: AtomicUsize,
    evicted: AtomicBool,
    evict: Notify,
}

/// Marks a connection as answering a request while it lives.
struct InRequest(Arc<Connection>);

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.in_request.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connections {
    /// Takes in a connection from `ip`, unless that address has `per_ip` open already (0: no
    /// cap).
    fn add(&self, ip: std::net::IpAddr, per_ip: usize) -> Option<(u64, Arc<Connection>)> {
        let mut open = self.lock();
        let from_ip = open.per_ip.entry(ip).or_default();
        if per_ip > 0 && *from_ip >= per_ip {
            return None;
        }
        *from_ip += 1;
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let c = Arc::new(Connection {
            ip,
            in_request: AtomicUsize::new(0),
            reading_body: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        });
        open.by_id.insert(id, c.clone());
        Some((id, c))
    }

    fn remove(&self, id: u64) {
        {
            let mut open = self.lock();
            if let Some(c) = open.by_id.remove(&id)
                && let Some(n) = open.per_ip.get_mut(&c.ip)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.per_ip.remove(&c.ip);
                }
            }
        }
        self.closed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections not told to close yet.
    fn live(&self) -> usize {
        self.lock()
            .by_id
            .values()
            .filter(|c| !c.evicted.load(Ordering::SeqCst))
            .count()
    }

    /// Closes the oldest connection that waits for a request (sends its headers slowly, or
    /// idles between requests), or else the oldest still reading a request's body (a request
    /// whose body has arrived is answered in milliseconds: a new connection, a webhook perhaps,
    /// goes before a body that trickles); false when every one is being answered.
    fn evict_oldest_waiting(&self) -> bool {
        let open = self.lock();
        let live = || {
            open.by_id
                .values()
                .filter(|c| !c.evicted.load(Ordering::SeqCst))
        };
        let oldest = live()
            .find(|c| c.in_request.load(Ordering::SeqCst) == 0)
            .or_else(|| live().find(|c| c.reading_body.load(Ordering::SeqCst) > 0));
        match oldest {
            Some(c) => {
                c.evicted.store(true, Ordering::SeqCst);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }

    async fn until_empty(&self) {
        loop {
            let closed = self.closed.notified();
            if self.lock().by_id.is_empty() {
                return;
            }
            closed.await;
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, within `limits`: headers must come within
/// `header_read`, a request ends within `request`, bodies are at most [`MAX_BODY`], and at most
/// `max_connections` are open. Connections the process could not accept for want of file
/// descriptors make room by closing the oldest waiting one.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let app = router.layer(axum::middleware::from_fn(limit_body)).layer(
        tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request,
        ),
    );
    let connections = Arc::new(Connections::default());
    let mut refused_at: Option<std::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_out_of_files(&e) => {
                // Log once a minute at most: a flood would fill the log.
                if refused_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(error = %e, "HTTP: out of file descriptors; closing the oldest waiting connection");
                    refused_at = Some(std::time::Instant::now());
                }
                if !connections.evict_oldest_waiting() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                } else {
                    // The evicted connection's task closes it; let it run.
                    tokio::task::yield_now().await;
                }
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "HTTP: a connection could not be accepted");
                continue;
            }
        };
        if connections.live() >= limits.max_connections && !connections.evict_oldest_waiting() {
            drop(stream); // every connection is answering a request: this one waits its turn
            continue;
        }
        let Some((id, conn)) = connections.add(peer.ip(), limits.max_connections_per_ip) else {
            // Its address has its share open: one client cannot take every connection.
            metrics::counter!("amtsbote_http_connections_refused_total", "reason" => "per_address")
                .increment(1);
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let min_body_rate = limits.min_body_rate;
        let tracked = {
            let conn = conn.clone();
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                // Where the request came from, for limits per client (`ConnectInfo`).
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                conn.in_request.fetch_add(1, Ordering::SeqCst);
                let busy = InRequest(conn.clone());
                let cut = Arc::new(AtomicBool::new(false));
                let req =
                    req.map(|body| Paced::new(body, min_body_rate, cut.clone(), conn.clone()));
                let answer = hyper::service::Service::call(&service, req);
                async move {
                    let answered = answer.await;
                    drop(busy);
                    if cut.load(Ordering::SeqCst) {
                        // Whatever the route made of the cut body: 408, and the connection
                        // closes (the rest of the body is not waited for).
                        let mut timeout = axum::response::Response::new(axum::body::Body::empty());
                        *timeout.status_mut() = StatusCode::REQUEST_TIMEOUT;
                        timeout.headers_mut().insert(
                            axum::http::header::CONNECTION,
                            axum::http::HeaderValue::from_static("close"),
                        );
                        return Ok(timeout);
                    }
                    answered
                }
            })
        };
        let (connections, shutdown, header_read) =
            (connections.clone(), shutdown.clone(), limits.header_read);
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_read);
            let served = http.serve_connection(TokioIo::new(stream), tracked);
            tokio::pin!(served);
            tokio::select! {
                done = served.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(error = %e, "HTTP connection ended");
                    }
                }
                _ = conn.evict.notified() => {} // dropped: the socket closes
                _ = shutdown.cancelled() => {
                    served.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(10), served).await;
                }
            }
            connections.remove(id);
        });
    }
    // Answers in flight finish (each connection closes after its answer, within ten seconds).
    let _ = tokio::time::timeout(Duration::from_secs(11), connections.until_empty()).await;
    Ok(())
}

/// The process or the system has no file descriptor left for a new connection.
fn is_out_of_files(e: &std::io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(rustix::io::Errno::MFILE.raw_os_error())
        || code == Some(rustix::io::Errno::NFILE.raw_os_error())
}

/// The client a request came from: the connection's address, or, when that is a trusted
/// proxy, the last address in `X-Forwarded-For` that is not itself a trusted proxy (those
/// before it are the client's to make up). An IPv6 client counts by its /64, which one
/// home or server has to itself.
pub fn client_address(
    trusted_proxies: &[IpAddr],
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> IpAddr {
    let Some(peer) = peer.map(|p| p.ip().to_canonical()) else {
        return IpAddr::from([0, 0, 0, 0]);
    };
    let mut client = peer;
    if trusted_proxies.contains(&peer) {
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in forwarded.iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !trusted_proxies.contains(&ip) {
                break;
            }
        }
    }
    match client {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// One address of `X-Forwarded-For`: an IP, possibly with a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}
