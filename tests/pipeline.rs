//! The pipeline end to end through the binary, with engines of `kind: mock` that inferbench
//! starts itself (the synthetic engine as a separate process): bad input refused before
//! any engine starts, an engine left out for its fairness check while the other is
//! measured, load mode's fairness log and records written as requests end.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::{inferbench, only_file};

fn exe() -> String {
    assert_cmd::cargo::cargo_bin("inferbench")
        .display()
        .to_string()
}

/// A config with synthetic engines `name → extra mock-engine args`, each on a free port.
fn config(dir: &Path, engines: &[(&str, &[&str])]) -> PathBuf {
    let mut servers = serde_json::Map::new();
    for (name, args) in engines {
        let mut extra = vec!["--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8"];
        extra.extend_from_slice(args);
        servers.insert(
            name.to_string(),
            serde_json::json!({
                "kind": "mock",
                "binary": exe(),
                "port": common::free_port(),
                "extra_args": extra,
            }),
        );
    }
    let cfg = serde_json::json!({
        "benchmark": {"num_runs": 1, "max_tokens": 8},
        "inferbench": {"warmup_runs": 0, "chat_template": "gemma3"},
        "servers": servers,
    });
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    path
}

fn detailed_log(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("api_benchmark_detailed"))
        })
        .expect("the detailed log")
}

#[test]
fn bad_input_exits_2_before_any_engine_starts() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &[("a", &[])]);
    for (argv, says) in [
        (
            vec!["--requests", "5"],
            "--requests only applies to a load run",
        ),
        (vec!["--engines", "nope"], "no engine `nope`"),
        (
            vec!["--sweep", "concurrency:x"],
            "--sweep \"concurrency:x\"",
        ),
        (vec!["--concurrency", "2", "--slo", "ttft=1"], "--slo"),
        (vec!["--burstiness", "0.5"], "--burstiness only applies"),
    ] {
        let t0 = Instant::now();
        let out = inferbench(dir.path())
            .arg("api")
            .args(&argv)
            .args(["--out-dir", "D"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {stderr}");
        assert!(stderr.contains(says), "{argv:?}: {stderr}");
        // Nothing was started and nothing written: the plan failed first.
        assert!(!dir.path().join("D").exists(), "{argv:?} wrote results");
        assert!(t0.elapsed() < Duration::from_secs(10), "{argv:?} was slow");
    }
}

#[test]
fn an_engine_failing_its_fairness_check_is_left_out_and_the_other_measured() {
    let dir = tempfile::tempdir().unwrap();
    // `good` renders prompts with the reference template, `bad` with ChatML.
    config(
        dir.path(),
        &[
            ("bad", &["--chat-template", "chatml"]),
            ("good", &["--chat-template", "gemma3"]),
        ],
    );
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--out-dir", "D"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("left out bad"), "{stderr}");
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(only_file(&dir.path().join("D/output"), "json")).unwrap(),
    )
    .unwrap();
    common::assert_valid_results(&doc);
    let engines = doc["engines"].as_array().unwrap();
    let bad = engines.iter().find(|e| e["engine"] == "bad").unwrap();
    let why = bad["left_out"].as_str().expect("the reason is recorded");
    assert!(why.contains("fairness check of `bad`"), "{why}");
    let good = engines.iter().find(|e| e["engine"] == "good").unwrap();
    assert!(good["left_out"].is_null());
    assert!(
        good["fairness"].as_str().unwrap().starts_with("match"),
        "{good}"
    );
    let runs = doc["runs"].as_array().unwrap();
    assert!(!runs.is_empty());
    assert!(
        runs.iter()
            .all(|r| r["engine"] == "good" && r["ok"] == true)
    );
    let report = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "md")).unwrap();
    assert!(report.contains("Left out"), "{report}");
    assert!(
        report.contains("the prompt the engine sees differs from the reference rendering"),
        "{report}"
    );
}

#[test]
fn allow_template_mismatch_measures_both_in_load_mode_too() {
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &[
            ("bad", &["--chat-template", "chatml"]),
            ("good", &["--chat-template", "gemma3"]),
        ],
    );
    let out = inferbench(dir.path())
        .args([
            "api",
            "--quick",
            "--out-dir",
            "D",
            "--allow-template-mismatch",
        ])
        .args(["--concurrency", "2", "--requests", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let log = std::fs::read_to_string(detailed_log(&dir.path().join("D/logging"))).unwrap();
    assert!(log.contains("bad: fairness MISMATCH (allowed)"), "{log}");
    assert!(log.contains("good: fairness match"), "{log}");
}

#[test]
fn load_mode_logs_the_same_fairness_result_as_api_mode() {
    let fairness_lines = |load: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        config(dir.path(), &[("a", &["--chat-template", "gemma3"])]);
        let out = inferbench(dir.path())
            .args(["api", "--quick", "--out-dir", "D", "--quiet"])
            .args(load)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = std::fs::read_to_string(detailed_log(&dir.path().join("D/logging"))).unwrap();
        log.lines()
            .filter(|l| l.contains("a: fairness"))
            .map(|l| l.split_once(" a: ").unwrap().1.to_string())
            .collect::<Vec<_>>()
    };
    let sequential = fairness_lines(&[]);
    let load = fairness_lines(&["--concurrency", "2", "--requests", "4"]);
    assert_eq!(sequential.len(), 1, "{sequential:?}");
    assert!(
        sequential[0].starts_with("fairness match"),
        "{sequential:?}"
    );
    assert_eq!(sequential, load);
}

#[test]
fn kill_9_mid_load_step_keeps_every_finished_request() {
    let m = common::mock_engine(&["--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8"]);
    let dir = tempfile::tempdir().unwrap();
    let mut child = inferbench(dir.path())
        .args(["api", "--url", &m.url, "--model", "mock", "--quiet"])
        .args([
            "--concurrency",
            "4",
            "--duration",
            "60",
            "--load-warmup",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = dir.path().join("output");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while Instant::now() < deadline && seen < 50 {
        std::thread::sleep(Duration::from_millis(100));
        seen = common::jsonl_lines(&out);
    }
    assert!(
        seen >= 50,
        "records reach the JSONL while the step runs ({seen})"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(only_file(&out, "jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is a whole record"))
        .collect();
    assert!(records.len() >= seen);
    assert!(
        records
            .iter()
            .all(|r| r["ok"] == true && r["load_step"] == "c=4")
    );
}

#[test]
fn base_url_with_or_without_v1() {
    let m = common::mock_engine(&["--ttft-ms", "2", "--itl-ms", "1", "--tokens", "4"]);
    for url in [
        m.url.clone(),
        format!("{}/v1", m.url),
        format!("{}/v1/", m.url),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = inferbench(dir.path())
            .args([
                "api", "--url", &url, "--model", "mock", "--quick", "--quiet",
            ])
            .args(["--warmup", "0", "--out-dir", "D"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let jsonl =
            std::fs::read_to_string(only_file(&dir.path().join("D/output"), "jsonl")).unwrap();
        let r: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        assert_eq!(r["ok"], true, "{url}: {r}");
    }
}

#[test]
fn without_a_terminal_every_finished_run_is_a_line() {
    let m = common::mock_engine(&["--ttft-ms", "2", "--itl-ms", "1", "--tokens", "4"]);
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .args([
            "api", "--url", &m.url, "--model", "mock", "--quick", "--runs", "3",
        ])
        .args(["--warmup", "1", "--out-dir", "D"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("mock ")).collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines[0].contains("(warm-up) run 0: decode"), "{stderr}");
    assert!(lines[3].contains("run 2: decode"), "{stderr}");
}

#[test]
fn gpus_are_the_engine_process_view_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), &[("a", &[])]);
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["servers"]["a"]["gpus"] = serde_json::json!([2, 5]);
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--out-dir", "D"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(only_file(&dir.path().join("D/output"), "json")).unwrap(),
    )
    .unwrap();
    let engine = &doc["engines"][0];
    assert_eq!(
        engine["engine_settings"]["gpus"]["effective"], "2,5",
        "{engine}"
    );
    assert!(
        engine["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "CUDA_VISIBLE_DEVICES=2,5 (gpus)"),
        "{engine}"
    );
    let runs = doc["runs"].as_array().unwrap();
    assert!(!runs.is_empty() && runs.iter().all(|r| r["ok"] == true));
}

/// `--url` to a port where nothing listens: one message naming the URL and what to do,
/// exit 2, before anything is measured (no results of failed runs on disk).
#[test]
fn url_where_nothing_listens_is_one_message_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let out = inferbench(dir.path())
        .args(["api", "--url", &url, "--model", "m", "--runs", "3"])
        .args(["--out-dir", "D", "--quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let naming: Vec<&str> = stderr.lines().filter(|l| l.contains(&url)).collect();
    assert_eq!(naming.len(), 1, "one message naming {url}:\n{stderr}");
    assert!(
        naming[0].contains("start the server") && naming[0].contains("fix --url"),
        "{}",
        naming[0]
    );
    assert!(!stdout.contains(&url), "{stdout}");
    // Nothing was measured, so nothing was written.
    let mut files = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert!(files.is_empty(), "written: {files:?}");
}
