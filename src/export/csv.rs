//! Per-run records (and load steps) as CSV (RFC 4180), pure.
//!
//! Written by the `csv` crate: a field is quoted when it holds a comma, a quote, CR or LF,
//! quotes inside are doubled, and lines end in CRLF.
//! Free text (model output, errors, prompt ids, engine names) that starts with `=`, `+`,
//! `-`, `@`, tab or CR gets a leading `'`, so a spreadsheet opening the file shows it as
//! text instead of evaluating it as a formula (OWASP "CSV injection"). Numbers are written
//! as they are; an empty field means "not measured".

use super::Stat;
use crate::results::metric::{self, Metric};
use crate::results::{ResultsDoc, RunRecord};

/// A free-text field, defused against formula evaluation (the writer quotes it as needed).
pub fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// A header line and one line per row, through the `csv` crate: RFC 4180 quoting, CRLF
/// line ends.
fn to_csv<H: AsRef<[u8]>>(header: &[H], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(Vec::new());
    // Writing into memory cannot fail; flexible: a row is never dropped for its length
    // (every row has the header's length: the tests check it).
    let _ = w.write_record(header);
    for row in rows {
        let _ = w.write_record(&row);
    }
    w.into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
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

/// Columns of [`render`] before the metrics: what the run was.
const IDENTITY: &[&str] = &[
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
];

/// Columns of [`render`] after the metrics: where figures came from, how the run was set up,
/// and what it produced.
const CONTEXT: &[&str] = &[
    "decode_tps_source",
    "output_tokens_source",
    "prompt_tokens_source",
    "content_events",
    "finish_reason",
    "engine_clock_source",
    "max_tokens",
    "temperature",
    "seed",
    "template",
    "flags",
    "output_text",
];

/// Column names of [`render`], in order: identity, every metric of
/// [`metric::ALL`] (empty when not measured), context.
pub fn columns() -> Vec<&'static str> {
    IDENTITY
        .iter()
        .copied()
        .chain(metric::ALL.iter().map(|m| m.name))
        .chain(CONTEXT.iter().copied())
        .collect()
}

fn row(r: &RunRecord) -> Vec<String> {
    let source = |s: Option<crate::measure::metrics::TokenSource>| {
        s.map(|s| json_name(&s)).unwrap_or_default()
    };
    let identity = [
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
    ];
    let context = [
        text(r.decode_tps_source.as_deref().unwrap_or("")),
        source(r.output_tokens_source),
        source(r.prompt_tokens_source),
        r.content_events.to_string(),
        text(r.finish_reason.as_deref().unwrap_or("")),
        text(
            r.engine_report
                .as_ref()
                .map(|e| e.source.as_str())
                .unwrap_or(""),
        ),
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
    ];
    identity
        .into_iter()
        .chain(metric::ALL.iter().map(|m| opt(m.of(r))))
        .chain(context)
        .collect()
}

/// Every run record of the document, one line each, with a header line. Lines end in
/// CRLF as RFC 4180 asks.
pub fn render(doc: &ResultsDoc) -> String {
    render_records(&doc.runs)
}

/// [`render`] over a slice of records.
pub fn render_records(runs: &[RunRecord]) -> String {
    to_csv(&columns(), runs.iter().map(row))
}

/// The latency columns of [`render_load`]: a statistic of a step's summary of a metric.
const STEP_LATENCIES: &[(Metric, Stat)] = &[
    (metric::TTFT, Stat::Mean),
    (metric::TTFT, Stat::P50),
    (metric::TTFT, Stat::P99),
    (metric::TPOT, Stat::Mean),
    (metric::TPOT, Stat::P50),
    (metric::TPOT, Stat::P99),
    (metric::E2E, Stat::P50),
    (metric::E2E, Stat::P99),
    (metric::TTFT_SCHEDULED, Stat::P99),
];

/// One line per load step: throughput, goodput, latency percentiles, client headroom, and
/// how many of its successful requests came in one lump (their TTFT, in the TTFT columns,
/// holds the whole generation). Only a header when the run had no load steps.
pub fn render_load(doc: &ResultsDoc) -> String {
    let lag = metric::SEND_LAG.stat_column(Stat::P99.name());
    let header: Vec<String> = [
        "engine",
        "step",
        "requests",
        "ok",
        "failed",
        "warmup",
        "in_flight",
        "max_in_flight",
        "span_s",
        "steady_s",
        "ramp_up_s",
        "drain_s",
        "output_tps",
        "output_tps_steady",
        "request_rps",
        "good",
        "good_fraction",
        "good_rps",
    ]
    .into_iter()
    .map(String::from)
    .chain(STEP_LATENCIES.iter().map(|(m, q)| m.stat_column(q.name())))
    .chain([
        lag,
        "client_cpu_cores".into(),
        "client_bottleneck".into(),
        "ttft_holds_generation".into(),
    ])
    .collect();
    let rows = doc.load.iter().map(|st| {
        [
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
        ]
        .into_iter()
        .chain(
            STEP_LATENCIES
                .iter()
                .map(|(m, q)| opt(super::stat(&st.metrics, m, *q))),
        )
        .chain([
            opt(st.client.send_lag_ms.as_ref().map(|l| Stat::P99.of(l))),
            opt(st.client.cpu_cores),
            st.client.bottleneck.to_string(),
            st.ttft_holds_generation.to_string(),
        ])
        .collect()
    });
    to_csv(&header, rows)
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
        // One line of cells, written as the header is (rows are written the same way).
        let line = |cells: &[&str]| to_csv(cells, std::iter::empty());
        assert_eq!(line(&["plain", "", "1.5"]), "plain,,1.5\r\n");
        assert_eq!(line(&["a,b", "x"]), "\"a,b\",x\r\n");
        assert_eq!(line(&["say \"hi\""]), "\"say \"\"hi\"\"\"\r\n");
        assert_eq!(line(&["two\nlines", "cr\r"]), "\"two\nlines\",\"cr\r\"\r\n");
        assert_eq!(text("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(text("-1+1"), "'-1+1");
        assert_eq!(line(&[&text("@x,y")]), "\"'@x,y\"\r\n");
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
        let columns = columns();
        assert!(rows.iter().all(|r| r.len() == columns.len()));
        let col = |name: &str| columns.iter().position(|c| *c == name).unwrap();
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
