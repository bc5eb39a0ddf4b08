//! The CLI-mode runner end to end with FAKE engine executables
//! (tests/fixtures/cli/fake-bin/: small scripts that print exactly the documented or
//! captured outputs; they are not engines). Real engines: tests/climode_real.rs.

use clap::Parser;
use inferbench::cli::{Cli, Command};
use inferbench::results::RunRecord;
use serde_json::json;
use std::path::{Path, PathBuf};

fn fake(name: &str) -> String {
    format!(
        "{}/tests/fixtures/cli/fake-bin/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A tiny safetensors file whose header declares 1 GB of weights (no data follows: only
/// the header is ever read), so the roofline is bandwidth / 1 GB.
fn gigabyte_model(dir: &Path) -> PathBuf {
    let header = serde_json::to_vec(&json!({
        "w": {"dtype": "U8", "shape": [1_000_000_000u64], "data_offsets": [0, 1_000_000_000u64]}
    }))
    .unwrap();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    let p = dir.join("model.safetensors");
    std::fs::write(&p, bytes).unwrap();
    p
}

struct Run {
    result: anyhow::Result<i32>,
    records: Vec<RunRecord>,
    doc: serde_json::Value,
    out: tempfile::TempDir,
}

async fn run_cli(engines: serde_json::Value, extra: &[&str], bandwidth_gbps: f64) -> Run {
    run_cli_in(tempfile::tempdir().unwrap(), engines, extra, bandwidth_gbps).await
}

fn assert_ok(run: &Run) {
    if let Err(e) = &run.result {
        let errors: Vec<_> = run.records.iter().map(|r| r.error.clone()).collect();
        panic!("{e:#}; record errors: {errors:?}");
    }
    assert_eq!(run.result.as_ref().unwrap(), &0);
}

fn flags(r: &RunRecord, kind: &str) -> Vec<String> {
    r.flags
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| f.message.clone())
        .collect()
}

#[tokio::test]
async fn steady_engine_two_clocks_agree_and_records_persist_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = gigabyte_model(dir.path());
    let out = tempfile::tempdir().unwrap();
    // The fake prints how many records the JSONL held when it started.
    let engines = json!({"llamacpp": {
        "binary": fake("fake-llama-steady"),
        "model_path": model,
        "threads": 2,
        "extra_args": ["--records-dir", out.path()]
    }});
    let run = run_cli_in(out, engines, &["--runs", "3"], 100.0).await;
    assert_eq!(run.result.as_ref().unwrap(), &0, "{:?}", run.result);
    assert_eq!(run.records.len(), 3);
    for (i, r) in run.records.iter().enumerate() {
        assert!(r.ok, "{:?}", r.error);
        assert_eq!(r.mode, inferbench::results::Mode::Cli);
        assert_eq!(r.run_index, i as u32);
        // Engine clock: the eval line, not the prompt eval line (500 tok/s).
        assert_eq!(r.decode_tps, Some(20.0));
        assert_eq!(r.decode_tps_source.as_deref(), Some("engine_clock"));
        assert_eq!(r.prefill_tps, Some(500.0));
        assert_eq!(r.output_tokens, Some(20));
        // Our clock saw every word arrive.
        assert!(r.content_events >= 15, "{}", r.content_events);
        let wall = r.wall_ms.unwrap();
        assert!(wall >= 950.0, "{wall}");
        assert!(flags(r, "clock_mismatch").is_empty(), "{:?}", r.flags);
        assert!(flags(r, "above_roofline").is_empty());
        assert!(r.memory.as_ref().unwrap().rss_peak_mib.unwrap() > 0.0);
        // Each record was on disk before the next process started.
        assert!(
            r.output_text.starts_with(&format!("seen {i} records")),
            "{}",
            r.output_text
        );
    }
    let engines = run.doc["engines"].as_array().unwrap();
    assert!(
        engines[0]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("roofline 100.0 tok/s")),
        "{}",
        run.doc["engines"]
    );
    assert!(run.out.path().join("report").read_dir().unwrap().count() >= 1);
}

async fn run_cli_in(
    out: tempfile::TempDir,
    engines: serde_json::Value,
    extra: &[&str],
    bandwidth_gbps: f64,
) -> Run {
    let config = json!({
        "benchmark": {"max_tokens": 20, "temperature": 0.0, "num_runs": 1},
        "engines": engines,
        "inferbench": {
            "warmup_runs": 0,
            "memory_bandwidth_gbps": bandwidth_gbps,
            "tolerance_pct": 25.0
        }
    });
    let cfg = out.path().join("benchmark_config.json");
    std::fs::write(&cfg, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let mut argv = vec![
        "inferbench".to_string(),
        "cli".into(),
        "--config".into(),
        cfg.display().to_string(),
        "--out-dir".into(),
        out.path().display().to_string(),
        "--quiet".into(),
        "--quick".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    let Command::Cli(args) = Cli::parse_from(argv).command else {
        panic!("not the cli command")
    };
    let result = inferbench::climode::run(args).await;
    let mut records = Vec::new();
    let mut doc = serde_json::Value::Null;
    if let Ok(entries) = std::fs::read_dir(out.path().join("output")) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "jsonl") {
                records = inferbench::output::read_jsonl(&p).unwrap();
            }
            if p.extension().is_some_and(|x| x == "json") {
                doc = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            }
        }
    }
    Run {
        result,
        records,
        doc,
        out,
    }
}

#[tokio::test]
async fn engine_claiming_ten_times_our_clock_is_flagged_with_both_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let model = gigabyte_model(dir.path());
    let run = run_cli(
        json!({"llamacpp": {"binary": fake("fake-llama-liar"), "model_path": model}}),
        &[],
        1000.0,
    )
    .await;
    assert_ok(&run);
    let r = &run.records[0];
    assert_eq!(r.decode_tps, Some(200.0));
    let m = flags(r, "clock_mismatch");
    assert_eq!(m.len(), 1, "{:?}", r.flags);
    assert!(
        m[0].contains("engine decode 200.00 tok/s vs ours"),
        "{}",
        m[0]
    );
}

#[tokio::test]
async fn seed_failure_shape_is_flagged_above_roofline_and_not_a_result() {
    let dir = tempfile::tempdir().unwrap();
    let model = gigabyte_model(dir.path());
    // 100 GB/s over 1 GB per token: at most 100 tok/s. The fake claims 165.47.
    let run = run_cli(
        json!({"llamacpp": {"binary": fake("fake-llama-seed"), "model_path": model}}),
        &[],
        100.0,
    )
    .await;
    let err = run.result.unwrap_err();
    assert_eq!(inferbench::error::exit_code(&err), 1, "{err:#}");
    let r = &run.records[0];
    // The decode figure is the eval line (165.47), never the prompt eval line (2,337.30).
    assert_eq!(r.decode_tps, Some(165.47));
    assert_eq!(r.prefill_tps, Some(2337.30));
    assert!(!r.ok);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("above physical ceiling 100.0"),
        "{:?}",
        r.error
    );
    assert_eq!(flags(r, "above_roofline").len(), 1);
    // The fake lived a few ms but claims ~394 ms of work: our wall clock catches it too.
    assert!(!flags(r, "clock_mismatch").is_empty(), "{:?}", r.flags);
    // No summary uses it.
    let summaries = run.doc["summaries"].as_array().unwrap();
    assert!(
        summaries
            .iter()
            .all(|s| s["metrics"].get("decode_tps").is_none()),
        "{}",
        run.doc["summaries"]
    );
}

#[tokio::test]
async fn chat_only_llama_cli_falls_back_to_simple_io() {
    let dir = tempfile::tempdir().unwrap();
    let model = gigabyte_model(dir.path());
    let run = run_cli(
        json!({"llamacpp": {"binary": fake("llama-cli"), "model_path": model}}),
        &[],
        1000.0,
    )
    .await;
    assert_ok(&run);
    let r = &run.records[0];
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.decode_tps, Some(34.6));
    assert_eq!(r.prefill_tps, Some(69.2));
    assert!(r.endpoint.contains("--simple-io"), "{}", r.endpoint);
    assert!(
        r.output_text.contains("What is the capital"),
        "{}",
        r.output_text
    );
    assert!(!r.output_text.contains("[ Prompt"), "{}", r.output_text);
    let notes = run.doc["engines"][0]["notes"].to_string();
    assert!(notes.contains("chat-only"), "{notes}");
}

#[tokio::test]
async fn ollama_stats_load_separate_from_decode() {
    let run = run_cli(
        json!({"ollama": {"binary": fake("ollama"), "model_name": "gemma-3-1b-it-bench"}}),
        &[],
        1000.0,
    )
    .await;
    assert_ok(&run);
    let r = &run.records[0];
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.decode_tps, Some(114.73));
    assert_eq!(r.prefill_tps, Some(199.88));
    assert_eq!(r.output_tokens, Some(298));
    let rep = r.engine_report.as_ref().unwrap();
    assert_eq!(rep.load_ms, Some(1502.9187));
    assert_eq!(rep.decode_ms, Some(2597.443));
    assert_eq!(r.output_text, "The capital of France is Paris.");
    // The client process is not the engine: no RSS figure rather than a wrong one.
    assert_eq!(r.memory.as_ref().unwrap().rss_peak_mib, None);
    // The fake prints instantly but claims 2.7 s of work: flagged by our wall clock.
    assert!(!flags(r, "clock_mismatch").is_empty(), "{:?}", r.flags);
}

#[tokio::test]
async fn uzu_bench_task_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_cli(
        json!({"uzu": {"binary": fake("uzu-cli"), "model_path": dir.path(), "enabled": true}}),
        &[],
        1000.0,
    )
    .await;
    assert_ok(&run);
    let r = &run.records[0];
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.endpoint, "cli bench");
    assert_eq!(r.decode_tps, Some(171.3));
    assert!((r.ttft_ms.unwrap() - 41.2).abs() < 1e-9);
    assert_eq!(r.memory.as_ref().unwrap().gpu_mib, Some(1536.0));
}

#[tokio::test]
async fn uzu_0_4_falls_back_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_cli(
        json!({"uzu": {"binary": fake("uzu-cli-0.4"), "model_path": dir.path()}}),
        &[],
        1000.0,
    )
    .await;
    assert_ok(&run);
    let r = &run.records[0];
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.endpoint, "cli run");
    assert_eq!(r.decode_tps, Some(171.302));
    assert_eq!(r.output_text, "The capital of France is Paris.");
}

#[tokio::test]
async fn pytorch_generate_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_cli(
        json!({"pytorch": {"python": fake("fake-python"), "model_path": dir.path()}}),
        &[],
        1000.0,
    )
    .await;
    assert_ok(&run);
    let r = &run.records[0];
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.decode_tps, Some(100.0));
    assert_eq!(r.ttft_ms, Some(50.0));
    assert_eq!(r.output_tokens, Some(101));
    assert_eq!(r.output_text, "파리입니다.");
}

#[tokio::test]
async fn missing_engine_binary_is_a_user_error_naming_setup() {
    let run = run_cli(
        json!({"llamacpp": {"binary": "/nonexistent/llama-completion", "model_path": "/nonexistent.gguf"}}),
        &["--engines", "llamacpp"],
        1000.0,
    )
    .await;
    let err = run.result.unwrap_err();
    assert_eq!(inferbench::error::exit_code(&err), 2);
    assert!(format!("{err:#}").contains("scripts/setup.sh"), "{err:#}");
}
