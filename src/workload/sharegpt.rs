//! ShareGPT conversation files (the de facto format of serving benchmarks): a JSON array,
//! or JSON Lines, of `{"id": ..., "conversations": [{"from": "human", "value": ...},
//! {"from": "gpt", "value": ...}, ...]}`. Roles: `human`/`user` are the user's turns,
//! `gpt`/`chatgpt`/`assistant`/`bard`/`bing` the recorded answers; `system` turns are
//! skipped (every engine gets the same messages).
//!
//! - `turns=first` (default): one request per conversation, its first user turn; the
//!   output length asked for is the token count of the recorded answer to it (our
//!   tokenizer; sent with `ignore_eos`), or the settings' max_tokens without a tokenizer
//!   or an answer.
//! - `turns=all`: each conversation is a multi-turn session: its user turns, in order,
//!   each sent with the history and the engine's own answers so far (see
//!   [`super::multiturn`]); each turn's output length is its recorded answer's.
//!
//! The conversations are shuffled with the seed, and `n=N` keeps the first N of that
//! order (a seeded sample). Conversations without a user turn are skipped.

use super::{Items, Params, PromptTokens, Session, Turn, WorkItem, Workload, WorkloadError, user};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Turns {
    First,
    All,
}

/// `sharegpt:FILE[,turns=first|all][,n=N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub file: PathBuf,
    pub turns: Turns,
    pub n: Option<usize>,
}

impl Spec {
    pub fn from_params(file: PathBuf, p: &mut Params) -> Result<Spec, WorkloadError> {
        let turns = match p.take("turns").as_deref() {
            None | Some("first") => Turns::First,
            Some("all") => Turns::All,
            Some(t) => {
                return Err(WorkloadError::Spec(format!(
                    "sharegpt: turns={t}: use first or all"
                )));
            }
        };
        let n = p.num("sharegpt", "n", |n: &usize| *n >= 1, "a count ≥ 1")?;
        Ok(Spec { file, turns, n })
    }

    pub fn params(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("file".into(), self.file.display().to_string());
        m.insert(
            "turns".into(),
            match self.turns {
                Turns::First => "first",
                Turns::All => "all",
            }
            .into(),
        );
        if let Some(n) = self.n {
            m.insert("n".into(), n.to_string());
        }
        m
    }
}

#[derive(Deserialize)]
struct RawTurn {
    from: String,
    value: String,
}

#[derive(Deserialize)]
struct RawConv {
    #[serde(default)]
    id: Option<serde_json::Value>,
    conversations: Vec<RawTurn>,
}

/// One exchange: the user's text and the recorded answer, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub user: String,
    pub answer: Option<String>,
}

/// A conversation as its exchanges.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub exchanges: Vec<Exchange>,
}

fn role(from: &str) -> Option<bool> {
    match from.to_ascii_lowercase().as_str() {
        "human" | "user" => Some(true),
        "gpt" | "chatgpt" | "assistant" | "bard" | "bing" | "model" => Some(false),
        _ => None,
    }
}

/// Parse a ShareGPT file (array or JSONL); errors name the file and the entry or line.
/// Pure.
pub fn parse(text: &str, file: &str) -> Result<Vec<Conversation>, WorkloadError> {
    let err = |message: String| WorkloadError::File {
        file: file.to_string(),
        message,
    };
    let raw: Vec<(usize, RawConv)> = if text.trim_start().starts_with('[') {
        let v: Vec<RawConv> = serde_json::from_str(text).map_err(|e| {
            err(format!(
                "line {}: {e}; expected an array of {{\"conversations\": [{{\"from\", \"value\"}}]}}",
                e.line()
            ))
        })?;
        v.into_iter().enumerate().collect()
    } else {
        let mut v = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let c: RawConv = serde_json::from_str(line).map_err(|e| {
                err(format!(
                    "line {}: {e}; each line must be {{\"conversations\": [{{\"from\", \"value\"}}]}}",
                    i + 1
                ))
            })?;
            v.push((i, c));
        }
        v
    };
    let mut out = Vec::new();
    for (i, c) in raw {
        let id = match c.id {
            Some(serde_json::Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => format!("conv-{i}"),
        };
        let mut exchanges: Vec<Exchange> = Vec::new();
        for t in c.conversations {
            match role(&t.from) {
                Some(true) if !t.value.trim().is_empty() => exchanges.push(Exchange {
                    user: t.value,
                    answer: None,
                }),
                Some(false) => {
                    if let Some(last) = exchanges.last_mut()
                        && last.answer.is_none()
                    {
                        last.answer = Some(t.value);
                    }
                }
                _ => {}
            }
        }
        if !exchanges.is_empty() {
            out.push(Conversation { id, exchanges });
        }
    }
    if out.is_empty() {
        return Err(err("no conversation with a user turn".into()));
    }
    Ok(out)
}

fn answer_tokens(
    answer: Option<&String>,
    tokens: Option<&dyn PromptTokens>,
) -> Result<Option<u32>, WorkloadError> {
    match (answer, tokens) {
        (Some(a), Some(t)) if !a.trim().is_empty() => {
            let n = t.text_tokens(a).map_err(|e| WorkloadError::Generate {
                kind: "sharegpt",
                message: format!("counting tokens: {e:#}"),
            })?;
            Ok(Some(u32::try_from(n.max(1)).unwrap_or(u32::MAX)))
        }
        _ => Ok(None),
    }
}

pub fn build(
    spec: &Spec,
    mut convs: Vec<Conversation>,
    ctx: &super::BuildContext<'_>,
) -> Result<Workload, WorkloadError> {
    let total = convs.len();
    convs.shuffle(&mut StdRng::seed_from_u64(ctx.seed));
    if let Some(n) = spec.n {
        convs.truncate(n);
    }
    let items = match spec.turns {
        Turns::First => {
            let mut items = Vec::with_capacity(convs.len());
            for c in &convs {
                let first = &c.exchanges[0];
                let out = answer_tokens(first.answer.as_ref(), ctx.tokens)?;
                items.push(WorkItem {
                    id: c.id.clone(),
                    messages: vec![user(first.user.clone())],
                    max_tokens: out,
                    exact_output: out.is_some(),
                    input_tokens: None,
                });
            }
            Items::Requests(items)
        }
        Turns::All => {
            let mut sessions = Vec::with_capacity(convs.len());
            for c in &convs {
                let mut turns = Vec::with_capacity(c.exchanges.len());
                for x in &c.exchanges {
                    let out = answer_tokens(x.answer.as_ref(), ctx.tokens)?;
                    turns.push(Turn {
                        text: x.user.clone(),
                        max_tokens: out,
                        exact_output: out.is_some(),
                    });
                }
                sessions.push(Session {
                    id: c.id.clone(),
                    turns,
                });
            }
            Items::Sessions(sessions)
        }
    };
    let mut w = Workload::new("sharegpt", spec.params(), ctx.seed, items, None, None);
    w.notes.push(format!(
        "{} of {total} conversations (seeded shuffle){}",
        w.items.len(),
        if ctx.tokens.is_some() {
            "; output lengths from the recorded answers"
        } else {
            "; no tokenizer: output lengths from the settings' max_tokens"
        }
    ));
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::super::testing::WordTokens;
    use super::super::{BuildContext, parse_spec};
    use super::*;

    const FIXTURE: &str = r#"[
 {"id": "a", "conversations": [{"from": "system", "value": "be brief"}, {"from": "human", "value": "what is rust"}, {"from": "gpt", "value": "a language for systems"}, {"from": "human", "value": "why"}, {"from": "gpt", "value": "safety"}]},
 {"id": "b", "conversations": [{"from": "gpt", "value": "hello"}]},
 {"id": 7, "conversations": [{"from": "human", "value": "hi there"}]}
]"#;

    fn spec(s: &str) -> Spec {
        match parse_spec(s).unwrap() {
            super::super::WorkloadSpec::ShareGpt(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_turns_with_answer_lengths() {
        let convs = parse(FIXTURE, "s.json").unwrap();
        assert_eq!(convs.len(), 2, "b has no user turn");
        assert_eq!(convs[1].id, "7");
        assert_eq!(convs[0].exchanges.len(), 2);
        let t = WordTokens { overhead: 3 };
        let ctx = BuildContext {
            seed: 1,
            default_count: 10,
            tokens: Some(&t),
        };
        let w = build(&spec("sharegpt:s.json"), convs.clone(), &ctx).unwrap();
        let Items::Requests(items) = &w.items else {
            panic!()
        };
        let a = items.iter().find(|i| i.id == "a").unwrap();
        assert_eq!(a.messages, vec![user("what is rust")]);
        assert_eq!((a.max_tokens, a.exact_output), (Some(4), true));
        let seven = items.iter().find(|i| i.id == "7").unwrap();
        assert_eq!((seven.max_tokens, seven.exact_output), (None, false));
        // Seeded: the same seed gives the same order and hash.
        let again = build(&spec("sharegpt:s.json"), convs.clone(), &ctx).unwrap();
        assert_eq!(again.hash, w.hash);
        let one = build(&spec("sharegpt:s.json,n=1"), convs.clone(), &ctx).unwrap();
        assert_eq!(one.items.len(), 1);
        // Without a tokenizer, no output lengths.
        let bare = BuildContext {
            seed: 1,
            default_count: 10,
            tokens: None,
        };
        let w = build(&spec("sharegpt:s.json"), convs, &bare).unwrap();
        let Items::Requests(items) = &w.items else {
            panic!()
        };
        assert!(items.iter().all(|i| i.max_tokens.is_none()));
    }

    #[test]
    fn whole_conversations_are_sessions() {
        let convs = parse(FIXTURE, "s.json").unwrap();
        let t = WordTokens { overhead: 3 };
        let ctx = BuildContext {
            seed: 1,
            default_count: 10,
            tokens: Some(&t),
        };
        let w = build(&spec("sharegpt:s.json,turns=all"), convs, &ctx).unwrap();
        let Items::Sessions(s) = &w.items else {
            panic!()
        };
        let a = s.iter().find(|s| s.id == "a").unwrap();
        assert_eq!(a.turns.len(), 2);
        assert_eq!(a.turns[1].text, "why");
        assert_eq!(a.turns[1].max_tokens, Some(1));
        assert_eq!(w.items.requests(), 3);
    }

    #[test]
    fn jsonl_form_and_errors() {
        let text = "{\"conversations\": [{\"from\": \"user\", \"value\": \"q\"}, {\"from\": \"assistant\", \"value\": \"a b\"}]}\n";
        let c = parse(text, "s.jsonl").unwrap();
        assert_eq!(c[0].id, "conv-0");
        assert_eq!(c[0].exchanges[0].answer.as_deref(), Some("a b"));
        let e = parse("{\"conversation\": []}", "s.jsonl")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.jsonl: line 1: missing field `conversations`"),
            "{e}"
        );
        let e = parse("[]", "s.json").unwrap_err().to_string();
        assert!(e.contains("no conversation with a user turn"), "{e}");
    }
}
