//! Multi-turn sessions: each virtual user (one per `--concurrency` slot) holds one session
//! at a time and sends its turns in order; turn k+1 carries the whole history (every
//! earlier user turn and the engine's real answer to it, see [`history_with`]), after an
//! optional think time. A session's requests grow with its history, as a chat user's do,
//! so prefix caching (when on) and long prompts show.
//!
//! Generated sessions: `multiturn:turns=T,in=N,out=M[,think_ms=X][,sessions=K]` gives K
//! sessions (default: enough for the run's requests) of T turns; each new user turn is N
//! plain-text tokens of seeded words, each answer exactly M tokens (`ignore_eos`). Whole
//! ShareGPT conversations (`sharegpt:FILE,turns=all`) are sessions too.

use super::synthetic::fill_to;
use super::{Items, Params, PromptTokens, Session, Turn, Workload, WorkloadError};
use crate::client::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::time::Duration;

/// `multiturn:turns=T,in=N,out=M[,think_ms=X][,sessions=K]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub turns: usize,
    pub input: u64,
    pub out: u32,
    pub think_ms: Option<f64>,
    pub sessions: Option<usize>,
}

impl Spec {
    pub fn from_params(p: &mut Params) -> Result<Spec, WorkloadError> {
        let k = "multiturn";
        Ok(Spec {
            turns: p.required(k, "turns", |n: &usize| *n >= 1, "a number of turns ≥ 1")?,
            input: p.required(k, "in", |n: &u64| *n >= 1, "a number of tokens ≥ 1")?,
            out: p.required(k, "out", |n: &u32| *n >= 1, "a number of tokens ≥ 1")?,
            think_ms: p.num(
                k,
                "think_ms",
                |x: &f64| x.is_finite() && *x >= 0.0,
                "milliseconds ≥ 0",
            )?,
            sessions: p.num(k, "sessions", |n: &usize| *n >= 1, "a count ≥ 1")?,
        })
    }

    pub fn params(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("turns".into(), self.turns.to_string());
        m.insert("in".into(), self.input.to_string());
        m.insert("out".into(), self.out.to_string());
        if let Some(t) = self.think_ms {
            m.insert("think_ms".into(), t.to_string());
        }
        if let Some(s) = self.sessions {
            m.insert("sessions".into(), s.to_string());
        }
        m
    }
}

/// The messages of the next request: the history, then the new user turn. Pure.
pub fn history_with(history: &[Message], turn: &Turn) -> Vec<Message> {
    let mut m = history.to_vec();
    m.push(super::user(turn.text.clone()));
    m
}

/// The history after a turn was answered. Pure.
pub fn answered(mut sent: Vec<Message>, answer: &str) -> Vec<Message> {
    sent.push(Message {
        role: "assistant".into(),
        content: answer.to_string(),
    });
    sent
}

pub fn build(
    spec: &Spec,
    seed: u64,
    default_count: usize,
    tokens: &dyn PromptTokens,
) -> Result<Workload, WorkloadError> {
    let n = spec
        .sessions
        .unwrap_or_else(|| default_count.div_ceil(spec.turns))
        .max(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut count = |t: &str| tokens.text_tokens(t);
    let mut sessions = Vec::with_capacity(n);
    for s in 0..n {
        let mut turns = Vec::with_capacity(spec.turns);
        for k in 0..spec.turns {
            let text = fill_to(
                &mut rng,
                &format!("Session {s} turn {k}:"),
                spec.input,
                &mut count,
            )
            .map_err(|m| WorkloadError::Generate {
                kind: "multiturn",
                message: format!("session {s} turn {k}: {m}"),
            })?;
            turns.push(Turn {
                text,
                max_tokens: Some(spec.out),
                exact_output: true,
            });
        }
        sessions.push(Session {
            id: format!("session-{s:04}"),
            turns,
        });
    }
    let think = spec.think_ms.map(|ms| Duration::from_secs_f64(ms / 1000.0));
    let mut w = Workload::new(
        "multiturn",
        spec.params(),
        seed,
        Items::Sessions(sessions),
        None,
        think,
    );
    w.notes.push(format!(
        "{n} sessions of {} turns; each turn adds {} user tokens and an answer of {} tokens to the history",
        spec.turns, spec.input, spec.out
    ));
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::super::testing::WordTokens;
    use super::super::{WorkloadSpec, parse_spec};
    use super::*;

    fn spec(s: &str) -> Spec {
        match parse_spec(s).unwrap() {
            WorkloadSpec::MultiTurn(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sessions_of_turns_with_think_time() {
        let t = WordTokens { overhead: 3 };
        let w = build(
            &spec("multiturn:turns=3,in=20,out=8,think_ms=250"),
            4,
            10,
            &t,
        )
        .unwrap();
        let Items::Sessions(s) = &w.items else {
            panic!()
        };
        assert_eq!(s.len(), 4, "⌈10 requests / 3 turns⌉");
        assert_eq!(w.items.requests(), 12);
        assert_eq!(w.think, Some(Duration::from_millis(250)));
        for turn in s.iter().flat_map(|s| &s.turns) {
            assert_eq!(t.text_tokens(&turn.text).unwrap(), 20);
            assert_eq!((turn.max_tokens, turn.exact_output), (Some(8), true));
        }
        let again = build(
            &spec("multiturn:turns=3,in=20,out=8,think_ms=250"),
            4,
            10,
            &t,
        )
        .unwrap();
        assert_eq!(again.hash, w.hash);
        let no_think = build(&spec("multiturn:turns=3,in=20,out=8"), 4, 10, &t).unwrap();
        assert_ne!(no_think.hash, w.hash);
        let fixed = build(&spec("multiturn:turns=2,in=20,out=8,sessions=1"), 4, 10, &t).unwrap();
        assert_eq!(fixed.items.len(), 1);
    }

    #[test]
    fn turn_k_plus_1_carries_the_history_and_the_answer() {
        let turn = |t: &str| Turn {
            text: t.into(),
            max_tokens: None,
            exact_output: false,
        };
        let first = history_with(&[], &turn("q1"));
        assert_eq!(first.len(), 1);
        let h = answered(first, "a1");
        let second = history_with(&h, &turn("q2"));
        let roles: Vec<&str> = second.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(second[1].content, "a1");
        assert_eq!(second[2].content, "q2");
    }
}
