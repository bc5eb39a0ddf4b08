//! Uzu (Mirai's Rust engine; Apple Metal): `cli server --model PATH --port P` (the 0.1.x
//! binary `uzu_cli` used `serve PATH`). It has no health route: the model loads before the
//! port binds, so readiness is `GET /v1/models` answering 200. It reads
//! `max_completion_tokens`, ignores seed/stop/ignore_eos, streams SSE with `data:` and no
//! space, `:` heartbeats, usage always in the final chunk, and reports failures as HTTP
//! 200 with content "Error: ..." and zero usage, which must count as a failed run.

use super::ApiTarget;
use super::launch::{
    LaunchPlan, PlanContext, Readiness, protocol_for_endpoint, unsupported_endpoint,
};
use crate::client::{MaxTokensField, Protocol};
use crate::process::CommandSpec;

pub const DEFAULT_PORT: u16 = 8000;
const ENDPOINTS: &[&str] = &["/v1/chat/completions", "/chat/completions"];

pub fn plan(ctx: &PlanContext<'_>) -> anyhow::Result<LaunchPlan> {
    // No generic `cli` is looked up on PATH: too likely to be some other program.
    let binary = ctx.binary(&["uzu", "uzu_cli"])?;
    let model = ctx.model_path()?;
    let host = ctx.host();
    let port = ctx.port(DEFAULT_PORT);
    let endpoint = ctx.endpoint("/v1/chat/completions");
    protocol_for_endpoint(&endpoint)
        .filter(|(p, _)| *p == Protocol::OpenAiChat)
        .ok_or_else(|| unsupported_endpoint(ctx.key, &endpoint, ENDPOINTS))?;
    let legacy = binary
        .file_name()
        .is_some_and(|n| n.to_string_lossy() == "uzu_cli");
    let cmd = if legacy {
        CommandSpec::new(&binary)
            .arg("serve")
            .arg(&model)
            .args(["--port", &port.to_string()])
    } else {
        CommandSpec::new(&binary)
            .arg("server")
            .arg("--model")
            .arg(&model)
            .args(["--host", &host, "--port", &port.to_string()])
    }
    .args(ctx.extra_args());
    let target = ApiTarget {
        name: ctx.key.to_string(),
        kind: "uzu".into(),
        base_url: ctx.base_url(&host, port),
        endpoint,
        protocol: Protocol::OpenAiChat,
        model: ctx.section.model_name.clone(),
        max_tokens_field: MaxTokensField::MaxCompletionTokens,
        supports_ignore_eos: false,
        include_usage: true,
        extra_body: serde_json::Map::new(),
        error_text_is_failure: true,
        strip_prompt_prefix: None,
    };
    Ok(LaunchPlan {
        command: Some(cmd),
        host,
        port,
        readiness: Readiness::HttpOk("/v1/models".into()),
        startup_timeout: ctx.startup_timeout(60.0),
        target,
        template: Some("uzu (model's own Gemma template)".into()),
        files: Vec::new(),
        notes: vec!["Uzu applies the model's chat template itself".into()],
    })
}
