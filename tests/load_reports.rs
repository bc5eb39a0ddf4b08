//! HTML, CSV, JSON and console reports over a generated results document with a rate
//! sweep. What the reports look like is pinned by the snapshots in `tests/snapshots/`
//! (review a change to them like code; see `tests/export_snapshots.rs`); the assertions
//! here are the properties that must hold whatever the layout.

use inferbench::export::{console, csv, html};
use inferbench::load::report::{StepExtras, step_report};
use inferbench::load::schedule::{Arrival, Slo};
use inferbench::results::{
    Environment, Mode, ResultsDoc, RunRecord, SCHEMA_VERSION, Sampling, TimelineMs,
};

fn sampling() -> Sampling {
    Sampling {
        max_tokens: 8,
        temperature: 0.0,
        seed: Some(1),
        top_p: None,
        top_k: None,
        ignore_eos: true,
    }
}

/// `n` requests of one step: sent every `gap` ms, TTFT `ttft` ms, 8 tokens 5 ms apart.
fn step_records(step: &str, n: u32, gap: f64, ttft: f64) -> Vec<RunRecord> {
    (0..n)
        .map(|i| {
            let mut r = RunRecord::new(
                "mock<engine>",
                Mode::Api,
                "/v1/chat/completions",
                "p1",
                "short",
                i,
                sampling(),
                "chatml",
            );
            r.started_at = format!("2025-01-01T00:00:{:02}Z", i);
            let sent = gap * f64::from(i);
            let events: Vec<f64> = (0..8).map(|k| ttft + 5.0 * f64::from(k)).collect();
            r.ok = i % 10 != 9;
            if !r.ok {
                r.fail("HTTP 500: <b>boom</b>");
            }
            r.timeline = Some(TimelineMs {
                scheduled_ms: sent,
                sent_ms: sent + 0.1,
                first_byte_ms: Some(1.0),
                end_ms: events.last().copied(),
                events_ms: events,
            });
            r.ttft_ms = Some(ttft);
            r.tpot_ms = Some(5.0);
            r.e2e_ms = Some(ttft + 35.0);
            r.ttft_from_scheduled_ms = Some(ttft + 0.1);
            r.send_lag_ms = Some(0.1);
            r.decode_tps = Some(200.0);
            r.e2e_tps = Some(8000.0 / (ttft + 35.0));
            r.output_tokens = Some(8);
            r.output_text = "<script>alert('pwned')</script>, \"=1+1\"".into();
            r.load_step = Some(step.into());
            r
        })
        .collect()
}

fn doc() -> ResultsDoc {
    let mut runs = Vec::new();
    let mut load = Vec::new();
    let slo = Slo {
        ttft_ms: Some(60.0),
        tpot_ms: None,
        e2e_ms: None,
    };
    for (i, (rate, ttft)) in [(10.0, 50.0), (20.0, 55.0), (40.0, 80.0)]
        .iter()
        .enumerate()
    {
        let label = format!("rate={rate}/s");
        let recs = step_records(&label, 20, 1000.0 / rate, *ttft);
        let extras = StepExtras {
            cpu_s: Some(0.1),
            wall_s: Some(4.0),
            cores_available: 1,
            connect_ms: vec![0.3, 0.4],
            slo: Some(slo),
        };
        load.push(step_report(
            "mock<engine>",
            &label,
            i,
            Arrival::Open {
                rate: *rate,
                burstiness: 1.0,
            },
            &recs,
            &extras,
        ));
        runs.extend(recs);
    }
    ResultsDoc {
        schema_version: SCHEMA_VERSION,
        tool: "inferbench 0.1.0".into(),
        mode: Mode::Api,
        started_at: "2025-01-01T00:00:00Z".into(),
        finished_at: "2025-01-01T00:01:00Z".into(),
        environment: Environment {
            os: "Linux".into(),
            cpu_model: "Test <CPU>".into(),
            cores: 2,
            ..Environment::default()
        },
        config: serde_json::json!({"settings": {}, "note": "</pre><script>x</script>"}),
        engines: Vec::new(),
        runs,
        summaries: Vec::new(),
        load,
        search: Vec::new(),
        workload: None,
        parity: None,
    }
}

#[test]
fn html_report_is_self_contained_with_charts_and_escaped_text() {
    let d = doc();
    let page = html::render(&d).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
    // Three sweep steps → three points on each latency line (p50 and p99).
    let lat = &page[page.find("TTFT against throughput").unwrap()..];
    let lat = &lat[..lat.find("</svg>").unwrap()];
    assert_eq!(lat.matches("<circle").count(), 6);

    // Nothing from outside reaches the page unescaped; nothing is fetched.
    assert!(!page.contains("<script"), "unescaped script");
    assert!(!page.contains("<b>boom"));
    assert!(!page.contains("<engine>"));
    assert!(!page.contains("<CPU>"));
    for fetch in ["src=", "href=", "@import", "url("] {
        assert!(!page.contains(fetch), "page would fetch something: {fetch}");
    }
    // One element per line, so that a change reads as a diff.
    insta::assert_snapshot!(page.replace("><", ">\n<"));
}

#[test]
fn csv_has_every_run_and_every_step() {
    let d = doc();
    let runs = csv::render(&d);
    let lines: Vec<&str> = runs.split("\r\n").filter(|l| !l.is_empty()).collect();
    // Output text holds no newline here, so one line per run plus the header.
    assert_eq!(lines.len(), 1 + 60);
    let steps = csv::render_load(&d);
    let lines: Vec<&str> = steps.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 3);
    insta::assert_snapshot!("csv_runs", runs);
    insta::assert_snapshot!("csv_steps", steps);
}

#[test]
fn console_step_lines_and_table() {
    let d = doc();
    let lines: Vec<String> = d.load.iter().map(console::step_line).collect();
    insta::assert_snapshot!("step_lines", lines.join("\n"));
    insta::assert_snapshot!("step_table", console::console_table(&d.load));
}

#[test]
fn step_reports_in_json_follow_the_schema() {
    let d = doc();
    insta::assert_json_snapshot!("step_reports", d.load);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let value = serde_json::to_value(&d).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:?}");
}
