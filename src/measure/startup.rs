//! Start-up phases over recorded instants (pure): the engine's log marks put on our
//! clock, merged with our own instants, ordered, and cut into phases; the page-cache
//! share of a file and what it means. `--starts N` ([`crate::pipeline::starts`]) records
//! the instants; each engine's `start_mark` ([`crate::engines::start_marks`]) reads the engine's marks from its log.
//!
//! Every mark is in milliseconds after the spawn (our clock). An engine's log time is
//! either since its own start (llama.cpp's `--log-timestamps`: taken as since our spawn,
//! which is early by the exec time, a few ms) or a wall-clock time (Ollama's `time=`,
//! to the millisecond), set against our wall clock at the spawn.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happened at a mark, in the order a start goes through them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// We spawned the engine's process (our clock; the origin of every mark).
    Spawn,
    /// The engine began to load the model file (its log).
    LoadBegin,
    /// The engine has read the weights into its tensors (its log; with mmap the pages
    /// may still be read on first use, in the next phase).
    WeightsRead,
    /// The model is on its device and has computed (its log: llama.cpp after its warm-up
    /// pass, Ollama when its runner has loaded).
    OnDevice,
    /// The engine's HTTP server listens (its log; Ollama listens before it loads, so
    /// this mark is outside the chain that [`out_of_order`] checks).
    Listening,
    /// Our readiness check answered (for Ollama: its model preloaded).
    Ready,
    /// The first token of the first request arrived (our clock).
    FirstToken,
}

impl MarkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::Spawn => "spawn",
            MarkKind::LoadBegin => "load_begin",
            MarkKind::WeightsRead => "weights_read",
            MarkKind::OnDevice => "on_device",
            MarkKind::Listening => "listening",
            MarkKind::Ready => "ready",
            MarkKind::FirstToken => "first_token",
        }
    }
}

/// The marks every start goes through in this order (`Listening` is not among them).
pub const CHAIN: [MarkKind; 6] = [
    MarkKind::Spawn,
    MarkKind::LoadBegin,
    MarkKind::WeightsRead,
    MarkKind::OnDevice,
    MarkKind::Ready,
    MarkKind::FirstToken,
];

/// When an engine says a line was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineTime {
    /// Milliseconds since the engine's own start (its log's clock).
    SinceStart(f64),
    /// A wall-clock time.
    Wall(DateTime<Utc>),
}

/// A mark read from an engine's log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMark {
    pub kind: MarkKind,
    pub at: EngineTime,
    pub line: String,
}

/// A mark on our clock: milliseconds after the spawn; `line` is the engine's log line
/// for a mark from its log, `None` for one of ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub kind: MarkKind,
    pub at_ms: f64,
    pub line: Option<String>,
}

/// Reads one line of an engine's log: its mark and time, if it is a line that engine's
/// start-up marks are read from (each engine's own, in `engines/<name>/server.rs`).
pub type MarkReader = fn(&str) -> Option<(MarkKind, EngineTime)>;

/// The marks in an engine's log, the first of each kind, in the order of the log.
pub fn marks(read: MarkReader, log: &str) -> Vec<LogMark> {
    let mut out: Vec<LogMark> = Vec::new();
    for line in log.lines() {
        if let Some((kind, at)) = read(line)
            && !out.iter().any(|m| m.kind == kind)
        {
            out.push(LogMark {
                kind,
                at,
                line: line.trim().to_string(),
            });
        }
    }
    out
}

/// Put the engine's log marks on our clock: since-start times as they are, wall times
/// against `spawn_wall` (our wall clock at the spawn).
pub fn anchor(log: &[LogMark], spawn_wall: DateTime<Utc>) -> Vec<Mark> {
    log.iter()
        .map(|m| Mark {
            kind: m.kind,
            at_ms: match m.at {
                EngineTime::SinceStart(ms) => ms,
                EngineTime::Wall(t) => (t - spawn_wall)
                    .num_microseconds()
                    .map(|us| us as f64 / 1000.0)
                    .unwrap_or(f64::NAN),
            },
            line: Some(m.line.clone()),
        })
        .filter(|m| m.at_ms.is_finite())
        .collect()
}

/// Our instants and the engine's marks as one timeline: the first mark of each kind
/// (ours win over the log's for the same kind), ordered by time, ties in [`MarkKind`]
/// order.
pub fn timeline(ours: &[(MarkKind, f64)], log: Vec<Mark>) -> Vec<Mark> {
    let mut out: Vec<Mark> = ours
        .iter()
        .filter(|(_, ms)| ms.is_finite())
        .map(|&(kind, at_ms)| Mark {
            kind,
            at_ms,
            line: None,
        })
        .collect();
    for m in log {
        if !out.iter().any(|o| o.kind == m.kind) {
            out.push(m);
        }
    }
    out.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms).then(a.kind.cmp(&b.kind)));
    out
}

/// The time between each two consecutive marks of a timeline: (from, to, ms).
pub fn phases(marks: &[Mark]) -> Vec<(MarkKind, MarkKind, f64)> {
    marks
        .windows(2)
        .map(|w| (w[0].kind, w[1].kind, w[1].at_ms - w[0].at_ms))
        .collect()
}

/// Marks of the [`CHAIN`] that come before one that should precede them, each said in
/// words (empty when the chain is in order). Ties are in order.
pub fn out_of_order(marks: &[Mark]) -> Vec<String> {
    let chain: Vec<&Mark> = CHAIN
        .iter()
        .filter_map(|k| marks.iter().find(|m| m.kind == *k))
        .collect();
    chain
        .windows(2)
        .filter(|w| w[1].at_ms < w[0].at_ms)
        .map(|w| {
            format!(
                "{} at {:.1} ms comes before {} at {:.1} ms",
                w[1].kind.as_str(),
                w[1].at_ms,
                w[0].kind.as_str(),
                w[0].at_ms
            )
        })
        .collect()
}

/// The share of a file's pages that are resident, 0–1 (1 for an empty file: nothing of
/// it is to be read).
pub fn resident_share(resident_pages: u64, total_pages: u64) -> f64 {
    if total_pages == 0 {
        1.0
    } else {
        (resident_pages.min(total_pages)) as f64 / total_pages as f64
    }
}

/// Below this share a file is "cold"; at or above [`WARM_SHARE`] "warm"; between,
/// "partial".
pub const COLD_SHARE: f64 = 0.01;
/// See [`COLD_SHARE`].
pub const WARM_SHARE: f64 = 0.99;

/// "cold", "partial" or "warm" for a resident share.
pub fn cache_state(share: f64) -> &'static str {
    if share < COLD_SHARE {
        "cold"
    } else if share >= WARM_SHARE {
        "warm"
    } else {
        "partial"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MarkKind::*;

    fn log(kind: MarkKind, at: EngineTime) -> LogMark {
        LogMark {
            kind,
            at,
            line: format!("{} line", kind.as_str()),
        }
    }

    #[test]
    fn since_start_times_stay_and_wall_times_are_set_against_the_spawn() {
        let spawn: DateTime<Utc> = "2026-12-07T18:09:48.900Z".parse().unwrap();
        let marks = anchor(
            &[
                log(LoadBegin, EngineTime::SinceStart(4.64)),
                log(
                    OnDevice,
                    EngineTime::Wall("2026-12-07T18:09:50.176Z".parse().unwrap()),
                ),
            ],
            spawn,
        );
        assert_eq!(marks.len(), 2);
        assert_eq!(marks[0].at_ms, 4.64);
        assert_eq!(marks[1].at_ms, 1276.0);
        assert_eq!(marks[1].line.as_deref(), Some("on_device line"));
    }

    #[test]
    fn timeline_orders_keeps_the_first_of_each_kind_and_ours_win() {
        let log = vec![
            Mark {
                kind: OnDevice,
                at_ms: 951.848,
                line: Some("a".into()),
            },
            Mark {
                kind: LoadBegin,
                at_ms: 4.64,
                line: Some("b".into()),
            },
            Mark {
                kind: LoadBegin,
                at_ms: 9.0,
                line: Some("second".into()),
            },
            Mark {
                kind: Ready,
                at_ms: 1.0,
                line: Some("not ours".into()),
            },
        ];
        let t = timeline(&[(Spawn, 0.0), (Ready, 1000.0), (FirstToken, 1400.5)], log);
        let kinds: Vec<MarkKind> = t.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, vec![Spawn, LoadBegin, OnDevice, Ready, FirstToken]);
        assert_eq!(t[1].line.as_deref(), Some("b"));
        assert_eq!(t[3].line, None);
        let p = phases(&t);
        assert_eq!(p.len(), 4);
        assert_eq!(p[0], (Spawn, LoadBegin, 4.64));
        assert_eq!(p[3], (Ready, FirstToken, 400.5));
        assert!(out_of_order(&t).is_empty());
    }

    #[test]
    fn a_mark_before_its_predecessor_is_named_and_listening_is_not_in_the_chain() {
        let t = timeline(
            &[(Spawn, 0.0), (Ready, 500.0)],
            vec![
                Mark {
                    kind: Listening,
                    at_ms: 1.0,
                    line: None,
                },
                Mark {
                    kind: OnDevice,
                    at_ms: 600.0,
                    line: None,
                },
            ],
        );
        assert_eq!(
            out_of_order(&t),
            vec!["ready at 500.0 ms comes before on_device at 600.0 ms".to_string()]
        );
        // Ties are in order, in kind order.
        let tie = timeline(&[(Spawn, 0.0), (Ready, 0.0)], Vec::new());
        assert_eq!(tie[0].kind, Spawn);
        assert!(out_of_order(&tie).is_empty());
    }

    #[test]
    fn shares_and_states() {
        assert_eq!(resident_share(0, 61796), 0.0);
        assert_eq!(resident_share(61796, 61796), 1.0);
        assert_eq!(resident_share(5, 10), 0.5);
        assert_eq!(resident_share(11, 10), 1.0);
        assert_eq!(resident_share(0, 0), 1.0);
        assert_eq!(cache_state(0.0), "cold");
        assert_eq!(cache_state(0.0099), "cold");
        assert_eq!(cache_state(0.01), "partial");
        assert_eq!(cache_state(0.98), "partial");
        assert_eq!(cache_state(0.99), "warm");
        assert_eq!(cache_state(1.0), "warm");
    }
}
