//! Reasoning end to end against the synthetic engine: `mock-engine --reasoning 6` streams
//! the first 6 of 16 tokens as `reasoning_content`, one every 20 ms after a 40 ms TTFT. A
//! run must time its first token (a reasoning one) and its first answer token apart, and
//! count the 6 reasoning tokens (the server's usage says so). Sequential and load mode
//! share the record path; both are checked. The server given with --url has no /metrics,
//! and the load step must say so. Timing bounds are loose (shared machines); the exact
//! checks are in the unit tests of protocol, stream and measure::metrics.

use serde_json::Value;

mod common;
use common::{assert_valid_results, inferbench, mock_engine, only_file};

fn run(dir: &std::path::Path, url: &str, extra: &[&str]) -> Value {
    let out = inferbench(dir)
        .args(["api", "--url", url, "--model", "mock", "--quick", "--quiet"])
        .args(["--out-dir", "D"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(only_file(&dir.join("D/output"), "json")).unwrap(),
    )
    .unwrap();
    assert_valid_results(&doc);
    doc
}

fn check_runs(doc: &Value) {
    let runs: Vec<&Value> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["warmup"] == false)
        .collect();
    assert!(!runs.is_empty());
    for r in runs {
        assert_eq!(r["ok"], true, "{}", r["error"]);
        assert_eq!(r["output_tokens"], 16);
        assert_eq!(r["reasoning_tokens"], 6);
        assert_eq!(r["reasoning_tokens_source"], "usage");
        let ttft = r["ttft_ms"].as_f64().unwrap();
        let answer = r["ttft_answer_ms"].as_f64().unwrap();
        // Token 6 is due 6 × 20 ms after token 0.
        let gap = answer - ttft;
        assert!(
            (100.0..=400.0).contains(&gap),
            "answer − first token {gap} ms"
        );
        assert!(ttft >= 30.0, "ttft {ttft}");
        // The answer text holds only the 10 answer tokens' text.
        assert!(!r["output_text"].as_str().unwrap().is_empty());
        assert_eq!(r["content_events"], 16, "reasoning deltas are events too");
    }
}

#[test]
fn first_token_and_first_answer_token_are_timed_apart() {
    let m = mock_engine(&[
        "--ttft-ms",
        "40",
        "--itl-ms",
        "20",
        "--tokens",
        "16",
        "--reasoning",
        "6",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let doc = run(dir.path(), &m.url, &["--runs", "2", "--html"]);
    check_runs(&doc);
    let overall = doc["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["tier"] == "all")
        .unwrap();
    assert_eq!(overall["metrics"]["reasoning_tokens"]["mean"], 6.0);
    assert!(
        overall["metrics"]["ttft_answer_ms"]["mean"]
            .as_f64()
            .unwrap()
            > 100.0
    );
    let html = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "html")).unwrap();
    assert!(html.contains("<h2>Reasoning</h2>"));
    let md = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "md")).unwrap();
    assert!(md.contains("## Reasoning"), "{md}");

    let dir = tempfile::tempdir().unwrap();
    let doc = run(
        dir.path(),
        &m.url,
        &[
            "--concurrency",
            "2",
            "--requests",
            "6",
            "--load-warmup",
            "0",
        ],
    );
    check_runs(&doc);
    let step = &doc["load"][0];
    let note = step["server_metrics"]["note"].as_str().unwrap();
    assert!(note.starts_with("no /metrics: HTTP 404"), "{note}");
    assert!(step["metrics"]["ttft_answer_ms"]["n"].as_u64().unwrap() == 6);
}

#[test]
fn a_model_without_reasoning_has_no_reasoning_fields() {
    let m = mock_engine(&["--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8"]);
    let dir = tempfile::tempdir().unwrap();
    let doc = run(dir.path(), &m.url, &["--runs", "1", "--html"]);
    let r = &doc["runs"][0];
    for k in [
        "ttft_answer_ms",
        "reasoning_tokens",
        "reasoning_tokens_source",
    ] {
        assert!(r.get(k).is_none(), "{k} present: {r:#}");
    }
    let html = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "html")).unwrap();
    assert!(!html.contains("<h2>Reasoning</h2>"));
}
