//! Cost of ingesting a stream: SSE parsing alone, and parsing + decoding + stamping each
//! content event as the client does (`client::stream`), on a realistic OpenAI chunk.
//! Throughput is reported in events per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use inferbench::client::protocol::{EventSink, decode_into};
use inferbench::client::sse::{SseItem, SseParser};
use inferbench::client::{Protocol, Usage};
use inferbench::results::EngineReport;
use std::hint::black_box;
use std::time::{Duration, Instant};

const EVENTS: usize = 1024;
const READ: usize = 4096;

/// A stream shaped like vLLM / llama.cpp output: one token of Korean text per chunk.
fn stream() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..EVENTS {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-8f3a9c2e5b\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"gemma-3-270m\",\"system_fingerprint\":\"b1-abc\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"토큰{i}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str("data: [DONE]\n\n");
    s.into_bytes()
}

/// What the client's recorder does per event: stamp, push the instant, append the text.
struct Sink {
    origin: Instant,
    events: Vec<Duration>,
    text: String,
}

impl EventSink for Sink {
    fn content(&mut self, text: &str) {
        self.events.push(Instant::now() - self.origin);
        self.text.push_str(text);
    }
    fn usage(&mut self, _: Usage) {}
    fn timings(&mut self, _: EngineReport) {}
    fn finish_reason(&mut self, _: &str) {}
    fn error(&mut self, _: String) {}
    fn done(&mut self) {}
}

fn bench(c: &mut Criterion) {
    let bytes = stream();
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Elements(EVENTS as u64));

    g.bench_function("parse_only_4k_reads", |b| {
        let mut p = SseParser::new();
        b.iter(|| {
            let mut n = 0usize;
            for read in bytes.chunks(READ) {
                p.feed(black_box(read), |i| {
                    if let SseItem::Data(d) = i {
                        n += d.len();
                    }
                });
            }
            p.finish(|_| {});
            black_box(n)
        })
    });

    g.bench_function("parse_decode_stamp_4k_reads", |b| {
        let mut p = SseParser::new();
        let mut sink = Sink {
            origin: Instant::now(),
            events: Vec::with_capacity(EVENTS),
            text: String::with_capacity(EVENTS * 16),
        };
        b.iter(|| {
            sink.events.clear();
            sink.text.clear();
            for read in bytes.chunks(READ) {
                p.feed(black_box(read), |i| {
                    if let SseItem::Data(d) = i {
                        let _ = decode_into(Protocol::OpenAiChat, d, &mut sink);
                    }
                });
            }
            p.finish(|_| {});
            black_box(sink.events.len())
        })
    });

    g.bench_function("parse_decode_stamp_one_event_per_read", |b| {
        let reads: Vec<&[u8]> = bytes
            .split_inclusive(|&c| c == b'\n')
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|pair| {
                let start = pair[0].as_ptr() as usize - bytes.as_ptr() as usize;
                let len: usize = pair.iter().map(|l| l.len()).sum();
                &bytes[start..start + len]
            })
            .collect();
        let mut p = SseParser::new();
        let mut sink = Sink {
            origin: Instant::now(),
            events: Vec::with_capacity(EVENTS),
            text: String::with_capacity(EVENTS * 16),
        };
        b.iter(|| {
            sink.events.clear();
            sink.text.clear();
            for read in &reads {
                p.feed(black_box(read), |i| {
                    if let SseItem::Data(d) = i {
                        let _ = decode_into(Protocol::OpenAiChat, d, &mut sink);
                    }
                });
            }
            p.finish(|_| {});
            black_box(sink.events.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
