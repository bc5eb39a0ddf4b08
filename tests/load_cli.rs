//! End to end through the binary: `inferbench mock-engine` in its own process, then
//! `inferbench api --url … <load mode>` and `inferbench compare`.

use assert_cmd::cargo::CommandCargoExt;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::MockEngine;

/// The synthetic engine with this file's timing (TTFT 20 ms, 2 ms per token, 32 tokens).
fn mock_engine(extra: &[&str]) -> MockEngine {
    let mut args = vec!["--ttft-ms", "20", "--itl-ms", "2", "--tokens", "32"];
    args.extend_from_slice(extra);
    common::mock_engine(&args)
}

fn api(url: &str, out: &Path, load: &[&str]) {
    let o = Command::cargo_bin("inferbench")
        .unwrap()
        .args([
            "api",
            "--url",
            url,
            "--model",
            "mock",
            "--quick",
            "--max-tokens",
            "32",
        ])
        .arg("--out-dir")
        .arg(out)
        .args(load)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "inferbench api failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn only_file(dir: &Path, ext: &str) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn rate_sweep_writes_html_and_csv() {
    let _turn = one_at_a_time();
    let mock = mock_engine(&[]);
    let tmp = tempfile::tempdir().unwrap();
    api(
        &mock.url,
        tmp.path(),
        &[
            "--sweep",
            "rate:10,40",
            "--requests",
            "30",
            "--html",
            "--csv",
            "--slo",
            "ttft_ms=1000",
        ],
    );
    let html = std::fs::read_to_string(only_file(&tmp.path().join("report"), ".html")).unwrap();
    assert!(html.contains("TTFT against throughput"));
    assert!(html.contains("rate=40/s"));
    assert!(!html.contains("<script"));
    let runs_csv: Vec<PathBuf> = std::fs::read_dir(tmp.path().join("output"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".csv") && !n.ends_with(".steps.csv")
        })
        .collect();
    assert_eq!(runs_csv.len(), 1, "{runs_csv:?}");
    let csv = std::fs::read_to_string(&runs_csv[0]).unwrap();
    // Header + 2 steps × (30 measured + warm-up) runs.
    assert!(csv.lines().count() > 60, "{}", csv.lines().count());
    let steps =
        std::fs::read_to_string(only_file(&tmp.path().join("output"), ".steps.csv")).unwrap();
    assert_eq!(steps.lines().count(), 3);
    let doc: inferbench::results::ResultsDoc = serde_json::from_str(
        &std::fs::read_to_string(only_file(&tmp.path().join("output"), ".json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc.load.len(), 2);
    assert!(doc.load.iter().all(|s| s.failed == 0 && s.requests == 30));
    assert_eq!(doc.load[0].goodput.as_ref().unwrap().fraction, 1.0);
}

fn results_json(out: &Path) -> PathBuf {
    only_file(&out.join("output"), ".json")
}

/// The tests of this file time a synthetic engine: run side by side on two cores, each
/// would measure the other's load. They take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `inferbench compare A B` with a 5% smallest effect: two runs against the same server on a
/// shared 2-core machine drift by a few percent, which the default 1% would call a change.
fn compare(a: &Path, b: &Path) -> String {
    let o = Command::cargo_bin("inferbench")
        .unwrap()
        .arg("compare")
        .arg(a)
        .arg(b)
        .args(["--min-effect", "5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn verdict_line<'a>(table: &'a str, metric: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{metric} ")))
        .unwrap_or_else(|| panic!("no {metric} row in\n{table}"))
}

#[test]
fn compare_same_server_and_a_twenty_percent_slower_one() {
    let _turn = one_at_a_time();
    let load = ["--concurrency", "4", "--requests", "48"];
    let base = mock_engine(&[]);
    let slow = mock_engine(&["--slowdown", "1.2"]);
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    api(&base.url, a.path(), &load);
    api(&base.url, b.path(), &load);
    api(&slow.url, c.path(), &load);

    let same = compare(&results_json(a.path()), &results_json(b.path()));
    assert!(
        verdict_line(&same, "tpot_ms").ends_with("no significant difference"),
        "{same}"
    );
    assert!(same.contains("a change of at least 5%"), "{same}");
    let slower = compare(&results_json(a.path()), &results_json(c.path()));
    for m in ["tpot_ms", "ttft_ms", "e2e_ms"] {
        assert!(
            verdict_line(&slower, m).ends_with("slower"),
            "{m}\n{slower}"
        );
    }
    assert!(
        verdict_line(&slower, "decode_tps").ends_with("slower"),
        "{slower}"
    );
}
