//! Snapshots of what the exporters write for sequential (non-load) results documents.
//!
//! The documents are built here from fixed records (no clock, no host facts), so every
//! byte of the output is determined by the renderers. The `.snap` files under
//! `tests/snapshots/` are the specification of the formats: review a change to them as
//! you would a change to the code. Regenerate with `INSTA_UPDATE=always cargo test --test
//! export_snapshots` (or `cargo insta review`), read the diff, commit.

use inferbench::export::{csv, html, json, log, markdown};
use inferbench::measure::metrics::TokenSource;
use inferbench::results::{
    EngineInfo, EngineReport, Environment, MemoryStats, Mode, ResultsDoc, RunRecord,
    SCHEMA_VERSION, Sampling,
};

fn sampling() -> Sampling {
    Sampling {
        max_tokens: 64,
        temperature: 0.0,
        seed: Some(42),
        top_p: None,
        top_k: None,
        ignore_eos: false,
    }
}

fn environment() -> Environment {
    Environment {
        os: "Linux 6.1 (test)".into(),
        kernel: Some("6.1.0".into()),
        arch: "x86_64".into(),
        cpu_model: "Test CPU <8 cores>".into(),
        cores: 8,
        memory_gib: 31.25,
        gpus: Vec::new(),
        tool_version: "inferbench 0.0.0-test".into(),
        hostname: None,
        doctor: None,
    }
}

/// One API run: figures derived from TTFT `ttft` ms and TPOT `tpot` ms for 32 tokens.
fn api_run(engine: &str, tier: &str, index: u32, ttft: f64, tpot: f64) -> RunRecord {
    let mut r = RunRecord::new(
        engine,
        Mode::Api,
        "/v1/chat/completions",
        &format!("{tier}-1"),
        tier,
        index,
        sampling(),
        "gemma3",
    );
    r.started_at = format!("2025-01-01T00:00:{:02}+00:00", index);
    r.ok = true;
    r.ttft_ms = Some(ttft);
    r.tpot_ms = Some(tpot);
    r.icl_ms = Some(tpot * 1.5);
    let e2e = ttft + 31.0 * tpot;
    r.e2e_ms = Some(e2e);
    r.decode_tps = Some(1000.0 / tpot);
    r.decode_tps_source = Some("client_clock".into());
    r.e2e_tps = Some(32_000.0 / e2e);
    r.prefill_tps = Some(20_000.0 / ttft);
    r.ttft_from_scheduled_ms = Some(ttft);
    r.e2e_from_scheduled_ms = Some(e2e);
    r.send_lag_ms = Some(0.0);
    r.output_tokens = Some(32);
    r.output_tokens_source = Some(TokenSource::Usage);
    r.output_tokens_tokenizer = Some(32);
    r.prompt_tokens = Some(20);
    r.prompt_tokens_source = Some(TokenSource::Usage);
    r.content_events = 21;
    r.finish_reason = Some("length".into());
    r.output_text = format!("The capital of France is Paris ({engine}, run {index}).");
    r
}

/// Two engines × two tiers, a warm-up, a failure, a flag, markup in names and output.
fn api_doc() -> ResultsDoc {
    let mut runs = Vec::new();
    let mut warm = api_run("llamacpp", "short", 0, 99.0, 9.0);
    warm.warmup = true;
    runs.push(warm);
    for (i, (ttft, tpot)) in [(40.0, 5.0), (42.0, 5.2), (44.0, 4.8)].iter().enumerate() {
        let mut r = api_run("llamacpp", "short", i as u32, *ttft, *tpot);
        r.engine_report = Some(EngineReport {
            source: "llama.cpp timings".into(),
            prompt_tokens: Some(20),
            prompt_ms: Some(10.0),
            prefill_tps: Some(2000.0),
            decode_tokens: Some(32),
            decode_ms: Some(150.0),
            decode_tps: Some(213.3),
            load_ms: None,
            total_ms: Some(160.0),
            cached_tokens: Some(0),
            decode_wall_tps: None,
        });
        runs.push(r);
    }
    runs.push(api_run("llamacpp", "long", 0, 120.0, 6.0));
    let mut flagged = api_run("llamacpp", "long", 1, 130.0, 6.5);
    flagged.flag(
        "token_count_mismatch",
        "usage says 32 tokens, our tokenizer counts 31",
    );
    flagged.output_text = "<script>alert('x')</script> | *bold* `code`\nsecond line".into();
    runs.push(flagged);
    for (i, (ttft, tpot)) in [(60.0, 8.0), (64.0, 8.4)].iter().enumerate() {
        let mut r = api_run("ollama", "short", i as u32, *ttft, *tpot);
        r.memory = Some(MemoryStats {
            rss_peak_mib: Some(812.5),
            rss_after_load_mib: Some(700.0),
            gpu_mib: None,
        });
        runs.push(r);
    }
    let mut failed = RunRecord::new(
        "ollama",
        Mode::Api,
        "/v1/chat/completions",
        "short-1",
        "short",
        2,
        sampling(),
        "gemma3",
    );
    failed.started_at = "2025-01-01T00:00:02+00:00".into();
    failed.fail("HTTP 500: <b>boom</b>");
    runs.push(failed);
    ResultsDoc {
        schema_version: SCHEMA_VERSION,
        tool: "inferbench 0.0.0-test".into(),
        mode: Mode::Api,
        started_at: "2025-01-01T00:00:00+00:00".into(),
        finished_at: "2025-01-01T00:01:00+00:00".into(),
        environment: environment(),
        config: serde_json::json!({
            "settings": {
                "max_tokens": {"value": 64, "origin": "default"},
                "temperature": {"value": 0.0, "origin": "default"},
                "seed": {"value": 42, "origin": "flag"},
                "num_runs": {"value": 3, "origin": "flag"},
                "chat_template": {"value": "gemma3", "origin": "default"}
            }
        }),
        engines: vec![
            EngineInfo {
                engine: "llamacpp".into(),
                kind: "llama.cpp".into(),
                mode: Some(Mode::Api),
                base_url: Some("http://127.0.0.1:8080".into()),
                command: vec!["llama-server".into(), "-m".into(), "model.gguf".into()],
                load_ms: Some(812.0),
                rss_after_load_mib: Some(300.0),
                template: Some("gemma3".into()),
                fairness: Some("same template, same sampling".into()),
                roofline_tps: Some(400.0),
                notes: vec!["flash attention off".into()],
                ..EngineInfo::default()
            },
            EngineInfo {
                engine: "ollama".into(),
                kind: "ollama".into(),
                mode: Some(Mode::Api),
                base_url: Some("http://127.0.0.1:11434".into()),
                ..EngineInfo::default()
            },
        ],
        summaries: inferbench::export::summary::summarize_runs(&runs),
        runs,
        load: Vec::new(),
        search: Vec::new(),
        workload: None,
        parity: None,
    }
}

/// CLI mode: wall time, engine-reported figures and memory instead of client timings.
fn cli_doc() -> ResultsDoc {
    let runs: Vec<RunRecord> = [(1500.0, 95.0), (1550.0, 92.0)]
        .iter()
        .enumerate()
        .map(|(i, (wall, tps))| {
            let mut r = RunRecord::new(
                "llamacpp",
                Mode::Cli,
                "llama-cli",
                "short-1",
                "short",
                i as u32,
                sampling(),
                "gemma3",
            );
            r.started_at = format!("2025-01-01T00:10:{:02}+00:00", i);
            r.ok = true;
            r.wall_ms = Some(*wall);
            r.decode_tps = Some(*tps);
            r.decode_tps_source = Some("engine_clock".into());
            r.output_tokens = Some(64);
            r.output_tokens_source = Some(TokenSource::EngineReport);
            r.prompt_tokens = Some(20);
            r.prompt_tokens_source = Some(TokenSource::EngineReport);
            r.engine_report = Some(EngineReport {
                source: "common_perf_print".into(),
                prompt_tokens: Some(20),
                prompt_ms: Some(12.0),
                prefill_tps: Some(1666.7),
                decode_tokens: Some(64),
                decode_ms: Some(64_000.0 / tps),
                decode_tps: Some(*tps),
                load_ms: Some(400.0),
                total_ms: Some(*wall),
                cached_tokens: None,
                decode_wall_tps: None,
            });
            r.memory = Some(MemoryStats {
                rss_peak_mib: Some(420.0 + i as f64),
                rss_after_load_mib: None,
                gpu_mib: Some(0.0),
            });
            r.output_text = "Paris.".into();
            r
        })
        .collect();
    ResultsDoc {
        schema_version: SCHEMA_VERSION,
        tool: "inferbench 0.0.0-test".into(),
        mode: Mode::Cli,
        started_at: "2025-01-01T00:10:00+00:00".into(),
        finished_at: "2025-01-01T00:11:00+00:00".into(),
        environment: environment(),
        config: serde_json::json!({}),
        engines: Vec::new(),
        summaries: inferbench::export::summary::summarize_runs(&runs),
        runs,
        load: Vec::new(),
        search: Vec::new(),
        workload: None,
        parity: None,
    }
}

#[test]
fn markdown_report_api() {
    insta::assert_snapshot!(markdown::render(&api_doc()).unwrap());
}

#[test]
fn markdown_report_cli() {
    insta::assert_snapshot!(markdown::render(&cli_doc()).unwrap());
}

#[test]
fn console_summary() {
    insta::assert_snapshot!(markdown::console_summary(&api_doc()));
}

#[test]
fn csv_runs() {
    insta::assert_snapshot!(csv::render(&api_doc()));
}

#[test]
fn csv_steps_without_load_is_a_header() {
    insta::assert_snapshot!(csv::render_load(&api_doc()));
}

#[test]
fn json_document() {
    let doc = api_doc();
    let text = json::render(&doc).unwrap();
    insta::assert_snapshot!(text);
    // What the snapshot holds is a valid document.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:?}");
}

#[test]
fn log_lines() {
    let doc = api_doc();
    let lines: Vec<String> = doc.runs.iter().map(log::run_line).collect();
    insta::assert_snapshot!(lines.join("\n"));
}

/// The HTML page, one element per line so that a change reads as a diff.
#[test]
fn html_report_api() {
    let page = html::render(&api_doc()).unwrap();
    insta::assert_snapshot!(page.replace("><", ">\n<"));
}

/// The document `assemble` writes: the clock, the host and the version are redacted, and
/// so are the inputs it only carries; the summaries it computes from the records are the
/// same on every machine.
#[test]
fn assembled_document() {
    let settings = inferbench::config::resolve(
        None,
        inferbench::config::ConfigFile::default(),
        &std::collections::BTreeMap::<String, String>::new(),
        &inferbench::config::Overrides::default(),
    )
    .unwrap();
    let runs: Vec<RunRecord> = api_doc()
        .runs
        .into_iter()
        .filter(|r| r.engine == "ollama")
        .collect();
    let doc = inferbench::export::assemble(
        Mode::Api,
        &settings,
        "2025-01-01T00:00:00+00:00".into(),
        Vec::new(),
        runs,
        Vec::new(),
    );
    assert_eq!(doc.summaries.len(), 2, "all + short");
    assert_eq!(doc.config, settings.effective_json());
    assert_eq!(doc.runs.len(), 3);
    insta::assert_json_snapshot!(doc, {
        ".finished_at" => "[finished_at]",
        ".tool" => "[tool]",
        ".environment" => "[environment]",
        ".config" => "[config]",
        ".runs" => "[runs]",
    });
}
