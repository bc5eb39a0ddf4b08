//! Throttling and drift end to end (issue 21): a synthetic engine that slows 2% per
//! request is flagged `drift` with its size, beside one that keeps its pace; every run
//! carries its clocks and temperatures, or the reason this host has none.

mod common;
use common::{inferbench, only_file};
use serde_json::Value;

fn exe() -> String {
    assert_cmd::cargo::cargo_bin("inferbench")
        .display()
        .to_string()
}

fn mock(extra: &[&str]) -> Value {
    let mut args = vec!["--ttft-ms", "5", "--itl-ms", "10", "--tokens", "20"];
    args.extend_from_slice(extra);
    serde_json::json!({
        "kind": "mock",
        "binary": exe(),
        "port": common::free_port(),
        "extra_args": args,
    })
}

/// Whether this host has a thermal zone whose temperature can be read.
fn thermal_zone() -> bool {
    std::fs::read_dir("/sys/class/thermal").is_ok_and(|d| {
        d.flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("thermal_zone")
                && std::fs::read_to_string(e.path().join("temp")).is_ok()
        })
    })
}

#[test]
fn an_engine_slowing_two_percent_per_run_is_flagged_drift() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "benchmark": {"num_runs": 12, "max_tokens": 20},
        "inferbench": {"warmup_runs": 0, "chat_template": "gemma3"},
        "servers": {
            "steady": mock(&[]),
            "slowing": mock(&["--slowdown-per-request", "0.02"]),
        },
    });
    std::fs::write(
        dir.path().join("benchmark_config.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--runs", "12", "--out-dir", "D"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(only_file(&dir.path().join("D/output"), "json")).unwrap(),
    )
    .unwrap();
    common::assert_valid_results(&doc);

    let overall = |engine: &str| {
        doc["summaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["engine"] == engine && g["tier"] == "all")
            .unwrap()
            .clone()
    };
    // 1.02^k slower per request: the last third's median is ~15% below the first's
    // (8 steps of 2%).
    let slow = overall("slowing");
    let d = &slow["drift"];
    assert_eq!(d["runs"], 12, "{slow}");
    assert_eq!(d["drift"], true, "{slow}");
    let change = d["change_pct"].as_f64().unwrap();
    assert!((-25.0..-6.0).contains(&change), "{slow}");
    assert!(d["tau"].as_f64().unwrap() < -0.6, "{slow}");
    assert!(d["p"].as_f64().unwrap() < 0.01, "{slow}");
    assert_eq!(slow["flags"][0]["kind"], "drift", "{slow}");
    let msg = slow["flags"][0]["message"].as_str().unwrap();
    assert!(msg.starts_with("decode fell "), "{msg}");
    // The steady engine is tested and not flagged.
    let steady = overall("steady");
    assert_eq!(steady["drift"]["drift"], false, "{steady}");
    assert!(steady.get("flags").is_none(), "{steady}");

    // Every run carries its clocks, or why there are none.
    for r in doc["runs"].as_array().unwrap() {
        let c = &r["telemetry"]["clocks"];
        assert!(c.is_object(), "{r}");
        if thermal_zone() {
            assert!(c["zones"][0]["max_c"].as_f64().is_some(), "{c}");
        } else {
            let why = c["thermal_reason"].as_str().unwrap();
            assert!(why.starts_with("no thermal zones"), "{why}");
        }
        assert!(
            c["gpu_clock_reason"].is_string() || c["gpus"].is_array(),
            "{c}"
        );
    }

    let md = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "md")).unwrap();
    assert!(md.contains("## Clocks, temperature and drift"), "{md}");
    assert!(md.contains("- slowing api: "), "{md}");
    assert!(md.contains("**drift**: decode fell "), "{md}");
    assert!(md.contains("- steady api: "), "{md}");
    assert!(md.contains("no drift: decode "), "{md}");
    let console = format!("{stdout}{stderr}");
    assert!(
        console.contains("slowing api: drift: decode fell"),
        "{console}"
    );
}
