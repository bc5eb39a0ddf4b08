//! JSON Lines prompt files: one `{"prompt": TEXT[, "output_tokens": N][, "id": ID]}` per
//! line (`text` for `prompt`; `max_tokens`, `output_len` or `expected_output_tokens` for
//! `output_tokens`). A line with an output length is sent with that `max_tokens` and
//! `ignore_eos`, so its output is as long as expected; a line without one uses the
//! settings' max_tokens and may stop at EOS. Requests go in file order.

use super::{Items, WorkItem, Workload, WorkloadError, user};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// `jsonl:FILE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    id: Option<String>,
    #[serde(alias = "text")]
    prompt: String,
    #[serde(
        default,
        alias = "max_tokens",
        alias = "output_len",
        alias = "expected_output_tokens"
    )]
    output_tokens: Option<u32>,
}

/// One prompt of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub prompt: String,
    pub output_tokens: Option<u32>,
}

/// Parse a prompt file; errors name the file and line. Pure.
pub fn parse(text: &str, file: &str) -> Result<Vec<Entry>, WorkloadError> {
    let err = |message: String| WorkloadError::File {
        file: file.to_string(),
        message,
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Raw = serde_json::from_str(line).map_err(|e| {
            err(format!(
                "line {}: {e}; each line must be {{\"prompt\": TEXT[, \"output_tokens\": N]}}",
                i + 1
            ))
        })?;
        if r.prompt.trim().is_empty() {
            return Err(err(format!("line {}: the prompt is empty", i + 1)));
        }
        if r.output_tokens == Some(0) {
            return Err(err(format!("line {}: output_tokens must be ≥ 1", i + 1)));
        }
        let id = r.id.unwrap_or_else(|| format!("line-{}", i + 1));
        if !seen.insert(id.clone()) {
            return Err(err(format!("line {}: duplicate id `{id}`", i + 1)));
        }
        out.push(Entry {
            id,
            prompt: r.prompt,
            output_tokens: r.output_tokens,
        });
    }
    if out.is_empty() {
        return Err(err("no prompts".into()));
    }
    Ok(out)
}

pub fn build(spec: &Spec, entries: Vec<Entry>, seed: u64) -> Workload {
    let items = entries
        .into_iter()
        .map(|e| WorkItem {
            id: e.id,
            messages: vec![user(e.prompt)],
            max_tokens: e.output_tokens,
            exact_output: e.output_tokens.is_some(),
            input_tokens: None,
        })
        .collect();
    let mut params = BTreeMap::new();
    params.insert("file".into(), spec.file.display().to_string());
    Workload::new("jsonl", params, seed, Items::Requests(items), None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prompts_with_and_without_lengths() {
        let text = "{\"prompt\": \"hello\", \"output_tokens\": 12}\n\n{\"text\": \"안녕\", \"id\": \"k\"}\n{\"prompt\": \"x\", \"max_tokens\": 3}\n";
        let v = parse(text, "p.jsonl").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].id, "line-1");
        assert_eq!(v[0].output_tokens, Some(12));
        assert_eq!((v[1].id.as_str(), v[1].output_tokens), ("k", None));
        assert_eq!(v[2].output_tokens, Some(3));
        let w = build(
            &Spec {
                file: "p.jsonl".into(),
            },
            v,
            1,
        );
        let Items::Requests(items) = &w.items else {
            panic!()
        };
        assert!(items[0].exact_output && !items[1].exact_output);
        assert_eq!(items[1].messages[0].content, "안녕");
        assert!(w.hash.starts_with("fnv1a64:"));
    }

    #[test]
    fn bad_files_name_the_line() {
        for (text, want) in [
            ("{\"prompt\": \"\"}", "line 1: the prompt is empty"),
            ("\n{\"promt\": \"x\"}", "line 2: unknown field `promt`"),
            (
                "{\"prompt\": \"x\", \"output_tokens\": 0}",
                "output_tokens must be ≥ 1",
            ),
            (
                "{\"prompt\": \"x\", \"id\": \"a\"}\n{\"prompt\": \"y\", \"id\": \"a\"}",
                "duplicate id `a`",
            ),
            ("  \n", "no prompts"),
        ] {
            let e = parse(text, "p.jsonl").unwrap_err().to_string();
            assert!(e.starts_with("p.jsonl: "), "{e}");
            assert!(e.contains(want), "want {want:?} in {e}");
        }
    }
}
