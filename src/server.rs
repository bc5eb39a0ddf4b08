//! The server manager: start an engine's server (port check, spawn in its own process
//! group with the log captured, readiness, load time), stop it (SIGTERM to the group,
//! grace, SIGKILL), and `inferbench server start|stop|status` with a state file so `stop`
//! works from another invocation.
//!
//! [`start`] is what `inferbench api` uses: the returned [`RunningEngine`] dies with us
//! (process registry, signal handlers, drop guard, parent-death signal). `server start`
//! detaches the engine and records it in `$INFERBENCH_HOME/run/servers.json`.

use crate::cli::{ServerAction, ServerArgs};
use crate::config::{EngineSection, Settings};
use crate::engine::ApiTarget;
use crate::engines::launch::{LaunchPlan, PlanContext, Readiness, StartError, inferbench_home};
use crate::process::{LogTarget, ProcessGroup};
use crate::results::{EngineInfo, Mode};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often readiness is polled; load times are accurate to about this.
const POLL: Duration = Duration::from_millis(50);

/// An engine server that is up and ready. Dropping it kills the process group; call
/// [`RunningEngine::stop`] for an orderly stop.
#[derive(Debug)]
pub struct RunningEngine {
    /// How to talk to it.
    pub target: ApiTarget,
    /// How it was started and what that cost (load time, RSS after load).
    pub info: EngineInfo,
    /// Where its stdout/stderr go (`None` for a server given by URL).
    pub log_path: Option<PathBuf>,
    process: Option<ProcessGroup>,
    grace: Duration,
    started_at: chrono::DateTime<chrono::Local>,
    /// Our clock at the spawn and when it was ready (`None` for a server given by URL).
    clock: Option<(Instant, Instant)>,
}

impl RunningEngine {
    /// Pid of the server (its process-group id); 0 for a server we did not start.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map(ProcessGroup::pid).unwrap_or(0)
    }

    /// Whether the server process still runs (always true for a server given by URL).
    pub fn is_alive(&mut self) -> bool {
        self.process.as_mut().is_none_or(ProcessGroup::is_alive)
    }

    /// A background sampler of the server's process-tree memory (`None` for a server
    /// given by URL).
    pub fn memory_sampler(
        &self,
        interval: Duration,
    ) -> Option<crate::measure::resources::RssSampler> {
        self.process
            .as_ref()
            .map(|p| crate::measure::resources::RssSampler::start(p.pid(), interval))
    }

    /// A watch on the server's process, from now on (`None` for a server given by URL).
    pub fn watch(&self) -> Option<crate::liveness::EngineWatch> {
        self.process
            .as_ref()
            .map(|p| crate::liveness::EngineWatch::start(p.pid(), self.log_path.clone()))
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self, max_bytes: u64) -> String {
        self.log_path
            .as_deref()
            .map(|p| crate::process::log_tail(p, max_bytes))
            .unwrap_or_default()
    }

    /// Our clock at the spawn and when the server was ready (`--starts`).
    pub fn clock(&self) -> Option<(Instant, Instant)> {
        self.clock
    }

    /// Our wall clock at the spawn.
    pub fn spawned_wall(&self) -> chrono::DateTime<chrono::Utc> {
        self.started_at.to_utc()
    }

    /// SIGTERM the group, wait the configured grace, SIGKILL what is left.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(p) = self.process.take() {
            p.stop(self.grace).await?;
        }
        Ok(())
    }

    /// Leave the server running after we exit; returns its state-file entry.
    fn detach(mut self, key: &str) -> StateEntry {
        let p = self.process.take();
        let pid = p.map(ProcessGroup::detach).unwrap_or(0);
        StateEntry {
            engine: key.to_string(),
            kind: self.target.kind.to_string(),
            pid,
            start_ticks: crate::process::start_ticks(pid),
            base_url: self.target.base_url.clone(),
            port: reqwest::Url::parse(&self.target.base_url)
                .ok()
                .and_then(|u| u.port_or_known_default())
                .unwrap_or(0),
            started_at: self.started_at.to_rfc3339(),
            log: self.log_path.clone(),
            command: self.info.command.clone(),
            load_ms: self.info.load_ms,
            target: self.target.clone(),
        }
    }
}

/// The config section of a server key, or a user error listing the configured ones.
pub fn section<'a>(settings: &'a Settings, key: &str) -> Result<&'a EngineSection> {
    settings.file.servers.get(key).ok_or_else(|| {
        let known: Vec<&str> = settings.file.servers.keys().map(String::as_str).collect();
        crate::error::UserError::new(format!(
            "no server `{key}` in the config's `servers` section; configured: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
        .into()
    })
}

/// The adapter's launch plan for a server key (no side effects).
pub fn plan(settings: &Settings, key: &str, log_dir: &Path) -> Result<LaunchPlan> {
    plan_for(settings, key, log_dir, None)
}

/// The launch plan of an engine that must serve `streams` requests at once.
pub fn plan_for(
    settings: &Settings,
    key: &str,
    log_dir: &Path,
    streams: Option<u32>,
) -> Result<LaunchPlan> {
    let section = section(settings, key)?;
    let ctx = PlanContext {
        settings,
        key,
        section,
        log_dir,
        streams,
    };
    crate::engines::plan(Settings::kind_of(key, section), &ctx)
}

/// Error unless `host:port` is free to bind.
pub fn check_port_free(engine: &str, host: &str, port: u16) -> Result<(), StartError> {
    match std::net::TcpListener::bind((host, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(StartError::PortInUse {
            engine: engine.to_string(),
            host: host.to_string(),
            port,
        }),
        Err(e) => Err(StartError::Unusable {
            engine: engine.to_string(),
            message: format!("cannot bind {host}:{port}: {e}; set servers.{engine}.host/port"),
        }),
    }
}

/// Start the server of config key `key` (the `servers` section), wait until it is ready,
/// and return it. Its output goes to `log_dir/KEY-server-TIMESTAMP.log`. Port in use,
/// missing model or missing binary are [`StartError`]s (exit code 2) found before
/// anything is spawned; a server that exits or does not get ready within
/// `startup_timeout` is an error quoting the end of its log.
pub async fn start(settings: &Settings, key: &str, log_dir: &Path) -> Result<RunningEngine> {
    start_with(settings, key, log_dir, true, None).await
}

/// [`start`] an engine configured to serve `streams` requests at once (a load run), and
/// read back the capacity it reports into [`EngineInfo::capacity`].
pub async fn start_for(
    settings: &Settings,
    key: &str,
    log_dir: &Path,
    streams: Option<u32>,
) -> Result<RunningEngine> {
    start_with(settings, key, log_dir, true, streams).await
}

async fn start_with(
    settings: &Settings,
    key: &str,
    log_dir: &Path,
    die_with_parent: bool,
    streams: Option<u32>,
) -> Result<RunningEngine> {
    let mut plan = plan_for(settings, key, log_dir, streams)?;
    let multi_gpu = settings
        .file
        .servers
        .get(key)
        .map(crate::config::EngineSection::multi_gpu)
        .unwrap_or_default();
    // `gpus`: the engine sees only those (every engine; llama.cpp numbers them from 0).
    if let Some(devices) = multi_gpu.visible_devices()
        && let Some(cmd) = plan.command.take()
    {
        plan.notes
            .push(format!("CUDA_VISIBLE_DEVICES={devices} (gpus)"));
        plan.command = Some(cmd.env("CUDA_VISIBLE_DEVICES", devices));
    }
    let grace = Duration::from_secs_f64(settings.stop_grace_seconds);
    let mut info = launch_info(settings, key, &plan);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the readiness HTTP client")?;
    let Readiness::HttpOk(ready_path) = &plan.readiness;
    let ready_url = format!("{}{}", plan.target.base_url, ready_path);

    let Some(cmd) = &plan.command else {
        // A server given by URL: only check that it answers.
        wait_ready(&client, &ready_url, None, None, plan.startup_timeout, key).await?;
        info.notes
            .push("already running; not started by inferbench".into());
        return Ok(RunningEngine {
            target: plan.target,
            info,
            log_path: None,
            process: None,
            grace,
            started_at: chrono::Local::now(),
            clock: None,
        });
    };

    check_port_free(key, &plan.host, plan.port)?;
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("creating log directory {}", log_dir.display()))?;
    for (path, text) in &plan.files {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let log_path = log_dir.join(format!(
        "{key}-server-{}.log",
        chrono::Local::now().format("%Y%m%d_%H%M%S")
    ));
    let started_at = chrono::Local::now();
    let t0 = Instant::now();
    let mut process =
        ProcessGroup::spawn_with(cmd, LogTarget::File(log_path.clone()), die_with_parent)
            .with_context(|| format!("{key}: starting the server"))?;
    tracing::info!(engine = key, pid = process.pid(), log = %log_path.display(), "spawned");
    wait_ready(
        &client,
        &ready_url,
        Some(&mut process),
        Some(&log_path),
        plan.startup_timeout,
        key,
    )
    .await?;
    if plan.target.kind == crate::engine::EngineKind::Ollama
        && let Some(model) = &plan.target.model
    {
        crate::engines::ollama::server::model_loaded(
            settings, key, &plan, model, t0, &mut info, POLL,
        )
        .await?;
        crate::engines::ollama::server::record_backend(&log_path, &mut info);
    }
    let load = t0.elapsed();
    info.load_ms = Some(load.as_secs_f64() * 1000.0);
    info.capacity = crate::engines::capacity(&client, &plan.target, streams).await;
    if plan.target.kind == crate::engine::EngineKind::PyTorch {
        match crate::engines::pytorch::server::read_settings(&client, &plan.target.base_url).await {
            Ok((settings, notes)) => {
                info.engine_settings = settings;
                info.notes.extend(notes);
            }
            Err(e) => info.notes.push(format!("engine settings not read: {e:#}")),
        }
    }
    // What was set for several GPUs (llama.cpp does not report it back: asked = passed).
    for (k, v) in multi_gpu.settings() {
        info.engine_settings.entry(k).or_insert(v);
    }
    info.rss_after_load_mib = crate::measure::resources::tree_rss_mib(process.pid());
    Ok(RunningEngine {
        target: plan.target,
        info,
        log_path: Some(log_path),
        process: Some(process),
        grace,
        started_at,
        clock: Some((t0, t0 + load)),
    })
}

/// What is known of an engine before it is spawned: its launch plan's command, template
/// and notes, and the device it runs on (`auto` resolved on this host).
fn launch_info(settings: &Settings, key: &str, plan: &LaunchPlan) -> EngineInfo {
    let mut info = EngineInfo {
        engine: key.to_string(),
        kind: plan.target.kind.to_string(),
        mode: Some(Mode::Api),
        base_url: Some(plan.target.base_url.clone()),
        command: plan.command.as_ref().map(|c| c.argv()).unwrap_or_default(),
        load_ms: None,
        rss_after_load_mib: None,
        template: plan.template.clone(),
        fairness: None,
        roofline_tps: None,
        left_out: None,
        capacity: None,
        device: None,
        gpu_memory: None,
        bandwidth: None,
        device_reason: None,
        engine_settings: Default::default(),
        notes: plan.notes.clone(),
        exited: None,
        input_sweep: None,
        starts: None,
    };
    if let Some(section) = settings.file.servers.get(key) {
        use crate::engines::launch::{HostDevices, configured_device, resolve_device};
        let (device, why) =
            resolve_device(configured_device(settings, section), &HostDevices::detect());
        info.notes.push(format!("device {device} ({why})"));
        info.device = Some(device);
        info.device_reason = Some(why);
    }
    info
}

/// The capacity a server given with `--url` reports, where it answers llama-server's
/// `/props` (a server we did not start is still worth a "queued inside the engine" flag).
pub async fn external_capacity(base_url: &str) -> Option<crate::results::Capacity> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let (streams, source) =
        crate::engines::llamacpp::server::props_total_slots(&client, base_url).await?;
    Some(crate::results::Capacity {
        streams,
        source,
        asked: None,
    })
}

async fn wait_ready(
    client: &reqwest::Client,
    url: &str,
    mut process: Option<&mut ProcessGroup>,
    log: Option<&Path>,
    timeout: Duration,
    key: &str,
) -> Result<()> {
    let t0 = Instant::now();
    loop {
        if let Some(p) = process.as_deref_mut()
            && let Some(status) = p.try_wait()?
        {
            let tail = log
                .map(|l| crate::process::log_tail(l, 1500))
                .unwrap_or_default();
            // The engine's own error line, which a backtrace after it (RUST_BACKTRACE)
            // would push out of the tail.
            let why = log
                .map(|l| crate::process::log_tail(l, 256 * 1024))
                .and_then(|t| crate::process::error_line(&t).map(|l| format!(": {l}")))
                .unwrap_or_default();
            anyhow::bail!(
                "{key}: the server exited during startup ({status}){why}; end of its log{}:\n{tail}",
                log.map(|l| format!(" {}", l.display())).unwrap_or_default()
            );
        }
        let last = match client.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("GET {url} answered {}", r.status()),
            Err(e) => format!("GET {url}: {e}"),
        };
        if t0.elapsed() > timeout {
            let tail = log
                .map(|l| crate::process::log_tail(l, 1500))
                .unwrap_or_default();
            anyhow::bail!(
                "{key}: not ready after {:.0} s (last: {last}); raise servers.{key}.startup_timeout if it is just slow; end of its log:\n{tail}",
                timeout.as_secs_f64()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------------------
// State file and `inferbench server ...`
// ---------------------------------------------------------------------------------------

/// One server started by `inferbench server start`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StateEntry {
    pub engine: String,
    pub kind: String,
    pub pid: u32,
    /// Process start time (clock ticks since boot), to tell a reused pid from ours.
    pub start_ticks: Option<u64>,
    pub base_url: String,
    pub port: u16,
    pub started_at: String,
    pub log: Option<PathBuf>,
    pub command: Vec<String>,
    pub load_ms: Option<f64>,
    pub target: ApiTarget,
}

impl StateEntry {
    /// Whether the recorded process is still the one we started.
    pub fn is_running(&self) -> bool {
        self.pid > 1
            && crate::process::pid_alive(self.pid)
            && (self.start_ticks.is_none()
                || crate::process::start_ticks(self.pid) == self.start_ticks)
    }
}

/// The state file: `$INFERBENCH_HOME/run/servers.json`.
pub fn state_path() -> PathBuf {
    inferbench_home().join("run").join("servers.json")
}

pub fn read_state(path: &Path) -> Result<BTreeMap<String, StateEntry>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "reading server state {} (delete it if corrupt)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn write_state(path: &Path, state: &BTreeMap<String, StateEntry>) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn log_dir_for(settings: &Settings) -> PathBuf {
    settings.base_dir.join("logging")
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `inferbench server start|stop|status [ENGINE...]`; returns the exit code.
pub async fn run(args: ServerArgs) -> Result<i32> {
    let state_file = state_path();
    match args.action {
        ServerAction::Start { common, names } => {
            let settings = common.settings()?;
            let names = if names.is_empty() {
                settings
                    .file
                    .servers
                    .iter()
                    .filter(|(k, s)| settings.selected(k, s))
                    .map(|(k, _)| k.clone())
                    .collect()
            } else {
                names
            };
            let log_dir = log_dir_for(&settings);
            crate::process::install_signal_handlers()?;
            for key in names {
                let mut state = read_state(&state_file)?;
                if let Some(e) = state.get(&key)
                    && e.is_running()
                {
                    println!("{key}: already running (pid {}, {})", e.pid, e.base_url);
                    continue;
                }
                let engine = start_with(&settings, &key, &log_dir, false, None).await?;
                let load = engine.info.load_ms.unwrap_or(0.0) / 1000.0;
                let entry = engine.detach(&key);
                println!(
                    "{key}: ready at {} (pid {}, loaded in {load:.1} s); log: {}",
                    entry.base_url,
                    entry.pid,
                    entry
                        .log
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
                state.insert(key, entry);
                write_state(&state_file, &state)?;
            }
            Ok(0)
        }
        ServerAction::Stop { common, names } => {
            let settings = common.settings()?;
            let grace = Duration::from_secs_f64(settings.stop_grace_seconds);
            let mut state = read_state(&state_file)?;
            let keys: Vec<String> = if names.is_empty() {
                state.keys().cloned().collect()
            } else {
                names
            };
            if keys.is_empty() {
                println!(
                    "no servers started by inferbench ({})",
                    state_file.display()
                );
            }
            let mut code = 0;
            for key in keys {
                let Some(e) = state.remove(&key) else {
                    println!("{key}: not started by inferbench server start");
                    code = 1;
                    continue;
                };
                if e.is_running() {
                    crate::process::kill_group(e.pid, grace);
                    println!("{key}: stopped (pid {})", e.pid);
                } else {
                    println!(
                        "{key}: was not running (stale pid {}); state removed",
                        e.pid
                    );
                }
                write_state(&state_file, &state)?;
            }
            Ok(code)
        }
        ServerAction::Status { common: _, names } => {
            let state = read_state(&state_file)?;
            let now = chrono::Local::now();
            println!(
                "{:<10} {:>8} {:>6} {:>9} {:>10}  {:<8} URL",
                "ENGINE", "PID", "PORT", "UPTIME", "RSS MiB", "STATE"
            );
            for (key, e) in state
                .iter()
                .filter(|(k, _)| names.is_empty() || names.contains(k))
            {
                let running = e.is_running();
                let uptime = chrono::DateTime::parse_from_rfc3339(&e.started_at)
                    .ok()
                    .and_then(|t| (now.fixed_offset() - t).to_std().ok())
                    .map(human_duration)
                    .unwrap_or_else(|| "?".into());
                let rss = if running {
                    crate::measure::resources::tree_rss_mib(e.pid)
                        .map(|m| format!("{m:.0}"))
                        .unwrap_or_else(|| "?".into())
                } else {
                    "-".into()
                };
                println!(
                    "{:<10} {:>8} {:>6} {:>9} {:>10}  {:<8} {}",
                    key,
                    e.pid,
                    e.port,
                    if running { uptime } else { "-".into() },
                    rss,
                    if running { "running" } else { "stale" },
                    e.base_url
                );
            }
            if state.is_empty() {
                println!(
                    "(no servers started by inferbench; state file {})",
                    state_file.display()
                );
            }
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_in_use_is_detected() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let e = check_port_free("llamacpp", "127.0.0.1", port).unwrap_err();
        assert!(matches!(e, StartError::PortInUse { .. }));
        drop(l);
        check_port_free("llamacpp", "127.0.0.1", port).unwrap();
    }

    #[test]
    fn state_round_trips_and_stale_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/servers.json");
        let mut st = BTreeMap::new();
        let e = StateEntry {
            engine: "llamacpp".into(),
            kind: "llamacpp".into(),
            pid: std::process::id(),
            start_ticks: crate::process::start_ticks(std::process::id()),
            base_url: "http://127.0.0.1:8002".into(),
            port: 8002,
            started_at: chrono::Local::now().to_rfc3339(),
            log: None,
            command: vec!["llama-server".into()],
            load_ms: Some(1.0),
            target: ApiTarget::openai("llamacpp", "http://127.0.0.1:8002", None, true),
        };
        assert!(e.is_running(), "our own pid is running");
        let mut stale = e.clone();
        stale.start_ticks = e.start_ticks.map(|t| t + 1);
        assert!(!stale.is_running(), "a reused pid is not ours");
        st.insert("llamacpp".to_string(), e.clone());
        write_state(&path, &st).unwrap();
        assert_eq!(read_state(&path).unwrap()["llamacpp"], e);
        assert!(
            read_state(&dir.path().join("none.json"))
                .unwrap()
                .is_empty()
        );
    }

    /// A server that exits at start with a Rust backtrace after its error (RUST_BACKTRACE
    /// set): the reason names the error line, which the log's tail no longer holds.
    #[tokio::test]
    async fn startup_exit_names_the_error_line_before_a_backtrace() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("uzu.log");
        let script = "echo 'Error: Model not found: /models/gemma-3-270m' >&2; echo >&2; \
                      echo 'Stack backtrace:' >&2; i=0; while [ $i -lt 60 ]; do \
                      echo \"  $i: std::rt::lang_start_internal::{{closure}}\" >&2; \
                      echo '             at /rustc/17067e9ac6d7/library/std/src/rt.rs:148:48' >&2; \
                      i=$((i+1)); done; echo '  60: _start' >&2; exit 1";
        let spec = crate::process::CommandSpec::new("sh").args(["-c", script]);
        let mut pg = ProcessGroup::spawn(&spec, LogTarget::File(log.clone())).unwrap();
        let client = reqwest::Client::new();
        let err = wait_ready(
            &client,
            "http://127.0.0.1:1/v1/models",
            Some(&mut pg),
            Some(&log),
            Duration::from_secs(20),
            "uzu",
        )
        .await
        .unwrap_err()
        .to_string();
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.contains("exited during startup")
                && first.contains(": Error: Model not found: /models/gemma-3-270m;"),
            "{err}"
        );
        assert!(err.ends_with("60: _start"), "the tail stays: {err}");
    }

    #[test]
    fn durations_are_readable() {
        assert_eq!(human_duration(Duration::from_secs(5)), "5s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(human_duration(Duration::from_secs(3725)), "1h02m");
    }
}
