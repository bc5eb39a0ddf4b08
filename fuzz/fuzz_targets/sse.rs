//! SSE parser (`client::sse`): arbitrary bytes as one `text/event-stream` body.
//!
//! Checks, besides "no panic":
//! - the events equal those of an independent, line-at-a-time model of the rules the
//!   parser documents (WHATWG line ends, `data:` joining, comments, `[DONE]`, and the
//!   lenient dispatch of an unterminated last event);
//! - feeding the same bytes in pieces (one byte at a time, pieces of 3, cut points
//!   drawn from the input's own hash) gives the same events as feeding them whole;
//! - a parser reused after `finish` behaves like a fresh one;
//! - every data payload goes through an OpenAI / llama.cpp event decoder without panic.
#![no_main]

use inferbench::client::Protocol;
use inferbench::client::protocol::decode;
use inferbench::client::sse::{OwnedSseItem, SseParser, parse_all};
use libfuzzer_sys::fuzz_target;

/// The documented rules, one whole line at a time (a deliberately naive second opinion).
fn model(bytes: &[u8]) -> Vec<OwnedSseItem> {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&bytes[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&bytes[start..i]);
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(&bytes[start..]);
    }
    let mut out = Vec::new();
    let mut data: Option<Vec<u8>> = None;
    let dispatch = |d: Vec<u8>, out: &mut Vec<OwnedSseItem>| {
        if d.trim_ascii() == b"[DONE]" {
            out.push(OwnedSseItem::Done);
        } else {
            out.push(OwnedSseItem::Data(d));
        }
    };
    for line in lines {
        if line.is_empty() {
            if let Some(d) = data.take() {
                dispatch(d, &mut out);
            }
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (name, value) = match line.iter().position(|&c| c == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        if name != b"data" {
            continue;
        }
        match &mut data {
            Some(d) => {
                d.push(b'\n');
                d.extend_from_slice(value);
            }
            None => data = Some(value.to_vec()),
        }
    }
    if let Some(d) = data.take() {
        dispatch(d, &mut out);
    }
    out
}

fn feed_pieces(p: &mut SseParser, bytes: &[u8], cuts: &[usize]) -> Vec<OwnedSseItem> {
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts {
        p.feed(&bytes[last..c], |i| out.push(i.to_owned_item()));
        last = c;
    }
    p.feed(&bytes[last..], |i| out.push(i.to_owned_item()));
    p.finish(|i| out.push(i.to_owned_item()));
    out
}

/// Sorted cut points from a small PRNG seeded by the input (FNV-1a + xorshift).
fn hashed_cuts(bytes: &[u8]) -> Vec<usize> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut cuts = Vec::new();
    for _ in 0..(h % 9) {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        cuts.push((h % (bytes.len() as u64 + 1)) as usize);
    }
    cuts.sort_unstable();
    cuts
}

fuzz_target!(|bytes: &[u8]| {
    let whole = parse_all(bytes);
    assert_eq!(whole, model(bytes), "parser disagrees with the line model");

    let mut p = SseParser::new();
    let one_by_one: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(
        feed_pieces(&mut p, bytes, &one_by_one),
        whole,
        "byte at a time"
    );
    // The same parser again, after `finish`: it must have reset itself.
    let threes: Vec<usize> = (3..bytes.len()).step_by(3).collect();
    assert_eq!(feed_pieces(&mut p, bytes, &threes), whole, "pieces of 3");
    let cuts = hashed_cuts(bytes);
    assert_eq!(feed_pieces(&mut p, bytes, &cuts), whole, "cuts {cuts:?}");

    // One decoder per event, in turn (decoding every event three times would slow the
    // search for little gain).
    let protocols = [
        Protocol::OpenAiChat,
        Protocol::OpenAiCompletions,
        Protocol::LlamaCompletion,
    ];
    for (item, protocol) in whole.iter().zip(protocols.iter().cycle()) {
        if let OwnedSseItem::Data(d) = item {
            let _ = decode(*protocol, d);
        }
    }
});
