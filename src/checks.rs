//! The judgement of `inferbench doctor`, pure: gathered facts (doctor's `gather`) → one
//! [`Check`] per line. Every failed check carries the command or setting that fixes it.
//! No I/O here, so every verdict is unit-tested.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One line's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// ✓ what is needed is there.
    Ok,
    /// ✗ something the selected engines need is missing or wrong; `fix` says what to do.
    Fail,
    /// – not applicable here (not installable on this host, nothing configured, no GPU).
    Skip,
}

impl Status {
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Fail => "✗",
            Status::Skip => "–",
        }
    }
}

/// One check: what it is about (`host` or an engine key), what was checked, the verdict,
/// what was found, and for a failure the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    pub scope: String,
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(scope: &str, name: &str, detail: impl Into<String>) -> Check {
        Check {
            scope: scope.into(),
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(
        scope: &str,
        name: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            scope: scope.into(),
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn skip(scope: &str, name: &str, detail: impl Into<String>) -> Check {
        Check {
            scope: scope.into(),
            name: name.into(),
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// 0 when nothing failed, 2 (input the user must fix) otherwise.
pub fn exit_code(checks: &[Check]) -> i32 {
    if checks.iter().any(|c| c.status == Status::Fail) {
        2
    } else {
        0
    }
}

/// A size in MiB (or GiB above 1 GiB), for a reader.
pub fn human_bytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

// ---------------------------------------------------------------------------------------
// Host
// ---------------------------------------------------------------------------------------

/// A GPU as NVML reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub name: String,
    pub memory_bytes: Option<u64>,
}

/// The GPU line: the GPUs NVML lists, or why there are none ("–": none is needed).
pub fn gpus(nvml: &Result<Vec<Gpu>, String>) -> Check {
    match nvml {
        Ok(list) if !list.is_empty() => Check::ok(
            "host",
            "gpus",
            list.iter()
                .enumerate()
                .map(|(i, g)| match g.memory_bytes {
                    Some(b) => format!("{i}: {} ({})", g.name, human_bytes(b)),
                    None => format!("{i}: {}", g.name),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Ok(_) => Check::skip("host", "gpus", "none (NVML lists no device)"),
        Err(why) => Check::skip("host", "gpus", format!("none found (NVML: {why})")),
    }
}

/// The device line of one engine: what it will run on and why; a GPU device asked for on
/// a host without one fails.
pub fn device(scope: &str, section: &str, device: &str, why: &str, has_nvidia: bool) -> Check {
    let cuda = device == "cuda" || device.starts_with("cuda:");
    if cuda && !has_nvidia {
        return Check::fail(
            scope,
            "device",
            format!("{device} ({why}), but this host has no NVIDIA GPU"),
            format!("set {section}.{scope}.device (or inferbench.device) to cpu or auto"),
        );
    }
    Check::ok(scope, "device", format!("{device} ({why})"))
}

// ---------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------

/// What `llama-server --version` says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlamaVersion {
    /// e.g. "6123 (abc1234)" or "0.6.0-dev (build 0, commit unknown)".
    pub version: Option<String>,
    /// e.g. "GNU 12.2.0 for Linux x86_64".
    pub built_with: Option<String>,
    /// Back ends it reports loading or initialising (CPU, CUDA, Metal, …).
    pub backends: Vec<String>,
}

/// Parse `llama-server --version` output (it prints on stderr): `version: …`,
/// `built with …`, and any `load_backend: loaded X backend` / `ggml_cuda_init` /
/// `ggml_metal_init` lines of builds that load back ends at start.
pub fn parse_llama_version(text: &str) -> LlamaVersion {
    let mut v = LlamaVersion::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("version:") {
            v.version = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("built with") {
            v.built_with = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("load_backend: loaded ") {
            if let Some(name) = rest.split_whitespace().next() {
                push_backend(&mut v.backends, name);
            }
        } else if line.starts_with("ggml_cuda_init") {
            push_backend(&mut v.backends, "CUDA");
        } else if line.starts_with("ggml_metal_init") || line.starts_with("ggml_metal_device") {
            push_backend(&mut v.backends, "Metal");
        }
    }
    v
}

fn push_backend(list: &mut Vec<String>, name: &str) {
    let canonical = canonical_backend(name);
    if !list.iter().any(|b| b == &canonical) {
        list.push(canonical);
    }
}

fn canonical_backend(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "cpu" => "CPU".into(),
        "cuda" => "CUDA".into(),
        "metal" | "mtl" => "Metal".into(),
        "vulkan" => "Vulkan".into(),
        "hip" | "rocm" => "HIP".into(),
        "sycl" => "SYCL".into(),
        "blas" => "BLAS".into(),
        other => other.to_string(),
    }
}

/// The back ends a shared-library llama.cpp build ships beside its binary
/// (`libggml-cpu.so`, `libggml-cuda.so`, …; `libggml-base` is not one).
pub fn backends_from_libs(names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        let Some(rest) = n.strip_prefix("libggml-") else {
            continue;
        };
        let stem = rest.split('.').next().unwrap_or("");
        // libggml-cpu-haswell.so and friends are CPU variants.
        let backend = stem.split('-').next().unwrap_or("");
        if backend.is_empty() || backend == "base" {
            continue;
        }
        push_backend(&mut out, backend);
    }
    out
}

/// Where an engine's program was looked for and found (or the lookup's message).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub path: Result<PathBuf, String>,
}

fn binary_missing(scope: &str, section: &str, why: &str) -> Check {
    Check::fail(
        scope,
        "binary",
        why.to_string(),
        format!("scripts/setup.sh (or set {section}.{scope}.binary)"),
    )
}

/// llama.cpp: the server binary with its version, and its build (back ends) against the
/// device it will be asked to use.
pub fn llamacpp_binary(
    scope: &str,
    found: &Result<PathBuf, String>,
    version: Option<&LlamaVersion>,
    lib_backends: &[String],
    device: &str,
) -> Vec<Check> {
    let path = match found {
        Ok(p) => p,
        Err(why) => return vec![binary_missing(scope, "servers", why)],
    };
    let mut out = Vec::new();
    let v = version.cloned().unwrap_or_default();
    out.push(Check::ok(
        scope,
        "binary",
        format!(
            "{} (version {}{})",
            path.display(),
            v.version.as_deref().unwrap_or("unknown"),
            v.built_with
                .as_deref()
                .map(|b| format!(", built with {b}"))
                .unwrap_or_default()
        ),
    ));
    let mut backends = v.backends.clone();
    for b in lib_backends {
        if !backends.contains(b) {
            backends.push(b.clone());
        }
    }
    let gpu_backends: Vec<&String> = backends
        .iter()
        .filter(|b| !matches!(b.as_str(), "CPU" | "BLAS"))
        .collect();
    let flags = if backends.is_empty() {
        "CPU (no GPU back end found)".to_string()
    } else {
        backends.join(", ")
    };
    let wants_gpu = device != "cpu";
    let wanted = match device {
        d if d == "cuda" || d.starts_with("cuda:") => Some("CUDA"),
        "mps" | "metal" => Some("Metal"),
        _ => None,
    };
    match wanted {
        Some(w) if !backends.iter().any(|b| b == w) => out.push(Check::fail(
            scope,
            "build",
            format!("back ends {flags}: no {w} for device {device}"),
            format!(
                "rebuild llama.cpp with {w} (CMAKE_ARGS=\"-DGGML_{}=ON\" scripts/setup.sh) or set servers.{scope}.device to cpu",
                w.to_ascii_uppercase()
            ),
        )),
        _ if wants_gpu && gpu_backends.is_empty() => out.push(Check::fail(
            scope,
            "build",
            format!("back ends {flags}: no GPU back end for device {device}"),
            format!("rebuild llama.cpp with GPU support or set servers.{scope}.device to cpu"),
        )),
        _ => out.push(Check::ok(
            scope,
            "build",
            format!("back ends {flags}; runs on {device}"),
        )),
    }
    out
}

/// The version Ollama's client prints: "ollama version is 0.17.4", or without a server
/// "Warning: client version is 0.17.4".
pub fn parse_ollama_version(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split("version is").nth(1))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

/// A program found (or not) with the version it printed.
pub fn binary(
    scope: &str,
    section: &str,
    found: &Result<PathBuf, String>,
    version: Option<&str>,
) -> Check {
    match found {
        Ok(p) => Check::ok(
            scope,
            "binary",
            format!("{} (version {})", p.display(), version.unwrap_or("unknown")),
        ),
        Err(why) => binary_missing(scope, section, why),
    }
}

// ---------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------

/// What a GGUF header says.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufSummary {
    pub architecture: Option<String>,
    pub file_size: u64,
    pub tensors: usize,
    pub has_chat_template: bool,
}

/// What was found at a configured model path.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelFacts {
    /// No `model_path` in the section.
    NotConfigured,
    Missing(PathBuf),
    /// A GGUF file, its header read (or why it could not be).
    Gguf(PathBuf, Result<GgufSummary, String>),
    /// Another file or a directory (safetensors, an HF or Uzu model folder), its size.
    Other {
        path: PathBuf,
        bytes: u64,
        dir: bool,
    },
}

/// The model line: present and readable, with what its header says.
pub fn model(scope: &str, section: &str, facts: &ModelFacts) -> Check {
    let fix_path = format!("scripts/setup.sh downloads it, or set {section}.{scope}.model_path");
    match facts {
        ModelFacts::NotConfigured => Check::fail(
            scope,
            "model",
            "no model_path configured",
            format!("set {section}.{scope}.model_path (scripts/setup.sh installs a GGUF)"),
        ),
        ModelFacts::Missing(p) => Check::fail(
            scope,
            "model",
            format!("{} does not exist", p.display()),
            fix_path,
        ),
        ModelFacts::Gguf(p, Err(why)) => Check::fail(
            scope,
            "model",
            format!("{} is not a readable GGUF: {why}", p.display()),
            format!("re-download it with scripts/setup.sh, or set {section}.{scope}.model_path"),
        ),
        ModelFacts::Gguf(p, Ok(g)) => Check::ok(
            scope,
            "model",
            format!(
                "{} (GGUF, {}, architecture {}, {} tensors, {})",
                p.display(),
                human_bytes(g.file_size),
                g.architecture.as_deref().unwrap_or("unknown"),
                g.tensors,
                if g.has_chat_template {
                    "carries a chat template"
                } else {
                    "no chat template: inferbench supplies its own"
                }
            ),
        ),
        ModelFacts::Other { path, bytes, dir } => Check::ok(
            scope,
            "model",
            format!(
                "{} ({}, {})",
                path.display(),
                if *dir { "directory" } else { "file" },
                human_bytes(*bytes)
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------

/// A process that holds a port.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
}

/// Whether a configured port can be bound.
#[derive(Debug, Clone, PartialEq)]
pub enum PortState {
    Free,
    /// In use; the processes holding it where `/proc` shows them; `ours` names the
    /// `inferbench server start` entry on that port, if any.
    Held {
        holders: Vec<Holder>,
        ours: Option<String>,
    },
    /// Bind failed for another reason (permission, no such address).
    Error(String),
}

/// The port line: free, or who holds it and how to free it.
pub fn port(scope: &str, host: &str, port: u16, state: &PortState) -> Check {
    let change = format!("set servers.{scope}.port to a free port");
    match state {
        PortState::Free => Check::ok(scope, "port", format!("{port} on {host} is free")),
        PortState::Held { holders, ours } => {
            let who = if holders.is_empty() {
                "a process /proc does not show (another user's?)".to_string()
            } else {
                holders
                    .iter()
                    .map(|h| format!("pid {} ({})", h.pid, h.command))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let fix = match (ours, holders.first()) {
                (Some(engine), _) => format!("inferbench server stop {engine}, or {change}"),
                (None, Some(_)) => format!(
                    "kill {}, or {change}",
                    holders
                        .iter()
                        .map(|h| h.pid.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                (None, None) => format!("stop what listens on {port}, or {change}"),
            };
            Check::fail(
                scope,
                "port",
                format!("{port} on {host} is in use by {who}"),
                fix,
            )
        }
        PortState::Error(e) => Check::fail(
            scope,
            "port",
            format!("cannot bind {host}:{port}: {e}"),
            format!("set servers.{scope}.host to 127.0.0.1 or {change}"),
        ),
    }
}

/// The inodes of sockets listening on `port` in a `/proc/net/tcp` or `/proc/net/tcp6`
/// table (state `0A`). Pure.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = cols.get(1)?;
            let state = cols.get(3)?;
            let inode = cols.get(9)?;
            let hex_port = local.rsplit(':').next()?;
            let p = u16::from_str_radix(hex_port, 16).ok()?;
            (p == port && *state == "0A")
                .then(|| inode.parse::<u64>().ok())
                .flatten()
        })
        .filter(|i| *i != 0)
        .collect()
}

/// The socket inode a `/proc/PID/fd/N` link names (`socket:[12345]`). Pure.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------
// Ollama
// ---------------------------------------------------------------------------------------

/// Where Ollama keeps the manifest of model `name` in its store: `name[:tag]` in the
/// default namespace (`registry.ollama.ai/library`), `ns/name` in the default registry,
/// `host/ns/name` as given. Tag `latest` when none. Pure.
pub fn ollama_manifest_path(store: &Path, name: &str) -> PathBuf {
    // A tag follows the last ':' after the last '/' (a registry may have a port).
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
        None => (name, "latest"),
    };
    let parts: Vec<&str> = repo.split('/').filter(|p| !p.is_empty()).collect();
    let mut path = store.join("manifests");
    match parts.len() {
        0 | 1 => {
            path = path
                .join("registry.ollama.ai")
                .join("library")
                .join(parts.first().copied().unwrap_or(""));
        }
        2 => {
            path = path
                .join("registry.ollama.ai")
                .join(parts[0])
                .join(parts[1]);
        }
        _ => {
            for p in parts {
                path = path.join(p);
            }
        }
    }
    path.join(tag)
}

/// What a registered Ollama model consists of, read from its manifest and blobs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OllamaModel {
    /// Size of the weights layer (`application/vnd.ollama.image.model`).
    pub weights_bytes: Option<u64>,
    pub template: Option<String>,
    pub system: Option<String>,
    /// The params layer (stop, temperature, num_predict, seed).
    pub params: Option<serde_json::Value>,
}

/// What a Modelfile we would write says, for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedOllama {
    pub gguf_bytes: Option<u64>,
    pub template: String,
    pub stops: Vec<String>,
    pub system: String,
}

/// The Ollama registration line: registered, and the parts that decide what prompt the
/// model sees (template, stops, system prompt, weights) as our Modelfile would make them.
/// Sampling parameters may differ: API requests send their own, and `inferbench cli`
/// registers the model again with the run's settings.
pub fn ollama_model(
    scope: &str,
    name: &str,
    store: &Path,
    found: &Result<OllamaModel, String>,
    expected: &ExpectedOllama,
    prepare: &str,
) -> Check {
    let fix = prepare.to_string();
    let m = match found {
        Ok(m) => m,
        Err(why) => {
            return Check::fail(
                scope,
                "ollama model",
                format!("`{name}` is not registered in {} ({why})", store.display()),
                format!("{fix} (or set servers.{scope}.model_name to a registered model)"),
            );
        }
    };
    let mut diffs = Vec::new();
    if m.template.as_deref() != Some(expected.template.as_str()) {
        diffs.push("TEMPLATE differs from the Gemma 3 template".to_string());
    }
    let stops: Vec<String> = m
        .params
        .as_ref()
        .and_then(|p| p.get("stop"))
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for s in &expected.stops {
        if !stops.contains(s) {
            diffs.push(format!("no stop {s:?}"));
        }
    }
    if m.system.as_deref().unwrap_or("") != expected.system {
        diffs.push("SYSTEM differs from the benchmark's system prompt".to_string());
    }
    if let (Some(have), Some(want)) = (m.weights_bytes, expected.gguf_bytes)
        && have != want
    {
        diffs.push(format!(
            "weights are {have} bytes, the configured GGUF {want}"
        ));
    }
    if diffs.is_empty() {
        Check::ok(
            scope,
            "ollama model",
            format!(
                "`{name}` registered in {}; template, stops, system prompt and weights match our Modelfile",
                store.display()
            ),
        )
    } else {
        Check::fail(
            scope,
            "ollama model",
            format!(
                "`{name}` is registered but does not match our Modelfile: {}",
                diffs.join("; ")
            ),
            fix,
        )
    }
}

// ---------------------------------------------------------------------------------------
// PyTorch
// ---------------------------------------------------------------------------------------

/// What the venv's Python reported (one `python -c`, run by doctor's gathering).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct PyProbe {
    #[serde(default)]
    pub packages: std::collections::BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub cuda: bool,
    #[serde(default)]
    pub cuda_devices: Vec<String>,
    #[serde(default)]
    pub mps: bool,
    #[serde(default)]
    pub threads: Option<u32>,
    #[serde(default)]
    pub torch_error: Option<String>,
}

/// Packages `python/generate.py` (CLI mode) needs: transformers on torch, gguf for a GGUF
/// model, accelerate for a device map.
pub const PY_CLI_PACKAGES: &[&str] = &["torch", "transformers", "accelerate", "gguf"];

/// Packages `python/pytorch_server.py` imports.
pub const PY_PACKAGES: &[&str] = &[
    "torch",
    "transformers",
    "accelerate",
    "gguf",
    "fastapi",
    "uvicorn",
];

/// The last line of the probe's stdout that parses as its JSON. Pure.
pub fn parse_py_probe(stdout: &str) -> Result<PyProbe, String> {
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<PyProbe>(l.trim()).ok())
        .ok_or_else(|| {
            format!(
                "no probe output ({})",
                stdout.trim().chars().take(200).collect::<String>()
            )
        })
}

/// The PyTorch lines: the interpreter, the `packages` the server (API mode,
/// [`PY_PACKAGES`]) or generate.py (CLI mode, [`PY_CLI_PACKAGES`]) needs, and the devices
/// torch sees against the one configured. `section`: the config section whose settings
/// the fixes name (`servers` or `engines`).
pub fn pytorch(
    scope: &str,
    section: &str,
    python: &Result<PathBuf, String>,
    probe: &Result<(PyProbe, Option<f64>), String>,
    device: &str,
    packages: &[&str],
) -> Vec<Check> {
    let py = match python {
        Ok(p) => p,
        Err(why) => {
            return vec![Check::fail(
                scope,
                "python",
                why.clone(),
                format!("scripts/setup.sh (creates the venv) or set {section}.{scope}.python"),
            )];
        }
    };
    let (p, secs) = match probe {
        Ok(x) => x,
        Err(why) => {
            return vec![Check::fail(
                scope,
                "python",
                format!("{}: {why}", py.display()),
                "scripts/setup.sh (reinstalls the venv's packages)",
            )];
        }
    };
    let mut out = vec![Check::ok(
        scope,
        "python",
        match secs {
            Some(secs) => format!("{} (probed in {secs:.1} s)", py.display()),
            None => format!(
                "{} (probed by an earlier doctor run; interpreter, packages and GPU devices unchanged since)",
                py.display()
            ),
        },
    )];
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|name| p.packages.get(*name).is_none_or(Option::is_none))
        .collect();
    let listed = packages
        .iter()
        .filter_map(|name| {
            p.packages
                .get(*name)
                .and_then(Option::as_deref)
                .map(|v| format!("{name} {v}"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    if missing.is_empty() && p.torch_error.is_none() {
        out.push(Check::ok(scope, "packages", listed));
    } else {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("missing {}", missing.join(", ")));
        }
        if let Some(e) = &p.torch_error {
            why.push(format!("import torch failed: {e}"));
        }
        out.push(Check::fail(
            scope,
            "packages",
            format!("{}{}", why.join("; "), if listed.is_empty() { String::new() } else { format!(" (have {listed})") }),
            "scripts/setup.sh (installs the pinned torch, transformers, accelerate, gguf, fastapi, uvicorn)",
        ));
    }
    if p.torch_error.is_none() {
        let mut seen = vec![format!(
            "cpu{}",
            p.threads
                .map(|t| format!(" ({t} threads)"))
                .unwrap_or_default()
        )];
        if p.cuda {
            seen.push(if p.cuda_devices.is_empty() {
                "cuda".to_string()
            } else {
                format!("cuda ({})", p.cuda_devices.join(", "))
            });
        }
        if p.mps {
            seen.push("mps".into());
        }
        let seen = seen.join(", ");
        let cuda = device == "cuda" || device.starts_with("cuda:");
        let mps = device == "mps" || device == "metal";
        if (cuda && !p.cuda) || (mps && !p.mps) {
            out.push(Check::fail(
                scope,
                "torch devices",
                format!("torch sees {seen}, not {device}"),
                if mps {
                    format!(
                        "set {section}.{scope}.device to cpu, or use a torch build with MPS (macOS 12.3+); PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 lifts its memory cap"
                    )
                } else {
                    format!(
                        "set {section}.{scope}.device to cpu, or install a CUDA build of torch matching the driver (scripts/setup.sh)"
                    )
                },
            ));
        } else {
            out.push(Check::ok(
                scope,
                "torch devices",
                format!("torch sees {seen}; runs on {device}"),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Uzu
// ---------------------------------------------------------------------------------------

/// Files the Lalamo converter writes into an Uzu model folder; Uzu loads every one.
pub const UZU_MODEL_FILES: [&str; 4] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "encoding.json",
];

/// An Uzu program (`name`: "binary" for the server, "cli binary" for CLI mode), found or
/// not. Uzu is not installable on this kind of host (no registry we reach has it; it
/// builds for Apple Metal), and a run skips an unnamed engine that is not installed, so
/// not found is "–" — unless a binary is `configured`: that one must exist, the run fails
/// without it, and so does this check.
pub fn uzu_binary(
    scope: &str,
    section: &str,
    name: &str,
    found: &Result<PathBuf, String>,
    configured: Option<&str>,
) -> Check {
    match (found, configured) {
        (Ok(p), _) => Check::ok(scope, name, p.display().to_string()),
        (Err(why), Some(_)) => Check::fail(
            scope,
            name,
            why.clone(),
            format!(
                "set {section}.{scope}.binary to Uzu's `cli` program (built from its source), or remove it to look on PATH and in $INFERBENCH_HOME/bin"
            ),
        ),
        (Err(_), None) => Check::skip(
            scope,
            name,
            "Uzu is not installed (it builds on macOS with Metal from its source; not installable here)",
        ),
    }
}

/// The Uzu model folder: a folder (not a file) holding every file of Lalamo's output
/// ([`UZU_MODEL_FILES`]; `missing`: those it lacks). `runs_as`: how the engine is given
/// it, for the ✓ line; `None` when it cannot be given (no parent folder for
/// `LOCAL_PATH`).
pub fn uzu_folder(
    scope: &str,
    section: &str,
    folder: &ModelFacts,
    missing: &[String],
    runs_as: Option<&str>,
) -> Check {
    match folder {
        ModelFacts::Other {
            path,
            dir: true,
            bytes,
        } => {
            if !missing.is_empty() {
                return Check::fail(
                    scope,
                    "model folder",
                    format!(
                        "{} lacks {}: not a converted Uzu model (Lalamo writes {})",
                        path.display(),
                        missing.join(", "),
                        UZU_MODEL_FILES.join(", ")
                    ),
                    format!(
                        "convert the model into it with Lalamo: `lalamo convert google/gemma-3-1b-it --output-dir {}` (your model's Hugging Face id), or set {section}.{scope}.model_path to a converted folder",
                        path.display()
                    ),
                );
            }
            match runs_as {
                Some(how) => Check::ok(
                    scope,
                    "model folder",
                    format!(
                        "{} ({}, {}; {how})",
                        path.display(),
                        UZU_MODEL_FILES.join(", "),
                        human_bytes(*bytes)
                    ),
                ),
                None => Check::fail(
                    scope,
                    "model folder",
                    format!("{}: no parent folder to use as LOCAL_PATH", path.display()),
                    format!("set {section}.{scope}.model_path to a folder inside a models folder"),
                ),
            }
        }
        ModelFacts::Other {
            path, dir: false, ..
        }
        | ModelFacts::Gguf(path, _) => Check::fail(
            scope,
            "model folder",
            format!(
                "{} is a file; Uzu wants a model folder (Lalamo's output)",
                path.display()
            ),
            format!(
                "set {section}.{scope}.model_path to the Uzu model folder (e.g. models/gemma-3-1b-it)"
            ),
        ),
        other => model(scope, section, other),
    }
}

/// The subcommands a program's `--help` lists: the first word of each line indented by
/// at most four spaces under `Commands:` (clap) or `SUBCOMMANDS:` (older clap), up to
/// the next blank line or heading (deeper lines continue a description). Pure.
pub fn parse_subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        let trimmed = line.trim();
        if matches!(trimmed, "Commands:" | "SUBCOMMANDS:" | "Subcommands:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if trimmed.is_empty() || indent == 0 {
            inside = false;
        } else if indent <= 4
            && let Some(word) = trimmed.split_whitespace().next()
        {
            out.push(word.to_string());
        }
    }
    out
}

/// Uzu's `cli` in CLI mode: its `--help` must list `bench` (what CLI mode runs), or
/// `run` (0.4.x; CLI mode falls back to it). Anything else is not Uzu's `cli` (a program
/// of that generic name found on PATH, say).
pub fn uzu_cli_tool(scope: &str, program: &Path, help: &Result<String, String>) -> Check {
    let fix = format!(
        "set engines.{scope}.binary to Uzu's `cli` program (0.5.x has `cli bench`), built from its source"
    );
    let subcommands = match help {
        Ok(text) => parse_subcommands(text),
        Err(why) => {
            return Check::fail(
                scope,
                "cli bench",
                format!("`{} --help` failed: {why}", program.display()),
                fix,
            );
        }
    };
    let has = |s: &str| subcommands.iter().any(|c| c == s);
    if has("bench") {
        Check::ok(
            scope,
            "cli bench",
            format!(
                "{} has `bench` (CLI mode runs `cli bench MODEL task.json out.json`)",
                program.display()
            ),
        )
    } else if has("run") {
        Check::ok(
            scope,
            "cli bench",
            format!(
                "{} has no `bench` but `run` (0.4.x): CLI mode falls back to `cli run -m`, which takes no system prompt",
                program.display()
            ),
        )
    } else {
        Check::fail(
            scope,
            "cli bench",
            format!(
                "`{} --help` lists neither `bench` nor `run` (subcommands: {}): not Uzu's `cli`",
                program.display(),
                if subcommands.is_empty() {
                    "none".to_string()
                } else {
                    subcommands.join(", ")
                }
            ),
            fix,
        )
    }
}

// ---------------------------------------------------------------------------------------
// CLI mode's tools
// ---------------------------------------------------------------------------------------

/// llama.cpp in CLI mode: the one-shot tool found (`llama-completion`, else an older
/// `llama-cli`) and whether it starts (`--version`).
pub fn llamacpp_cli_tool(
    scope: &str,
    found: &Result<PathBuf, String>,
    version: &Result<String, String>,
) -> Check {
    let path = match found {
        Ok(p) => p,
        Err(why) => {
            let mut c = binary_missing(scope, "engines", why);
            c.name = "cli binary".into();
            return c;
        }
    };
    let text = match version {
        Ok(t) => t,
        Err(why) => {
            return Check::fail(
                scope,
                "cli binary",
                format!("{} does not start: {why}", path.display()),
                format!("scripts/setup.sh (reinstalls llama.cpp), or set engines.{scope}.binary"),
            );
        }
    };
    let v = parse_llama_version(text);
    let version = v.version.as_deref().unwrap_or("unknown");
    let completion = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("llama-completion"));
    Check::ok(
        scope,
        "cli binary",
        if completion {
            format!(
                "{} (version {version}; CLI mode: one-shot with -no-cnv)",
                path.display()
            )
        } else {
            format!(
                "{} (version {version}; no llama-completion: CLI mode runs it with -no-cnv, or, if it is the chat-only llama-cli, with --simple-io -st and the GGUF's own template)",
                path.display()
            )
        },
    )
}

/// PyTorch in CLI mode: the built-in `python/generate.py` starts (`--help`) with the
/// interpreter CLI mode runs it with.
pub fn generate_script(scope: &str, python: &Path, help: &Result<String, String>) -> Check {
    match help {
        Ok(_) => Check::ok(
            scope,
            "cli script",
            format!(
                "python/generate.py (built in) starts with {}",
                python.display()
            ),
        ),
        Err(why) => Check::fail(
            scope,
            "cli script",
            format!(
                "python/generate.py does not start with {}: {why}",
                python.display()
            ),
            format!(
                "scripts/setup.sh (the venv), or set engines.{scope}.python to a Python 3 with torch and transformers"
            ),
        ),
    }
}

/// An engine kind without a command-line tool (a generic OpenAI server, the synthetic
/// engine) selected in CLI mode: `inferbench cli` refuses it.
pub fn no_cli_tool(scope: &str, kind: &str) -> Check {
    Check::fail(
        scope,
        "cli tool",
        format!("kind `{kind}` has no command-line tool to benchmark in CLI mode"),
        format!("use `inferbench api` for it, or set engines.{scope}.enabled to false"),
    )
}

// ---------------------------------------------------------------------------------------
// Shared inputs
// ---------------------------------------------------------------------------------------

/// The tokenizer line: not configured is "–" (token counts then come from the engines
/// only and the fairness check compares text), configured but unreadable fails.
pub fn tokenizer(path: Option<&Path>, loaded: &Result<(u64, Option<f64>), String>) -> Check {
    let Some(path) = path else {
        return Check::skip(
            "inputs",
            "tokenizer",
            "none configured: token counts from the engines; fairness compares text only",
        );
    };
    match loaded {
        Ok((tokens, secs)) => Check::ok(
            "inputs",
            "tokenizer",
            format!(
                "{} loads ({}; the first prompt is {tokens} tokens)",
                path.display(),
                match secs {
                    Some(s) => format!("in {s:.2} s"),
                    None => "loaded by an earlier doctor run, unchanged since".to_string(),
                }
            ),
        ),
        Err(why) => Check::fail(
            "inputs",
            "tokenizer",
            format!("{}: {why}", path.display()),
            "scripts/setup.sh (exports tokenizer.json), or fix inferbench.tokenizer",
        ),
    }
}

/// The chat-template line: the reference template renders the first prompt.
pub fn template(spec: &str, rendered: &Result<(String, usize), String>) -> Check {
    match rendered {
        Ok((name, chars)) => Check::ok(
            "inputs",
            "chat template",
            format!("{name} renders the first prompt ({chars} characters)"),
        ),
        Err(why) => Check::fail(
            "inputs",
            "chat template",
            format!("`{spec}`: {why}"),
            "set inferbench.chat_template to gemma3, chatml, a .jinja file, a tokenizer_config.json or a .gguf",
        ),
    }
}

/// What is known about the memory-bandwidth figure.
#[derive(Debug, Clone, PartialEq)]
pub enum BandwidthFacts {
    Configured(f64),
    Cached {
        gbps: f64,
        path: PathBuf,
        describe: String,
        /// Age in hours, when its time stamp parses.
        age_hours: Option<f64>,
        /// Measured often enough to be used without probing again.
        settled: bool,
    },
    /// No cached figure for this host.
    None(Option<PathBuf>),
}

/// The bandwidth line: configured, cached (with age and source), or not measured yet
/// ("–": the first benchmark measures it).
pub fn bandwidth(facts: &BandwidthFacts) -> Check {
    match facts {
        BandwidthFacts::Configured(g) => Check::ok(
            "inputs",
            "bandwidth",
            format!("{g:.1} GB/s configured (inferbench.memory_bandwidth_gbps)"),
        ),
        BandwidthFacts::Cached {
            gbps,
            path,
            describe,
            age_hours,
            settled,
        } => {
            let age = match age_hours {
                Some(h) if *h < 1.0 => format!("{:.0} min old", h * 60.0),
                Some(h) if *h < 48.0 => format!("{h:.1} h old"),
                Some(h) => format!("{:.0} days old", h / 24.0),
                None => "age unknown".into(),
            };
            Check::ok(
                "inputs",
                "bandwidth",
                format!(
                    "{gbps:.1} GB/s, {age}, cached in {} ({describe}){}",
                    path.display(),
                    if *settled {
                        ""
                    } else {
                        "; not settled yet: the next run probes again"
                    }
                ),
            )
        }
        BandwidthFacts::None(path) => Check::skip(
            "inputs",
            "bandwidth",
            format!(
                "not measured on this host yet: the first benchmark probes it (a few seconds){}",
                path.as_ref()
                    .map(|p| format!(" and caches it in {}", p.display()))
                    .unwrap_or_default()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_is_two_only_with_a_failure() {
        let ok = Check::ok("host", "os", "linux");
        let skip = Check::skip("uzu", "binary", "not installed");
        assert_eq!(exit_code(&[ok.clone(), skip.clone()]), 0);
        let bad = Check::fail("x", "port", "taken", "kill 1");
        assert_eq!(exit_code(&[ok, skip, bad]), 2);
        assert_eq!(exit_code(&[]), 0);
    }

    #[test]
    fn llama_version_and_backends() {
        let text = "load_backend: loaded CPU backend from /x/libggml-cpu.so\n\
                    ggml_cuda_init: found 1 CUDA devices:\n\
                    version: 6123 (abc1234)\nbuilt with cc (GCC) 13.2 for x86_64-linux-gnu\n";
        let v = parse_llama_version(text);
        assert_eq!(v.version.as_deref(), Some("6123 (abc1234)"));
        assert_eq!(
            v.built_with.as_deref(),
            Some("cc (GCC) 13.2 for x86_64-linux-gnu")
        );
        assert_eq!(v.backends, vec!["CPU".to_string(), "CUDA".to_string()]);
        let libs: Vec<String> = [
            "libggml-base.so",
            "libggml-cpu.so.0",
            "libggml-cpu-haswell.so",
            "libggml-cuda.so",
            "libllama.so",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(backends_from_libs(&libs), vec!["CPU", "CUDA"]);
    }

    #[test]
    fn a_cpu_build_fails_a_cuda_device_and_passes_cpu() {
        let found = Ok(PathBuf::from("/bin/llama-server"));
        let v = parse_llama_version("version: 1 (x)\n");
        let cpu = vec!["CPU".to_string()];
        let on_cpu = llamacpp_binary("llamacpp", &found, Some(&v), &cpu, "cpu");
        assert!(on_cpu.iter().all(|c| c.status == Status::Ok), "{on_cpu:?}");
        let on_cuda = llamacpp_binary("llamacpp", &found, Some(&v), &cpu, "cuda");
        let build = on_cuda.iter().find(|c| c.name == "build").unwrap();
        assert_eq!(build.status, Status::Fail);
        assert!(build.fix.as_deref().unwrap().contains("GGML_CUDA"));
        let missing = llamacpp_binary("llamacpp", &Err("not on PATH".into()), None, &[], "cpu");
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].status, Status::Fail);
        assert!(
            missing[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("scripts/setup.sh")
        );
    }

    #[test]
    fn ollama_version_with_and_without_a_server() {
        assert_eq!(
            parse_ollama_version(
                "Warning: could not connect to a running Ollama instance\nWarning: client version is 0.17.4\n"
            )
            .as_deref(),
            Some("0.17.4")
        );
        assert_eq!(
            parse_ollama_version("ollama version is 0.5.1").as_deref(),
            Some("0.5.1")
        );
        assert_eq!(parse_ollama_version("nothing"), None);
    }

    #[test]
    fn missing_model_names_setup_and_the_key() {
        let c = model(
            "llamacpp",
            "servers",
            &ModelFacts::Missing("/m/x.gguf".into()),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("/m/x.gguf"));
        let fix = c.fix.unwrap();
        assert!(fix.contains("scripts/setup.sh") && fix.contains("servers.llamacpp.model_path"));
        let g = model(
            "llamacpp",
            "servers",
            &ModelFacts::Gguf(
                "/m/x.gguf".into(),
                Ok(GgufSummary {
                    architecture: Some("gemma3".into()),
                    file_size: 253 << 20,
                    tensors: 236,
                    has_chat_template: false,
                }),
            ),
        );
        assert_eq!(g.status, Status::Ok);
        assert!(g.detail.contains("gemma3") && g.detail.contains("253.0 MiB"));
        assert!(g.detail.contains("no chat template"));
    }

    #[test]
    fn held_port_names_the_pid_to_kill_or_our_server() {
        let held = PortState::Held {
            holders: vec![Holder {
                pid: 4242,
                command: "python3 -m http.server".into(),
            }],
            ours: None,
        };
        let c = port("llamacpp", "127.0.0.1", 8002, &held);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("pid 4242"), "{}", c.detail);
        let fix = c.fix.unwrap();
        assert!(fix.contains("kill 4242") && fix.contains("servers.llamacpp.port"));
        let ours = PortState::Held {
            holders: vec![],
            ours: Some("llamacpp".into()),
        };
        let fix = port("llamacpp", "127.0.0.1", 8002, &ours).fix.unwrap();
        assert!(fix.contains("inferbench server stop llamacpp"), "{fix}");
        assert_eq!(
            port("llamacpp", "127.0.0.1", 8002, &PortState::Free).status,
            Status::Ok
        );
    }

    #[test]
    fn proc_net_tcp_listeners_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F42 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F42 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 20 4 30 10 -1\n\
   2: 00000000:2B67 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 8002), vec![123456]);
        assert_eq!(listening_inodes(table, 11111), vec![999]);
        assert!(listening_inodes(table, 1).is_empty());
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:1F42 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inodes(v6, 8002), vec![555]);
        assert_eq!(socket_inode("socket:[123456]"), Some(123456));
        assert_eq!(socket_inode("pipe:[1]"), None);
    }

    #[test]
    fn ollama_manifest_paths() {
        let s = Path::new("/s");
        assert_eq!(
            ollama_manifest_path(s, "gemma-3-270m-bench"),
            Path::new("/s/manifests/registry.ollama.ai/library/gemma-3-270m-bench/latest")
        );
        assert_eq!(
            ollama_manifest_path(s, "gemma3:270m"),
            Path::new("/s/manifests/registry.ollama.ai/library/gemma3/270m")
        );
        assert_eq!(
            ollama_manifest_path(s, "me/model"),
            Path::new("/s/manifests/registry.ollama.ai/me/model/latest")
        );
        assert_eq!(
            ollama_manifest_path(s, "host:5000/ns/m:v1"),
            Path::new("/s/manifests/host:5000/ns/m/v1")
        );
    }

    const PREPARE: &str = "inferbench models prepare";

    fn expected() -> ExpectedOllama {
        ExpectedOllama {
            gguf_bytes: Some(100),
            template: "T".into(),
            stops: vec!["<end_of_turn>".into()],
            system: "S".into(),
        }
    }

    #[test]
    fn ollama_registration_is_compared_with_our_modelfile() {
        let store = Path::new("/s");
        let good = OllamaModel {
            weights_bytes: Some(100),
            template: Some("T".into()),
            system: Some("S".into()),
            params: Some(serde_json::json!({"stop": ["<end_of_turn>"], "num_predict": 32})),
        };
        let c = ollama_model(
            "ollama",
            "m",
            store,
            &Ok(good.clone()),
            &expected(),
            PREPARE,
        );
        assert_eq!(c.status, Status::Ok, "{c:?}");
        let mut bad = good.clone();
        bad.template = Some("{{ .Prompt }}".into());
        bad.weights_bytes = Some(5);
        let c = ollama_model("ollama", "m", store, &Ok(bad), &expected(), PREPARE);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("TEMPLATE") && c.detail.contains("weights"));
        assert_eq!(c.fix.as_deref(), Some("inferbench models prepare"));
        let c = ollama_model(
            "ollama",
            "m",
            store,
            &Err("no manifest".into()),
            &expected(),
            PREPARE,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().starts_with("inferbench models prepare"));
    }

    #[test]
    fn pytorch_probe_parses_and_judges_devices() {
        let out = "some warning\n{\"packages\": {\"torch\": \"2.5.0\", \"transformers\": \"4.50\", \"accelerate\": \"1\", \"gguf\": \"0.1\", \"fastapi\": \"0.1\", \"uvicorn\": \"0.1\"}, \"cuda\": false, \"cuda_devices\": [], \"mps\": false, \"threads\": 2}\n";
        let p = parse_py_probe(out).unwrap();
        assert_eq!(p.packages["torch"].as_deref(), Some("2.5.0"));
        let py = Ok(PathBuf::from("/v/bin/python"));
        let cpu = pytorch(
            "pytorch",
            "servers",
            &py,
            &Ok((p.clone(), Some(2.0))),
            "cpu",
            PY_PACKAGES,
        );
        assert!(cpu.iter().all(|c| c.status == Status::Ok), "{cpu:?}");
        let cuda = pytorch(
            "pytorch",
            "servers",
            &py,
            &Ok((p.clone(), Some(2.0))),
            "cuda",
            PY_PACKAGES,
        );
        let dev = cuda.iter().find(|c| c.name == "torch devices").unwrap();
        assert_eq!(dev.status, Status::Fail);
        let mps = pytorch(
            "pytorch",
            "servers",
            &py,
            &Ok((p.clone(), Some(2.0))),
            "mps",
            PY_PACKAGES,
        );
        let dev = mps.iter().find(|c| c.name == "torch devices").unwrap();
        assert!(
            dev.fix
                .as_deref()
                .unwrap()
                .contains("PYTORCH_MPS_HIGH_WATERMARK_RATIO")
        );
        // generate.py (CLI mode) needs no web server packages.
        let mut no_server = p.clone();
        no_server.packages.insert("fastapi".into(), None);
        let ok = |c: &[Check]| c.iter().find(|c| c.name == "packages").unwrap().status;
        let probe = Ok((no_server, Some(2.0)));
        let api = pytorch("pytorch", "servers", &py, &probe, "cpu", PY_PACKAGES);
        assert_eq!(ok(&api), Status::Fail);
        let cli = pytorch("pytorch", "engines", &py, &probe, "cpu", PY_CLI_PACKAGES);
        assert_eq!(ok(&cli), Status::Ok);
        let mut no_tf = p;
        no_tf.packages.insert("transformers".into(), None);
        let probe = Ok((no_tf, Some(2.0)));
        let c = pytorch("pytorch", "engines", &py, &probe, "cuda", PY_CLI_PACKAGES);
        let pk = c.iter().find(|c| c.name == "packages").unwrap();
        assert_eq!(pk.status, Status::Fail);
        assert!(pk.detail.contains("missing transformers"));
        let dev = c.iter().find(|c| c.name == "torch devices").unwrap();
        assert!(
            dev.fix
                .as_deref()
                .unwrap()
                .contains("engines.pytorch.device")
        );
        assert!(parse_py_probe("Traceback ...").is_err());
    }

    #[test]
    fn uzu_not_installed_is_a_dash_unless_a_binary_is_configured() {
        let missing = Err("not on PATH".to_string());
        let c = uzu_binary("uzu", "servers", "binary", &missing, None);
        assert_eq!(c.status, Status::Skip);
        let c = uzu_binary("uzu", "servers", "binary", &missing, Some("/opt/uzu/cli"));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.fix.unwrap().contains("servers.uzu.binary"));
        let found = Ok(PathBuf::from("/bin/cli"));
        let c = uzu_binary("uzu", "engines", "cli binary", &found, Some("/bin/cli"));
        assert_eq!((c.status, c.name.as_str()), (Status::Ok, "cli binary"));
    }

    #[test]
    fn uzu_folder_needs_every_file_of_lalamos_output() {
        let folder = ModelFacts::Other {
            path: "/models/gemma-3-1b-it".into(),
            bytes: 1,
            dir: true,
        };
        let how = "LOCAL_PATH=/models cli server --model gemma-3-1b-it";
        let c = uzu_folder("uzu", "servers", &folder, &[], Some(how));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains(how), "{}", c.detail);
        let c = uzu_folder(
            "uzu",
            "servers",
            &folder,
            &["encoding.json".to_string()],
            Some(how),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("lacks encoding.json"), "{}", c.detail);
        let fix = c.fix.unwrap();
        assert!(
            fix.contains("lalamo convert google/gemma-3-1b-it --output-dir /models/gemma-3-1b-it")
                && fix.contains("servers.uzu.model_path"),
            "{fix}"
        );
        let c = uzu_folder("uzu", "servers", &folder, &[], None);
        assert_eq!(c.status, Status::Fail);
        let file = ModelFacts::Gguf("/m/x.gguf".into(), Err("x".into()));
        let c = uzu_folder("uzu", "engines", &file, &[], Some(how));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("engines.uzu.model_path"));
        let gone = ModelFacts::Missing("/models/nope".into());
        assert_eq!(
            uzu_folder("uzu", "servers", &gone, &[], None).status,
            Status::Fail
        );
    }

    #[test]
    fn uzu_cli_must_have_bench_or_run() {
        let help = "Uzu CLI\n\nUsage: cli <COMMAND>\n\nCommands:\n  bench             Run a benchmark\n                    described in a task file\n  list-models       List models\n  server            Start a server\n  help              Print this message\n\nOptions:\n  -h, --help  Print help\n";
        assert_eq!(
            parse_subcommands(help),
            ["bench", "list-models", "server", "help"]
        );
        let p = Path::new("/bin/cli");
        assert_eq!(uzu_cli_tool("uzu", p, &Ok(help.into())).status, Status::Ok);
        let old = "USAGE:\n    uzu_cli <SUBCOMMAND>\n\nSUBCOMMANDS:\n    run      Run once\n    serve    Serve\n";
        let c = uzu_cli_tool("uzu", p, &Ok(old.into()));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("falls back"), "{}", c.detail);
        // Some other program called `cli`.
        let c = uzu_cli_tool("uzu", p, &Ok("usage: cli [-v] FILE\n".into()));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("engines.uzu.binary"));
        let c = uzu_cli_tool("uzu", p, &Err("exit status 127".into()));
        assert_eq!(c.status, Status::Fail);
    }

    #[test]
    fn cli_mode_tools() {
        let v = Ok("version: 7000 (abc)\nbuilt with cc\n".to_string());
        let c = llamacpp_cli_tool("llamacpp", &Ok("/b/llama-completion".into()), &v);
        assert_eq!((c.status, c.name.as_str()), (Status::Ok, "cli binary"));
        assert!(c.detail.contains("version 7000 (abc)"), "{}", c.detail);
        let c = llamacpp_cli_tool("llamacpp", &Ok("/b/llama-cli".into()), &v);
        assert!(c.detail.contains("no llama-completion"), "{}", c.detail);
        let c = llamacpp_cli_tool(
            "llamacpp",
            &Ok("/b/llama-completion".into()),
            &Err("libggml.so: cannot open shared object file".into()),
        );
        assert_eq!(c.status, Status::Fail);
        let c = llamacpp_cli_tool("llamacpp", &Err("not found".into()), &v);
        assert_eq!((c.status, c.name.as_str()), (Status::Fail, "cli binary"));
        assert!(c.fix.unwrap().contains("engines.llamacpp.binary"));
        let py = Path::new("/v/bin/python");
        assert_eq!(
            generate_script("pytorch", py, &Ok(String::new())).status,
            Status::Ok
        );
        let c = generate_script("pytorch", py, &Err("SyntaxError".into()));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("engines.pytorch.python"));
        assert_eq!(no_cli_tool("m", "mock").status, Status::Fail);
    }

    #[test]
    fn bandwidth_age_and_absence() {
        let c = bandwidth(&BandwidthFacts::Cached {
            gbps: 51.6,
            path: "/c/bandwidth.json".into(),
            describe: "probe".into(),
            age_hours: Some(0.5),
            settled: true,
        });
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("51.6 GB/s") && c.detail.contains("30 min old"));
        assert_eq!(bandwidth(&BandwidthFacts::None(None)).status, Status::Skip);
    }

    #[test]
    fn device_cuda_without_gpu_fails() {
        assert_eq!(
            device("llamacpp", "servers", "cuda", "configured", false).status,
            Status::Fail
        );
        assert_eq!(
            device("llamacpp", "servers", "cpu", "auto: no GPU found", false).status,
            Status::Ok
        );
    }
}
