//! `--export br0.2,vllm`: load steps in llm-d-benchmark's Benchmark Report v0.2 and in
//! vLLM's `bench serve --save-result` shape.
//!
//! - The files over a generated document are pinned by snapshots (`tests/snapshots/`).
//! - Every Benchmark Report we write validates against the schema PyPI's
//!   `llmd-benchmark-report` publishes: its pydantic models (units checked too) and its
//!   JSON Schema (`br_v0_2_json_schema.json`), both from the package scripts/setup.sh
//!   installs into the venv.
//! - `compare` reads each file we write back beside our own results with the same figures.
//! - End to end: a load run against the synthetic engine with `--export br0.2,vllm`, then
//!   `inferbench compare` of our results with each exported file.

use inferbench::cli::ExportFormat;
use inferbench::compare::beside::{PeerReport, beside};
use inferbench::compare::peers::{self, ITL_POOLED, Mapping, PeerLoad, PeerTool, Stat};
use inferbench::export::peer::{pooled_chunk_gaps_ms, render};
use inferbench::load::report::{StepExtras, step_report};
use inferbench::load::schedule::Arrival;
use inferbench::measure::inference::{Bootstrap, MIN_EFFECT};
use inferbench::results::{
    Environment, Mode, ResultsDoc, RunRecord, SCHEMA_VERSION, Sampling, TimelineMs,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn sampling() -> Sampling {
    Sampling {
        max_tokens: 16,
        temperature: 0.0,
        seed: Some(1),
        top_p: None,
        top_k: None,
        ignore_eos: false,
    }
}

/// `n` requests of one step, sent every `gap` ms. Request i: TTFT 40 + i ms, 3 + i % 4
/// chunks 4 + i % 3 ms apart (so pooled chunk gaps and per-request means differ), 2 tokens
/// a chunk, 50 + 7 i prompt tokens; the last request fails.
fn step_records(step: &str, n: u32, gap: f64) -> Vec<RunRecord> {
    (0..n)
        .map(|i| {
            let mut r = RunRecord::new(
                "llamacpp",
                Mode::Api,
                "/v1/chat/completions",
                "p1",
                "short",
                i,
                sampling(),
                "gemma3",
            );
            r.started_at = format!("2026-12-01T10:00:{:02}+00:00", i);
            r.load_step = Some(step.into());
            let sent = gap * f64::from(i);
            let ttft = 40.0 + f64::from(i);
            let chunks = 3 + i % 4;
            let chunk_gap = 4.0 + f64::from(i % 3);
            let events: Vec<f64> = (0..chunks)
                .map(|k| ttft + chunk_gap * f64::from(k))
                .collect();
            r.timeline = Some(TimelineMs {
                scheduled_ms: sent,
                sent_ms: sent + 0.1,
                first_byte_ms: Some(ttft - 1.0),
                end_ms: events.last().map(|e| e + 0.5),
                events_ms: events.clone(),
            });
            r.prompt_tokens = Some(50 + 7 * u64::from(i));
            if i + 1 == n {
                r.fail("HTTP 500: boom");
                return r;
            }
            let tokens = 2 * u64::from(chunks);
            let (first, last) = (events[0], events[events.len() - 1]);
            r.ok = true;
            r.ttft_ms = Some(ttft);
            r.e2e_ms = Some(last);
            r.tpot_ms = Some((last - first) / (tokens - 1) as f64);
            r.icl_ms = Some(chunk_gap);
            r.decode_tps = r.tpot_ms.map(|t| 1000.0 / t);
            r.output_tokens = Some(tokens);
            r
        })
        .collect()
}

/// Two steps of one engine: a closed loop at c=2 and an open loop at 4/s.
fn doc() -> ResultsDoc {
    let mut runs = Vec::new();
    let mut load = Vec::new();
    let steps = [
        ("c=2", Arrival::Closed { concurrency: 2 }, 30.0),
        (
            "rate=4/s",
            Arrival::Open {
                rate: 4.0,
                burstiness: 1.0,
            },
            250.0,
        ),
    ];
    for (i, (label, arrival, gap)) in steps.into_iter().enumerate() {
        let recs = step_records(label, 12, gap);
        let extras = StepExtras {
            cpu_s: Some(0.1),
            wall_s: Some(4.0),
            cores_available: 2,
            ..StepExtras::default()
        };
        load.push(step_report("llamacpp", label, i, arrival, &recs, &extras));
        runs.extend(recs);
    }
    ResultsDoc {
        schema_version: SCHEMA_VERSION,
        tool: "inferbench 0.1.0".into(),
        mode: Mode::Api,
        started_at: "2026-12-01T10:00:00+00:00".into(),
        finished_at: "2026-12-01T10:01:00+00:00".into(),
        environment: Environment {
            os: "Linux".into(),
            cores: 2,
            ..Environment::default()
        },
        config: serde_json::json!({"servers": {"llamacpp": {"model_path": "/m/gemma-3-270m-Q4_K_M.gguf"}}}),
        engines: Vec::new(),
        runs,
        summaries: Vec::new(),
        load,
        search: Vec::new(),
        workload: None,
        parity: None,
    }
}

fn home() -> PathBuf {
    inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set")
}

/// The venv's Python with `llmd-benchmark-report` (scripts/setup.sh installs both).
fn python() -> PathBuf {
    let py = home().join("venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup.sh (it installs the venv with llmd-benchmark-report)",
        py.display()
    );
    py
}

/// Validates each file with the package's pydantic models; one line per file:
/// "VALID <path> <version>" or "INVALID <path>: <why>".
const VALIDATE: &str = r#"
import json, sys
from llmd_benchmark_report import load_benchmark_report
for path in sys.argv[1:]:
    with open(path) as f:
        data = json.load(f)
    try:
        br = load_benchmark_report(data)
        print("VALID", path, br.version)
    except Exception as e:
        print("INVALID", path + ":", " ".join(str(e).split()))
"#;

/// What the package's pydantic models say of each file: `Ok(version)` or `Err(why)`.
fn pydantic_verdicts(files: &[&Path]) -> Vec<Result<String, String>> {
    let o = Command::new(python())
        .arg("-c")
        .arg(VALIDATE)
        .args(files)
        .output()
        .expect("python runs");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "the validator failed (is llmd-benchmark-report installed? run scripts/setup.sh):\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), files.len(), "{out}");
    lines
        .iter()
        .map(|l| match l.split_once(' ') {
            Some(("VALID", rest)) => Ok(rest.rsplit(' ').next().unwrap_or("").to_string()),
            _ => Err(l.to_string()),
        })
        .collect()
}

/// The JSON Schema the package ships.
fn published_schema() -> Value {
    let o = Command::new(python())
        .args([
            "-c",
            "import os, llmd_benchmark_report as m; \
             print(os.path.join(os.path.dirname(m.__file__), 'br_v0_2_json_schema.json'))",
        ])
        .output()
        .expect("python runs");
    let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run scripts/setup.sh)"));
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn schema_errors(schema: &Value, doc: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the schema compiles");
    validator.iter_errors(doc).map(|e| e.to_string()).collect()
}

/// `file` (text in a peer's format) set beside `doc` by `compare`.
fn beside_doc(text: &str, doc: &ResultsDoc) -> PeerReport {
    let peer = peers::parse(text).expect("compare reads what we wrote");
    beside(&peer, doc, true, Bootstrap::default(), MIN_EFFECT)
}

/// Every figure `compare` read from our file equals the one it computes from our results,
/// to the last bit JSON keeps (a relative 1e-12), and maps as "same".
fn assert_identical(r: &PeerReport, expect_load: PeerLoad) {
    assert_eq!(r.peer.load, Some(expect_load));
    assert!(r.matched, "our file's load matches its own step");
    assert_eq!(r.groups.len(), 1, "{:?}", r.groups);
    let rows = &r.groups[0].rows;
    for (ours, stats) in [
        (
            "ttft_ms",
            &[Stat::Mean, Stat::P50, Stat::P90, Stat::P95, Stat::P99][..],
        ),
        ("tpot_ms", &[Stat::Mean, Stat::P50, Stat::P99][..]),
        (ITL_POOLED, &[Stat::Mean, Stat::P50, Stat::P99][..]),
        ("e2e_ms", &[Stat::Mean, Stat::P50, Stat::P99][..]),
        ("request_rps", &[Stat::Value][..]),
        ("output_tps", &[Stat::Value][..]),
    ] {
        for stat in stats {
            assert!(
                rows.iter()
                    .any(|row| row.figure.ours == ours && row.figure.stat == *stat),
                "no {ours} {stat:?} in {:?}",
                r.peer.figures
            );
        }
    }
    for row in rows {
        let f = &row.figure;
        let ours = row
            .ours
            .unwrap_or_else(|| panic!("{} {:?}: no figure of ours", f.ours, f.stat));
        assert!(
            (ours - f.value).abs() <= 1e-12 * ours.abs().max(1.0),
            "{} {:?} ({}): ours {ours}, the file {}",
            f.ours,
            f.stat,
            f.theirs,
            f.value
        );
        assert_eq!(f.mapping, Mapping::Same, "{}", f.theirs);
    }
}

#[test]
fn snapshots_of_both_formats() {
    let d = doc();
    for (i, step) in d.load.iter().enumerate() {
        insta::assert_snapshot!(
            format!("br02_step{i}"),
            render(ExportFormat::Br02, &d, step)
        );
        insta::assert_snapshot!(
            format!("vllm_step{i}"),
            render(ExportFormat::Vllm, &d, step)
        );
    }
}

#[test]
fn itl_is_vllms_pooled_chunk_gap_not_our_per_request_mean() {
    let d = doc();
    let v: Value = serde_json::from_str(&render(ExportFormat::Vllm, &d, &d.load[0])).expect("JSON");
    // By hand: 11 successful requests, request i has 2 + i % 4 gaps of 4 + i % 3 ms.
    let (mut sum, mut n, mut means) = (0.0, 0.0, 0.0);
    for i in 0..11u32 {
        let gaps = f64::from(2 + i % 4);
        let g = 4.0 + f64::from(i % 3);
        sum += gaps * g;
        n += gaps;
        means += g;
    }
    let pooled = sum / n;
    let mean_itl = v["mean_itl_ms"].as_f64().expect("mean_itl_ms");
    assert!((mean_itl - pooled).abs() < 1e-9, "{mean_itl} vs {pooled}");
    assert!(
        (pooled - means / 11.0).abs() > 0.01,
        "the two must differ here"
    );
    let gaps = pooled_chunk_gaps_ms(d.runs.iter().filter(|r| r.ok && !r.warmup).take(11));
    assert_eq!(gaps.len() as f64, n);
    // What has no counterpart of ours is left out, not estimated.
    for key in [
        "total_token_throughput",
        "request_goodput",
        "max_output_tokens_per_s",
        "ttfts",
    ] {
        assert!(v.get(key).is_none(), "{key}");
    }
    assert_eq!(v["max_concurrency"], 2);
    assert_eq!(v["request_rate"], "inf");
    assert_eq!(
        (v["completed"].as_u64(), v["failed"].as_u64()),
        (Some(11), Some(1))
    );
}

#[test]
fn compare_reads_our_files_back_with_the_same_figures() {
    let d = doc();
    let loads = [PeerLoad::Concurrency(2), PeerLoad::Rate(4.0)];
    for (step, load) in d.load.iter().zip(loads) {
        for format in [ExportFormat::Br02, ExportFormat::Vllm] {
            let text = render(format, &d, step);
            let r = beside_doc(&text, &d);
            let tool = match format {
                ExportFormat::Br02 => PeerTool::BenchmarkReport,
                ExportFormat::Vllm => PeerTool::VllmBenchServe,
            };
            assert_eq!(r.peer.tool, tool);
            assert_eq!((r.peer.completed, r.peer.failed), (Some(11), Some(1)));
            assert_identical(&r, load);
        }
    }
}

#[test]
fn our_benchmark_reports_validate_against_the_published_schema() {
    let d = doc();
    let tmp = tempfile::tempdir().expect("tmp");
    let schema = published_schema();
    let mut files = Vec::new();
    for (i, step) in d.load.iter().enumerate() {
        let text = render(ExportFormat::Br02, &d, step);
        let v: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(schema_errors(&schema, &v), Vec::<String>::new(), "step {i}");
        let p = tmp.path().join(format!("s{i}.br0.2.json"));
        std::fs::write(&p, &text).expect("write");
        files.push(p);
    }
    // Our hand-made report of another tool (tests/fixtures/peers) follows the spec too.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/peers/benchmark_report_v0_2.json");
    let fv: Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).expect("fixture")).expect("JSON");
    assert_eq!(schema_errors(&schema, &fv), Vec::<String>::new(), "fixture");
    files.push(fixture);

    // The validators can fail: a TTFT in tokens/s (the models check units), a field the
    // schema does not have (both check).
    let base: Value =
        serde_json::from_str(&render(ExportFormat::Br02, &d, &d.load[0])).expect("JSON");
    let mut bad_units = base.clone();
    bad_units["results"]["request_performance"]["aggregate"]["latency"]["time_to_first_token"]["units"] =
        "tokens/s".into();
    let mut bad_field = base;
    bad_field["run"]["nickname"] = "x".into();
    assert!(!schema_errors(&schema, &bad_field).is_empty());
    for (name, v) in [("bad_units", &bad_units), ("bad_field", &bad_field)] {
        let p = tmp.path().join(format!("{name}.json"));
        std::fs::write(&p, v.to_string()).expect("write");
        files.push(p);
    }
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let verdicts = pydantic_verdicts(&paths);
    let n = verdicts.len();
    for (path, verdict) in paths[..n - 2].iter().zip(&verdicts) {
        assert_eq!(verdict.as_deref(), Ok("0.2"), "{}", path.display());
    }
    for verdict in &verdicts[n - 2..] {
        assert!(verdict.is_err(), "a broken report passed: {verdict:?}");
    }
}

/// A load run against the synthetic engine with `--export br0.2,vllm`: one file per step
/// and format beside the results; the reports validate; `compare` of our results with
/// each exported file prints the same figures (B/A 1.000 on every row).
#[test]
fn load_run_exports_what_compare_reads_back_identically() {
    let mock = common::mock_engine(&["--ttft-ms", "20", "--itl-ms", "3", "--tokens", "12"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let o = common::inferbench(tmp.path())
        .args(["api", "--url", &mock.url, "--model", "mock", "--quick"])
        .args(["--max-tokens", "12", "--sweep", "1,3", "--requests", "9"])
        .args(["--export", "br0.2", "--export", "vllm"])
        .arg("--out-dir")
        .arg(tmp.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = tmp.path().join("output");
    let with = |suffix: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&out)
            .expect("output")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        v.sort();
        v
    };
    let (brs, vllms) = (with(".br0.2.json"), with(".vllm.json"));
    let names: Vec<String> = brs
        .iter()
        .chain(&vllms)
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for step in ["_mock_c1.", "_mock_c3."] {
        assert_eq!(
            names.iter().filter(|n| n.contains(step)).count(),
            2,
            "{names:?}"
        );
    }
    assert_eq!(stdout.matches("export:  ").count(), 4, "{stdout}");
    let native = with(".json")
        .into_iter()
        .find(|p| !brs.contains(p) && !vllms.contains(p))
        .expect("our results");
    let doc: ResultsDoc =
        serde_json::from_str(&std::fs::read_to_string(&native).expect("read")).expect("ours");

    let schema = published_schema();
    for p in &brs {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("JSON");
        assert_eq!(
            schema_errors(&schema, &v),
            Vec::<String>::new(),
            "{}",
            p.display()
        );
    }
    let brs_paths: Vec<&Path> = brs.iter().map(PathBuf::as_path).collect();
    for (p, verdict) in brs.iter().zip(pydantic_verdicts(&brs_paths)) {
        assert_eq!(verdict.as_deref(), Ok("0.2"), "{}", p.display());
    }

    for (file, c) in brs.iter().zip([1, 3]).chain(vllms.iter().zip([1, 3])) {
        let r = beside_doc(&std::fs::read_to_string(file).expect("read"), &doc);
        assert_identical(&r, PeerLoad::Concurrency(c));
        // The binary prints the same: every row's B/A is 1.000.
        let o = common::inferbench(tmp.path())
            .arg("compare")
            .arg(&native)
            .arg(file)
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        assert_eq!(o.status.code(), Some(0), "{text}");
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|c| c.len() >= 5 && c.last() == Some(&"same"))
            .collect();
        assert!(rows.len() >= 15, "{text}");
        for row in rows {
            assert_eq!(row[4], "1.000", "{row:?} in\n{text}");
        }
    }
}

#[test]
fn a_run_without_load_steps_warns_and_exports_nothing() {
    let mock = common::mock_engine(&["--ttft-ms", "5", "--itl-ms", "1", "--tokens", "4"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let o = common::inferbench(tmp.path())
        .args(["api", "--url", &mock.url, "--model", "mock", "--quick"])
        .args(["--max-tokens", "4", "--export", "br0.2,vllm"])
        .arg("--out-dir")
        .arg(tmp.path())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("nothing to export"), "{stderr}");
    let exported = std::fs::read_dir(tmp.path().join("output"))
        .expect("output")
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.ends_with(".br0.2.json") || n.ends_with(".vllm.json")
        })
        .count();
    assert_eq!(exported, 0);
}
