//! Ollama: `ollama serve` with `OLLAMA_HOST=127.0.0.1:PORT` and a models directory in the
//! setup cache; the seed's `/api/generate` (our rendered prompt, `raw`) and `/api/chat`
//! (messages through the Modelfile's template); NDJSON streams with nanosecond durations.
//! Sampling options (temperature, seed, num_predict) are always sent, so the temperature
//! 0.1 that importing Gemma 3 sets by default never applies.
//!
//! `inferbench models prepare` ([`prepare`]) registers the model: it writes a Modelfile
//! with the Gemma 3 TEMPLATE (the official one, system text folded into the first user
//! turn, exactly as our reference template renders it) and stop tokens, starts a
//! temporary `ollama serve`, runs `ollama create`, and stops the server.

use crate::client::Protocol;
use crate::config::{EngineSection, Settings};
use crate::engine::ApiTarget;
use crate::engines::launch::{
    LaunchPlan, PlanContext, Readiness, StartError, inferbench_home, protocol_for_endpoint,
    unsupported_endpoint,
};
use crate::measure::startup::{EngineTime, MarkKind};
use crate::process::{CommandSpec, LogTarget, ProcessGroup};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const DEFAULT_PORT: u16 = 11434;
pub const DEFAULT_MODEL: &str = "gemma-3-270m-bench";
const ENDPOINTS: &[&str] = &["/api/generate", "/api/chat", "/v1/chat/completions"];

/// The Gemma 3 chat template as an Ollama (Go) template. Renders the same text as
/// `templates/gemma3.jinja` for one optional system message and one user message;
/// Ollama adds `<bos>` itself when it tokenizes.
pub const GEMMA3_TEMPLATE: &str = "<start_of_turn>user\n{{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}<end_of_turn>\n<start_of_turn>model\n";

/// Where Ollama keeps models: the section's `models_dir`, else `$OLLAMA_MODELS`, else the
/// setup cache.
pub fn models_dir(section: &EngineSection, settings: &Settings) -> PathBuf {
    if let Some(d) = section.models_dir.as_deref() {
        return settings.path_of(d);
    }
    match std::env::var_os("OLLAMA_MODELS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => inferbench_home().join("ollama").join("models"),
    }
}

/// The Modelfile text for a GGUF: the Gemma TEMPLATE and stops, plus the benchmark's
/// system prompt and sampling, because `ollama run` (CLI mode) takes neither on its
/// command line. API requests send their options explicitly, which take precedence; a
/// raw `/api/generate` carries our rendered prompt and bypasses TEMPLATE and SYSTEM.
pub fn modelfile(gguf: &Path, system: &str, sampling: &crate::results::Sampling) -> String {
    let mut m = format!(
        "FROM {}\nTEMPLATE \"\"\"{}\"\"\"\nPARAMETER stop \"<start_of_turn>\"\nPARAMETER stop \"<end_of_turn>\"\n",
        gguf.display(),
        GEMMA3_TEMPLATE
    );
    if !system.is_empty() {
        m.push_str(&format!("SYSTEM \"\"\"{system}\"\"\"\n"));
    }
    m.push_str(&format!("PARAMETER temperature {}\n", sampling.temperature));
    m.push_str(&format!("PARAMETER num_predict {}\n", sampling.max_tokens));
    if let Some(seed) = sampling.seed {
        m.push_str(&format!("PARAMETER seed {seed}\n"));
    }
    if let Some(k) = sampling.top_k {
        m.push_str(&format!("PARAMETER top_k {k}\n"));
    }
    if let Some(p) = sampling.top_p {
        m.push_str(&format!("PARAMETER top_p {p}\n"));
    }
    m
}

/// The model name requests use.
pub fn model_name(section: &EngineSection) -> String {
    section
        .model_name
        .clone()
        .unwrap_or_else(|| DEFAULT_MODEL.to_string())
}

fn serve_command(binary: &Path, host: &str, port: u16, models: &Path) -> CommandSpec {
    CommandSpec::new(binary)
        .arg("serve")
        .env("OLLAMA_HOST", format!("{host}:{port}"))
        .env("OLLAMA_MODELS", models)
}

pub fn plan(ctx: &PlanContext<'_>) -> Result<LaunchPlan> {
    let binary = ctx.binary(&["ollama"])?;
    let host = ctx.host();
    let port = ctx.port(DEFAULT_PORT);
    let endpoint = ctx.endpoint("/api/generate");
    let (protocol, max_field) = protocol_for_endpoint(&endpoint)
        .filter(|(p, _)| {
            matches!(
                p,
                Protocol::OllamaGenerate | Protocol::OllamaChat | Protocol::OpenAiChat
            )
        })
        .ok_or_else(|| unsupported_endpoint(ctx.key, &endpoint, ENDPOINTS))?;
    let models = models_dir(ctx.section, ctx.settings);
    let mut cmd = serve_command(&binary, &host, port, &models).args(ctx.extra_args());
    // A load run at concurrency N: Ollama serves N requests of a model at once.
    if let Some(n) = ctx.streams {
        cmd = cmd.env("OLLAMA_NUM_PARALLEL", n.to_string());
    }
    let (context, context_note) = context_length(std::env::var("OLLAMA_CONTEXT_LENGTH").ok());
    if let Some(n) = context {
        cmd = cmd.env("OLLAMA_CONTEXT_LENGTH", n.to_string());
    }
    let mut extra = serde_json::Map::new();
    if let Some(t) = ctx.threads()
        && protocol != Protocol::OpenAiChat
    {
        extra.insert("options".into(), serde_json::json!({ "num_thread": t }));
    }
    let target = ApiTarget {
        name: ctx.key.to_string(),
        kind: crate::engine::EngineKind::Ollama,
        base_url: ctx.base_url(&host, port),
        endpoint,
        protocol,
        model: Some(model_name(ctx.section)),
        max_tokens_field: max_field,
        supports_ignore_eos: false,
        include_usage: true,
        extra_body: extra,
        error_text_is_failure: false,
        // Ollama adds BOS when it tokenizes, raw prompts included.
        strip_prompt_prefix: (protocol == Protocol::OllamaGenerate).then(|| "<bos>".to_string()),
    };
    Ok(LaunchPlan {
        command: Some(cmd),
        host,
        port,
        readiness: Readiness::HttpOk("/".into()),
        startup_timeout: ctx.startup_timeout(30.0),
        target,
        template: Some("gemma3 (Modelfile TEMPLATE)".into()),
        files: Vec::new(),
        notes: vec![
            format!("OLLAMA_MODELS={}", models.display()),
            context_note,
            // Recorded so a fixed-length or cold-cache workload is read for what it is.
            "Ollama has no ignore_eos: output may stop at EOS before the length asked".into(),
            "Ollama has no per-request prompt-cache switch and reports no cached tokens: \
             it may reuse the previous prompt's prefix"
                .into(),
        ],
    })
}

/// The context each of Ollama's parallel requests gets, unless the environment sets
/// `OLLAMA_CONTEXT_LENGTH`: llama-server's default. Ollama's own default grows with the
/// GPU's memory (4k below 24 GiB, 256k from 48 GiB, capped at the model's context), so on
/// an H100 it reserves a KV cache for the model's whole context per request: at
/// `OLLAMA_NUM_PARALLEL` 32 or 64 its CUDA back end then fails to load the model
/// (`GGML_ASSERT(ggml_nbytes(src0) <= INT_MAX)`, seen on an H100, Ollama 0.17.4), and the
/// engines would not be compared at the same context.
pub const CONTEXT_LENGTH: u32 = 4096;

/// `OLLAMA_CONTEXT_LENGTH` to set (none where the environment already sets it) and the
/// note that records it (pure).
fn context_length(from_env: Option<String>) -> (Option<u32>, String) {
    match from_env.filter(|v| !v.trim().is_empty()) {
        Some(v) => (
            None,
            format!("OLLAMA_CONTEXT_LENGTH={v} (from the environment)"),
        ),
        None => (
            Some(CONTEXT_LENGTH),
            format!(
                "OLLAMA_CONTEXT_LENGTH={CONTEXT_LENGTH} per request, as llama-server's default \
                 (Ollama's own default grows with the GPU's memory)"
            ),
        ),
    }
}

/// After readiness: the model must be registered, else say how to register it.
pub async fn check_model(base_url: &str, engine: &str, model: &str) -> Result<()> {
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{base_url}/api/show"))
        .json(&serde_json::json!({ "model": model }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .with_context(|| format!("{engine}: asking Ollama about model {model}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(StartError::Unusable {
            engine: engine.to_string(),
            message: format!(
                "Ollama has no model `{model}`; run `inferbench models prepare` to register it"
            ),
        }
        .into())
    }
}

/// Load the model now (a generate request with no prompt), so that the load happens
/// inside the measured start-up, as llama-server loads at start, rather than in the first
/// request.
pub async fn preload(base_url: &str, engine: &str, model: &str, timeout: Duration) -> Result<()> {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(format!("{base_url}/api/generate"))
        .json(&serde_json::json!({ "model": model, "keep_alive": "30m" }))
        .timeout(timeout)
        .send()
        .await
        .with_context(|| format!("{engine}: loading model {model}"))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        anyhow::bail!(
            "{engine}: loading model {model} answered {status}: {}",
            text.trim()
        );
    }
    Ok(())
}

/// A free TCP port on 127.0.0.1 (bound and released; a race is possible but unlikely).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// How many ports [`private_serve`] tries: a port found free can be taken before
/// `ollama serve` binds it (by any process's outgoing connection), and the port is ours
/// to choose, so another one is the fix.
const SERVE_PORT_TRIES: usize = 3;

/// An `ollama serve` of our own on a free port, answering, for `models prepare`; the log
/// goes to `prepare-serve.log` in `dir`. It tries another port when the one it found
/// free was taken before `ollama serve` bound it, and fails at once (with the log's end)
/// when the server exits for any other reason.
async fn private_serve(binary: &Path, store: &Path, dir: &Path) -> Result<(ProcessGroup, u16)> {
    let log = dir.join("prepare-serve.log");
    let client = reqwest::Client::new();
    let mut attempt = 0;
    'ports: loop {
        attempt += 1;
        let port = free_port()?;
        let mut server = ProcessGroup::spawn(
            &serve_command(binary, "127.0.0.1", port, store),
            LogTarget::File(log.clone()),
        )?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(&base).send().await
                && r.status().is_success()
            {
                return Ok((server, port));
            }
            if let Some(status) = server.try_wait()? {
                let tail = crate::process::log_tail(&log, 2000);
                if port_taken(&tail) && attempt < SERVE_PORT_TRIES {
                    tracing::warn!("ollama serve: port {port} was taken before it bound; another");
                    continue 'ports;
                }
                anyhow::bail!("ollama serve exited ({status}) before answering: {tail}");
            }
            if Instant::now() > deadline {
                server.stop(Duration::from_secs(3)).await?;
                anyhow::bail!(
                    "ollama serve did not answer within 30 s: {}",
                    crate::process::log_tail(&log, 2000)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Whether a server's log says its listening port was in use.
fn port_taken(log: &str) -> bool {
    log.contains("address already in use")
}

/// `inferbench models prepare`: register the configured GGUF with Ollama under the
/// configured model name. Returns the exit code.
pub async fn prepare(settings: &Settings) -> Result<i32> {
    let (key, section) = settings
        .file
        .servers
        .iter()
        .chain(settings.file.engines.iter())
        .find(|(k, s)| Settings::kind_of(k, s) == crate::engine::EngineKind::Ollama)
        .map(|(k, s)| (k.clone(), s.clone()))
        .unwrap_or_else(|| ("ollama".to_string(), EngineSection::default()));
    let binary = crate::engines::launch::find_binary(
        &key,
        section.binary.as_deref(),
        &["ollama"],
        settings,
    )?;
    let raw = section
        .model_path
        .clone()
        .ok_or_else(|| StartError::Unusable {
            engine: key.clone(),
            message: format!("set servers.{key}.model_path to the GGUF to register"),
        })?;
    let gguf = settings.path_of(&raw);
    if !gguf.is_file() {
        return Err(StartError::MissingModel {
            engine: key.clone(),
            path: gguf,
        }
        .into());
    }
    let gguf = std::fs::canonicalize(&gguf).unwrap_or(gguf);
    let name = model_name(&section);
    // Beside the model store: the setup cache's ollama/ by default, a test's own
    // directory when `models_dir` points there.
    let store = models_dir(&section, settings);
    let dir = store
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| inferbench_home().join("ollama"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mf = dir.join(format!("Modelfile.{name}"));
    let (system, _) = crate::prompt::suite::suite_for(settings)?;
    std::fs::write(&mf, modelfile(&gguf, &system, &settings.sampling()))
        .with_context(|| format!("writing {}", mf.display()))?;

    let (server, port) = private_serve(&binary, &store, &dir).await?;
    let create_log = dir.join("prepare-create.log");
    let create = ProcessGroup::spawn(
        &CommandSpec::new(&binary)
            .arg("create")
            .arg(&name)
            .arg("-f")
            .arg(&mf)
            .env("OLLAMA_HOST", format!("127.0.0.1:{port}")),
        LogTarget::File(create_log.clone()),
    )?;
    let status = create.wait().await;
    server.stop(Duration::from_secs(5)).await?;
    let status = status?;
    if !status.success() {
        anyhow::bail!(
            "ollama create {name} failed ({status}): {}",
            crate::process::log_tail(&create_log, 2000)
        );
    }
    println!(
        "registered Ollama model {name} from {} (Modelfile {}, OLLAMA_MODELS={})",
        gguf.display(),
        mf.display(),
        store.display()
    );
    Ok(0)
}

/// What Ollama's own log says it ran on: the devices its discovery found (its "inference
/// compute" lines) and how many of the model's layers its last load put on a GPU (its
/// "offloaded X/Y layers to GPU" line).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogBackend {
    /// Each device found, as (library, description): `("CUDA", "NVIDIA H200")`, or
    /// `("cpu", "cpu")` where no GPU library found a device.
    pub devices: Vec<(String, String)>,
    /// The last model load's layers on a GPU and its layers in all.
    pub offloaded: Option<(u32, u32)>,
}

impl LogBackend {
    /// The back end as [`crate::results::EngineSetting::effective`] reads:
    /// `"cuda: NVIDIA H200, 27/27 layers on the GPU"`, `"cuda+cpu: …, 20/27 layers on the
    /// GPU"`, `"cpu: 0/19 layers on a GPU (devices found: cpu)"`; `None` before a load.
    pub fn effective(&self) -> Option<String> {
        let (on, all) = self.offloaded?;
        let gpu = self.devices.iter().find(|(lib, _)| lib != "cpu");
        Some(match gpu {
            Some((lib, desc)) if on > 0 => {
                let lib = lib.to_lowercase();
                let lib = if on < all { format!("{lib}+cpu") } else { lib };
                format!("{lib}: {desc}, {on}/{all} layers on the GPU")
            }
            _ => {
                let found: Vec<&str> = self.devices.iter().map(|(l, _)| l.as_str()).collect();
                format!(
                    "cpu: {on}/{all} layers on a GPU (devices found: {})",
                    if found.is_empty() {
                        "none logged".to_string()
                    } else {
                        found.join(", ")
                    }
                )
            }
        })
    }
}

/// [`LogBackend`] from the text of an `ollama serve` log (pure).
pub fn backend_from_log(log: &str) -> LogBackend {
    let mut out = LogBackend::default();
    for line in log.lines() {
        if line.contains("msg=\"inference compute\"") {
            let field = |k: &str| slog_value(line, k).unwrap_or_default();
            out.devices.push((field("library"), field("description")));
        } else if let Some(rest) = line.split("offloaded ").nth(1)
            && let Some((frac, _)) = rest.split_once(" layers to GPU")
            && let Some((on, all)) = frac.split_once('/')
            && let (Ok(on), Ok(all)) = (on.parse(), all.parse())
        {
            out.offloaded = Some((on, all));
        }
    }
    out
}

/// The value of `key=` in a Go slog text line: bare up to a space, or quoted with `\"`
/// escapes.
fn slog_value(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '"' => return Some(value),
                c => value.push(c),
            }
        }
        None
    } else {
        Some(rest.split(' ').next().unwrap_or_default().to_string())
    }
}

/// Ollama's model registered (from the configured GGUF when it is not yet) and loaded,
/// so that load time means the same for every engine.
pub async fn model_loaded(
    settings: &Settings,
    key: &str,
    plan: &LaunchPlan,
    model: &str,
    t0: Instant,
    info: &mut crate::results::EngineInfo,
    poll: Duration,
) -> anyhow::Result<()> {
    if let Err(e) = check_model(&plan.target.base_url, key, model).await {
        // Not registered yet (setup runs before inferbench is built): register it from
        // the configured GGUF, as `inferbench models prepare` does, then check again.
        // Without a configured GGUF the error says how to register it.
        if settings
            .file
            .servers
            .get(key)
            .is_none_or(|s| s.model_path.is_none())
        {
            return Err(e);
        }
        prepare(settings)
            .await
            .with_context(|| format!("{key}: registering model {model}"))?;
        info.notes.push(format!(
            "model {model} registered from the configured GGUF at start"
        ));
        check_model(&plan.target.base_url, key, model).await?;
    }
    // Ollama loads a model on its first request; load it here so load_ms means the
    // same for every engine (spawn → model in memory and serving).
    let left = plan.startup_timeout.saturating_sub(t0.elapsed());
    preload(&plan.target.base_url, key, model, left.max(poll)).await?;
    info.notes
        .push("load_ms includes loading the model (preloaded with an empty generate)".into());
    Ok(())
}

/// The back end Ollama chose for itself (it has no device setting), as its log says once the
/// model is loaded, beside the device the config asked for: `engine_settings.backend`.
pub fn record_backend(log_path: &Path, info: &mut crate::results::EngineInfo) {
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    let found = backend_from_log(&log);
    let setting = crate::results::EngineSetting {
        effective: found.effective(),
        asked: info.device.clone(),
    };
    if setting.effective.is_none() {
        info.notes
            .push("back end not read: the Ollama log names no model load".into());
    }
    info.engine_settings.insert("backend".into(), setting);
}

// --- Start-up marks in its log (`--starts`) ----------------------------------------------
// Ollama (0.17.4) writes `time=2026-12-07T18:09:48.941Z level=INFO … msg="…"`: wall clock
// to the millisecond. Its log does not say when the weights have been read:
// `load_begin → on_device` holds reading and placing them.

/// One Ollama line: its mark and time, if it is one of the lines we read.
pub fn start_mark(line: &str) -> Option<(MarkKind, EngineTime)> {
    let msg = line.split_once(" msg=")?.1;
    let kind = if msg.starts_with("\"Listening on") {
        MarkKind::Listening
    } else if msg.starts_with("\"starting runner\"") && msg.contains(" --model ") {
        // The runner for our model (the first runner only looks for GPUs).
        MarkKind::LoadBegin
    } else if msg.starts_with("\"llama runner started in") {
        MarkKind::OnDevice
    } else {
        return None;
    };
    let stamp = line.strip_prefix("time=")?.split_whitespace().next()?;
    let at = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
    Some((kind, EngineTime::Wall(at.with_timezone(&chrono::Utc))))
}

/// The blob an Ollama model's weights are in: the `application/vnd.ollama.image.model`
/// layer of its manifest (`manifests/registry.ollama.ai/library/NAME/TAG` under the
/// models folder), as `blobs/sha256-HEX`.
pub fn model_blob(models_dir: &Path, manifest: &str) -> Option<PathBuf> {
    let v: serde_json::Value = serde_json::from_str(manifest).ok()?;
    let digest = v
        .get("layers")?
        .as_array()?
        .iter()
        .find(|l| {
            l.get("mediaType").and_then(|m| m.as_str())
                == Some("application/vnd.ollama.image.model")
        })?
        .get("digest")?
        .as_str()?;
    let hex = digest.strip_prefix("sha256:")?;
    (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| models_dir.join("blobs").join(format!("sha256-{hex}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::startup::marks;

    const OLLAMA: &str = include_str!("../../../tests/fixtures/startlog/ollama-serve.log");

    #[test]
    fn ollama_log_gives_listening_load_and_runner_started() {
        let m = marks(start_mark, OLLAMA);
        let kinds: Vec<MarkKind> = m.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![MarkKind::Listening, MarkKind::LoadBegin, MarkKind::OnDevice]
        );
        let wall = |i: usize| match m[i].at {
            EngineTime::Wall(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            EngineTime::SinceStart(_) => panic!("Ollama's times are wall-clock"),
        };
        assert_eq!(wall(0), "2026-12-07T18:09:48.941Z");
        assert_eq!(wall(1), "2026-12-07T18:09:49.474Z");
        assert_eq!(wall(2), "2026-12-07T18:09:50.176Z");
        assert!(
            m[1].line.contains("--model "),
            "not the GPU discovery runner"
        );
    }

    #[test]
    fn ollama_model_blob() {
        let dir = Path::new("/m");
        // The manifest `ollama create` wrote for the Gemma 3 270M GGUF.
        let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:de69c3bb55e527ee4e32fe1e7dfbff22175e5e18b8098f31a6e729737630a5e9","size":492},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818","size":253113024},{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:9d1abe48ad32b93dac1078420d32159c0af1035a2bc627546572013916d644f9","size":108}]}"#;
        assert_eq!(
            model_blob(dir, manifest).unwrap(),
            Path::new(
                "/m/blobs/sha256-a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
            )
        );
        assert_eq!(model_blob(dir, "{}"), None);
        assert_eq!(model_blob(dir, "not json"), None);
    }

    // Lines from real `ollama serve` logs (v0.17.4): this host's CPU run, and a CUDA
    // device line as Ollama's discover/types.go writes it.
    const CPU_LOG: &str = r#"time=2026-12-07T15:10:39.092Z level=INFO source=types.go:60 msg="inference compute" id=cpu library=cpu compute="" name=cpu description=cpu libdirs=ollama driver="" pci_id="" type="" total="23.5 GiB" available="21.2 GiB"
time=2026-12-07T15:10:40.044Z level=INFO source=ggml.go:482 msg="offloading 0 repeating layers to GPU"
time=2026-12-07T15:10:40.044Z level=INFO source=ggml.go:486 msg="offloading output layer to CPU"
time=2026-12-07T15:10:40.044Z level=INFO source=ggml.go:494 msg="offloaded 0/19 layers to GPU""#;

    #[test]
    fn the_context_is_pinned_unless_the_environment_sets_it() {
        let (set, note) = context_length(None);
        assert_eq!(set, Some(4096));
        assert!(note.contains("OLLAMA_CONTEXT_LENGTH=4096"), "{note}");
        assert_eq!(context_length(Some(" ".into())).0, Some(4096));
        let (set, note) = context_length(Some("8192".into()));
        assert_eq!(set, None);
        assert!(note.contains("8192 (from the environment)"), "{note}");
    }

    #[test]
    fn the_back_end_is_read_from_the_serve_log() {
        let cpu = backend_from_log(CPU_LOG);
        assert_eq!(cpu.devices, vec![("cpu".to_string(), "cpu".to_string())]);
        assert_eq!(cpu.offloaded, Some((0, 19)));
        assert_eq!(
            cpu.effective().as_deref(),
            Some("cpu: 0/19 layers on a GPU (devices found: cpu)")
        );
        let gpu = format!(
            "{}\n{}\n{}",
            r#"time=2026-12-07T19:00:00.000Z level=INFO source=types.go:42 msg="inference compute" id=GPU-1f2e filter_id="" library=CUDA compute=9.0 name=CUDA0 description="NVIDIA H200" libdirs=ollama,cuda_v13 driver=13.0 pci_id=0000:18:00.0 type=discrete total="139.8 GiB" available="139.2 GiB""#,
            "time=2026-12-07T19:00:02.000Z level=INFO source=ggml.go:494 msg=\"offloaded 27/27 layers to GPU\"",
            "later: offloaded 20/27 layers to GPU",
        );
        let g = backend_from_log(&gpu);
        assert_eq!(
            g.devices,
            vec![("CUDA".to_string(), "NVIDIA H200".to_string())]
        );
        assert_eq!(g.offloaded, Some((20, 27)), "the last load counts");
        assert_eq!(
            g.effective().as_deref(),
            Some("cuda+cpu: NVIDIA H200, 20/27 layers on the GPU")
        );
        let full = LogBackend {
            offloaded: Some((27, 27)),
            ..g
        };
        assert_eq!(
            full.effective().as_deref(),
            Some("cuda: NVIDIA H200, 27/27 layers on the GPU")
        );
        assert_eq!(backend_from_log("no model loaded yet").effective(), None);
    }

    #[test]
    fn a_bind_failure_is_told_from_other_exits() {
        let go = "Error: listen tcp 127.0.0.1:38623: bind: address already in use";
        assert!(port_taken(go));
        assert!(!port_taken(
            "Error: could not create directory /x: permission denied"
        ));
    }

    #[tokio::test]
    async fn a_taken_port_is_tried_again_then_the_exit_is_reported_at_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("ollama");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'Error: listen tcp 127.0.0.1:1: bind: address already in use' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let t = Instant::now();
        let Err(err) = private_serve(&fake, &dir.path().join("models"), dir.path()).await else {
            panic!("a server that cannot bind never answers");
        };
        assert!(format!("{err:#}").contains("exited"), "{err:#}");
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
        let log = std::fs::read_to_string(dir.path().join("prepare-serve.log")).unwrap();
        assert_eq!(
            log.matches("address already in use").count(),
            SERVE_PORT_TRIES
        );
    }

    #[test]
    fn modelfile_has_template_and_stops() {
        let sampling = crate::results::Sampling {
            max_tokens: 64,
            temperature: 0.3,
            seed: Some(7),
            top_p: None,
            top_k: None,
            ignore_eos: false,
        };
        let m = modelfile(Path::new("/m/x.gguf"), "Be brief.", &sampling);
        assert!(m.contains("SYSTEM \"\"\"Be brief.\"\"\""));
        assert!(m.contains("PARAMETER temperature 0.3\n"));
        assert!(m.contains("PARAMETER num_predict 64\n"));
        assert!(m.contains("PARAMETER seed 7\n"));
        assert!(m.starts_with("FROM /m/x.gguf\n"));
        assert!(m.contains("TEMPLATE \"\"\"<start_of_turn>user\n"));
        assert!(m.contains("PARAMETER stop \"<end_of_turn>\""));
        assert!(m.contains("PARAMETER stop \"<start_of_turn>\""));
    }

    #[test]
    fn go_template_matches_reference_rendering() {
        // Render the Go template by hand for one system + one user message and compare
        // with the Jinja reference (minus the BOS Ollama adds itself).
        let system = "Be brief.";
        let user = "Hi there";
        let go = GEMMA3_TEMPLATE
            .replace(
                "{{ if .System }}{{ .System }}\n\n{{ end }}",
                &format!("{system}\n\n"),
            )
            .replace("{{ .Prompt }}", user);
        let t = crate::prompt::template::ChatTemplate::builtin("gemma3").unwrap();
        let reference = t.prompt_input(system, user).unwrap().rendered;
        assert_eq!(format!("<bos>{go}"), reference);
    }
}
