//! The client's own error bar end to end (issue 21): `--calibrate` sends each load step's
//! shape again to the built-in synthetic engine and records the client's TTFT and TPOT
//! error beside the engine's figures; without it a short run says why it was not
//! calibrated. Bounds are loose on purpose: two shared cores make timings noisy.

mod common;
use common::{inferbench, only_file};
use serde_json::Value;

fn exe() -> String {
    assert_cmd::cargo::cargo_bin("inferbench")
        .display()
        .to_string()
}

/// Two synthetic engines with the same script (TTFT 20 ms, 5 ms per token, 16 tokens).
fn run(extra: &[&str]) -> (Value, String, String) {
    let mock = || {
        serde_json::json!({
            "kind": "mock",
            "binary": exe(),
            "port": common::free_port(),
            "extra_args": ["--ttft-ms", "20", "--itl-ms", "5", "--tokens", "16"],
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "benchmark": {"max_tokens": 16},
        "inferbench": {"chat_template": "gemma3"},
        "servers": {"a": mock(), "b": mock()},
    });
    std::fs::write(
        dir.path().join("benchmark_config.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--concurrency", "4", "--requests", "24"])
        .args(["--out-dir", "D"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(only_file(&dir.path().join("D/output"), "json")).unwrap(),
    )
    .unwrap();
    common::assert_valid_results(&doc);
    let md = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "md")).unwrap();
    (doc, stdout, md)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn calibrate_records_the_clients_error_beside_each_step() {
    let (doc, stdout, md) = run(&["--calibrate"]);
    let steps = doc["load"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{doc:#}");
    for s in steps {
        let c = &s["calibration"];
        assert_eq!(c["full"], true, "{c}");
        assert!(c.get("skipped").is_none(), "{c}");
        assert_eq!(c["requests"], 24, "{c}");
        assert_eq!(c["ok"], 24, "{c}");
        assert!(c["output_tokens"].as_u64().unwrap() >= 2, "{c}");
        // Scripted at the engine's medians: around the synthetic engine's 20 ms and 5 ms.
        let (ttft, tpot) = (num(&c["scripted_ttft_ms"]), num(&c["scripted_tpot_ms"]));
        assert!((15.0..2000.0).contains(&ttft), "{c}");
        assert!((3.0..500.0).contains(&tpot), "{c}");
        for (key, scripted) in [("ttft_error_ms", ttft), ("tpot_error_ms", tpot)] {
            let e = &c[key];
            assert_eq!(e["n"], 24, "{key}: {e}");
            let bound = num(&e["bound95"]);
            assert!(bound.is_finite() && bound >= 0.0, "{key}: {e}");
            // The client cannot see a token much before the script sends it.
            assert!(num(&e["mean"]) > -0.5 * scripted, "{key}: {e}");
            assert!(num(&e["p99"]) >= num(&e["p50"]), "{key}: {e}");
            assert!(num(&e["max"]) >= num(&e["p99"]), "{key}: {e}");
        }
        assert!(num(&c["wall_s"]) > 0.0, "{c}");
    }
    // Shown beside the engine's figures, and the engines compared only beyond it.
    assert!(
        md.contains("## The client's own error (calibration)"),
        "{md}"
    );
    assert!(
        stdout.contains("client error (ms, measured − scripted"),
        "{stdout}"
    );
    let pair = stdout
        .lines()
        .find(|l| l.starts_with("c=4: TTFT mean a "))
        .unwrap_or_else(|| panic!("no TTFT comparison in\n{stdout}"));
    assert!(
        pair.contains("within the client's error") || pair.contains("beyond the client's error"),
        "{pair}"
    );
}

#[test]
fn a_short_run_without_calibrate_says_why_it_was_not_calibrated() {
    let (doc, _, md) = run(&[]);
    for s in doc["load"].as_array().unwrap() {
        let c = &s["calibration"];
        assert_eq!(c["full"], false, "{c}");
        let why = c["skipped"].as_str().unwrap_or_else(|| panic!("{c}"));
        assert!(why.contains("--calibrate") && why.contains("5%"), "{why}");
        assert!(c.get("ttft_error_ms").is_none_or(Value::is_null), "{c}");
    }
    assert!(md.contains("not calibrated"), "{md}");
}
