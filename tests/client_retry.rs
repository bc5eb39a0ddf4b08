//! The measuring client against HTTP/1.1 servers that close keep-alive connections: a
//! healthy server that drops an idle connection must never cost a failed request, and a
//! server that fails mid-answer must never be hidden by a retry.
//!
//! The servers here are raw tokio sockets on loopback (no HTTP library), so what they do
//! to a connection is exactly what the test says. "The race" a client loses against a
//! server that closes an idle connection (the request is written just as the server's
//! close is under way) is made deterministic: the server closes the connection the moment
//! the next request arrives on it, without answering.

use inferbench::client::stream::{execute, http_client};
use inferbench::client::{Protocol, RequestError, RequestSpec, Trace};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One streamed chat answer ("hi", then the finish reason and usage, then `[DONE]`).
const SSE: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
data: [DONE]\n\n";

/// What the server does with the `n`-th request (0-based) on a connection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    /// A complete response with these extra header lines.
    Answer(&'static str),
    /// A complete response, then the connection is closed at once (no `Connection: close`).
    AnswerAndClose,
    /// Close without answering (the server had given the connection up).
    Close,
    /// The response head and the first event of the body, then close (the server died
    /// mid-answer).
    Partial,
}

/// A fake server: `plan(n)` says what to do with the n-th request of each connection.
struct Server {
    url: String,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server(plan: fn(usize) -> Act) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (a, r) = (accepted.clone(), requests.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            a.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(connection(tcp, plan, r));
        }
    });
    Server {
        url,
        accepted,
        requests,
        task,
    }
}

async fn connection(mut tcp: TcpStream, plan: fn(usize) -> Act, requests: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    for n in 0.. {
        if !read_request(&mut tcp, &mut buf).await {
            return;
        }
        let act = plan(n);
        if act != Act::Close {
            requests.fetch_add(1, Ordering::SeqCst);
        }
        let head = |extra: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\n{extra}\r\n",
                SSE.len()
            )
        };
        let out = match act {
            Act::Close => return,
            Act::Answer(extra) => format!("{}{SSE}", head(extra)),
            Act::AnswerAndClose => format!("{}{SSE}", head("")),
            Act::Partial => {
                let first_event = SSE.find("\n\n").map_or(0, |i| i + 2);
                format!("{}{}", head(""), &SSE[..first_event])
            }
        };
        if tcp.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        if matches!(act, Act::AnswerAndClose | Act::Partial) {
            return;
        }
        if let Act::Answer(extra) = act
            && extra.contains("Connection: close")
        {
            return;
        }
    }
}

/// Read one request (head and Content-Length body) into `buf`; false at end of stream.
async fn read_request(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return true;
            }
        }
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn spec(url: &str) -> RequestSpec {
    RequestSpec {
        url: url.to_string(),
        protocol: Protocol::OpenAiChat,
        body: json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                     "stream": true, "max_tokens": 1}),
        stream: true,
        timeout: Duration::from_secs(10),
    }
}

/// Send `n` requests one after another on one client (one pooled connection).
async fn sequential(url: &str, n: usize) -> Vec<Trace> {
    let http = http_client(1).unwrap();
    let spec = spec(url);
    let origin = Instant::now();
    let mut traces = Vec::new();
    for _ in 0..n {
        traces.push(execute(&http, &spec, origin, Instant::now()).await);
    }
    traces
}

fn failures(traces: &[Trace]) -> Vec<String> {
    traces
        .iter()
        .filter_map(|t| t.error.as_ref().map(|e| e.to_string()))
        .collect()
}

#[tokio::test]
async fn a_connection_closed_after_each_answer_costs_a_retry_never_a_failure() {
    // Every connection serves one request; a second one on it is dropped unanswered,
    // with no `Connection: close` ever said: the client reuses it and loses the race.
    let s = server(|n| if n == 0 { Act::Answer("") } else { Act::Close }).await;
    let traces = sequential(&s.url, 20).await;
    assert_eq!(failures(&traces), Vec::<String>::new());
    assert!(traces.iter().all(|t| t.text == "hi"));
    // Request 0 opens a connection and leaves it pooled; request 1 reuses it, is
    // dropped, and is sent again on a new connection that is not pooled (a retry's
    // connection is its own); request 2 finds the pool empty and opens one; and so on:
    // every odd request is retried once, no even one is.
    for (i, t) in traces.iter().enumerate().step_by(2) {
        assert!(t.retries.is_none(), "request {i}: {:?}", t.retries);
    }
    for (i, t) in traces.iter().enumerate().skip(1).step_by(2) {
        let r = t
            .retries
            .as_ref()
            .unwrap_or_else(|| panic!("request {i}: no retry"));
        assert_eq!(r.count, 1);
        assert!(
            r.first_error
                .contains("connection closed before message completed")
                || r.first_error.contains("reset"),
            "request {i}: {}",
            r.first_error
        );
        // The scheduled instant stays; the retry's first write is `sent`.
        assert!(t.timeline.sent >= t.timeline.scheduled);
        assert!(t.timeline.first_byte.unwrap() >= t.timeline.sent);
    }
    assert_eq!(s.requests.load(Ordering::SeqCst), 20);
    assert_eq!(s.accepted.load(Ordering::SeqCst), 20);

    // The record keeps the retry, and its JSON says so.
    let mut rec = inferbench::results::RunRecord::new(
        "fake",
        inferbench::results::Mode::Api,
        "/v1/chat/completions",
        "p",
        "t",
        1,
        inferbench::results::Sampling {
            max_tokens: 1,
            temperature: 0.0,
            seed: None,
            top_p: None,
            top_k: None,
            ignore_eos: false,
        },
        "t",
    );
    inferbench::record::fill_from_trace(&mut rec, traces[1].clone(), None);
    assert!(rec.ok, "{:?}", rec.error);
    let v = serde_json::to_value(&rec).unwrap();
    assert_eq!(v["retries"]["count"], 1, "{v}");
    assert!(v["retries"]["first_error"].as_str().unwrap().len() > 10);
    // A record without a retry has no such field.
    let mut plain = rec.clone();
    inferbench::record::fill_from_trace(&mut plain, traces[0].clone(), None);
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("retries")
            .is_none()
    );
}

#[tokio::test]
async fn a_server_that_closes_right_after_each_answer_fails_nothing() {
    // The server closes as soon as its answer is written. Whether the client sees the
    // close before its next request is a race; either way nothing may fail, and a
    // request is sent at most twice.
    let s = server(|_| Act::AnswerAndClose).await;
    let traces = sequential(&s.url, 50).await;
    assert_eq!(failures(&traces), Vec::<String>::new());
    assert!(
        traces
            .iter()
            .all(|t| t.retries.as_ref().is_none_or(|r| r.count == 1))
    );
    assert_eq!(s.requests.load(Ordering::SeqCst), 50);
}

#[tokio::test]
async fn failing_after_response_bytes_is_the_servers_failure_not_retried() {
    // The second request on each connection gets half an answer, then the close.
    let s = server(|n| {
        if n == 0 {
            Act::Answer("")
        } else {
            Act::Partial
        }
    })
    .await;
    let traces = sequential(&s.url, 2).await;
    assert!(traces[0].error.is_none(), "{:?}", traces[0].error);
    let t = &traces[1];
    assert!(
        matches!(t.error, Some(RequestError::Truncated(_))),
        "{:?}",
        t.error
    );
    assert!(t.retries.is_none(), "{:?}", t.retries);
    assert_eq!(s.accepted.load(Ordering::SeqCst), 1, "no second connection");
}

#[tokio::test]
async fn failing_on_a_fresh_connection_is_not_retried() {
    // Every connection is dropped unanswered: the first request of a client has no
    // earlier answer on its connection, so its failure is the server's.
    let s = server(|_| Act::Close).await;
    let traces = sequential(&s.url, 1).await;
    let t = &traces[0];
    assert!(
        matches!(t.error, Some(RequestError::Transport(_))),
        "{:?}",
        t.error
    );
    assert!(t.retries.is_none(), "{:?}", t.retries);
    assert_eq!(s.accepted.load(Ordering::SeqCst), 1, "sent once");
}

#[tokio::test]
async fn connection_close_is_honoured() {
    // `Connection: close`, then the close: each request opens its own connection, and
    // none ever meets a closed one.
    let s = server(|_| Act::Answer("Connection: close\r\n")).await;
    let traces = sequential(&s.url, 5).await;
    assert_eq!(failures(&traces), Vec::<String>::new());
    assert!(traces.iter().all(|t| t.retries.is_none()));
    assert_eq!(s.accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn keep_alive_max_is_honoured() {
    // cpp-httplib's way: `Keep-Alive: timeout=5, max=3` on every answer, and a fourth
    // request on a connection is dropped unanswered. The client must not send it.
    let s = server(|n| {
        if n < 3 {
            Act::Answer("Keep-Alive: timeout=5, max=3\r\n")
        } else {
            Act::Close
        }
    })
    .await;
    let traces = sequential(&s.url, 9).await;
    assert_eq!(failures(&traces), Vec::<String>::new());
    assert!(
        traces.iter().all(|t| t.retries.is_none()),
        "{:?}",
        traces.iter().map(|t| &t.retries).collect::<Vec<_>>()
    );
    assert_eq!(s.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn keep_alive_timeout_is_honoured() {
    // `Keep-Alive: timeout=1`: after 2 s idle the server would have closed the
    // connection (its second request would be dropped), so the client must open a new
    // one instead of reusing it.
    let s = server(|n| {
        if n == 0 {
            Act::Answer("Keep-Alive: timeout=1\r\n")
        } else {
            Act::Close
        }
    })
    .await;
    let http = http_client(1).unwrap();
    let spec = spec(&s.url);
    let origin = Instant::now();
    let first = execute(&http, &spec, origin, Instant::now()).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = execute(&http, &spec, origin, Instant::now()).await;
    assert!(second.error.is_none(), "{:?}", second.error);
    assert!(second.retries.is_none(), "{:?}", second.retries);
    assert_eq!(s.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_404_names_the_url_and_what_a_base_url_should_be() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                let body = "File Not Found";
                let out = format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if tcp.write_all(out.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    });
    let url = format!("http://{addr}/v1/v1/chat/completions");
    let traces = sequential(&url, 1).await;
    task.abort();
    let e = traces[0].error.as_ref().expect("a 404 fails").to_string();
    assert!(e.contains("HTTP 404"), "{e}");
    assert!(e.contains(&url), "{e}");
    assert!(e.contains("/v1"), "{e}");
    assert!(e.contains("root"), "{e}");
}
