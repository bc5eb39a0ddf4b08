//! Doctor's checks: the seed's troubleshooting, answered before anything is measured.
//! One line per check (✓ / ✗ / –); every ✗ names its fix.
//!
//! - [`gather`]: the I/O (binaries, versions, GGUF headers, ports and who holds them,
//!   the Ollama store, the venv's Python, tokenizer, bandwidth cache).
//! - [`checks`]: facts → verdicts, pure.
//! - [`render`]: verdicts → lines or JSON, pure.
//! - [`survey`]: the checks that the pipeline records in every result.
//!
//! This module sits below the pipeline and imports nothing of it. The `inferbench doctor`
//! command and its `--deep` checks, which bring servers up through the pipeline, stand
//! above both, in `doctor_cmd`.
//!
//! Fast: no model is loaded without `--deep`. The slowest check is the PyTorch venv's
//! `import torch` (seconds); it runs in the background while the others are gathered.

pub mod gather;
pub mod render;

use crate::checks::{self, Check};
pub use crate::cli::DoctorMode as Mode;
use crate::config::{EngineSection, Settings};
use crate::engine::EngineKind;
use crate::engines::launch::{HostDevices, PlanContext, configured_device, resolve_device};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the venv's Python may take to import torch before the check fails.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a program may take to print its `--help` or `--version`.
const HELP_TIMEOUT: Duration = Duration::from_secs(10);

/// The Python probe's answer (and the seconds it took; `None`: remembered), or why not.
type ProbeResult = Result<(crate::engines::pytorch::doctor::PyProbe, Option<f64>), String>;
/// The Python probe's answer for each interpreter asked.
type Probes = BTreeMap<PathBuf, ProbeResult>;

/// One selected engine: its key, kind, and the sections that select it.
#[derive(Debug, Clone)]
pub struct Selected<'a> {
    pub key: String,
    pub kind: EngineKind,
    /// `servers.KEY` when that section selects it (API mode).
    pub server: Option<&'a EngineSection>,
    /// `engines.KEY` when that section selects it (CLI mode).
    pub cli: Option<&'a EngineSection>,
    /// The section whose model, binary and device settings the checks read (the server's,
    /// else the CLI engine's), and its name.
    pub section: &'a EngineSection,
    pub section_name: &'static str,
}

impl<'a> Selected<'a> {
    fn section(&self) -> (&'static str, &'a EngineSection) {
        (self.section_name, self.section)
    }
}

/// The engines to check: those named with `--engines` (each must be in `servers` or
/// `engines`), else every enabled one, in key order; `servers` entries for API mode,
/// `engines` entries for CLI mode, both for [`Mode::Both`].
pub fn selected(settings: &Settings, mode: Mode) -> anyhow::Result<Vec<Selected<'_>>> {
    let servers = &settings.file.servers;
    let engines = &settings.file.engines;
    if let Some(names) = &settings.engine_filter {
        for n in names {
            if !servers.contains_key(n) && !engines.contains_key(n) {
                let known: std::collections::BTreeSet<&str> = servers
                    .keys()
                    .chain(engines.keys())
                    .map(String::as_str)
                    .collect();
                return Err(crate::error::UserError::new(format!(
                    "--engines names `{n}`, which is in neither the config's `servers` nor its `engines` section; configured: {}",
                    known.into_iter().collect::<Vec<_>>().join(", ")
                ))
                .into());
            }
        }
    }
    let keys: std::collections::BTreeSet<&String> = servers.keys().chain(engines.keys()).collect();
    Ok(keys
        .into_iter()
        .filter_map(|k| {
            let server = servers
                .get(k)
                .filter(|s| mode != Mode::Cli && settings.selected(k, s));
            let cli = engines
                .get(k)
                .filter(|s| mode != Mode::Api && settings.selected(k, s));
            let (section_name, section) = match (server, cli) {
                (Some(s), _) => ("servers", s),
                (None, Some(c)) => ("engines", c),
                (None, None) => return None,
            };
            Some(Selected {
                key: k.clone(),
                kind: Settings::kind_of(k, section),
                server,
                cli,
                section,
                section_name,
            })
        })
        .collect())
}

/// The checks a benchmark records in its results (`environment.doctor`), taken before any
/// engine starts: host, inputs and the engines in `keys` (those the run starts itself;
/// none for a server given with `--url`) for the run's `mode` (API or CLI), without
/// `--deep`. The same document as `inferbench doctor --mode MODE --json`.
pub async fn survey(
    settings: &Settings,
    keys: &[String],
    mode: Mode,
) -> anyhow::Result<serde_json::Value> {
    let t0 = Instant::now();
    let chosen: Vec<Selected<'_>> = selected(settings, mode)?
        .into_iter()
        .filter(|s| keys.contains(&s.key))
        .collect();
    let all = checks_for(settings, &chosen).await;
    let names: Vec<String> = chosen.iter().map(|s| s.key.clone()).collect();
    Ok(serde_json::to_value(report(
        settings, &names, mode, false, t0, &all,
    ))?)
}

/// The answer for `checks` of the engines `names`.
pub fn report<'a>(
    settings: &Settings,
    names: &'a [String],
    mode: Mode,
    deep: bool,
    t0: Instant,
    checks: &'a [Check],
) -> render::Report<'a> {
    let (ok, code) = render::Report::verdict(checks);
    render::Report {
        tool: format!("inferbench {}", env!("CARGO_PKG_VERSION")),
        config: settings.path.as_ref().map(|p| p.display().to_string()),
        engines: names,
        mode,
        deep,
        elapsed_s: t0.elapsed().as_secs_f64(),
        ok,
        exit_code: code,
        checks,
    }
}

/// Every check without `--deep`, in the order they are printed: host, shared inputs,
/// then each engine.
pub async fn checks_for(settings: &Settings, chosen: &[Selected<'_>]) -> Vec<Check> {
    // The slow ones start first and run while the rest is gathered: one Python probe per
    // interpreter a selected PyTorch engine runs (API mode's server, CLI mode's
    // generate.py).
    let mut interpreters: Vec<PathBuf> = Vec::new();
    for s in chosen.iter().filter(|s| s.kind == EngineKind::PyTorch) {
        let api = s.server.and_then(|_| python_of(settings, s).ok());
        let cli = s
            .cli
            .and_then(|c| crate::engines::pytorch::cli::python_for(c, settings))
            .filter(|p| p.is_file());
        for p in api.into_iter().chain(cli) {
            if !interpreters.contains(&p) {
                interpreters.push(p);
            }
        }
    }
    let python_probes: Vec<_> = interpreters
        .into_iter()
        .map(|p| {
            let task = tokio::spawn(gather::python_probe(p.clone(), PYTHON_TIMEOUT));
            (p, task)
        })
        .collect();
    let inputs = crate::prompt::suite::suite_for(settings);
    let first_rendered = inputs.as_ref().ok().and_then(|(system, prompts)| {
        let t = crate::prompt::template::ChatTemplate::resolve(
            &settings.chat_template,
            &settings.base_dir,
        )
        .ok()?;
        let p = prompts.first()?;
        t.prompt_input(system, &p.text).ok().map(|i| i.rendered)
    });
    let tokenizer_task = settings.tokenizer.clone().map(|path| {
        let text = first_rendered.clone().unwrap_or_default();
        tokio::task::spawn_blocking(move || gather::tokenizer_load(&path, &text))
    });

    let mut out = host_checks(settings, chosen);
    // Shared inputs.
    match &inputs {
        Ok((_, prompts)) => out.push(Check::ok(
            "inputs",
            "prompts",
            format!(
                "{} prompt{} ({})",
                prompts.len(),
                if prompts.len() == 1 { "" } else { "s" },
                settings
                    .prompts_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the built-in Korean suite".into())
            ),
        )),
        Err(e) => out.push(Check::fail(
            "inputs",
            "prompts",
            format!("{e:#}"),
            "fix inferbench.prompts_file (JSON array or JSONL of {id, tier, text}) or --prompts",
        )),
    }
    let rendered = match &inputs {
        Ok((system, prompts)) => crate::prompt::template::ChatTemplate::resolve(
            &settings.chat_template,
            &settings.base_dir,
        )
        .and_then(|t| {
            let text = prompts.first().map(|p| p.text.as_str()).unwrap_or("");
            let input = t.prompt_input(system, text)?;
            Ok((t.name, input.rendered.chars().count()))
        })
        .map_err(|e| format!("{e:#}")),
        Err(_) => Err("no prompts to render".to_string()),
    };
    out.push(checks::template(&settings.chat_template, &rendered));
    let loaded = match tokenizer_task {
        Some(task) => task
            .await
            .unwrap_or_else(|e| Err(format!("tokenizer task: {e}")))
            .map(|l| (l.tokens, l.secs)),
        None => Err("not configured".into()),
    };
    out.push(checks::tokenizer(settings.tokenizer.as_deref(), &loaded));
    out.push(checks::bandwidth(&gather::bandwidth_facts(
        settings.memory_bandwidth_gbps,
    )));

    let mut probes = Probes::new();
    for (python, task) in python_probes {
        let probe = task
            .await
            .unwrap_or_else(|e| Err(format!("probe task: {e}")));
        probes.insert(python, probe);
    }
    let mut ports_seen: Vec<(u16, String)> = Vec::new();
    for s in chosen {
        let engine = engine_checks(settings, s, &probes, &mut ports_seen).await;
        let folder_checked = engine.iter().any(|c| c.name == "model folder");
        out.extend(engine);
        if let Some(cli) = s.cli {
            out.extend(cli_checks(settings, s, cli, &probes, folder_checked).await);
        }
    }
    out
}

fn host_checks(settings: &Settings, chosen: &[Selected<'_>]) -> Vec<Check> {
    let env = crate::environment::collect();
    let mut out = vec![
        Check::ok(
            "host",
            "os",
            format!(
                "{}{}, {}{}",
                env.os,
                env.kernel
                    .as_deref()
                    .map(|k| format!(", kernel {k}"))
                    .unwrap_or_default(),
                env.arch,
                env.hostname
                    .as_deref()
                    .map(|h| format!(", host {h}"))
                    .unwrap_or_default()
            ),
        ),
        Check::ok(
            "host",
            "cpu",
            format!(
                "{}, {} cores, {:.1} GiB memory",
                if env.cpu_model.is_empty() {
                    "unknown CPU"
                } else {
                    env.cpu_model.as_str()
                },
                env.cores,
                env.memory_gib
            ),
        ),
        checks::gpus(&gather::nvml_gpus()),
    ];
    if chosen.is_empty() {
        out.push(Check::fail(
            "host",
            "engines",
            "no engine selected",
            "enable one in the config's `servers` or `engines` section, or name one with --engines",
        ));
    }
    let _ = settings;
    out
}

/// The Python the PyTorch engine would run.
fn python_of(settings: &Settings, s: &Selected<'_>) -> Result<PathBuf, String> {
    let (_, section) = s.section();
    let ctx = PlanContext {
        settings,
        key: &s.key,
        section,
        log_dir: Path::new("."),
        streams: None,
    };
    crate::engines::pytorch::server::python(&ctx).map_err(|e| e.to_string())
}

/// The probe's answer for `python`, or why there is none.
fn probe_of(probes: &Probes, python: &Result<PathBuf, String>) -> ProbeResult {
    match python {
        Ok(p) => probes
            .get(p)
            .cloned()
            .unwrap_or_else(|| Err("not probed".into())),
        Err(_) => Err("no interpreter".into()),
    }
}

/// The checks of one engine's section (the server's, else the CLI engine's: device,
/// model) and of API mode's server where `servers` selects it (binary, build, Python,
/// port). CLI mode's own needs are [`cli_checks`]'.
async fn engine_checks(
    settings: &Settings,
    s: &Selected<'_>,
    probes: &Probes,
    ports_seen: &mut Vec<(u16, String)>,
) -> Vec<Check> {
    let key = s.key.as_str();
    let (section_name, section) = s.section();
    let host_devices = HostDevices::detect();
    let (device, why) = resolve_device(configured_device(settings, section), &host_devices);
    let mut out = Vec::new();
    if s.kind != EngineKind::Uzu {
        out.push(checks::device(
            key,
            section_name,
            &device,
            &why,
            host_devices.nvidia_gpu,
        ));
    }
    let model_path = section_model(settings, s);
    let go_on = match s.kind {
        EngineKind::LlamaCpp => llamacpp_checks(settings, s, &device, model_path, &mut out).await,
        EngineKind::Ollama => ollama_checks(settings, s, model_path, &mut out).await,
        EngineKind::PyTorch => pytorch_checks(settings, s, probes, &device, model_path, &mut out),
        EngineKind::Uzu => uzu_server_checks(settings, s, model_path, &mut out),
        EngineKind::OpenAi if s.server.is_some() => {
            out.push(openai_server_check(settings, s));
            true
        }
        EngineKind::Mock if s.server.is_some() => {
            out.push(mock_binary_check(settings, s));
            true
        }
        EngineKind::OpenAi | EngineKind::Mock => true,
    };
    if go_on {
        out.extend(port_check(s, ports_seen));
    }
    out
}

/// `binary` of section `sec` found the way the server is started (`names` when unset).
fn find_server_binary(
    settings: &Settings,
    key: &str,
    sec: &EngineSection,
    names: &[&str],
) -> Result<PathBuf, String> {
    crate::engines::launch::find_binary(key, sec.binary.as_deref(), names, settings)
        .map_err(|e| e.to_string())
}

/// llama.cpp: llama-server (found, its version and back ends against the device) and
/// the model. Always goes on to the port.
async fn llamacpp_checks(
    settings: &Settings,
    s: &Selected<'_>,
    device: &str,
    model_path: Option<PathBuf>,
    out: &mut Vec<Check>,
) -> bool {
    let key = s.key.as_str();
    if let Some(server) = s.server {
        let found = find_server_binary(settings, key, server, &["llama-server"]);
        let version = match &found {
            Ok(p) => gather::llama_version(p).await,
            Err(_) => None,
        };
        let libs = found
            .as_ref()
            .map(|p| crate::engines::llamacpp::doctor::backends_from_libs(&gather::names_beside(p)))
            .unwrap_or_default();
        out.extend(crate::engines::llamacpp::doctor::llamacpp_binary(
            key,
            &found,
            version.as_ref(),
            &libs,
            device,
        ));
    }
    out.push(checks::model(
        key,
        s.section().0,
        &gather::model_facts(model_path),
    ));
    true
}

/// Ollama: the binary, the GGUF (if configured) and the registered model's template,
/// stops and system prompt against ours.
async fn ollama_checks(
    settings: &Settings,
    s: &Selected<'_>,
    model_path: Option<PathBuf>,
    out: &mut Vec<Check>,
) -> bool {
    let key = s.key.as_str();
    let (section_name, section) = s.section();
    if let Some(server) = s.server {
        let found = find_server_binary(settings, key, server, &["ollama"]);
        let version = match &found {
            Ok(p) => ollama_version(p).await,
            Err(_) => None,
        };
        out.push(checks::binary(key, "servers", &found, version.as_deref()));
    }
    let model = gather::model_facts(model_path);
    let gguf_bytes = match &model {
        checks::ModelFacts::Gguf(_, Ok(g)) => Some(g.file_size),
        _ => None,
    };
    if matches!(model, checks::ModelFacts::NotConfigured) {
        out.push(Check::skip(
            key,
            "model",
            "no model_path: the registered model is used as it is",
        ));
    } else {
        out.push(checks::model(key, section_name, &model));
    }
    let store = crate::engines::ollama::server::models_dir(section, settings);
    let name = crate::engines::ollama::server::model_name(section);
    let system = crate::prompt::suite::suite_for(settings)
        .map(|(s, _)| s)
        .unwrap_or_default();
    let expected = crate::engines::ollama::doctor::ExpectedOllama {
        gguf_bytes,
        template: crate::engines::ollama::server::GEMMA3_TEMPLATE.to_string(),
        stops: vec!["<start_of_turn>".into(), "<end_of_turn>".into()],
        system,
    };
    out.push(crate::engines::ollama::doctor::ollama_model(
        key,
        &name,
        &store,
        &gather::ollama_registered(&store, &name),
        &expected,
        &format!("inferbench models prepare{}", config_flag(settings)),
    ));
    true
}

/// PyTorch: the server's interpreter, its packages and devices, and the model.
fn pytorch_checks(
    settings: &Settings,
    s: &Selected<'_>,
    probes: &Probes,
    device: &str,
    model_path: Option<PathBuf>,
    out: &mut Vec<Check>,
) -> bool {
    let key = s.key.as_str();
    if s.server.is_some() {
        let python = python_of(settings, s);
        let probe = probe_of(probes, &python);
        out.extend(crate::engines::pytorch::doctor::pytorch(
            key,
            "servers",
            &python,
            &probe,
            &crate::engines::pytorch::server::torch_device(device),
            crate::engines::pytorch::doctor::PY_PACKAGES,
        ));
    }
    out.push(checks::model(
        key,
        s.section().0,
        &gather::model_facts(model_path),
    ));
    true
}

/// Uzu's server: its binary and its model folder. Not installed (and not configured):
/// nothing else about its server can matter, not even the port (false).
fn uzu_server_checks(
    settings: &Settings,
    s: &Selected<'_>,
    model_path: Option<PathBuf>,
    out: &mut Vec<Check>,
) -> bool {
    let key = s.key.as_str();
    let Some(server) = s.server else {
        return true;
    };
    let found = find_server_binary(settings, key, server, &["uzu", "uzu_cli"]);
    let binary = crate::engines::uzu::doctor::uzu_binary(
        key,
        "servers",
        "binary",
        &found,
        server.binary.as_deref(),
    );
    let installed = binary.status != checks::Status::Skip;
    out.push(binary);
    if !installed {
        return false;
    }
    let facts = gather::model_facts(model_path.clone());
    let local = model_path
        .as_deref()
        .and_then(crate::engines::uzu::server::local_model);
    let runs_as = local.map(|l| {
        format!(
            "runs as LOCAL_PATH={} cli server --model {}",
            l.local_path.display(),
            l.name
        )
    });
    out.push(uzu_folder_check(key, "servers", &facts, runs_as.as_deref()));
    true
}

/// Any OpenAI-compatible server: given by URL, or its command's program found.
fn openai_server_check(settings: &Settings, s: &Selected<'_>) -> Check {
    let key = s.key.as_str();
    let (section_name, section) = s.section();
    match (&section.url, section.command.as_deref()) {
        (Some(url), _) => Check::ok(key, "server", format!("given by url {url}")),
        (None, Some([program, ..])) => {
            let sec = EngineSection {
                binary: Some(program.clone()),
                ..Default::default()
            };
            let found = find_server_binary(settings, key, &sec, &[]);
            checks::binary(key, section_name, &found, None)
        }
        _ => Check::fail(
            key,
            "command",
            "no command and no url",
            format!("set servers.{key}.command (the server's command line) or servers.{key}.url"),
        ),
    }
}

/// The synthetic engine: built in, or a configured inferbench executable that exists.
fn mock_binary_check(settings: &Settings, s: &Selected<'_>) -> Check {
    let key = s.key.as_str();
    match s.section().1.binary.as_deref() {
        None => Check::ok(key, "binary", "built in (inferbench mock-engine)"),
        Some(raw) => {
            let p = settings.path_of(raw);
            if crate::engines::launch::find_program(Some(&p.display().to_string()), &[], settings)
                .is_some()
            {
                Check::ok(key, "binary", format!("{} mock-engine", p.display()))
            } else {
                Check::fail(
                    key,
                    "binary",
                    format!(
                        "{} is not an executable (servers.{key}.binary)",
                        p.display()
                    ),
                    format!(
                        "set servers.{key}.binary to the inferbench executable, or remove it to use this one"
                    ),
                )
            }
        }
    }
}

/// The server's port: free, and no other selected server's; noted in `ports_seen`.
fn port_check(s: &Selected<'_>, ports_seen: &mut Vec<(u16, String)>) -> Option<Check> {
    let key = s.key.as_str();
    let server = s.server?;
    if server.url.is_some() {
        return None;
    }
    let port = server.port.or(default_port(s.kind))?;
    let host = server.host.clone().unwrap_or_else(|| "127.0.0.1".into());
    let check = if let Some((_, other)) = ports_seen.iter().find(|(p, _)| *p == port) {
        Check::fail(
            key,
            "port",
            format!("{port} is also the port of `{other}`"),
            format!("set servers.{key}.port to another port"),
        )
    } else {
        checks::port(key, &host, port, &gather::port_state(&host, port))
    };
    ports_seen.push((port, key.to_string()));
    Some(check)
}

/// CLI mode's needs of one `engines` entry, found the way `inferbench cli` finds them
/// ([`crate::engines::launch::find_program`], [`crate::engines::pytorch::cli::python_for`],
/// [`crate::climode::model_path_of`]): llama.cpp's `llama-completion` (or `llama-cli`)
/// and that it starts; `ollama`; the interpreter `generate.py` runs with, its packages
/// and that the script starts; Uzu's `cli` with its `bench` subcommand. A model CLI
/// mode takes from elsewhere than the checked section is checked as "cli model".
async fn cli_checks(
    settings: &Settings,
    s: &Selected<'_>,
    cli: &EngineSection,
    probes: &Probes,
    folder_checked: bool,
) -> Vec<Check> {
    let key = s.key.as_str();
    let mut out = Vec::new();
    let model = crate::climode::model_path_of(key, cli, settings);
    // CLI mode's model, when it is not the one the section's checks looked at.
    let own_model = model != section_model(settings, s);
    let cli_model = |out: &mut Vec<Check>| {
        if own_model {
            let mut c = checks::model(key, "engines", &gather::model_facts(model.clone()));
            c.name = "cli model".into();
            out.push(c);
        }
    };
    match s.kind {
        EngineKind::LlamaCpp => {
            let found = cli_program(key, s.kind, cli, settings);
            let version = match &found {
                Ok(p) => {
                    gather::answers(
                        &crate::process::CommandSpec::new(p).arg("--version"),
                        HELP_TIMEOUT,
                    )
                    .await
                }
                Err(why) => Err(why.clone()),
            };
            out.push(crate::engines::llamacpp::doctor::llamacpp_cli_tool(
                key, &found, &version,
            ));
            cli_model(&mut out);
        }
        EngineKind::Ollama => {
            let found = cli_program(key, s.kind, cli, settings);
            let version = match &found {
                Ok(p) => ollama_version(p).await,
                Err(_) => None,
            };
            let mut c = checks::binary(key, "engines", &found, version.as_deref());
            c.name = "cli binary".into();
            out.push(c);
            if cli.model_name.is_none() {
                out.push(Check::fail(
                    key,
                    "cli model",
                    "no model_name: `ollama run` needs the registered model's name",
                    format!("set engines.{key}.model_name (e.g. gemma-3-270m-bench)"),
                ));
            }
        }
        EngineKind::PyTorch => {
            let python = match crate::engines::pytorch::cli::python_for(cli, settings) {
                Some(p) if p.is_file() => Ok(p),
                Some(p) => Err(format!(
                    "{} does not exist (engines.{key}.python)",
                    p.display()
                )),
                None => Err(format!(
                    "no Python interpreter: no {} and no python3 on PATH",
                    crate::config::inferbench_home()
                        .join("venv/bin/python")
                        .display()
                )),
            };
            let api_python = s.server.map(|_| python_of(settings, s));
            let same_as_api = matches!((&api_python, &python), (Some(Ok(a)), Ok(c)) if a == c);
            if !same_as_api {
                let host_devices = HostDevices::detect();
                let (device, _) = resolve_device(configured_device(settings, cli), &host_devices);
                let mut lines = crate::engines::pytorch::doctor::pytorch(
                    key,
                    "engines",
                    &python,
                    &probe_of(probes, &python),
                    &crate::engines::pytorch::server::torch_device(&device),
                    crate::engines::pytorch::doctor::PY_CLI_PACKAGES,
                );
                if s.server.is_some() {
                    for c in &mut lines {
                        c.name = format!("cli {}", c.name);
                    }
                }
                out.extend(lines);
            }
            if let Ok(p) = &python {
                let help = gather::generate_script_help(p, HELP_TIMEOUT).await;
                out.push(crate::engines::pytorch::doctor::generate_script(
                    key, p, &help,
                ));
            }
            cli_model(&mut out);
        }
        EngineKind::Uzu => {
            let found = cli_program(key, s.kind, cli, settings);
            out.push(crate::engines::uzu::doctor::uzu_binary(
                key,
                "engines",
                "cli binary",
                &found,
                cli.binary.as_deref(),
            ));
            if let Ok(p) = &found {
                let help = gather::answers(
                    &crate::process::CommandSpec::new(p).arg("--help"),
                    HELP_TIMEOUT,
                )
                .await;
                out.push(crate::engines::uzu::doctor::uzu_cli_tool(key, p, &help));
            }
            // The folder, unless API mode's checks already looked at this one.
            if (found.is_ok() || cli.binary.is_some()) && (own_model || !folder_checked) {
                out.push(uzu_folder_check(
                    key,
                    "engines",
                    &gather::model_facts(model.clone()),
                    Some("CLI mode runs `cli bench` with it"),
                ));
            }
        }
        EngineKind::OpenAi | EngineKind::Mock => {
            out.push(checks::no_cli_tool(key, s.kind.as_str()))
        }
    }
    out
}

/// The model the engine's section names: the server's `model_path`, or, for an engine
/// only CLI mode selects, the one CLI mode runs ([`crate::climode::model_path_of`]: its
/// own, else its server entry's).
fn section_model(settings: &Settings, s: &Selected<'_>) -> Option<PathBuf> {
    match s.server {
        Some(server) => server.model_path.as_deref().map(|m| settings.path_of(m)),
        None => crate::climode::model_path_of(&s.key, s.section, settings),
    }
}

/// The program CLI mode runs for engine `kind`, or why there is none.
fn cli_program(
    key: &str,
    kind: EngineKind,
    cli: &EngineSection,
    settings: &Settings,
) -> Result<PathBuf, String> {
    let names = crate::engines::cli_programs(kind);
    crate::engines::launch::find_program(cli.binary.as_deref(), names, settings).ok_or_else(|| {
        match cli.binary.as_deref() {
            Some(raw) => format!(
                "`{raw}` (engines.{key}.binary) is not an executable program: {} does not exist or is not executable",
                settings.path_of(raw).display()
            ),
            None => format!(
                "no `{}` on PATH nor in {}/bin",
                names.join("` or `"),
                crate::config::inferbench_home().display()
            ),
        }
    })
}

/// An Uzu model folder checked with the files it must hold.
fn uzu_folder_check(
    key: &str,
    section: &str,
    facts: &checks::ModelFacts,
    runs_as: Option<&str>,
) -> Check {
    let missing = match facts {
        checks::ModelFacts::Other {
            path, dir: true, ..
        } => gather::missing_files(path, &crate::engines::uzu::doctor::UZU_MODEL_FILES),
        _ => Vec::new(),
    };
    crate::engines::uzu::doctor::uzu_folder(key, section, facts, &missing, runs_as)
}

/// What `ollama --version` says its version is.
async fn ollama_version(program: &Path) -> Option<String> {
    gather::output_of(
        &crate::process::CommandSpec::new(program).arg("--version"),
        Duration::from_secs(5),
    )
    .await
    .ok()
    .and_then(|t| crate::engines::ollama::doctor::parse_ollama_version(&t))
}

/// ` --config FILE` when the settings came from a file other than the default one, so
/// that a fix command acts on the same config.
pub fn config_flag(settings: &Settings) -> String {
    match &settings.path {
        Some(p) if p != Path::new(crate::config::DEFAULT_CONFIG_FILE) => {
            format!(" --config {}", p.display())
        }
        _ => String::new(),
    }
}

/// The port an adapter uses when the config names none.
fn default_port(kind: EngineKind) -> Option<u16> {
    match kind {
        EngineKind::LlamaCpp => Some(crate::engines::llamacpp::server::DEFAULT_PORT),
        EngineKind::Ollama => Some(crate::engines::ollama::server::DEFAULT_PORT),
        EngineKind::PyTorch => Some(crate::engines::pytorch::server::DEFAULT_PORT),
        EngineKind::Uzu => Some(crate::engines::uzu::server::DEFAULT_PORT),
        EngineKind::OpenAi | EngineKind::Mock => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(filter: Option<Vec<String>>) -> Settings {
        let file: crate::config::ConfigFile = serde_json::from_value(serde_json::json!({
            "servers": {"llamacpp": {"port": 9001}, "uzu": {"enabled": false}},
            "engines": {"ollama": {}, "llamacpp": {"enabled": false}}
        }))
        .unwrap();
        let flags = crate::config::Overrides {
            engines: filter,
            ..Default::default()
        };
        crate::config::resolve(
            Some("c.json".into()),
            file,
            &BTreeMap::<String, String>::new(),
            &flags,
        )
        .unwrap()
    }

    #[test]
    fn selection_spans_servers_and_engines() {
        let s = settings(None);
        let chosen = selected(&s, Mode::Both).unwrap();
        let keys: Vec<&str> = chosen.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["llamacpp", "ollama"]);
        // llamacpp: its server is enabled, its CLI engine is not.
        assert!(chosen[0].server.is_some() && chosen[0].cli.is_none());
        assert_eq!(chosen[0].section_name, "servers");
        assert_eq!(chosen[1].section_name, "engines");
        let s = settings(Some(vec!["uzu".into()]));
        let chosen = selected(&s, Mode::Both).unwrap();
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].kind, EngineKind::Uzu);
    }

    #[test]
    fn mode_picks_the_section_it_checks() {
        let s = settings(None);
        let keys = |mode| {
            selected(&s, mode)
                .unwrap()
                .iter()
                .map(|c| (c.key.clone(), c.server.is_some(), c.cli.is_some()))
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(Mode::Api), [("llamacpp".to_string(), true, false)]);
        assert_eq!(keys(Mode::Cli), [("ollama".to_string(), false, true)]);
        assert_eq!(keys(Mode::Both).len(), 2);
    }

    #[test]
    fn fix_commands_name_a_non_default_config() {
        let mut s = settings(None);
        assert_eq!(config_flag(&s), " --config c.json");
        s.path = Some(crate::config::DEFAULT_CONFIG_FILE.into());
        assert_eq!(config_flag(&s), "");
        s.path = None;
        assert_eq!(config_flag(&s), "");
    }
}
