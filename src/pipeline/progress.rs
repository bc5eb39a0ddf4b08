//! What the user sees while a benchmark runs, on stderr: a progress bar on a terminal;
//! without one (CI logs, `| tee`) one line per finished run, so a long run is never silent;
//! nothing with `--quiet`.

use crate::results::RunRecord;
use std::io::IsTerminal;
use std::time::Duration;

/// How progress is shown.
pub enum Progress {
    Bar(indicatif::ProgressBar),
    Lines,
    Quiet,
}

impl Progress {
    /// A bar of `total` runs on a terminal, lines elsewhere, nothing when `quiet`.
    pub fn new(total: u64, quiet: bool) -> Progress {
        if quiet {
            return Progress::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return Progress::Lines;
        }
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        Progress::Bar(pb)
    }

    /// What is happening now, on the bar only (per request: too many for lines).
    pub fn status(&self, msg: &str) {
        if let Progress::Bar(pb) = self {
            pb.set_message(msg.to_string());
        }
    }

    /// A stage of the benchmark (an engine starting): the bar's message, or a line.
    pub fn stage(&self, msg: &str) {
        match self {
            Progress::Bar(pb) => pb.set_message(msg.to_string()),
            Progress::Lines => eprintln!("{msg}"),
            Progress::Quiet => {}
        }
    }

    /// A run finished.
    pub fn finished(&self, r: &RunRecord) {
        match self {
            Progress::Bar(pb) => {
                if let Some(tps) = r.decode_tps.filter(|_| r.ok) {
                    pb.set_message(format!("{} {} {tps:.1} tok/s", r.engine, r.prompt_id));
                }
                pb.inc(1);
            }
            Progress::Lines => eprintln!("{}", run_line(r)),
            Progress::Quiet => {}
        }
    }

    /// A line that must be seen whatever the mode (a warning, a step result).
    pub fn println(&self, line: &str) {
        match self {
            Progress::Bar(pb) => pb.println(line),
            Progress::Lines => eprintln!("{line}"),
            Progress::Quiet => {}
        }
    }

    pub fn done(&self) {
        if let Progress::Bar(pb) = self {
            pb.finish_and_clear();
        }
    }
}

/// One line per finished run (CLI and API mode alike). Pure.
pub fn run_line(r: &RunRecord) -> String {
    let f = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.0}"));
    format!(
        "{} {}{} run {}: {}",
        r.engine,
        r.prompt_id,
        if r.warmup { " (warm-up)" } else { "" },
        r.run_index,
        match (&r.error, r.decode_tps) {
            (Some(e), _) => format!("FAILED: {e}"),
            (None, d) => format!(
                "decode {} ({}), {} tokens, TTFT {} ms{}, E2E {} ms",
                d.map_or("–".to_string(), |d| format!("{d:.1} tok/s")),
                r.decode_tps_source.as_deref().unwrap_or("no decode figure"),
                r.output_tokens.map_or("?".into(), |n| n.to_string()),
                f(r.ttft_ms),
                if r.ttft_holds_generation {
                    format!(" ({})", crate::measure::metrics::TTFT_HOLDS_GENERATION)
                } else {
                    String::new()
                },
                f(r.e2e_ms),
            ),
        }
    )
}
