//! Ollama's command-line tool: `ollama run MODEL --verbose` with the prompt as argument.
//! Text goes to stdout; the stats go to stderr, after a spinner, as Go durations:
//!
//! ```text
//! total duration:       4.23271s
//! load duration:        1.5029187s
//! prompt eval count:    26 token(s)
//! prompt eval duration: 130.079ms
//! prompt eval rate:     199.88 tokens/s
//! eval count:           298 token(s)
//! eval duration:        2.597443s
//! eval rate:            114.73 tokens/s
//! ```
//!
//! TRAP: `eval rate:` is a substring of `prompt eval rate:`. Here a line's label is the
//! whole text before its first `:`, compared for equality, so the two cannot be confused.
//! Sampling options cannot be given on Ollama's command line: the Modelfile carries them.
//! The first run after the server starts includes the model load: `load duration` is
//! reported separately and never enters the decode figures (eval only).

use crate::climode::exec::ProcessOutcome;
use crate::climode::parse::{
    normalize_spaces, parse_go_duration_ms, scan_quantities, strip_terminal_noise,
};
use crate::climode::{AdapterInputs, Case, Interpreted, missing};
use crate::engines::launch::cli_program;
use crate::process::CommandSpec;
use crate::results::EngineReport;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The `--verbose` stats of one `ollama run`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerboseStats {
    pub total_ms: Option<f64>,
    pub load_ms: Option<f64>,
    pub prompt_eval_count: Option<u64>,
    pub prompt_eval_ms: Option<f64>,
    pub prompt_eval_rate: Option<f64>,
    pub eval_count: Option<u64>,
    pub eval_ms: Option<f64>,
    pub eval_rate: Option<f64>,
}

impl VerboseStats {
    pub fn is_empty(&self) -> bool {
        *self == VerboseStats::default()
    }

    /// The decode rate: the printed `eval rate`, else `eval count / eval duration`.
    pub fn decode_tps(&self) -> Option<f64> {
        self.eval_rate
            .or_else(|| rate(self.eval_count, self.eval_ms))
    }

    /// The prefill rate: the printed `prompt eval rate`, else count / duration.
    pub fn prefill_tps(&self) -> Option<f64> {
        self.prompt_eval_rate
            .or_else(|| rate(self.prompt_eval_count, self.prompt_eval_ms))
    }

    pub fn to_report(&self) -> EngineReport {
        EngineReport {
            source: "ollama --verbose".into(),
            prompt_tokens: self.prompt_eval_count,
            prompt_ms: self.prompt_eval_ms,
            prefill_tps: self.prefill_tps(),
            decode_tokens: self.eval_count,
            decode_ms: self.eval_ms,
            decode_tps: self.decode_tps(),
            load_ms: self.load_ms,
            total_ms: self.total_ms,
            cached_tokens: None,
            decode_wall_tps: EngineReport::wall_rate(
                self.eval_count,
                self.total_ms,
                self.load_ms,
                self.prompt_eval_ms,
            ),
        }
    }
}

fn rate(count: Option<u64>, ms: Option<f64>) -> Option<f64> {
    match (count, ms) {
        (Some(n), Some(ms)) if ms > 0.0 => Some(n as f64 * 1000.0 / ms),
        _ => None,
    }
}

fn count_of(value: &str) -> Option<u64> {
    scan_quantities(value)
        .into_iter()
        .next()
        .filter(|q| q.unit.starts_with("token"))
        .and_then(|q| q.value)
        .filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v < 1e15)
        .map(|v| v as u64)
}

fn rate_of(value: &str) -> Option<f64> {
    scan_quantities(value)
        .into_iter()
        .next()
        .filter(|q| q.unit == "tokens/s" || q.unit.starts_with("tokens/s"))
        .and_then(|q| q.value)
}

/// Parse Ollama's `--verbose` stats from stderr (spinner and escape codes allowed).
/// Never panics; unknown lines are skipped; the last occurrence of a label wins.
pub fn parse_verbose_stats(stderr: &str) -> VerboseStats {
    let clean = strip_terminal_noise(stderr);
    let mut s = VerboseStats::default();
    for line in clean.lines() {
        let Some((label, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match normalize_spaces(label).to_lowercase().as_str() {
            "total duration" => s.total_ms = parse_go_duration_ms(value).or(s.total_ms),
            "load duration" => s.load_ms = parse_go_duration_ms(value).or(s.load_ms),
            "prompt eval count" => s.prompt_eval_count = count_of(value).or(s.prompt_eval_count),
            "prompt eval duration" => {
                s.prompt_eval_ms = parse_go_duration_ms(value).or(s.prompt_eval_ms)
            }
            "prompt eval rate" => s.prompt_eval_rate = rate_of(value).or(s.prompt_eval_rate),
            "eval count" => s.eval_count = count_of(value).or(s.eval_count),
            "eval duration" => s.eval_ms = parse_go_duration_ms(value).or(s.eval_ms),
            "eval rate" => s.eval_rate = rate_of(value).or(s.eval_rate),
            _ => {}
        }
    }
    s
}

/// How one Ollama engine of the config is run.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub program: PathBuf,
    /// The registered model (`ollama create NAME -f Modelfile`).
    pub model: String,
    /// `OLLAMA_HOST` for the client, when the config names a host/port/url.
    pub host: Option<String>,
    pub extra_args: Vec<String>,
}

impl Setup {
    pub fn endpoint(&self) -> String {
        "ollama run --verbose".into()
    }

    /// `ollama run MODEL --verbose [extra] USER`. The system prompt, template and sampling
    /// come from the Modelfile: `ollama run` has no flags for them.
    pub fn command(&self, case: &Case) -> CommandSpec {
        let mut spec = CommandSpec::new(&self.program)
            .args(["run", self.model.as_str(), "--verbose"])
            .args(self.extra_args.iter());
        if case.user.starts_with('-') {
            spec = spec.arg("--");
        }
        spec = spec.arg(&case.user);
        if let Some(h) = &self.host {
            spec = spec.env("OLLAMA_HOST", h);
        }
        spec
    }

    pub fn interpret(&self, o: &ProcessOutcome) -> Interpreted {
        let stdout = o.stdout_text();
        let stats = parse_verbose_stats(&o.stderr_text());
        let mut out = Interpreted {
            text: stdout.trim().to_string(),
            stdout_span: Some((0, stdout.len())),
            output_tokens: stats.eval_count,
            // The measured process is the client; the model runs in the server.
            tree_is_not_engine: true,
            ..Default::default()
        };
        if !stats.is_empty() {
            out.report = Some(stats.to_report());
        }
        if !o.success() {
            out.error = Some(o.failure_reason());
        } else if stats.decode_tps().is_none() {
            out.error = Some("no `eval rate`/`eval count` in ollama's --verbose stats".into());
        }
        out
    }
}

/// Ollama: `ollama run` against a server (ours or the configured one) that holds the model.
pub fn setup(inputs: AdapterInputs, notes: &mut Vec<String>) -> anyhow::Result<Setup> {
    let AdapterInputs { key, section, .. } = inputs;
    let program = cli_program(&inputs, super::CLI_PROGRAMS, "no `ollama` program found")?;
    let model = section
        .model_name
        .clone()
        .ok_or_else(|| missing(&format!("engines.{key}: no model_name")))?;
    let host = section.url.clone().or_else(|| {
        section
            .port
            .map(|p| format!("{}:{p}", section.host.as_deref().unwrap_or("127.0.0.1")))
    });
    notes.push(
        "ollama run takes no system prompt or sampling flags: they come from the \
         Modelfile; load time reported separately (load duration), never in decode"
            .into(),
    );
    notes.push("memory: the model runs in the ollama server, not in the measured client".into());
    Ok(Setup {
        program,
        model,
        host,
        extra_args: inputs.extra_args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_rate_is_not_prompt_eval_rate() {
        let s = parse_verbose_stats("prompt eval rate:     2337.30 tokens/s\n");
        assert_eq!(s.prompt_eval_rate, Some(2337.30));
        assert_eq!(s.eval_rate, None);
        assert_eq!(s.decode_tps(), None);
    }

    #[test]
    fn counts_and_durations() {
        let s = parse_verbose_stats(
            "total duration:       4.23271s\nload duration:        2.190709ms\n\
             prompt eval count:    26 token(s)\nprompt eval duration: 130.079ms\n\
             eval count:           298 token(s)\neval duration:        4.007443s\n",
        );
        assert_eq!(s.total_ms, Some(4232.71));
        assert_eq!(s.load_ms, Some(2.190709));
        assert_eq!(s.prompt_eval_count, Some(26));
        assert_eq!(s.eval_count, Some(298));
        // No printed rates: computed from count and duration.
        let d = s.decode_tps().unwrap();
        assert!((d - 298.0 / 4.007443).abs() < 1e-9, "{d}");
        let r = s.to_report();
        assert_eq!(r.load_ms, Some(2.190709));
        assert_eq!(r.decode_ms, Some(4007.443));
    }

    #[test]
    fn garbage_values_are_none() {
        let s =
            parse_verbose_stats("eval rate: fast\neval count: many token(s)\neval duration: 3d\n");
        assert!(s.is_empty(), "{s:?}");
    }
}
