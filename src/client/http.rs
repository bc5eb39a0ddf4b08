//! The HTTP/1.1 client every measured request goes through.
//!
//! Why not a general-purpose client as is: a request's `sent` instant must be when its
//! first byte is written to the socket. Stamped earlier (when the request is handed to a
//! client library), everything the client does before writing — its own queue when 512
//! requests are handed over at once, picking a pooled connection, opening a new one —
//! lands inside TTFT and looks like server latency. So plain `http://` goes through
//! hyper's pooled client over a connector of ours whose sockets note the instant of the
//! first write after each response ([`Stamped`]); hyper hands that note back with the
//! response. Time between scheduling a request and its first write is the client's send
//! lag, reported apart (with connection set-up inside it, when a new connection was
//! opened).
//!
//! `https://` goes through reqwest (rustls); there `sent` is the instant the request is
//! handed over (client queueing and connection set-up fall inside TTFT): use plain HTTP
//! for sub-millisecond work.
//!
//! Settings for measuring: no proxy (a system proxy would sit in the timing path), Nagle
//! off, HTTP/1.1 only (one stream per connection, as engines serve it), and an idle pool
//! large enough to keep every concurrent connection warm.
//!
//! Keep-alive without failing healthy servers: a server may close an idle keep-alive
//! connection at any moment (its idle timeout, its per-connection request limit, or
//! simply after a streamed response, as llama-server does), and a request written onto
//! it just then dies with "connection closed before message completed" although the
//! server never saw it. So:
//! - idle connections are dropped before the usual server keep-alive timeout
//!   ([`IDLE_TIMEOUT`], below cpp-httplib's and uvicorn's 5 s), `Connection: close` is
//!   honoured, and so are `Keep-Alive: timeout=N` (kept idle at most [`idle_limit`]) and
//!   `max=M` (not reused after M requests);
//! - a request that dies on a *reused* connection before any byte of its response came
//!   back is sent once more on a new connection ([`HttpClient::send_noting_retry`]). Its
//!   `sent` is the retry's first write, so the lost time shows as send lag, never as TTFT;
//!   the retry is recorded ([`Retries`]). A request that fails after response bytes
//!   arrived, or on a fresh connection, is not retried: that is the server's failure.

use super::RequestError;
use crate::results::Retries;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{
    CaptureConnection, Connected, Connection, capture_connection,
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A response body from either transport.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Why a request got no response: [`RequestError::Connect`] when the connection could
/// not be opened, else [`RequestError::Transport`] (bad URL, connection dropped, ...).
fn send_error(connect: bool, e: &dyn std::error::Error) -> RequestError {
    if connect {
        RequestError::Connect(chain(e))
    } else {
        RequestError::Transport(chain(e))
    }
}

/// A response and the instant its request started leaving this process.
pub struct Sent {
    pub response: http::Response<Body>,
    /// When the request's first byte was written to the socket (plain HTTP), or when it
    /// was handed to the TLS client (HTTPS).
    pub sent: Instant,
    /// Whether `sent` is the socket write (true) or the hand-over (false).
    pub sent_is_write: bool,
}

/// The measuring client; cheap to clone (connections are shared).
#[derive(Clone)]
pub struct HttpClient {
    plain: Client<Connector, Full<Bytes>>,
    /// No pool: every request on a new connection (retries).
    fresh: Client<Connector, Full<Bytes>>,
    tls: reqwest::Client,
}

const USER_AGENT: &str = concat!("inferbench/", env!("CARGO_PKG_VERSION"));
/// How long a connection may sit idle in the pool: below the keep-alive timeout of the
/// servers engines are built on (cpp-httplib, so llama-server: 5 s,
/// `CPPHTTPLIB_KEEPALIVE_TIMEOUT_SECOND`; uvicorn, so vLLM and the PyTorch server: 5 s;
/// Node: 5 s), so that the pool does not hand out a connection the server is closing.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

impl HttpClient {
    /// A client that keeps up to `max_connections` idle connections per host warm (and
    /// may open more when more requests are in flight: an open loop).
    pub fn new(max_connections: usize) -> Result<Self, reqwest::Error> {
        Self::build(max_connections, Connector::default())
    }

    /// A client that never has more than `max_connections` plain-HTTP connections open
    /// (see [`Connector`]): for closed loops, whose requests in flight never exceed it. A
    /// retry's new connection (its dead one is gone) is not counted.
    pub fn capped(max_connections: usize) -> Result<Self, reqwest::Error> {
        Self::build(max_connections, Connector::capped(max_connections))
    }

    fn build(max_connections: usize, connector: Connector) -> Result<Self, reqwest::Error> {
        let plain = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_connections.max(1))
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        let fresh = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(Connector::default());
        let tls = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .http1_only()
            .pool_max_idle_per_host(max_connections.max(1))
            .pool_idle_timeout(IDLE_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()?;
        Ok(HttpClient { plain, fresh, tls })
    }

    /// This client with every plain-HTTP request on a new connection of its own (not
    /// counted by a cap): for a request sent again because its first attempt never left.
    pub fn fresh_only(&self) -> HttpClient {
        HttpClient {
            plain: self.fresh.clone(),
            fresh: self.fresh.clone(),
            tls: self.tls.clone(),
        }
    }

    /// Send `method url` with `headers` and `body`; the response head and when the
    /// request was sent. Retries as [`HttpClient::send_noting_retry`] does.
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(http::HeaderName, &str)],
        body: Bytes,
    ) -> Result<Sent, RequestError> {
        self.send_noting_retry(method, url, headers, body, &mut None, None)
            .await
    }

    /// [`HttpClient::send`], noting in `retries` when the request was sent a second time:
    /// its first attempt died on a reused keep-alive connection before any byte of the
    /// response came back (the server had closed the connection and never saw the
    /// request). The retry goes out once, on a new connection; the returned `sent` is its
    /// first write. Failures after response bytes arrived, or on a new connection, are
    /// returned as they are.
    pub async fn send_noting_retry(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(http::HeaderName, &str)],
        body: Bytes,
        retries: &mut Option<Retries>,
        conn: Option<&ConnWatch>,
    ) -> Result<Sent, RequestError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| RequestError::Transport(format!("invalid URL {url:?}: {e}")))?;
        if uri.scheme_str() == Some("https") {
            return self.send_tls(method, url, headers, body).await;
        }
        let build = || {
            let mut b = http::Request::builder()
                .method(method.clone())
                .uri(uri.clone())
                .header(http::header::USER_AGENT, USER_AGENT);
            for (k, v) in headers {
                b = b.header(k, *v);
            }
            b.body(Full::new(body.clone()))
                .map_err(|e| RequestError::Transport(format!("could not build the request: {e}")))
        };
        match send_plain(&self.plain, build()?, conn).await {
            Err(Failed { error, stale: true }) => {
                *retries = Some(Retries {
                    count: 1,
                    first_error: error.to_string(),
                });
                tracing::debug!("retrying on a new connection: {error}");
                send_plain(&self.fresh, build()?, conn)
                    .await
                    .map_err(|f| f.error)
            }
            done => done.map_err(|f| f.error),
        }
    }

    async fn send_tls(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(http::HeaderName, &str)],
        body: Bytes,
    ) -> Result<Sent, RequestError> {
        let mut r = self.tls.request(method, url).body(body);
        for (k, v) in headers {
            r = r.header(k, *v);
        }
        let handed = Instant::now();
        let response = r.send().await.map_err(|e| send_error(e.is_connect(), &e))?;
        let response: http::Response<reqwest::Body> = response.into();
        Ok(Sent {
            response: response.map(|b| b.map_err(BoxError::from).boxed_unsync()),
            sent: handed,
            sent_is_write: false,
        })
    }
}

/// Where a request in flight sits: the connection hyper chose for it, once chosen (plain
/// HTTP only). Shared with whoever watches the request ([`ConnWatch::state`]).
#[derive(Clone, Default)]
pub struct ConnWatch(Arc<Mutex<Option<CaptureConnection>>>);

impl ConnWatch {
    fn set(&self, capture: CaptureConnection) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(capture);
    }

    /// The connection's stamp, once the request has one.
    pub fn stamp(&self) -> Option<Stamp> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let meta = guard.as_ref()?.connection_metadata();
        let connected = meta.as_ref()?;
        let mut extras = http::Extensions::new();
        connected.get_extras(&mut extras);
        extras.get::<Stamp>().cloned()
    }

    /// What is known of the request's connection now.
    pub fn state(&self) -> ConnState {
        let Some(stamp) = self.stamp() else {
            return ConnState::default();
        };
        let (requests, answered) = stamp.exchanges();
        ConnState {
            chosen: true,
            ends: stamp.ends(),
            requests,
            answered,
            closed: stamp.is_closed(),
            idle_s: stamp.last_io().elapsed().as_secs_f64(),
        }
    }
}

/// A request's connection, as [`ConnWatch::state`] sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnState {
    /// hyper had picked (or opened) a connection for the request.
    pub chosen: bool,
    /// Its two ends (ours, the server's).
    pub ends: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
    /// Requests written on it so far, and how many got a response byte.
    pub requests: u64,
    pub answered: u64,
    pub closed: bool,
    /// Seconds since its last read or write.
    pub idle_s: f64,
}

impl ConnState {
    /// The request in flight was written (its first byte left) and no byte of its
    /// response came back.
    pub fn written_unanswered(&self) -> bool {
        self.chosen && self.requests > self.answered
    }
}

/// A plain-HTTP attempt that got no response.
struct Failed {
    error: RequestError,
    /// It died on a reused connection after being written, before any response byte.
    stale: bool,
}

/// One attempt over `client`; applies the response's keep-alive rules to its connection.
async fn send_plain(
    client: &Client<Connector, Full<Bytes>>,
    mut request: http::Request<Full<Bytes>>,
    conn: Option<&ConnWatch>,
) -> Result<Sent, Failed> {
    let handed = Instant::now();
    let capture = capture_connection(&mut request);
    if let Some(w) = conn {
        w.set(capture.clone());
    }
    let response = client.request(request).await.map_err(|e| Failed {
        error: send_error(e.is_connect(), &e),
        stale: !e.is_connect() && died_on_reused_connection(&e),
    })?;
    let stamp = response.extensions().get::<Stamp>().cloned();
    if let Some(stamp) = &stamp {
        apply_keep_alive(response.headers(), stamp, &capture);
    }
    let written = stamp.as_ref().and_then(Stamp::last);
    Ok(Sent {
        sent: written.unwrap_or(handed),
        sent_is_write: written.is_some(),
        response: response.map(|b| b.map_err(BoxError::from).boxed_unsync()),
    })
}

/// Whether a failed request had been written on a connection that had already served a
/// response, and no byte of its own response came back.
fn died_on_reused_connection(e: &hyper_util::client::legacy::Error) -> bool {
    let Some(info) = e.connect_info() else {
        return false;
    };
    let mut extras = http::Extensions::new();
    info.get_extras(&mut extras);
    extras.get::<Stamp>().is_some_and(|s| {
        let (requests, answered) = s.exchanges();
        requests > answered && answered >= 1
    })
}

/// What a response says about reusing its connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepAlive {
    /// `Connection: close`: the server closes it after this response.
    pub close: bool,
    /// `Keep-Alive: timeout=N`: how long the server keeps it open while idle.
    pub timeout: Option<Duration>,
    /// `Keep-Alive: max=M`: requests allowed on it (cpp-httplib sends its fixed
    /// per-connection limit; others send what is left; either way no more than M in all).
    pub max: Option<u64>,
}

/// Read the `Connection` and `Keep-Alive` header values of a response (pure).
pub fn parse_keep_alive(connection: Option<&str>, keep_alive: Option<&str>) -> KeepAlive {
    let close =
        connection.is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    let mut out = KeepAlive {
        close,
        ..KeepAlive::default()
    };
    for param in keep_alive.unwrap_or("").split(',') {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "timeout" => out.timeout = v.parse::<u64>().ok().map(Duration::from_secs),
            "max" => out.max = v.parse().ok(),
            _ => {}
        }
    }
    out
}

/// How long to keep a connection idle whose server keeps it `server` long: a second less
/// (half, under 2 s), and never longer than [`IDLE_TIMEOUT`].
pub fn idle_limit(server: Duration) -> Duration {
    let limit = if server >= Duration::from_secs(2) {
        server - Duration::from_secs(1)
    } else {
        server / 2
    };
    limit.min(IDLE_TIMEOUT)
}

/// Apply a response's keep-alive rules to its connection: poisoned (not reused once
/// this response is done) on `Connection: close` or when `max` requests were made on it;
/// with `timeout`, watched and poisoned once idle for [`idle_limit`].
fn apply_keep_alive(headers: &http::HeaderMap, stamp: &Stamp, capture: &CaptureConnection) {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let rules = parse_keep_alive(
        header(http::header::CONNECTION),
        header(http::HeaderName::from_static("keep-alive")),
    );
    if rules.close || rules.max.is_some_and(|m| stamp.exchanges().0 >= m) {
        if let Some(c) = capture.connection_metadata().as_ref() {
            c.poison();
        }
        return;
    }
    if let Some(t) = rules.timeout {
        stamp
            .0
            .idle_limit_ns
            .store(duration_ns(idle_limit(t)).max(1), Ordering::Relaxed);
        if !stamp.0.watched.swap(true, Ordering::Relaxed) {
            tokio::spawn(poison_when_idle(stamp.clone(), capture.clone()));
        }
    }
}

/// Poison the connection once it has seen no I/O for its idle limit; ends when the
/// connection is gone. A request that waits on a silent server longer than the limit
/// also counts as idle: its connection is then not reused (a reconnect, never a failure).
async fn poison_when_idle(stamp: Stamp, capture: CaptureConnection) {
    loop {
        if stamp.0.closed.load(Ordering::Relaxed) {
            return;
        }
        let limit = Duration::from_nanos(stamp.0.idle_limit_ns.load(Ordering::Relaxed));
        let due = stamp.last_io() + limit;
        if Instant::now() >= due {
            if let Some(c) = capture.connection_metadata().as_ref() {
                c.poison();
            }
            return;
        }
        tokio::time::sleep_until(due.into()).await;
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The instant every connection's last-I/O time is counted from.
fn io_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// An error and its causes on one line ("a: b: c").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s.push_str(": ");
            s.push_str(&c_s);
        }
        cur = c.source();
    }
    s
}

/// Opens plain TCP connections (Nagle off) that stamp each request's first write. With a
/// cap, at most that many of its connections are open at once: a connection holds a permit
/// until it is dropped, and opening one more waits for a permit.
///
/// Why a cap: hyper's pool races a new connection against an idle one coming back, and
/// keeps the loser open and idle. Against a server that serves each open connection with
/// a thread of its own until the connection closes (cpp-httplib, so llama-server, with
/// `--threads-http` threads), connections beyond its threads wait unserved: a request
/// written on one sits unread in the server's socket until some other connection closes,
/// which, in a closed loop that keeps every other connection busy, is the step's end. A
/// closed loop at concurrency N needs N connections, never more.
#[derive(Clone, Debug, Default)]
pub struct Connector {
    cap: Option<Arc<tokio::sync::Semaphore>>,
}

impl Connector {
    /// A connector that keeps at most `cap` connections open at once.
    pub fn capped(cap: usize) -> Connector {
        Connector {
            cap: Some(Arc::new(tokio::sync::Semaphore::new(cap.max(1)))),
        }
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Stamped>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stamped>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let cap = self.cap.clone();
        Box::pin(async move {
            let permit = match cap {
                Some(c) => Some(
                    c.acquire_owned()
                        .await
                        .map_err(|_| io::Error::other("connection cap closed"))?,
                ),
                None => None,
            };
            let host = uri
                .host()
                .ok_or_else(|| io::Error::other(format!("no host in {uri}")))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(80);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let mut stamped = Stamped::new(tcp, StampOn::FirstWriteAfterRead);
            stamped.permit = permit;
            Ok(TokioIo::new(stamped))
        })
    }
}

/// What a [`Stamped`] stream notes, shared with whoever reads it: the instant a request
/// started, how many requests started and how many got an answer, the last I/O, and
/// whether the stream is gone.
#[derive(Clone, Debug, Default)]
pub struct Stamp(Arc<StampShared>);

#[derive(Debug, Default)]
struct StampShared {
    exchange: Mutex<Exchange>,
    /// The connection's two ends (ours, the server's), when known.
    ends: OnceLock<(std::net::SocketAddr, std::net::SocketAddr)>,
    /// Last read or write, ns after [`io_epoch`].
    last_io_ns: AtomicU64,
    /// The stream was dropped.
    closed: AtomicBool,
    /// How long the connection may stay idle (ns; 0: no limit of its own).
    idle_limit_ns: AtomicU64,
    /// An idle watcher runs for it.
    watched: AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Exchange {
    last: Option<Instant>,
    /// Stamps taken: requests started (client) or taken in (server).
    stamps: u64,
    /// Stamps followed by I/O the other way: requests answered (client: at least one
    /// response byte came back).
    answered: u64,
}

impl Stamp {
    fn with<T>(&self, f: impl FnOnce(&mut Exchange) -> T) -> T {
        f(&mut self.0.exchange.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn set(&self, at: Instant) {
        self.with(|x| {
            x.last = Some(at);
            x.stamps += 1;
        });
    }

    fn answered(&self) {
        self.with(|x| x.answered += 1);
    }

    fn touch(&self) {
        let ns = duration_ns(Instant::now().saturating_duration_since(io_epoch()));
        self.0.last_io_ns.store(ns, Ordering::Relaxed);
    }

    /// The last instant noted, if any.
    pub fn last(&self) -> Option<Instant> {
        self.with(|x| x.last)
    }

    /// Requests started on the stream, and how many of them got I/O back (client: a
    /// response byte; server: the response's first write).
    pub fn exchanges(&self) -> (u64, u64) {
        self.with(|x| (x.stamps, x.answered))
    }

    /// The connection's local and remote addresses, when known.
    pub fn ends(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        self.0.ends.get().copied()
    }

    /// Whether the stream was dropped (the connection is closed).
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Relaxed)
    }

    /// The stream's last read or write (its creation if none yet).
    pub fn last_io(&self) -> Instant {
        io_epoch() + Duration::from_nanos(self.0.last_io_ns.load(Ordering::Relaxed))
    }
}

/// Which I/O a [`Stamped`] stream notes. With HTTP/1.1 and no pipelining, each marks one
/// request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StampOn {
    /// The first write after a read, just before the write: a client's request starts
    /// leaving.
    FirstWriteAfterRead,
    /// The first read after a write: a server takes a request in. On Linux the instant
    /// is the kernel's receive time of those bytes (SO_TIMESTAMPNS), so time a request
    /// waits in the socket while the server is busy counts from its arrival.
    FirstReadAfterWrite,
}

/// A TCP stream that notes the instant a request starts (see [`StampOn`]).
pub struct Stamped {
    tcp: tokio::net::TcpStream,
    stamp: Stamp,
    on: StampOn,
    /// The other direction was used since the last stamp (or nothing happened yet).
    armed: bool,
    /// Reads that stamp take the kernel's receive time (SO_TIMESTAMPNS).
    kernel_rx_time: bool,
    /// A capped [`Connector`]'s permit, given back when the stream is dropped.
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Stamped {
    /// Wrap `tcp`. A stream that stamps reads asks the kernel for receive timestamps
    /// (Linux), so that a request's arrival is when its bytes reached the socket, not
    /// when a busy server got round to reading them.
    pub fn new(tcp: tokio::net::TcpStream, on: StampOn) -> Self {
        let kernel_rx_time = on == StampOn::FirstReadAfterWrite && request_rx_timestamps(&tcp);
        let stamp = Stamp::default();
        stamp.touch();
        if let (Ok(local), Ok(peer)) = (tcp.local_addr(), tcp.peer_addr()) {
            let _ = stamp.0.ends.set((local, peer));
        }
        Stamped {
            tcp,
            stamp,
            on,
            armed: true,
            kernel_rx_time,
            permit: None,
        }
    }

    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }

    /// Keep `permit` until the stream is dropped (a server thread, a client's cap).
    pub fn hold(&mut self, permit: tokio::sync::OwnedSemaphorePermit) {
        self.permit = Some(permit);
    }

    /// Note an I/O in direction `this_is`; `at` is when it happened if known (else now).
    fn note(&mut self, this_is: StampOn, at: Option<Instant>) {
        self.stamp.touch();
        if self.on != this_is {
            if !self.armed {
                self.armed = true;
                self.stamp.answered();
            }
        } else if self.armed {
            self.armed = false;
            self.stamp.set(at.unwrap_or_else(Instant::now));
        }
    }

    /// A read through `recvmsg` that also takes the kernel's receive timestamp of the
    /// bytes (wall clock), turned into an `Instant` by its age now.
    #[cfg(target_os = "linux")]
    fn poll_read_kernel_time(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        use std::os::fd::AsRawFd;
        loop {
            std::task::ready!(self.tcp.poll_read_ready(cx))?;
            let fd = self.tcp.as_raw_fd();
            let dst = buf.initialize_unfilled();
            let got = self.tcp.try_io(tokio::io::Interest::READABLE, || {
                recv_with_kernel_time(fd, dst).map_err(io::Error::from)
            });
            match got {
                Ok((n, kernel)) => {
                    buf.advance(n);
                    if n > 0 {
                        let at = kernel.and_then(instant_of_wall_time);
                        self.note(StampOn::FirstReadAfterWrite, at);
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Ask the kernel to timestamp what `socket` receives (SO_TIMESTAMPNS; Linux only, else
/// false). The kernel switches receive timestamps on lazily, a moment after the first
/// socket asks: a server should ask on its listening socket, well before requests come
/// (accepted sockets inherit it).
pub fn request_rx_timestamps(socket: &impl std::os::fd::AsFd) -> bool {
    #[cfg(target_os = "linux")]
    {
        nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
            .is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        false
    }
}

/// `recvmsg` into `dst`: bytes read and the SCM_TIMESTAMPNS control message, if any.
#[cfg(target_os = "linux")]
fn recv_with_kernel_time(
    fd: std::os::fd::RawFd,
    dst: &mut [u8],
) -> nix::Result<(usize, Option<std::time::SystemTime>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut iov = [io::IoSliceMut::new(dst)];
    let mut space = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::empty())?;
    let stamp = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::ScmTimestampns(t) => Some(
                std::time::UNIX_EPOCH
                    + Duration::new(t.tv_sec().max(0) as u64, t.tv_nsec().max(0) as u32),
            ),
            _ => None,
        })
    });
    Ok((msg.bytes, stamp))
}

/// The `Instant` of a recent wall-clock time: now less its age. `None` when the time is
/// in the future or older than a second (a clock step, or not a receive time at all).
fn instant_of_wall_time(t: std::time::SystemTime) -> Option<Instant> {
    let (wall, mono) = (std::time::SystemTime::now(), Instant::now());
    let age = wall.duration_since(t).ok()?;
    if age > Duration::from_secs(1) {
        return None;
    }
    mono.checked_sub(age)
}

impl Drop for Stamped {
    fn drop(&mut self) {
        self.stamp.0.closed.store(true, Ordering::Relaxed);
    }
}

impl Connection for Stamped {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.stamp.clone())
    }
}

impl AsyncRead for Stamped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        #[cfg(target_os = "linux")]
        if this.kernel_rx_time && this.armed {
            return this.poll_read_kernel_time(cx, buf);
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.note(StampOn::FirstReadAfterWrite, None);
        }
        r
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.note(StampOn::FirstWriteAfterRead, None);
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.note(StampOn::FirstWriteAfterRead, None);
        Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sent_is_the_first_write_of_each_request_on_a_reused_connection() {
        // A server that answers each request only after a pause: the stamps of two
        // requests on one connection must each fall after their own hand-over.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/x",
            axum::routing::post(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                "ok"
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = HttpClient::new(1).unwrap();
        let url = format!("http://{addr}/x");
        let mut last_sent = None;
        for _ in 0..2 {
            let before = Instant::now();
            let s = http
                .send(http::Method::POST, &url, &[], Bytes::from_static(b"{}"))
                .await
                .unwrap();
            assert!(s.sent_is_write);
            assert!(
                s.sent >= before,
                "stamped before the request was handed over"
            );
            assert!(s.sent <= Instant::now());
            if let Some(prev) = last_sent {
                assert!(
                    s.sent > prev,
                    "the second request kept the first one's stamp"
                );
            }
            last_sent = Some(s.sent);
            let body = s.response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_read_stamp_is_the_kernel_arrival_not_the_late_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // As the mock does: ask on the listener, a moment before requests come.
        assert!(request_rx_timestamps(&listener));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let addr = listener.local_addr().unwrap();
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let mut server = Stamped::new(tcp, StampOn::FirstReadAfterWrite);
        let mut buf = [0u8; 64];
        for _ in 0..2 {
            let written = Instant::now();
            client.write_all(b"request").await.unwrap();
            // A busy server reads 50 ms later.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let n = server.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"request");
            let read_done = Instant::now();
            let at = server.stamp().last().unwrap();
            assert!(
                at >= written - Duration::from_millis(1)
                    && at < written + Duration::from_millis(25),
                "stamped {:?} after the write, the read ended {:?} after it",
                at.saturating_duration_since(written),
                read_done - written
            );
            // The answer re-arms the stamp for the next request.
            server.write_all(b"answer").await.unwrap();
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"answer");
        }
    }

    #[test]
    fn keep_alive_headers() {
        let k = parse_keep_alive(Some("keep-alive"), Some("timeout=5, max=100"));
        assert_eq!(
            k,
            KeepAlive {
                close: false,
                timeout: Some(Duration::from_secs(5)),
                max: Some(100)
            }
        );
        assert!(parse_keep_alive(Some("Close"), None).close);
        assert!(parse_keep_alive(Some("upgrade, close"), None).close);
        assert!(!parse_keep_alive(Some("closed"), None).close);
        let k = parse_keep_alive(None, Some(" Timeout = \"2\" ,MAX=x, other=1"));
        assert_eq!(k.timeout, Some(Duration::from_secs(2)));
        assert_eq!(k.max, None);
        assert_eq!(parse_keep_alive(None, None), KeepAlive::default());
    }

    #[test]
    fn idle_limit_stays_below_the_servers() {
        let s = Duration::from_secs;
        assert_eq!(idle_limit(s(5)), s(4));
        assert_eq!(idle_limit(s(2)), s(1));
        assert_eq!(idle_limit(s(1)), Duration::from_millis(500));
        assert_eq!(idle_limit(s(75)), IDLE_TIMEOUT);
        assert_eq!(idle_limit(Duration::ZERO), Duration::ZERO);
    }

    #[tokio::test]
    async fn connect_errors_are_told_apart() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let http = HttpClient::new(1).unwrap();
        let get = |url: String| {
            let http = http.clone();
            async move {
                http.send(http::Method::GET, &url, &[], Bytes::new())
                    .await
                    .err()
                    .expect("no server there")
            }
        };
        let e = get(format!("http://127.0.0.1:{port}/")).await;
        assert!(matches!(e, RequestError::Connect(_)), "{e:?}");
        let e = get("not a url".into()).await;
        assert!(matches!(e, RequestError::Transport(_)), "{e:?}");
    }
}
