//! The PyTorch engine: our FastAPI server (`python/pytorch_server.py`, the seed's
//! `pytorch_server.py`) run with the setup venv's Python. It loads an HF model directory or
//! a GGUF through transformers, applies the chat template we give it, and speaks OpenAI
//! chat (`/v1/chat/completions` and the seed's `/chat/completions`) with usage and its own
//! prefill/decode `timings` in the final chunk.
//!
//! What decides its speed is set from the section (`torch_dtype`/`dtype`,
//! `attn_implementation`, `compile`, `cache_implementation`; see
//! `python/torch_knobs.py`) and read back from `/health` once the server is ready
//! ([`read_settings`]): the value in effect next to the one asked, so a fallback (an
//! attention implementation the model does not take) is on record.

use crate::client::Protocol;
use crate::engine::ApiTarget;
use crate::engines::launch::{
    LaunchPlan, PlanContext, Readiness, StartError, inferbench_home, protocol_for_endpoint,
    search_path, unsupported_endpoint,
};
use crate::measure::startup::{EngineTime, MarkKind};
use crate::process::CommandSpec;
use crate::results::EngineSetting;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// torch's name for a device (`metal` is `mps`).
pub fn torch_device(device: &str) -> String {
    if device == "metal" { "mps" } else { device }.to_string()
}

pub const DEFAULT_PORT: u16 = 8001;
const ENDPOINTS: &[&str] = &[
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/completions",
];

/// The server script, embedded so an installed binary can run it from anywhere.
pub const SERVER_SCRIPT: &str = include_str!("../../../python/pytorch_server.py");
/// The knobs both PyTorch scripts import (`import torch_knobs`), written next to them.
pub const KNOBS_SCRIPT: &str = include_str!("../../../python/torch_knobs.py");
/// The file name the scripts import it by.
pub const KNOBS_FILE: &str = "torch_knobs.py";
/// Start-up allowance with `compile` on: the server compiles before it is ready.
const COMPILE_STARTUP_S: f64 = 900.0;

/// The command-line flags of the section's PyTorch knobs (validated with the config),
/// the same for `pytorch_server.py` and `generate.py`.
pub fn knob_args(section: &crate::config::EngineSection) -> Vec<String> {
    [
        ("--dtype", "torch_dtype"),
        ("--attn-implementation", "attn_implementation"),
        ("--compile", "compile"),
        ("--cache-implementation", "cache_implementation"),
        ("--device-map", "device_map"),
    ]
    .into_iter()
    .flat_map(|(flag, key)| [flag.to_string(), section.torch_knob(key).to_string()])
    .collect()
}

/// The `compile` modes that also capture CUDA graphs on a GPU (`python/torch_knobs.py`
/// `CUDA_GRAPH_MODES`); `default` and `max-autotune-no-cudagraphs` compile without them.
pub const CUDA_GRAPH_COMPILE_MODES: &[&str] = &["reduce-overhead", "max-autotune"];

/// The knobs as one line for the engine's notes; a `compile` mode that captures CUDA
/// graphs is said to, with the way around the crash they gave (issue 18).
pub fn knobs_note(section: &crate::config::EngineSection) -> String {
    let mut note = crate::config::TORCH_KNOBS
        .iter()
        .map(|(k, _)| format!("{k} {}", section.torch_knob(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let compile = section.torch_knob("compile");
    if CUDA_GRAPH_COMPILE_MODES.contains(&compile) {
        note.push_str(&format!(
            "; compile {compile} captures CUDA graphs on a GPU (with a static cache they \
             crashed the server, SIGSEGV, torch 2.11 + transformers 5.17 on an H100; \
             `default` and `max-autotune-no-cudagraphs` compile without them)"
        ));
    }
    note
}

/// The `settings` object our scripts report (`{"KNOB": {"effective": .., "asked": ..}}`)
/// as engine settings. Pure; entries of another shape are skipped.
pub fn parse_settings(v: &serde_json::Value) -> BTreeMap<String, EngineSetting> {
    let text = |x: Option<&serde_json::Value>| match x {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, e)| {
            let e = e.as_object()?;
            Some((
                k.clone(),
                EngineSetting {
                    effective: text(e.get("effective")),
                    asked: text(e.get("asked")),
                },
            ))
        })
        .collect()
}

/// What the server reports it runs with (`GET /health` → `settings`), and notes for the
/// report: a setting that came out other than asked, and the start-up generate that the
/// load time holds.
pub async fn read_settings(
    client: &reqwest::Client,
    base_url: &str,
) -> anyhow::Result<(BTreeMap<String, EngineSetting>, Vec<String>)> {
    use anyhow::Context;
    let url = format!("{base_url}/health");
    let body: serde_json::Value = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .error_for_status()
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("GET {url}: not JSON"))?;
    let settings = parse_settings(body.get("settings").unwrap_or(&serde_json::Value::Null));
    anyhow::ensure!(
        !settings.is_empty(),
        "GET {url}: no `settings` in the answer (an older pytorch_server.py?)"
    );
    Ok((settings.clone(), settings_notes(&settings)))
}

/// Notes on reported settings: each that differs from what was asked, and the compile /
/// start-up time inside the load time. Pure.
pub fn settings_notes(settings: &BTreeMap<String, EngineSetting>) -> Vec<String> {
    let mut notes: Vec<String> = settings
        .iter()
        .filter(|(_, s)| s.differs())
        .map(|(k, s)| {
            format!(
                "{k}: asked {}, in effect {}",
                s.asked.as_deref().unwrap_or("?"),
                s.effective.as_deref().unwrap_or("unknown")
            )
        })
        .collect();
    let compiling = settings
        .get("compile")
        .and_then(|s| s.effective.as_deref())
        .is_some_and(|c| c != "off");
    if let Some(ms) = settings
        .get("startup_generate_ms")
        .and_then(|s| s.effective.as_deref())
    {
        notes.push(if compiling {
            format!(
                "load_ms includes a start-up generate of {ms} ms with the first torch.compile; recompiles for new shapes fall in the warm-up runs"
            )
        } else {
            format!("load_ms includes a start-up generate of {ms} ms")
        });
    }
    if let Some(ms) = settings
        .get("compile_warmup_ms")
        .and_then(|s| s.effective.as_deref())
    {
        notes.push(format!(
            "load_ms includes an untimed torch.compile warm-up generate of {ms} ms (same prompt \
             and length as the timed one)"
        ));
    }
    notes
}

/// The Python interpreter: `servers.KEY.python`, else the setup venv's, else `python3`.
pub fn python(ctx: &PlanContext<'_>) -> Result<PathBuf, StartError> {
    if let Some(raw) = &ctx.section.python {
        let p = ctx.settings.path_of(raw);
        if p.is_file() {
            return Ok(p);
        }
        if !raw.contains('/')
            && let Some(found) = search_path(raw)
        {
            return Ok(found);
        }
        return Err(StartError::MissingBinary {
            engine: ctx.key.to_string(),
            program: raw.clone(),
            looked: format!("configured as servers.{}.python", ctx.key),
        });
    }
    let venv = inferbench_home().join("venv/bin/python");
    if venv.is_file() {
        return Ok(venv);
    }
    search_path("python3").ok_or_else(|| StartError::MissingBinary {
        engine: ctx.key.to_string(),
        program: "python3".into(),
        looked: format!("no {} and none on PATH", venv.display()),
    })
}

pub fn plan(ctx: &PlanContext<'_>) -> anyhow::Result<LaunchPlan> {
    let python = python(ctx)?;
    let model = ctx.model_path()?;
    let host = ctx.host();
    let port = ctx.port(DEFAULT_PORT);
    let endpoint = ctx.endpoint("/v1/chat/completions");
    let (protocol, max_field) = protocol_for_endpoint(&endpoint)
        .filter(|(p, _)| matches!(p, Protocol::OpenAiChat | Protocol::OpenAiCompletions))
        .ok_or_else(|| unsupported_endpoint(ctx.key, &endpoint, ENDPOINTS))?;

    let mut files = Vec::new();
    let repo_script = ctx.settings.base_dir.join("python/pytorch_server.py");
    let script = if repo_script.is_file() && repo_script.with_file_name(KNOBS_FILE).is_file() {
        repo_script
    } else {
        let f = ctx.generated_file("pytorch_server.py");
        files.push((f.clone(), SERVER_SCRIPT.to_string()));
        // Imported by its module name from the script's directory.
        files.push((ctx.log_dir.join(KNOBS_FILE), KNOBS_SCRIPT.to_string()));
        f
    };
    let device = torch_device(&ctx.device());
    let mut cmd = CommandSpec::new(&python)
        .arg(&script)
        .args(["--host", &host, "--port", &port.to_string()])
        .arg("--model-path")
        .arg(&model)
        .args(["--device", &device])
        .args(knob_args(ctx.section));
    if let Some(t) = ctx.threads() {
        cmd = cmd.args(["--threads".to_string(), t.to_string()]);
    }
    // `servers.KEY.tokenizer` (a tokenizer.json): load the tokenizer from its directory
    // rather than converting the GGUF's vocabulary (minutes for Gemma's 262k pieces).
    if let Some(dir) = ctx
        .section
        .tokenizer
        .as_deref()
        .map(|t| ctx.settings.path_of(t))
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        cmd = cmd.arg("--tokenizer").arg(dir);
    }
    let template = crate::engines::launch::engine_template(ctx)?;
    if let Some(t) = &template {
        let f = ctx.generated_file("chat-template.jinja");
        files.push((f.clone(), t.source.clone()));
        cmd = cmd.arg("--chat-template").arg(f);
    }
    cmd = cmd
        .args(ctx.extra_args())
        // Unbuffered, so the log shows progress as it happens.
        .env("PYTHONUNBUFFERED", "1");
    let model_name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pytorch".into());
    let target = ApiTarget {
        name: ctx.key.to_string(),
        kind: crate::engine::EngineKind::PyTorch,
        base_url: ctx.base_url(&host, port),
        endpoint,
        protocol,
        model: Some(model_name),
        max_tokens_field: max_field,
        supports_ignore_eos: true,
        include_usage: true,
        extra_body: serde_json::Map::new(),
        error_text_is_failure: false,
        // The server tokenizes a raw prompt without adding special tokens.
        strip_prompt_prefix: None,
    };
    Ok(LaunchPlan {
        command: Some(cmd),
        host,
        port,
        readiness: Readiness::HttpOk("/health".into()),
        startup_timeout: ctx.startup_timeout(if ctx.section.torch_knob("compile") == "off" {
            60.0
        } else {
            COMPILE_STARTUP_S
        }),
        target,
        template: Some(
            template
                .map(|t| t.name)
                .unwrap_or_else(|| "model (tokenizer.chat_template)".into()),
        ),
        files,
        notes: vec![format!("device {device}, {}", knobs_note(ctx.section))],
    })
}

// --- Start-up marks in its log (`--starts`) ----------------------------------------------
// Our PyTorch server stamps its own lines with the UTC wall clock
// (`[pytorch_server 2026-12-07T18:52:01.123Z] loading …`).

/// One line of our PyTorch server (`python/pytorch_server.py`):
/// `[pytorch_server 2026-12-07T18:52:01.123Z] loading …`, UTC to the millisecond.
pub fn start_mark(line: &str) -> Option<(MarkKind, EngineTime)> {
    let (stamp, msg) = line.strip_prefix("[pytorch_server ")?.split_once("] ")?;
    let kind = if msg.starts_with("loading ") {
        // After Python has imported torch and transformers.
        MarkKind::LoadBegin
    } else if msg.starts_with("weights read") {
        // from_pretrained has returned: the weights are read (and dequantized).
        MarkKind::WeightsRead
    } else if msg.starts_with("start-up generate") {
        // After one short generate on its device.
        MarkKind::OnDevice
    } else {
        return None;
    };
    let at = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
    Some((kind, EngineTime::Wall(at.with_timezone(&chrono::Utc))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::startup::marks;

    const PYTORCH: &str = include_str!("../../../tests/fixtures/startlog/pytorch-server.log");

    #[test]
    fn pytorch_server_log_gives_load_weights_and_start_up_generate() {
        let m = marks(start_mark, PYTORCH);
        let kinds: Vec<MarkKind> = m.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                MarkKind::LoadBegin,
                MarkKind::WeightsRead,
                MarkKind::OnDevice
            ]
        );
        assert!(m.iter().all(|m| matches!(m.at, EngineTime::Wall(_))));
        assert!(m[1].line.contains("weights read"));
    }

    use crate::config::EngineSection;
    use serde_json::json;

    #[test]
    fn knobs_become_flags_with_defaults() {
        let section = EngineSection {
            compile: Some("reduce-overhead".into()),
            torch_dtype: Some("float16".into()),
            ..Default::default()
        };
        assert_eq!(
            knob_args(&section),
            [
                "--dtype",
                "float16",
                "--attn-implementation",
                "auto",
                "--compile",
                "reduce-overhead",
                "--cache-implementation",
                "dynamic",
                "--device-map",
                "none"
            ]
        );
        let note = knobs_note(&section);
        assert!(
            note.starts_with(
                "torch_dtype float16, attn_implementation auto, compile reduce-overhead, \
                 cache_implementation dynamic, device_map none; compile reduce-overhead \
                 captures CUDA graphs"
            ),
            "{note}"
        );
        // Compiled without CUDA graphs: the knobs alone.
        for mode in ["default", "max-autotune-no-cudagraphs"] {
            let section = EngineSection {
                compile: Some(mode.into()),
                cache_implementation: Some("static".into()),
                ..Default::default()
            };
            assert_eq!(
                knobs_note(&section),
                format!(
                    "torch_dtype auto, attn_implementation auto, compile {mode}, \
                     cache_implementation static, device_map none"
                )
            );
            assert!(knob_args(&section).contains(&mode.to_string()));
        }
    }

    #[test]
    fn knob_values_are_the_python_scripts_and_cuda_graph_modes_among_them() {
        // The script validates and reports the same values (python/torch_knobs.py), in
        // the same order (the first is the default).
        let quoted = |v: &[&str]| {
            v.iter()
                .map(|x| format!("\"{x}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let python_name = |knob: &str| match knob {
            "torch_dtype" => "DTYPES",
            "attn_implementation" => "ATTN",
            "compile" => "COMPILE",
            "cache_implementation" => "CACHE",
            "device_map" => "DEVICE_MAPS",
            other => panic!("a knob with no tuple in torch_knobs.py: {other}"),
        };
        for (knob, values) in crate::config::TORCH_KNOBS {
            let line = format!("{} = ({})", python_name(knob), quoted(values));
            assert!(
                KNOBS_SCRIPT.contains(&line),
                "python/torch_knobs.py has no `{line}`"
            );
        }
        let compile = crate::config::TORCH_KNOBS
            .iter()
            .find(|(k, _)| *k == "compile")
            .map(|(_, v)| *v)
            .unwrap_or_default();
        for m in CUDA_GRAPH_COMPILE_MODES {
            assert!(compile.contains(m), "{m}");
        }
        for m in ["default", "max-autotune-no-cudagraphs"] {
            assert!(
                compile.contains(&m) && !CUDA_GRAPH_COMPILE_MODES.contains(&m),
                "{m}"
            );
        }
        let line = format!("CUDA_GRAPH_MODES = ({})", quoted(CUDA_GRAPH_COMPILE_MODES));
        assert!(KNOBS_SCRIPT.contains(&line), "no `{line}`");
    }

    #[test]
    fn settings_parse_and_a_fallback_is_noted() {
        let v = json!({
            "attn_implementation": {"asked": "flash_attention_2", "effective": "sdpa"},
            "dtype": {"asked": "auto", "effective": "bfloat16"},
            "device": {"asked": "cuda", "effective": "cuda:0"},
            "compile": {"asked": "default", "effective": "default"},
            "torch_version": {"effective": "2.5.1"},
            "startup_generate_ms": {"effective": "5123"},
            "odd": 3
        });
        let s = parse_settings(&v);
        assert_eq!(s.len(), 6, "{s:?}");
        assert_eq!(s["torch_version"].asked, None);
        assert!(s["attn_implementation"].differs());
        assert!(!s["dtype"].differs(), "auto is met by any dtype");
        assert!(!s["device"].differs(), "cuda is met by cuda:0");
        assert_eq!(
            s["attn_implementation"].describe(),
            "sdpa (asked flash_attention_2)"
        );
        let notes = settings_notes(&s);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("asked flash_attention_2, in effect sdpa"));
        assert!(notes[1].contains("5123 ms") && notes[1].contains("torch.compile"));
        assert!(parse_settings(&json!(null)).is_empty());
    }
}
