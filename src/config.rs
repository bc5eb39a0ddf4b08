//! `benchmark_config.json` (the seed's layout) + `BENCHMARK_*` environment overrides +
//! command-line flags → one validated [`Settings`], with the origin of every value.
//!
//! Precedence: flag > environment > file > built-in default. The file's layout is the
//! seed's (`benchmark`, `engines`, `servers`); our additions live in a top-level
//! `inferbench` section and in documented extra keys of the engine sections. Unknown keys,
//! wrong types and bad values are [`ConfigError`]s naming the file and the key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the config file looked up in the current directory.
pub const DEFAULT_CONFIG_FILE: &str = "benchmark_config.json";

/// An input error the user must fix; the CLI exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: key `{key}`: {message}")]
    Parse {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// A path-like value names a variable (`${VAR}` or `$VAR`, no `:-default`) that is
    /// unset or empty: expanding it to "" would silently point somewhere else.
    #[error("{path}: {key} uses {written}, which is {state}; set it or write the path")]
    UnsetVar {
        path: PathBuf,
        key: String,
        /// The reference as written (`${UZU_BIN}`).
        written: String,
        /// `not set` or `set but empty`.
        state: &'static str,
    },
    #[error("environment variable {var}={value:?}: {message}")]
    Env {
        var: String,
        value: String,
        message: String,
    },
    #[error("{0}")]
    Usage(String),
}

// ---------------------------------------------------------------------------------------
// The file model
// ---------------------------------------------------------------------------------------

/// The whole `benchmark_config.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub benchmark: BenchmarkSection,
    /// CLI-mode engines (the seed's `engines`), by config key.
    #[serde(default)]
    pub engines: BTreeMap<String, EngineSection>,
    /// API-mode servers (the seed's `servers`), by config key.
    #[serde(default)]
    pub servers: BTreeMap<String, EngineSection>,
    /// Our additions to the seed's layout.
    #[serde(default)]
    pub inferbench: InferbenchSection,
}

/// The seed's `benchmark` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSection {
    #[serde(default = "d_max_tokens")]
    pub max_tokens: u32,
    #[serde(default = "d_temperature")]
    pub temperature: f64,
    #[serde(default = "d_num_runs")]
    pub num_runs: u32,
    #[serde(default = "d_timeout")]
    pub timeout_seconds: f64,
    #[serde(default)]
    pub system_prompt_override: Option<String>,
}

fn d_max_tokens() -> u32 {
    500
}
fn d_temperature() -> f64 {
    0.3
}
fn d_num_runs() -> u32 {
    10
}
fn d_timeout() -> f64 {
    120.0
}

impl Default for BenchmarkSection {
    fn default() -> Self {
        BenchmarkSection {
            max_tokens: d_max_tokens(),
            temperature: d_temperature(),
            num_runs: d_num_runs(),
            timeout_seconds: d_timeout(),
            system_prompt_override: None,
        }
    }
}

/// Our global additions (top-level `inferbench` section).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferbenchSection {
    /// Sampling seed sent with every request (default 42).
    pub seed: Option<u64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    /// Ask engines that support it to ignore end-of-sequence (fixed output length).
    pub ignore_eos: Option<bool>,
    /// Let engines reuse cached prompt prefixes (llama.cpp `cache_prompt`); default off,
    /// so every request pays its whole prefill and repeated prompts do not measure a warm
    /// cache.
    pub cache_prompt: Option<bool>,
    /// Untimed runs per engine before measuring (default 1).
    pub warmup_runs: Option<u32>,
    /// A custom prompt suite (JSON or JSONL: id, tier, text).
    pub prompts_file: Option<String>,
    /// Reference chat template: a built-in name (`gemma3`, `chatml`), a `.jinja` file, a
    /// `tokenizer_config.json`, or a `.gguf` whose `tokenizer.chat_template` is used.
    pub chat_template: Option<String>,
    /// A `tokenizer.json` used to count tokens where the engine reports none.
    pub tokenizer: Option<String>,
    /// Where the engine runs: `cpu`, `cuda`, `mps`, `metal`, or `auto`.
    pub device: Option<String>,
    /// CPU threads for engines that take a thread count.
    pub threads: Option<u32>,
    /// Memory bandwidth in GB/s for the physical decode bound; measured when absent.
    pub memory_bandwidth_gbps: Option<f64>,
    /// Relative tolerance (%) when two clocks or two token counts are compared.
    pub tolerance_pct: Option<f64>,
    /// Continue when an engine's prompt differs from the reference rendering.
    pub allow_template_mismatch: Option<bool>,
    /// Grace period between SIGTERM and SIGKILL when stopping an engine, seconds.
    pub stop_grace_seconds: Option<f64>,
}

/// One engine (`engines.*`) or server (`servers.*`) section. The seed's keys plus our
/// documented extras; which keys matter depends on the engine kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    // --- the seed's keys ---
    #[serde(default = "d_true")]
    pub enabled: bool,
    pub device: Option<String>,
    /// PyTorch: `auto`, `bfloat16`, `float16` or `float32` (`dtype` is the same key).
    #[serde(alias = "dtype")]
    pub torch_dtype: Option<String>,
    pub model_name: Option<String>,
    pub verbose: Option<bool>,
    pub model_path: Option<String>,
    pub ngl: Option<i64>,
    pub chat_template: Option<String>,
    pub port: Option<u16>,
    pub server_timeout: Option<f64>,
    pub startup_timeout: Option<f64>,
    pub api_endpoint: Option<String>,
    pub note: Option<String>,
    // --- our extras ---
    /// Adapter to use: `llamacpp`, `pytorch`, `ollama`, `uzu`, `openai`, `mock`. Defaults
    /// to the section's key when that is a known kind.
    pub kind: Option<crate::engine::EngineKind>,
    /// Program to run (default: found on PATH or in the setup cache).
    pub binary: Option<String>,
    /// Host to bind / connect to (default 127.0.0.1).
    pub host: Option<String>,
    /// Base URL of an already running server (no life cycle).
    pub url: Option<String>,
    /// Full command line of a generic OpenAI-compatible server (`kind: openai`).
    pub command: Option<Vec<String>>,
    /// Extra arguments appended to the engine's command line.
    pub extra_args: Option<Vec<String>>,
    /// CPU threads for this engine.
    pub threads: Option<u32>,
    /// A `tokenizer.json` for this engine's model.
    pub tokenizer: Option<String>,
    /// Python interpreter for the PyTorch engine.
    pub python: Option<String>,
    /// Supports `ignore_eos`/`min_tokens` (generic OpenAI servers).
    pub supports_ignore_eos: Option<bool>,
    /// Ollama's model store (`OLLAMA_MODELS` of the server we start); default
    /// `$OLLAMA_MODELS`, else `$INFERBENCH_HOME/ollama/models`.
    pub models_dir: Option<String>,
    /// PyTorch: `attn_implementation` of `from_pretrained` (`auto`, `eager`, `sdpa`,
    /// `flash_attention_2`); default `auto` (transformers' choice).
    pub attn_implementation: Option<String>,
    /// PyTorch: `torch.compile(model.forward, mode)`: `off`, `default`,
    /// `max-autotune-no-cudagraphs`, `reduce-overhead`, `max-autotune`; default `off`. The
    /// last two also capture CUDA graphs on a GPU, the others do not.
    pub compile: Option<String>,
    /// PyTorch: HF generate's KV cache, `dynamic` or `static`; default `dynamic`.
    pub cache_implementation: Option<String>,
    /// PyTorch: `device_map` of `from_pretrained` to spread the model over several GPUs
    /// (`auto`, `balanced`, `balanced_low_0`, `sequential`); default `none` (one device).
    pub device_map: Option<String>,
    // --- several GPUs (crate::engine::multigpu) ---
    /// The GPUs the engine may use, by index (`CUDA_VISIBLE_DEVICES` of its process);
    /// default: all the machine has.
    pub gpus: Option<Vec<u32>>,
    /// llama.cpp: `--split-mode` `none`, `layer` or `row`.
    pub split_mode: Option<String>,
    /// llama.cpp: `--tensor-split`, the share of the model each GPU holds.
    pub tensor_split: Option<Vec<f64>>,
    /// llama.cpp: `--main-gpu`, index among `gpus`.
    pub main_gpu: Option<u32>,
}

/// The values each PyTorch knob of an engine section takes (the first is the default);
/// `python/torch_knobs.py` takes the same.
pub const TORCH_KNOBS: &[(&str, &[&str])] = &[
    ("torch_dtype", &["auto", "bfloat16", "float16", "float32"]),
    (
        "attn_implementation",
        &["auto", "eager", "sdpa", "flash_attention_2"],
    ),
    (
        "compile",
        &[
            "off",
            "default",
            "max-autotune-no-cudagraphs",
            "reduce-overhead",
            "max-autotune",
        ],
    ),
    ("cache_implementation", &["dynamic", "static"]),
    (
        "device_map",
        &["none", "auto", "balanced", "balanced_low_0", "sequential"],
    ),
];

impl EngineSection {
    /// The multi-GPU keys as written.
    pub fn multi_gpu_keys(&self) -> crate::engine::multigpu::Keys<'_> {
        crate::engine::multigpu::Keys {
            gpus: self.gpus.as_deref(),
            split_mode: self.split_mode.as_deref(),
            tensor_split: self.tensor_split.as_deref(),
            main_gpu: self.main_gpu,
        }
    }

    /// The GPUs this engine may use and how llama.cpp splits its model over them.
    pub fn multi_gpu(&self) -> crate::engine::multigpu::MultiGpu {
        crate::engine::multigpu::MultiGpu::of(self.multi_gpu_keys())
    }

    /// The PyTorch knobs as configured, in [`TORCH_KNOBS`] order: (key, value or `None`).
    pub fn torch_knobs(&self) -> [(&'static str, Option<&str>); 5] {
        [
            ("torch_dtype", self.torch_dtype.as_deref()),
            ("attn_implementation", self.attn_implementation.as_deref()),
            ("compile", self.compile.as_deref()),
            ("cache_implementation", self.cache_implementation.as_deref()),
            ("device_map", self.device_map.as_deref()),
        ]
    }

    /// A PyTorch knob's value, else its default.
    pub fn torch_knob(&self, key: &str) -> &str {
        let set = self
            .torch_knobs()
            .into_iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v);
        let default = TORCH_KNOBS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, vals)| vals[0])
            .unwrap_or("auto");
        set.unwrap_or(default)
    }
}

/// Check one engine section's PyTorch knobs: known values, and set only on a PyTorch
/// engine. `Err((key, message))`.
fn check_torch_knobs(section: &EngineSection, is_pytorch: bool) -> Result<(), (String, String)> {
    for ((key, value), (_, allowed)) in section.torch_knobs().into_iter().zip(TORCH_KNOBS) {
        let Some(v) = value else { continue };
        if !is_pytorch {
            return Err((
                key.to_string(),
                "only the PyTorch engine takes this setting (kind `pytorch`)".into(),
            ));
        }
        if !allowed.contains(&v) {
            return Err((
                key.to_string(),
                format!("`{v}` is not one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn d_true() -> bool {
    true
}

// ---------------------------------------------------------------------------------------
// Effective settings with origins
// ---------------------------------------------------------------------------------------

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Origin {
    Default,
    File(String),
    Env(String),
    Flag(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File(p) => write!(f, "file {p}"),
            Origin::Env(v) => write!(f, "env {v}"),
            Origin::Flag(n) => write!(f, "flag {n}"),
        }
    }
}

/// Flags that override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub runs: Option<u32>,
    pub quick: bool,
    pub engines: Option<Vec<String>>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub timeout_seconds: Option<f64>,
    pub seed: Option<u64>,
    pub prompts_file: Option<PathBuf>,
    pub chat_template: Option<String>,
    pub warmup_runs: Option<u32>,
    pub allow_template_mismatch: bool,
}

/// The validated, effective configuration of one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file read, if any.
    pub path: Option<PathBuf>,
    /// Directory relative paths in the file are resolved against.
    pub base_dir: PathBuf,
    pub file: ConfigFile,
    pub max_tokens: u32,
    pub temperature: f64,
    pub num_runs: u32,
    pub timeout_seconds: f64,
    /// `None`: the seed's system prompt.
    pub system_prompt_override: Option<String>,
    pub seed: u64,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub ignore_eos: bool,
    /// Prompt caching allowed (`inferbench.cache_prompt`, `--cache-prompt`).
    pub cache_prompt: bool,
    pub warmup_runs: u32,
    pub quick: bool,
    pub prompts_file: Option<PathBuf>,
    pub chat_template: String,
    pub tokenizer: Option<PathBuf>,
    pub device: String,
    pub threads: Option<u32>,
    pub memory_bandwidth_gbps: Option<f64>,
    pub tolerance_pct: f64,
    pub allow_template_mismatch: bool,
    pub stop_grace_seconds: f64,
    /// Engine keys chosen with `--engines`, if given.
    pub engine_filter: Option<Vec<String>>,
    /// Setting name → where its value came from.
    pub origins: BTreeMap<String, Origin>,
}

/// Tracks origins while layering sources.
struct Layer<'a> {
    origins: &'a mut BTreeMap<String, Origin>,
    /// Where the file's values come from (the default, without a file).
    file: Origin,
}

impl Layer<'_> {
    fn set(&mut self, key: &str, origin: Origin) {
        self.origins.insert(key.to_string(), origin);
    }

    /// `key` comes from the file when `in_file`, else it is the default.
    fn file_or_default(&mut self, key: &str, in_file: bool) {
        let origin = if in_file {
            self.file.clone()
        } else {
            Origin::Default
        };
        self.set(key, origin);
    }

    /// One of our extras: the file's value, else `default`.
    fn extra<T>(&mut self, key: &str, value: Option<T>, default: T) -> T {
        self.file_or_default(key, value.is_some());
        value.unwrap_or(default)
    }

    /// A flag given over `value`.
    fn flag<T>(&mut self, key: &str, value: T, flag: Option<T>, name: &str) -> T {
        match flag {
            Some(f) => {
                self.set(key, Origin::Flag(name.into()));
                f
            }
            None => value,
        }
    }
}

/// Parse a config file's text. `path` is only used in messages.
pub fn parse_config(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let file: ConfigFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Parse {
            path: path.to_path_buf(),
            key: if key == "." || key.is_empty() {
                "(top level)".into()
            } else {
                key
            },
            message: allowed_hint(&e.inner().to_string()),
        }
    })?;
    validate_file(&file, path)?;
    check_variables(&file, path, &ProcessEnv)?;
    Ok(file)
}

/// serde's messages already list the expected keys for an unknown field; add a hint.
fn allowed_hint(msg: &str) -> String {
    if msg.starts_with("unknown field") {
        format!("{msg} (check the spelling; see docs/book/src/configuration.md)")
    } else {
        msg.to_string()
    }
}

fn invalid(path: &Path, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        message: message.into(),
    }
}

/// Value checks the type system cannot express.
fn validate_file(f: &ConfigFile, path: &Path) -> Result<(), ConfigError> {
    let b = &f.benchmark;
    check_max_tokens(b.max_tokens).map_err(|m| invalid(path, "benchmark.max_tokens", m))?;
    check_temperature(b.temperature).map_err(|m| invalid(path, "benchmark.temperature", m))?;
    check_runs(b.num_runs).map_err(|m| invalid(path, "benchmark.num_runs", m))?;
    check_timeout(b.timeout_seconds).map_err(|m| invalid(path, "benchmark.timeout_seconds", m))?;
    let x = &f.inferbench;
    if let Some(p) = x.top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(invalid(path, "inferbench.top_p", "must be in (0, 1]"));
    }
    if let Some(d) = &x.device {
        check_device(d).map_err(|m| invalid(path, "inferbench.device", m))?;
    }
    if let Some(t) = x.threads
        && t == 0
    {
        return Err(invalid(path, "inferbench.threads", "must be at least 1"));
    }
    if let Some(bw) = x.memory_bandwidth_gbps
        && !(bw > 0.0 && bw.is_finite())
    {
        return Err(invalid(
            path,
            "inferbench.memory_bandwidth_gbps",
            "must be a positive number of GB/s",
        ));
    }
    if let Some(t) = x.tolerance_pct
        && !(t > 0.0 && t < 100.0)
    {
        return Err(invalid(
            path,
            "inferbench.tolerance_pct",
            "must be in (0, 100)",
        ));
    }
    for (section, map) in [("engines", &f.engines), ("servers", &f.servers)] {
        for (name, e) in map {
            let key = |k: &str| format!("{section}.{name}.{k}");
            if e.port == Some(0) {
                return Err(invalid(path, &key("port"), "must be 1–65535"));
            }
            if let Some(d) = &e.device {
                check_device(d).map_err(|m| invalid(path, &key("device"), m))?;
            }
            for (k, v) in [
                ("startup_timeout", e.startup_timeout),
                ("server_timeout", e.server_timeout),
            ] {
                if let Some(v) = v {
                    check_timeout(v).map_err(|m| invalid(path, &key(k), m))?;
                }
            }
            let is_pytorch = e.kind.or_else(|| crate::engine::EngineKind::parse(name))
                == Some(crate::engine::EngineKind::PyTorch);
            check_torch_knobs(e, is_pytorch).map_err(|(k, m)| invalid(path, &key(&k), m))?;
            let is_llamacpp = e.kind.or_else(|| crate::engine::EngineKind::parse(name))
                == Some(crate::engine::EngineKind::LlamaCpp);
            crate::engine::multigpu::check(e.multi_gpu_keys(), is_llamacpp)
                .map_err(|(k, m)| invalid(path, &key(k), m))?;
            if e.kind.is_none() && crate::engine::EngineKind::parse(name).is_none() {
                return Err(invalid(
                    path,
                    &key("kind"),
                    format!(
                        "`{name}` is not an engine kind: set `kind` to one of {}",
                        crate::engine::EngineKind::names()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_max_tokens(v: u32) -> Result<(), String> {
    if v == 0 {
        Err("must be at least 1".into())
    } else {
        Ok(())
    }
}
fn check_temperature(v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err("must be a number ≥ 0".into())
    }
}
fn check_runs(v: u32) -> Result<(), String> {
    if v == 0 {
        Err("must be at least 1".into())
    } else {
        Ok(())
    }
}
fn check_timeout(v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err("must be a positive number of seconds".into())
    }
}
fn check_device(d: &str) -> Result<(), String> {
    const DEVICES: &[&str] = &["auto", "cpu", "cuda", "mps", "metal"];
    if DEVICES.contains(&d) || d.starts_with("cuda:") {
        Ok(())
    } else {
        Err(format!("`{d}` is not one of {}", DEVICES.join(", ")))
    }
}

/// Reads `BENCHMARK_*` variables; injectable for tests.
pub trait EnvSource {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

fn env_parse<T: std::str::FromStr + Copy>(
    env: &dyn EnvSource,
    var: &str,
    check: fn(T) -> Result<(), String>,
) -> Result<Option<T>, ConfigError> {
    let Some(raw) = env.get(var) else {
        return Ok(None);
    };
    let value: T = raw.trim().parse().map_err(|_| ConfigError::Env {
        var: var.into(),
        value: raw.clone(),
        message: "not a valid number".into(),
    })?;
    check(value).map_err(|message| ConfigError::Env {
        var: var.into(),
        value: raw,
        message,
    })?;
    Ok(Some(value))
}

/// The setup cache: `$INFERBENCH_HOME`, else `~/.cache/inferbench`; `None` when neither
/// variable is set. The one place that knows where scripts/setup.sh installs.
pub fn setup_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("INFERBENCH_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("inferbench"))
}

/// The setup cache ([`setup_home`]); relative `.cache/inferbench` when
/// neither `INFERBENCH_HOME` nor `HOME` is set.
pub fn inferbench_home() -> PathBuf {
    setup_home().unwrap_or_else(|| PathBuf::from(".cache").join("inferbench"))
}

/// A model that scripts/setup.sh installs, for unit tests: `rel` under
/// `${INFERBENCH_HOME:-~/.cache/inferbench}/models`.
#[cfg(test)]
pub(crate) fn test_model(rel: &str) -> String {
    inferbench_home()
        .join("models")
        .join(rel)
        .display()
        .to_string()
}

/// Expand `~/`, `$VAR`, `${VAR}` and `${VAR:-default}` in a path-like value (an unset or
/// empty variable takes the default, which may itself start with `~/`), then resolve it
/// against `base` when relative. A file's values naming an unset variable without a
/// default never get here: [`parse_config`] rejects them.
pub fn expand_path(raw: &str, base: &Path) -> PathBuf {
    let p = PathBuf::from(expand_str(raw));
    if p.is_absolute() { p } else { base.join(p) }
}

fn home_prefixed(s: &str) -> String {
    match s.strip_prefix("~/") {
        Some(r) => format!("{}/{r}", std::env::var("HOME").unwrap_or_default()),
        None => s.to_string(),
    }
}

fn expand_str(raw: &str) -> String {
    expand_with(raw, &ProcessEnv).0
}

/// [`expand_str`] with its variables read from `env`; also returns each reference that
/// had no value and no default, as written (`${X}` or `$X`), with whether the variable
/// was set (to "").
fn expand_with(raw: &str, env: &dyn EnvSource) -> (String, Vec<(String, bool)>) {
    let raw = home_prefixed(raw);
    let mut s = String::new();
    let mut missing = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            s.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphanumeric() || n == '_' {
                name.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let mut default = None;
        if braced {
            if chars.peek() == Some(&':') {
                chars.next();
                if chars.peek() == Some(&'-') {
                    chars.next();
                }
                let mut d = String::new();
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                    d.push(n);
                }
                default = Some(d);
            } else if chars.peek() == Some(&'}') {
                chars.next();
            }
        }
        if name.is_empty() {
            s.push('$');
            continue;
        }
        let value = env.get(&name);
        let set = value.is_some();
        match (value.filter(|v| !v.is_empty()), default) {
            (Some(v), _) => s.push_str(&v),
            (None, Some(d)) => s.push_str(&home_prefixed(&d)),
            (None, None) => {
                let written = if braced {
                    format!("${{{name}}}")
                } else {
                    format!("${name}")
                };
                missing.push((written, set));
            }
        }
    }
    (s, missing)
}

/// Every value of the file that is expanded as a path ([`expand_path`], through
/// [`Settings::path_of`]), by key: `inferbench.prompts_file`, `.tokenizer`,
/// `.chat_template`, and in each engine and server section `binary`, `model_path`,
/// `python`, `tokenizer`, `models_dir` and `command[0]` (the program).
fn path_values(f: &ConfigFile) -> Vec<(String, &str)> {
    let x = &f.inferbench;
    let mut out: Vec<(String, &str)> = [
        ("inferbench.prompts_file", &x.prompts_file),
        ("inferbench.tokenizer", &x.tokenizer),
        ("inferbench.chat_template", &x.chat_template),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v.as_deref()?)))
    .collect();
    for (section, map) in [("engines", &f.engines), ("servers", &f.servers)] {
        for (name, e) in map {
            for (k, v) in [
                ("binary", &e.binary),
                ("model_path", &e.model_path),
                ("python", &e.python),
                ("tokenizer", &e.tokenizer),
                ("models_dir", &e.models_dir),
            ] {
                if let Some(v) = v.as_deref() {
                    out.push((format!("{section}.{name}.{k}"), v));
                }
            }
            if let Some(program) = e.command.as_deref().and_then(<[String]>::first) {
                out.push((format!("{section}.{name}.command[0]"), program));
            }
        }
    }
    out
}

/// A path-like value that names an unset (or empty) variable without a `:-default` is an
/// error naming the file, the key and the variable, rather than a path with a hole in it.
/// Every section is checked, enabled or not, like [`validate_file`]'s checks.
fn check_variables(f: &ConfigFile, path: &Path, env: &dyn EnvSource) -> Result<(), ConfigError> {
    for (key, value) in path_values(f) {
        if let Some((written, set)) = expand_with(value, env).1.into_iter().next() {
            return Err(ConfigError::UnsetVar {
                path: path.to_path_buf(),
                key,
                written,
                state: if set { "set but empty" } else { "not set" },
            });
        }
    }
    Ok(())
}

/// Read the config (explicit path, else `./benchmark_config.json` if present, else the
/// built-in defaults) and layer environment and flags on top.
pub fn load(
    explicit: Option<&Path>,
    env: &dyn EnvSource,
    flags: &Overrides,
) -> Result<Settings, ConfigError> {
    let (path, file) = match explicit {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            (Some(p.to_path_buf()), parse_config(&text, p)?)
        }
        None => {
            let p = PathBuf::from(DEFAULT_CONFIG_FILE);
            match std::fs::read_to_string(&p) {
                Ok(text) => (Some(p.clone()), parse_config(&text, &p)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, ConfigFile::default()),
                Err(source) => return Err(ConfigError::Read { path: p, source }),
            }
        }
    };
    resolve(path, file, env, flags)
}

/// Layer defaults, file, environment and flags (pure apart from `env`).
pub fn resolve(
    path: Option<PathBuf>,
    file: ConfigFile,
    env: &dyn EnvSource,
    flags: &Overrides,
) -> Result<Settings, ConfigError> {
    let mut origins = BTreeMap::new();
    let mut layer = Layer {
        origins: &mut origins,
        file: match &path {
            Some(p) => Origin::File(p.display().to_string()),
            None => Origin::Default,
        },
    };
    let base_dir = base_dir_of(path.as_deref());
    let seed = seed_keys(&file.benchmark, env, flags, &mut layer)?;
    let x = our_extras(&file.inferbench, &base_dir, flags, &mut layer);
    if let Some(list) = &flags.engines {
        check_engine_filter(list, &file, path.as_deref())?;
    }
    Ok(Settings {
        path,
        base_dir,
        file,
        max_tokens: seed.max_tokens,
        temperature: seed.temperature,
        num_runs: seed.num_runs,
        timeout_seconds: seed.timeout_seconds,
        system_prompt_override: seed.system_prompt_override,
        seed: x.seed,
        top_p: x.top_p,
        top_k: x.top_k,
        ignore_eos: x.ignore_eos,
        cache_prompt: x.cache_prompt,
        warmup_runs: x.warmup_runs,
        quick: flags.quick,
        prompts_file: x.prompts_file,
        chat_template: x.chat_template,
        tokenizer: x.tokenizer,
        device: x.device,
        threads: x.threads,
        memory_bandwidth_gbps: x.memory_bandwidth_gbps,
        tolerance_pct: x.tolerance_pct,
        allow_template_mismatch: x.allow_template_mismatch,
        stop_grace_seconds: x.stop_grace_seconds,
        engine_filter: flags.engines.clone(),
        origins,
    })
}

/// The directory relative paths in the config file are resolved against: the file's,
/// else the current one.
fn base_dir_of(path: Option<&Path>) -> PathBuf {
    path.and_then(Path::parent)
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The seed's keys, resolved.
struct SeedKeys {
    max_tokens: u32,
    temperature: f64,
    num_runs: u32,
    timeout_seconds: f64,
    system_prompt_override: Option<String>,
}

/// One seed key's sources.
struct SeedKey<'a, T> {
    name: &'a str,
    /// The file's value (the default's, without a file) and the default.
    file: T,
    default: T,
    var: &'a str,
    check: fn(T) -> Result<(), String>,
    flag: Option<T>,
    flag_name: &'a str,
}

/// One seed key: default < file < env < flag. The file's value counts as the file's
/// only where it differs from the default.
fn seed_key<T: std::str::FromStr + Copy + PartialEq>(
    layer: &mut Layer,
    env: &dyn EnvSource,
    k: SeedKey<T>,
) -> Result<T, ConfigError> {
    let mut v = k.file;
    layer.file_or_default(k.name, k.file != k.default);
    if let Some(e) = env_parse(env, k.var, k.check)? {
        v = e;
        layer.set(k.name, Origin::Env(k.var.into()));
    }
    if let Some(f) = k.flag {
        (k.check)(f).map_err(|m| ConfigError::Usage(format!("{}: {m}", k.flag_name)))?;
        v = f;
        layer.set(k.name, Origin::Flag(k.flag_name.into()));
    }
    Ok(v)
}

/// The seed's keys (`benchmark` section): default < file < env < flag; `--quick` means
/// one run unless `--runs` is given.
fn seed_keys(
    b: &BenchmarkSection,
    env: &dyn EnvSource,
    flags: &Overrides,
    layer: &mut Layer,
) -> Result<SeedKeys, ConfigError> {
    let d = BenchmarkSection::default();
    let max_tokens = seed_key(
        layer,
        env,
        SeedKey {
            name: "max_tokens",
            file: b.max_tokens,
            default: d.max_tokens,
            var: "BENCHMARK_MAX_TOKENS",
            check: check_max_tokens,
            flag: flags.max_tokens,
            flag_name: "--max-tokens",
        },
    )?;
    let temperature = seed_key(
        layer,
        env,
        SeedKey {
            name: "temperature",
            file: b.temperature,
            default: d.temperature,
            var: "BENCHMARK_TEMPERATURE",
            check: check_temperature,
            flag: flags.temperature,
            flag_name: "--temperature",
        },
    )?;
    let mut num_runs = seed_key(
        layer,
        env,
        SeedKey {
            name: "num_runs",
            file: b.num_runs,
            default: d.num_runs,
            var: "BENCHMARK_NUM_RUNS",
            check: check_runs,
            flag: flags.runs,
            flag_name: "--runs",
        },
    )?;
    if flags.quick && flags.runs.is_none() {
        num_runs = 1;
        layer.set("num_runs", Origin::Flag("--quick".into()));
    }
    let timeout_seconds = seed_key(
        layer,
        env,
        SeedKey {
            name: "timeout_seconds",
            file: b.timeout_seconds,
            default: d.timeout_seconds,
            var: "BENCHMARK_TIMEOUT",
            check: check_timeout,
            flag: flags.timeout_seconds,
            flag_name: "--timeout",
        },
    )?;
    let mut system_prompt_override = b.system_prompt_override.clone();
    layer.file_or_default("system_prompt", system_prompt_override.is_some());
    if let Some(s) = env.get("BENCHMARK_SYSTEM_PROMPT") {
        system_prompt_override = Some(s);
        layer.set(
            "system_prompt",
            Origin::Env("BENCHMARK_SYSTEM_PROMPT".into()),
        );
    }
    Ok(SeedKeys {
        max_tokens,
        temperature,
        num_runs,
        timeout_seconds,
        system_prompt_override,
    })
}

/// Our extras (`inferbench` section), resolved.
struct Extras {
    seed: u64,
    top_p: Option<f64>,
    top_k: Option<u32>,
    ignore_eos: bool,
    cache_prompt: bool,
    warmup_runs: u32,
    prompts_file: Option<PathBuf>,
    chat_template: String,
    tokenizer: Option<PathBuf>,
    device: String,
    threads: Option<u32>,
    memory_bandwidth_gbps: Option<f64>,
    tolerance_pct: f64,
    allow_template_mismatch: bool,
    stop_grace_seconds: f64,
}

/// Our extras: default < file < flag; paths resolved against `base_dir`.
fn our_extras(
    x: &InferbenchSection,
    base_dir: &Path,
    flags: &Overrides,
    layer: &mut Layer,
) -> Extras {
    let seed = layer.extra("seed", x.seed, 42);
    let seed = layer.flag("seed", seed, flags.seed, "--seed");
    layer.file_or_default("top_p", x.top_p.is_some());
    layer.file_or_default("top_k", x.top_k.is_some());
    let ignore_eos = layer.extra("ignore_eos", x.ignore_eos, false);
    let cache_prompt = layer.extra("cache_prompt", x.cache_prompt, false);
    let warmup_runs = layer.extra("warmup_runs", x.warmup_runs, 1);
    let warmup_runs = layer.flag("warmup_runs", warmup_runs, flags.warmup_runs, "--warmup");
    let prompts_file = x.prompts_file.as_deref().map(|p| expand_path(p, base_dir));
    layer.file_or_default("prompts_file", prompts_file.is_some());
    let prompts_file = layer.flag(
        "prompts_file",
        prompts_file,
        flags.prompts_file.clone().map(Some),
        "--prompts",
    );
    let chat_template = layer.extra(
        "chat_template",
        x.chat_template.clone(),
        "gemma3".to_string(),
    );
    let chat_template = layer.flag(
        "chat_template",
        chat_template,
        flags.chat_template.clone(),
        "--chat-template",
    );
    let tokenizer = x.tokenizer.as_deref().map(|p| expand_path(p, base_dir));
    layer.file_or_default("tokenizer", tokenizer.is_some());
    let device = layer.extra("device", x.device.clone(), "cpu".to_string());
    layer.file_or_default("threads", x.threads.is_some());
    layer.file_or_default("memory_bandwidth_gbps", x.memory_bandwidth_gbps.is_some());
    let tolerance_pct = layer.extra("tolerance_pct", x.tolerance_pct, 10.0);
    let allow_template_mismatch =
        layer.extra("allow_template_mismatch", x.allow_template_mismatch, false);
    let allow_template_mismatch = layer.flag(
        "allow_template_mismatch",
        allow_template_mismatch,
        flags.allow_template_mismatch.then_some(true),
        "--allow-template-mismatch",
    );
    Extras {
        seed,
        top_p: x.top_p,
        top_k: x.top_k,
        ignore_eos,
        cache_prompt,
        warmup_runs,
        prompts_file,
        chat_template,
        tokenizer,
        device,
        threads: x.threads,
        memory_bandwidth_gbps: x.memory_bandwidth_gbps,
        tolerance_pct,
        allow_template_mismatch,
        stop_grace_seconds: layer.extra("stop_grace_seconds", x.stop_grace_seconds, 5.0),
    }
}

/// `--engines` must name engines of the config (either section).
fn check_engine_filter(
    list: &[String],
    file: &ConfigFile,
    path: Option<&Path>,
) -> Result<(), ConfigError> {
    // A name may be in both sections (CLI and API mode of one engine): listed once.
    let known: Vec<&String> = file
        .engines
        .keys()
        .chain(file.servers.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for name in list {
        if !known.contains(&name) {
            return Err(ConfigError::Usage(format!(
                "--engines: no engine `{name}` in {}; configured: {}",
                path.map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the built-in defaults".into()),
                known
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

impl Settings {
    /// Resolve a path-like value from the file against the config's directory.
    pub fn path_of(&self, raw: &str) -> PathBuf {
        expand_path(raw, &self.base_dir)
    }

    /// Whether an engine key is selected (by `--engines`, else by its `enabled` flag).
    pub fn selected(&self, key: &str, section: &EngineSection) -> bool {
        match &self.engine_filter {
            Some(list) => list.iter().any(|k| k == key),
            None => section.enabled,
        }
    }

    /// The adapter kind of an engine section: its `kind`, else its key (a validated
    /// config has one or the other; anything else is run as a generic OpenAI server).
    pub fn kind_of(key: &str, section: &EngineSection) -> crate::engine::EngineKind {
        section
            .kind
            .or_else(|| crate::engine::EngineKind::parse(key))
            .unwrap_or(crate::engine::EngineKind::OpenAi)
    }

    /// The sampling settings every request carries.
    pub fn sampling(&self) -> crate::results::Sampling {
        crate::results::Sampling {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            seed: Some(self.seed),
            top_p: self.top_p,
            top_k: self.top_k,
            ignore_eos: self.ignore_eos,
        }
    }

    /// The effective settings as JSON, each with its origin (for results and `config`).
    pub fn effective_json(&self) -> serde_json::Value {
        let mut values = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            let origin = self
                .origins
                .get(k)
                .map(|o| o.to_string())
                .unwrap_or_else(|| "default".into());
            values.insert(
                k.to_string(),
                serde_json::json!({"value": v, "origin": origin}),
            );
        };
        use serde_json::json;
        put("max_tokens", json!(self.max_tokens));
        put("temperature", json!(self.temperature));
        put("num_runs", json!(self.num_runs));
        put("timeout_seconds", json!(self.timeout_seconds));
        put("system_prompt", json!(self.system_prompt_override));
        put("seed", json!(self.seed));
        put("top_p", json!(self.top_p));
        put("top_k", json!(self.top_k));
        put("ignore_eos", json!(self.ignore_eos));
        put("cache_prompt", json!(self.cache_prompt));
        put("warmup_runs", json!(self.warmup_runs));
        put("prompts_file", json!(self.prompts_file));
        put("chat_template", json!(self.chat_template));
        put("tokenizer", json!(self.tokenizer));
        put("device", json!(self.device));
        put("threads", json!(self.threads));
        put("memory_bandwidth_gbps", json!(self.memory_bandwidth_gbps));
        put("tolerance_pct", json!(self.tolerance_pct));
        put(
            "allow_template_mismatch",
            json!(self.allow_template_mismatch),
        );
        put("stop_grace_seconds", json!(self.stop_grace_seconds));
        serde_json::json!({
            "config_file": self.path,
            "quick": self.quick,
            "engine_filter": self.engine_filter,
            "settings": values,
            "engines": self.file.engines,
            "servers": self.file.servers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("cfg.json")
    }

    #[test]
    fn seed_config_parses_with_seed_defaults() {
        let f = parse_config(include_str!("../tests/fixtures/seed_config.json"), &p()).unwrap();
        assert_eq!(f.benchmark.max_tokens, 500);
        assert_eq!(f.benchmark.temperature, 0.3);
        assert_eq!(f.benchmark.num_runs, 10);
        assert_eq!(f.benchmark.timeout_seconds, 120.0);
        assert_eq!(f.servers["llamacpp"].port, Some(8002));
        assert!(!f.engines["uzu"].enabled);
    }

    #[test]
    fn misspelled_key_names_key_and_file() {
        let err = parse_config(r#"{"benchmark": {"max_token": 5}}"#, &p()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cfg.json"), "{msg}");
        assert!(msg.contains("max_token"), "{msg}");
        assert!(msg.contains("max_tokens"), "lists the allowed keys: {msg}");
    }

    #[test]
    fn wrong_type_names_key() {
        let err = parse_config(r#"{"benchmark": {"num_runs": "ten"}}"#, &p()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("benchmark.num_runs"), "{msg}");
    }

    #[test]
    fn negative_runs_and_temperature_rejected() {
        let err = parse_config(r#"{"benchmark": {"num_runs": -1}}"#, &p()).unwrap_err();
        assert!(err.to_string().contains("benchmark.num_runs"), "{err}");
        let err = parse_config(r#"{"benchmark": {"temperature": -0.5}}"#, &p()).unwrap_err();
        assert!(err.to_string().contains("benchmark.temperature"), "{err}");
        let err = parse_config(r#"{"benchmark": {"num_runs": 0}}"#, &p()).unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
    }

    #[test]
    fn unknown_engine_kind_rejected() {
        let err = parse_config(r#"{"servers": {"vllm": {"port": 8000}}}"#, &p()).unwrap_err();
        assert!(err.to_string().contains("servers.vllm.kind"), "{err}");
        parse_config(
            r#"{"servers": {"vllm": {"kind": "openai", "port": 8000}}}"#,
            &p(),
        )
        .unwrap();
    }

    #[test]
    fn torch_knobs_are_checked_by_name_and_value() {
        let f = parse_config(
            r#"{"servers": {"pytorch": {"dtype": "float16", "attn_implementation": "eager",
                "compile": "reduce-overhead", "cache_implementation": "static"}}}"#,
            &p(),
        )
        .unwrap();
        let s = &f.servers["pytorch"];
        assert_eq!(
            s.torch_dtype.as_deref(),
            Some("float16"),
            "`dtype` is torch_dtype"
        );
        assert_eq!(s.torch_knob("compile"), "reduce-overhead");
        assert_eq!(s.torch_knob("cache_implementation"), "static");
        // Compiled without CUDA graphs (what a static cache on a GPU is run with).
        for mode in ["default", "max-autotune-no-cudagraphs"] {
            let f = parse_config(
                &format!(
                    r#"{{"servers": {{"pytorch": {{"compile": "{mode}",
                        "cache_implementation": "static"}}}}}}"#
                ),
                &p(),
            )
            .unwrap();
            assert_eq!(f.servers["pytorch"].torch_knob("compile"), mode);
        }
        let d = EngineSection::default();
        for (k, want) in [
            ("torch_dtype", "auto"),
            ("attn_implementation", "auto"),
            ("compile", "off"),
            ("cache_implementation", "dynamic"),
            ("device_map", "none"),
        ] {
            assert_eq!(d.torch_knob(k), want, "{k}");
        }
        for (cfg, key, bad) in [
            (
                r#"{"servers": {"pytorch": {"compile": "fast"}}}"#,
                "servers.pytorch.compile",
                "fast",
            ),
            (
                r#"{"engines": {"pytorch": {"attn_implementation": "flash"}}}"#,
                "engines.pytorch.attn_implementation",
                "flash",
            ),
            (
                r#"{"engines": {"pytorch": {"torch_dtype": "fp16"}}}"#,
                "engines.pytorch.torch_dtype",
                "fp16",
            ),
            (
                r#"{"servers": {"pt": {"kind": "pytorch", "cache_implementation": "paged"}}}"#,
                "servers.pt.cache_implementation",
                "paged",
            ),
        ] {
            let msg = parse_config(cfg, &p()).unwrap_err().to_string();
            assert!(msg.contains("cfg.json") && msg.contains(key), "{msg}");
            assert!(msg.contains(bad) && msg.contains("is not one of"), "{msg}");
        }
        // The multi-GPU keys are checked with the config too (crate::engine::multigpu).
        for (cfg, key, says) in [
            (
                r#"{"servers": {"pytorch": {"split_mode": "row"}}}"#,
                "servers.pytorch.split_mode",
                "only the llama.cpp engine",
            ),
            (
                r#"{"engines": {"llamacpp": {"split_mode": "rows"}}}"#,
                "engines.llamacpp.split_mode",
                "is not one of none, layer, row",
            ),
            (
                r#"{"servers": {"llamacpp": {"gpus": [0, 1], "main_gpu": 2}}}"#,
                "servers.llamacpp.main_gpu",
                "not an index into `gpus`",
            ),
            (
                r#"{"servers": {"pytorch": {"device_map": "everywhere"}}}"#,
                "servers.pytorch.device_map",
                "is not one of",
            ),
        ] {
            let msg = parse_config(cfg, &p()).unwrap_err().to_string();
            assert!(msg.contains(key) && msg.contains(says), "{msg}");
        }
        let msg = parse_config(r#"{"servers": {"llamacpp": {"compile": "default"}}}"#, &p())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("servers.llamacpp.compile") && msg.contains("only the PyTorch"),
            "{msg}"
        );
        let msg = parse_config(
            r#"{"servers": {"pytorch": {"dtype": "float16", "torch_dtype": "float32"}}}"#,
            &p(),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("torch_dtype"), "both spellings at once: {msg}");
    }

    #[test]
    fn precedence_flag_over_env_over_file() {
        let f = parse_config(r#"{"benchmark": {"num_runs": 3, "max_tokens": 64}}"#, &p()).unwrap();
        let mut env = BTreeMap::new();
        env.insert("BENCHMARK_NUM_RUNS".to_string(), "4".to_string());
        env.insert("BENCHMARK_TEMPERATURE".to_string(), "0".to_string());
        let s = resolve(Some(p()), f.clone(), &env, &Overrides::default()).unwrap();
        assert_eq!(s.num_runs, 4);
        assert_eq!(
            s.origins["num_runs"],
            Origin::Env("BENCHMARK_NUM_RUNS".into())
        );
        assert_eq!(s.max_tokens, 64);
        assert_eq!(s.origins["max_tokens"], Origin::File("cfg.json".into()));
        assert_eq!(s.temperature, 0.0);
        let flags = Overrides {
            runs: Some(7),
            ..Default::default()
        };
        let s = resolve(Some(p()), f.clone(), &env, &flags).unwrap();
        assert_eq!(s.num_runs, 7);
        assert_eq!(s.origins["num_runs"], Origin::Flag("--runs".into()));
        let quick = Overrides {
            quick: true,
            ..Default::default()
        };
        let s = resolve(Some(p()), f, &env, &quick).unwrap();
        assert_eq!(s.num_runs, 1);
    }

    #[test]
    fn bad_env_value_is_an_error() {
        let mut env = BTreeMap::new();
        env.insert("BENCHMARK_NUM_RUNS".to_string(), "many".to_string());
        let err = resolve(None, ConfigFile::default(), &env, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("BENCHMARK_NUM_RUNS"), "{err}");
        env.insert("BENCHMARK_NUM_RUNS".to_string(), "0".to_string());
        assert!(resolve(None, ConfigFile::default(), &env, &Overrides::default()).is_err());
    }

    #[test]
    fn system_prompt_from_env() {
        let mut env = BTreeMap::new();
        env.insert(
            "BENCHMARK_SYSTEM_PROMPT".to_string(),
            "Be brief.".to_string(),
        );
        let s = resolve(None, ConfigFile::default(), &env, &Overrides::default()).unwrap();
        assert_eq!(s.system_prompt_override.as_deref(), Some("Be brief."));
    }

    #[test]
    fn engines_filter_must_name_configured_engines() {
        let f = parse_config(r#"{"servers": {"llamacpp": {"port": 8002}}}"#, &p()).unwrap();
        let flags = Overrides {
            engines: Some(vec!["llamcpp".into()]),
            ..Default::default()
        };
        let err = resolve(Some(p()), f, &BTreeMap::new(), &flags).unwrap_err();
        assert!(err.to_string().contains("llamcpp"), "{err}");
    }

    #[test]
    fn path_expansion() {
        // SAFETY: test-only; no other thread reads this variable.
        let base = Path::new("/base");
        assert_eq!(expand_path("/abs/x", base), PathBuf::from("/abs/x"));
        assert_eq!(expand_path("rel/x", base), PathBuf::from("/base/rel/x"));
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(
            expand_path("~/m.gguf", base),
            PathBuf::from(format!("{home}/m.gguf"))
        );
        assert_eq!(
            expand_path("${HOME}/m.gguf", base),
            PathBuf::from(format!("{home}/m.gguf"))
        );
        assert_eq!(
            expand_path("${INFERBENCH_TEST_SURELY_UNSET:-~/c}/m.gguf", base),
            PathBuf::from(format!("{home}/c/m.gguf"))
        );
        assert_eq!(
            expand_path("${HOME:-/elsewhere}/m.gguf", base),
            PathBuf::from(format!("{home}/m.gguf"))
        );
    }

    #[test]
    fn unset_variable_is_an_error_naming_file_key_and_variable() {
        let text = r#"{"servers": {"uzu": {"binary": "${INFERBENCH_TEST_SURELY_UNSET_UZU_BIN}"}}}"#;
        let err = parse_config(text, Path::new("benchmark_config.json")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "benchmark_config.json: servers.uzu.binary uses ${INFERBENCH_TEST_SURELY_UNSET_UZU_BIN}, \
             which is not set; set it or write the path"
        );
        // The bare `$VAR` form, another key, and a disabled section are checked too.
        let text = r#"{"engines": {"pytorch": {"enabled": false,
            "python": "$INFERBENCH_TEST_SURELY_UNSET_VENV/bin/python"}}}"#;
        let err = parse_config(text, &p()).unwrap_err().to_string();
        assert!(
            err.contains("engines.pytorch.python uses $INFERBENCH_TEST_SURELY_UNSET_VENV,"),
            "{err}"
        );
    }

    #[test]
    fn variables_checked_in_every_path_key() {
        let env: BTreeMap<String, String> = [
            ("SET".to_string(), "/opt".to_string()),
            ("EMPTY".to_string(), String::new()),
        ]
        .into();
        let check = |json: &str| {
            let f: ConfigFile = serde_json::from_str(json).unwrap();
            check_variables(&f, &p(), &env).map_err(|e| e.to_string())
        };
        // Set, or unset with a default: fine.
        assert!(check(r#"{"inferbench": {"tokenizer": "${SET}/t.json"}}"#).is_ok());
        assert!(
            check(r#"{"servers": {"llamacpp": {"model_path": "${NOPE:-/m}/x.gguf"}}}"#).is_ok()
        );
        assert!(
            check(r#"{"servers": {"llamacpp": {"model_path": "${EMPTY:-/m}/x.gguf"}}}"#).is_ok()
        );
        // A value that is never expanded as a path may hold a `$`.
        assert!(check(r#"{"servers": {"llamacpp": {"note": "${NOPE}"}}}"#).is_ok());
        let err = check(r#"{"servers": {"llamacpp": {"model_path": "${EMPTY}/x.gguf"}}}"#);
        assert!(
            err.as_ref()
                .is_err_and(|e| e
                    .contains("servers.llamacpp.model_path uses ${EMPTY}, which is set but empty")),
            "{err:?}"
        );
        for (json, key) in [
            (
                r#"{"inferbench": {"prompts_file": "${NOPE}"}}"#,
                "inferbench.prompts_file",
            ),
            (
                r#"{"inferbench": {"tokenizer": "${NOPE}"}}"#,
                "inferbench.tokenizer",
            ),
            (
                r#"{"inferbench": {"chat_template": "${NOPE}/t.jinja"}}"#,
                "inferbench.chat_template",
            ),
            (
                r#"{"servers": {"ollama": {"models_dir": "${NOPE}"}}}"#,
                "servers.ollama.models_dir",
            ),
            (
                r#"{"engines": {"llamacpp": {"tokenizer": "${NOPE}"}}}"#,
                "engines.llamacpp.tokenizer",
            ),
            (
                r#"{"servers": {"x": {"kind": "openai", "command": ["${NOPE}/srv", "${NOPE}"]}}}"#,
                "servers.x.command[0]",
            ),
        ] {
            let err = check(json);
            assert!(
                err.as_ref()
                    .is_err_and(|e| e.contains(&format!("{key} uses ${{NOPE}}, which is not set"))),
                "{json}: {err:?}"
            );
        }
    }

    #[test]
    fn shipped_config_needs_no_variable() {
        // Every variable the shipped config names has a default: it loads with none set.
        let f: ConfigFile = serde_json::from_str(include_str!("../benchmark_config.json")).unwrap();
        check_variables(&f, &p(), &BTreeMap::<String, String>::new()).unwrap();
    }
}
