//! A server that sends every chunk of a reply in one burst at the end (`mock-engine
//! --fault burst`): `inferbench api --url` must report no decode rate for it, say why,
//! and keep TTFT and E2E as sent. That TTFT holds the whole generation: no prefill tok/s
//! and no ICL may be read from it in any report, and every report marks it. Real time is
//! involved, so timing bounds are loose.

use serde_json::Value;

mod common;
use common::only_file;

/// What reports say of a TTFT that holds the whole generation.
const LUMP: &str = "TTFT holds the whole generation (one lump)";

fn check_run(r: &Value) {
    assert_eq!(r["ok"], true, "{r}");
    for field in [
        "decode_tps",
        "tpot_ms",
        "decode_tps_source",
        "prefill_tps",
        "icl_ms",
    ] {
        assert!(r[field].is_null(), "{field} must be empty for a burst: {r}");
    }
    assert_eq!(r["ttft_holds_generation"], true, "{r}");
    // The prompt was counted: prefill tok/s is withheld, not just missing an input.
    assert!(r["prompt_tokens"].as_u64().is_some_and(|n| n > 0), "{r}");
    let flags: Vec<&Value> = r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "decode_not_measurable")
        .collect();
    assert_eq!(flags.len(), 1, "{}", r["flags"]);
    let msg = flags[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("64 output tokens") && msg.contains("one burst") && msg.contains(LUMP),
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
    // No summary carries a decode rate, a prefill rate or an ICL; TTFT's does, and says
    // that it holds the whole generation.
    for s in doc["summaries"].as_array().unwrap() {
        for metric in ["decode_tps", "tpot_ms", "prefill_tps", "icl_ms"] {
            let m = &s["metrics"][metric];
            assert!(
                m.is_null() || m["n"] == 0,
                "{metric} summarized from a burst: {s}"
            );
        }
        assert_eq!(s["metrics"]["ttft_ms"]["n"], 2, "{s}");
        assert_eq!(s["ttft_holds_generation"], 2, "{s}");
    }
    // The document still validates against the published schema.
    common::assert_valid_results(&doc);
}

/// The mock engine of this file: 64 tokens, all sent at once when the last is due.
fn burst_engine() -> common::MockEngine {
    common::mock_engine(&[
        "--ttft-ms",
        "30",
        "--itl-ms",
        "4",
        "--tokens",
        "64",
        "--fault",
        "burst",
    ])
}

/// `inferbench api --url <burst engine> <args>` in a fresh directory, with every export;
/// the directory and what it printed on stdout.
fn api(url: &str, args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = common::inferbench(dir.path())
        .args([
            "api", "--url", url, "--model", "mock", "--quick", "--html", "--csv",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cells of a Markdown table row.
fn cells(row: &str) -> Vec<&str> {
    row.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

/// The first data row of the Markdown table that follows `heading`.
fn first_row<'a>(md: &'a str, heading: &str) -> Vec<&'a str> {
    let after = md
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("{heading}: {md}"));
    let row = after
        .lines()
        .filter(|l| l.starts_with('|'))
        .nth(2)
        .unwrap_or_else(|| panic!("no row under {heading}: {md}"));
    cells(row)
}

#[test]
fn a_burst_reply_has_no_prefill_or_icl_in_any_report_and_its_ttft_is_marked() {
    let m = burst_engine();
    let (dir, stdout) = api(&m.url, &["--runs", "2"]);

    // Markdown: the TTFT cells carry the mark, a footnote says what it means, ICL and our
    // prefill are empty.
    let md = std::fs::read_to_string(only_file(&dir.path().join("report"), "md")).unwrap();
    let latency = first_row(&md, "## Latency");
    for ttft in &latency[2..5] {
        assert!(ttft.ends_with(" †"), "TTFT not marked: {latency:?}");
    }
    assert_eq!(latency[8], "–", "ICL from a burst: {latency:?}");
    let engine = first_row(&md, "## Engine-reported figures and memory");
    assert_eq!(engine[4], "–", "our prefill from a burst: {engine:?}");
    let note = format!("† {} (api): {LUMP} in 2 of 2 successful runs", latency[0]);
    assert!(md.contains(&note), "no footnote {note:?}: {md}");
    let tier = first_row(&md, "## By prompt tier");
    assert!(tier[5].ends_with(" †"), "tier TTFT not marked: {tier:?}");

    // The terminal's summary: marked, with the footnote.
    let row = stdout
        .lines()
        .find(|l| l.starts_with(latency[0]))
        .unwrap_or_else(|| panic!("no summary row: {stdout}"));
    assert!(row.contains('†'), "{row}");
    assert!(stdout.contains(LUMP), "{stdout}");

    // HTML: marked and noted.
    let html = std::fs::read_to_string(only_file(&dir.path().join("report"), "html")).unwrap();
    assert!(html.contains(" †</td>"), "HTML TTFT not marked");
    assert!(html.contains(&format!("{LUMP} in 2 of 2 successful runs")));

    // CSV: the two figures are empty in every measured row; TTFT stays.
    let csv = std::fs::read_to_string(only_file(&dir.path().join("output"), "csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (warmup, ttft, prefill, icl) = (
        col("warmup"),
        col("ttft_ms"),
        col("prefill_tps"),
        col("icl_ms"),
    );
    let measured: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[warmup] == "false")
        .collect();
    assert_eq!(measured.len(), 2, "{csv}");
    for c in &measured {
        assert!(!c[ttft].is_empty(), "{c:?}");
        assert_eq!((c[prefill], c[icl]), ("", ""), "{c:?}");
    }
}

#[test]
fn a_load_step_of_bursts_withholds_icl_and_marks_its_ttft() {
    let m = burst_engine();
    let (dir, stdout) = api(&m.url, &["--concurrency", "2", "--requests", "4"]);
    let output = dir.path().join("output");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(only_file(&output, "json")).unwrap())
            .unwrap();
    let steps = doc["load"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{}", doc["load"]);
    let st = &steps[0];
    assert_eq!(st["ok"], 4, "{st}");
    for metric in ["icl_ms", "tpot_ms", "decode_tps", "prefill_tps"] {
        assert!(
            st["metrics"][metric].is_null(),
            "{metric} in the step: {st}"
        );
    }
    assert_eq!(st["metrics"]["ttft_ms"]["n"], 4, "{st}");
    assert_eq!(st["ttft_holds_generation"], 4, "{st}");
    assert!(
        st["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "ttft_holds_generation"
                && f["message"].as_str().is_some_and(|m| m.contains(LUMP))),
        "{st}"
    );
    common::assert_valid_results(&doc);

    // The terminal's step table marks the TTFT columns and notes why.
    let row = stdout
        .lines()
        .find(|l| l.contains("c=2"))
        .unwrap_or_else(|| panic!("no step row: {stdout}"));
    assert_eq!(row.matches('†').count(), 3, "{row}");
    assert!(
        stdout.contains(&format!("c=2: {LUMP} in 4 of 4 successful runs")),
        "{stdout}"
    );

    // The steps CSV says how many of the step's TTFTs hold the generation.
    let steps_csv = std::fs::read_dir(&output)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".steps.csv"))
        .unwrap();
    let csv = std::fs::read_to_string(steps_csv).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "ttft_holds_generation")
        .unwrap();
    assert_eq!(row[col], "4", "{csv}");
}
