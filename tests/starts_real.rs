//! `inferbench api --starts 2` against the real llama-server (installed by
//! scripts/setup.sh) on Gemma 3 270M: every start split into phases from our clock and
//! llama-server's own log lines, in order, with the model file's page-cache share before
//! and after each start. Nothing is simulated; a missing engine or model fails with a
//! message naming scripts/setup.sh. No timing thresholds beyond loose sanity: the
//! machine is shared.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::{assert_valid_results, free_port, inferbench};

/// The repository's config with only llama.cpp enabled on a free port, 8 output tokens.
fn config(dir: &Path) -> (PathBuf, u16) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("benchmark_config.json")).unwrap();
    let mut cfg: Value = serde_json::from_str(&text).unwrap();
    cfg["benchmark"]["max_tokens"] = 8.into();
    let port = free_port();
    for (name, s) in cfg["servers"].as_object_mut().unwrap().iter_mut() {
        s["enabled"] = (name == "llamacpp").into();
    }
    cfg["servers"]["llamacpp"]["port"] = port.into();
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    (path, port)
}

fn require_llama() {
    let home = inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set");
    for p in [
        "bin/llama-server",
        "models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf",
        "models/gemma-3-270m/tokenizer/tokenizer.json",
    ] {
        assert!(
            home.join(p).exists(),
            "{} is missing: run scripts/setup.sh to install llama-server and the Gemma 3 270M model",
            home.join(p).display()
        );
    }
}

fn results(dir: &Path) -> Value {
    let out = dir.join("output");
    let json = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap_or_else(|| panic!("no results JSON in {}", out.display()));
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn at(start: &Value, kind: &str) -> f64 {
    start["marks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} mark in {start:#}"))["at_ms"]
        .as_f64()
        .unwrap()
}

fn share(start: &Value, which: &str) -> f64 {
    let s = start[which]["resident_share"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {which} in {start:#}"));
    assert!((0.0..=1.0).contains(&s), "{which} share {s}");
    s
}

#[test]
fn two_starts_of_llama_server_have_ordered_phases_and_page_cache_shares() {
    require_llama();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _port) = config(dir.path());
    let out = inferbench(dir.path())
        .args(["api", "--engines", "llamacpp", "--starts", "2", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "inferbench failed: {stderr}\n{stdout}"
    );
    assert!(stdout.contains("llamacpp: 2 starts"), "{stdout}");
    let doc = results(dir.path());
    assert_valid_results(&doc);
    let report = &doc["engines"][0]["starts"];
    assert_eq!(report["asked"], 2);
    assert!(
        report["model_file"]
            .as_str()
            .unwrap()
            .ends_with("gemma-3-270m-Q4_K_M.gguf")
    );
    let starts = report["starts"].as_array().unwrap();
    assert_eq!(starts.len(), 2, "{report:#}");
    for s in starts {
        // Every phase, in order: ours (spawn, ready, first token) and llama-server's.
        let chain = [
            "spawn",
            "load_begin",
            "weights_read",
            "on_device",
            "ready",
            "first_token",
        ];
        let times: Vec<f64> = chain.iter().map(|k| at(s, k)).collect();
        assert_eq!(times[0], 0.0);
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "out of order: {chain:?} {times:?}"
        );
        assert!(at(s, "listening") <= times[4], "listening after ready");
        // Loose sanity: a 270M model on a shared 2-core machine starts within minutes.
        assert!(times[5] > 0.0 && times[5] < 300_000.0, "{times:?}");
        let phases = s["phases"].as_array().unwrap();
        assert_eq!(phases.len(), s["marks"].as_array().unwrap().len() - 1);
        assert!(phases.iter().all(|p| p["ms"].as_f64().unwrap() >= 0.0));
        let sum: f64 = phases.iter().map(|p| p["ms"].as_f64().unwrap()).sum();
        assert!(
            (sum - times[5]).abs() < 1e-6,
            "phases add up to the first token"
        );
        assert!(s["ttft_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(
            s["marks"][1]["source"], "engine log",
            "load_begin comes from llama-server's log"
        );
        share(s, "cache_before");
        // After a start that read the whole model, it is in the page cache.
        assert!(share(s, "cache_after") > 0.5, "{s:#}");
    }
    // The first start was made cold where posix_fadvise could drop the pages; if it could
    // not, the results say why.
    let cold = &report["cold"];
    if cold["dropped"] == true {
        assert!(share(&starts[0], "cache_before") < 0.01, "{report:#}");
    } else {
        assert!(
            cold["how"].as_str().unwrap().starts_with("not made cold"),
            "{cold}"
        );
    }
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "one request after each start");
    assert_eq!(runs[0]["run_index"], 0);
    assert_eq!(runs[1]["run_index"], 1);
    let report_md = std::fs::read_dir(dir.path().join("report"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(report_md.contains("## Cold and warm starts"), "{report_md}");
}

#[test]
fn starts_refuse_a_server_given_by_url_and_load_modes() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = config(dir.path());
    let out = inferbench(dir.path())
        .args([
            "api",
            "--url",
            "http://127.0.0.1:1",
            "--starts",
            "2",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = inferbench(dir.path())
        .args([
            "api",
            "--engines",
            "llamacpp",
            "--starts",
            "2",
            "--concurrency",
            "2",
        ])
        .args(["--requests", "4", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--starts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
