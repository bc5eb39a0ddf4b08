//! llama.cpp's `llama-server`: launch command, readiness, and request shape.
//!
//! Template: the engine is given our chat template as a file (`--jinja
//! --chat-template-file`), because the obvious `--chat-template gemma` with Jinja on (the
//! default) takes "gemma" as a literal template and every prompt becomes the word "gemma",
//! and with no template argument llama-server silently falls back to ChatML for a GGUF
//! without one (SETUP-NOTES.md). The fairness check then verifies the rendering through
//! `/apply-template` + `/tokenize`.
//!
//! Endpoints: the seed's native `/completion` (our rendered prompt, raw, minus the BOS
//! text because llama-server adds BOS itself) and `/v1/chat/completions` (messages).
//! `cache_prompt` follows `inferbench.cache_prompt` (default false, so every run pays its
//! prefill; llama-server's own default is true); `ignore_eos` supported.

use crate::client::Protocol;
use crate::engine::ApiTarget;
use crate::engines::launch::{
    LaunchPlan, PlanContext, Readiness, nvidia_gpu_present, protocol_for_endpoint,
    unsupported_endpoint,
};
use crate::measure::startup::{EngineTime, MarkKind};
use crate::process::CommandSpec;
use std::path::Path;

/// HTTP threads llama-server gets beyond one per stream of a load run.
pub const HTTP_THREADS_SPARE: u32 = 8;

pub const DEFAULT_PORT: u16 = 8002;
const ENDPOINTS: &[&str] = &["/completion", "/v1/chat/completions", "/chat/completions"];

/// Whether the llama.cpp build next to `binary` has a GPU back end (CUDA, Vulkan, HIP,
/// SYCL, Metal): shared-library builds ship it as `libggml-<backend>.so`.
pub fn gpu_build(binary: &Path) -> bool {
    let real = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let Some(dir) = real.parent() else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let n = e.file_name().to_string_lossy().to_string();
        ["cuda", "vulkan", "hip", "sycl", "metal"]
            .iter()
            .any(|b| n.starts_with(&format!("libggml-{b}")))
    })
}

pub fn plan(ctx: &PlanContext<'_>) -> anyhow::Result<LaunchPlan> {
    let binary = ctx.binary(&["llama-server"])?;
    let model = ctx.model_path()?;
    let host = ctx.host();
    let port = ctx.port(DEFAULT_PORT);
    let endpoint = ctx.endpoint("/completion");
    let (protocol, max_field) = protocol_for_endpoint(&endpoint)
        .filter(|(p, _)| matches!(p, Protocol::LlamaCompletion | Protocol::OpenAiChat))
        .ok_or_else(|| unsupported_endpoint(ctx.key, &endpoint, ENDPOINTS))?;

    let mut notes = Vec::new();
    let mut files = Vec::new();
    let mut cmd = CommandSpec::new(&binary).arg("-m").arg(&model).args([
        "--host",
        &host,
        "--port",
        &port.to_string(),
    ]);
    let threads = ctx.threads().unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    });
    cmd = cmd.args(["-t".to_string(), threads.to_string()]);

    let template = crate::engines::launch::engine_template(ctx)?;
    let template_name = match &template {
        Some(t) => {
            let file = ctx.generated_file("chat-template.jinja");
            files.push((file.clone(), t.source.clone()));
            cmd = cmd.arg("--jinja").arg("--chat-template-file").arg(&file);
            Some(t.name.clone())
        }
        None => {
            cmd = cmd.arg("--jinja");
            Some("model (GGUF tokenizer.chat_template)".to_string())
        }
    };

    let device = ctx.device();
    let gpu_wanted = device != "cpu";
    if gpu_wanted && gpu_build(&binary) && (nvidia_gpu_present() || cfg!(target_os = "macos")) {
        let ngl = ctx.section.ngl.unwrap_or(99);
        cmd = cmd.args(["-ngl".to_string(), ngl.to_string()]);
        // Several GPUs: --split-mode, --tensor-split, --main-gpu as configured.
        cmd = cmd.args(ctx.section.multi_gpu().llama_args());
    } else {
        if gpu_wanted {
            notes.push(format!(
                "device `{device}` asked for, but {} has no GPU back end or no GPU is present: running on CPU",
                binary.display()
            ));
        }
        // Explicit, so a GPU build on a GPU machine does not offload behind our back.
        cmd = cmd.args(["-ngl", "0"]);
    }
    // A load run at concurrency N gets N slots, unless the user chose a number.
    if let Some(n) = ctx.streams
        && !ctx.extra_args_set(&["-np", "--parallel"])
    {
        cmd = cmd.args(["--parallel".to_string(), n.to_string()]);
        notes.push(format!(
            "--parallel {n}: one slot per stream of the load run"
        ));
    }
    // cpp-httplib serves each open connection with a thread of its own until the
    // connection closes; a connection beyond its threads waits unread. Its default
    // (--parallel + 2) leaves no room beside one connection per stream for our /metrics
    // and /slots scrapes, the stall watchdog's look at /slots and a retry's new
    // connection: give it that room.
    if let Some(n) = ctx.streams
        && !ctx.extra_args_set(&["--threads-http"])
    {
        let threads = n + HTTP_THREADS_SPARE;
        cmd = cmd.args(["--threads-http".to_string(), threads.to_string()]);
        notes.push(format!(
            "--threads-http {threads}: one HTTP thread per stream and {HTTP_THREADS_SPARE} for scrapes, probes and retries"
        ));
    }
    // Prometheus /metrics, which load steps scrape (crate::scrape).
    if !ctx.extra_args_set(&["--metrics"]) {
        cmd = cmd.arg("--metrics");
    }
    // With prompt caching on, a sliding-window model (Gemma 3) needs the full-size SWA
    // cache for a cached prefix to be reused; without it llama-server re-processes the
    // whole prompt (cache_n 0, measured with llama-server 0.6.0-dev on Gemma 3 270M).
    if ctx.settings.cache_prompt && !ctx.extra_args_set(&["--swa-full"]) {
        cmd = cmd.arg("--swa-full");
        notes.push(
            "--swa-full: cache_prompt is on, and a sliding-window model reuses a cached prefix only with the full-size SWA cache"
                .into(),
        );
    }
    cmd = cmd.args(ctx.extra_args());

    let base_url = ctx.base_url(&host, port);
    let mut extra = serde_json::Map::new();
    // Off by default (inferbench.cache_prompt / --cache-prompt), though llama-server's
    // own default is on: every run pays its whole prefill unless caching is measured.
    extra.insert(
        "cache_prompt".into(),
        serde_json::Value::Bool(ctx.settings.cache_prompt),
    );
    let target = ApiTarget {
        name: ctx.key.to_string(),
        kind: crate::engine::EngineKind::LlamaCpp,
        base_url,
        endpoint,
        protocol,
        model: if protocol == Protocol::OpenAiChat {
            Some(
                model
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        } else {
            None
        },
        max_tokens_field: max_field,
        supports_ignore_eos: true,
        include_usage: true,
        extra_body: extra,
        error_text_is_failure: false,
        strip_prompt_prefix: template
            .as_ref()
            .map(|t| t.bos_token.clone())
            .filter(|b| !b.is_empty()),
    };
    Ok(LaunchPlan {
        command: Some(cmd),
        host,
        port,
        // 503 while the model loads, 200 {"status":"ok"} when ready.
        readiness: Readiness::HttpOk("/health".into()),
        startup_timeout: ctx.startup_timeout(30.0),
        target,
        template: template_name,
        files,
        notes,
    })
}

/// `total_slots` from a llama-server-style `/props`: how many streams it serves at once.
/// `None` when the server has no such endpoint (not llama-server) or does not say.
pub async fn props_total_slots(client: &reqwest::Client, base_url: &str) -> Option<(u32, String)> {
    let url = format!("{}/props", base_url.trim_end_matches('/'));
    let v: serde_json::Value = match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => r.json().await.ok()?,
        _ => return None,
    };
    let n = u32::try_from(v.get("total_slots")?.as_u64()?).ok()?;
    Some((n, "llama-server /props total_slots".to_string()))
}

// --- Start-up marks in its log (`--starts`) ----------------------------------------------
// llama-server (b8xxx) stamps every line with the time since its start when its log goes to
// a file: `0.00.006.353 I srv    load_model: loading model '…'` (minutes.seconds.
// milliseconds.microseconds). `--no-log-timestamps` removes them, and then no mark can be
// read.

/// One llama-server line: its mark and time, if it is one of the lines we read.
pub fn start_mark(line: &str) -> Option<(MarkKind, EngineTime)> {
    let kind = if line.contains("load_model: loading model") {
        MarkKind::LoadBegin
    } else if line.contains("llama threadpool init") {
        // Printed once the tensors are loaded (mapped) and the context is built, before
        // the warm-up pass.
        MarkKind::WeightsRead
    } else if line.contains("load_model: initializing") || line.contains("initializing slots") {
        // After the warm-up pass: every weight has been used on the device once.
        MarkKind::OnDevice
    } else if line.contains("listening on http") {
        MarkKind::Listening
    } else {
        return None;
    };
    Some((kind, EngineTime::SinceStart(log_time(line)?)))
}

/// `M.SS.mmm.uuu` at the start of a llama.cpp log line → milliseconds.
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?;
    let parts: Vec<&str> = stamp.split('.').collect();
    let [m, s, ms, us] = parts.as_slice() else {
        return None;
    };
    let num = |t: &str| -> Option<f64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<f64>().ok())
            .flatten()
    };
    Some(num(m)? * 60_000.0 + num(s)? * 1000.0 + num(ms)? + num(us)? / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::startup::{LogMark, marks};

    const LLAMA: &str = include_str!("../../../tests/fixtures/startlog/llama-server.log");

    fn since(m: &LogMark) -> f64 {
        match m.at {
            EngineTime::SinceStart(ms) => ms,
            EngineTime::Wall(_) => panic!("llama.cpp times are since its start"),
        }
    }

    #[test]
    fn llama_server_log_gives_four_marks_with_its_times() {
        let m = marks(start_mark, LLAMA);
        let kinds: Vec<MarkKind> = m.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                MarkKind::LoadBegin,
                MarkKind::WeightsRead,
                MarkKind::OnDevice,
                MarkKind::Listening
            ]
        );
        assert_eq!(since(&m[0]), 6.353);
        assert_eq!(since(&m[1]), 775.014);
        assert_eq!(since(&m[2]), 870.755);
        assert_eq!(since(&m[3]), 872.785);
        assert!(m[0].line.contains("gemma-3-270m-Q4_K_M.gguf"));
    }

    #[test]
    fn llama_times_read_minutes_and_reject_other_text() {
        assert_eq!(log_time("1.02.003.500 I x"), Some(62_003.5));
        assert_eq!(log_time("srv  load_model: loading model 'x'"), None);
        assert_eq!(log_time("0.00.x.1 I"), None);
        // A line without timestamps (--no-log-timestamps) gives no mark.
        assert!(marks(start_mark, "srv    load_model: loading model 'm.gguf'").is_empty());
    }
}
