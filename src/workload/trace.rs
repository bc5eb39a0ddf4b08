//! Trace replay: a JSONL file of requests with their arrival times and lengths, in the
//! shape of the Mooncake traces (`{"timestamp": 27482, "input_length": 6955,
//! "output_length": 52, "hash_ids": [46, 47, ...]}`, timestamps in ms) and of the Azure
//! LLM inference traces converted to JSONL (`TIMESTAMP`, `ContextTokens`,
//! `GeneratedTokens`; the timestamp as a number in the unit given).
//!
//! Accepted names: timestamp | ts | time | TIMESTAMP; input_length | input_tokens |
//! context_tokens | ContextTokens; output_length | output_tokens | generated_tokens |
//! GeneratedTokens; hash_ids | prefix_block_ids (optional).
//!
//! Replay: arrival offset = (timestamp − first timestamp) × unit × `scale`, one open-loop
//! step whose arrivals are these offsets (the load executor's own open-loop dispatcher,
//! so send lag and latency from the scheduled instant are measured as for `--rate`).
//! Prompts: each hash id stands for one block of `block` tokens (Mooncake: 512) of text
//! seeded by the id, so requests that share ids share those blocks as a prefix; the rest
//! of the input is filled with seeded words up to exactly `input_length` tokens, chat
//! template included.

use super::synthetic::{fill_to, template_floor};
use super::{Items, Params, PromptTokens, WorkItem, Workload, WorkloadError, user};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

/// Mooncake's block size in tokens.
pub const DEFAULT_BLOCK: u64 = 512;

/// `trace:FILE[,scale=X][,unit=ms|s][,block=B]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub file: PathBuf,
    /// Multiplies every offset: 0.5 replays twice as fast.
    pub scale: f64,
    /// Seconds per timestamp unit (ms: 0.001).
    pub unit: f64,
    pub block: u64,
}

impl Spec {
    pub fn from_params(file: PathBuf, p: &mut Params) -> Result<Spec, WorkloadError> {
        let k = "trace";
        let scale = p
            .num(
                k,
                "scale",
                |x: &f64| x.is_finite() && *x > 0.0,
                "a positive factor",
            )?
            .unwrap_or(1.0);
        let unit = match p.take("unit").as_deref() {
            None | Some("ms") => 0.001,
            Some("s") => 1.0,
            Some("us") => 1e-6,
            Some(u) => {
                return Err(WorkloadError::Spec(format!(
                    "trace: unit={u}: use ms, s or us"
                )));
            }
        };
        let block = p
            .num(k, "block", |n: &u64| *n >= 1, "a block size in tokens ≥ 1")?
            .unwrap_or(DEFAULT_BLOCK);
        Ok(Spec {
            file,
            scale,
            unit,
            block,
        })
    }

    pub fn params(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("file".into(), self.file.display().to_string());
        m.insert("scale".into(), self.scale.to_string());
        m.insert(
            "unit".into(),
            if self.unit == 1.0 {
                "s"
            } else if self.unit == 1e-6 {
                "us"
            } else {
                "ms"
            }
            .into(),
        );
        m.insert("block".into(), self.block.to_string());
        m
    }
}

/// One request of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Seconds from the trace's first request (before scaling).
    pub offset_s: f64,
    pub input_length: u64,
    pub output_length: u64,
    pub hash_ids: Vec<u64>,
}

#[derive(Deserialize)]
struct RawRow {
    #[serde(alias = "ts", alias = "time", alias = "TIMESTAMP")]
    timestamp: f64,
    #[serde(
        alias = "input_tokens",
        alias = "context_tokens",
        alias = "ContextTokens"
    )]
    input_length: u64,
    #[serde(
        alias = "output_tokens",
        alias = "generated_tokens",
        alias = "GeneratedTokens"
    )]
    output_length: u64,
    #[serde(default, alias = "prefix_block_ids")]
    hash_ids: Vec<u64>,
}

/// Parse a trace (`unit`: seconds per timestamp unit). Rows are sorted by timestamp
/// (stable); offsets are from the first. Pure; `file` is for messages.
pub fn parse(text: &str, file: &str, unit: f64) -> Result<Vec<Row>, WorkloadError> {
    let err = |message: String| WorkloadError::File {
        file: file.to_string(),
        message,
    };
    let mut raw = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: RawRow = serde_json::from_str(line).map_err(|e| {
            err(format!(
                "line {}: {e}; each line must be {{\"timestamp\", \"input_length\", \"output_length\"[, \"hash_ids\"]}}",
                i + 1
            ))
        })?;
        if !r.timestamp.is_finite() || r.timestamp < 0.0 {
            return Err(err(format!("line {}: timestamp must be ≥ 0", i + 1)));
        }
        if r.input_length == 0 || r.output_length == 0 {
            return Err(err(format!(
                "line {}: input_length and output_length must be ≥ 1",
                i + 1
            )));
        }
        raw.push(r);
    }
    if raw.is_empty() {
        return Err(err("the trace has no requests".into()));
    }
    raw.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    let t0 = raw[0].timestamp;
    Ok(raw
        .into_iter()
        .map(|r| Row {
            offset_s: (r.timestamp - t0) * unit,
            input_length: r.input_length,
            output_length: r.output_length,
            hash_ids: r.hash_ids,
        })
        .collect())
}

/// The arrival offsets of `rows` replayed at `scale`. Pure.
pub fn schedule(rows: &[Row], scale: f64) -> Vec<Duration> {
    rows.iter()
        .map(|r| Duration::from_secs_f64((r.offset_s * scale).max(0.0)))
        .collect()
}

/// The most arrivals within any one second of `offsets` (sorted), at least 1: how many
/// streams the replay needs at its busiest, as a rate. Pure.
pub fn peak_rate(offsets: &[Duration]) -> f64 {
    let mut best = 0usize;
    let mut lo = 0usize;
    for hi in 0..offsets.len() {
        while offsets[hi].saturating_sub(offsets[lo]) >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best.max(1) as f64
}

pub fn build(
    spec: &Spec,
    rows: &[Row],
    seed: u64,
    tokens: &dyn PromptTokens,
) -> Result<Workload, WorkloadError> {
    let gen_err = |message: String| WorkloadError::Generate {
        kind: "trace",
        message,
    };
    let floor = template_floor(tokens).map_err(gen_err)?;
    let mut blocks: HashMap<u64, String> = HashMap::new();
    let mut fill = StdRng::seed_from_u64(seed);
    let mut items = Vec::with_capacity(rows.len());
    let mut clamped = 0usize;
    for (i, r) in rows.iter().enumerate() {
        let target = r.input_length.max(floor + 1);
        clamped += usize::from(target != r.input_length);
        // Whole blocks while they fit below the target (the last block of a Mooncake
        // request is often partial): a shared id gives the same text.
        let mut base = String::new();
        let mut used = floor;
        for id in &r.hash_ids {
            if used + spec.block > target {
                break;
            }
            let text = match blocks.get(id) {
                Some(t) => t.clone(),
                None => {
                    let mut rng =
                        StdRng::seed_from_u64(seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    let mut count = |t: &str| tokens.text_tokens(t);
                    let t = fill_to(&mut rng, &format!("Block {id}:"), spec.block, &mut count)
                        .map_err(|m| gen_err(format!("block {id}: {m}")))?;
                    blocks.insert(*id, t.clone());
                    t
                }
            };
            if !base.is_empty() {
                base.push(' ');
            }
            base.push_str(&text);
            used += spec.block;
        }
        let mut count = |t: &str| tokens.prompt_tokens(&[user(t)]);
        let prompt = fill_to(&mut fill, &base, target, &mut count)
            .map_err(|m| gen_err(format!("request {i} (line order by time): {m}")))?;
        items.push(WorkItem {
            id: format!("trace-{i:05}"),
            messages: vec![user(prompt)],
            max_tokens: Some(u32::try_from(r.output_length).unwrap_or(u32::MAX)),
            exact_output: true,
            input_tokens: Some(target),
        });
    }
    let offsets = schedule(rows, spec.scale);
    let span = offsets.last().copied().unwrap_or_default();
    let mut w = Workload::new(
        "trace",
        spec.params(),
        seed,
        Items::Requests(items),
        Some(offsets),
        None,
    );
    w.notes.push(format!(
        "{} requests over {:.3} s (scale {}), {} distinct prefix blocks of {} tokens",
        rows.len(),
        span.as_secs_f64(),
        spec.scale,
        blocks.len(),
        spec.block
    ));
    if clamped > 0 {
        w.notes.push(format!(
            "{clamped} requests asked for fewer input tokens than the chat template's {floor}: sent with {}",
            floor + 1
        ));
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::super::testing::WordTokens;
    use super::*;

    const MOONCAKE: &str = r#"{"timestamp": 0, "input_length": 40, "output_length": 5, "hash_ids": [1, 2]}
{"timestamp": 250, "input_length": 30, "output_length": 7, "hash_ids": [1]}

{"timestamp": 100, "input_length": 12, "output_length": 3}
"#;

    fn spec(s: &str) -> Spec {
        match super::super::parse_spec(s).unwrap() {
            super::super::WorkloadSpec::Trace(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_sorts_and_scales() {
        let rows = parse(MOONCAKE, "t.jsonl", 0.001).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows.iter().map(|r| r.offset_s).collect::<Vec<_>>(),
            vec![0.0, 0.1, 0.25]
        );
        assert_eq!(rows[1].hash_ids, Vec::<u64>::new());
        assert_eq!(
            schedule(&rows, 2.0),
            vec![
                Duration::ZERO,
                Duration::from_millis(200),
                Duration::from_millis(500)
            ]
        );
        let azure = r#"{"TIMESTAMP": 10.5, "ContextTokens": 100, "GeneratedTokens": 20}
{"TIMESTAMP": 11.0, "ContextTokens": 50, "GeneratedTokens": 2}"#;
        let rows = parse(azure, "a.jsonl", 1.0).unwrap();
        assert_eq!(rows[1].offset_s, 0.5);
        assert_eq!(rows[0].input_length, 100);
    }

    #[test]
    fn peak_rate_counts_the_busiest_second() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(peak_rate(&ms(&[])), 1.0);
        assert_eq!(peak_rate(&ms(&[0, 2000, 4000])), 1.0);
        assert_eq!(peak_rate(&ms(&[0, 100, 200, 1500, 1600])), 3.0);
        assert_eq!(peak_rate(&ms(&[0, 999, 1000])), 2.0);
    }

    #[test]
    fn bad_traces_name_the_line() {
        for (text, want) in [
            ("{\"timestamp\": 0}", "line 1: missing field `input_length`"),
            (
                "\n{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 1}",
                "line 2: input_length and output_length must be ≥ 1",
            ),
            ("", "no requests"),
            ("not json", "line 1:"),
        ] {
            let e = parse(text, "t.jsonl", 0.001).unwrap_err().to_string();
            assert!(e.starts_with("t.jsonl: "), "{e}");
            assert!(e.contains(want), "want {want:?} in {e}");
        }
    }

    #[test]
    fn shared_hash_ids_share_blocks_and_lengths_are_exact() {
        let t = WordTokens { overhead: 2 };
        let s = spec("trace:t.jsonl,block=10");
        let rows = parse(MOONCAKE, "t.jsonl", s.unit).unwrap();
        let w = build(&s, &rows, 9, &t).unwrap();
        let Items::Requests(items) = &w.items else {
            panic!()
        };
        let words =
            |i: usize| -> Vec<&str> { items[i].messages[0].content.split_whitespace().collect() };
        for (it, r) in items.iter().zip(&rows) {
            assert_eq!(t.prompt_tokens(&it.messages).unwrap(), r.input_length);
            assert_eq!(it.max_tokens, Some(r.output_length as u32));
        }
        // rows[0] has blocks [1, 2], rows[2] has [1]: the first block (10 tokens) agrees.
        assert_eq!(words(0)[..10], words(2)[..10]);
        assert_eq!(words(0)[0], "Block");
        assert_ne!(words(1)[0], "Block");
        assert_eq!(w.schedule.as_ref().unwrap()[2], Duration::from_millis(250));
        let again = build(&s, &rows, 9, &t).unwrap();
        assert_eq!(again.hash, w.hash);
        let faster = build(&spec("trace:t.jsonl,block=10,scale=0.5"), &rows, 9, &t).unwrap();
        assert_ne!(faster.hash, w.hash, "the schedule is part of the content");
    }
}
