//! llama.cpp's command-line tools: how to call them, and pure parsers of what they print.
//!
//! - `llama-completion` (and the old one-shot `llama-cli -no-cnv`): a perf block on
//!   stderr, prefixed `common_perf_print:` (new), `llama_perf_context_print:` (2024-09 on)
//!   or `llama_print_timings:` (older), with or without a log time prefix such as
//!   `0.09.459.723 I `.
//! - the new chat `llama-cli --simple-io -st`: `[ Prompt: X t/s | Generation: Y t/s ]`.
//! - `llama-simple`: `main: decoded N tokens in S s, speed: R t/s` (that time includes the
//!   prompt, so it is no decode rate).
//! - `llama-bench -o json`: an array of rows; `tg` rows have `n_prompt == 0`.
//!
//! The seed printed 2,337 tok/s because a pattern like `eval time.*tokens per second` hit
//! the `prompt eval time` line first. Here every figure is found by its whole label (the
//! text between the prefix and `=` must equal the label), so `prompt eval time` can never be
//! read as `eval time`, whatever the order, spacing or prefix; and the printed rate is
//! checked against `count / ms` of the same line.

use crate::climode::exec::ProcessOutcome;
use crate::climode::parse::{
    Quantity, normalize_spaces, scan_quantities, split_ident_prefix, strip_log_time_prefix,
    strip_terminal_noise,
};
use crate::climode::{AdapterInputs, Case, Interpreted, optional_sampling_flags, required_model};
use crate::engines::launch::cli_program;
use crate::process::CommandSpec;
use crate::results::{EngineReport, Flag, Sampling};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One phase line of a perf block: `X ms / N runs|tokens ( X ms per token, X tokens per
/// second)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub ms: Option<f64>,
    /// Tokens (prompt eval) or runs (eval, sampling).
    pub count: Option<u64>,
    pub ms_per_token: Option<f64>,
    /// The rate as printed; `None` when printed as `inf`/`nan` or absent.
    pub tokens_per_second: Option<f64>,
}

impl Phase {
    /// The rate: the printed one, else `count / ms`.
    pub fn rate(&self) -> Option<f64> {
        self.tokens_per_second.or_else(|| self.computed_rate())
    }

    /// `count / ms`, the rate implied by the line's own numbers.
    pub fn computed_rate(&self) -> Option<f64> {
        match (self.count, self.ms) {
            (Some(n), Some(ms)) if ms > 0.0 => Some(n as f64 * 1000.0 / ms),
            _ => None,
        }
    }

    /// Whether the printed rate agrees with `count / ms` (within 1 %, plus rounding of
    /// the two-decimal figures). `true` when either is missing.
    pub fn is_consistent(&self) -> bool {
        match (self.tokens_per_second, self.computed_rate(), self.ms) {
            (Some(printed), Some(computed), Some(ms)) => {
                // ms is printed with two decimals: allow its rounding.
                let rounding_pct = 0.005 / ms * 100.0;
                crate::record::rel_diff_pct(printed, computed) <= 1.0 + rounding_pct
            }
            _ => true,
        }
    }
}

/// A parsed llama.cpp perf block. Each field is the LAST line with that label.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerfBlock {
    /// The prefix the lines carried, e.g. `common_perf_print`.
    pub prefix: String,
    pub load_ms: Option<f64>,
    pub sampling: Option<Phase>,
    pub prompt_eval: Option<Phase>,
    pub eval: Option<Phase>,
    pub total_ms: Option<f64>,
    pub total_tokens: Option<u64>,
}

impl PerfBlock {
    /// Whether any known label was found.
    pub fn is_empty(&self) -> bool {
        self.load_ms.is_none()
            && self.sampling.is_none()
            && self.prompt_eval.is_none()
            && self.eval.is_none()
            && self.total_ms.is_none()
    }

    /// Engine-reported figures. Decode = the `eval time` line only.
    pub fn to_report(&self) -> EngineReport {
        let p = self.prompt_eval.clone().unwrap_or_default();
        let e = self.eval.clone().unwrap_or_default();
        EngineReport {
            source: self.prefix.clone(),
            prompt_tokens: p.count,
            prompt_ms: p.ms,
            prefill_tps: p.rate(),
            decode_tokens: e.count,
            decode_ms: e.ms,
            decode_tps: e.rate(),
            load_ms: self.load_ms,
            total_ms: self.total_ms,
            cached_tokens: None,
            decode_wall_tps: None,
        }
    }
}

/// The labels of a perf block, compared after spacing is normalised and case folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Load,
    Sampling,
    PromptEval,
    Eval,
    Total,
}

fn label_of(text: &str) -> Option<Label> {
    match normalize_spaces(text).to_lowercase().as_str() {
        "load time" => Some(Label::Load),
        // `sample time` in llama_print_timings; `samplers time` (new) is a different
        // measure and ignored.
        "sampling time" | "sample time" => Some(Label::Sampling),
        "prompt eval time" => Some(Label::PromptEval),
        "eval time" => Some(Label::Eval),
        "total time" => Some(Label::Total),
        _ => None,
    }
}

/// Parse `X ms [/ N unit] [( X ms per token, X tokens per second)]`.
fn parse_phase(value: &str) -> Phase {
    let qs = scan_quantities(value);
    let mut phase = Phase::default();
    let mut iter = qs.iter();
    // The first quantity must be the milliseconds.
    match iter.next() {
        Some(Quantity { value, unit }) if unit == "ms" || unit.is_empty() => phase.ms = *value,
        _ => return phase,
    }
    for q in iter {
        let unit = q.unit.as_str();
        if unit == "runs" || unit == "tokens" || unit == "run" || unit == "token" {
            if phase.count.is_none() {
                phase.count = q
                    .value
                    .filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v < 1e15)
                    .map(|v| v as u64);
            }
        } else if unit.starts_with("ms per token") {
            phase.ms_per_token = q.value;
        } else if unit.starts_with("tokens per second") || unit == "t/s" {
            phase.tokens_per_second = q.value;
        }
    }
    phase
}

/// Parse every perf line in `text` (stderr of llama-completion, llama-cli, llama-simple).
/// Never panics; unknown lines are skipped.
pub fn parse_perf_block(text: &str) -> PerfBlock {
    let clean = strip_terminal_noise(text);
    let mut block = PerfBlock::default();
    for raw in clean.lines() {
        let line = strip_log_time_prefix(raw);
        let Some((prefix, rest)) = split_ident_prefix(line) else {
            continue;
        };
        let Some(eq) = rest.find('=') else {
            continue;
        };
        let Some(label) = label_of(&rest[..eq]) else {
            continue;
        };
        let phase = parse_phase(&rest[eq + 1..]);
        if phase.ms.is_none() {
            continue;
        }
        match label {
            Label::Load => block.load_ms = phase.ms,
            Label::Sampling => block.sampling = Some(phase),
            Label::PromptEval => block.prompt_eval = Some(phase),
            Label::Eval => block.eval = Some(phase),
            Label::Total => {
                block.total_ms = phase.ms;
                block.total_tokens = phase.count;
            }
        }
        // The context prefix names the block; the sampler's own prefix does not.
        if label != Label::Sampling || block.prefix.is_empty() {
            block.prefix = prefix.to_string();
        }
    }
    block
}

/// The new chat `llama-cli` summary line `[ Prompt: X t/s | Generation: Y t/s ]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRates {
    pub prompt_tps: Option<f64>,
    pub generation_tps: Option<f64>,
}

impl ChatRates {
    pub fn to_report(&self) -> EngineReport {
        EngineReport {
            source: "llama-cli [ Prompt | Generation ]".into(),
            prefill_tps: self.prompt_tps,
            decode_tps: self.generation_tps,
            ..Default::default()
        }
    }
}

/// Parse the last `[ Prompt: X t/s | Generation: Y t/s ]` line; each rate by its label.
pub fn parse_chat_rates(text: &str) -> Option<ChatRates> {
    let clean = strip_terminal_noise(text);
    let mut found = None;
    for line in clean.lines() {
        let t = line.trim();
        let Some(inner) = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')) else {
            continue;
        };
        let mut rates = ChatRates::default();
        let mut any = false;
        for part in inner.split('|') {
            let Some((label, value)) = part.split_once(':') else {
                continue;
            };
            let rate = scan_quantities(value)
                .into_iter()
                .find(|q| q.unit == "t/s" || q.unit.starts_with("tokens per second"))
                .and_then(|q| q.value);
            match normalize_spaces(label).to_lowercase().as_str() {
                "prompt" => {
                    rates.prompt_tps = rate;
                    any = true;
                }
                "generation" => {
                    rates.generation_tps = rate;
                    any = true;
                }
                _ => {}
            }
        }
        if any {
            found = Some(rates);
        }
    }
    found
}

/// llama-simple's `main: decoded N tokens in S s, speed: R t/s`. The time runs from
/// before the prompt batch to the end, so R mixes prefill and decode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimpleSummary {
    pub tokens: u64,
    pub seconds: f64,
    pub tokens_per_second: Option<f64>,
}

/// Parse the last `decoded N tokens in S s, speed: R t/s` line.
pub fn parse_simple_summary(text: &str) -> Option<SimpleSummary> {
    let clean = strip_terminal_noise(text);
    let mut found = None;
    for raw in clean.lines() {
        let line = strip_log_time_prefix(raw);
        let body = split_ident_prefix(line).map(|(_, r)| r).unwrap_or(line);
        let body = body.trim_start();
        let Some(after) = body.strip_prefix("decoded ") else {
            continue;
        };
        let qs = scan_quantities(after);
        let tokens = qs
            .iter()
            .find(|q| q.unit.starts_with("tokens in"))
            .and_then(|q| q.value);
        let seconds = qs.iter().find(|q| q.unit == "s").and_then(|q| q.value);
        let speed = after
            .find("speed:")
            .and_then(|i| scan_quantities(&after[i + 6..]).into_iter().next())
            .filter(|q| q.unit == "t/s")
            .and_then(|q| q.value);
        if let (Some(t), Some(s)) = (tokens, seconds)
            && t >= 0.0
            && t.fract() == 0.0
            && t < 1e15
        {
            found = Some(SimpleSummary {
                tokens: t as u64,
                seconds: s,
                tokens_per_second: speed,
            });
        }
    }
    found
}

/// One row of `llama-bench -o json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BenchRow {
    pub model_filename: String,
    pub model_type: String,
    pub model_size: u64,
    pub model_n_params: u64,
    pub n_threads: i64,
    pub n_gpu_layers: i64,
    pub n_prompt: u64,
    pub n_gen: u64,
    pub n_depth: u64,
    pub avg_ns: u64,
    pub stddev_ns: u64,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub samples_ts: Vec<f64>,
}

impl BenchRow {
    /// A text-generation (decode) row: `n_prompt == 0`, `n_gen > 0`.
    pub fn is_tg(&self) -> bool {
        self.n_prompt == 0 && self.n_gen > 0
    }
    /// A prompt-processing row.
    pub fn is_pp(&self) -> bool {
        self.n_prompt > 0 && self.n_gen == 0
    }
}

/// Parse `llama-bench -o json` output (an array of rows; unknown fields ignored).
pub fn parse_bench_json(text: &str) -> Result<Vec<BenchRow>, serde_json::Error> {
    serde_json::from_str(text.trim())
}

/// The first decode (tg) row.
pub fn tg_row(rows: &[BenchRow]) -> Option<&BenchRow> {
    rows.iter().find(|r| r.is_tg())
}

/// Whether stderr says this `llama-cli` is the chat-only one that refuses `-no-cnv`.
pub fn refuses_no_cnv(stderr: &str) -> bool {
    stderr.contains("invalid argument: -no-cnv") || stderr.contains("use llama-completion")
}

/// Everything read from one llama.cpp process's output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub perf: PerfBlock,
    pub chat: Option<ChatRates>,
    pub simple: Option<SimpleSummary>,
}

impl Parsed {
    /// Parse stdout and stderr together (the new llama-cli prints everything on stdout).
    pub fn from_output(stdout: &str, stderr: &str) -> Parsed {
        let mut perf = parse_perf_block(stderr);
        if perf.is_empty() {
            perf = parse_perf_block(stdout);
        }
        Parsed {
            perf,
            chat: parse_chat_rates(stdout).or_else(|| parse_chat_rates(stderr)),
            simple: parse_simple_summary(stderr).or_else(|| parse_simple_summary(stdout)),
        }
    }

    /// The engine report: the perf block when there is one, else the chat line, else the
    /// llama-simple summary (total only: it is no decode rate).
    pub fn report(&self) -> Option<EngineReport> {
        if self.perf.eval.is_some() || self.perf.prompt_eval.is_some() {
            return Some(self.perf.to_report());
        }
        if let Some(c) = &self.chat {
            return Some(c.to_report());
        }
        self.simple.map(|s| EngineReport {
            source: "llama-simple decoded line".into(),
            decode_tokens: Some(s.tokens),
            total_ms: Some(s.seconds * 1000.0),
            ..Default::default()
        })
    }
}

/// Remove the echoed prompt and the ` [end of text]` marker from llama-completion's
/// stdout. The echo is the prompt with special tokens dropped, so `echo` should be the
/// prompt as printed (see [`visible_prompt`]). When the output does not start with it, it
/// is returned unchanged apart from the marker.
pub fn strip_echo<'a>(stdout: &'a str, echo: &str) -> &'a str {
    let body = stdout.strip_prefix(echo).unwrap_or(stdout);
    let body = body.trim_end();
    body.strip_suffix("[end of text]")
        .unwrap_or(body)
        .trim_end()
}

/// The prompt as llama-completion echoes it: special tokens such as `<bos>`,
/// `<start_of_turn>`, `<end_of_turn>`, `<|im_start|>` removed.
pub fn visible_prompt(rendered: &str, special_tokens: &[&str]) -> String {
    let mut s = rendered.to_string();
    for t in special_tokens {
        if !t.is_empty() {
            s = s.replace(t, "");
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// Running it
// ---------------------------------------------------------------------------------------

/// Which llama.cpp program runs the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// `llama-completion` (since 2025-12): one-shot with `-no-cnv`.
    Completion,
    /// An older `llama-cli` (or `main`) that still does one-shot with `-no-cnv`.
    OneShotCli,
    /// The chat-only `llama-cli` (2025-12 on): `--simple-io -st`, the GGUF's template.
    ChatCli,
}

impl Tool {
    /// Guess from the program's file name; `llama-cli` starts as one-shot and falls back to
    /// chat mode when it refuses `-no-cnv`.
    pub fn for_program(program: &Path) -> Tool {
        let name = program
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.contains("llama-cli") || name == "main" {
            Tool::OneShotCli
        } else {
            Tool::Completion
        }
    }
}

/// How one llama.cpp engine of the config is run.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub program: PathBuf,
    pub tool: Tool,
    pub model: PathBuf,
    pub threads: u32,
    pub ngl: Option<i64>,
    /// `--split-mode`, `--tensor-split`, `--main-gpu` (on a GPU device only).
    pub gpu_args: Vec<String>,
    /// Use the GGUF's own template (`--jinja -st -sys S -p U`) instead of our rendering.
    pub jinja: bool,
    /// The BOS text our template prints; llama.cpp adds BOS itself, so it is cut from the
    /// front of the rendered prompt (else the prompt starts with two BOS tokens).
    pub bos: String,
    /// Context size (`-c`): the model's default (32k for Gemma 3) would allocate a large
    /// KV cache for nothing.
    pub ctx: u32,
    pub extra_args: Vec<String>,
}

impl Setup {
    /// The program name recorded as the run's endpoint.
    pub fn endpoint(&self) -> String {
        let name = self
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match self.tool {
            Tool::ChatCli => format!("{name} --simple-io -st"),
            _ if self.jinja => format!("{name} --jinja -st"),
            _ => format!("{name} -no-cnv"),
        }
    }

    /// The command line for one run. Stdin is closed by the process module.
    pub fn command(&self, case: &Case, s: &Sampling) -> CommandSpec {
        let mut spec = CommandSpec::new(&self.program).arg("-m").arg(&self.model);
        match self.tool {
            Tool::ChatCli => {
                spec = spec.args(["--simple-io", "-st"]);
                if !case.system.is_empty() {
                    spec = spec.arg("-sys").arg(&case.system);
                }
                spec = spec.arg("-p").arg(&case.user);
            }
            _ if self.jinja => {
                spec = spec.args(["--jinja", "-st", "--no-display-prompt"]);
                if !case.system.is_empty() {
                    spec = spec.arg("-sys").arg(&case.system);
                }
                spec = spec.arg("-p").arg(&case.user);
            }
            _ => {
                let rendered = case.input.rendered.as_str();
                let prompt = if self.bos.is_empty() {
                    rendered
                } else {
                    rendered.strip_prefix(self.bos.as_str()).unwrap_or(rendered)
                };
                spec = spec
                    .args(["-no-cnv", "--no-display-prompt", "-p"])
                    .arg(prompt);
            }
        }
        spec = spec
            .arg("-n")
            .arg(s.max_tokens.to_string())
            .arg("--temp")
            .arg(s.temperature.to_string())
            .arg("-t")
            .arg(self.threads.to_string())
            .arg("-c")
            .arg(self.ctx.to_string());
        spec = optional_sampling_flags(spec, s);
        if let Some(ngl) = self.ngl {
            spec = spec.arg("-ngl").arg(ngl.to_string());
        }
        spec = spec.args(self.gpu_args.iter());
        spec = spec.args(self.extra_args.iter());
        // The pip build links shared libraries that live beside the binaries.
        if let Some(dir) = self.program.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut paths = std::ffi::OsString::from(dir);
            if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|o| !o.is_empty()) {
                paths.push(":");
                paths.push(old);
            }
            spec = spec.env("LD_LIBRARY_PATH", paths);
        }
        spec
    }

    /// Whether this outcome says the program is the chat-only llama-cli (retry in
    /// [`Tool::ChatCli`]).
    pub fn needs_chat_fallback(&self, o: &ProcessOutcome) -> bool {
        self.tool == Tool::OneShotCli && !o.success() && refuses_no_cnv(&o.stderr_text())
    }

    /// Read one run's output.
    pub fn interpret(&self, case: &Case, o: &ProcessOutcome, max_tokens: u32) -> Interpreted {
        let stdout = o.stdout_text();
        let stderr = o.stderr_text();
        let parsed = Parsed::from_output(&stdout, &stderr);
        let mut out = Interpreted {
            report: parsed.report(),
            ..Default::default()
        };
        match self.tool {
            Tool::ChatCli => {
                if let Some((from, to)) = chat_reply_range(&stdout, &case.user) {
                    out.text = stdout[from..to].trim().to_string();
                    out.stdout_span = Some((from, to));
                }
            }
            _ => {
                let (cut, eos) = match stdout.rfind("[end of text]") {
                    Some(i) => (i, true),
                    None => (stdout.len(), false),
                };
                out.text = stdout[..cut].trim().to_string();
                out.stdout_span = Some((0, cut));
                // eval runs = tokens decoded after the first; the token that ended the
                // run (EOS) is sampled but never printed.
                out.output_tokens = parsed.perf.eval.as_ref().and_then(|e| e.count).map(|runs| {
                    if eos {
                        runs
                    } else {
                        (runs + 1).min(max_tokens as u64)
                    }
                });
            }
        }
        if let Some(e) = &parsed.perf.eval
            && !e.is_consistent()
        {
            out.flags.push(Flag {
                kind: "engine_report_inconsistent".into(),
                message: format!(
                    "eval line: {:?} runs in {:?} ms but printed {:?} tok/s",
                    e.count, e.ms, e.tokens_per_second
                ),
            });
        }
        if !o.success() {
            out.error = Some(o.failure_reason());
        } else if out.report.is_none() {
            out.error = Some(format!(
                "no perf block or rate line in the output of {}: cannot read the engine's \
                 figures (last stderr: {})",
                self.endpoint(),
                stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
            ));
        }
        out
    }
}

/// The byte range of the reply in the chat llama-cli's stdout: after the echoed
/// `> USER` line, up to the `[ Prompt: … ]` line.
pub fn chat_reply_range(stdout: &str, user: &str) -> Option<(usize, usize)> {
    let first_line = user.lines().next().unwrap_or(user);
    let marker = format!("> {first_line}");
    let from = match stdout.rfind(&marker) {
        Some(start) => {
            let mut from = start + marker.len();
            // A multi-line prompt is echoed whole.
            if let Some(rest) = user.get(first_line.len()..)
                && stdout[from..].starts_with(rest)
            {
                from += rest.len();
            }
            from
        }
        // The echo differs from our prompt (e.g. re-wrapped): after the last `> ` line.
        None => {
            let line_start = stdout.rfind("\n> ")? + 1;
            line_start
                + stdout[line_start..]
                    .find('\n')
                    .unwrap_or(stdout.len() - line_start)
        }
    };
    let to = stdout[from..]
        .find("[ Prompt:")
        .or_else(|| stdout[from..].find("[Prompt:"))
        .map_or(stdout.len(), |i| from + i);
    Some((from, to))
}

/// llama.cpp: llama-completion (or llama-cli) and a GGUF, the prompt rendered by the
/// GGUF's template (`--jinja`) or by ours and passed raw.
pub fn setup(inputs: AdapterInputs, notes: &mut Vec<String>) -> anyhow::Result<Setup> {
    let AdapterInputs { section, ctx, .. } = inputs;
    let program = cli_program(
        &inputs,
        super::CLI_PROGRAMS,
        "no llama-completion or llama-cli found",
    )?;
    let model = required_model(&inputs, Path::is_file)?;
    let jinja = matches!(
        section.chat_template.as_deref(),
        Some("jinja") | Some("gguf")
    );
    if jinja {
        notes.push("prompt rendered by the GGUF's own template (--jinja)".into());
    } else {
        notes.push(format!(
            "prompt rendered by inferbench's `{}` template and passed raw with -no-cnv",
            ctx.template.name
        ));
    }
    Ok(Setup {
        tool: Tool::for_program(&program),
        program,
        model,
        threads: inputs.threads,
        ngl: section.ngl,
        gpu_args: if inputs.device == "cpu" {
            Vec::new()
        } else {
            section.multi_gpu().llama_args()
        },
        jinja,
        bos: ctx.template.bos_token.clone(),
        ctx: 4096,
        extra_args: inputs.extra_args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_common_perf_print_with_time_prefix() {
        let b = parse_perf_block(
            "0.03.285.447 I common_perf_print:    sampling time =      17.96 ms\n\
             0.03.285.449 I common_perf_print:    samplers time =       6.49 ms /    49 tokens\n\
             0.03.285.455 I common_perf_print:        load time =     526.39 ms\n\
             0.03.285.457 I common_perf_print: prompt eval time =     292.94 ms /    17 tokens (   17.23 ms per token,    58.03 tokens per second)\n\
             0.03.285.458 I common_perf_print:        eval time =    1926.10 ms /    31 runs   (   62.13 ms per token,    16.09 tokens per second)\n\
             0.03.285.458 I common_perf_print:       total time =    2256.04 ms /    48 tokens\n\
             0.03.285.459 I common_perf_print: unaccounted time =      19.05 ms /   0.8 %      (total - sampling - prompt eval - eval) / (total)\n",
        );
        assert_eq!(b.prefix, "common_perf_print");
        assert_eq!(b.load_ms, Some(526.39));
        let e = b.eval.clone().unwrap();
        assert_eq!(
            (e.ms, e.count, e.tokens_per_second),
            (Some(1926.10), Some(31), Some(16.09))
        );
        assert!(e.is_consistent());
        let p = b.prompt_eval.clone().unwrap();
        assert_eq!(
            (p.ms, p.count, p.tokens_per_second),
            (Some(292.94), Some(17), Some(58.03))
        );
        assert_eq!(b.sampling.as_ref().unwrap().ms, Some(17.96));
        assert_eq!((b.total_ms, b.total_tokens), (Some(2256.04), Some(48)));
        let r = b.to_report();
        assert_eq!(r.decode_tps, Some(16.09));
        assert_eq!(r.prefill_tps, Some(58.03));
    }

    #[test]
    fn inf_rate_falls_back_to_none_not_zero() {
        let b = parse_perf_block(
            "llama_perf_context_print: prompt eval time =       0.00 ms /     1 tokens (    0.00 ms per token,      inf tokens per second)\n",
        );
        let p = b.prompt_eval.unwrap();
        assert_eq!(p.tokens_per_second, None);
        assert_eq!(p.rate(), None);
    }

    #[test]
    fn lookalike_labels_are_not_eval() {
        let b = parse_perf_block(
            "common_perf_print: prompt  eval time = 10.00 ms / 20 tokens (0.5 ms per token, 2000.00 tokens per second)\n\
             common_perf_print: samplers time = 1.00 ms / 20 tokens\n\
             common_perf_print: pre eval time = 1.00 ms / 20 runs\n",
        );
        assert!(b.eval.is_none(), "{b:?}");
        assert_eq!(b.prompt_eval.unwrap().tokens_per_second, Some(2000.0));
    }

    #[test]
    fn chat_rates_by_label_in_any_order() {
        let r = parse_chat_rates("x\n[ Prompt: 69.2 t/s | Generation: 34.6 t/s ]\n").unwrap();
        assert_eq!((r.prompt_tps, r.generation_tps), (Some(69.2), Some(34.6)));
        let r = parse_chat_rates("[Generation:34.6 t/s|Prompt:  397.3 t/s]").unwrap();
        assert_eq!(r.prompt_tps, Some(397.3));
        assert_eq!(r.generation_tps, Some(34.6));
        assert!(parse_chat_rates("[end of text]").is_none());
    }

    #[test]
    fn simple_summary() {
        let s =
            parse_simple_summary("main: decoded 31 tokens in 0.42 s, speed: 73.81 t/s\n").unwrap();
        assert_eq!(s.tokens, 31);
        assert_eq!(s.seconds, 0.42);
        assert_eq!(s.tokens_per_second, Some(73.81));
    }

    #[test]
    fn echo_stripped() {
        let rendered = "<bos><start_of_turn>user\nHi?<end_of_turn>\n<start_of_turn>model\n";
        let echo = visible_prompt(rendered, &["<bos>", "<start_of_turn>", "<end_of_turn>"]);
        assert_eq!(echo, "user\nHi?\nmodel\n");
        assert_eq!(
            strip_echo("user\nHi?\nmodel\nHello! [end of text]\n\n", &echo),
            "Hello!"
        );
        assert_eq!(strip_echo("other", &echo), "other");
    }
}
