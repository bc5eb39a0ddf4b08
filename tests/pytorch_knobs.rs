//! The PyTorch engine's speed knobs for real: the torch venv that scripts/setup.sh installs,
//! on CPU, with the Gemma 3 270M GGUF. Each test is one engine start (loading torch and
//! the model takes ~60–90 s here) with a 4-token run, and checks that what the engine
//! reports it ran with reaches the results' engine info, the schema and the reports.
//! A missing venv or model fails saying so.
//!
//! `compile` other than `off` is not run here: on this 2-core host the first
//! torch.compile of the model takes minutes (see docs/book/src/configuration.md, "PyTorch
//! settings"). What each `compile` value asks of `torch.compile` is checked without torch,
//! by a stand-in (the last test, which needs only `python3`).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

mod common;
use common::{assert_valid_results, free_port, inferbench};

/// One engine start at a time: both tests load torch on the same 2 cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn home() -> PathBuf {
    inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set")
}

fn require(rel: &str) -> String {
    let p = home().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh to install the torch venv and the test model",
        p.display()
    );
    p.display().to_string()
}

fn gemma() -> String {
    require("models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf")
}

/// A config with one short prompt, 4 tokens, 1 run, no warm-up, written to `dir`.
fn write_config(dir: &Path, engines: Value, servers: Value) -> PathBuf {
    let prompts = dir.join("prompts.jsonl");
    std::fs::write(
        &prompts,
        "{\"id\": \"p1\", \"tier\": \"short\", \"text\": \"Name one colour.\"}\n",
    )
    .unwrap();
    let cfg = json!({
        "benchmark": {"max_tokens": 4, "temperature": 0.0, "num_runs": 1},
        "engines": engines,
        "servers": servers,
        "inferbench": {
            "warmup_runs": 0, "chat_template": "gemma3", "ignore_eos": true, "threads": 2,
            "tokenizer": require("models/gemma-3-270m/tokenizer/tokenizer.json"),
            "prompts_file": prompts.display().to_string(),
            "stop_grace_seconds": 3
        }
    });
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    path
}

/// `inferbench MODE --config CFG` in `dir`; returns the results document (to be checked
/// against the schema by the caller, after its own checks) and the Markdown report.
fn run(dir: &Path, mode: &str, cfg: &Path) -> (Value, String) {
    let out = inferbench(dir)
        .args([mode, "--quiet", "--config"])
        .arg(cfg)
        .arg("--out-dir")
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json = common::only_file(&dir.join("output"), "json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let md = common::only_file(&dir.join("report"), "md");
    // Markdown escapes `_`; compare the text a reader sees.
    let md = std::fs::read_to_string(md).unwrap().replace("\\_", "_");
    assert!(
        out.status.success(),
        "inferbench {mode} failed: {stderr}\nruns: {}",
        doc["runs"]
    );
    (doc, md)
}

fn engine<'a>(doc: &'a Value, key: &str) -> &'a Value {
    doc["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["engine"] == key)
        .unwrap_or_else(|| panic!("no engine {key} in {}", doc["engines"]))
}

/// The (asked, effective) pair of one reported setting.
fn setting<'a>(info: &'a Value, key: &str) -> (&'a Value, &'a str) {
    let s = &info["engine_settings"][key];
    let eff = s["effective"]
        .as_str()
        .unwrap_or_else(|| panic!("{key}: no effective value in {}", info["engine_settings"]));
    (&s["asked"], eff)
}

#[test]
fn api_defaults_are_reported_with_what_they_resolved_to() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        json!({}),
        json!({"pytorch": {
            "port": free_port(), "model_path": gemma(), "device": "cpu",
            "startup_timeout": 600, "api_endpoint": "/v1/chat/completions"
        }}),
    );
    let (doc, md) = run(dir.path(), "api", &cfg);
    let runs = doc["runs"].as_array().unwrap();
    assert!(runs.iter().all(|r| r["ok"] == true), "{runs:?}");
    let info = engine(&doc, "pytorch");
    assert_eq!(info["device"], "cpu");
    assert_eq!(info["device_reason"], "configured");
    // auto on CPU is bfloat16 (torch_knobs.pick_dtype).
    assert_eq!(setting(info, "dtype"), (&json!("auto"), "bfloat16"));
    assert_eq!(setting(info, "device"), (&json!("cpu"), "cpu"));
    assert_eq!(setting(info, "compile"), (&json!("off"), "off"));
    // Read back from the cache generate returned at start-up, not echoed.
    assert_eq!(
        setting(info, "cache_implementation"),
        (&json!("dynamic"), "dynamic")
    );
    let (asked, attn) = setting(info, "attn_implementation");
    assert_eq!(asked, "auto");
    assert!(
        ["eager", "sdpa"].iter().any(|a| attn.contains(a)),
        "transformers' own choice: {attn}"
    );
    for k in ["torch_version", "transformers_version", "weights"] {
        let (asked, v) = setting(info, k);
        assert!(asked.is_null() && !v.is_empty(), "{k}: {asked} {v}");
    }
    let startup: f64 = setting(info, "startup_generate_ms").1.parse().unwrap();
    assert!(
        startup > 0.0 && startup < info["load_ms"].as_f64().unwrap(),
        "the start-up generate is inside load_ms: {startup} vs {}",
        info["load_ms"]
    );
    let notes = info["notes"].to_string();
    assert!(notes.contains("start-up generate"), "{notes}");
    // The report shows them on one line.
    let line = md
        .lines()
        .find(|l| l.contains("settings: device cpu (configured)"))
        .unwrap_or_else(|| panic!("no settings line in the report:\n{md}"));
    for want in [
        "dtype bfloat16",
        "compile off",
        "cache_implementation dynamic",
    ] {
        assert!(line.contains(want), "{want} missing: {line}");
    }
    assert_valid_results(&doc);
}

#[test]
fn cli_eager_static_cache_is_recorded_and_flash_attention_fails_clearly() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let python = require("venv/bin/python");
    let flash_installed = std::process::Command::new(&python)
        .args([
            "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec('flash_attn') is None)",
        ])
        .status()
        .unwrap()
        .success();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        json!({
            "pytorch": {
                "python": python, "model_path": gemma(), "device": "auto",
                "torch_dtype": "float32", "attn_implementation": "eager",
                "cache_implementation": "static", "compile": "off", "startup_timeout": 600
            },
            "pt_flash": {
                "kind": "pytorch", "python": python, "model_path": gemma(), "device": "cpu",
                "attn_implementation": "flash_attention_2", "startup_timeout": 600
            }
        }),
        json!({}),
    );
    let out = inferbench(dir.path())
        .args(["cli", "--quiet", "--config"])
        .arg(&cfg)
        .arg("--out-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let json = common::only_file(&dir.path().join("output"), "json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let runs = doc["runs"].as_array().unwrap();
    let of = |key: &str| -> Vec<&Value> { runs.iter().filter(|r| r["engine"] == key).collect() };

    let ok = of("pytorch");
    assert_eq!(ok.len(), 1, "{runs:?}");
    assert_eq!(ok[0]["ok"], true, "{}", ok[0]["error"]);
    assert_eq!(ok[0]["output_tokens"], 4);
    let info = engine(&doc, "pytorch");
    // `auto` resolved on this host, with why, as API mode records it.
    let (device, why) = inferbench::engines::launch::resolve_device(
        "auto",
        &inferbench::engines::launch::HostDevices::detect(),
    );
    assert_eq!(info["device"], device.as_str());
    assert_eq!(info["device_reason"], why.as_str());
    assert_eq!(setting(info, "dtype"), (&json!("float32"), "float32"));
    assert_eq!(
        setting(info, "attn_implementation"),
        (&json!("eager"), "eager")
    );
    assert_eq!(setting(info, "compile"), (&json!("off"), "off"));
    // From the cache object generate returned: static really was used.
    assert_eq!(
        setting(info, "cache_implementation"),
        (&json!("static"), "static")
    );
    assert!(setting(info, "device").1.starts_with(device.as_str()));
    let md = std::fs::read_to_string(common::only_file(&dir.path().join("report"), "md"))
        .unwrap()
        .replace("\\_", "_");
    assert!(
        md.lines().any(|l| l.contains("settings: device")
            && l.contains("attn_implementation eager")
            && l.contains("cache_implementation static")),
        "{md}"
    );

    let flash = of("pt_flash");
    assert_eq!(flash.len(), 1, "{runs:?}");
    if flash_installed {
        assert_eq!(flash[0]["ok"], true, "{}", flash[0]["error"]);
        let info = engine(&doc, "pt_flash");
        assert_eq!(setting(info, "attn_implementation").1, "flash_attention_2");
    } else {
        assert_eq!(flash[0]["ok"], false);
        let err = flash[0]["error"].as_str().unwrap();
        assert!(
            err.contains("flash_attention_2")
                && err.contains("flash_attn package is not installed"),
            "{err}"
        );
        assert!(!out.status.success(), "a failed run fails the invocation");
    }
    assert_valid_results(&doc);
}

/// `python/torch_knobs.py` without torch: the modes `--compile` takes, what each asks of
/// `torch.compile` (a stand-in records it), and which capture CUDA graphs. Needs only a
/// `python3` on PATH.
#[test]
fn compile_modes_reach_torch_compile_and_only_two_capture_cuda_graphs() {
    let script = r#"
import argparse, json, sys
sys.path.insert(0, "python")
import torch_knobs as k
calls = []
class FakeTorch:
    @staticmethod
    def compile(f, mode="unset", **kw):
        calls.append({"mode": mode, "kw": sorted(kw)})
        return f
class Model:
    def forward(self):
        pass
asked = {}
for mode in k.COMPILE:
    p = argparse.ArgumentParser()
    k.add_arguments(p)
    a = p.parse_args(["--compile", mode])
    calls.clear()
    k.apply_compile(FakeTorch, Model(), a.compile)
    asked[mode] = calls[0] if calls else None
print(json.dumps({"asked": asked, "cuda_graphs": list(k.CUDA_GRAPH_MODES)}))
"#;
    let out = std::process::Command::new("python3")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-c", script])
        .output()
        .expect("python3 on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let asked = &v["asked"];
    let plain = |mode: Value| json!({"mode": mode, "kw": []});
    assert_eq!(asked["off"], Value::Null, "off compiles nothing");
    // torch's default mode (None), no CUDA graphs.
    assert_eq!(asked["default"], plain(Value::Null));
    for mode in [
        "max-autotune-no-cudagraphs",
        "reduce-overhead",
        "max-autotune",
    ] {
        assert_eq!(asked[mode], plain(json!(mode)), "{mode}");
    }
    assert_eq!(v["cuda_graphs"], json!(["reduce-overhead", "max-autotune"]));
    // The script's modes are the config's.
    let mut ours: Vec<&str> = inferbench::config::TORCH_KNOBS
        .iter()
        .find(|(k, _)| *k == "compile")
        .map(|(_, vals)| vals.to_vec())
        .unwrap();
    let mut theirs: Vec<&str> = asked
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    theirs.sort_unstable();
    ours.sort_unstable();
    assert_eq!(theirs, ours);

    // A mode it does not know is refused, saying which it takes.
    let bad = std::process::Command::new("python3")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "-c",
            "import sys; sys.path.insert(0, 'python'); import torch_knobs as k; \
             k.apply_compile(None, None, 'fast')",
        ])
        .output()
        .expect("python3 on PATH");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--compile fast") && err.contains("max-autotune-no-cudagraphs"),
        "{err}"
    );
}
