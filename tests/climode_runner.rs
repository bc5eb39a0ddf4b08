//! The CLI-mode runner end to end with FAKE engine executables
//! (tests/fixtures/cli/fake-bin/: small scripts that print exactly the documented or
//! captured outputs; they are not engines). Real engines: tests/climode_real.rs.

use clap::Parser;
use inferbench::cli::{Cli, Command};
use inferbench::results::RunRecord;
use serde_json::json;
use std::path::{Path, PathBuf};

mod common;
use common::free_port;

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
        // Engine clock: the eval line (19 runs in the time the fake really spent, which it
        // repeats on stdout), not the prompt eval line (500 tok/s).
        let eval_ms: f64 = r
            .output_text
            .split("eval_ms ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no eval_ms in {:?}", r.output_text));
        let decode = r.decode_tps.unwrap();
        assert!(
            (decode - 19_000.0 / eval_ms).abs() < 0.01,
            "{decode} vs 19 runs in {eval_ms} ms"
        );
        // 50 ms sleeps between words: never faster than 20 tok/s.
        assert!(decode > 1.0 && decode <= 20.0, "{decode}");
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
            r.output_text.contains(&format!("seen {i} records")),
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
    // Doctor's checks of the engine this run started, taken before it ran, are recorded.
    let doctor = &run.doc["environment"]["doctor"];
    assert_eq!(doctor["engines"], json!(["llamacpp"]), "{doctor}");
    assert!(
        doctor["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["scope"] == "llamacpp" && c["name"] == "model"),
        "{doctor}"
    );
}

#[tokio::test]
async fn gpus_limit_what_the_engine_sees_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let engines = json!({"llamacpp": {
        "binary": fake("fake-llama-steady"),
        "model_path": gigabyte_model(dir.path()),
        "threads": 2,
        "device": "cpu",
        "gpus": [1, 3]
    }});
    let run = run_cli(engines, &["--runs", "1"], 100.0).await;
    assert_ok(&run);
    let r = &run.records[0];
    assert!(r.output_text.contains("visible 1,3"), "{}", r.output_text);
    let setting = &run.doc["engines"][0]["engine_settings"]["gpus"];
    assert_eq!(setting["effective"], "1,3", "{}", run.doc["engines"][0]);
    // The split flags are for a GPU device only: not passed on `device: cpu`.
    let command = run.doc["engines"][0]["command"].to_string();
    assert!(!command.contains("--split-mode"), "{command}");
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
    run_cli_config(out, config, extra).await
}

/// `inferbench cli --quick EXTRA` with this config, in `out`.
async fn run_cli_config(out: tempfile::TempDir, config: serde_json::Value, extra: &[&str]) -> Run {
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
    let result = inferbench::pipeline::run_cli(args).await;
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
    // The impossible figure is removed; the run and its other numbers stay.
    assert_eq!(run.result.as_ref().ok(), Some(&0), "{:?}", run.result);
    let r = &run.records[0];
    assert!(r.ok, "{:?}", r.error);
    // The decode figure was the eval line (165.47), never the prompt eval line (2,337.30).
    assert_eq!(r.decode_tps, None);
    assert_eq!(r.rejected_decode.len(), 1, "{:?}", r.rejected_decode);
    assert_eq!(r.rejected_decode[0].decode_tps, Some(165.47));
    assert_eq!(r.rejected_decode[0].reason, "above_roofline");
    assert_eq!(r.prefill_tps, Some(2337.30));
    let above = flags(r, "above_roofline");
    assert_eq!(above.len(), 1);
    assert!(
        above[0].contains("above physical ceiling 100.0"),
        "{}",
        above[0]
    );
    // The fake lived a few ms but claims ~394 ms of work: our wall clock catches it too.
    assert!(!flags(r, "clock_mismatch").is_empty(), "{:?}", r.flags);
    // No summary uses it.
    let summaries = run.doc["summaries"].as_array().unwrap();
    assert!(
        summaries
            .iter()
            .all(|s| s["metrics"].get("decode_tps").is_none()
                && s["metrics"].get("engine_decode_tps").is_none()),
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

/// A model folder as Lalamo writes one (the fake `cli` looks for config.json).
fn uzu_model(dir: &Path) -> PathBuf {
    let model = dir.join("gemma-3-1b-it");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), "{}").unwrap();
    model
}

/// The fake `cli` run with RUST_BACKTRACE=1 (whatever this test process has), keeping a
/// copy of the last bench task it was given as `dir/last-task.json`.
fn wrapped_uzu(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("cli");
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = bench ] && cp \"$3\" '{}' 2>/dev/null\nRUST_BACKTRACE=1 exec '{}' \"$@\"\n",
        dir.join("last-task.json").display(),
        fake("uzu-cli")
    );
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[tokio::test]
async fn uzu_bench_full_model_path_and_e2e_from_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = uzu_model(dir.path());
    let run = run_cli(
        json!({"uzu": {"binary": fake("uzu-cli"), "model_path": model, "enabled": true}}),
        &[],
        1000.0,
    )
    .await;
    assert_ok(&run);
    let r = &run.records[0];
    // The fake 0.5.19 `cli bench` takes the model's full path: a bare name fails.
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.endpoint, "cli bench");
    let argv = run.doc["engines"][0]["command"].to_string();
    assert!(
        argv.contains(&format!(r#""bench","{}""#, model.display())),
        "{argv}"
    );
    let notes = run.doc["engines"][0]["notes"].to_string();
    assert!(notes.contains("full path"), "{notes}");
    assert_eq!(r.decode_tps, Some(171.3));
    assert!((r.ttft_ms.unwrap() - 41.2).abs() < 1e-9);
    assert_eq!(r.memory.as_ref().unwrap().gpu_mib, Some(1536.0));
    // Temperature 0: the task says greedy, taken as asked.
    assert_eq!(r.sampling_applied, None);
    assert!(flags(r, "sampling_not_applied").is_empty(), "{:?}", r.flags);
    // E2E = TTFT + (128 − 1) tokens ÷ 171.3 tok/s, from the output (the rate times the
    // intervals after the first token); the process lived longer (model load + a warm-up
    // pass: 1 s in the fake) and that is not the run.
    let e2e = 41.2 + 127.0 / 171.3 * 1000.0;
    assert!((r.e2e_ms.unwrap() - e2e).abs() < 1e-6, "{:?}", r.e2e_ms);
    assert!(r.wall_ms.unwrap() >= 1000.0, "{:?}", r.wall_ms);
    assert!((r.e2e_tps.unwrap() - 128.0 / e2e * 1000.0).abs() < 1e-6);
    assert!(flags(r, "clock_mismatch").is_empty(), "{:?}", r.flags);
}

/// Sampling `cli bench` cannot take (it has no temperature) is recorded, flagged and
/// shown in the Markdown report; the document still follows the schema.
#[tokio::test]
async fn uzu_bench_sampled_run_records_the_model_default_sampler() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("gemma-3-270m");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), "{}").unwrap();
    let run = run_cli(
        json!({"uzu": {"binary": wrapped_uzu(dir.path()), "model_path": model, "enabled": true}}),
        &["--temperature", "0.7"],
        1000.0,
    )
    .await;
    assert_ok(&run);
    let r = &run.records[0];
    assert!(r.ok, "{:?}", r.error);
    let applied = r.sampling_applied.as_ref().expect("sampling_applied");
    assert!(!applied.greedy);
    assert_eq!(
        applied.applied,
        "model default sampler (top_k 64, top_p 0.95)"
    );
    assert_eq!((applied.top_k, applied.top_p), (Some(64), Some(0.95)));
    assert!(
        applied.ignored.iter().any(|i| i == "temperature 0.7"),
        "{applied:?}"
    );
    let f = flags(r, "sampling_not_applied");
    assert_eq!(f.len(), 1, "{:?}", r.flags);
    assert!(
        f[0].contains("model default sampler (top_k 64, top_p 0.95)"),
        "{f:?}"
    );
    // The task the fake read did not ask for greedy decoding.
    let task: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("last-task.json")).unwrap()).unwrap();
    assert_eq!(task["greedy"], false, "{task}");
    // The Markdown report lists it with the other flags.
    let md = std::fs::read_dir(run.out.path().join("report"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .expect("a Markdown report");
    let line = md
        .lines()
        .find(|l| l.contains(r"**sampling\_not\_applied**"))
        .unwrap_or_else(|| panic!("no sampling flag in the report:\n{md}"));
    assert!(
        line.contains(r"model default sampler (top\_k 64, top\_p 0.95)"),
        "{line}"
    );
    // The results document follows the published schema with the new field.
    assert!(
        run.doc["runs"][0]["sampling_applied"].is_object(),
        "{}",
        run.doc["runs"][0]
    );
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&run.doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:?}");
}

#[tokio::test]
async fn uzu_bench_model_folder_without_its_files_fails_with_the_error_line() {
    let dir = tempfile::tempdir().unwrap();
    // A folder without the converter's files: `cli bench` finds no model at that path.
    let model = dir.path().join("not-a-model");
    std::fs::create_dir_all(&model).unwrap();
    let run = run_cli(
        json!({"uzu": {"binary": wrapped_uzu(dir.path()), "model_path": model, "enabled": true}}),
        &[],
        1000.0,
    )
    .await;
    let r = &run.records[0];
    assert!(!r.ok);
    // The fake prints a backtrace after its error (RUST_BACKTRACE=1), as the real one
    // does: the reason is still the error line, never "6: _start".
    let err = r.error.as_deref().unwrap();
    assert!(
        err.ends_with(&format!(
            "Error: Model not found at path: {}",
            model.display()
        )),
        "{err}"
    );
    // A failed bench has no E2E: its wall time is not one.
    assert_eq!(r.e2e_ms, None);
}

#[tokio::test]
async fn uzu_0_4_falls_back_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = uzu_model(dir.path());
    let run = run_cli(
        json!({"uzu": {"binary": fake("uzu-cli-0.4"), "model_path": model}}),
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
    // 0.4.x `cli run` takes the folder's path, and its `time:` is the reply's own E2E.
    let argv = run.doc["engines"][0]["command"].to_string();
    assert!(
        argv.contains(&format!(r#""run","{}""#, model.display())),
        "{argv}"
    );
    assert!((r.e2e_ms.unwrap() - 823.0).abs() < 1e-9, "{:?}", r.e2e_ms);
    assert!(flags(r, "clock_mismatch").is_empty(), "{:?}", r.flags);
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
    assert_eq!(inferbench::exit::exit_code(&err), 2);
    assert!(format!("{err:#}").contains("scripts/setup.sh"), "{err:#}");
}

/// Engines the config enables but `--engines` does not name: one whose tool is not
/// installed is skipped quietly; one that is installed but misconfigured (a tokenizer
/// path that does not exist) is left out loudly, and the run's exit code says so.
#[tokio::test]
async fn only_a_missing_tool_is_skipped_a_misconfigured_engine_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let model = gigabyte_model(dir.path());
    let run = run_cli(
        json!({
            "llamacpp": {"binary": fake("fake-llama-steady"), "model_path": model, "threads": 2},
            "gone": {"kind": "llamacpp", "binary": "/nonexistent/llama-completion", "model_path": model},
            "badtok": {"kind": "llamacpp", "binary": fake("fake-llama-steady"), "model_path": model,
                       "tokenizer": "/nonexistent/tokenizer.json"}
        }),
        &["--runs", "1"],
        100.0,
    )
    .await;
    // Every result is written, then the run ends incomplete (exit code 1), naming badtok.
    let err = run.result.as_ref().unwrap_err();
    assert_eq!(inferbench::exit::exit_code(err), 1, "{err:#}");
    assert!(format!("{err:#}").contains("left out badtok"), "{err:#}");
    assert!(!format!("{err:#}").contains("gone"), "{err:#}");
    assert_eq!(run.records.len(), 1);
    assert!(run.records.iter().all(|r| r.engine == "llamacpp" && r.ok));
    let note_of = |engine: &str| -> String {
        run.doc["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["engine"] == engine)
            .unwrap_or_else(|| panic!("no {engine} in {}", run.doc["engines"]))["notes"][0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let gone = note_of("gone");
    assert!(gone.starts_with("skipped (not installed)"), "{gone}");
    let badtok = note_of("badtok");
    assert!(badtok.starts_with("left out"), "{badtok}");
    assert!(badtok.contains("/nonexistent/tokenizer.json"), "{badtok}");
}

/// Two engines: their runs alternate A,B,A,B (API mode's order), each record on disk
/// before the next process starts; `--no-interleave` runs one engine after the other.
#[tokio::test]
async fn two_engines_interleave_and_no_interleave_keeps_the_seed_order() {
    let dir = tempfile::tempdir().unwrap();
    let model = gigabyte_model(dir.path());
    for (flag, expect) in [
        (None, [0, 1, 0, 1]),
        (Some("--no-interleave"), [0, 0, 1, 1]),
    ] {
        let out = tempfile::tempdir().unwrap();
        let engines = json!({
            "llamacpp": {"binary": fake("fake-llama-steady"), "model_path": model, "threads": 2,
                         "extra_args": ["--records-dir", out.path()]},
            "pytorch": {"python": fake("fake-python"), "model_path": dir.path()}
        });
        let mut extra = vec!["--runs", "2"];
        extra.extend(flag);
        let run = run_cli_in(out, engines, &extra, 100.0).await;
        assert_ok(&run);
        let names: Vec<&str> = run.records.iter().map(|r| r.engine.as_str()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        let first = names[0];
        let order: Vec<usize> = names.iter().map(|n| usize::from(*n != first)).collect();
        assert_eq!(order, expect, "{flag:?}: {names:?}");
        let runs: Vec<u32> = run.records.iter().map(|r| r.run_index).collect();
        let want = if flag.is_none() {
            [0, 0, 1, 1]
        } else {
            [0, 1, 0, 1]
        };
        assert_eq!(runs, want, "{flag:?}: {names:?}");
        // The records are in the order the processes ran (spawn ms after the origin).
        let offsets: Vec<f64> = run
            .records
            .iter()
            .map(|r| r.timeline.as_ref().unwrap().sent_ms)
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
        // Each llama.cpp process saw every record before it on disk.
        for (i, r) in run.records.iter().enumerate() {
            if r.engine == "llamacpp" {
                let seen = format!("seen {i} records");
                assert!(r.output_text.contains(&seen), "{i}: {}", r.output_text);
            }
        }
        // No engine here keeps a process between runs: nothing to watch, nothing flagged.
        assert!(
            run.records
                .iter()
                .all(|r| flags(r, "neighbour_busy").is_empty())
        );
        let log = common::only_file(&run.out.path().join("logging"), "log");
        let schedule = std::fs::read_to_string(log).unwrap();
        let line = if flag.is_none() {
            "interleaved"
        } else {
            "sequential"
        };
        assert!(
            schedule.contains(&format!("schedule: {line}")),
            "{schedule}"
        );
    }
}

/// An Ollama engine's `ollama serve` (a stand-in whose process tree spins a core) stays
/// up between its runs: the other engine's runs during which it was busy are flagged
/// `neighbour_busy`, as API mode flags them; its own runs are not (its server is no
/// neighbour of its own client). Every server is stopped at the end.
#[tokio::test]
async fn a_busy_ollama_serve_flags_the_other_engines_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = gigabyte_model(dir.path());
    let server = dir.path().join("serve.py");
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/fake_engine_server.py"),
        &server,
    )
    .unwrap();
    // `serve`: the fake server, with a spinning child; `create`: registered; `run`: the
    // captured client output.
    let ollama = dir.path().join("ollama");
    std::fs::write(
        &ollama,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  serve) ( while :; do :; done ) & exec python3 {} \"$@\" ;;\n  \
             create) exit 0 ;;\n  *) exec {} \"$@\" ;;\nesac\n",
            server.display(),
            fake("ollama")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ollama, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gguf = dir.path().join("m.gguf");
    std::fs::write(&gguf, b"GGUF").unwrap();
    let config = json!({
        "benchmark": {"max_tokens": 20, "temperature": 0.0, "num_runs": 1},
        "servers": {"ollama": {"binary": ollama, "port": free_port(), "model_path": gguf,
                               "models_dir": dir.path().join("models"), "startup_timeout": 20}},
        "engines": {
            "llamacpp": {"binary": fake("fake-llama-steady"), "model_path": model, "threads": 2},
            "ollama": {"binary": ollama, "model_name": "gemma-3-270m-bench"}
        },
        "inferbench": {"warmup_runs": 0, "memory_bandwidth_gbps": 100.0, "tolerance_pct": 25.0}
    });
    let run = run_cli_config(tempfile::tempdir().unwrap(), config, &["--runs", "2"]).await;
    let of = |engine: &str| -> Vec<&RunRecord> {
        run.records.iter().filter(|r| r.engine == engine).collect()
    };
    assert_eq!(
        (of("llamacpp").len(), of("ollama").len()),
        (2, 2),
        "{:?}",
        run.result
    );
    for r in of("llamacpp") {
        let busy = flags(r, "neighbour_busy");
        assert_eq!(busy.len(), 1, "{:?}", r.flags);
        assert!(busy[0].starts_with("engine `ollama` used "), "{}", busy[0]);
    }
    for r in of("ollama") {
        assert!(flags(r, "neighbour_busy").is_empty(), "{:?}", r.flags);
    }
    // Every `ollama serve` (the private one that registered the model, the one the runs
    // used) is gone, spinner and all.
    let started = std::fs::read_to_string(dir.path().join("argv.jsonl")).unwrap();
    let pids: Vec<i32> = started
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["pid"]
                .as_i64()
                .unwrap() as i32
        })
        .collect();
    assert_eq!(pids.len(), 2, "{started}");
    for pid in pids {
        let live = inferbench::process::group_members(pid);
        assert!(live.is_empty(), "group {pid} still runs: {live:?}");
    }
}

// ------------------------------------------------------------------------------------
// The second clock with canned outcomes (no process): when stdout is a decode clock
// ------------------------------------------------------------------------------------

use inferbench::climode::exec::{Chunk, ProcessOutcome};
use inferbench::climode::{Case, Checks, Interpreted, build_record};
use inferbench::results::{EngineReport, Sampling};

fn canned_case() -> Case {
    Case {
        prompt_id: "p1".into(),
        tier: "short".into(),
        run_index: 0,
        warmup: false,
        system: String::new(),
        user: "Hi".into(),
        input: inferbench::client::PromptInput {
            messages: Vec::new(),
            rendered: "Hi".into(),
        },
    }
}

/// stdout made of `reads` (arrival ms, text), the process living `wall_ms`.
fn canned_outcome(reads: &[(f64, String)], wall_ms: f64) -> ProcessOutcome {
    let mut stdout = Vec::new();
    let mut chunks = Vec::new();
    for (at_ms, text) in reads {
        stdout.extend_from_slice(text.as_bytes());
        chunks.push(Chunk {
            at_ms: *at_ms,
            end: stdout.len(),
        });
    }
    ProcessOutcome {
        exit_code: Some(0),
        stdout,
        stdout_chunks: chunks,
        wall_ms,
        ..Default::default()
    }
}

/// What llama-completion's perf block says: `tokens` output, decoded after the first at
/// `decode_tps`, with the load and prefill times given.
fn perf_report(tokens: u64, decode_tps: f64, load_ms: f64, prefill_ms: f64) -> EngineReport {
    EngineReport {
        source: "common_perf_print".into(),
        prompt_tokens: Some(20),
        prompt_ms: Some(prefill_ms),
        prefill_tps: Some(20.0 / prefill_ms * 1000.0),
        decode_tokens: Some(tokens - 1),
        decode_ms: Some((tokens - 1) as f64 / decode_tps * 1000.0),
        decode_tps: Some(decode_tps),
        load_ms: Some(load_ms),
        ..Default::default()
    }
}

fn canned_record(o: &ProcessOutcome, report: EngineReport, tokens: u64) -> RunRecord {
    let interp = Interpreted {
        report: Some(report),
        text: String::from_utf8_lossy(&o.stdout).trim().to_string(),
        stdout_span: Some((0, o.stdout.len())),
        output_tokens: Some(tokens),
        ..Default::default()
    };
    let sampling = Sampling {
        max_tokens: tokens as u32,
        temperature: 0.0,
        seed: Some(42),
        top_p: None,
        top_k: None,
        ignore_eos: false,
    };
    build_record(
        "llamacpp",
        "llama-completion",
        "gemma3",
        &canned_case(),
        &sampling,
        o,
        interp,
        None,
        0.0,
        Checks {
            tolerance_pct: 25.0,
        },
        None,
    )
}

fn words(n: usize) -> String {
    (0..n).map(|i| format!("w{:03} ", i % 1000)).collect()
}

#[test]
fn buffered_burst_of_stdout_is_context_not_a_clock_mismatch() {
    // The H200 shape: the engine decodes 256 tokens at 441 tok/s; stdout reaches us in two
    // bursts, whose spacing says ~240 tok/s. The pipe is slower than the GPU; nobody lied.
    let text = words(256);
    let (a, b) = text.split_at(text.len() * 6 / 10);
    let o = canned_outcome(&[(1100.0, a.into()), (1520.0, b.into())], 1600.0);
    let r = canned_record(&o, perf_report(256, 441.0, 900.0, 10.0), 256);
    assert!(r.ok, "{:?}", r.error);
    assert!(flags(&r, "clock_mismatch").is_empty(), "{:?}", r.flags);
    assert_eq!(r.decode_tps, Some(441.0));
    assert_eq!(r.decode_tps_source.as_deref(), Some("engine_clock"));
    let c = r.stdout_clock.as_ref().unwrap();
    assert!(!c.decode_clock, "{c:?}");
    assert_eq!(c.reads, 2);
    assert!((c.decode_tps - 256.0 * 0.4 / 0.42).abs() < 1.0, "{c:?}");
    assert!(
        c.note.contains("buffered output: not a decode clock")
            && c.note.contains("one read carried 60% of the text"),
        "{}",
        c.note
    );

    // Many reads, but all in a sliver at the end of the decode: bunched, not a clock.
    let reads: Vec<(f64, String)> = (0..40)
        .map(|i| (1500.0 + i as f64 * 1.5, words(6) + " "))
        .collect();
    let o = canned_outcome(&reads, 1600.0);
    let r = canned_record(&o, perf_report(240, 441.0, 900.0, 10.0), 240);
    assert!(flags(&r, "clock_mismatch").is_empty(), "{:?}", r.flags);
    let c = r.stdout_clock.as_ref().unwrap();
    assert!(!c.decode_clock, "{c:?}");
    assert!(
        c.note.contains("the process had for decoding"),
        "{}",
        c.note
    );
}

#[test]
fn streamed_even_output_at_half_the_engine_rate_is_flagged() {
    // One token per read, 10 ms apart: 100 tok/s on our clock; the engine claims 200.
    let reads: Vec<(f64, String)> = (0..64)
        .map(|i| (300.0 + i as f64 * 10.0, "w ".to_string()))
        .collect();
    let o = canned_outcome(&reads, 1000.0);
    let r = canned_record(&o, perf_report(64, 200.0, 200.0, 20.0), 64);
    let c = r.stdout_clock.as_ref().unwrap();
    assert!(c.decode_clock, "{c:?}");
    assert!((c.decode_tps - 100.0).abs() < 1e-9, "{c:?}");
    let m = flags(&r, "clock_mismatch");
    assert_eq!(m.len(), 1, "{:?}", r.flags);
    assert!(
        m[0].contains("engine decode 200.00 tok/s vs ours 100.00 tok/s")
            && m[0].contains("64 stdout reads"),
        "{}",
        m[0]
    );

    // The same stream with an engine that agrees (within the tolerance) is not flagged.
    let r = canned_record(&o, perf_report(64, 110.0, 200.0, 20.0), 64);
    assert!(flags(&r, "clock_mismatch").is_empty(), "{:?}", r.flags);
    // Nor one whose figure only our stream can time (no engine decode rate): ours is used.
    let mut rep = perf_report(64, 110.0, 200.0, 20.0);
    rep.decode_tps = None;
    rep.decode_tokens = None;
    rep.decode_ms = None;
    let r = canned_record(&o, rep, 64);
    assert_eq!(r.decode_tps_source.as_deref(), Some("client_clock"));
    assert!((r.decode_tps.unwrap() - 100.0).abs() < 1e-9);
}

#[test]
fn engine_rate_the_wall_time_cannot_hold_is_flagged() {
    // 256 tokens at 100 tok/s take 2,560 ms; the process lived 3,000 ms, 800 of them
    // loading and 100 in prefill: 2,100 ms were left. (Against the whole wall time it would
    // have passed.) Output buffered: only the wall clock can tell.
    let o = canned_outcome(&[(2990.0, words(256))], 3000.0);
    let mut rep = perf_report(256, 100.0, 800.0, 100.0);
    rep.decode_tokens = Some(256);
    rep.decode_ms = None;
    let r = canned_record(&o, rep, 256);
    let m = flags(&r, "clock_mismatch");
    assert_eq!(m.len(), 1, "{:?}", r.flags);
    assert!(
        m[0].contains("256 decoded tokens at 100.00 tok/s take 2560.0 ms")
            && m[0].contains("longer than the 2100.0 ms")
            && m[0].contains("load 800.0 ms, prefill 100.0 ms"),
        "{}",
        m[0]
    );
    // A FASTER claim fits: the rest of the wall time went to sampling, printing, exit.
    let mut rep = perf_report(256, 400.0, 800.0, 100.0);
    rep.decode_tokens = Some(256);
    let r = canned_record(&o, rep, 256);
    assert!(flags(&r, "clock_mismatch").is_empty(), "{:?}", r.flags);
}
