//! One finish for every mode: the results document from the session's records, every
//! export, the console summary, and the exit code.
//!
//! Exit code: 0 when every selected engine was measured and each had a successful run;
//! otherwise an [`Incomplete`] error (exit 1) naming the engines left out and why, and the
//! engines whose every measured run failed, after everything has been written. An engine
//! that is not installed and was enabled by the config rather than named with
//! `--engines` is skipped with a warning and does not fail the benchmark.

use super::bringup::LeftOut;
use crate::cli::OutputArgs;
use crate::config::Settings;
use crate::load::report::StepReport;
use crate::output::Session;
use crate::results::{EngineInfo, Mode, RunRecord};

/// What a schedule produced besides the records (those are in the session).
#[derive(Default)]
pub struct Finished {
    pub engines: Vec<EngineInfo>,
    pub left_out: Vec<LeftOut>,
    pub load: Vec<StepReport>,
    /// `--find`: one search per engine.
    pub search: Vec<crate::results::SearchReport>,
    /// `--workload`: what was sent.
    pub workload: Option<crate::results::WorkloadInfo>,
    /// `--sweep input:…`: each engine's report, by engine name (set into its info).
    pub input_sweep: Vec<(String, crate::results::InputSweepReport)>,
    /// `inferbench doctor`'s checks, taken before any engine started
    /// ([`crate::doctor::survey`]); recorded as the results' `environment.doctor`.
    pub doctor: Option<serde_json::Value>,
    /// The run's tokenizer, already loaded where API mode needed it; parity loads
    /// `settings.tokenizer` itself without one.
    pub tokenizer: Option<std::sync::Arc<super::LazyTokenizer>>,
}

impl Finished {
    /// Record an engine that is left out, and say so in the log and on stderr.
    pub fn leave_out(
        &mut self,
        lo: LeftOut,
        progress: &super::progress::Progress,
        session: &mut Session,
    ) {
        let line = if lo.not_installed {
            format!("skipped {} (not installed): {}", lo.engine, lo.reason)
        } else {
            format!("left out {}: {}", lo.engine, lo.reason)
        };
        session.log(&line);
        progress.println(&line);
        self.left_out.push(lo);
    }
}

/// Take `inferbench doctor`'s checks of the host, the inputs and the engines this run
/// starts (`keys`), for this run's `mode` (API or CLI), before any of them starts; log a
/// summary line and every ✗ line. The document goes into the results as
/// `environment.doctor` (`None`, and a log line, when the checks could not be taken).
pub async fn survey(
    settings: &Settings,
    keys: &[String],
    mode: crate::doctor::Mode,
    session: &mut Session,
) -> Option<serde_json::Value> {
    let doc = match crate::doctor::survey(settings, keys, mode).await {
        Ok(d) => d,
        Err(e) => {
            session.log(&format!("doctor: checks not taken: {e:#}"));
            return None;
        }
    };
    let checks = doc["checks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let count = |status: &str| checks.iter().filter(|c| c["status"] == status).count();
    session.log(&format!(
        "doctor: {} ✓, {} ✗, {} – in {:.1} s (recorded as environment.doctor)",
        count("ok"),
        count("fail"),
        count("skip"),
        doc["elapsed_s"].as_f64().unwrap_or(0.0)
    ));
    for c in checks.iter().filter(|c| c["status"] == "fail") {
        session.log(&format!(
            "doctor ✗ {} {}: {} — fix: {}",
            c["scope"].as_str().unwrap_or(""),
            c["name"].as_str().unwrap_or(""),
            c["detail"].as_str().unwrap_or(""),
            c["fix"].as_str().unwrap_or("")
        ));
    }
    Some(doc)
}

/// The benchmark ran but not every engine was measured, or an engine's every run failed.
/// Exit code 1; every result is on disk.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Incomplete(pub String);

/// Engines whose every measured run failed, with their run counts. Pure.
pub fn all_failed_engines(runs: &[RunRecord]) -> Vec<(String, usize)> {
    let mut by_engine: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for r in runs.iter().filter(|r| !r.warmup) {
        let e = by_engine.entry(r.engine.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(r.ok);
    }
    by_engine
        .into_iter()
        .filter(|(_, (n, ok))| *n > 0 && *ok == 0)
        .map(|(e, (n, _))| (e.to_string(), n))
        .collect()
}

/// What made the benchmark incomplete, or `None`. Pure.
pub fn incompleteness(
    left_out: &[LeftOut],
    runs: &[RunRecord],
    engines: &[EngineInfo],
) -> Option<String> {
    let mut parts = Vec::new();
    for e in engines {
        if let Some(x) = &e.exited {
            parts.push(format!(
                "{}'s process ended ({}) at {} while it was measured (nothing was sent to it after)",
                e.engine, x.how, x.at
            ));
        }
    }
    for lo in left_out.iter().filter(|l| !l.not_installed) {
        parts.push(format!("left out {}: {}", lo.engine, lo.reason));
    }
    for (engine, n) in all_failed_engines(runs) {
        parts.push(format!(
            "every run of {engine} failed ({n} runs; see the log and the JSONL records)"
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Greedy parity over the sequential runs, at temperature 0 or when `asked` (`--parity`);
/// flags the runs of an engine that departs. The replies are tokenized here, at the end,
/// not as each record is built: only these runs need ids, a load run never does, and
/// the records (JSONL) stay as they are. The tokenizer is the run's where API mode
/// loaded it, else `settings.tokenizer` loaded now (CLI mode's are per engine and gone).
fn parity(
    settings: &Settings,
    asked: bool,
    tokenizer: Option<std::sync::Arc<super::LazyTokenizer>>,
    runs: &mut [RunRecord],
) -> Option<crate::results::ParityReport> {
    let why = if asked {
        "--parity"
    } else if settings.temperature == 0.0 {
        "temperature 0"
    } else {
        return None;
    };
    let mut report = crate::results::ParityReport {
        why: why.into(),
        tokenizer: settings.tokenizer.as_ref().map(|p| p.display().to_string()),
        early_tokens: crate::measure::parity::EARLY_TOKENS,
        ..Default::default()
    };
    if crate::export::parity::engines(runs).len() < 2 {
        if !asked {
            return None;
        }
        report.notes.push(
            "fewer than two engines have successful sequential replies: nothing to compare".into(),
        );
        return Some(report);
    }
    let lazy = tokenizer.or_else(|| {
        super::LazyTokenizer::new(settings.tokenizer.clone())
            .ok()
            .map(std::sync::Arc::new)
    });
    match lazy.as_deref().and_then(super::LazyTokenizer::get) {
        Some(t) => crate::export::parity::check(runs, t, &mut report),
        None => report.notes.push(
            "no tokenizer (inferbench.tokenizer or --tokenizer), or it could not be loaded: \
             replies not compared"
                .into(),
        ),
    }
    Some(report)
}

/// Write the results document and every export; print where they are; the exit code.
pub fn finish(
    mut session: Session,
    mode: Mode,
    settings: &Settings,
    started_at: String,
    done: Finished,
    output: &OutputArgs,
) -> anyhow::Result<i32> {
    let mut engines = done.engines;
    for (name, report) in done.input_sweep {
        if let Some(e) = engines.iter_mut().find(|e| e.engine == name) {
            e.input_sweep = Some(Box::new(report));
        }
    }
    engines.extend(done.left_out.iter().map(|l| l.info(mode)));
    let mut runs = session.records().to_vec();
    let parity = parity(settings, output.parity, done.tokenizer.clone(), &mut runs);
    let mut doc = crate::export::assemble(mode, settings, started_at, engines, runs, done.load);
    doc.parity = parity;
    doc.search = done.search;
    doc.workload = done.workload;
    doc.environment.doctor = done.doctor;
    session.write_exports(&doc, output.html, output.csv)?;
    let exported = session.write_peer_exports(&doc, &output.export)?;
    if !output.quiet {
        if doc.load.is_empty() {
            println!("{}", crate::export::markdown::console_summary(&doc));
            print!("{}", crate::export::parity::console(&doc));
        } else {
            print!("{}", crate::export::console::console_table(&doc.load));
        }
        for e in &doc.engines {
            if let Some(r) = &e.input_sweep {
                print!("{}", crate::export::input_sweep::console(&e.engine, r));
            }
            if let Some(r) = &e.starts {
                print!("{}", crate::export::starts::console(&e.engine, r));
            }
        }
        for line in doc
            .search
            .iter()
            .flat_map(crate::export::console::search_lines)
        {
            println!("{line}");
        }
        for lo in &done.left_out {
            println!(
                "{} {}: {}",
                if lo.not_installed {
                    "skipped (not installed)"
                } else {
                    "left out"
                },
                lo.engine,
                lo.reason
            );
        }
    }
    println!("report:  {}", session.paths.report.display());
    println!("results: {}", session.paths.json.display());
    println!("records: {}", session.paths.jsonl.display());
    println!("log:     {}", session.paths.log.display());
    for path in &exported {
        println!("export:  {}", path.display());
    }
    let measured = doc.runs.iter().filter(|r| !r.warmup).count();
    if measured == 0 && !done.left_out.is_empty() && done.left_out.iter().all(|l| l.user_fixable) {
        // Nothing ran, for reasons the user must fix: exit 2 with what to do.
        let reasons: Vec<String> = done
            .left_out
            .iter()
            .map(|l| format!("{}: {}", l.engine, l.reason))
            .collect();
        return Err(crate::error::UserError::new(format!(
            "no engine could be measured: {} (run scripts/setup.sh for a missing engine or model)",
            reasons.join("; ")
        ))
        .into());
    }
    match incompleteness(&done.left_out, &doc.runs, &doc.engines) {
        Some(why) => {
            session.log(&format!("incomplete: {why}"));
            Err(Incomplete(why).into())
        }
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Sampling;

    fn rec(engine: &str, ok: bool, warmup: bool) -> RunRecord {
        let mut r = RunRecord::new(
            engine,
            Mode::Api,
            "/v1/chat/completions",
            "p",
            "short",
            0,
            Sampling {
                max_tokens: 8,
                temperature: 0.0,
                seed: None,
                top_p: None,
                top_k: None,
                ignore_eos: false,
            },
            "t",
        );
        r.ok = ok;
        r.warmup = warmup;
        r
    }

    #[test]
    fn an_engine_whose_every_run_failed_makes_the_run_incomplete() {
        let runs = vec![
            rec("a", true, false),
            rec("b", false, false),
            rec("b", false, false),
            rec("c", true, true),
            rec("c", false, false),
        ];
        assert_eq!(
            all_failed_engines(&runs),
            vec![("b".to_string(), 2), ("c".to_string(), 1)]
        );
        let why = incompleteness(&[], &runs, &[]).expect("incomplete");
        assert!(why.contains("every run of b failed (2 runs"), "{why}");
        assert_eq!(incompleteness(&[], &runs[..1], &[]), None);
    }

    #[test]
    fn left_out_engines_count_unless_merely_not_installed() {
        let lo = |not_installed| LeftOut {
            engine: "x".into(),
            kind: "pytorch".into(),
            reason: "fairness check of `x`: template mismatch".into(),
            not_installed,
            user_fixable: true,
        };
        assert_eq!(incompleteness(&[lo(true)], &[], &[]), None);
        assert_eq!(
            incompleteness(&[lo(false)], &[], &[]).as_deref(),
            Some("left out x: fairness check of `x`: template mismatch")
        );
    }

    #[test]
    fn an_engine_that_died_makes_the_run_incomplete_even_with_successes() {
        let runs = vec![rec("llamacpp", true, false), rec("llamacpp", false, false)];
        let mut e = EngineInfo {
            engine: "llamacpp".into(),
            ..Default::default()
        };
        assert_eq!(incompleteness(&[], &runs, std::slice::from_ref(&e)), None);
        e.exited = Some(crate::liveness::EngineExit {
            how: "killed by signal 9 (SIGKILL)".into(),
            code: None,
            signal: Some(9),
            at: "2026-12-07T12:00:00+00:00".into(),
            log_tail: String::new(),
        });
        let why = incompleteness(&[], &runs, &[e]).expect("incomplete");
        assert_eq!(
            why,
            "llamacpp's process ended (killed by signal 9 (SIGKILL)) at 2026-12-07T12:00:00+00:00 while it was measured (nothing was sent to it after)"
        );
    }
}
