//! Per-run records (and load steps) as CSV (RFC 4180), pure.
//!
//! A field is quoted when it holds a comma, a quote, CR or LF; quotes inside are doubled.
//! Free text (model output, errors, prompt ids, engine names) that starts with `=`, `+`,
//! `-`, `@`, tab or CR gets a leading `'`, so a spreadsheet opening the file shows it as
//! text instead of evaluating it as a formula (OWASP "CSV injection"). Numbers are written
//! as they are; an empty field means "not measured".

use crate::results::{ResultsDoc, RunRecord};
use std::fmt::Write as _;

/// Quote a field when RFC 4180 requires it.
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A free-text field: defused against formula evaluation, then quoted as needed.
pub fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        field(&format!("'{s}"))
    } else {
        field(s)
    }
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn json_name<T: serde::Serialize>(x: &T) -> String {
    serde_json::to_value(x)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Column names of [`render`], in order.
pub const COLUMNS: &[&str] = &[
    "engine",
    "mode",
    "endpoint",
    "load_step",
    "prompt_id",
    "tier",
    "run_index",
    "warmup",
    "ok",
    "error",
    "started_at",
    "ttft_ms",
    "tpot_ms",
    "icl_ms",
    "e2e_ms",
    "decode_tps",
    "e2e_tps",
    "prefill_tps",
    "ttft_from_scheduled_ms",
    "e2e_from_scheduled_ms",
    "send_lag_ms",
    "decode_tps_source",
    "output_tokens",
    "output_tokens_source",
    "output_tokens_tokenizer",
    "prompt_tokens",
    "prompt_tokens_source",
    "content_events",
    "finish_reason",
    "wall_ms",
    "engine_clock_source",
    "engine_prompt_tokens",
    "engine_prefill_tps",
    "engine_decode_tokens",
    "engine_decode_tps",
    "engine_load_ms",
    "rss_peak_mib",
    "gpu_mib",
    "max_tokens",
    "temperature",
    "seed",
    "template",
    "flags",
    "output_text",
];

fn row(r: &RunRecord) -> Vec<String> {
    let er = r.engine_report.as_ref();
    let mem = r.memory.as_ref();
    vec![
        text(&r.engine),
        r.mode.as_str().to_string(),
        text(&r.endpoint),
        text(r.load_step.as_deref().unwrap_or("")),
        text(&r.prompt_id),
        text(&r.tier),
        r.run_index.to_string(),
        r.warmup.to_string(),
        r.ok.to_string(),
        text(r.error.as_deref().unwrap_or("")),
        text(&r.started_at),
        opt(r.ttft_ms),
        opt(r.tpot_ms),
        opt(r.icl_ms),
        opt(r.e2e_ms),
        opt(r.decode_tps),
        opt(r.e2e_tps),
        opt(r.prefill_tps),
        opt(r.ttft_from_scheduled_ms),
        opt(r.e2e_from_scheduled_ms),
        opt(r.send_lag_ms),
        text(r.decode_tps_source.as_deref().unwrap_or("")),
        opt(r.output_tokens),
        r.output_tokens_source
            .map(|s| json_name(&s))
            .unwrap_or_default(),
        opt(r.output_tokens_tokenizer),
        opt(r.prompt_tokens),
        r.prompt_tokens_source
            .map(|s| json_name(&s))
            .unwrap_or_default(),
        r.content_events.to_string(),
        text(r.finish_reason.as_deref().unwrap_or("")),
        opt(r.wall_ms),
        text(er.map(|e| e.source.as_str()).unwrap_or("")),
        opt(er.and_then(|e| e.prompt_tokens)),
        opt(er.and_then(|e| e.prefill_tps)),
        opt(er.and_then(|e| e.decode_tokens)),
        opt(er.and_then(|e| e.decode_tps)),
        opt(er.and_then(|e| e.load_ms)),
        opt(mem.and_then(|m| m.rss_peak_mib)),
        opt(mem.and_then(|m| m.gpu_mib)),
        r.sampling.max_tokens.to_string(),
        r.sampling.temperature.to_string(),
        opt(r.sampling.seed),
        text(&r.template),
        text(
            &r.flags
                .iter()
                .map(|f| f.kind.as_str())
                .collect::<Vec<_>>()
                .join(";"),
        ),
        text(&r.output_text),
    ]
}

/// Every run record of the document, one line each, with a header line. Lines end in
/// CRLF as RFC 4180 asks.
pub fn render(doc: &ResultsDoc) -> String {
    render_records(&doc.runs)
}

/// [`render`] over a slice of records.
pub fn render_records(runs: &[RunRecord]) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}\r\n", COLUMNS.join(","));
    for r in runs {
        let _ = write!(s, "{}\r\n", row(r).join(","));
    }
    s
}

/// One line per load step: throughput, goodput, latency percentiles, client headroom.
/// Only a header when the run had no load steps.
pub fn render_load(doc: &ResultsDoc) -> String {
    let mut s = String::from(
        "engine,step,requests,ok,failed,warmup,in_flight,max_in_flight,span_s,steady_s,ramp_up_s,drain_s,\
         output_tps,output_tps_steady,request_rps,good,good_fraction,good_rps,\
         ttft_mean_ms,ttft_p50_ms,ttft_p99_ms,tpot_mean_ms,tpot_p50_ms,tpot_p99_ms,e2e_p50_ms,e2e_p99_ms,\
         ttft_from_scheduled_p99_ms,send_lag_p99_ms,client_cpu_cores,client_bottleneck\r\n",
    );
    for st in &doc.load {
        let p =
            |m: &str, q: fn(&crate::measure::stats::Summary) -> f64| opt(st.metrics.get(m).map(q));
        let cells = [
            text(&st.engine),
            text(&st.step),
            st.requests.to_string(),
            st.ok.to_string(),
            st.failed.to_string(),
            st.warmup.to_string(),
            st.in_flight.to_string(),
            st.max_in_flight.to_string(),
            opt(st.span.map(|w| w.seconds())),
            opt(st.steady.map(|w| w.seconds())),
            opt(st.ramp_up_s),
            opt(st.drain_s),
            opt(st.output_tps),
            opt(st.output_tps_steady),
            opt(st.request_rps),
            opt(st.goodput.as_ref().map(|g| g.good)),
            opt(st.goodput.as_ref().map(|g| g.fraction)),
            opt(st.goodput.as_ref().map(|g| g.good_rps)),
            p("ttft_ms", |s| s.mean),
            p("ttft_ms", |s| s.p50),
            p("ttft_ms", |s| s.p99),
            p("tpot_ms", |s| s.mean),
            p("tpot_ms", |s| s.p50),
            p("tpot_ms", |s| s.p99),
            p("e2e_ms", |s| s.p50),
            p("e2e_ms", |s| s.p99),
            p("ttft_from_scheduled_ms", |s| s.p99),
            opt(st.client.send_lag_ms.as_ref().map(|l| l.p99)),
            opt(st.client.cpu_cores),
            st.client.bottleneck.to_string(),
        ];
        let _ = write!(s, "{}\r\n", cells.join(","));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Mode, Sampling};

    fn rec() -> RunRecord {
        let sampling = Sampling {
            max_tokens: 16,
            temperature: 0.0,
            seed: Some(42),
            top_p: None,
            top_k: None,
            ignore_eos: false,
        };
        RunRecord::new(
            "llama,cpp",
            Mode::Api,
            "/v1/chat/completions",
            "p1",
            "short",
            0,
            sampling,
            "gemma3",
        )
    }

    /// A minimal RFC 4180 reader, to check that what we write reads back.
    fn parse(s: &str) -> Vec<Vec<String>> {
        let mut rows = vec![];
        let mut row = vec![];
        let mut cell = String::new();
        let mut quoted = false;
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            match (quoted, c) {
                (true, '"') if it.peek() == Some(&'"') => {
                    it.next();
                    cell.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => cell.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut cell)),
                (false, '\r') => {}
                (false, '\n') => {
                    row.push(std::mem::take(&mut cell));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => cell.push(c),
            }
        }
        rows
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(text("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(text("-1+1"), "'-1+1");
        assert_eq!(text("@x,y"), "\"'@x,y\"");
        assert_eq!(text("안녕"), "안녕");
    }

    #[test]
    fn records_round_trip_through_a_csv_reader() {
        let mut a = rec();
        a.ok = true;
        a.ttft_ms = Some(12.5);
        a.output_tokens = Some(7);
        a.output_tokens_source = Some(crate::measure::metrics::TokenSource::Usage);
        a.output_text = "line one, \"quoted\"\nline two <script>".into();
        a.flag("token_count_mismatch", "x");
        let mut b = rec();
        b.fail("HTTP 500: boom");
        b.load_step = Some("c=4".into());
        let csv = render_records(&[a, b]);
        assert!(csv.ends_with("\r\n"));
        let rows = parse(&csv);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
        let col = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
        assert_eq!(rows[0][col("output_text")], "output_text");
        assert_eq!(rows[1][col("engine")], "llama,cpp");
        assert_eq!(rows[1][col("ttft_ms")], "12.5");
        assert_eq!(rows[1][col("output_tokens_source")], "usage");
        assert_eq!(rows[1][col("flags")], "token_count_mismatch");
        assert_eq!(
            rows[1][col("output_text")],
            "line one, \"quoted\"\nline two <script>"
        );
        assert_eq!(rows[1][col("seed")], "42");
        assert_eq!(rows[2][col("ok")], "false");
        assert_eq!(rows[2][col("error")], "HTTP 500: boom");
        assert_eq!(rows[2][col("ttft_ms")], "");
        assert_eq!(rows[2][col("load_step")], "c=4");
    }
}
