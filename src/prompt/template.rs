//! Chat-template rendering with minijinja, the way Hugging Face renders templates, so the
//! text we send to raw-completion endpoints (and log for every request) is the text a
//! chat endpoint builds from the same messages.
//!
//! A template comes from one of five places ([`ChatTemplate::resolve`]):
//! - `gemma3` (alias `gemma`): the official Gemma 3 template, built in. It has no system
//!   role: the system text is folded into the first user turn (see ENGINES.md).
//! - `chatml`: our own ChatML template, built in.
//! - a `.jinja` / `.j2` file (BOS/EOS from a `tokenizer_config.json` beside it, if any);
//! - a `tokenizer_config.json` (its `chat_template`, or the `default` entry of a list of
//!   named templates; a `chat_template.jinja` beside it is used when the key is absent,
//!   as transformers ≥ 4.43 saves it there);
//! - a `.gguf` file: its `tokenizer.chat_template`, with BOS/EOS looked up by id in
//!   `tokenizer.ggml.tokens`.
//!
//! Rendering matches HF's Jinja environment: `trim_blocks` and `lstrip_blocks` on,
//! Python string/dict methods (`.strip()`, `.startswith()`, `.items()` …) through
//! minijinja-contrib's pycompat, `raise_exception(msg)`, `strftime_now(fmt)`, and the
//! variables `messages`, `add_generation_prompt`, `bos_token`, `eos_token`.

use crate::client::{Message, PromptInput};
use crate::error::UserError;
use crate::gguf::GgufInfo;
use anyhow::Context;
use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, context};
use std::path::{Path, PathBuf};

const GEMMA3_SOURCE: &str = include_str!("../../templates/gemma3.jinja");
const CHATML_SOURCE: &str = include_str!("../../templates/chatml.jinja");

/// A chat template and the special tokens it may print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    /// What was used, for logs and results: `gemma3`, `chatml`, `file:PATH`,
    /// `tokenizer_config:PATH` or `gguf:PATH`.
    pub name: String,
    /// The Jinja source.
    pub source: String,
    pub bos_token: String,
    pub eos_token: String,
}

impl ChatTemplate {
    /// The built-in template of that name, if there is one.
    pub fn builtin(name: &str) -> Option<ChatTemplate> {
        match name {
            "gemma3" | "gemma" => Some(ChatTemplate {
                name: "gemma3".into(),
                source: GEMMA3_SOURCE.into(),
                bos_token: "<bos>".into(),
                eos_token: "<eos>".into(),
            }),
            "chatml" => Some(ChatTemplate {
                name: "chatml".into(),
                source: CHATML_SOURCE.into(),
                bos_token: String::new(),
                eos_token: "<|im_end|>".into(),
            }),
            _ => None,
        }
    }

    /// Resolve a template spec: a built-in name, or a path (relative paths against
    /// `base`, the config file's directory) to a `.jinja`/`.j2` file, a
    /// `tokenizer_config.json` (or a directory holding one), or a `.gguf`. Bad specs are
    /// [`UserError`]s (exit code 2) saying what to use instead.
    pub fn resolve(spec: &str, base: &Path) -> anyhow::Result<ChatTemplate> {
        if let Some(t) = Self::builtin(spec) {
            return Ok(t);
        }
        let path = crate::config::expand_path(spec, base);
        if !path.exists() {
            return Err(UserError::new(format!(
                "chat template `{spec}`: not a built-in template and no such file {}; use \
                 gemma3, chatml, a .jinja file, a tokenizer_config.json or a .gguf",
                path.display()
            ))
            .into());
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if path.is_dir() {
            let config = path.join("tokenizer_config.json");
            let jinja = path.join("chat_template.jinja");
            if config.is_file() {
                return from_tokenizer_config(&config);
            }
            if jinja.is_file() {
                return from_jinja_file(&jinja);
            }
            return Err(UserError::new(format!(
                "chat template {}: the directory has neither tokenizer_config.json nor \
                 chat_template.jinja",
                path.display()
            ))
            .into());
        }
        if file_name.ends_with(".gguf") {
            from_gguf(&path)
        } else if file_name.ends_with(".json") {
            from_tokenizer_config(&path)
        } else if file_name.ends_with(".jinja") || file_name.ends_with(".j2") {
            from_jinja_file(&path)
        } else {
            Err(UserError::new(format!(
                "chat template {}: unknown file type; expected .jinja, .j2, .json \
                 (tokenizer_config.json) or .gguf",
                path.display()
            ))
            .into())
        }
    }

    /// Render messages as HF's `apply_chat_template(..., tokenize=False)` would.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> anyhow::Result<String> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .context("building the Jinja syntax configuration")?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_function("strftime_now", |fmt: String| -> String {
            chrono::Local::now().format(&fmt).to_string()
        });
        let tmpl = env.template_from_str(&self.source).map_err(|e| {
            anyhow::anyhow!(
                "chat template {} does not parse: {}",
                self.name,
                jinja_detail(&e)
            )
        })?;
        tmpl.render(context! {
            messages => Serde(messages),
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(|e| anyhow::anyhow!("chat template {} failed: {}", self.name, jinja_detail(&e)))
    }

    /// The prompt of one request: `[system, user]` messages (no system message when the
    /// system text is empty) and their rendering with the generation prompt.
    pub fn prompt_input(&self, system: &str, user: &str) -> anyhow::Result<PromptInput> {
        let mut messages = Vec::with_capacity(2);
        if !system.is_empty() {
            messages.push(Message {
                role: "system".into(),
                content: system.into(),
            });
        }
        messages.push(Message {
            role: "user".into(),
            content: user.into(),
        });
        let rendered = self.render(&messages, true)?;
        Ok(PromptInput { messages, rendered })
    }
}

/// A minijinja error with its cause chain and location, on one line.
fn jinja_detail(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!("cannot read chat template {}: {e}", path.display())).into()
    })
}

/// BOS/EOS of a `tokenizer_config.json`: plain strings or `{"content": ...}` objects.
fn special_tokens(config: &serde_json::Value) -> (String, String) {
    let get = |key: &str| match config.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    (get("bos_token"), get("eos_token"))
}

fn read_config(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = read_text(path)?;
    serde_json::from_str(&text)
        .map_err(|e| UserError::new(format!("{}: not valid JSON: {e}", path.display())).into())
}

fn from_jinja_file(path: &Path) -> anyhow::Result<ChatTemplate> {
    let source = read_text(path)?;
    // HF keeps the special tokens in tokenizer_config.json beside the template.
    let sibling = path.with_file_name("tokenizer_config.json");
    let (bos_token, eos_token) = if sibling.is_file() {
        special_tokens(&read_config(&sibling)?)
    } else {
        (String::new(), String::new())
    };
    Ok(ChatTemplate {
        name: format!("file:{}", path.display()),
        source,
        bos_token,
        eos_token,
    })
}

fn from_tokenizer_config(path: &Path) -> anyhow::Result<ChatTemplate> {
    let config = read_config(path)?;
    let (bos_token, eos_token) = special_tokens(&config);
    let source = match config.get("chat_template") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(list)) => {
            let named = |want: &str| {
                list.iter().find_map(|e| {
                    (e.get("name").and_then(|n| n.as_str()) == Some(want))
                        .then(|| e.get("template").and_then(|t| t.as_str()))
                        .flatten()
                })
            };
            match named("default") {
                Some(s) => s.to_string(),
                None => {
                    let names: Vec<&str> = list
                        .iter()
                        .filter_map(|e| e.get("name").and_then(|n| n.as_str()))
                        .collect();
                    return Err(UserError::new(format!(
                        "{}: chat_template is a list without a `default` entry (names: {})",
                        path.display(),
                        names.join(", ")
                    ))
                    .into());
                }
            }
        }
        Some(_) => {
            return Err(UserError::new(format!(
                "{}: chat_template must be a string or a list of {{name, template}}",
                path.display()
            ))
            .into());
        }
        None => {
            let jinja = path.with_file_name("chat_template.jinja");
            if jinja.is_file() {
                read_text(&jinja)?
            } else {
                return Err(UserError::new(format!(
                    "{} has no chat_template (and no chat_template.jinja beside it); use \
                     --chat-template gemma3, chatml or a .jinja file",
                    path.display()
                ))
                .into());
            }
        }
    };
    Ok(ChatTemplate {
        name: format!("tokenizer_config:{}", path.display()),
        source,
        bos_token,
        eos_token,
    })
}

fn from_gguf(path: &Path) -> anyhow::Result<ChatTemplate> {
    let info = GgufInfo::read(path)?;
    let Some(source) = info.chat_template() else {
        return Err(UserError::new(format!(
            "{} has no tokenizer.chat_template (a base model?); use --chat-template gemma3 \
             for Gemma models, chatml, or a template file",
            path.display()
        ))
        .into());
    };
    let token = |key: &str| -> anyhow::Result<String> {
        match info.get_u64(key) {
            Some(id) => info
                .token_string(id)
                .with_context(|| format!("{}: looking up {key} {id}", path.display())),
            None => Ok(String::new()),
        }
    };
    Ok(ChatTemplate {
        name: format!("gguf:{}", path.display()),
        source: source.to_string(),
        bos_token: token("tokenizer.ggml.bos_token_id")?,
        eos_token: token("tokenizer.ggml.eos_token_id")?,
    })
}

/// Where a built-in template's source lives in the repository (for messages and docs).
pub fn builtin_path(name: &str) -> Option<PathBuf> {
    match name {
        "gemma3" | "gemma" => Some(PathBuf::from("templates/gemma3.jinja")),
        "chatml" => Some(PathBuf::from("templates/chatml.jinja")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smol() -> String {
        crate::config::test_model("smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    fn gemma() -> String {
        crate::config::test_model("gemma-3-270m/gemma-3-270m-Q4_K_M.gguf")
    }
    const SYSTEM: &str = crate::prompt::suite::SEED_SYSTEM_PROMPT;
    const USER: &str = "파이썬에서 리스트와 튜플의 차이점은?";

    fn need(path: &str) {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: run scripts/setup.sh to download the test models"
        );
    }

    fn msg(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn gemma3_folds_system_into_first_user_turn() {
        let t = ChatTemplate::resolve("gemma3", Path::new(".")).unwrap();
        let p = t.prompt_input(SYSTEM, USER).unwrap();
        assert_eq!(
            p.rendered,
            format!(
                "<bos><start_of_turn>user\n{SYSTEM}\n\n{USER}<end_of_turn>\n<start_of_turn>model\n"
            )
        );
        assert_eq!(p.messages.len(), 2);
        assert_eq!(p.messages[0].role, "system");
        // User content is trimmed by the template.
        let p = t.prompt_input("S", "  Q \n").unwrap();
        assert_eq!(
            p.rendered,
            "<bos><start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\n"
        );
        // No system message: no prefix.
        let p = t.prompt_input("", "Q").unwrap();
        assert_eq!(
            p.rendered,
            "<bos><start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n"
        );
        assert_eq!(p.messages.len(), 1);
    }

    #[test]
    fn gemma3_multi_turn_and_alternation_error() {
        let t = ChatTemplate::builtin("gemma").unwrap();
        let out = t
            .render(
                &[msg("user", "a"), msg("assistant", "b"), msg("user", "c")],
                false,
            )
            .unwrap();
        assert_eq!(
            out,
            "<bos><start_of_turn>user\na<end_of_turn>\n<start_of_turn>model\nb<end_of_turn>\n\
             <start_of_turn>user\nc<end_of_turn>\n"
        );
        let err = t
            .render(&[msg("user", "a"), msg("user", "b")], true)
            .unwrap_err();
        assert!(err.to_string().contains("must alternate"), "{err}");
    }

    #[test]
    fn chatml_renders() {
        let t = ChatTemplate::resolve("chatml", Path::new(".")).unwrap();
        let p = t.prompt_input("SYS", "Q").unwrap();
        assert_eq!(
            p.rendered,
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.render(&p.messages, false).unwrap(),
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
        );
    }

    #[test]
    fn smollm2_gguf_template_renders() {
        let smol = smol();
        need(&smol);
        let t = ChatTemplate::resolve(&smol, Path::new("/")).unwrap();
        assert_eq!(t.name, format!("gguf:{smol}"));
        assert_eq!(t.bos_token, "<|im_start|>");
        assert_eq!(t.eos_token, "<|im_end|>");
        let p = t.prompt_input("SYS", "Q").unwrap();
        assert_eq!(
            p.rendered,
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
        );
        // Without a system message the template inserts its own default one.
        let p = t.prompt_input("", "Q").unwrap();
        assert!(
            p.rendered
                .starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
        );
    }

    #[test]
    fn gemma_base_gguf_has_no_template() {
        let gemma = gemma();
        need(&gemma);
        let err = ChatTemplate::resolve(&gemma, Path::new("/")).unwrap_err();
        assert!(
            err.chain()
                .any(|c| c.downcast_ref::<crate::error::UserError>().is_some()),
            "{err:#}"
        );
        assert!(err.to_string().contains("--chat-template gemma3"), "{err}");
    }

    #[test]
    fn pycompat_methods_and_whitespace_control() {
        // HF-style template: block tags on their own lines vanish (trim/lstrip blocks),
        // Python string methods work, raise_exception is defined.
        let src = "{% for m in messages %}\n    {% if m.content.startswith('!') %}\n{{ raise_exception('no bangs') }}\n    {% endif %}\n[{{ m.role.upper() }}:{{ m.content.strip() }}]\n{% endfor %}\n";
        let t = ChatTemplate {
            name: "test".into(),
            source: src.into(),
            bos_token: String::new(),
            eos_token: String::new(),
        };
        assert_eq!(
            t.render(&[msg("user", " hi "), msg("assistant", "yo")], true)
                .unwrap(),
            "[USER:hi]\n[ASSISTANT:yo]\n"
        );
        let err = t.render(&[msg("user", "!x")], true).unwrap_err();
        assert!(err.to_string().contains("no bangs"), "{err}");
    }

    #[test]
    fn tokenizer_config_variants() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("tokenizer_config.json");
        std::fs::write(
            &cfg,
            r#"{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"}"#,
        )
        .unwrap();
        let t = ChatTemplate::resolve(cfg.to_str().unwrap(), Path::new("/")).unwrap();
        assert_eq!(t.render(&[msg("user", "x")], true).unwrap(), "<s>x</s>");
        // A directory resolves through its tokenizer_config.json.
        let t2 = ChatTemplate::resolve(dir.path().to_str().unwrap(), Path::new("/")).unwrap();
        assert_eq!(t2.source, t.source);

        std::fs::write(
            &cfg,
            r#"{"bos_token": "<s>", "chat_template": [
                {"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ bos_token }}"}]}"#,
        )
        .unwrap();
        let t = ChatTemplate::resolve("tokenizer_config.json", dir.path()).unwrap();
        assert_eq!(t.render(&[], true).unwrap(), "D<s>");

        std::fs::write(
            &cfg,
            r#"{"chat_template": [{"name": "tool_use", "template": "T"}]}"#,
        )
        .unwrap();
        let err = ChatTemplate::resolve(cfg.to_str().unwrap(), Path::new("/")).unwrap_err();
        assert!(err.to_string().contains("tool_use"), "{err}");

        // No chat_template key: chat_template.jinja beside it (transformers ≥ 4.43).
        std::fs::write(&cfg, r#"{"bos_token": "<b>"}"#).unwrap();
        let err = ChatTemplate::resolve(cfg.to_str().unwrap(), Path::new("/")).unwrap_err();
        assert!(err.to_string().contains("has no chat_template"), "{err}");
        std::fs::write(dir.path().join("chat_template.jinja"), "J{{ bos_token }}").unwrap();
        let t = ChatTemplate::resolve(cfg.to_str().unwrap(), Path::new("/")).unwrap();
        assert_eq!(t.render(&[], true).unwrap(), "J<b>");
        // The .jinja file itself picks up the sibling's special tokens.
        let t = ChatTemplate::resolve("chat_template.jinja", dir.path()).unwrap();
        assert!(t.name.starts_with("file:"));
        assert_eq!(t.render(&[], true).unwrap(), "J<b>");
    }

    #[test]
    fn real_gemma_tokenizer_config_has_no_template() {
        let path = crate::config::test_model("gemma-3-270m/tokenizer/tokenizer_config.json");
        need(&path);
        let err = ChatTemplate::resolve(&path, Path::new("/")).unwrap_err();
        assert!(err.to_string().contains("--chat-template gemma3"), "{err}");
    }

    #[test]
    fn unknown_specs_are_user_errors() {
        let err = ChatTemplate::resolve("gemma4", Path::new("/nonexistent")).unwrap_err();
        assert!(
            err.chain()
                .any(|c| c.downcast_ref::<crate::error::UserError>().is_some()),
            "{err:#}"
        );
        assert!(err.to_string().contains("gemma3, chatml"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.txt");
        std::fs::write(&f, "hi").unwrap();
        let err = ChatTemplate::resolve(f.to_str().unwrap(), Path::new("/")).unwrap_err();
        assert!(err.to_string().contains("unknown file type"), "{err}");
        let bad = dir.path().join("bad.jinja");
        std::fs::write(&bad, "{% for %}").unwrap();
        let t = ChatTemplate::resolve(bad.to_str().unwrap(), Path::new("/")).unwrap();
        let err = t.render(&[], true).unwrap_err();
        assert!(err.to_string().contains("does not parse"), "{err}");
    }

    #[test]
    fn builtin_sources_match_repository_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in ["gemma3", "chatml"] {
            let on_disk = std::fs::read_to_string(root.join(builtin_path(name).unwrap())).unwrap();
            assert_eq!(ChatTemplate::builtin(name).unwrap().source, on_disk);
        }
    }
}
