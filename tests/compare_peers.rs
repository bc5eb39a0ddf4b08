//! `inferbench compare` with a peer's result beside ours: a vLLM `bench serve
//! --save-result --save-detailed` JSON, an AIPerf `profile_export_aiperf.json` and an
//! llm-d-benchmark Benchmark Report v0.2 (as inference-perf's results converted by
//! llm-d-benchmark look), all written by hand from the tools' documented formats
//! (tests/fixtures/peers/), against our run
//! of the synthetic engine at the load the fixtures record (12 streams, TTFT ~50 ms,
//! 8 tokens 10 ms apart).

use inferbench::compare::beside::beside;
use inferbench::compare::peers::{self, Mapping, PeerLoad, PeerTool, Stat};
use inferbench::measure::inference::{Bootstrap, MIN_EFFECT};
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/peers")
        .join(name)
}

/// Our results at c=12 against the mock with the fixtures' timing.
fn our_results(dir: &Path) -> PathBuf {
    let mock = common::mock_engine(&["--ttft-ms", "50", "--itl-ms", "10", "--tokens", "8"]);
    let o = common::inferbench(dir)
        .args([
            "api",
            "--url",
            &mock.url,
            "--model",
            "mock",
            "--quick",
            "--max-tokens",
            "8",
            "--concurrency",
            "12",
            "--requests",
            "48",
        ])
        .arg("--out-dir")
        .arg(dir)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", text(&o));
    let files: Vec<PathBuf> = std::fs::read_dir(dir.join("output"))
        .expect("output")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

fn compare(dir: &Path, a: &Path, b: &Path) -> Output {
    common::inferbench(dir)
        .arg("compare")
        .arg(a)
        .arg(b)
        .output()
        .expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The row of `metric`/`stat` in the printed table: its cells.
fn row<'a>(out: &'a str, metric: &str, stat: &str) -> Vec<&'a str> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|c| c.len() > 2 && c[0] == metric && c[1] == stat)
        .unwrap_or_else(|| panic!("no row {metric} {stat} in:\n{out}"))
}

#[test]
fn vllm_result_beside_ours_maps_metrics_and_names_what_does_not_translate() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ours = our_results(tmp.path());
    let o = compare(tmp.path(), &fixture("vllm_bench_serve.json"), &ours);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("(vLLM bench serve: model mock"), "{out}");
    assert!(
        out.contains("max concurrency 12; 24 completed, 0 failed"),
        "{out}"
    );
    // Their load matched our step: only it is shown.
    assert!(
        out.contains("mock (api) c=12: 48 requests of ours"),
        "{out}"
    );
    assert!(
        !out.contains("No load step of ours ran at their load"),
        "{out}"
    );

    // Mapped rows: their value, ours, B/A; TTFT mean with a verdict from both sides'
    // per-request values (theirs from --save-detailed `ttfts`).
    let ttft = row(&out, "ttft_ms", "mean");
    let (theirs, mine): (f64, f64) = (ttft[2].parse().expect("A"), ttft[3].parse().expect("B"));
    assert!((theirs - 51.60).abs() < 0.01, "{ttft:?}");
    assert!((45.0..80.0).contains(&mine), "ours {mine}: {ttft:?}");
    let ratio: f64 = ttft[4].parse().expect("ratio");
    assert!((ratio - mine / theirs).abs() < 0.002, "{ttft:?}");
    assert!(
        ttft.contains(&"mean_ttft_ms") && !ttft.contains(&"–"),
        "TTFT mean has a verdict: {ttft:?}"
    );
    for (metric, stat, key) in [
        ("ttft_ms", "p50", "median_ttft_ms"),
        ("ttft_ms", "p99", "p99_ttft_ms"),
        ("tpot_ms", "mean", "mean_tpot_ms"),
        ("itl_pooled_ms", "mean", "mean_itl_ms"),
        ("itl_pooled_ms", "p50", "median_itl_ms"),
        ("itl_pooled_ms", "p99", "p99_itl_ms"),
        ("e2e_ms", "mean", "mean_e2el_ms"),
        ("request_rps", "value", "request_throughput"),
        ("output_tps", "value", "output_throughput"),
    ] {
        let r = row(&out, metric, stat);
        assert!(r.contains(&key), "{metric} {stat}: {r:?}");
    }
    // Their ITL is per chunk, pooled: set beside our chunk gaps pooled the same way, never
    // beside our per-request icl_ms or our per-token TPOT.
    assert!(
        !out.lines().any(|l| l.trim_start().starts_with("icl_ms ")),
        "{out}"
    );
    assert!(out.contains("their ITL is per chunk"), "{out}");
    assert!(out.contains("Our per-token figure is tpot_ms"), "{out}");
    // What does not translate, with why.
    assert!(out.contains("Not translatable (left out):"), "{out}");
    for key in [
        "total_token_throughput: input + output tokens per second",
        "max_concurrent_requests:",
    ] {
        assert!(out.contains(key), "{key}:\n{out}");
    }
}

#[test]
fn aiperf_export_beside_ours_in_either_order() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ours = our_results(tmp.path());
    let o = compare(tmp.path(), &ours, &fixture("aiperf_profile_export.json"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("B = ") && out.contains("(AIPerf: AIPerf 0.6.0, schema 1.5"),
        "{out}"
    );
    assert!(
        out.contains("A (ours)") && out.contains("B (AIPerf)"),
        "{out}"
    );
    // AIPerf's "inter_token_latency" is our TPOT; its TTFT is ours.
    let tpot = row(&out, "tpot_ms", "mean");
    assert!(tpot.contains(&"inter_token_latency.avg"), "{tpot:?}");
    let ttft = row(&out, "ttft_ms", "p90");
    assert!(
        ttft.contains(&"time_to_first_token.p90") && ttft.contains(&"same"),
        "{ttft:?}"
    );
    let mine: f64 = row(&out, "ttft_ms", "mean")[2].parse().expect("ours");
    let theirs: f64 = row(&out, "ttft_ms", "mean")[3].parse().expect("theirs");
    let ratio: f64 = row(&out, "ttft_ms", "mean")[4].parse().expect("ratio");
    assert!(
        (ratio - theirs / mine).abs() < 0.002,
        "B/A is theirs ÷ ours here"
    );
    assert!(
        out.contains("AIPerf's ITL is (request latency − TTFT)"),
        "{out}"
    );
    assert!(
        out.contains("time_to_second_token: no inferbench counterpart"),
        "{out}"
    );
}

#[test]
fn benchmark_report_of_another_tool_beside_ours() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ours = our_results(tmp.path());
    let o = compare(tmp.path(), &ours, &fixture("benchmark_report_v0_2.json"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("(Benchmark Report v0.2: inference-perf 0.3.0, model mock, run 5f0c2a9e"),
        "{out}"
    );
    assert!(
        out.contains("max concurrency 12; 24 completed, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("mock (api) c=12: 48 requests of ours"),
        "{out}"
    );
    // Seconds → ms: their TTFT mean 0.05231 s is 52.31 ms, beside ours, B/A theirs ÷ ours.
    let ttft = row(&out, "ttft_ms", "mean");
    let (mine, theirs): (f64, f64) = (ttft[2].parse().expect("A"), ttft[3].parse().expect("B"));
    assert!((theirs - 52.31).abs() < 0.01, "{ttft:?}");
    assert!((45.0..80.0).contains(&mine), "ours {mine}: {ttft:?}");
    let ratio: f64 = ttft[4].parse().expect("ratio");
    assert!((ratio - theirs / mine).abs() < 0.002, "{ttft:?}");
    for (metric, stat, key) in [
        ("ttft_ms", "p99", "latency.time_to_first_token.p99"),
        ("tpot_ms", "mean", "latency.time_per_output_token.mean"),
        ("itl_pooled_ms", "p90", "latency.inter_token_latency.p90"),
        ("e2e_ms", "p50", "latency.request_latency.p50"),
        ("request_rps", "value", "throughput.request_rate.mean"),
        ("output_tps", "value", "throughput.output_token_rate.mean"),
        ("output_tokens", "mean", "requests.output_length.mean"),
        ("prompt_tokens", "p50", "requests.input_length.p50"),
    ] {
        let r = row(&out, metric, stat);
        assert!(r.contains(&key), "{metric} {stat}: {r:?}");
    }
    let tpot: f64 = row(&out, "tpot_ms", "mean")[3].parse().expect("theirs");
    assert!((tpot - 10.131).abs() < 0.001, "s/token → ms: {tpot}");
    // Another tool wrote it: every figure is close, with how it differs.
    assert!(!out.contains(" same\n"), "{out}");
    assert!(out.contains("How their figures differ from ours:"), "{out}");
    assert!(out.contains("Not translatable (left out):"), "{out}");
    for key in [
        "latency.time_to_first_token.{",
        "p99p9",
        "latency.normalized_time_per_output_token: NTPOT",
        "throughput.input_token_rate:",
        "throughput.total_token_rate:",
    ] {
        assert!(out.contains(key), "{key}:\n{out}");
    }
}

#[test]
fn two_peer_files_or_an_unknown_file_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = compare(
        tmp.path(),
        &fixture("vllm_bench_serve.json"),
        &fixture("aiperf_profile_export.json"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("give at least one inferbench results file"),
        "{}",
        text(&o)
    );
    let odd = tmp.path().join("odd.json");
    std::fs::write(&odd, r#"{"hello": "world"}"#).expect("write");
    let o = compare(tmp.path(), &odd, &fixture("vllm_bench_serve.json"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("not an inferbench results document"),
        "{}",
        text(&o)
    );
}

/// The parsers on the fixtures themselves: every documented figure lands where it should,
/// in our units.
#[test]
fn fixtures_parse_into_our_terms() {
    let v = peers::parse(&std::fs::read_to_string(fixture("vllm_bench_serve.json")).expect("read"))
        .expect("vllm");
    assert_eq!(v.tool, PeerTool::VllmBenchServe);
    assert_eq!(v.load, Some(PeerLoad::Concurrency(12)));
    let f = |p: &peers::PeerResult, ours: &str, stat: Stat| {
        p.figures
            .iter()
            .find(|f| f.ours == ours && f.stat == stat)
            .map(|f| f.value)
    };
    assert!(f(&v, "e2e_ms", Stat::Mean).is_some_and(|x| (x - 122.392).abs() < 1e-6));
    let ttfts = &v
        .samples
        .iter()
        .find(|(n, _)| *n == "ttft_ms")
        .expect("ttfts")
        .1;
    assert_eq!(ttfts.len(), 24);
    let mean = ttfts.iter().sum::<f64>() / 24.0;
    assert!((mean - 51.6025).abs() < 1e-6, "seconds → ms: {mean}");

    let a = peers::parse(
        &std::fs::read_to_string(fixture("aiperf_profile_export.json")).expect("read"),
    )
    .expect("aiperf");
    assert_eq!(a.tool, PeerTool::AiPerf);
    assert_eq!(
        (a.load, a.completed),
        (Some(PeerLoad::Concurrency(12)), Some(24))
    );
    assert!(f(&a, "tpot_ms", Stat::Mean).is_some_and(|x| (x - 10.112_785_714).abs() < 1e-6));
    let same = a
        .figures
        .iter()
        .find(|x| x.ours == "ttft_ms")
        .map(|x| x.mapping.clone());
    assert_eq!(same, Some(Mapping::Same));

    // Beside a document with no run: no group, nothing compared.
    let empty: inferbench::results::ResultsDoc = serde_json::from_value(serde_json::json!({
        "schema_version": 1, "tool": "t", "mode": "api", "started_at": "", "finished_at": "",
        "environment": serde_json::to_value(inferbench::results::Environment::default()).expect("env"), "config": {}, "engines": [], "runs": [], "summaries": []
    }))
    .expect("doc");
    let r = beside(&v, &empty, true, Bootstrap::default(), MIN_EFFECT);
    assert!(r.groups.is_empty() && !r.matched);
}
