//! The prompt suite: the seed's system prompt (verbatim), the built-in ten Korean prompts
//! in three tiers, loading of a custom suite (`--prompts FILE`), and quick-mode selection.
//!
//! The built-in suite keeps the seed's three prompts (one per tier; the long one, which
//! the seed truncates, completed into a full request) and adds seven in the same style.
//! The first prompt is the seed's short one because `--quick` runs only the first.

use super::{Prompt, Tier};
use crate::config::Settings;
use crate::error::UserError;
use anyhow::Context;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

/// The seed's system prompt, identical for every engine (SEED.md, "Fairness").
pub const SEED_SYSTEM_PROMPT: &str = "당신은 도움이 되는 AI 어시스턴트입니다. 질문에 대해 정확하고 유용한 답변을 제공해주세요.\n답변은 다음 형식을 따라주세요:\n1. 핵심 답변 (1-2문장)\n2. 상세 설명 (2-3문장)\n3. 추가 정보나 팁 (1-2문장)\n\n**중요: 답변은 반드시 300자 이내로 작성해주세요.**\n항상 한국어로 답변해주세요.";

/// (id, tier, text) of the built-in suite, in run order.
const BUILTIN: &[(&str, Tier, &str)] = &[
    // short: 30–80 expected output tokens
    (
        "short-01",
        Tier::Short,
        "파이썬에서 리스트와 튜플의 차이점은?",
    ),
    ("short-02", Tier::Short, "HTTP와 HTTPS의 차이점은?"),
    ("short-03", Tier::Short, "깃에서 merge와 rebase의 차이점은?"),
    // medium: 80–150
    (
        "medium-01",
        Tier::Medium,
        "데이터베이스 설계 시 정규화의 개념과 중요성을 설명해주세요.",
    ),
    (
        "medium-02",
        Tier::Medium,
        "운영체제에서 프로세스와 스레드의 차이점과 각각의 장단점을 설명해주세요.",
    ),
    (
        "medium-03",
        Tier::Medium,
        "웹 애플리케이션에서 캐시를 사용하는 이유와 대표적인 캐시 무효화 전략을 설명해주세요.",
    ),
    // long: 150+
    (
        "long-01",
        Tier::Long,
        "분산 시스템에서 일관성, 가용성, 분할 허용성 간의 트레이드오프를 설명하고, 실제 시스템에서 이를 어떻게 선택하는지 예를 들어주세요.",
    ),
    (
        "long-02",
        Tier::Long,
        "마이크로서비스 아키텍처와 모놀리식 아키텍처의 장단점을 비교하고, 어떤 상황에서 각각을 선택해야 하는지 설명해주세요.",
    ),
    (
        "long-03",
        Tier::Long,
        "대규모 언어 모델의 추론 속도를 높이는 방법(양자화, KV 캐시, 배치 처리 등)을 설명하고, 각 방법의 장단점을 비교해주세요.",
    ),
    (
        "long-04",
        Tier::Long,
        "데이터베이스 트랜잭션의 ACID 속성을 각각 설명하고, 격리 수준에 따라 발생할 수 있는 문제들을 예를 들어 설명해주세요.",
    ),
];

/// The built-in suite: ten Korean prompts, the seed's short prompt first.
pub fn builtin() -> Vec<Prompt> {
    BUILTIN
        .iter()
        .map(|&(id, tier, text)| Prompt {
            id: id.to_string(),
            tier,
            text: text.to_string(),
        })
        .collect()
}

/// One entry as written in a suite file; the tier is a string so an unknown one gets a
/// message listing the allowed values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    id: String,
    tier: String,
    text: String,
}

fn parse_tier(s: &str) -> Option<Tier> {
    match s {
        "short" => Some(Tier::Short),
        "medium" => Some(Tier::Medium),
        "long" => Some(Tier::Long),
        _ => None,
    }
}

/// Load a custom suite: a JSON array, or JSON Lines (one object per line; blank lines
/// ignored), of `{"id", "tier", "text"}`. Errors name the file and the line (JSONL) or
/// the entry (array, counted from 1), and are [`UserError`]s (exit code 2).
pub fn load(path: &Path) -> anyhow::Result<Vec<Prompt>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!(
            "cannot read prompt suite {}: {e} (check the --prompts / inferbench.prompts_file path)",
            path.display()
        ))
    })?;
    parse(&text, path).map_err(|m| UserError::new(m).into())
}

/// Parse a suite's text; `path` is only used in messages.
fn parse(text: &str, path: &Path) -> Result<Vec<Prompt>, String> {
    let file = path.display();
    let mut raw: Vec<(String, RawPrompt)> = Vec::new();
    if text.trim_start().starts_with('[') {
        let de = &mut serde_json::Deserializer::from_str(text);
        let items: Vec<RawPrompt> = serde_path_to_error::deserialize(de).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner();
            format!(
                "{file}: line {}: {inner} (at {at}); expected a JSON array of {{\"id\", \"tier\", \"text\"}}",
                inner.line()
            )
        })?;
        for (i, p) in items.into_iter().enumerate() {
            raw.push((format!("entry {}", i + 1), p));
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let p: RawPrompt = serde_json::from_str(line).map_err(|e| {
                format!(
                    "{file}: line {}: {e}; each line must be a JSON object {{\"id\", \"tier\", \"text\"}}",
                    i + 1
                )
            })?;
            raw.push((format!("line {}", i + 1), p));
        }
    }
    if raw.is_empty() {
        return Err(format!("{file}: the prompt suite is empty"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (at, p) in raw {
        if p.id.trim().is_empty() {
            return Err(format!("{file}: {at}: `id` is empty"));
        }
        if !seen.insert(p.id.clone()) {
            return Err(format!("{file}: {at}: duplicate id `{}`", p.id));
        }
        let tier = parse_tier(&p.tier).ok_or_else(|| {
            format!(
                "{file}: {at}: unknown tier `{}` (allowed: short, medium, long)",
                p.tier
            )
        })?;
        if p.text.trim().is_empty() {
            return Err(format!("{file}: {at}: `text` of `{}` is empty", p.id));
        }
        out.push(Prompt {
            id: p.id,
            tier,
            text: p.text,
        });
    }
    Ok(out)
}

/// The prompts a run uses: all of them, or only the first in quick mode.
pub fn select(mut prompts: Vec<Prompt>, quick: bool) -> Vec<Prompt> {
    if quick {
        prompts.truncate(1);
    }
    prompts
}

/// The system prompt and prompts for these settings: the override or the seed's system
/// prompt; the custom suite or the built-in one; quick mode applied.
pub fn suite_for(settings: &Settings) -> anyhow::Result<(String, Vec<Prompt>)> {
    let system = settings
        .system_prompt_override
        .clone()
        .unwrap_or_else(|| SEED_SYSTEM_PROMPT.to_string());
    let prompts = match &settings.prompts_file {
        Some(path) => load(path).with_context(|| "loading the prompt suite")?,
        None => builtin(),
    };
    Ok((system, select(prompts, settings.quick)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn p() -> PathBuf {
        PathBuf::from("suite.jsonl")
    }

    #[test]
    fn system_prompt_shape() {
        let lines: Vec<&str> = SEED_SYSTEM_PROMPT.split('\n').collect();
        assert_eq!(lines.len(), 8);
        assert!(lines[0].starts_with("당신은 도움이 되는 AI 어시스턴트입니다."));
        assert_eq!(lines[2], "1. 핵심 답변 (1-2문장)");
        assert_eq!(lines[5], "");
        assert_eq!(lines[7], "항상 한국어로 답변해주세요.");
        assert!(!SEED_SYSTEM_PROMPT.ends_with('\n'));
    }

    #[test]
    fn builtin_suite_shape() {
        let b = builtin();
        assert_eq!(b.len(), 10);
        assert_eq!(b[0].text, "파이썬에서 리스트와 튜플의 차이점은?");
        assert_eq!(b[0].tier, Tier::Short);
        for tier in [Tier::Short, Tier::Medium, Tier::Long] {
            assert!(b.iter().filter(|p| p.tier == tier).count() >= 3, "{tier:?}");
        }
        let ids: HashSet<_> = b.iter().map(|p| &p.id).collect();
        assert_eq!(ids.len(), 10);
        assert!(
            b.iter()
                .any(|p| p.text == "데이터베이스 설계 시 정규화의 개념과 중요성을 설명해주세요.")
        );
        let long = b
            .iter()
            .find(|p| {
                p.text.starts_with(
                    "분산 시스템에서 일관성, 가용성, 분할 허용성 간의 트레이드오프를 설명하고",
                )
            })
            .unwrap();
        assert_eq!(long.tier, Tier::Long);
        assert!(long.text.ends_with("주세요."), "completed: {}", long.text);
        // Every built-in prompt is Korean and a complete sentence.
        for p in &b {
            assert!(
                p.text.chars().any(|c| ('가'..='힣').contains(&c)),
                "{}",
                p.id
            );
            assert!(p.text.ends_with('.') || p.text.ends_with('?'), "{}", p.id);
        }
    }

    #[test]
    fn select_quick_takes_first() {
        let q = select(builtin(), true);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].id, "short-01");
        assert_eq!(select(builtin(), false).len(), 10);
    }

    #[test]
    fn loads_jsonl_and_json_array() {
        let jsonl = "{\"id\":\"a\",\"tier\":\"short\",\"text\":\"안녕?\"}\n\n{\"id\":\"b\",\"tier\":\"long\",\"text\":\"길게\"}\n";
        let v = parse(jsonl, &p()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].tier, Tier::Long);
        let arr = r#" [{"id":"x","tier":"medium","text":"t"}]"#;
        let v = parse(arr, &p()).unwrap();
        assert_eq!(v[0].id, "x");
        assert_eq!(v[0].tier, Tier::Medium);
    }

    #[test]
    fn bad_suites_name_file_and_place() {
        let cases = [
            (
                "{\"id\":\"a\",\"tier\":\"short\",\"text\":\"x\"}\n{\"id\":\"a\",\"tier\":\"short\",\"text\":\"y\"}",
                "line 2: duplicate id `a`",
            ),
            (
                "{\"id\":\"a\",\"tier\":\"huge\",\"text\":\"x\"}",
                "line 1: unknown tier `huge` (allowed: short, medium, long)",
            ),
            (
                "{\"id\":\"a\",\"tier\":\"short\",\"text\":\"  \"}",
                "line 1: `text` of `a` is empty",
            ),
            ("\n{\"id\":\"a\",\"tier\":\"short\"", "line 2:"),
            (
                "{\"id\":\"a\",\"tier\":\"short\",\"txt\":\"x\"}",
                "line 1: unknown field `txt`",
            ),
            (
                r#"[{"id":"a","tier":"short","text":"x"},{"id":"","tier":"short","text":"y"}]"#,
                "entry 2: `id` is empty",
            ),
            (r#"[{"id":"a","tier":"short","text":7}]"#, "[0].text"),
            ("", "empty"),
            ("[]", "empty"),
        ];
        for (text, want) in cases {
            let err = parse(text, &p()).unwrap_err();
            assert!(err.starts_with("suite.jsonl: "), "{err}");
            assert!(err.contains(want), "want {want:?} in {err}");
        }
    }

    #[test]
    fn load_missing_file_is_user_error() {
        let err = load(Path::new("/nonexistent/prompts.jsonl")).unwrap_err();
        assert!(
            err.chain()
                .any(|c| c.downcast_ref::<crate::error::UserError>().is_some()),
            "{err:#}"
        );
        assert!(err.to_string().contains("/nonexistent/prompts.jsonl"));
    }

    #[test]
    fn load_fixture_file() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts/custom.jsonl");
        let v = load(&path).unwrap();
        assert_eq!(v.len(), 3);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts/custom.json");
        assert_eq!(load(&path).unwrap().len(), 2);
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts/duplicate.jsonl");
        let err = load(&path).unwrap_err();
        assert!(
            err.chain()
                .any(|c| c.downcast_ref::<crate::error::UserError>().is_some()),
            "{err:#}"
        );
        assert!(err.to_string().contains("duplicate.jsonl: line 3"), "{err}");
    }
}
