//! Prompts: the suite (system prompt + tiered Korean prompts), chat-template rendering,
//! and token counting with a `tokenizer.json`.

pub mod suite;
pub mod template;
pub mod tokenizer;

use serde::{Deserialize, Serialize};

/// Expected-output-length tier of a prompt (seed: short 30–80, medium 80–150, long 150+
/// output tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Short,
    Medium,
    Long,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Short => "short",
            Tier::Medium => "medium",
            Tier::Long => "long",
        }
    }
}

/// One user prompt of the suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub id: String,
    pub tier: Tier,
    pub text: String,
}

/// The listing `inferbench prompts` prints: the template used, the system prompt, every
/// prompt (id, tier, text), then each prompt rendered through the template.
pub fn listing(settings: &crate::config::Settings) -> anyhow::Result<String> {
    use std::fmt::Write;
    let (system, prompts) = suite::suite_for(settings)?;
    let template = template::ChatTemplate::resolve(&settings.chat_template, &settings.base_dir)?;
    let origin = |key: &str| {
        settings
            .origins
            .get(key)
            .map(|o| o.to_string())
            .unwrap_or_else(|| "default".into())
    };
    let mut out = String::new();
    let source = match template::builtin_path(&settings.chat_template) {
        Some(p) => format!("built in, {}", p.display()),
        None => "from file".to_string(),
    };
    writeln!(
        out,
        "Chat template: {} ({source}; setting from {})",
        template.name,
        origin("chat_template")
    )?;
    let sys_origin = if settings.system_prompt_override.is_some() {
        origin("system_prompt")
    } else {
        "the seed".to_string()
    };
    writeln!(out, "System prompt ({sys_origin}):")?;
    for line in system.lines() {
        writeln!(out, "{}", format!("  {line}").trim_end())?;
    }
    let suite_origin = match &settings.prompts_file {
        Some(p) => p.display().to_string(),
        None => "the built-in suite".to_string(),
    };
    writeln!(
        out,
        "\nPrompts ({} from {suite_origin}{}):",
        prompts.len(),
        if settings.quick {
            ", --quick: first only"
        } else {
            ""
        }
    )?;
    let id_width = prompts
        .iter()
        .map(|p| p.id.chars().count())
        .max()
        .unwrap_or(2);
    writeln!(out, "  {:<id_width$}  {:<6}  TEXT", "ID", "TIER")?;
    for p in &prompts {
        writeln!(
            out,
            "  {:<id_width$}  {:<6}  {}",
            p.id,
            p.tier.as_str(),
            p.text
        )?;
    }
    for p in &prompts {
        let input = template.prompt_input(&system, &p.text)?;
        writeln!(
            out,
            "\n--- {} ({}) rendered with {} ---",
            p.id,
            p.tier.as_str(),
            template.name
        )?;
        out.push_str(&input.rendered);
        if !input.rendered.ends_with('\n') {
            out.push('\n');
        }
        writeln!(out, "--- end of {} ---", p.id)?;
    }
    Ok(out)
}

/// `inferbench prompts`: print [`listing`]. Returns the exit code.
pub fn cmd_prompts(settings: &crate::config::Settings) -> anyhow::Result<i32> {
    print!("{}", listing(settings)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFile, Overrides, resolve};
    use std::collections::BTreeMap;

    fn settings(flags: Overrides) -> crate::config::Settings {
        resolve(None, ConfigFile::default(), &BTreeMap::new(), &flags).unwrap()
    }

    #[test]
    fn listing_shows_every_prompt_rendered_with_gemma3() {
        let out = listing(&settings(Overrides::default())).unwrap();
        assert!(out.starts_with("Chat template: gemma3 (built in"), "{out}");
        assert!(
            out.contains("Prompts (10 from the built-in suite)"),
            "{out}"
        );
        for p in suite::builtin() {
            assert!(out.contains(&p.text), "{}", p.id);
            assert!(out.contains(&format!("--- {} ({})", p.id, p.tier.as_str())));
        }
        let first = format!(
            "<bos><start_of_turn>user\n{}\n\n파이썬에서 리스트와 튜플의 차이점은?<end_of_turn>\n<start_of_turn>model\n",
            suite::SEED_SYSTEM_PROMPT
        );
        assert!(out.contains(&first), "{out}");
        assert_eq!(out.matches("<start_of_turn>model\n").count(), 10);
        assert!(!out.lines().any(|l| l.ends_with(' ')), "no trailing spaces");
    }

    #[test]
    fn listing_quick_chatml_and_custom_suite() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/prompts/custom.jsonl");
        let s = settings(Overrides {
            quick: true,
            chat_template: Some("chatml".into()),
            prompts_file: Some(fixture),
            ..Default::default()
        });
        let out = listing(&s).unwrap();
        assert!(out.starts_with("Chat template: chatml"), "{out}");
        assert!(out.contains("Prompts (1 from"), "{out}");
        assert!(out.contains(
            "<|im_start|>user\n러스트에서 소유권이란?<|im_end|>\n<|im_start|>assistant\n"
        ));
        assert!(!out.contains("m1"), "quick shows the first prompt only");
    }

    #[test]
    fn suite_for_uses_override_and_seed() {
        let (sys, prompts) = suite::suite_for(&settings(Overrides::default())).unwrap();
        assert_eq!(sys, suite::SEED_SYSTEM_PROMPT);
        assert_eq!(prompts.len(), 10);
        let mut env = BTreeMap::new();
        env.insert("BENCHMARK_SYSTEM_PROMPT".to_string(), "짧게.".to_string());
        let s = resolve(None, ConfigFile::default(), &env, &Overrides::default()).unwrap();
        let (sys, _) = suite::suite_for(&s).unwrap();
        assert_eq!(sys, "짧게.");
        let out = listing(&s).unwrap();
        assert!(
            out.contains("System prompt (env BENCHMARK_SYSTEM_PROMPT)"),
            "{out}"
        );
    }

    #[test]
    fn listing_bad_template_is_user_error() {
        let s = settings(Overrides {
            chat_template: Some("nosuch".into()),
            ..Default::default()
        });
        let err = listing(&s).unwrap_err();
        assert!(
            err.chain()
                .any(|c| c.downcast_ref::<crate::error::UserError>().is_some()),
            "{err:#}"
        );
    }
}
