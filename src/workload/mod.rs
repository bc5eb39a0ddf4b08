//! Workload sources: what a load run sends, beyond the built-in prompt suite.
//!
//! `--workload KIND:ARGS` (see [`parse_spec`]) names one source:
//!
//! - [`sharegpt`]: ShareGPT conversation files, the first turn of each conversation or
//!   whole conversations (sent as multi-turn sessions);
//! - [`jsonl`]: JSON Lines prompt files with an optional expected output length;
//! - [`synthetic`]: prompts of exact input and output token lengths, fixed or drawn from a
//!   distribution (uniform, normal, log-normal);
//! - [`shared_prefix`]: G groups of requests sharing a P-token prefix, each with its own
//!   S-token suffix (how prefix caching is measured);
//! - [`multiturn`]: virtual users that send turn k+1 with the history and the answer of
//!   turn k, with an optional think time between turns;
//! - [`trace`]: a JSONL trace of (timestamp, input length, output length[, prefix block
//!   ids]) in the Mooncake / Azure shape, replayed on its own timestamps.
//!
//! Every workload is built before any engine starts, from its parameters and a seed
//! (`inferbench.seed`), so the same flags give the same requests on every run; its
//! content hash ([`content_hash`]: FNV-1a 64 over the canonical JSON of every request and
//! the schedule) is recorded in the results beside the source, its parameters and the
//! seed, so two results files say whether they sent the same thing.
//!
//! Input lengths are what the engine sees: the prompt rendered through the chat template
//! (no system prompt), special tokens and BOS included, counted with our tokenizer
//! ([`PromptTokens`]). Output lengths are sent as `max_tokens` with `ignore_eos` where the
//! engine has it, so the output is as long as asked.
//!
//! Parsers and generators are pure; reading the files is [`build`]'s only I/O.

pub mod jsonl;
pub mod multiturn;
pub mod shared_prefix;
pub mod sharegpt;
pub mod synthetic;
pub mod trace;

use crate::client::Message;
use crate::error::UserError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A bad `--workload` value or workload file; each message says what to give instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    #[error("--workload {0}")]
    Spec(String),
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("--workload {kind}: {message}")]
    Generate { kind: &'static str, message: String },
}

impl WorkloadError {
    fn spec(s: impl Into<String>) -> Self {
        WorkloadError::Spec(s.into())
    }
}

/// One request of a workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkItem {
    /// Stable id, e.g. "synthetic-0007", "g2-s1", a ShareGPT id.
    pub id: String,
    /// The conversation to send (no system message): user turns, and for whole
    /// ShareGPT conversations the recorded answers between them.
    pub messages: Vec<Message>,
    /// Output length asked for; `None`: the settings' max_tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Send `ignore_eos` so the output is exactly `max_tokens` long.
    pub exact_output: bool,
    /// The input length the generator aimed at (template included), when it aimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
}

/// One turn of a multi-turn session: the user's text and the output length asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Turn {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    pub exact_output: bool,
}

/// A conversation one virtual user holds, turn after turn; turn k+1 carries the history
/// and the engine's real answer to turn k.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    pub id: String,
    pub turns: Vec<Turn>,
}

/// What a workload sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Items {
    /// Independent requests, sent in this order (from the start again when a step needs
    /// more than there are).
    Requests(Vec<WorkItem>),
    /// Multi-turn sessions, one per virtual user at a time.
    Sessions(Vec<Session>),
}

impl Items {
    pub fn len(&self) -> usize {
        match self {
            Items::Requests(v) => v.len(),
            Items::Sessions(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Requests in all: one per request, one per turn of every session.
    pub fn requests(&self) -> usize {
        match self {
            Items::Requests(v) => v.len(),
            Items::Sessions(v) => v.iter().map(|s| s.turns.len()).sum(),
        }
    }
}

/// The parsed `--workload` value.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadSpec {
    ShareGpt(sharegpt::Spec),
    Jsonl(jsonl::Spec),
    Synthetic(synthetic::Spec),
    SharedPrefix(shared_prefix::Spec),
    MultiTurn(multiturn::Spec),
    Trace(trace::Spec),
}

impl WorkloadSpec {
    /// The source's name as recorded: "sharegpt", "jsonl", "synthetic", "shared_prefix",
    /// "multiturn", "trace".
    pub fn kind(&self) -> &'static str {
        match self {
            WorkloadSpec::ShareGpt(_) => "sharegpt",
            WorkloadSpec::Jsonl(_) => "jsonl",
            WorkloadSpec::Synthetic(_) => "synthetic",
            WorkloadSpec::SharedPrefix(_) => "shared_prefix",
            WorkloadSpec::MultiTurn(_) => "multiturn",
            WorkloadSpec::Trace(_) => "trace",
        }
    }

    /// Whether the workload brings its own arrival times (a trace).
    pub fn has_schedule(&self) -> bool {
        matches!(self, WorkloadSpec::Trace(_))
    }

    /// Whether it needs a tokenizer to build its prompts.
    pub fn needs_tokenizer(&self) -> bool {
        !matches!(self, WorkloadSpec::Jsonl(_))
    }
}

/// The `--help` text of `--workload`.
pub const HELP: &str = "What a load run sends, instead of the prompt suite. One of:
  sharegpt:FILE[,turns=first|all][,n=N]     ShareGPT conversations (JSON array or JSONL):
      the first human turn of each (output length: the recorded reply's), or whole
      conversations as multi-turn sessions; n samples N of them (seeded)
  jsonl:FILE                                one {\"prompt\": TEXT[, \"output_tokens\": N]} per line
  synthetic:in=N,out=M[,in_sd=X,out_sd=Y][,dist=fixed|uniform|normal|lognormal][,n=K]
      prompts of exactly N input tokens (chat template included) and M output tokens
      (ignore_eos), fixed or drawn with mean N / M and standard deviation X / Y
  prefix:groups=G,prefix=P,suffix=S[,per_group=K][,out=M]
      G groups of K requests; each group shares a P-token prefix, each request has its
      own S-token suffix
  multiturn:turns=T,in=N,out=M[,think_ms=X][,sessions=K]
      K sessions of T turns, one per virtual user (--concurrency) at a time; turn k+1
      carries the history and the engine's answer to turn k
  trace:FILE[,scale=X][,unit=ms|s][,block=B]
      Mooncake/Azure-shape JSONL of {timestamp, input_length, output_length[, hash_ids]}
      replayed on its own timestamps (offsets × scale; 0.5 = twice as fast); requests
      sharing a hash id share that B-token block (default 512) of their prompt
Seeded by --seed; the source, parameters, seed and a content hash go into the results.
File names may not contain commas.";

/// Parse `--workload KIND:ARGS`: ARGS is a comma-separated list of `key=value`, after
/// the file for the file kinds. Pure.
pub fn parse_spec(s: &str) -> Result<WorkloadSpec, WorkloadError> {
    let t = s.trim();
    let (kind, rest) = t.split_once(':').ok_or_else(|| {
        WorkloadError::spec(format!(
            "{t:?} has no source; give KIND:ARGS, e.g. synthetic:in=256,out=128 (kinds: sharegpt, jsonl, synthetic, prefix, multiturn, trace)"
        ))
    })?;
    let kind = kind.trim().to_ascii_lowercase();
    const KINDS: &[&str] = &[
        "sharegpt",
        "jsonl",
        "synthetic",
        "prefix",
        "shared_prefix",
        "multiturn",
        "trace",
    ];
    if !KINDS.contains(&kind.as_str()) {
        return Err(WorkloadError::spec(format!(
            "unknown source {kind:?}; use one of sharegpt, jsonl, synthetic, prefix, multiturn, trace"
        )));
    }
    let file_kind = matches!(kind.as_str(), "sharegpt" | "jsonl" | "trace");
    let mut parts = rest.split(',').map(str::trim);
    let file = if file_kind {
        match parts.next() {
            Some(f) if !f.is_empty() && !f.contains('=') => Some(PathBuf::from(f)),
            _ => {
                return Err(WorkloadError::spec(format!(
                    "{kind}: give the file first, e.g. {kind}:data.jsonl"
                )));
            }
        }
    } else {
        None
    };
    let mut params = Params::default();
    for item in parts {
        if item.is_empty() {
            continue;
        }
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| WorkloadError::spec(format!("{kind}: {item:?} is not key=value")))?;
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        if params.0.insert(k.clone(), v).is_some() {
            return Err(WorkloadError::spec(format!("{kind}: {k} is given twice")));
        }
    }
    let spec = match (kind.as_str(), file) {
        ("sharegpt", Some(file)) => {
            WorkloadSpec::ShareGpt(sharegpt::Spec::from_params(file, &mut params)?)
        }
        ("jsonl", Some(file)) => WorkloadSpec::Jsonl(jsonl::Spec { file }),
        ("trace", Some(file)) => WorkloadSpec::Trace(trace::Spec::from_params(file, &mut params)?),
        ("synthetic", None) => WorkloadSpec::Synthetic(synthetic::Spec::from_params(&mut params)?),
        ("prefix" | "shared_prefix", None) => {
            WorkloadSpec::SharedPrefix(shared_prefix::Spec::from_params(&mut params)?)
        }
        ("multiturn", None) => WorkloadSpec::MultiTurn(multiturn::Spec::from_params(&mut params)?),
        _ => {
            return Err(WorkloadError::spec(format!(
                "unknown source {kind:?}; use one of sharegpt, jsonl, synthetic, prefix, multiturn, trace"
            )));
        }
    };
    if let Some(k) = params.0.keys().next() {
        return Err(WorkloadError::spec(format!(
            "{}: unknown parameter {k:?} (see --help)",
            spec.kind()
        )));
    }
    Ok(spec)
}

/// `key=value` parameters of a spec; each source takes the keys it knows, and any key
/// left over is an error.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// A number, or `None` when absent; an error naming the key when it does not parse
    /// or fails `ok`.
    pub fn num<T: std::str::FromStr>(
        &mut self,
        kind: &str,
        key: &str,
        ok: impl Fn(&T) -> bool,
        what: &str,
    ) -> Result<Option<T>, WorkloadError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => match v.parse::<T>() {
                Ok(x) if ok(&x) => Ok(Some(x)),
                _ => Err(WorkloadError::spec(format!(
                    "{kind}: {key}={v}: must be {what}"
                ))),
            },
        }
    }

    pub fn required<T: std::str::FromStr>(
        &mut self,
        kind: &str,
        key: &str,
        ok: impl Fn(&T) -> bool,
        what: &str,
    ) -> Result<T, WorkloadError> {
        self.num(kind, key, ok, what)?
            .ok_or_else(|| WorkloadError::spec(format!("{kind}: {key}= is required ({what})")))
    }
}

/// Counts the tokens an engine sees, for generators that aim at exact lengths.
pub trait PromptTokens {
    /// Tokens of this conversation rendered through the chat template with the
    /// generation prompt, BOS and special tokens included: what the engine reports as
    /// prompt tokens.
    fn prompt_tokens(&self, messages: &[Message]) -> anyhow::Result<u64>;
    /// Tokens of plain text (no special tokens).
    fn text_tokens(&self, text: &str) -> anyhow::Result<u64>;
}

/// A user message.
pub fn user(text: impl Into<String>) -> Message {
    Message {
        role: "user".into(),
        content: text.into(),
    }
}

/// What building needs beyond the spec.
pub struct BuildContext<'a> {
    pub seed: u64,
    /// How many requests (or sessions) a generator makes when its spec does not say.
    pub default_count: usize,
    pub tokens: Option<&'a dyn PromptTokens>,
}

/// A workload built and ready to send.
#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: &'static str,
    /// Canonical parameters, as recorded.
    pub params: BTreeMap<String, String>,
    pub seed: u64,
    pub items: Items,
    /// Arrival offsets from the step's start, one per request (trace replay).
    pub schedule: Option<Vec<Duration>>,
    /// Pause between a session's turns (multi-turn).
    pub think: Option<Duration>,
    pub hash: String,
    /// What a reader should know about how it was built.
    pub notes: Vec<String>,
}

/// The canonical content of a workload, hashed.
#[derive(Serialize)]
struct Canonical<'a> {
    items: &'a Items,
    schedule_us: Option<Vec<u128>>,
    think_us: Option<u128>,
}

/// FNV-1a 64 of `bytes` as `fnv1a64:` and 16 hex digits. Not cryptographic: it tells
/// two workloads apart, it does not defend against forgery.
pub fn fnv1a64(bytes: &[u8]) -> String {
    format!("fnv1a64:{:016x}", fnv1a64_u64(bytes))
}

/// FNV-1a 64 of `bytes` as a number (shared with `merge::fingerprint`).
pub fn fnv1a64_u64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The content hash of what a workload sends: every request's messages and lengths, the
/// arrival offsets (µs) and the think time, as canonical JSON (struct fields in declared
/// order, no whitespace). Pure.
pub fn content_hash(
    items: &Items,
    schedule: Option<&[Duration]>,
    think: Option<Duration>,
) -> String {
    let c = Canonical {
        items,
        schedule_us: schedule.map(|s| s.iter().map(Duration::as_micros).collect()),
        think_us: think.map(|t| t.as_micros()),
    };
    // Serializing plain data with string keys cannot fail.
    let bytes = serde_json::to_vec(&c).unwrap_or_default();
    fnv1a64(&bytes)
}

impl Workload {
    /// A workload from its parts, hashed.
    pub fn new(
        kind: &'static str,
        params: BTreeMap<String, String>,
        seed: u64,
        items: Items,
        schedule: Option<Vec<Duration>>,
        think: Option<Duration>,
    ) -> Workload {
        let hash = content_hash(&items, schedule.as_deref(), think);
        Workload {
            kind,
            params,
            seed,
            items,
            schedule,
            think,
            hash,
            notes: Vec::new(),
        }
    }

    /// What the results record about it.
    pub fn info(&self) -> crate::results::WorkloadInfo {
        crate::results::WorkloadInfo {
            source: self.kind.to_string(),
            params: self.params.clone(),
            seed: self.seed,
            content_hash: self.hash.clone(),
            requests: self.items.requests() as u64,
            sessions: match &self.items {
                Items::Sessions(s) => Some(s.len() as u64),
                Items::Requests(_) => None,
            },
            notes: self.notes.clone(),
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!("cannot read workload file {}: {e}", path.display())).into()
    })
}

fn need_tokens<'a>(
    kind: &'static str,
    tokens: Option<&'a dyn PromptTokens>,
) -> Result<&'a dyn PromptTokens, WorkloadError> {
    tokens.ok_or(WorkloadError::Generate {
        kind,
        message: "needs a tokenizer to size its prompts; set inferbench.tokenizer or --tokenizer to a tokenizer.json (scripts/setup.sh installs Gemma's)".into(),
    })
}

/// Build the workload of `spec`: read its file, if any, and generate its requests.
/// Errors are [`UserError`]s (exit code 2).
pub fn build(spec: &WorkloadSpec, ctx: &BuildContext<'_>) -> anyhow::Result<Workload> {
    let user_err = |e: WorkloadError| -> anyhow::Error { UserError::new(e.to_string()).into() };
    let w = match spec {
        WorkloadSpec::ShareGpt(s) => {
            let text = read(&s.file)?;
            let convs = sharegpt::parse(&text, &s.file.display().to_string()).map_err(user_err)?;
            sharegpt::build(s, convs, ctx).map_err(user_err)?
        }
        WorkloadSpec::Jsonl(s) => {
            let text = read(&s.file)?;
            let items = jsonl::parse(&text, &s.file.display().to_string()).map_err(user_err)?;
            jsonl::build(s, items, ctx.seed)
        }
        WorkloadSpec::Synthetic(s) => synthetic::build(
            s,
            ctx.seed,
            ctx.default_count,
            need_tokens("synthetic", ctx.tokens).map_err(user_err)?,
        )
        .map_err(user_err)?,
        WorkloadSpec::SharedPrefix(s) => shared_prefix::build(
            s,
            ctx.seed,
            need_tokens("prefix", ctx.tokens).map_err(user_err)?,
        )
        .map_err(user_err)?,
        WorkloadSpec::MultiTurn(s) => multiturn::build(
            s,
            ctx.seed,
            ctx.default_count,
            need_tokens("multiturn", ctx.tokens).map_err(user_err)?,
        )
        .map_err(user_err)?,
        WorkloadSpec::Trace(s) => {
            let text = read(&s.file)?;
            let rows =
                trace::parse(&text, &s.file.display().to_string(), s.unit).map_err(user_err)?;
            trace::build(
                s,
                &rows,
                ctx.seed,
                need_tokens("trace", ctx.tokens).map_err(user_err)?,
            )
            .map_err(user_err)?
        }
    };
    if w.items.is_empty() {
        return Err(user_err(WorkloadError::Generate {
            kind: w.kind,
            message: "has no requests".into(),
        }));
    }
    Ok(w)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A stand-in tokenizer for the pure tests: one token per whitespace-separated word,
    //! plus a fixed template overhead, so lengths are predictable without a model file.
    use super::*;

    pub struct WordTokens {
        pub overhead: u64,
    }

    impl PromptTokens for WordTokens {
        fn prompt_tokens(&self, messages: &[Message]) -> anyhow::Result<u64> {
            let words: u64 = messages
                .iter()
                .map(|m| m.content.split_whitespace().count() as u64)
                .sum();
            Ok(self.overhead * messages.len() as u64 + words)
        }
        fn text_tokens(&self, text: &str) -> anyhow::Result<u64> {
            Ok(text.split_whitespace().count() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        match parse_spec("synthetic:in=256,out=128").unwrap() {
            WorkloadSpec::Synthetic(s) => {
                assert_eq!((s.input.mean, s.output.mean), (256.0, 128.0));
                assert_eq!(s.dist, synthetic::Dist::Fixed);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_spec("prefix:groups=4,prefix=512,suffix=32").unwrap(),
            WorkloadSpec::SharedPrefix(_)
        ));
        match parse_spec("trace:t.jsonl,scale=0.5").unwrap() {
            WorkloadSpec::Trace(t) => {
                assert_eq!(t.file, PathBuf::from("t.jsonl"));
                assert_eq!(t.scale, 0.5);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_spec("jsonl:p.jsonl").unwrap(),
            WorkloadSpec::Jsonl(_)
        ));
        let cases = [
            ("synthetic", "has no source"),
            ("nope:x", "unknown source \"nope\""),
            ("synthetic:in=256", "out= is required"),
            ("synthetic:in=0,out=1", "in=0: must be"),
            ("synthetic:in=10,out=5,foo=1", "unknown parameter \"foo\""),
            ("synthetic:in=10,in=11,out=5", "in is given twice"),
            ("trace:scale=2", "give the file first"),
            ("synthetic:in=10,out=5,dist=zipf", "dist=zipf"),
            ("sharegpt:f.json,turns=some", "turns=some"),
            ("synthetic:in=10,out", "\"out\" is not key=value"),
        ];
        for (s, want) in cases {
            let e = parse_spec(s).unwrap_err().to_string();
            assert!(e.starts_with("--workload "), "{e}");
            assert!(e.contains(want), "{s}: want {want:?} in {e}");
        }
    }

    #[test]
    fn hash_is_stable_and_sees_every_field() {
        let items = Items::Requests(vec![WorkItem {
            id: "a".into(),
            messages: vec![user("hello")],
            max_tokens: Some(8),
            exact_output: true,
            input_tokens: None,
        }]);
        let h = content_hash(&items, None, None);
        // A fixed value: the hash of the canonical bytes must not change between versions
        // unless the canonical form does.
        let canonical = r#"{"items":{"requests":[{"id":"a","messages":[{"role":"user","content":"hello"}],"max_tokens":8,"exact_output":true}]},"schedule_us":null,"think_us":null}"#;
        assert_eq!(h, fnv1a64(canonical.as_bytes()));
        assert_eq!(fnv1a64(b""), "fnv1a64:cbf29ce484222325");
        assert_eq!(fnv1a64(b"a"), "fnv1a64:af63dc4c8601ec8c");
        let mut other = items.clone();
        if let Items::Requests(v) = &mut other {
            v[0].max_tokens = Some(9);
        }
        assert_ne!(content_hash(&other, None, None), h);
        assert_ne!(
            content_hash(&items, Some(&[Duration::from_millis(1)]), None),
            h
        );
        assert_ne!(
            content_hash(&items, None, Some(Duration::from_millis(1))),
            h
        );
    }
}
