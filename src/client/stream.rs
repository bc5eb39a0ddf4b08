//! One request → a [`Trace`] of raw monotonic instants.
//!
//! Instants recorded (offsets from the benchmark's origin):
//! - `sent`: when the request's first byte is written to the socket (see [`super::http`]:
//!   the client's own queueing and any connection set-up come before it and show as send
//!   lag, not as TTFT; over HTTPS, when the request is handed over). A request retried
//!   because its reused connection had been closed by the server is sent at the retry's
//!   first write (`Trace::retries` says so); `scheduled` stays;
//! - `first_byte`: response headers received;
//! - one instant per content-bearing event, taken when that event is parsed out of the
//!   bytes, so events that arrive together in one read still get distinct, ordered stamps;
//! - `end`: the terminator (`[DONE]`, `done:true`, `stop:true`) or, without one, end of body.
//!
//! The hot path allocates nothing per event: content text is appended to the trace's one
//! `String`, parser buffers are reused, and decoding borrows from the read.
//!
//! Failures become [`RequestError`]s in `Trace::error` (what arrived before is kept):
//! connect errors, HTTP ≥ 400 (with a body excerpt; a 404 also names the URL asked for
//! and what a base URL should look like), the whole-request timeout, a stream
//! that ends (or whose connection drops) before its terminator, bytes that are not the
//! expected JSON, and an error object sent inside the stream.

use super::http::{Body, ConnWatch, HttpClient, chain};
use super::ndjson::NdjsonSplitter;
use super::protocol::{self, EventSink};
use super::sse::{SseItem, SseParser};
use super::think::ThinkTags;
use super::{PromptInput, Protocol, RequestError, RequestSpec, Trace, Usage};
use crate::engine::ApiTarget;
use crate::measure::metrics::Reasoning;
use crate::results::{EngineReport, Sampling};
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The request for one prompt against one target.
pub fn build_spec(
    target: &ApiTarget,
    prompt: &PromptInput,
    sampling: &Sampling,
    stream: bool,
    timeout: Duration,
) -> RequestSpec {
    RequestSpec {
        url: target.url(),
        protocol: target.protocol,
        body: protocol::build_body(target, prompt, sampling, stream),
        stream,
        timeout,
    }
}

/// The measuring HTTP client (see [`super::http`]), keeping up to `max_connections`
/// connections warm.
pub fn http_client(max_connections: usize) -> Result<HttpClient, reqwest::Error> {
    HttpClient::new(max_connections)
}

/// What a watcher of a request in flight sees of it: when bytes of its response last
/// came (its hand-over until then) and the connection it went out on.
#[derive(Clone, Default)]
pub struct Activity(std::sync::Arc<ActivityShared>);

#[derive(Default)]
struct ActivityShared {
    /// Nanoseconds after [`activity_epoch`] of the last progress.
    last_ns: AtomicU64,
    /// Response bytes came back (the head at least).
    answered: AtomicBool,
    conn: ConnWatch,
}

fn activity_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Activity {
    /// Note progress now.
    pub fn touch(&self) {
        let ns = Instant::now()
            .saturating_duration_since(activity_epoch())
            .as_nanos();
        self.0
            .last_ns
            .store(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn answered(&self) {
        self.0.answered.store(true, Ordering::Relaxed);
        self.touch();
    }

    /// The last progress: the hand-over, the response head or a body frame.
    pub fn last(&self) -> Instant {
        activity_epoch() + Duration::from_nanos(self.0.last_ns.load(Ordering::Relaxed))
    }

    /// Whether any byte of the response came back.
    pub fn has_answer(&self) -> bool {
        self.0.answered.load(Ordering::Relaxed)
    }

    /// The connection the request went out on.
    pub fn conn(&self) -> &ConnWatch {
        &self.0.conn
    }
}

/// Send one request and record everything about it. Never fails: errors go into
/// `Trace::error`. `scheduled` is when the load schedule meant it to be sent.
pub async fn execute(
    http: &HttpClient,
    spec: &RequestSpec,
    origin: Instant,
    scheduled: Instant,
) -> Trace {
    execute_until(
        http,
        spec,
        origin,
        scheduled,
        &Activity::default(),
        std::future::pending(),
    )
    .await
}

/// [`execute`], noting its progress in `activity`, and ended early with the error `stop`
/// resolves to, if it resolves first (a watcher's verdict: the engine died or went idle
/// with this request outstanding).
pub async fn execute_until(
    http: &HttpClient,
    spec: &RequestSpec,
    origin: Instant,
    scheduled: Instant,
    activity: &Activity,
    stop: impl std::future::Future<Output = RequestError>,
) -> Trace {
    let mut trace = Trace::default();
    trace.timeline.scheduled = scheduled.saturating_duration_since(origin);
    trace.timeline.sent = trace.timeline.scheduled;
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let mut rec = Recorder::new(&mut trace, origin);
    activity.touch();
    let outcome = tokio::select! {
        r = tokio::time::timeout_at(deadline, run(http, spec, origin, &mut rec, activity)) => r,
        e = stop => Ok(Err(e)),
    };
    let reasoning = rec.take_reasoning();
    let done = rec.done;
    let now = Instant::now().saturating_duration_since(origin);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => trace.error = Some(e),
        Err(_) => {
            trace.error = Some(RequestError::Timeout {
                seconds: spec.timeout.as_secs_f64(),
                waiting: timeout_phase(&trace.timeline, trace.retries.is_some()),
            })
        }
    }
    if !done {
        trace.timeline.end = Some(now);
    }
    trace.reasoning = reasoning;
    trace
}

/// What a timed-out request was waiting for, from what its timeline holds (pure): no
/// response head yet (the server never answered: queued inside it, or the request lost
/// on the way), a head but no token, or tokens that stopped coming. Offsets are seconds
/// from the request's send.
pub fn timeout_phase(t: &crate::measure::metrics::Timeline, retried: bool) -> String {
    let since_sent = |d: Duration| d.saturating_sub(t.sent).as_secs_f64();
    let retry = if retried {
        ", sent again on a new connection after the first died"
    } else {
        ""
    };
    match (t.first_byte, t.content_events.last()) {
        (None, _) => format!("waiting for the response head (no byte came back{retry})"),
        (Some(head), None) => format!(
            "waiting for the first token (response head at {:.1} s{retry})",
            since_sent(head)
        ),
        (Some(_), Some(&last)) => format!(
            "waiting for more tokens ({} arrived, the last at {:.1} s{retry})",
            t.content_events.len(),
            since_sent(last)
        ),
    }
}

/// Engines such as Uzu answer failures with HTTP 200 and content "Error: ..." with zero
/// usage; for targets with `error_text_is_failure`, call this to mark such a trace failed.
pub fn apply_error_text_rule(trace: &mut Trace) {
    let zero_usage = trace
        .usage
        .and_then(|u| u.completion_tokens)
        .is_none_or(|n| n == 0);
    if trace.error.is_none() && zero_usage && trace.text.trim_start().starts_with("Error:") {
        trace.error = Some(RequestError::Engine(excerpt(trace.text.as_bytes(), 300)));
    }
}

/// Collects decoded events into the trace, stamping each content event as it is decoded.
struct Recorder<'t> {
    trace: &'t mut Trace,
    origin: Instant,
    /// A fixed stamp for content (non-streaming: the body's arrival).
    stamp: Option<Instant>,
    /// The stream's terminator was seen.
    done: bool,
    engine_error: Option<String>,
    /// Which content deltas are inside a `<think>` block.
    think: ThinkTags,
    reasoning: Reasoning,
}

impl<'t> Recorder<'t> {
    fn new(trace: &'t mut Trace, origin: Instant) -> Self {
        Recorder {
            trace,
            origin,
            stamp: None,
            done: false,
            engine_error: None,
            think: ThinkTags::new(),
            reasoning: Reasoning::default(),
        }
    }

    fn at(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.origin)
    }

    /// What the stream said about reasoning; `None` when it carried none.
    fn take_reasoning(&mut self) -> Option<Reasoning> {
        let r = std::mem::take(&mut self.reasoning);
        (r.events > 0 || r.usage_tokens.is_some()).then_some(r)
    }
}

impl EventSink for Recorder<'_> {
    fn content(&mut self, text: &str) {
        let now = self.stamp.unwrap_or_else(Instant::now);
        let at = self.at(now);
        self.trace.timeline.content_events.push(at);
        self.trace.text.push_str(text);
        let split = self.think.feed(text);
        if split.reasoning {
            self.reasoning.events += 1;
        }
        if split.answer && self.reasoning.first_answer.is_none() {
            self.reasoning.first_answer = Some(at);
        }
    }
    /// A reasoning delta is a generated token like any other (a content event: TTFT, E2E
    /// and TPOT count it), kept out of the answer's text.
    fn reasoning(&mut self, _text: &str) {
        let now = self.stamp.unwrap_or_else(Instant::now);
        let at = self.at(now);
        self.trace.timeline.content_events.push(at);
        self.reasoning.events += 1;
    }
    fn reasoning_tokens(&mut self, n: u64) {
        self.reasoning.usage_tokens = Some(n);
    }
    fn usage(&mut self, usage: Usage) {
        // Keep what an earlier chunk said if a later one omits a field.
        let old = self.trace.usage.unwrap_or_default();
        self.trace.usage = Some(Usage {
            prompt_tokens: usage.prompt_tokens.or(old.prompt_tokens),
            completion_tokens: usage.completion_tokens.or(old.completion_tokens),
            cached_tokens: usage.cached_tokens.or(old.cached_tokens),
        });
    }
    fn timings(&mut self, report: EngineReport) {
        self.trace.engine_report = Some(report);
    }
    fn finish_reason(&mut self, reason: &str) {
        self.trace.finish_reason = Some(reason.to_string());
    }
    fn error(&mut self, message: String) {
        self.engine_error.get_or_insert(message);
    }
    fn done(&mut self) {
        if !self.done {
            self.done = true;
            self.trace.timeline.end = Some(self.at(Instant::now()));
        }
    }
}

async fn run(
    http: &HttpClient,
    spec: &RequestSpec,
    origin: Instant,
    rec: &mut Recorder<'_>,
    activity: &Activity,
) -> Result<(), RequestError> {
    let body = serde_json::to_vec(&spec.body)
        .map_err(|e| RequestError::Transport(format!("could not serialize the body: {e}")))?;
    let accept = match (spec.stream, spec.protocol.is_ndjson()) {
        (true, true) => "application/x-ndjson",
        (true, false) => "text/event-stream",
        (false, _) => "application/json",
    };
    let headers = [
        (http::header::CONTENT_TYPE, "application/json"),
        (http::header::ACCEPT, accept),
    ];
    // Until the request is written, `sent` is when it was handed over.
    rec.trace.timeline.sent = Instant::now().saturating_duration_since(origin);
    let sent = http
        .send_noting_retry(
            http::Method::POST,
            &spec.url,
            &headers,
            body.into(),
            &mut rec.trace.retries,
            Some(activity.conn()),
        )
        .await?;
    activity.answered();
    rec.trace.timeline.sent = sent.sent.saturating_duration_since(origin);
    rec.trace.timeline.first_byte = Some(rec.at(Instant::now()));
    let status = sent.response.status().as_u16();
    let mut resp = sent.response.into_body();
    rec.trace.http_status = Some(status);
    if status >= 400 {
        let mut body = read_excerpt(&mut resp, 300).await;
        if status == 404 {
            body.push_str(&not_found_hint(&spec.url));
        }
        return Err(RequestError::Status { status, body });
    }

    if !spec.stream {
        let bytes = resp
            .collect()
            .await
            .map_err(|e| {
                RequestError::Truncated(format!("connection closed mid-body: {}", chain(&*e)))
            })?
            .to_bytes();
        rec.stamp = Some(Instant::now());
        protocol::decode_full_into(spec.protocol, &bytes, rec).map_err(RequestError::Malformed)?;
        return match rec.engine_error.take() {
            Some(e) => Err(RequestError::Engine(e)),
            None => Ok(()),
        };
    }

    let mut ingest = Ingest::new(spec.protocol);
    loop {
        let frame = resp.frame().await;
        activity.touch();
        let chunk = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue, // trailers
            },
            None => break,
            Some(Err(e)) => {
                ingest.finish(rec)?;
                return Err(RequestError::Truncated(format!(
                    "connection closed mid-stream{}: {}",
                    if rec.done {
                        " after the terminator"
                    } else {
                        ""
                    },
                    chain(&*e)
                )));
            }
        };
        ingest.feed(&chunk, rec)?;
    }
    ingest.finish(rec)?;
    let completed = rec.done || (!spec.protocol.is_ndjson() && rec.trace.finish_reason.is_some());
    if !completed {
        let expected = match spec.protocol {
            Protocol::OpenAiChat | Protocol::OpenAiCompletions => "data: [DONE]",
            Protocol::LlamaCompletion => "\"stop\": true",
            Protocol::OllamaGenerate | Protocol::OllamaChat => "\"done\": true",
        };
        return Err(RequestError::Truncated(format!(
            "body ended without {expected}"
        )));
    }
    Ok(())
}

/// The stream parser for a protocol plus the first decoding failure.
struct Ingest {
    protocol: Protocol,
    sse: SseParser,
    ndjson: NdjsonSplitter,
    failure: Option<String>,
}

impl Ingest {
    fn new(protocol: Protocol) -> Self {
        Ingest {
            protocol,
            sse: SseParser::new(),
            ndjson: NdjsonSplitter::new(),
            failure: None,
        }
    }

    fn feed(&mut self, chunk: &[u8], rec: &mut Recorder<'_>) -> Result<(), RequestError> {
        let (protocol, failure) = (self.protocol, &mut self.failure);
        if protocol.is_ndjson() {
            self.ndjson
                .feed(chunk, |line| on_payload(protocol, line, rec, failure));
        } else {
            self.sse
                .feed(chunk, |item| on_item(protocol, item, rec, failure));
        }
        self.check(rec)
    }

    fn finish(&mut self, rec: &mut Recorder<'_>) -> Result<(), RequestError> {
        let (protocol, failure) = (self.protocol, &mut self.failure);
        if protocol.is_ndjson() {
            self.ndjson
                .finish(|line| on_payload(protocol, line, rec, failure));
        } else {
            self.sse
                .finish(|item| on_item(protocol, item, rec, failure));
        }
        self.check(rec)
    }

    fn check(&mut self, rec: &mut Recorder<'_>) -> Result<(), RequestError> {
        if let Some(e) = self.failure.take() {
            return Err(RequestError::Malformed(e));
        }
        if let Some(e) = rec.engine_error.take() {
            return Err(RequestError::Engine(e));
        }
        Ok(())
    }
}

fn on_item(
    protocol: Protocol,
    item: SseItem<'_>,
    rec: &mut Recorder<'_>,
    failure: &mut Option<String>,
) {
    match item {
        SseItem::Done => rec.done(),
        SseItem::Data(d) => on_payload(protocol, d, rec, failure),
    }
}

fn on_payload(
    protocol: Protocol,
    payload: &[u8],
    rec: &mut Recorder<'_>,
    failure: &mut Option<String>,
) {
    // After a failure, the rest of the read is not trusted.
    if failure.is_some() || rec.engine_error.is_some() {
        return;
    }
    if let Err(e) = protocol::decode_into(protocol, payload, rec) {
        *failure = Some(e);
    }
}

/// What to add to a 404's error text: the URL asked for, and what a base URL should be.
fn not_found_hint(url: &str) -> String {
    format!(
        " (requested {url}; is the endpoint right? A base URL given with --url or \
         servers.<name>.url should be the server's root, e.g. http://127.0.0.1:8080, or \
         end in /v1)"
    )
}

/// The start of an error body, as readable text.
async fn read_excerpt(resp: &mut Body, max: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < max {
        match resp.frame().await {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    buf.extend_from_slice(d);
                }
            }
            _ => break,
        }
    }
    excerpt(&buf, max)
}

fn excerpt(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    let mut s: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if bytes.len() > max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Message;
    use crate::measure::metrics::Timeline;

    #[test]
    fn timeout_names_what_the_request_waited_for() {
        let s = Duration::from_secs;
        let mut t = Timeline {
            sent: s(10),
            ..Timeline::default()
        };
        assert_eq!(
            timeout_phase(&t, false),
            "waiting for the response head (no byte came back)"
        );
        assert_eq!(
            timeout_phase(&t, true),
            "waiting for the response head (no byte came back, sent again on a new connection after the first died)"
        );
        t.first_byte = Some(s(12));
        assert_eq!(
            timeout_phase(&t, false),
            "waiting for the first token (response head at 2.0 s)"
        );
        t.content_events = vec![s(13), Duration::from_millis(14_500)];
        assert_eq!(
            timeout_phase(&t, false),
            "waiting for more tokens (2 arrived, the last at 4.5 s)"
        );
    }

    #[test]
    fn spec_carries_url_protocol_and_body() {
        let t = ApiTarget::openai("x", "http://127.0.0.1:9/", Some("m".into()), true);
        let p = PromptInput {
            messages: vec![Message {
                role: "user".into(),
                content: "hi".into(),
            }],
            rendered: "hi".into(),
        };
        let s = Sampling {
            max_tokens: 7,
            temperature: 0.0,
            seed: None,
            top_p: None,
            top_k: None,
            ignore_eos: false,
        };
        let spec = build_spec(&t, &p, &s, true, Duration::from_secs(3));
        assert_eq!(spec.url, "http://127.0.0.1:9/v1/chat/completions");
        assert_eq!(spec.protocol, Protocol::OpenAiChat);
        assert_eq!(spec.body["max_tokens"], 7);
        assert!(spec.stream);
        assert_eq!(spec.timeout, Duration::from_secs(3));
    }

    fn recorder_events(protocol: Protocol, reads: &[&[u8]]) -> (Trace, Result<(), RequestError>) {
        let mut trace = Trace::default();
        let origin = Instant::now();
        let mut rec = Recorder::new(&mut trace, origin);
        let mut ingest = Ingest::new(protocol);
        let mut res = Ok(());
        for r in reads {
            res = ingest.feed(r, &mut rec);
            if res.is_err() {
                break;
            }
        }
        if res.is_ok() {
            res = ingest.finish(&mut rec);
        }
        let reasoning = rec.take_reasoning();
        trace.reasoning = reasoning;
        (trace, res)
    }

    #[test]
    fn events_in_one_read_get_distinct_ordered_stamps() {
        let mut read = Vec::new();
        for i in 0..200 {
            read.extend_from_slice(
                format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n")
                    .as_bytes(),
            );
        }
        let (trace, res) = recorder_events(Protocol::OpenAiChat, &[&read]);
        res.unwrap();
        let ev = &trace.timeline.content_events;
        assert_eq!(ev.len(), 200);
        assert!(ev.windows(2).all(|w| w[0] <= w[1]));
        // Stamps are taken per event, not once per read: not all equal.
        assert!(
            ev.first() < ev.last(),
            "{:?} .. {:?}",
            ev.first(),
            ev.last()
        );
        assert!(trace.text.starts_with("t0t1t2"));
    }

    #[test]
    fn garbage_and_engine_errors_stop_the_stream() {
        let (_, res) = recorder_events(Protocol::OpenAiChat, &[b"data: {oops\n\n"]);
        assert!(matches!(res, Err(RequestError::Malformed(_))), "{res:?}");
        let (t, res) = recorder_events(
            Protocol::OpenAiChat,
            &[
                b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
                b"data: {\"error\":{\"message\":\"out of memory\"}}\n\n",
            ],
        );
        assert_eq!(res, Err(RequestError::Engine("out of memory".into())));
        assert_eq!(t.text, "a");
    }

    #[test]
    fn reasoning_deltas_are_events_apart_from_the_answer() {
        let d = |field: &str, text: &str| {
            format!("data: {{\"choices\":[{{\"delta\":{{\"{field}\":\"{text}\"}}}}]}}\n\n")
        };
        let reads = [
            d("reasoning_content", "Let"),
            d("reasoning_content", " me"),
            d("content", "\\n\\n"),
            d("content", "Yes"),
            "data: [DONE]\n\n".to_string(),
        ];
        let reads: Vec<&[u8]> = reads.iter().map(|r| r.as_bytes()).collect();
        let (t, res) = recorder_events(Protocol::OpenAiChat, &reads);
        res.unwrap();
        let ev = &t.timeline.content_events;
        assert_eq!(ev.len(), 4);
        assert_eq!(t.text, "\n\nYes");
        let r = t.reasoning.expect("reasoning");
        assert_eq!(r.events, 2);
        assert_eq!(
            r.first_answer,
            Some(ev[3]),
            "whitespace is not an answer yet"
        );
        // A <think> block in the content, no separate field.
        let reads = [
            d("content", "<think>"),
            d("content", "hmm"),
            d("content", "</think>"),
            d("content", "No"),
        ];
        let reads: Vec<&[u8]> = reads.iter().map(|r| r.as_bytes()).collect();
        let (t, _) = recorder_events(Protocol::OpenAiChat, &reads);
        let r = t.reasoning.expect("reasoning");
        assert_eq!(r.events, 3);
        assert_eq!(r.first_answer, Some(t.timeline.content_events[3]));
        // No reasoning, no record of it.
        let reads = [d("content", "plain")];
        let reads: Vec<&[u8]> = reads.iter().map(|r| r.as_bytes()).collect();
        assert_eq!(
            recorder_events(Protocol::OpenAiChat, &reads).0.reasoning,
            None
        );
    }

    #[test]
    fn ndjson_recording() {
        let (t, res) = recorder_events(
            Protocol::OllamaChat,
            &[
                b"{\"message\":{\"content\":\"a\"},\"done\":false}\n{\"message\":{\"con",
                b"tent\":\"b\"},\"done\":false}\n{\"done\":true,\"eval_count\":2}",
            ],
        );
        res.unwrap();
        assert_eq!(t.text, "ab");
        assert_eq!(t.timeline.content_events.len(), 2);
        assert_eq!(t.usage.unwrap().completion_tokens, Some(2));
        assert!(t.timeline.end.is_some());
    }

    #[test]
    fn error_text_rule() {
        let mut t = Trace {
            text: "Error: model failed".into(),
            usage: Some(Usage {
                prompt_tokens: Some(0),
                completion_tokens: Some(0),
                cached_tokens: None,
            }),
            ..Trace::default()
        };
        apply_error_text_rule(&mut t);
        assert!(matches!(t.error, Some(RequestError::Engine(_))));
        let mut ok = Trace {
            text: "Error: is a fine word".into(),
            usage: Some(Usage {
                prompt_tokens: Some(3),
                completion_tokens: Some(5),
                cached_tokens: None,
            }),
            ..Trace::default()
        };
        apply_error_text_rule(&mut ok);
        assert!(ok.error.is_none());
    }

    #[test]
    fn excerpt_is_bounded_and_one_line() {
        assert_eq!(excerpt(b"a\n  b\tc", 100), "a b c");
        assert_eq!(excerpt(b"abcdef", 3), "abc…");
    }
}
