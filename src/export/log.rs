//! One-line log renderings of run records for the detailed log.

use crate::results::RunRecord;

fn f(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

/// A one-line summary of a run: identity, outcome, the main figures and their sources.
pub fn run_line(r: &RunRecord) -> String {
    let who = format!(
        "[{} {} {} {} run {}{}]",
        r.engine,
        r.mode.as_str(),
        r.endpoint,
        r.prompt_id,
        r.run_index,
        if r.warmup { " warm-up" } else { "" }
    );
    if !r.ok {
        return format!(
            "{who} FAILED: {}",
            r.error.as_deref().unwrap_or("unknown error")
        );
    }
    let tokens = match (r.output_tokens, r.output_tokens_source) {
        (Some(n), Some(src)) => format!(
            "{n} ({})",
            serde_json::to_string(&src)
                .unwrap_or_default()
                .trim_matches('"')
        ),
        (Some(n), None) => n.to_string(),
        _ => "-".into(),
    };
    let mut line = format!(
        "{who} ok ttft_ms={} tpot_ms={} e2e_ms={} decode_tps={} ({}) output_tokens={} prompt_tokens={}",
        f(r.ttft_ms),
        f(r.tpot_ms),
        f(r.e2e_ms),
        f(r.decode_tps),
        r.decode_tps_source.as_deref().unwrap_or("-"),
        tokens,
        r.prompt_tokens
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into()),
    );
    if let Some(e) = &r.engine_report {
        line.push_str(&format!(
            " | engine ({}): decode_tps={} prefill_tps={} decode_tokens={}",
            e.source,
            f(e.decode_tps),
            f(e.prefill_tps),
            e.decode_tokens
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into())
        ));
    }
    if let Some(w) = r.wall_ms {
        line.push_str(&format!(" wall_ms={w:.1}"));
    }
    for flag in &r.flags {
        line.push_str(&format!(" | FLAG {}: {}", flag.kind, flag.message));
    }
    line
}
