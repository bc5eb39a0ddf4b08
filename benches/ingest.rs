//! End-to-end ingest rate of the client: 64 concurrent streams from the mock engine with
//! zero delays (1 token per SSE event), client on one thread (a current-thread runtime),
//! mock on another. Throughput is in content events (= tokens) per second. A lower bound
//! for the client alone, since both share the machine.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use inferbench::client::stream::{build_spec, execute, http_client};
use inferbench::client::{Message, PromptInput};
use inferbench::engine::ApiTarget;
use inferbench::mock::{self, MockConfig};
use inferbench::results::Sampling;
use std::time::{Duration, Instant};

const STREAMS: usize = 64;
const TOKENS: u32 = 1024;

fn bench(c: &mut Criterion) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            let cfg = MockConfig {
                ttft_ms: 0.0,
                itl_ms: 0.0,
                tokens: TOKENS,
                ..MockConfig::default()
            };
            mock::serve(l, cfg, std::future::pending()).await.unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = ApiTarget::openai("mock", &format!("http://{addr}"), Some("m".into()), true);
    let prompt = PromptInput {
        messages: vec![Message {
            role: "user".into(),
            content: "hi".into(),
        }],
        rendered: "hi".into(),
    };
    let sampling = Sampling {
        max_tokens: TOKENS,
        temperature: 0.0,
        seed: None,
        top_p: None,
        top_k: None,
        ignore_eos: false,
    };
    let spec = build_spec(&target, &prompt, &sampling, true, Duration::from_secs(60));
    let http = http_client(STREAMS).unwrap();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(STREAMS as u64 * u64::from(TOKENS)));
    g.sample_size(10);
    g.bench_function("64_streams_zero_delay", |b| {
        b.iter(|| {
            rt.block_on(async {
                let origin = Instant::now();
                let futs = (0..STREAMS).map(|_| execute(&http, &spec, origin, origin));
                let traces = futures_util::future::join_all(futs).await;
                for t in &traces {
                    assert!(t.error.is_none(), "{:?}", t.error);
                    assert_eq!(t.timeline.content_events.len(), TOKENS as usize);
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
