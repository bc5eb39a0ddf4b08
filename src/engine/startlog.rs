//! Start-up marks read from an engine's own log (pure): which line says the model began
//! to load, its weights were read, it is on its device, it listens, and when the engine
//! says the line was written. Read from the real programs' logs (the fixtures under
//! `tests/fixtures/startlog/` are theirs, captured on this project's machine):
//!
//! - llama-server (b8xxx) stamps every line with the time since its start when its log
//!   goes to a file: `0.00.006.353 I srv    load_model: loading model '…'`
//!   (minutes.seconds.milliseconds.microseconds). `--no-log-timestamps` removes them, and
//!   then no mark can be read.
//! - Our PyTorch server stamps its own lines with the UTC wall clock
//!   (`[pytorch_server 2026-12-07T18:52:01.123Z] loading …`).
//! - Ollama (0.17.4) writes `time=2026-12-07T18:09:48.941Z level=INFO … msg="…"`: wall
//!   clock to the millisecond. Its log does not say when the weights have been read:
//!   `load_begin → on_device` holds reading and placing them.

use crate::engine::EngineKind;
use crate::measure::startup::{EngineTime, LogMark, MarkKind};
use std::path::{Path, PathBuf};

/// The marks in an engine's log, the first of each kind, in the order of the log.
/// Engines whose log we do not read give none.
pub fn marks(kind: EngineKind, log: &str) -> Vec<LogMark> {
    let read: fn(&str) -> Option<(MarkKind, EngineTime)> = match kind {
        EngineKind::LlamaCpp => llamacpp_line,
        EngineKind::Ollama => ollama_line,
        EngineKind::PyTorch => pytorch_line,
        _ => return Vec::new(),
    };
    let mut out: Vec<LogMark> = Vec::new();
    for line in log.lines() {
        if let Some((kind, at)) = read(line)
            && !out.iter().any(|m| m.kind == kind)
        {
            out.push(LogMark {
                kind,
                at,
                line: line.trim().to_string(),
            });
        }
    }
    out
}

/// Whether we read this engine's log for start-up marks.
pub fn reads_log(kind: EngineKind) -> bool {
    matches!(
        kind,
        EngineKind::LlamaCpp | EngineKind::Ollama | EngineKind::PyTorch
    )
}

/// One llama-server line: its mark and time, if it is one of the lines we read.
fn llamacpp_line(line: &str) -> Option<(MarkKind, EngineTime)> {
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
    Some((kind, EngineTime::SinceStart(llamacpp_time(line)?)))
}

/// `M.SS.mmm.uuu` at the start of a llama.cpp log line → milliseconds.
fn llamacpp_time(line: &str) -> Option<f64> {
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

/// One Ollama line: its mark and time, if it is one of the lines we read.
fn ollama_line(line: &str) -> Option<(MarkKind, EngineTime)> {
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

/// One line of our PyTorch server (`python/pytorch_server.py`):
/// `[pytorch_server 2026-12-07T18:52:01.123Z] loading …`, UTC to the millisecond.
fn pytorch_line(line: &str) -> Option<(MarkKind, EngineTime)> {
    let (stamp, msg) = line.strip_prefix("[pytorch_server ")?.split_once("] ")?;
    let kind = if msg.starts_with("loading ") {
        // After Python has imported torch and transformers.
        MarkKind::LoadBegin
    } else if msg.starts_with("weights read") {
        // from_pretrained has returned: the weights are read (and dequantized).
        MarkKind::WeightsRead
    } else if msg.starts_with("start-up generate") {
        // After one short generate on its device.
        MarkKind::OnDevice
    } else {
        return None;
    };
    let at = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
    Some((kind, EngineTime::Wall(at.with_timezone(&chrono::Utc))))
}

/// The blob an Ollama model's weights are in: the `application/vnd.ollama.image.model`
/// layer of its manifest (`manifests/registry.ollama.ai/library/NAME/TAG` under the
/// models folder), as `blobs/sha256-HEX`.
pub fn ollama_blob(models_dir: &Path, manifest: &str) -> Option<PathBuf> {
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

/// Where an Ollama model's manifest is: `NAME[:TAG]` (tag `latest` by default), or
/// `NAMESPACE/NAME[:TAG]`, under `manifests/registry.ollama.ai`.
pub fn ollama_manifest_path(models_dir: &Path, model: &str) -> Option<PathBuf> {
    let (name, tag) = model.split_once(':').unwrap_or((model, "latest"));
    let (ns, name) = name.split_once('/').unwrap_or(("library", name));
    let ok = |s: &str| !s.is_empty() && !s.contains("..") && !s.contains('/');
    (ok(ns) && ok(name) && ok(tag)).then(|| {
        models_dir
            .join("manifests")
            .join("registry.ollama.ai")
            .join(ns)
            .join(name)
            .join(tag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA: &str = include_str!("../../tests/fixtures/startlog/llama-server.log");
    const OLLAMA: &str = include_str!("../../tests/fixtures/startlog/ollama-serve.log");
    const PYTORCH: &str = include_str!("../../tests/fixtures/startlog/pytorch-server.log");

    fn since(m: &LogMark) -> f64 {
        match m.at {
            EngineTime::SinceStart(ms) => ms,
            EngineTime::Wall(_) => panic!("llama.cpp times are since its start"),
        }
    }

    #[test]
    fn llama_server_log_gives_four_marks_with_its_times() {
        let m = marks(EngineKind::LlamaCpp, LLAMA);
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
        assert_eq!(llamacpp_time("1.02.003.500 I x"), Some(62_003.5));
        assert_eq!(llamacpp_time("srv  load_model: loading model 'x'"), None);
        assert_eq!(llamacpp_time("0.00.x.1 I"), None);
        // A line without timestamps (--no-log-timestamps) gives no mark.
        assert!(
            marks(
                EngineKind::LlamaCpp,
                "srv    load_model: loading model 'm.gguf'"
            )
            .is_empty()
        );
    }

    #[test]
    fn ollama_log_gives_listening_load_and_runner_started() {
        let m = marks(EngineKind::Ollama, OLLAMA);
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
    fn pytorch_server_log_gives_load_weights_and_start_up_generate() {
        let m = marks(EngineKind::PyTorch, PYTORCH);
        let kinds: Vec<MarkKind> = m.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![
                MarkKind::LoadBegin,
                MarkKind::WeightsRead,
                MarkKind::OnDevice
            ]
        );
        assert!(m.iter().all(|m| matches!(m.at, EngineTime::Wall(_))));
        assert!(m[1].line.contains("weights read"));
    }

    #[test]
    fn other_engines_give_no_marks() {
        assert!(marks(EngineKind::OpenAi, LLAMA).is_empty());
        assert!(!reads_log(EngineKind::OpenAi));
    }

    #[test]
    fn ollama_manifest_and_blob() {
        let dir = Path::new("/m");
        assert_eq!(
            ollama_manifest_path(dir, "gemma-3-270m-bench").unwrap(),
            Path::new("/m/manifests/registry.ollama.ai/library/gemma-3-270m-bench/latest")
        );
        assert_eq!(
            ollama_manifest_path(dir, "me/x:q4").unwrap(),
            Path::new("/m/manifests/registry.ollama.ai/me/x/q4")
        );
        assert_eq!(ollama_manifest_path(dir, "../x"), None);
        // The manifest `ollama create` wrote for the Gemma 3 270M GGUF.
        let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:de69c3bb55e527ee4e32fe1e7dfbff22175e5e18b8098f31a6e729737630a5e9","size":492},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818","size":253113024},{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:9d1abe48ad32b93dac1078420d32159c0af1035a2bc627546572013916d644f9","size":108}]}"#;
        assert_eq!(
            ollama_blob(dir, manifest).unwrap(),
            Path::new(
                "/m/blobs/sha256-a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
            )
        );
        assert_eq!(ollama_blob(dir, "{}"), None);
        assert_eq!(ollama_blob(dir, "not json"), None);
    }
}
