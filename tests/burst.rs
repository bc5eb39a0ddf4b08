//! A server that sends every chunk of a reply in one burst at the end (`mock-engine
//! --fault burst`): `inferbench api --url` must report no decode rate for it, say why,
//! and keep TTFT and E2E as sent. Real time is involved, so timing bounds are loose.

use serde_json::Value;

mod common;
use common::only_file;

fn check_run(r: &Value) {
    assert_eq!(r["ok"], true, "{r}");
    for field in ["decode_tps", "tpot_ms", "decode_tps_source"] {
        assert!(r[field].is_null(), "{field} must be empty for a burst: {r}");
    }
    let flags: Vec<&Value> = r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "decode_not_measurable")
        .collect();
    assert_eq!(flags.len(), 1, "{}", r["flags"]);
    let msg = flags[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("64 output tokens") && msg.contains("one burst"),
        "{msg}"
    );
    // Scripted: first token due at 30 ms, the last (64th) at 30 + 63·4 = 282 ms; all of
    // them leave at 282 ms.
    let ttft = r["ttft_ms"].as_f64().unwrap();
    let e2e = r["e2e_ms"].as_f64().unwrap();
    assert!((275.0..600.0).contains(&ttft), "TTFT {ttft}");
    assert!((275.0..600.0).contains(&e2e), "E2E {e2e}");
    assert!(e2e - ttft < 5.0, "one burst: TTFT {ttft} vs E2E {e2e}");
    assert_eq!(r["output_tokens"], 64);
    // What the stream would have implied is kept aside, not in any summary.
    let rejected = r["rejected_decode"].as_array().unwrap();
    assert_eq!(rejected[0]["reason"], "decode_not_measurable");
    assert_eq!(rejected[0]["source"], "client_clock");
}

#[test]
fn a_burst_reply_has_no_decode_rate_and_keeps_ttft_and_e2e() {
    let m = common::mock_engine(&[
        "--ttft-ms",
        "30",
        "--itl-ms",
        "4",
        "--tokens",
        "64",
        "--fault",
        "burst",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = common::inferbench(dir.path())
        .args([
            "api", "--url", &m.url, "--model", "mock", "--runs", "2", "--quick", "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output = dir.path().join("output");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(only_file(&output, "json")).unwrap())
            .unwrap();
    let measured: Vec<&Value> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["warmup"] == false)
        .collect();
    assert_eq!(measured.len(), 2);
    for r in &measured {
        check_run(r);
    }
    // The JSONL says the same.
    let jsonl = std::fs::read_to_string(only_file(&output, "jsonl")).unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["warmup"] == false)
        .collect();
    assert_eq!(lines.len(), 2);
    for r in &lines {
        check_run(r);
    }
    // No summary carries a decode rate; TTFT's does.
    for s in doc["summaries"].as_array().unwrap() {
        for metric in ["decode_tps", "tpot_ms"] {
            let m = &s["metrics"][metric];
            assert!(
                m.is_null() || m["n"] == 0,
                "{metric} summarized from a burst: {s}"
            );
        }
        assert_eq!(s["metrics"]["ttft_ms"]["n"], 2, "{s}");
    }
    // The document still validates against the published schema.
    common::assert_valid_results(&doc);
}
