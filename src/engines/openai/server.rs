//! Any OpenAI-compatible server (vLLM, SGLang, TGI, LM Studio, mistral.rs, ...): started
//! from `servers.KEY.command` (placeholders `{host}`, `{port}`, `{model}` are filled in),
//! or already running at `servers.KEY.url` (no life cycle). Readiness: `GET /v1/models`.
//! `ignore_eos`/`min_tokens` are sent only when `supports_ignore_eos` is set.
//!
//! The `mock` kind is the same adapter pointed at `inferbench mock-engine` (our synthetic
//! engine).

use crate::client::Protocol;
use crate::engine::ApiTarget;
use crate::engines::launch::{
    LaunchPlan, PlanContext, Readiness, StartError, protocol_for_endpoint, unsupported_endpoint,
};
use crate::process::CommandSpec;

const ENDPOINTS: &[&str] = &["/v1/chat/completions", "/v1/completions"];

fn fill(arg: &str, host: &str, port: u16, model: &str) -> String {
    arg.replace("{host}", host)
        .replace("{port}", &port.to_string())
        .replace("{model}", model)
}

pub fn plan(ctx: &PlanContext<'_>) -> anyhow::Result<LaunchPlan> {
    let endpoint = ctx.endpoint("/v1/chat/completions");
    let (protocol, max_field) = protocol_for_endpoint(&endpoint)
        .filter(|(p, _)| matches!(p, Protocol::OpenAiChat | Protocol::OpenAiCompletions))
        .ok_or_else(|| unsupported_endpoint(ctx.key, &endpoint, ENDPOINTS))?;
    let model_name = ctx.section.model_name.clone();
    let (command, host, port, base_url) = if let Some(url) = &ctx.section.url {
        let parsed = reqwest::Url::parse(url).map_err(|e| StartError::Unusable {
            engine: ctx.key.to_string(),
            message: format!("servers.{}.url `{url}` is not a URL: {e}", ctx.key),
        })?;
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
        let port = parsed.port_or_known_default().unwrap_or(80);
        (None, host, port, url.trim_end_matches('/').to_string())
    } else if let Some(argv) = ctx.section.command.as_ref().filter(|a| !a.is_empty()) {
        let host = ctx.host();
        let port = ctx.section.port.ok_or_else(|| StartError::Unusable {
            engine: ctx.key.to_string(),
            message: format!("set servers.{}.port for its command", ctx.key),
        })?;
        let model = ctx
            .section
            .model_path
            .as_deref()
            .map(|m| ctx.settings.path_of(m).display().to_string())
            .or_else(|| model_name.clone())
            .unwrap_or_default();
        let program =
            crate::engines::launch::find_binary(ctx.key, Some(&argv[0]), &[], ctx.settings)?;
        let cmd = CommandSpec::new(program)
            .args(argv[1..].iter().map(|a| fill(a, &host, port, &model)))
            .args(ctx.extra_args());
        let base = ctx.base_url(&host, port);
        (Some(cmd), host, port, base)
    } else {
        return Err(StartError::Unusable {
            engine: ctx.key.to_string(),
            message: format!(
                "an `openai` server needs servers.{0}.command (to start it) or servers.{0}.url (already running)",
                ctx.key
            ),
        }
        .into());
    };
    let mut target = ApiTarget::openai(
        ctx.key,
        &base_url,
        model_name,
        protocol == Protocol::OpenAiChat,
    );
    target.endpoint = endpoint;
    target.max_tokens_field = max_field;
    target.supports_ignore_eos = ctx.section.supports_ignore_eos.unwrap_or(false);
    Ok(LaunchPlan {
        command,
        host,
        port,
        readiness: Readiness::HttpOk("/v1/models".into()),
        startup_timeout: ctx.startup_timeout(60.0),
        target,
        template: Some("server's own".into()),
        files: Vec::new(),
        notes: Vec::new(),
    })
}

/// `kind: mock`: our synthetic engine (`inferbench mock-engine`) on the configured port;
/// `binary` names the inferbench executable when it is not the running one (tests).
pub fn plan_mock(ctx: &PlanContext<'_>) -> anyhow::Result<LaunchPlan> {
    let host = ctx.host();
    let port = ctx.section.port.unwrap_or(8090);
    let exe = match ctx.section.binary.as_deref() {
        Some(b) => ctx.settings.path_of(b),
        None => std::env::current_exe().map_err(|e| StartError::Unusable {
            engine: ctx.key.to_string(),
            message: format!("cannot locate the inferbench executable: {e}"),
        })?,
    };
    let cmd = CommandSpec::new(exe)
        .args(["mock-engine", "--host", &host, "--port", &port.to_string()])
        .args(ctx.extra_args());
    let endpoint = ctx.endpoint("/v1/chat/completions");
    let chat = endpoint.ends_with("/chat/completions");
    let mut target = ApiTarget::openai(
        ctx.key,
        &ctx.base_url(&host, port),
        Some("mock".into()),
        chat,
    );
    target.kind = crate::engine::EngineKind::Mock;
    Ok(LaunchPlan {
        command: Some(cmd),
        host,
        port,
        readiness: Readiness::HttpOk("/v1/models".into()),
        startup_timeout: ctx.startup_timeout(10.0),
        target,
        template: Some("none (synthetic)".into()),
        files: Vec::new(),
        notes: vec!["synthetic engine: inferbench mock-engine".into()],
    })
}
