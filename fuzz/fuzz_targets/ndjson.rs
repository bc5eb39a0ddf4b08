//! NDJSON splitter (`client::ndjson`): arbitrary bytes as one Ollama stream body.
//!
//! Checks, besides "no panic":
//! - the lines equal those of a naive model (split on `\n`, drop one trailing `\r`, skip
//!   blank lines; a last line without `\n` counts);
//! - no line carries a `\n`, and none is blank;
//! - feeding the bytes in pieces (one byte at a time, pieces of 3, cut points drawn from
//!   the input's own hash) gives the same lines as feeding them whole, and a splitter
//!   reused after `finish` behaves like a fresh one;
//! - every line goes through an Ollama generate / chat decoder without panic.
#![no_main]

use inferbench::client::Protocol;
use inferbench::client::ndjson::{NdjsonSplitter, split_all};
use inferbench::client::protocol::decode;
use libfuzzer_sys::fuzz_target;

fn model(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // `split` yields a last, empty piece after a final `\n`; it is blank and dropped below.
    if parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
        .into_iter()
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.trim_ascii().is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn feed_pieces(s: &mut NdjsonSplitter, bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts {
        s.feed(&bytes[last..c], |l| out.push(l.to_vec()));
        last = c;
    }
    s.feed(&bytes[last..], |l| out.push(l.to_vec()));
    s.finish(|l| out.push(l.to_vec()));
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
    let whole = split_all(bytes);
    assert_eq!(whole, model(bytes), "splitter disagrees with the model");
    for line in &whole {
        assert!(!line.contains(&b'\n'), "a line holds a line end: {line:?}");
        assert!(!line.trim_ascii().is_empty(), "a blank line came out");
    }

    let mut s = NdjsonSplitter::new();
    let one_by_one: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(
        feed_pieces(&mut s, bytes, &one_by_one),
        whole,
        "byte at a time"
    );
    let threes: Vec<usize> = (3..bytes.len()).step_by(3).collect();
    assert_eq!(feed_pieces(&mut s, bytes, &threes), whole, "pieces of 3");
    let cuts = hashed_cuts(bytes);
    assert_eq!(feed_pieces(&mut s, bytes, &cuts), whole, "cuts {cuts:?}");

    // One decoder per line, in turn.
    let protocols = [Protocol::OllamaGenerate, Protocol::OllamaChat];
    for (line, protocol) in whole.iter().zip(protocols.iter().cycle()) {
        let _ = decode(*protocol, line);
    }
});
