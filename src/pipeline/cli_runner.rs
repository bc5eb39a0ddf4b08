//! CLI mode's driver: each configured engine prepared into an [`Adapter`] (the registry
//! dispatches to the engine's own `cli::setup`), its cases, and [`CliRunner`], the executor
//! that runs one case as one process and returns its record.

use crate::climode::exec;
use crate::climode::{
    AdapterInputs, Case, Checks, DEFAULT_STARTUP_SECONDS, PrepareCtx, build_record,
};
use crate::config::{EngineSection, Settings};
use crate::engines::Adapter;
use crate::measure::bandwidth;
use crate::measure::roofline::Roofline;
use crate::results::{EngineInfo, Mode, RunRecord, Sampling};
use anyhow::Context;
use std::time::{Duration, Instant};

/// A configured engine, prepared: its adapter and facts for the report.
pub struct Prepared {
    pub key: String,
    pub kind: String,
    pub adapter: Adapter,
    pub tokenizer: Option<crate::prompt::tokenizer::TokenCounter>,
    pub notes: Vec<String>,
    pub timeout: Duration,
    /// The device as configured with `auto` resolved on this host, and why.
    pub device: String,
    pub device_reason: String,
    /// `gpus`, and llama.cpp's split settings (crate::engine::multigpu).
    pub multi_gpu: crate::engine::multigpu::MultiGpu,
}

/// Check an engine section and build its adapter. Missing programs and models are
/// [`crate::error::UserError`]s naming what is missing and how to install it.
pub fn prepare(key: &str, section: &EngineSection, ctx: &PrepareCtx) -> anyhow::Result<Prepared> {
    let settings = ctx.settings;
    let kind = Settings::kind_of(key, section);
    let threads = section.threads.or(settings.threads).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    });
    let mut notes = Vec::new();
    let (device, device_reason) = {
        use crate::engines::launch::{HostDevices, configured_device, resolve_device};
        resolve_device(configured_device(settings, section), &HostDevices::detect())
    };
    notes.push(format!("device {device} ({device_reason})"));
    let tokenizer_path = section
        .tokenizer
        .as_deref()
        .map(|t| settings.path_of(t))
        .or_else(|| settings.tokenizer.clone());
    let tokenizer = match &tokenizer_path {
        Some(p) => Some(crate::prompt::tokenizer::TokenCounter::from_file(p)?),
        None => {
            notes.push("no tokenizer configured: output tokens counted by the engine only".into());
            None
        }
    };
    let startup = section
        .startup_timeout
        .or(section.server_timeout)
        .unwrap_or(DEFAULT_STARTUP_SECONDS);
    let timeout = Duration::from_secs_f64(settings.timeout_seconds + startup);
    let inputs = AdapterInputs {
        key,
        section,
        ctx,
        threads,
        extra_args: section.extra_args.clone().unwrap_or_default(),
        device: &device,
        tokenizer_path: tokenizer_path.as_deref(),
    };
    let adapter = crate::engines::cli_adapter(kind, inputs, &mut notes)?;
    Ok(Prepared {
        key: key.to_string(),
        kind: kind.to_string(),
        adapter,
        tokenizer,
        notes,
        timeout,
        device,
        device_reason,
        multi_gpu: section.multi_gpu(),
    })
}

/// One case per prompt (run 0, measured), rendered through the template; the schedule
/// sets each run's index and warm-up.
pub fn cases(
    system: &str,
    prompts: &[crate::prompt::Prompt],
    template: &crate::prompt::template::ChatTemplate,
) -> anyhow::Result<Vec<Case>> {
    prompts
        .iter()
        .map(|p| {
            Ok(Case {
                prompt_id: p.id.clone(),
                tier: p.tier.as_str().to_string(),
                run_index: 0,
                warmup: false,
                system: system.to_string(),
                user: p.text.clone(),
                input: template.prompt_input(system, &p.text)?,
            })
        })
        .collect()
}

/// A prepared engine as CLI mode's executor: [`CliRunner::run_case`] runs one case as
/// one process and returns its record; the schedule decides the order of cases across
/// engines (interleaved or one engine after another). [`CliRunner::finish`] gives the
/// engine's facts for the report.
pub struct CliRunner {
    prep: Prepared,
    info: EngineInfo,
    sampling: Sampling,
    grace: Duration,
    checks: Checks,
    template_name: String,
    roofline: Option<Roofline>,
    /// The instant every record's `origin_offset_ms` counts from.
    origin: Instant,
}

impl CliRunner {
    pub fn new(
        prep: Prepared,
        settings: &Settings,
        template_name: &str,
        roofline: Option<Roofline>,
        origin: Instant,
    ) -> CliRunner {
        let mut info = EngineInfo {
            engine: prep.key.clone(),
            kind: prep.kind.clone(),
            mode: Some(Mode::Cli),
            template: Some(template_name.to_string()),
            notes: prep.notes.clone(),
            device: Some(prep.device.clone()),
            device_reason: Some(prep.device_reason.clone()),
            ..Default::default()
        };
        if let Some(roof) = &roofline {
            info.notes.push(roof.describe());
            info.roofline_tps = Some(roof.ceiling_tps);
        }
        CliRunner {
            prep,
            info,
            sampling: settings.sampling(),
            grace: Duration::from_secs_f64(settings.stop_grace_seconds),
            checks: Checks {
                tolerance_pct: settings.tolerance_pct,
            },
            template_name: template_name.to_string(),
            roofline,
            origin,
        }
    }

    /// A setting found outside the measured process (Ollama's back end, from its server's
    /// log), for this engine's results.
    pub fn add_engine_setting(&mut self, key: &str, setting: crate::results::EngineSetting) {
        self.info.engine_settings.insert(key.into(), setting);
    }

    pub fn key(&self) -> &str {
        &self.prep.key
    }

    /// Run `case` as one process (and once more with the fallback tool when this version
    /// lacks the first choice); its record, which the caller puts on disk before the next
    /// process starts. Lines for the log go to `log`.
    pub async fn run_case(
        &mut self,
        case: &Case,
        log: &mut dyn FnMut(&str),
    ) -> anyhow::Result<RunRecord> {
        let prep = &mut self.prep;
        let info = &mut self.info;
        let mut switched = false;
        let record = loop {
            let mut spec = prep.adapter.command(case, &self.sampling)?;
            if let Some(devices) = prep.multi_gpu.visible_devices() {
                spec = spec.env("CUDA_VISIBLE_DEVICES", devices);
            }
            if info.command.is_empty() {
                info.command = spec.argv();
            }
            let origin_offset_ms = self.origin.elapsed().as_secs_f64() * 1000.0;
            let outcome = match exec::run_process(&spec, prep.timeout, self.grace).await {
                Ok(o) => o,
                Err(e) => {
                    let mut r = RunRecord::new(
                        &prep.key,
                        Mode::Cli,
                        &prep.adapter.endpoint(),
                        &case.prompt_id,
                        &case.tier,
                        case.run_index,
                        self.sampling.clone(),
                        &self.template_name,
                    );
                    r.warmup = case.warmup;
                    r.fail(format!("{e:#}"));
                    break r;
                }
            };
            if !switched && let Some(note) = prep.adapter.fallback(&outcome) {
                log(&format!("{}: {note}", prep.key));
                info.notes.push(note);
                info.command.clear();
                switched = true;
                continue;
            }
            let interp = prep.adapter.interpret(case, &outcome, &self.sampling);
            if info.engine_settings.is_empty() && !interp.engine_settings.is_empty() {
                info.engine_settings = interp.engine_settings.clone();
                info.notes
                    .extend(crate::engines::pytorch::server::settings_notes(
                        &info.engine_settings,
                    ));
            }
            for (k, v) in prep.multi_gpu.settings() {
                info.engine_settings.entry(k).or_insert(v);
            }
            let ours = match &prep.tokenizer {
                Some(t) if !interp.text.is_empty() => t.count(&interp.text).ok(),
                Some(_) => Some(0),
                None => None,
            };
            if let Some(e) = &interp.error {
                let stderr = outcome.stderr_text();
                let lines: Vec<&str> = stderr.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                log(&format!(
                    "{} {} run {}: {e}\nstderr tail:\n{tail}",
                    prep.key, case.prompt_id, case.run_index
                ));
            }
            break build_record(
                &prep.key,
                &prep.adapter.endpoint(),
                &self.template_name,
                case,
                &self.sampling,
                &outcome,
                interp,
                ours,
                origin_offset_ms,
                self.checks,
                self.roofline.as_ref(),
            );
        };
        if info.load_ms.is_none() {
            info.load_ms = record.engine_report.as_ref().and_then(|r| r.load_ms);
        }
        Ok(record)
    }

    /// The engine's facts for the report, once its runs are over.
    pub fn finish(self) -> EngineInfo {
        self.info
    }
}

/// The roofline of a model, with the bandwidth resolved once per invocation.
pub fn roofline_for(
    adapter: &Adapter,
    bandwidth: &mut Option<anyhow::Result<bandwidth::Bandwidth>>,
    settings: &Settings,
) -> anyhow::Result<Roofline> {
    let bytes = adapter.model_bytes()?;
    let bw = bandwidth.get_or_insert_with(|| bandwidth::resolve(settings.memory_bandwidth_gbps));
    let bw = bw.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(Roofline::new(bytes.bytes_per_token, bw.gbps, &bw.source))
}

/// Start `ollama serve` for CLI mode from the config's first `servers` entry of kind
/// `ollama`: `(OLLAMA_HOST, the server we started, a note)`, or `None` without such an
/// entry. A server already listening on that port is used as it is.
pub async fn start_ollama_server(
    settings: &Settings,
    log_dir: &std::path::Path,
) -> anyhow::Result<Option<(String, Option<crate::server::RunningEngine>, String)>> {
    let Some((key, section)) = settings
        .file
        .servers
        .iter()
        .find(|(k, s)| Settings::kind_of(k, s) == crate::engine::EngineKind::Ollama)
    else {
        return Ok(None);
    };
    // Register the model with this benchmark's system prompt and sampling (the Modelfile is
    // the only way to give them to `ollama run`).
    crate::engines::ollama::server::prepare(settings)
        .await
        .context("registering the Ollama model with this benchmark's settings")?;
    match crate::server::start(settings, key, log_dir).await {
        Ok(server) => {
            let host = server
                .target
                .base_url
                .trim_start_matches("http://")
                .to_string();
            let note = format!("ollama serve started for CLI mode at {host}");
            Ok(Some((host, Some(server), note)))
        }
        Err(e)
            if e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<crate::engines::launch::StartError>(),
                    Some(crate::engines::launch::StartError::PortInUse { .. })
                )
            }) =>
        {
            let host = format!(
                "{}:{}",
                section.host.as_deref().unwrap_or("127.0.0.1"),
                section.port.unwrap_or(11434)
            );
            Ok(Some((
                host.clone(),
                None,
                format!("using the Ollama server already listening at {host}"),
            )))
        }
        Err(e) => Err(e.context("starting `ollama serve` for CLI mode")),
    }
}
