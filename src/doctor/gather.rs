//! The I/O of `inferbench doctor`: everything it looks at, as facts for
//! [`crate::checks`]. Nothing here decides ✓ or ✗. Programs run through
//! [`crate::climode::exec::run_process`] (own process group, timeout, whole group killed).

use crate::checks::{
    BandwidthFacts, GgufSummary, Gpu, Holder, ModelFacts, PortState, listening_inodes, socket_inode,
};
use crate::engines::llamacpp::doctor::{LlamaVersion, parse_llama_version};
use crate::engines::ollama::doctor::OllamaModel;
use crate::engines::pytorch::doctor::{PyProbe, parse_py_probe};
use crate::process::CommandSpec;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Grace between SIGTERM and SIGKILL for a probe that ran past its timeout.
const GRACE: Duration = Duration::from_millis(500);

/// The GPUs NVML lists, or why it could not be asked (no driver, no library).
pub fn nvml_gpus() -> Result<Vec<Gpu>, String> {
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| e.to_string())?;
    let n = nvml.device_count().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..n {
        let dev = nvml.device_by_index(i).map_err(|e| e.to_string())?;
        out.push(Gpu {
            name: dev.name().unwrap_or_else(|_| format!("GPU {i}")),
            memory_bytes: dev.memory_info().ok().map(|m| m.total),
        });
    }
    Ok(out)
}

/// Run `spec`, returning stdout and stderr together (or why it could not run).
pub async fn output_of(spec: &CommandSpec, timeout: Duration) -> Result<String, String> {
    let o = crate::climode::exec::run_process(spec, timeout, GRACE)
        .await
        .map_err(|e| format!("{e:#}"))?;
    if o.timed_out {
        return Err(format!("no answer within {:.0} s", timeout.as_secs_f64()));
    }
    Ok(format!("{}\n{}", o.stdout_text(), o.stderr_text()))
}

/// Run `spec` as a check that the program starts and answers: stdout and stderr together
/// when it exits 0, else why not (it could not start, ran past `timeout`, or failed).
pub async fn answers(spec: &CommandSpec, timeout: Duration) -> Result<String, String> {
    let o = crate::climode::exec::run_process(spec, timeout, GRACE)
        .await
        .map_err(|e| format!("{e:#}"))?;
    if o.timed_out {
        return Err(format!("no answer within {:.0} s", timeout.as_secs_f64()));
    }
    if !o.success() {
        return Err(o.failure_reason());
    }
    Ok(format!("{}\n{}", o.stdout_text(), o.stderr_text()))
}

/// Which of `names` are not files inside `dir`.
pub fn missing_files(dir: &Path, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|n| !dir.join(n).is_file())
        .map(|n| n.to_string())
        .collect()
}

/// `python generate.py --help` with CLI mode's own script, written to a scratch folder
/// the way CLI mode writes it ([`crate::engines::pytorch::cli::write_script`]): the script
/// starts with this interpreter (its imports beside torch, its argument parser).
pub async fn generate_script_help(python: &Path, timeout: Duration) -> Result<String, String> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "inferbench-doctor-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let result = async {
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let script =
            crate::engines::pytorch::cli::write_script(&dir).map_err(|e| format!("{e:#}"))?;
        answers(
            &CommandSpec::new(python).arg(&script).arg("--help"),
            timeout,
        )
        .await
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `llama-server --version` (version and build on stderr).
pub async fn llama_version(binary: &Path) -> Option<LlamaVersion> {
    let text = output_of(
        &CommandSpec::new(binary).arg("--version"),
        Duration::from_secs(5),
    )
    .await
    .ok()?;
    Some(parse_llama_version(&text))
}

/// File names beside the real (symlink-resolved) binary: a shared-library build's
/// back ends live there.
pub fn names_beside(binary: &Path) -> Vec<String> {
    let real = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let Some(dir) = real.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What is at a configured model path; a GGUF's header is read (never its tensors).
pub fn model_facts(path: Option<PathBuf>) -> ModelFacts {
    let Some(path) = path else {
        return ModelFacts::NotConfigured;
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return ModelFacts::Missing(path);
    };
    let is_gguf = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    if meta.is_file() && is_gguf {
        let summary = crate::gguf::GgufInfo::read(&path)
            .map(|g| GgufSummary {
                architecture: g.architecture().map(str::to_string),
                file_size: g.file_size,
                tensors: g.tensors.len(),
                has_chat_template: g.chat_template().is_some(),
            })
            .map_err(|e| format!("{e:#}"));
        return ModelFacts::Gguf(path, summary);
    }
    let bytes = if meta.is_dir() {
        dir_bytes(&path, 3)
    } else {
        meta.len()
    };
    ModelFacts::Other {
        path,
        bytes,
        dir: meta.is_dir(),
    }
}

/// Bytes of the files under `dir`, `depth` levels deep at most.
fn dir_bytes(dir: &Path, depth: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_file() => m.len(),
            Ok(m) if m.is_dir() && depth > 0 => dir_bytes(&e.path(), depth - 1),
            _ => 0,
        })
        .sum()
}

/// Try to bind `host:port`; when it is taken, find who holds it (`/proc/net/tcp*` inode
/// → `/proc/PID/fd`) and whether it is a server `inferbench server start` left running.
pub fn port_state(host: &str, port: u16) -> PortState {
    match std::net::TcpListener::bind((host, port)) {
        Ok(_) => PortState::Free,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let holders = holders_of(port);
            let ours = crate::server::read_state(&crate::server::state_path())
                .ok()
                .and_then(|state| {
                    state
                        .into_values()
                        .find(|s| s.port == port && s.is_running())
                        .map(|s| s.engine)
                });
            PortState::Held { holders, ours }
        }
        Err(e) => PortState::Error(e.to_string()),
    }
}

/// The processes with a listening socket on `port`, as far as `/proc` shows them.
fn holders_of(port: u16) -> Vec<Holder> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Holder> = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| socket_inode(&l.to_string_lossy()))
                .is_some_and(|i| inodes.contains(&i))
        });
        if holds {
            out.push(Holder {
                pid,
                command: command_line(pid),
            });
        }
    }
    out
}

/// A process's command line, shortened for one line.
fn command_line(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let line = if words.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    } else {
        words.join(" ")
    };
    if line.chars().count() > 80 {
        format!("{}…", line.chars().take(79).collect::<String>())
    } else {
        line
    }
}

/// Read a registered model's manifest and its small layers from an Ollama store.
pub fn ollama_registered(store: &Path, name: &str) -> Result<OllamaModel, String> {
    let manifest = crate::engines::ollama::manifest_path(store, name);
    let text = std::fs::read_to_string(&manifest)
        .map_err(|_| format!("no manifest {}", manifest.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("manifest {}: {e}", manifest.display()))?;
    let mut m = OllamaModel::default();
    let layers = v
        .get("layers")
        .and_then(|l| l.as_array())
        .cloned()
        .unwrap_or_default();
    for layer in layers {
        let media = layer
            .get("mediaType")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let digest = layer.get("digest").and_then(|d| d.as_str()).unwrap_or("");
        let size = layer.get("size").and_then(|s| s.as_u64());
        let blob =
            || std::fs::read_to_string(store.join("blobs").join(digest.replace(':', "-"))).ok();
        match media {
            "application/vnd.ollama.image.model" => m.weights_bytes = size,
            "application/vnd.ollama.image.template" => m.template = blob(),
            "application/vnd.ollama.image.system" => m.system = blob(),
            "application/vnd.ollama.image.params" => {
                m.params = blob().and_then(|t| serde_json::from_str(&t).ok())
            }
            _ => {}
        }
    }
    Ok(m)
}

/// What the PyTorch server needs from its Python, asked in one `python -c`: package
/// versions from their metadata (importing transformers alone costs seconds), and the
/// devices torch sees (importing torch cannot be avoided for that).
const PY_PROBE: &str = r#"
import json, importlib.metadata as md
out = {"packages": {}}
for name in ("torch", "transformers", "accelerate", "gguf", "fastapi", "uvicorn"):
    try:
        out["packages"][name] = md.version(name)
    except Exception:
        out["packages"][name] = None
try:
    import torch
    out["cuda"] = bool(torch.cuda.is_available())
    out["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if out["cuda"] else []
    mps = getattr(torch.backends, "mps", None)
    out["mps"] = bool(mps is not None and mps.is_available())
    out["threads"] = torch.get_num_threads()
except Exception as e:
    out["torch_error"] = repr(e)[:300]
print(json.dumps(out))
"#;

/// Run the probe with `python`; the seconds it took come with the answer (`None`: the
/// answer of an earlier doctor run, see [`python_key`]). Importing torch takes seconds,
/// so a clean answer is remembered in `$INFERBENCH_HOME/doctor-cache.json`.
pub async fn python_probe(
    python: PathBuf,
    timeout: Duration,
) -> Result<(PyProbe, Option<f64>), String> {
    let key = python_key(&python);
    if let Some(hit) = key.as_deref().and_then(|k| cache_get("python", k))
        && let Ok(p) = serde_json::from_value::<PyProbe>(hit)
    {
        return Ok((p, None));
    }
    let t0 = Instant::now();
    let o = crate::climode::exec::run_process(
        &CommandSpec::new(&python).arg("-c").arg(PY_PROBE),
        timeout,
        GRACE,
    )
    .await
    .map_err(|e| format!("{e:#}"))?;
    let secs = t0.elapsed().as_secs_f64();
    if o.timed_out {
        return Err(format!(
            "no answer within {:.0} s (import torch hung?)",
            timeout.as_secs_f64()
        ));
    }
    if !o.success() {
        return Err(o.failure_reason());
    }
    let probe = parse_py_probe(&o.stdout_text())?;
    if let Some(key) = key
        && probe.torch_error.is_none()
        && let Ok(value) = serde_json::to_value(&probe)
    {
        cache_put("python", &key, value);
    }
    Ok((probe, Some(secs)))
}

/// What decides the Python probe's answer, as a cache key: the interpreter (path and
/// modification time), its venv's site-packages folders (a directory's modification time
/// changes when a package is installed, upgraded or removed), the GPU device nodes and
/// driver version torch would find, the variables that hide devices from it, the probe's
/// text and this inferbench's version. `None` (never cached) for an interpreter outside a
/// venv, whose packages we cannot watch this way.
fn python_key(python: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| format!("{}.{}", m.mtime(), m.mtime_nsec()))
    };
    let real = std::fs::canonicalize(python).ok()?;
    let venv = python.parent()?.parent()?;
    let mut site: Vec<String> = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .filter_map(|p| Some(format!("{}@{}", p.display(), stamp(&p)?)))
        .collect();
    if site.is_empty() {
        return None;
    }
    site.sort();
    let mut devices: Vec<String> = std::fs::read_dir("/dev")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("nvidia") || n == "kfd")
                .collect()
        })
        .unwrap_or_default();
    devices.sort();
    let driver = std::fs::read_to_string("/proc/driver/nvidia/version").unwrap_or_default();
    let hidden: Vec<String> = [
        "CUDA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    ]
    .iter()
    .map(|v| format!("{v}={}", std::env::var(v).unwrap_or_default()))
    .collect();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (PY_PROBE, &devices, &driver, &hidden).hash(&mut h);
    Some(format!(
        "{}@{}|{}|{}|{:016x}",
        real.display(),
        stamp(&real)?,
        site.join(","),
        env!("CARGO_PKG_VERSION"),
        h.finish()
    ))
}

/// `$INFERBENCH_HOME/doctor-cache.json`: what slow checks found, each entry under its
/// name with the key it is valid for.
fn cache_path() -> Option<PathBuf> {
    crate::config::setup_home().map(|h| h.join("doctor-cache.json"))
}

fn cache_read(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The value remembered under `name`, when it was remembered for `key`.
fn cache_get(name: &str, key: &str) -> Option<serde_json::Value> {
    let mut all = cache_read(&cache_path()?);
    let entry = all.remove(name)?;
    (entry.get("key")?.as_str()? == key).then(|| entry.get("value").cloned())?
}

/// Remember `value` under `name` for `key` (atomically: written aside, then renamed). A
/// cache that cannot be written is no error: the check runs again next time.
fn cache_put(name: &str, key: &str, value: serde_json::Value) {
    let Some(path) = cache_path() else { return };
    let mut all = cache_read(&path);
    all.insert(name.into(), serde_json::json!({"key": key, "value": value}));
    if let Ok(text) = serde_json::to_string_pretty(&all) {
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// Load a tokenizer.json and count `text`. Loading Gemma's 262k-token vocabulary takes
/// seconds (many in a debug build), so a successful load is remembered in
/// `$INFERBENCH_HOME/doctor-cache.json`, keyed by the file's path, size, modification
/// time and inode, the text counted and this inferbench's version: an unchanged file is
/// not loaded again.
pub fn tokenizer_load(path: &Path, text: &str) -> Result<TokenizerLoad, String> {
    let key = tokenizer_key(path, text);
    if let Some(tokens) = key
        .as_deref()
        .and_then(|k| cache_get("tokenizer", k))
        .and_then(|v| v.get("tokens")?.as_u64())
    {
        return Ok(TokenizerLoad { tokens, secs: None });
    }
    let t0 = Instant::now();
    let t =
        crate::prompt::tokenizer::TokenCounter::from_file(path).map_err(|e| format!("{e:#}"))?;
    let secs = t0.elapsed().as_secs_f64();
    let tokens = t.count(text).map_err(|e| format!("{e:#}"))?;
    if let Some(key) = key {
        cache_put(
            "tokenizer",
            &key,
            serde_json::json!({"tokens": tokens, "load_s": secs}),
        );
    }
    Ok(TokenizerLoad {
        tokens,
        secs: Some(secs),
    })
}

/// A tokenizer check's result: the first prompt's token count, and the load time when it
/// was loaded now (`None`: loaded by an earlier run, the file unchanged since).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenizerLoad {
    pub tokens: u64,
    pub secs: Option<f64>,
}

/// What identifies one tokenizer file's content and the text counted with it.
fn tokenizer_key(path: &Path, text: &str) -> Option<String> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    Some(format!(
        "{}|{}|{}.{}|{}|{}|{:016x}",
        std::fs::canonicalize(path).ok()?.display(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ino(),
        env!("CARGO_PKG_VERSION"),
        h.finish()
    ))
}

/// The bandwidth figure a run would use, without probing.
pub fn bandwidth_facts(configured: Option<f64>) -> BandwidthFacts {
    use crate::measure::bandwidth as bw;
    if let Some(g) = configured {
        return BandwidthFacts::Configured(g);
    }
    let Some(path) = bw::cache_path() else {
        return BandwidthFacts::None(None);
    };
    match bw::read_cache(&path, &bw::host_key()) {
        Some(b) => BandwidthFacts::Cached {
            gbps: b.gbps,
            age_hours: b
                .measured_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| {
                    (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds() as f64
                        / 3600.0
                }),
            settled: bw::is_settled(&b),
            describe: b.describe(),
            path,
        },
        None => BandwidthFacts::None(Some(path)),
    }
}
