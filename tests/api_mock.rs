//! `inferbench api --url` end to end against the synthetic engine, both as separate
//! processes, as a user runs them. Real time is involved, so timing bounds are loose;
//! precise accuracy figures come from scripts/perf.sh.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;

mod common;
use common::{inferbench, only_file};

fn mock(args: &[&str]) -> common::MockEngine {
    common::mock_engine(args)
}

fn results(out: &Path) -> Value {
    let json = only_file(&out.join("output"), "json");
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn overall<'a>(doc: &'a Value, metric: &str) -> &'a Value {
    let s = doc["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["tier"] == "all")
        .unwrap();
    &s["metrics"][metric]
}

#[test]
fn measures_the_mock_and_writes_the_seed_files() {
    let m = mock(&["--ttft-ms", "50", "--itl-ms", "5", "--tokens", "128"]);
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .args([
            "api", "--url", &m.url, "--model", "mock", "--runs", "5", "--quick",
        ])
        .args(["--out-dir", "D", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dir.path().join("D");
    let report = only_file(&d.join("report"), "md");
    assert!(
        report
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("api_benchmark_report_5runs_")
    );
    let log = only_file(&d.join("logging"), "log");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("<start_of_turn>user"),
        "the rendered prompt is logged"
    );
    let doc = results(&d);
    assert_eq!(doc["schema_version"], 1);
    let runs = doc["runs"].as_array().unwrap();
    let measured: Vec<&Value> = runs.iter().filter(|r| r["warmup"] == false).collect();
    assert_eq!(measured.len(), 5);
    for r in &measured {
        for field in [
            "ttft_ms",
            "tpot_ms",
            "e2e_ms",
            "output_tokens",
            "output_tokens_source",
            "decode_tps",
            "engine",
            "mode",
            "prompt_id",
            "ok",
            "error",
        ] {
            assert!(r.get(field).is_some(), "record lacks {field}: {r}");
        }
        assert_eq!(r["ok"], true);
        assert_eq!(r["output_tokens"], 128);
        assert_eq!(r["output_tokens_source"], "usage");
        assert_eq!(r["mode"], "api");
        assert_eq!(r["sampling"]["temperature"], 0.3);
        assert_eq!(r["sampling"]["max_tokens"], 500);
    }
    let ttft = overall(&doc, "ttft_ms");
    for k in ["mean", "p50", "p99", "n"] {
        assert!(ttft.get(k).is_some(), "summary lacks {k}");
    }
    assert_eq!(ttft["n"], 5);
    let ttft_mean = ttft["mean"].as_f64().unwrap();
    let tpot_mean = overall(&doc, "tpot_ms")["mean"].as_f64().unwrap();
    // Loose: real time on a shared 2-core machine.
    assert!((49.0..80.0).contains(&ttft_mean), "TTFT {ttft_mean}");
    assert!((4.9..6.0).contains(&tpot_mean), "TPOT {tpot_mean}");

    // The JSONL holds the same records, one per line.
    let jsonl = std::fs::read_to_string(only_file(&d.join("output"), "jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), runs.len());

    // Doctor's checks, taken before the run: host and inputs (no engine was started: the
    // server was given with --url), the same document `inferbench doctor --json` prints.
    let doctor = &doc["environment"]["doctor"];
    assert_eq!(doctor["engines"], serde_json::json!([]), "{doctor}");
    let checks = doctor["checks"].as_array().unwrap();
    for (scope, name) in [
        ("host", "cpu"),
        ("inputs", "prompts"),
        ("inputs", "chat template"),
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["scope"] == scope && c["name"] == name),
            "no {scope} {name} check in {doctor}"
        );
    }

    // And the document validates against the published schema.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema errors: {errors:?}");
}

#[test]
fn several_tokens_per_event_split_tpot_from_icl() {
    // The mock's --itl-ms is per token: 1.25 ms × 4 tokens per event = an event every 5 ms.
    let m = mock(&[
        "--ttft-ms",
        "50",
        "--itl-ms",
        "1.25",
        "--tokens",
        "128",
        "--tokens-per-chunk",
        "4",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .args([
            "api", "--url", &m.url, "--model", "mock", "--runs", "3", "--quick", "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = results(dir.path());
    let tpot = overall(&doc, "tpot_ms")["mean"].as_f64().unwrap();
    let icl = overall(&doc, "icl_ms")["mean"].as_f64().unwrap();
    // 32 events 5 ms apart carry 128 tokens: TPOT = 155/127 ≈ 1.22 ms, ICL = 5 ms.
    assert!((1.15..1.5).contains(&tpot), "TPOT {tpot}");
    assert!((4.9..6.0).contains(&icl), "ICL {icl}");
    assert_eq!(overall(&doc, "output_tokens")["mean"], 128.0);
}

#[test]
fn a_reply_shorter_than_asked_is_flagged_counted_and_reported() {
    // The mock stops at 16 tokens; 64 are asked, ignore_eos off (the default).
    let m = mock(&["--ttft-ms", "5", "--itl-ms", "1", "--tokens", "16"]);
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .args([
            "api", "--url", &m.url, "--model", "mock", "--runs", "2", "--warmup", "0",
        ])
        .args(["--quick", "--quiet", "--max-tokens", "64"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = results(dir.path());
    let runs = doc["runs"].as_array().unwrap();
    assert!(!runs.is_empty());
    for r in runs {
        assert_eq!(r["sampling"]["max_tokens"], 64, "{r}");
        assert_eq!(r["output_tokens"], 16, "{r}");
        let flag = r["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == "short_reply")
            .unwrap_or_else(|| panic!("no short_reply flag: {r}"));
        assert!(
            flag["message"]
                .as_str()
                .unwrap()
                .starts_with("delivered 16 (the server's usage) of 64 tokens asked"),
            "{flag}"
        );
    }
    let all = doc["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["tier"] == "all")
        .unwrap();
    assert_eq!(all["short_replies"].as_u64(), Some(runs.len() as u64));
    let md = std::fs::read_to_string(only_file(&dir.path().join("report"), "md")).unwrap();
    let row = format!("| mock | api | 64 | 16.0 | 0/{} (0%) |", runs.len());
    assert!(md.contains("## Output length") && md.contains(&row), "{md}");
}

#[test]
fn faults_become_failed_runs_and_the_rest_complete() {
    for fault in ["http500", "truncate", "garbage"] {
        let m = mock(&[
            "--ttft-ms",
            "5",
            "--itl-ms",
            "1",
            "--tokens",
            "16",
            "--fault",
            fault,
            "--fault-every",
            "2",
        ]);
        let dir = tempfile::tempdir().unwrap();
        let out = inferbench(dir.path())
            .args([
                "api", "--url", &m.url, "--model", "mock", "--runs", "4", "--quick",
            ])
            .args(["--warmup", "0", "--quiet"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{fault}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = results(dir.path());
        let runs = doc["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 4, "{fault}");
        let failed: Vec<&Value> = runs.iter().filter(|r| r["ok"] == false).collect();
        assert_eq!(failed.len(), 2, "{fault}: every second request fails");
        for r in failed {
            let reason = r["error"].as_str().unwrap();
            assert!(!reason.is_empty(), "{fault}: a reason is recorded");
        }
    }
}

#[test]
fn every_run_failing_is_a_non_zero_exit() {
    let m = mock(&["--fault", "http500"]);
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .args([
            "api", "--url", &m.url, "--model", "mock", "--runs", "2", "--quick", "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed"), "{err}");
    // Results are still written.
    let doc = results(dir.path());
    assert!(
        doc["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ok"] == false)
    );
}

#[test]
fn bad_config_exits_2_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (r#"{"benchmark": {"max_token": 5}}"#, "max_token"),
        (
            r#"{"benchmark": {"num_runs": "ten"}}"#,
            "benchmark.num_runs",
        ),
        (r#"{"benchmark": {"num_runs": -3}}"#, "benchmark.num_runs"),
        (
            r#"{"benchmark": {"temperature": -1}}"#,
            "benchmark.temperature",
        ),
    ];
    for (text, key) in cases {
        let file = dir.path().join("bad_config.json");
        std::fs::write(&file, text).unwrap();
        for cmd in ["config", "api"] {
            let out = inferbench(dir.path())
                .args([cmd, "--config", "bad_config.json"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{cmd} {text}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(key), "{err}");
            assert!(err.contains("bad_config.json"), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        }
    }
}

#[test]
fn env_override_shows_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .env("BENCHMARK_NUM_RUNS", "3")
        .args(["config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["settings"]["num_runs"]["value"], 3);
    assert_eq!(
        v["settings"]["num_runs"]["origin"],
        "env BENCHMARK_NUM_RUNS"
    );
    assert_eq!(v["settings"]["max_tokens"]["value"], 500);
    assert_eq!(v["settings"]["max_tokens"]["origin"], "default");
}

#[test]
fn sigkill_mid_run_keeps_every_finished_run_on_disk() {
    let m = mock(&["--ttft-ms", "5", "--itl-ms", "20", "--tokens", "10"]);
    let dir = tempfile::tempdir().unwrap();
    let mut child = inferbench(dir.path())
        .args([
            "api", "--url", &m.url, "--model", "mock", "--runs", "50", "--quick", "--quiet",
        ])
        .args(["--warmup", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Each run takes ~0.2 s; wait until several have been recorded.
    let out = dir.path().join("output");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut lines = 0;
    while std::time::Instant::now() < deadline {
        lines = common::jsonl_lines(&out);
        if lines >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(lines >= 3, "runs were recorded while running");
    // SIGKILL: no chance to flush anything.
    child.kill().unwrap();
    child.wait().unwrap();
    let jsonl = only_file(&out, "jsonl");
    let text = std::fs::read_to_string(jsonl).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is a whole record"))
        .collect();
    assert!(records.len() >= lines);
    assert!(records.iter().all(|r| r["ok"] == true));
}

/// The Gemma tokenizer that scripts/setup.sh exports.
fn gemma_tokenizer() -> PathBuf {
    let home = inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set");
    let p = home.join("models/gemma-3-270m/tokenizer/tokenizer.json");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it exports the Gemma tokenizer)",
        p.display()
    );
    p
}

#[test]
fn token_count_follows_usage_when_the_tokenizer_splits_a_word() {
    let tok = gemma_tokenizer();
    // Each mock "token" is one word that the Gemma tokenizer splits into several pieces.
    let m = mock(&[
        "--ttft-ms",
        "5",
        "--itl-ms",
        "1",
        "--tokens",
        "20",
        "--token-text",
        "트레이드오프",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .args([
            "api", "--url", &m.url, "--model", "mock", "--runs", "1", "--quick", "--quiet",
        ])
        .arg("--tokenizer")
        .arg(&tok)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = results(dir.path());
    let r = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["warmup"] == false)
        .unwrap();
    assert_eq!(r["output_tokens"], 20);
    assert_eq!(r["output_tokens_source"], "usage");
    let ours = r["output_tokens_tokenizer"].as_u64().unwrap();
    assert!(ours >= 3 * 20, "our tokenizer splits the word: {ours}");
    assert!(
        r["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "token_count_mismatch"),
        "the disagreement is flagged: {r}"
    );
}
