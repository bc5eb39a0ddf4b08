//! One bring-up per engine, for every API schedule: start it (or take the URL), wait until
//! it is ready, check fairness, set the physical bound, start the resource sampler. An
//! engine that fails any of these is [`LeftOut`] with its reason; the others go on.

use super::Inputs;
use super::plan::{EnginePlan, ExternalBound, Source};
use crate::config::Settings;
use crate::engine::ApiTarget;
use crate::measure::roofline::{self, Roofline};
use crate::output::Session;
use crate::record::Checks;
use crate::results::{EngineInfo, Mode};
use std::path::Path;
use std::time::Duration;

/// An engine that is up, checked and ready to be measured.
pub struct Engine {
    pub target: ApiTarget,
    pub running: Option<crate::server::RunningEngine>,
    pub info: EngineInfo,
    pub checks: Checks,
    pub sampler: Option<crate::measure::resources::RssSampler>,
    /// The process we started, watched from bring-up on: when it exits, nothing more is
    /// sent to it and every report says it died.
    pub watch: Option<crate::liveness::EngineWatch>,
}

impl Engine {
    /// How the engine's process ended, if it died while we measured it.
    pub fn exited(&self) -> Option<&crate::liveness::EngineExit> {
        self.watch.as_ref().and_then(|w| w.exited())
    }

    /// Pid of the engine's process group (`None` for a server given by URL).
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.pid()).filter(|p| *p != 0)
    }
}

/// An engine that could not be measured, and why.
#[derive(Debug, Clone)]
pub struct LeftOut {
    pub engine: String,
    pub kind: String,
    pub reason: String,
    /// Not installed (binary or model missing: a server's [`StartError`] or a CLI tool's
    /// [`crate::climode::NotInstalled`]) and not named with `--engines`: skipped quietly,
    /// not a failure of the benchmark.
    ///
    /// [`StartError`]: crate::engines::launch::StartError
    pub not_installed: bool,
    /// The reason is input the user must fix (a missing binary or model, a port in use, a
    /// template mismatch, a bad config): exit code 2 when no engine could be measured.
    pub user_fixable: bool,
}

impl LeftOut {
    /// Classify a bring-up error.
    pub fn from_error(engine: &str, kind: &str, named: bool, e: &anyhow::Error) -> LeftOut {
        let missing = e.chain().any(|c| {
            c.downcast_ref::<crate::engines::launch::StartError>()
                .is_some_and(|s| s.is_missing_engine())
                || c.is::<crate::climode::NotInstalled>()
        });
        let user_fixable = e.chain().any(|c| {
            c.is::<crate::engines::launch::StartError>()
                || c.is::<crate::climode::NotInstalled>()
                || c.is::<crate::engines::fairness::TemplateMismatch>()
                || c.is::<crate::error::UserError>()
                || c.is::<crate::config::ConfigError>()
        });
        LeftOut {
            engine: engine.to_string(),
            kind: kind.to_string(),
            reason: format!("{e:#}"),
            not_installed: missing && !named,
            user_fixable,
        }
    }

    /// The engine's entry in the results: no runs, the reason.
    pub fn info(&self, mode: Mode) -> EngineInfo {
        EngineInfo {
            engine: self.engine.clone(),
            kind: self.kind.clone(),
            mode: Some(mode),
            left_out: Some(self.reason.clone()),
            notes: vec![if self.not_installed {
                format!("skipped (not installed): {}", self.reason)
            } else {
                format!("left out: {}", self.reason)
            }],
            ..Default::default()
        }
    }
}

/// Bring one engine up. On any failure the engine is stopped again and left out.
pub async fn bring_up(
    plan: &EnginePlan,
    settings: &Settings,
    inputs: &Inputs,
    bound: &ExternalBound,
    streams: Option<u32>,
    session: &mut Session,
) -> Result<Engine, LeftOut> {
    let Started {
        target,
        running,
        gpu_used_before,
    } = start_or_take(plan, settings, streams, session).await?;
    let mut info = engine_info(&target, running.as_ref(), inputs, session).await;

    // Fairness: the prompt the engine will see must be the reference rendering.
    let managed = running.is_some();
    if let Err(e) = check_fairness(&target, managed, settings, inputs, &mut info, session).await {
        if let Some(r) = running
            && let Err(stop) = r.stop().await
        {
            session.log(&format!("stopping {}: {stop:#}", target.name));
        }
        return Err(LeftOut::from_error(
            &target.name,
            target.kind.as_str(),
            true,
            &e,
        ));
    }

    let roof = physical_bound(plan, settings, bound, managed, &mut info).await;
    match &roof {
        Ok(roof) => {
            session.log(&format!("{}: {}", target.name, roof.describe()));
            info.notes.push(roof.describe());
            info.roofline_tps = Some(roof.ceiling_tps);
        }
        Err(why) => {
            session.log(&format!("{}: no physical ceiling: {why}", target.name));
            info.notes.push(format!("no physical ceiling: {why}"));
        }
    }
    let sampler = watch_memory(
        &target,
        running.as_ref(),
        &gpu_used_before,
        &mut info,
        session,
    );
    let watch = running.as_ref().and_then(|r| r.watch());
    Ok(Engine {
        target,
        running,
        info,
        checks: Checks {
            tolerance_pct: settings.tolerance_pct,
            roofline: roof.ok(),
        },
        sampler,
        watch,
    })
}

/// An engine started by us, or a server given by URL.
struct Started {
    target: ApiTarget,
    running: Option<crate::server::RunningEngine>,
    /// Device memory in use before the engine started: its GPU memory is the difference
    /// where NVML gives no per-process figure.
    gpu_used_before: Result<u64, String>,
}

/// Start a managed engine, or take the external server's URL.
async fn start_or_take(
    plan: &EnginePlan,
    settings: &Settings,
    streams: Option<u32>,
    session: &mut Session,
) -> Result<Started, LeftOut> {
    match &plan.source {
        Source::External {
            base_url,
            model,
            chat,
        } => Ok(Started {
            target: ApiTarget::openai(&plan.key, base_url, model.clone(), *chat),
            running: None,
            gpu_used_before: Err("not started by inferbench".into()),
        }),
        Source::Managed => {
            session.log(&format!("{}: starting", plan.key));
            let gpu_used_before = crate::measure::telemetry::shared().device_used_bytes();
            let log_dir = &session.paths.logging_dir;
            match crate::server::start_for(settings, &plan.key, log_dir, streams).await {
                Ok(r) => Ok(Started {
                    target: r.target.clone(),
                    running: Some(r),
                    gpu_used_before,
                }),
                Err(e) => {
                    let e = e.context(format!("starting engine `{}`", plan.key));
                    let kind = settings
                        .file
                        .servers
                        .get(&plan.key)
                        .map(|s| Settings::kind_of(&plan.key, s).to_string())
                        .unwrap_or_else(|| "openai".into());
                    Err(LeftOut::from_error(&plan.key, &kind, plan.named, &e))
                }
            }
        }
    }
}

/// The engine's facts so far (the started engine's, or an external server's), with the
/// template and how many streams it serves at once, logged.
async fn engine_info(
    target: &ApiTarget,
    running: Option<&crate::server::RunningEngine>,
    inputs: &Inputs,
    session: &mut Session,
) -> EngineInfo {
    let mut info = running
        .map(|r| r.info.clone())
        .unwrap_or_else(|| EngineInfo {
            engine: target.name.clone(),
            kind: target.kind.to_string(),
            mode: Some(Mode::Api),
            base_url: Some(target.base_url.clone()),
            notes: vec!["server given with --url; not started by inferbench".into()],
            ..Default::default()
        });
    info.template = Some(inputs.template_name.clone());
    if running.is_none() && info.capacity.is_none() {
        info.capacity = crate::server::external_capacity(&target.base_url).await;
    }
    if let Some(c) = &info.capacity {
        session.log(&format!(
            "{}: serves {} streams at once ({}{})",
            target.name,
            c.streams,
            c.source,
            c.asked
                .map(|a| format!("; asked for {a}"))
                .unwrap_or_default()
        ));
    }
    session.log(&format!(
        "engine {} ({}) at {}{}",
        target.name,
        target.kind,
        target.url(),
        info.load_ms
            .map(|l| format!(", ready after {l:.0} ms"))
            .unwrap_or_default()
    ));
    info
}

/// Check that the first prompt the engine will see is the reference rendering; the
/// outcome goes into `info`. An error is the reason to leave the engine out.
async fn check_fairness(
    target: &ApiTarget,
    managed: bool,
    settings: &Settings,
    inputs: &Inputs,
    info: &mut EngineInfo,
    session: &mut Session,
) -> anyhow::Result<()> {
    let Some((_, input)) = inputs.prompts.first() else {
        return Ok(());
    };
    // Only managed engines can show what they see; an external server is checked
    // only as far as its kind allows (the adapter reports "not checked").
    let tokenizer = if managed {
        inputs.tokenizer.get()
    } else {
        None
    };
    let checked = crate::engines::fairness::check(
        target,
        input,
        &settings.sampling(),
        tokenizer,
        settings.allow_template_mismatch,
    )
    .await;
    match checked {
        Ok(outcome) => {
            session.log(&format!("{}: fairness {}", target.name, outcome.summary()));
            info.fairness = Some(outcome.summary());
            Ok(())
        }
        Err(e) => {
            let e = e.context(format!("fairness check of `{}`", target.name));
            session.log(&format!("{}: fairness check failed: {e:#}", target.name));
            Err(e)
        }
    }
}

/// The engine's physical bound (roofline): a managed engine's from its model and
/// devices; an external server's from the configured bandwidth, its GPU, or this host.
async fn physical_bound(
    plan: &EnginePlan,
    settings: &Settings,
    bound: &ExternalBound,
    managed: bool,
    info: &mut EngineInfo,
) -> Result<Roofline, String> {
    if managed {
        return super::gpu::managed_roofline(settings, &plan.key, info).await;
    }
    if settings.memory_bandwidth_gbps.is_none() && external_on_gpu(settings) {
        return external_gpu_roofline(bound, settings, info).await;
    }
    external_roofline(bound, settings.memory_bandwidth_gbps).inspect(|r| {
        let what = if settings.memory_bandwidth_gbps.is_some() {
            "configured"
        } else {
            "measured host read"
        };
        info.bandwidth = Some(crate::results::BandwidthReport {
            used: if settings.memory_bandwidth_gbps.is_some() {
                "config"
            } else {
                "host_probe"
            }
            .into(),
            why: "a server given with --url: the configured figure, else this host's RAM".into(),
            label: format!("of {:.0} GB/s {what}", r.bandwidth_gbps),
            ..Default::default()
        });
    })
}

/// Start sampling a managed engine's resident memory and record its memory after load,
/// host and GPU.
fn watch_memory(
    target: &ApiTarget,
    running: Option<&crate::server::RunningEngine>,
    gpu_used_before: &Result<u64, String>,
    info: &mut EngineInfo,
    session: &mut Session,
) -> Option<crate::measure::resources::RssSampler> {
    let sampler = running.and_then(|r| r.memory_sampler(Duration::from_millis(100)));
    if let Some(s) = &sampler
        && info.rss_after_load_mib.is_none()
    {
        info.rss_after_load_mib = s.current_mib();
    }
    if let Some(pid) = running.map(|r| r.pid()).filter(|p| *p != 0) {
        let m = super::gpu::engine_gpu_memory(pid, gpu_used_before);
        session.log(&format!(
            "{}: GPU memory {}",
            target.name,
            match (m.mib, &m.source, &m.reason) {
                (Some(mib), Some(src), _) => format!("{mib:.0} MiB ({src})"),
                (_, _, Some(why)) => format!("– ({why})"),
                _ => "–".into(),
            }
        ));
        info.gpu_memory = Some(m);
    }
    sampler
}

/// Stop a managed engine (SIGTERM, grace, SIGKILL); returns its facts for the results.
pub async fn bring_down(mut engine: Engine, session: &mut Session) -> EngineInfo {
    drop(engine.sampler);
    if let Some(w) = &engine.watch {
        // What follows is our own stop, not a death.
        w.disarm();
        if let Some(exit) = w.exited() {
            session.log(&format!(
                "{}'s process ended ({}) at {} while it was measured; the end of its log:\n{}",
                engine.target.name, exit.how, exit.at, exit.log_tail
            ));
            engine.info.exited = Some(exit.clone());
        }
    }
    if let Some(r) = engine.running
        && let Err(e) = r.stop().await
    {
        session.log(&format!("stopping {}: {e:#}", engine.target.name));
    }
    engine.info
}

/// Whether a server given with `--url` is taken to run on this host's NVIDIA GPU:
/// `inferbench.device` resolves to CUDA here (`auto` with a GPU present, or `cuda`).
fn external_on_gpu(settings: &Settings) -> bool {
    let host = crate::engines::launch::HostDevices {
        nvidia_gpu: crate::engines::launch::nvidia_gpu_present(),
        apple_gpu: false,
    };
    crate::engines::launch::resolve_device(&settings.device, &host)
        .0
        .starts_with("cuda")
}

/// The bound of a `--url` server on this host's GPU: its model's bytes per token at the
/// GPU's bandwidth (measured copy, else NVML peak), as for an engine we start.
async fn external_gpu_roofline(
    bound: &ExternalBound,
    settings: &Settings,
    info: &mut EngineInfo,
) -> Result<Roofline, String> {
    let bytes = match (bound.bytes_per_token, bound.model_file.as_deref()) {
        (Some(b), _) => b,
        (None, Some(path)) => {
            roofline::model_bytes(path)
                .map_err(|e| format!("sizing --model-file {}: {e:#}", path.display()))?
                .bytes_per_token
        }
        (None, None) => {
            return Err("unknown model size for a server given with --url (give \
                        --model-file or --bytes-per-token)"
                .into());
        }
    };
    let (roof, mut report) = super::gpu::gpu_roofline(
        settings,
        crate::engine::EngineKind::OpenAi,
        bound.model_file.as_deref().unwrap_or(Path::new("")),
        super::gpu::Placement::All,
        bytes,
        crate::measure::telemetry::shared(),
        None,
    )
    .await;
    report.why = format!(
        "a server given with --url, taken to run on this host's GPU (inferbench.device \
         resolves to cuda); {}",
        report.why
    );
    info.bandwidth = Some(report);
    roof
}

/// The ceiling of a server given with `--url`, from `--model-file` or `--bytes-per-token`.
fn external_roofline(
    bound: &ExternalBound,
    configured_gbps: Option<f64>,
) -> Result<Roofline, String> {
    if bound.model_file.is_none() && bound.bytes_per_token.is_none() {
        return Err(
            "unknown model size for a server given with --url (give --model-file or \
             --bytes-per-token)"
                .into(),
        );
    }
    // Without a configured figure this is the host's RAM: right for a CPU server on this
    // machine; for a GPU server give inferbench.memory_bandwidth_gbps.
    let bw = crate::measure::bandwidth::resolve(configured_gbps)
        .map_err(|e| format!("no memory bandwidth: {e:#}"))?;
    roofline::for_external(bound.model_file.as_deref(), bound.bytes_per_token, &bw)
        .map_err(|e| format!("{e:#}"))?
        .ok_or_else(|| "no model size given".to_string())
}
