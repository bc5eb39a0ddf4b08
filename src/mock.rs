//! A synthetic OpenAI-compatible engine with scripted timing and faults.
//!
//! Tests use it to check the client's numbers against known truth, and a user can use it
//! to check that the client has headroom (`inferbench mock-engine`).
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/completions` (streaming SSE or one JSON
//! body), `GET /v1/models`, `GET /health`.
//!
//! Timing. Every deadline is absolute from the request's arrival instant `a` (when its
//! bytes were read from the socket, see [`StampingListener`]): token `i`
//! (0-based) is due at `a + slowdown·(ttft + i·itl)`, and a chunk of `tokens_per_chunk`
//! tokens is sent when its last token is due. Late wake-ups therefore never accumulate
//! into drift. Deadlines are kept by [`crate::timer`] (tokio's timer rounds up to whole
//! milliseconds, which would bias TTFT by up to 1 ms); with `--busy-poll` the mock spins
//! on its core instead of sleeping, so neither a wake-up nor a thread hop delays a token.
//! Chunks already due when the stream is polled are coalesced into one write, as a busy
//! server would. The mock keeps count of how late it was (the instant a chunk is handed to
//! the connection minus its due instant) and prints it when it stops: a client's timing
//! error against the mock is then what remains after the mock's own lateness.
//!
//! Streaming order (chat): a role-only chunk at arrival, content chunks, a chunk with
//! `finish_reason`, a usage-only chunk with `"choices":[]` (unless `no_usage`), then
//! `data: [DONE]`. The output length is `min(tokens, max_tokens or
//! max_completion_tokens of the request)`; `prompt_tokens` is a synthetic estimate
//! (prompt bytes / 4).
//!
//! Slowing down (`--slowdown F`, `--slowdown-per-request P`): the k-th completion
//! request (0-based, counted from the mock's start, warm-ups included) has its deadlines
//! scaled by F·(1 + P)^k, so each request is P slower than the one before: a synthetic
//! engine that drifts, as a laptop heating up does.
//!
//! Prefill (`--prefill-ms-per-token X`): every deadline of a request moves X ms later per
//! word of its prompt (whitespace-separated, over every message or the prompt text), so
//! TTFT = ttft + X · words. The synthetic workloads' prompts are words of one token each
//! in the tokenizers we use, so X is the time per prompt token that
//! `--sweep input:…` should find (the chat template's own tokens have no words: they go
//! into the fixed overhead).
//!
//! Faults, applied to every `fault_every`-th request: `http500` answers 500; `truncate`
//! drops the connection half way (no finish, no `[DONE]`); `garbage` sends a non-JSON
//! data line in place of the first content chunk; `stall` sends the first token and then
//! only `:` heartbeats, until the client gives up; `burst` holds every content chunk back
//! and writes them all at once when the last token is due (as a slow back end or a
//! buffering proxy does), so TTFT ≈ E2E ≈ the scripted total and the stream carries no
//! decode timing.
//!
//! Reasoning (`--reasoning N`, chat only): the first N tokens of a reply are streamed as
//! `delta.reasoning_content` (no chunk mixes the two), the rest as `delta.content`; they
//! count in `completion_tokens`, and usage says `completion_tokens_details.reasoning_tokens`.
//!
//! Capacity (`--capacity N`), a deterministic model of a server with N slots whose queue
//! drains one response at a time: a request that arrives while k ≥ N other streams are in
//! flight starts (k − N + 1) scripted response times (TTFT + all its tokens) late, so the
//! wait is in its TTFT. Below N nothing changes. It does not depend on how the streams'
//! phases line up (a real queue behind N slots does: staggered streams free a slot every
//! response time ÷ N), so a test knows the concurrency at which it degrades. A stream stops
//! counting when its last chunk (`[DONE]`) is handed over, before the client can send its
//! next request.
//!
//! Scale: a response body is a lazily polled stream of `Bytes` driven by hyper's
//! connection task: no task or channel per token, so 10,000 concurrent streams cost one
//! connection task each.

use crate::cli::{Fault, MockArgs};
use crate::client::http::{Stamp, StampOn, Stamped};
use crate::error::UserError;
use crate::timer::sleep_until;
use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::Extensions;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How the synthetic engine behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Time from request arrival to the first token, ms.
    pub ttft_ms: f64,
    /// Time between tokens, ms.
    pub itl_ms: f64,
    /// Extra time to the first token per word of the prompt, ms (see the module docs).
    pub prefill_ms_per_token: f64,
    /// Output tokens per response (capped by the request's max tokens).
    pub tokens: u32,
    /// Tokens carried by each SSE event (≥ 1).
    pub tokens_per_chunk: u32,
    pub fault: Option<Fault>,
    /// Apply `fault` to every Nth request (≥ 1).
    pub fault_every: u32,
    pub model: String,
    /// Text of every token; `None` cycles through a short Korean sentence.
    pub token_text: Option<String>,
    /// Omit `usage` from responses.
    pub no_usage: bool,
    /// Multiplies TTFT and ITL (1.2 = 20% slower).
    pub slowdown: f64,
    /// Each completion request this much slower than the one before (0.02 = 2%).
    pub slowdown_per_request: f64,
    /// Serve `POST /apply-template` rendering chat messages with this built-in template
    /// (`gemma3`, `chatml`), so the fairness check can see what the mock "sees".
    pub chat_template: Option<String>,
    /// Streams served at once; `None`: unlimited. A request beyond them starts one
    /// response time late per stream ahead of it (see the module docs).
    pub capacity: Option<u32>,
    /// Chat: the first this many tokens of a reply are `reasoning_content` deltas.
    pub reasoning: u32,
    /// Connections served at once, each until it closes; `None`: unlimited.
    pub http_threads: Option<u32>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            ttft_ms: 50.0,
            itl_ms: 5.0,
            prefill_ms_per_token: 0.0,
            tokens: 128,
            tokens_per_chunk: 1,
            fault: None,
            fault_every: 1,
            model: "mock".into(),
            token_text: None,
            no_usage: false,
            slowdown: 1.0,
            slowdown_per_request: 0.0,
            chat_template: None,
            capacity: None,
            reasoning: 0,
            http_threads: None,
        }
    }
}

impl MockConfig {
    /// Validated settings from the command line.
    pub fn from_args(a: &MockArgs) -> Result<Self, UserError> {
        let cfg = MockConfig {
            ttft_ms: a.ttft_ms,
            itl_ms: a.itl_ms,
            prefill_ms_per_token: a.prefill_ms_per_token,
            tokens: a.tokens,
            tokens_per_chunk: a.tokens_per_chunk,
            fault: a.fault,
            fault_every: a.fault_every,
            model: a.model.clone(),
            token_text: a.token_text.clone(),
            no_usage: a.no_usage,
            slowdown: a.slowdown,
            slowdown_per_request: a.slowdown_per_request,
            chat_template: a.chat_template.clone(),
            capacity: a.capacity,
            reasoning: a.reasoning,
            http_threads: a.http_threads,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), UserError> {
        let ok_ms = |x: f64| x.is_finite() && x >= 0.0;
        if !ok_ms(self.ttft_ms) || !ok_ms(self.itl_ms) || !ok_ms(self.prefill_ms_per_token) {
            return Err(UserError::new(
                "--ttft-ms, --itl-ms and --prefill-ms-per-token must be finite numbers ≥ 0",
            ));
        }
        if !(self.slowdown.is_finite() && self.slowdown > 0.0) {
            return Err(UserError::new(
                "--slowdown must be a number > 0 (1 = as scripted)",
            ));
        }
        if !(self.slowdown_per_request.is_finite() && self.slowdown_per_request > -1.0) {
            return Err(UserError::new(
                "--slowdown-per-request must be a number > -1 (0.02 = each request 2% slower)",
            ));
        }
        if let Some(t) = &self.chat_template
            && crate::prompt::template::ChatTemplate::builtin(t).is_none()
        {
            return Err(UserError::new(format!(
                "--chat-template {t:?} is not a built-in template (gemma3, chatml)"
            )));
        }
        if self.tokens_per_chunk == 0 {
            return Err(UserError::new("--tokens-per-chunk must be ≥ 1"));
        }
        if self.capacity == Some(0) {
            return Err(UserError::new(
                "--capacity must be ≥ 1 (streams served at once)",
            ));
        }
        if self.http_threads == Some(0) {
            return Err(UserError::new(
                "--http-threads must be ≥ 1 (connections served at once)",
            ));
        }
        if self.fault_every == 0 {
            return Err(UserError::new(
                "--fault-every must be ≥ 1 (1 = every request)",
            ));
        }
        Ok(())
    }

    /// When token `i` of the `k`-th request (0-based) is due, relative to arrival.
    fn due_nth(&self, i: u32, k: u64) -> Duration {
        let drift = (1.0 + self.slowdown_per_request).powf(k as f64);
        let ms = self.slowdown * drift * (self.ttft_ms + f64::from(i) * self.itl_ms);
        Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 1e9))
    }
}

/// Default token texts, cycled: one short Korean sentence.
const DEFAULT_TOKENS: &[&str] = &["오늘", " 날씨", "가", " 정말", " 좋", "습니다", "."];

struct Shared {
    cfg: MockConfig,
    lateness: Arc<Lateness>,
    /// JSON-escaped token texts (without quotes), cycled.
    tokens: Vec<String>,
    /// JSON-escaped model name (with quotes).
    model_json: String,
    requests: AtomicU64,
    /// Streams in flight (counted with a `capacity` only).
    in_flight: Arc<AtomicU64>,
    /// Responses being generated, whatever the capacity (what `/slots` reports).
    busy: Arc<AtomicU64>,
}

/// How late the mock handed chunks to their connections, over its lifetime.
#[derive(Debug, Default)]
pub struct Lateness {
    first: LateCounter,
    all: LateCounter,
}

#[derive(Debug, Default)]
struct LateCounter {
    n: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl LateCounter {
    fn add(&self, late: Duration) {
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.n.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// (count, mean ms, max ms).
    fn get(&self) -> (u64, f64, f64) {
        let n = self.n.load(Ordering::Relaxed);
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64;
        let mean = if n == 0 { 0.0 } else { sum / n as f64 / 1e6 };
        (n, mean, self.max_ns.load(Ordering::Relaxed) as f64 / 1e6)
    }
}

impl Lateness {
    fn record(&self, first: bool, late: Duration) {
        if first {
            self.first.add(late);
        }
        self.all.add(late);
    }

    /// One line for a person and for scripts, e.g.
    /// `mock lateness: first tokens 1024 mean_ms 0.0041 max_ms 0.0312; all tokens ...`.
    pub fn summary(&self) -> String {
        let (fn_, fmean, fmax) = self.first.get();
        let (an, amean, amax) = self.all.get();
        format!(
            "mock lateness: first tokens {fn_} mean_ms {fmean:.4} max_ms {fmax:.4}; all tokens {an} mean_ms {amean:.4} max_ms {amax:.4}"
        )
    }
}

/// The router of the synthetic engine.
pub fn router(cfg: MockConfig) -> Router {
    router_with_lateness(cfg, Arc::default())
}

/// The router, counting its lateness into `lateness`.
fn router_with_lateness(cfg: MockConfig, lateness: Arc<Lateness>) -> Router {
    let escape = |s: &str| {
        let q = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        q[1..q.len() - 1].to_string()
    };
    let tokens = match &cfg.token_text {
        Some(t) => vec![escape(t)],
        None => DEFAULT_TOKENS.iter().map(|t| escape(t)).collect(),
    };
    let shared = Arc::new(Shared {
        model_json: serde_json::to_string(&cfg.model).unwrap_or_else(|_| "\"mock\"".into()),
        tokens,
        in_flight: Arc::new(AtomicU64::new(0)),
        busy: Arc::new(AtomicU64::new(0)),
        cfg,
        lateness,
        requests: AtomicU64::new(0),
    });
    let template = shared
        .cfg
        .chat_template
        .as_deref()
        .and_then(crate::prompt::template::ChatTemplate::builtin);
    let router = Router::new();
    let router = match template {
        Some(t) => {
            let t = Arc::new(t);
            router.route(
                "/apply-template",
                post(move |b: Bytes| apply_template(t.clone(), b)),
            )
        }
        None => router,
    };
    router
        .route(
            "/v1/chat/completions",
            post(|s: State<Arc<Shared>>, e: Extensions, b: Bytes| completion(s, e, b, Kind::Chat)),
        )
        .route(
            "/v1/completions",
            post(|s: State<Arc<Shared>>, e: Extensions, b: Bytes| completion(s, e, b, Kind::Text)),
        )
        .route("/v1/models", get(models))
        .route("/slots", get(slots))
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .with_state(shared)
}

/// `GET /slots`, as llama-server answers it: one entry per slot (the capacity, else at
/// least one per response being generated), `is_processing` for those at work.
async fn slots(State(s): State<Arc<Shared>>) -> axum::Json<serde_json::Value> {
    let busy = s.busy.load(Ordering::Relaxed);
    let n = u64::from(s.cfg.capacity.unwrap_or(1)).max(busy);
    let slots: Vec<serde_json::Value> = (0..n)
        .map(|id| serde_json::json!({"id": id, "is_processing": id < busy}))
        .collect();
    axum::Json(serde_json::Value::Array(slots))
}

/// `POST /apply-template {messages}` → `{"prompt": …}`: the system and user messages
/// rendered with the mock's template (what llama-server's route of that name answers).
async fn apply_template(
    template: Arc<crate::prompt::template::ChatTemplate>,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let content_of = |role: &str| {
        v.get("messages")
            .and_then(|m| m.as_array())
            .and_then(|m| {
                m.iter()
                    .find(|x| x.get("role").and_then(|r| r.as_str()) == Some(role))
            })
            .and_then(|x| x.get("content").and_then(|c| c.as_str()))
            .unwrap_or_default()
            .to_string()
    };
    match template.prompt_input(&content_of("system"), &content_of("user")) {
        Ok(input) => axum::Json(serde_json::json!({ "prompt": input.rendered })).into_response(),
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
    }
}

/// Serve on an already-bound listener until `shutdown` completes. Streams still open
/// then get two seconds to finish (a stalled one would otherwise hold shutdown forever).
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: MockConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_counting(listener, cfg, Arc::default(), shutdown).await
}

async fn serve_counting(
    listener: tokio::net::TcpListener,
    cfg: MockConfig,
    lateness: Arc<Lateness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    cfg.validate()?;
    // Receive timestamps are switched on lazily by the kernel: ask before requests come.
    crate::client::http::request_rx_timestamps(&listener);
    let threads = cfg
        .http_threads
        .map(|k| Arc::new(tokio::sync::Semaphore::new(k as usize)));
    let listener = StampingListener(listener, threads);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router_with_lateness(cfg, lateness).into_make_service_with_connect_info::<Stamp>();
    let graceful = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(());
    });
    tokio::select! {
        r = graceful => r.context("mock engine server failed"),
        _ = async {
            match rx.await {
                Ok(()) => tokio::time::sleep(Duration::from_secs(2)).await,
                Err(_) => std::future::pending().await,
            }
        } => Ok(()),
    }
}

/// Accepts connections (Nagle off: it would hold back small SSE writes behind delayed
/// ACKs), each [`Stamped`] at the first read after each write: with HTTP/1.1, when a
/// request's bytes were taken from the socket. A request's clock starts there, not when
/// the handler got to run, so time the server spends parsing and routing (or busy with
/// other streams) counts as its own lateness.
/// With a semaphore, a connection is handed over only once it holds one of its permits
/// (an HTTP thread of its own), and keeps it until it closes.
struct StampingListener(tokio::net::TcpListener, Option<Arc<tokio::sync::Semaphore>>);

impl axum::serve::Listener for StampingListener {
    type Io = Stamped;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Stamped, std::net::SocketAddr) {
        // axum's own accept loop (it retries and backs off on errors).
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.0).await;
        let _ = tcp.set_nodelay(true);
        let mut io = Stamped::new(tcp, StampOn::FirstReadAfterWrite);
        if let Some(threads) = &self.1 {
            // Until a thread is free the connection waits, its request unread.
            if let Ok(permit) = threads.clone().acquire_owned().await {
                io.hold(permit);
            }
        }
        (io, addr)
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.local_addr()
    }
}

/// Each connection's stamp, handed to the handler as its request's arrival.
impl Connected<axum::serve::IncomingStream<'_, StampingListener>> for Stamp {
    fn connect_info(stream: axum::serve::IncomingStream<'_, StampingListener>) -> Self {
        stream.io().stamp().clone()
    }
}

/// `inferbench mock-engine`: bind, print `listening on http://ADDR`, serve until Ctrl-C
/// or SIGTERM, then print how late it was (see [`Lateness::summary`]).
pub async fn run(args: MockArgs) -> anyhow::Result<i32> {
    let cfg = MockConfig::from_args(&args)?;
    raise_fd_limit();
    let listener = bind_with_backlog(&args.host, args.port)
        .await
        .map_err(|e| {
            UserError::new(format!(
                "cannot listen on {}:{}: {e}; choose another --port (0 = any free port)",
                args.host, args.port
            ))
        })?;
    let addr = listener.local_addr().context("no local address")?;
    println!("listening on http://{addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let lateness = Arc::new(Lateness::default());
    serve_counting(listener, cfg, lateness.clone(), shutdown_signal()).await?;
    println!("{}", lateness.summary());
    Ok(0)
}

/// Bind with a listen backlog large enough for thousands of simultaneous connects: the
/// default (128 in std/tokio) overflows when a load test opens 512+ connections at once,
/// and the kernel then answers with SYN cookies and retransmits after ~1 s, which would
/// show up as TTFT.
async fn bind_with_backlog(host: &str, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(8192)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("{host}: no address"))))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Raise the soft open-files limit to the hard limit: each concurrent stream is one
/// socket, and the usual soft limit (1024) is far below 10,000. Best effort.
pub fn raise_fd_limit() {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
            && soft < hard
        {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

async fn models(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "object": "list",
        "data": [{"id": s.cfg.model, "object": "model", "owned_by": "inferbench-mock"}]
    }))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Text,
}

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    messages: Vec<ChatMessage>,
    #[serde(default)]
    prompt: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<serde_json::Value>,
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": "mock_error", "code": status.as_u16()}});
    (status, axum::Json(body)).into_response()
}

async fn completion(
    State(s): State<Arc<Shared>>,
    ext: Extensions,
    body: Bytes,
    kind: Kind,
) -> Response {
    // Arrival: when the request's bytes were read from the socket, if the server was
    // started by `serve` (see [`StampingListener`]); else now.
    let arrival = ext
        .get::<ConnectInfo<Stamp>>()
        .and_then(|c| c.0.last())
        .unwrap_or_else(Instant::now);
    let k = s.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let req: CompletionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &format!("bad request: {e}")),
    };
    let cfg = &s.cfg;
    let fault = cfg
        .fault
        .filter(|_| k.is_multiple_of(u64::from(cfg.fault_every)));
    if fault == Some(Fault::Http500) {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "injected fault: http500");
    }
    if fault == Some(Fault::Lose) {
        // Read, then dropped: never answered, never counted as work.
        return std::future::pending().await;
    }
    let limit = req.max_completion_tokens.or(req.max_tokens);
    let n = match limit {
        Some(l) => u64::from(cfg.tokens).min(l) as u32,
        None => cfg.tokens,
    };
    let finish = if limit.is_some_and(|l| u64::from(n) == l) {
        "length"
    } else {
        "stop"
    };
    // With a capacity: one response time late per stream ahead of it in the queue.
    let (slot, arrival) = match cfg.capacity {
        None => (None, arrival),
        Some(cap) => {
            let others = s.in_flight.fetch_add(1, Ordering::Relaxed);
            let ahead = (others + 1).saturating_sub(u64::from(cap));
            let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
            let late = cfg
                .due_nth(n.saturating_sub(1), k - 1)
                .saturating_mul(ahead);
            (Some(InFlight(s.in_flight.clone())), arrival + late)
        }
    };
    let prompt_bytes: usize = match kind {
        Kind::Chat => req
            .messages
            .iter()
            .filter_map(|m| m.content.as_ref())
            .map(|c| c.as_str().map_or(c.to_string().len(), str::len))
            .sum(),
        Kind::Text => req
            .prompt
            .as_ref()
            .map_or(0, |p| p.as_str().map_or(p.to_string().len(), str::len)),
    };
    // Prefill: every deadline moves by the scripted time per prompt word.
    let arrival = if cfg.prefill_ms_per_token > 0.0 {
        let words: usize = match kind {
            Kind::Chat => req
                .messages
                .iter()
                .filter_map(|m| m.content.as_ref().and_then(|c| c.as_str()))
                .map(|c| c.split_whitespace().count())
                .sum(),
            Kind::Text => req
                .prompt
                .as_ref()
                .and_then(|p| p.as_str())
                .map_or(0, |p| p.split_whitespace().count()),
        };
        arrival + Duration::from_secs_f64(cfg.prefill_ms_per_token * words as f64 / 1000.0)
    } else {
        arrival
    };
    let state = Gen {
        shared: s.clone(),
        kind,
        arrival,
        n,
        next: 0,
        phase: Phase::Start,
        fault,
        finish,
        prompt_tokens: (prompt_bytes as u64).div_ceil(4).max(1),
        head: head(&s, kind, k),
        k: k - 1,
        slot,
        _busy: {
            s.busy.fetch_add(1, Ordering::Relaxed);
            InFlight(s.busy.clone())
        },
    };
    if req.stream {
        let stream = futures_util::stream::unfold(state, |mut g| async move {
            g.next_sse().await.map(|item| (item, g))
        });
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| error_response(StatusCode::INTERNAL_SERVER_ERROR, "response"))
    } else {
        full_response(state).await
    }
}

/// The JSON before the content of a chunk: `data: {"id":...,"choices":[{"index":0,`.
fn head(s: &Shared, kind: Kind, k: u64) -> String {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (id, object) = match kind {
        Kind::Chat => ("chatcmpl", "chat.completion.chunk"),
        Kind::Text => ("cmpl", "text_completion"),
    };
    format!(
        "{{\"id\":\"{id}-mock-{k}\",\"object\":\"{object}\",\"created\":{created},\"model\":{},",
        s.model_json
    )
}

enum Phase {
    Start,
    Tokens,
    Tail,
    Stall,
    Finished,
}

/// One response being generated.
struct Gen {
    shared: Arc<Shared>,
    kind: Kind,
    arrival: Instant,
    /// Output tokens of this response.
    n: u32,
    /// Index of the first token of the next chunk.
    next: u32,
    phase: Phase,
    fault: Option<Fault>,
    finish: &'static str,
    prompt_tokens: u64,
    head: String,
    /// The request's number, 0-based (its deadlines: [`MockConfig::due_nth`]).
    k: u64,
    /// Counts this response as in flight (with a capacity) until dropped.
    slot: Option<InFlight>,
    /// Counts this response as work (`/slots`) until dropped.
    _busy: InFlight,
}

/// One stream in flight; dropping it stops counting it.
struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Coalesced writes stop growing at this size.
const MAX_WRITE: usize = 16 * 1024;

impl Gen {
    fn cfg(&self) -> &MockConfig {
        &self.shared.cfg
    }

    fn due(&self, i: u32) -> Duration {
        self.cfg().due_nth(i, self.k)
    }

    /// The concatenated text of tokens `from..to`, JSON-escaped, without quotes.
    fn push_text(&self, out: &mut String, from: u32, to: u32) {
        let t = &self.shared.tokens;
        for i in from..to {
            out.push_str(&t[i as usize % t.len()]);
        }
    }

    fn push_content_chunk(&self, out: &mut String, from: u32, to: u32) {
        out.push_str("data: ");
        out.push_str(&self.head);
        match self.kind {
            Kind::Chat if from < self.reasoning() => {
                out.push_str("\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"")
            }
            Kind::Chat => out.push_str("\"choices\":[{\"index\":0,\"delta\":{\"content\":\""),
            Kind::Text => out.push_str("\"choices\":[{\"index\":0,\"text\":\""),
        }
        self.push_text(out, from, to);
        match self.kind {
            Kind::Chat => out.push_str("\"},\"finish_reason\":null}]}\n\n"),
            Kind::Text => out.push_str("\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"),
        }
    }

    fn usage_json(&self) -> String {
        let details = match self.reasoning() {
            0 => String::new(),
            r => format!(",\"completion_tokens_details\":{{\"reasoning_tokens\":{r}}}"),
        };
        format!(
            "{{\"prompt_tokens\":{},\"completion_tokens\":{},\"total_tokens\":{}{details}}}",
            self.prompt_tokens,
            self.n,
            self.prompt_tokens + u64::from(self.n)
        )
    }

    /// Reasoning tokens of this reply (chat only, at most its length).
    fn reasoning(&self) -> u32 {
        match self.kind {
            Kind::Chat => self.cfg().reasoning.min(self.n),
            Kind::Text => 0,
        }
    }

    fn chunk_end(&self, from: u32) -> u32 {
        let end = from.saturating_add(self.cfg().tokens_per_chunk).min(self.n);
        // No chunk carries both reasoning and answer.
        let r = self.reasoning();
        if from < r { end.min(r) } else { end }
    }

    /// Every remaining content chunk in one write, when the last token is due.
    async fn burst(&mut self) -> Bytes {
        let due = self.arrival + self.due(self.n - 1);
        sleep_until(due).await;
        let late = Instant::now().saturating_duration_since(due);
        let mut out = String::with_capacity(256 * (self.n - self.next) as usize);
        let mut first = self.next == 0;
        while self.next < self.n {
            let end = self.chunk_end(self.next);
            self.push_content_chunk(&mut out, self.next, end);
            self.shared.lateness.record(first, late);
            first = false;
            self.next = end;
        }
        Bytes::from(out)
    }

    /// The next piece of the SSE body, `None` at its end.
    async fn next_sse(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            match self.phase {
                Phase::Start => {
                    self.phase = Phase::Tokens;
                    if self.kind == Kind::Chat {
                        let mut s = String::with_capacity(256);
                        s.push_str("data: ");
                        s.push_str(&self.head);
                        s.push_str("\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}]}\n\n");
                        return Some(Ok(Bytes::from(s)));
                    }
                }
                Phase::Tokens => {
                    if self.next >= self.n {
                        self.phase = Phase::Tail;
                        continue;
                    }
                    if self.fault == Some(Fault::Burst) {
                        return Some(Ok(self.burst().await));
                    }
                    if self.fault == Some(Fault::Truncate) && self.next >= self.n / 2 {
                        // Drop the connection while "generating" the next chunk, after
                        // what was sent so far has been flushed.
                        let end = self.chunk_end(self.next);
                        let due = self.arrival + self.due(end - 1);
                        sleep_until(due.max(Instant::now() + Duration::from_millis(2))).await;
                        self.phase = Phase::Finished;
                        return Some(Err(std::io::Error::other("injected fault: truncate")));
                    }
                    let end = self.chunk_end(self.next);
                    let due = self.arrival + self.due(end - 1);
                    sleep_until(due).await;
                    let now = Instant::now();
                    self.shared
                        .lateness
                        .record(self.next == 0, now.saturating_duration_since(due));
                    let mut out = String::with_capacity(512);
                    if self.fault == Some(Fault::Garbage) {
                        out.push_str("data: \u{1}\u{7f}garbage{{not json]]\n\n");
                        self.fault = None;
                        self.next = end;
                        return Some(Ok(Bytes::from(out)));
                    }
                    self.push_content_chunk(&mut out, self.next, end);
                    self.next = end;
                    if self.fault == Some(Fault::Stall) {
                        self.phase = Phase::Stall;
                        return Some(Ok(Bytes::from(out)));
                    }
                    // Coalesce chunks that are already due (a busy or zero-delay server).
                    while self.next < self.n && out.len() < MAX_WRITE {
                        if self.fault == Some(Fault::Truncate) && self.next >= self.n / 2 {
                            break;
                        }
                        let end = self.chunk_end(self.next);
                        let due = self.arrival + self.due(end - 1);
                        if due > now {
                            break;
                        }
                        self.shared
                            .lateness
                            .record(false, now.saturating_duration_since(due));
                        self.push_content_chunk(&mut out, self.next, end);
                        self.next = end;
                    }
                    return Some(Ok(Bytes::from(out)));
                }
                Phase::Tail => {
                    self.phase = Phase::Finished;
                    // Stop counting before the client sees [DONE] and sends again.
                    self.slot = None;
                    let mut s = String::with_capacity(512);
                    s.push_str("data: ");
                    s.push_str(&self.head);
                    let empty = match self.kind {
                        Kind::Chat => "\"delta\":{}",
                        Kind::Text => "\"text\":\"\"",
                    };
                    s.push_str(&format!(
                        "\"choices\":[{{\"index\":0,{empty},\"finish_reason\":\"{}\"}}]}}\n\n",
                        self.finish
                    ));
                    if !self.cfg().no_usage {
                        s.push_str("data: ");
                        s.push_str(&self.head);
                        s.push_str("\"choices\":[],\"usage\":");
                        s.push_str(&self.usage_json());
                        s.push_str("}\n\n");
                    }
                    s.push_str("data: [DONE]\n\n");
                    return Some(Ok(Bytes::from(s)));
                }
                Phase::Stall => {
                    // Heartbeats let the server notice when the client has gone.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return Some(Ok(Bytes::from_static(b": stalled\n\n")));
                }
                Phase::Finished => return None,
            }
        }
    }
}

/// A non-streaming answer: the whole body when the last token is due.
async fn full_response(g: Gen) -> Response {
    let last = g.n.saturating_sub(1);
    sleep_until(g.arrival + g.due(last)).await;
    match g.fault {
        Some(Fault::Stall) => std::future::pending().await,
        Some(Fault::Garbage) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "\u{1}garbage{{ not json",
            )
                .into_response();
        }
        _ => {}
    }
    let r = g.reasoning();
    let mut text = String::new();
    g.push_text(&mut text, r, g.n);
    let mut thought = String::new();
    g.push_text(&mut thought, 0, r);
    let thought = if r > 0 {
        format!(",\"reasoning_content\":\"{thought}\"")
    } else {
        String::new()
    };
    let (object, choice) = match g.kind {
        Kind::Chat => (
            "chat.completion",
            format!(
                "{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{text}\"{thought}}},\"finish_reason\":\"{}\"}}",
                g.finish
            ),
        ),
        Kind::Text => (
            "text_completion",
            format!(
                "{{\"index\":0,\"text\":\"{text}\",\"logprobs\":null,\"finish_reason\":\"{}\"}}",
                g.finish
            ),
        ),
    };
    // `head` ends with the model and a comma; replace the chunk object name.
    let head = g.head.replace("chat.completion.chunk", object);
    let mut body = format!("{head}\"choices\":[{choice}]");
    if !g.cfg().no_usage {
        body.push_str(",\"usage\":");
        body.push_str(&g.usage_json());
    }
    body.push('}');
    if g.fault == Some(Fault::Truncate) {
        let half = body.len() / 2;
        let first = Bytes::from(body).slice(..half);
        use futures_util::StreamExt;
        // Pause before dropping the connection so the head and first half get out.
        let stream =
            futures_util::stream::iter([Ok(first)]).chain(futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Err(std::io::Error::other("injected fault: truncate"))
            }));
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| error_response(StatusCode::INTERNAL_SERVER_ERROR, "response"));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_counts_first_tokens_apart_and_summarizes() {
        let l = Lateness::default();
        l.record(true, Duration::from_micros(100));
        l.record(false, Duration::from_micros(300));
        l.record(true, Duration::from_micros(500));
        assert_eq!(
            l.summary(),
            "mock lateness: first tokens 2 mean_ms 0.3000 max_ms 0.5000; all tokens 3 mean_ms 0.3000 max_ms 0.5000"
        );
        assert_eq!(
            Lateness::default().summary(),
            "mock lateness: first tokens 0 mean_ms 0.0000 max_ms 0.0000; all tokens 0 mean_ms 0.0000 max_ms 0.0000"
        );
    }

    #[tokio::test]
    async fn arrival_is_stamped_at_the_socket_read_before_the_handler_runs() {
        // A request whose body arrives 100 ms after its head: the arrival is the first read
        // (the head), so the first token is due 100 ms before "handler start + TTFT".
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = MockConfig {
            ttft_ms: 40.0,
            tokens: 1,
            ..MockConfig::default()
        };
        tokio::spawn(serve(listener, cfg, std::future::pending()));
        let body = br#"{"stream":true,"max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#;
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let start = Instant::now();
        tcp.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        tcp.write_all(body).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("\"content\":\"") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "connection closed: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        let ttft = start.elapsed();
        // Stamped at the handler, the first token would come at ≥ 140 ms.
        assert!(ttft >= Duration::from_millis(100), "{ttft:?}");
        assert!(ttft < Duration::from_millis(135), "{ttft:?}");
    }

    #[tokio::test]
    async fn burst_sends_every_chunk_at_once_when_the_last_is_due() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = MockConfig {
            ttft_ms: 20.0,
            itl_ms: 2.0,
            tokens: 16,
            fault: Some(Fault::Burst),
            ..MockConfig::default()
        };
        tokio::spawn(serve(listener, cfg, std::future::pending()));
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body =
            br#"{"stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#;
        let req = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        tcp.write_all(req.as_bytes()).await.unwrap();
        tcp.write_all(body).await.unwrap();
        // (time of the read, content chunks in it)
        let mut reads = Vec::new();
        let mut all = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            reads.push((start.elapsed(), text.matches("\"content\":\"").count()));
            all.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&all);
        assert_eq!(text.matches("\"content\":\"").count(), 16, "{text}");
        assert!(text.contains("[DONE]") && text.contains("\"completion_tokens\":16"));
        // All 16 in one read, no earlier than the last token's due time (20 + 15·2 ms).
        let with_content: Vec<_> = reads.iter().filter(|(_, c)| *c > 0).collect();
        assert_eq!(with_content.len(), 1, "{reads:?}");
        assert_eq!(with_content[0].1, 16);
        assert!(with_content[0].0 >= Duration::from_millis(50), "{reads:?}");
    }

    #[test]
    fn deadlines_are_absolute_and_scaled() {
        let cfg = MockConfig {
            ttft_ms: 50.0,
            itl_ms: 5.0,
            slowdown: 1.2,
            ..MockConfig::default()
        };
        assert_eq!(cfg.due_nth(0, 0), Duration::from_secs_f64(0.060));
        assert_eq!(cfg.due_nth(10, 0), Duration::from_secs_f64(1.2 * 0.100));
        // 2% per request: the third request (k = 2) is 1.02² slower.
        let cfg = MockConfig {
            slowdown_per_request: 0.02,
            ..cfg
        };
        assert_eq!(cfg.due_nth(0, 0), Duration::from_secs_f64(0.060));
        assert_eq!(
            cfg.due_nth(10, 2),
            Duration::from_secs_f64(1.2 * 1.02f64.powf(2.0) * 0.100)
        );
    }

    #[test]
    fn invalid_settings_are_rejected() {
        for bad in [
            MockConfig {
                tokens_per_chunk: 0,
                ..MockConfig::default()
            },
            MockConfig {
                fault_every: 0,
                ..MockConfig::default()
            },
            MockConfig {
                ttft_ms: -1.0,
                ..MockConfig::default()
            },
            MockConfig {
                slowdown: 0.0,
                ..MockConfig::default()
            },
            MockConfig {
                slowdown_per_request: -1.0,
                ..MockConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(MockConfig::default().validate().is_ok());
    }
}
