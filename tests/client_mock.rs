//! The streaming client against the synthetic engine (in-process, 127.0.0.1:0) and against
//! hand-written raw HTTP servers. Bounds on real time are loose: these machines are shared.

use inferbench::cli::Fault;
use inferbench::client::stream::{build_spec, execute, http_client};
use inferbench::client::{Message, PromptInput, RequestError, Trace};
use inferbench::engine::ApiTarget;
use inferbench::measure::metrics;
use inferbench::mock::{self, MockConfig};
use inferbench::results::Sampling;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Mock {
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(cfg: MockConfig) -> Mock {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(mock::serve(l, cfg, async {
        let _ = rx.await;
    }));
    Mock {
        base: format!("http://{addr}"),
        _stop: tx,
    }
}

fn prompt() -> PromptInput {
    PromptInput {
        messages: vec![
            Message {
                role: "system".into(),
                content: "You are helpful.".into(),
            },
            Message {
                role: "user".into(),
                content: "안녕하세요".into(),
            },
        ],
        rendered: "<start_of_turn>user\n안녕하세요<end_of_turn>\n<start_of_turn>model\n".into(),
    }
}

fn sampling(max_tokens: u32) -> Sampling {
    Sampling {
        max_tokens,
        temperature: 0.3,
        seed: Some(1),
        top_p: None,
        top_k: None,
        ignore_eos: false,
    }
}

async fn request(
    base: &str,
    chat: bool,
    stream: bool,
    max_tokens: u32,
    timeout: Duration,
) -> Trace {
    let target = ApiTarget::openai("mock", base, Some("mock".into()), chat);
    let spec = build_spec(&target, &prompt(), &sampling(max_tokens), stream, timeout);
    let http = http_client(4).unwrap();
    let origin = Instant::now();
    execute(&http, &spec, origin, Instant::now()).await
}

fn ttft_ms(t: &Trace) -> f64 {
    metrics::ms_between(t.timeline.sent, t.timeline.content_events[0])
}

fn completion_tokens(t: &Trace) -> Option<u64> {
    t.usage.and_then(|u| u.completion_tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_128_tokens_with_50ms_ttft() {
    let m = start(MockConfig::default()).await;
    let t = request(&m.base, true, true, 500, Duration::from_secs(10)).await;
    assert_eq!(t.error, None);
    assert_eq!(t.http_status, Some(200));
    assert_eq!(t.timeline.content_events.len(), 128);
    assert_eq!(completion_tokens(&t), Some(128));
    assert_eq!(t.finish_reason.as_deref(), Some("stop"));
    assert!(t.text.starts_with("오늘 날씨가"), "{}", t.text);
    let ttft = ttft_ms(&t);
    assert!((45.0..80.0).contains(&ttft), "ttft {ttft}");
    let m = metrics::compute(&t.timeline, completion_tokens(&t), None);
    let tpot = m.tpot_ms.unwrap();
    assert!((4.5..6.5).contains(&tpot), "tpot {tpot}");
    assert!(t.timeline.first_byte.unwrap() <= t.timeline.content_events[0]);
    assert!(t.timeline.end.unwrap() >= *t.timeline.content_events.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_tokens_per_chunk_gives_32_events_and_usage_128() {
    let m = start(MockConfig {
        tokens_per_chunk: 4,
        ..MockConfig::default()
    })
    .await;
    let t = request(&m.base, true, true, 500, Duration::from_secs(10)).await;
    assert_eq!(t.error, None);
    assert_eq!(t.timeline.content_events.len(), 32);
    assert_eq!(completion_tokens(&t), Some(128));
    // A chunk is sent when its last token is due: the first at 50 + 3·5 ms.
    let ttft = ttft_ms(&t);
    assert!((60.0..95.0).contains(&ttft), "ttft {ttft}");
    let m = metrics::compute(&t.timeline, completion_tokens(&t), None);
    let icl = m.icl_ms.unwrap();
    assert!((18.0..24.0).contains(&icl), "icl {icl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_caps_output_and_completions_endpoint_works() {
    let m = start(MockConfig {
        ttft_ms: 5.0,
        itl_ms: 1.0,
        ..MockConfig::default()
    })
    .await;
    let t = request(&m.base, false, true, 10, Duration::from_secs(10)).await;
    assert_eq!(t.error, None);
    assert_eq!(t.timeline.content_events.len(), 10);
    assert_eq!(completion_tokens(&t), Some(10));
    assert_eq!(t.finish_reason.as_deref(), Some("length"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_is_one_event_at_body_arrival() {
    let m = start(MockConfig {
        tokens: 20,
        ..MockConfig::default()
    })
    .await;
    let t = request(&m.base, true, false, 500, Duration::from_secs(10)).await;
    assert_eq!(t.error, None);
    assert_eq!(t.timeline.content_events.len(), 1);
    assert_eq!(completion_tokens(&t), Some(20));
    // The last of 20 tokens is due at 50 + 19·5 = 145 ms.
    let e2e = ttft_ms(&t);
    assert!((140.0..190.0).contains(&e2e), "e2e {e2e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_usage_leaves_usage_empty() {
    let m = start(MockConfig {
        ttft_ms: 1.0,
        itl_ms: 0.0,
        tokens: 5,
        no_usage: true,
        ..MockConfig::default()
    })
    .await;
    let t = request(&m.base, true, true, 500, Duration::from_secs(10)).await;
    assert_eq!(t.error, None);
    assert_eq!(t.usage, None);
    assert_eq!(t.timeline.content_events.len(), 5);
}

fn fault_cfg(fault: Fault) -> MockConfig {
    MockConfig {
        ttft_ms: 5.0,
        itl_ms: 1.0,
        tokens: 40,
        fault: Some(fault),
        ..MockConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http500_is_a_status_error_with_body() {
    let m = start(fault_cfg(Fault::Http500)).await;
    let t = request(&m.base, true, true, 500, Duration::from_secs(10)).await;
    match &t.error {
        Some(RequestError::Status { status: 500, body }) => {
            assert!(body.contains("injected fault"), "{body}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.http_status, Some(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_stream_is_truncated_and_keeps_what_arrived() {
    let m = start(fault_cfg(Fault::Truncate)).await;
    let t = request(&m.base, true, true, 500, Duration::from_secs(10)).await;
    assert!(
        matches!(t.error, Some(RequestError::Truncated(_))),
        "{:?}",
        t.error
    );
    assert_eq!(t.timeline.content_events.len(), 20);
    let t = request(&m.base, true, false, 500, Duration::from_secs(10)).await;
    assert!(
        matches!(t.error, Some(RequestError::Truncated(_))),
        "{:?}",
        t.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_malformed() {
    let m = start(fault_cfg(Fault::Garbage)).await;
    let t = request(&m.base, true, true, 500, Duration::from_secs(10)).await;
    assert!(
        matches!(t.error, Some(RequestError::Malformed(_))),
        "{:?}",
        t.error
    );
    let t = request(&m.base, true, false, 500, Duration::from_secs(10)).await;
    assert!(
        matches!(t.error, Some(RequestError::Malformed(_))),
        "{:?}",
        t.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_times_out_after_the_first_token() {
    let m = start(fault_cfg(Fault::Stall)).await;
    let started = Instant::now();
    let t = request(&m.base, true, true, 500, Duration::from_millis(400)).await;
    assert!(
        matches!(&t.error, Some(RequestError::Timeout { waiting, .. }) if waiting.starts_with("waiting for more tokens (1 arrived")),
        "{:?}",
        t.error
    );
    assert_eq!(t.timeline.content_events.len(), 1);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_every_second_request() {
    let mut cfg = fault_cfg(Fault::Http500);
    cfg.fault_every = 2;
    let m = start(cfg).await;
    let mut errors = Vec::new();
    for _ in 0..4 {
        let t = request(&m.base, true, true, 500, Duration::from_secs(10)).await;
        errors.push(t.error.is_some());
    }
    assert_eq!(errors, vec![false, true, false, true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_models() {
    let m = start(MockConfig {
        model: "gemma-mock".into(),
        ..MockConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let h: serde_json::Value = http
        .get(format!("{}/health", m.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let models: serde_json::Value = http
        .get(format!("{}/v1/models", m.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "gemma-mock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let t = request(
        &format!("http://{addr}"),
        true,
        true,
        10,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(t.error, Some(RequestError::Connect(_))),
        "{:?}",
        t.error
    );
}

/// A server that answers any request with `pieces`, written one by one with a pause in
/// between, then closes the connection (a close-delimited HTTP/1.1 body).
async fn raw_server(pieces: Vec<Vec<u8>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        sock.set_nodelay(true).unwrap();
        // Read the request head and body (Content-Length).
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        loop {
            let n = sock.read(&mut tmp).await.unwrap();
            buf.extend_from_slice(&tmp[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..p]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= p + 4 + len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        sock.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        for p in pieces {
            sock.write_all(&p).await.unwrap();
            sock.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_split_across_reads_at_awkward_places() {
    let body = ": opening heartbeat\r\n\r\ndata: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\r\n\r\n\
                data:{\"choices\":[{\"delta\":{\"content\":\"안녕\"}}]}\r\n\r\n\
                data: {\"choices\":[{\"delta\":{\"content\":\"하세요\"}}]}\n\n\
                data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
                data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
    let bytes = body.as_bytes();
    // Cut inside "data:", between CR and LF, inside a multi-byte character, inside [DONE].
    let content_at = body.find("안녕").unwrap();
    let cuts = [
        3,
        body.find("\r\n\r\ndata:{").unwrap() + 1,
        content_at + 1,
        content_at + 4,
        body.find("data: {\"choices\":[{\"delta\":{\"content\":\"하세요")
            .unwrap()
            + 10,
        body.find("[DONE]").unwrap() + 3,
    ];
    let mut pieces = Vec::new();
    let mut last = 0;
    for c in cuts {
        pieces.push(bytes[last..c].to_vec());
        last = c;
    }
    pieces.push(bytes[last..].to_vec());
    let base = raw_server(pieces).await;
    let t = request(&base, true, true, 500, Duration::from_secs(5)).await;
    assert_eq!(t.error, None);
    assert_eq!(t.text, "안녕하세요");
    assert_eq!(t.timeline.content_events.len(), 2);
    assert_eq!(completion_tokens(&t), Some(2));
    assert_eq!(t.finish_reason.as_deref(), Some("stop"));
    // The two content events arrived in different reads, 15 ms apart or more.
    let gap = metrics::ms_between(t.timeline.content_events[0], t.timeline.content_events[1]);
    assert!(gap >= 10.0, "gap {gap}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_error_inside_the_stream() {
    let base = raw_server(vec![
        b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec(),
        b"data: {\"error\":{\"message\":\"context overflow\",\"type\":\"server_error\"}}\n\n"
            .to_vec(),
    ])
    .await;
    let t = request(&base, true, true, 500, Duration::from_secs(5)).await;
    match &t.error {
        Some(RequestError::Engine(m)) => assert!(m.contains("context overflow"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.text, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_without_done_or_finish_is_truncated() {
    let base = raw_server(vec![
        b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec(),
    ])
    .await;
    let t = request(&base, true, true, 500, Duration::from_secs(5)).await;
    assert!(
        matches!(t.error, Some(RequestError::Truncated(_))),
        "{:?}",
        t.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_concurrent_streams_complete() {
    let m = start(MockConfig {
        tokens: 32,
        ..MockConfig::default()
    })
    .await;
    let target = ApiTarget::openai("mock", &m.base, Some("mock".into()), true);
    let spec = build_spec(
        &target,
        &prompt(),
        &sampling(500),
        true,
        Duration::from_secs(20),
    );
    let http = http_client(300).unwrap();
    let origin = Instant::now();
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let (http, spec) = (http.clone(), spec.clone());
            tokio::spawn(async move { execute(&http, &spec, origin, Instant::now()).await })
        })
        .collect();
    let mut ttfts = Vec::new();
    let mut after_head = Vec::new();
    for t in tasks {
        let t = t.await.unwrap();
        assert_eq!(t.error, None);
        assert_eq!(t.timeline.content_events.len(), 32);
        assert_eq!(completion_tokens(&t), Some(32));
        ttfts.push(ttft_ms(&t));
        after_head.push(metrics::ms_between(
            t.timeline.first_byte.unwrap(),
            t.timeline.content_events[0],
        ));
    }
    let mean = ttfts.iter().sum::<f64>() / ttfts.len() as f64;
    let mean_after_head = after_head.iter().sum::<f64>() / after_head.len() as f64;
    eprintln!("mean ttft {mean:.2} ms, of which after the response head {mean_after_head:.2} ms");
    // The mock waits 50 ms after each request arrives before its first token, so no
    // TTFT measured from our send can be shorter. How that 50 ms splits around the
    // response head depends on how soon 2 busy cores poll 300 sockets, so the split is
    // only checked for order (the head comes before the first token), not for size.
    assert!(ttfts.iter().all(|&t| t >= 49.0), "{ttfts:?}");
    assert!(mean >= 50.0, "mean ttft {mean}");
    assert!(after_head.iter().all(|&a| a >= 0.0), "{after_head:?}");
    assert!(mean_after_head < mean, "{mean_after_head} vs {mean}");
}
