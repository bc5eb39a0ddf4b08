//! `--sweep input:…` end to end: bad values exit 2 before anything starts; against the
//! synthetic engine with a scripted prefill (0.5 ms per prompt word) and decode (4 ms per
//! token) the fitted slope and the decode rate recover the script; against the real
//! llama-server (installed by scripts/setup.sh) every length is exact and llama-bench's
//! pp and tg sit beside ours.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

mod common;
use common::{assert_valid_results, free_port, inferbench, mock_engine};

fn home() -> PathBuf {
    inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set")
}

fn tokenizer() -> String {
    let p = home().join("models/gemma-3-270m/tokenizer/tokenizer.json");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p.display().to_string()
}

/// The results document written under `out`, checked against the schema.
fn results(out: &Path) -> Value {
    let file = common::only_file(&out.join("output"), "json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_valid_results(&doc);
    doc
}

#[test]
fn bad_input_sweeps_exit_2_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens at the URL: each is refused by the plan before it is tried.
    let url = ["--url", "http://127.0.0.1:9", "--model", "m"];
    for (args, want) in [
        (vec!["--sweep", "input:128"], "at least two input lengths"),
        (vec!["--sweep", "input:0,64"], "at least 1 token"),
        (
            vec!["--sweep", "input:64,abc"],
            "\"abc\" is not an input length",
        ),
        (vec!["--sweep", "input:64,128,out=1"], "N ≥ 2"),
        (
            vec!["--sweep", "input:64,128", "--duration", "5"],
            "--duration does not apply",
        ),
        (
            vec![
                "--sweep",
                "input:64,128",
                "--workload",
                "synthetic:in=64,out=4",
            ],
            "--workload does not go with it",
        ),
        (
            vec!["--sweep", "input:64,128", "--cache-prompt", "on"],
            "prompt caching is on",
        ),
        (
            vec!["--sweep", "input:64,128", "--concurrency", "2"],
            "--sweep replaces --concurrency",
        ),
        (vec!["--sweep", "inputs:64,128"], "input lengths like"),
    ] {
        let out = inferbench(dir.path())
            .arg("api")
            .args(url)
            .args(&args)
            .args(["--out-dir", &dir.path().display().to_string()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: want {want:?} in {stderr}");
    }
}

#[test]
fn the_fit_recovers_the_synthetic_engines_scripted_prefill_and_decode() {
    let mock = mock_engine(&[
        "--ttft-ms",
        "20",
        "--itl-ms",
        "4",
        "--prefill-ms-per-token",
        "0.5",
        "--tokens",
        "16",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .args(["api", "--url", &mock.url, "--model", "mock", "-q"])
        .args(["--sweep", "input:64,256,512,out=16", "--requests", "3"])
        .args(["--tokenizer", &tokenizer()])
        .args(["--out-dir", &dir.path().display().to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = results(dir.path());
    let sweep = &doc["engines"][0]["input_sweep"];
    assert_eq!(sweep["decode_tokens"], 16);
    // 3 lengths × (1 warm-up + 3) × 2 phases, warm-ups marked.
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 24);
    assert_eq!(runs.iter().filter(|r| r["warmup"] == true).count(), 6);
    assert!(runs.iter().all(|r| r["ok"] == true));
    let prefill: Vec<&Value> = runs
        .iter()
        .filter(|r| r["load_step"].as_str().unwrap().ends_with("prefill"))
        .collect();
    assert!(prefill.iter().all(|r| r["sampling"]["max_tokens"] == 1));
    let fit = &sweep["fit"];
    assert_eq!(fit["n"], 9);
    // Scripted: TTFT = 20 ms + 0.5 ms per prompt word; the words are the prompt's tokens
    // less the chat template's, whose 0.5 ms each come off the intercept.
    let slope = fit["slope_ms_per_token"].as_f64().unwrap();
    assert!((0.45..0.55).contains(&slope), "slope {slope} ms/token");
    let intercept = fit["intercept_ms"].as_f64().unwrap();
    assert!((5.0..60.0).contains(&intercept), "intercept {intercept} ms");
    let tps = fit["prefill_tps"].as_f64().unwrap();
    let ci = &fit["prefill_tps_ci"];
    assert!(ci["lo"].as_f64().unwrap() <= tps && tps <= ci["hi"].as_f64().unwrap());
    let rows = sweep["rows"].as_array().unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r["input_tokens"].clone())
            .collect::<Vec<_>>(),
        vec![json!(64), json!(256), json!(512)]
    );
    for r in rows {
        assert_eq!(
            (r["prefill_requests"].clone(), r["decode_requests"].clone()),
            (json!(3), json!(3))
        );
        // Per length, the overhead removed: 2000 tok/s scripted.
        let p = r["prefill_tps"].as_f64().unwrap();
        assert!((1600.0..2400.0).contains(&p), "{r}");
        // 1 ÷ 4 ms = 250 tok/s scripted.
        let d = r["decode_tps"].as_f64().unwrap();
        assert!((180.0..300.0).contains(&d), "{r}");
        assert!(r["bench_pp"].is_null() && r["prefill_vs_bench_pct"].is_null());
    }
    assert_eq!(sweep["bench"]["ran"], false);
    assert!(
        sweep["bench"]["note"]
            .as_str()
            .unwrap()
            .contains("llama-bench is llama.cpp's own")
    );
    let report = common::only_file(&dir.path().join("report"), "md");
    let md = std::fs::read_to_string(report).unwrap();
    assert!(md.contains("## Input sweep: mock"), "{md}");
    assert!(md.contains("ours (TTFT): TTFT ="), "{md}");
}

/// A config with the real llama-server as the only engine.
fn llama_config(dir: &Path) -> PathBuf {
    let model = home().join("models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf");
    assert!(
        model.is_file(),
        "{} is missing: run scripts/setup.sh",
        model.display()
    );
    let cfg = json!({
        "benchmark": {"max_tokens": 32, "temperature": 0.0, "num_runs": 1, "timeout_seconds": 120},
        "servers": {"llamacpp": {"port": free_port(), "model_path": model.display().to_string(),
                                  "startup_timeout": 120, "api_endpoint": "/completion"}},
        "inferbench": {"chat_template": "gemma3", "threads": 2, "stop_grace_seconds": 3,
                        "tokenizer": tokenizer()}
    });
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    path
}

#[test]
fn real_llama_server_sweep_has_exact_lengths_and_llama_bench_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = llama_config(dir.path());
    let out = inferbench(dir.path())
        .args(["api", "--config", &cfg.display().to_string(), "-q"])
        .args(["--engines", "llamacpp", "--sweep", "input:32,128,out=8"])
        .args(["--requests", "2", "--load-warmup", "1"])
        .args(["--out-dir", &dir.path().display().to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = results(dir.path());
    let sweep = &doc["engines"][0]["input_sweep"];
    for r in doc["runs"].as_array().unwrap() {
        assert_eq!(r["ok"], true, "{r}");
        let step = r["load_step"].as_str().unwrap();
        let asked: u64 = step[3..step.find(' ').unwrap()].parse().unwrap();
        assert_eq!(
            r["prompt_tokens"], asked,
            "{step}: the server counts what we built"
        );
        assert_eq!(r["cached_prompt_tokens"], 0, "{step}: no prompt cache");
        let want = if step.ends_with("prefill") { 1 } else { 8 };
        assert_eq!(r["output_tokens"], want, "{step}");
    }
    assert_eq!(sweep["fit"]["n"], 4);
    assert_eq!(sweep["bench"]["ran"], true, "{}", sweep["bench"]);
    let cmd = &sweep["bench"]["commands"][1];
    assert!(cmd[0].as_str().unwrap().ends_with("llama-bench"), "{cmd}");
    assert!(
        cmd.as_array()
            .unwrap()
            .windows(2)
            .any(|w| w[0] == "-t" && w[1] == "2")
    );
    for r in sweep["rows"].as_array().unwrap() {
        assert_eq!(r["engine_prompt_tokens"], r["input_tokens"]);
        assert!(r["bench_pp"]["tps"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(
            r["bench_tg"]["test"],
            format!("tg8 @ d{}", r["input_tokens"]),
            "{r}"
        );
        assert!(r["decode_vs_bench_pct"].is_number(), "{r}");
        assert!(r["engine_prefill_tps"].as_f64().unwrap() > 0.0, "{r}");
    }
}
