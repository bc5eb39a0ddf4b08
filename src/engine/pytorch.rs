//! The PyTorch engine: our FastAPI server (`python/pytorch_server.py`, the seed's
//! `pytorch_server.py`) run with the setup venv's Python. It loads an HF model directory or
//! a GGUF through transformers, applies the chat template we give it, and speaks OpenAI
//! chat (`/v1/chat/completions` and the seed's `/chat/completions`) with usage and its own
//! prefill/decode `timings` in the final chunk.

use super::ApiTarget;
use super::launch::{
    LaunchPlan, PlanContext, Readiness, StartError, inferbench_home, protocol_for_endpoint,
    search_path, unsupported_endpoint,
};
use crate::client::Protocol;
use crate::process::CommandSpec;
use std::path::PathBuf;

pub const DEFAULT_PORT: u16 = 8001;
const ENDPOINTS: &[&str] = &[
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/completions",
];

/// The server script, embedded so an installed binary can run it from anywhere.
pub const SERVER_SCRIPT: &str = include_str!("../../python/pytorch_server.py");

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
    let script = if repo_script.is_file() {
        repo_script
    } else {
        let f = ctx.generated_file("pytorch_server.py");
        files.push((f.clone(), SERVER_SCRIPT.to_string()));
        f
    };
    let device = match ctx.device().as_str() {
        "metal" => "mps".to_string(),
        d => d.to_string(),
    };
    let dtype = ctx
        .section
        .torch_dtype
        .clone()
        .unwrap_or_else(|| "auto".to_string());
    let mut cmd = CommandSpec::new(&python)
        .arg(&script)
        .args(["--host", &host, "--port", &port.to_string()])
        .arg("--model-path")
        .arg(&model)
        .args(["--device", &device, "--dtype", &dtype]);
    if let Some(t) = ctx.threads() {
        cmd = cmd.args(["--threads".to_string(), t.to_string()]);
    }
    let template = super::launch::engine_template(ctx)?;
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
        kind: "pytorch".into(),
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
        startup_timeout: ctx.startup_timeout(60.0),
        target,
        template: Some(
            template
                .map(|t| t.name)
                .unwrap_or_else(|| "model (tokenizer.chat_template)".into()),
        ),
        files,
        notes: vec![format!("device {device}, dtype {dtype}")],
    })
}
