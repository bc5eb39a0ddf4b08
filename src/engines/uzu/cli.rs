//! Uzu's command-line tool `cli`: its own benchmark `cli bench MODEL task.json out.json`
//! and the 0.4.x one-shot `cli run MODEL -m MSG`.
//!
//! - Model (0.5.19, ENGINES.md): `cli bench` takes the model folder's FULL path
//!   (`cli bench /models/gemma-3-270m task.json out.json`) and sets its local path to that
//!   path's parent itself; a bare name fails with `Error: Model not found at path: <name>`
//!   ([`bench_model_path`]). Only `cli server` looks a NAME up in `LOCAL_PATH`
//!   ([`crate::engines::uzu::server::local_model`]). 0.4.x `cli run` takes the folder's path.
//! - The task file is built from our prompt suite and settings: `{identifier, repo_id,
//!   number_of_runs, tokens_limit, greedy, messages}`. Its only sampling choice is
//!   `greedy`: temperature 0 maps to greedy; any other temperature gets the model's
//!   default sampler (Gemma 3: top_k 64, top_p 0.95), which every such run records and is
//!   flagged for ([`bench_sampling_applied`]).
//! - The output file is a JSON array, one object per run: `time_to_first_token` (seconds),
//!   `prompt_tokens_per_second`, `generate_tokens_per_second` (absent, null or 0 when
//!   nothing was generated after the first token), `tokens_count_input`,
//!   `tokens_count_output`, `memory_used` (bytes), `device`, `engine_version`, `text`.
//! - `cli bench` loads the model and runs a one-token warm-up of the task in the same
//!   process before it measures, so the process's wall time is not the run's E2E: E2E is
//!   the output's TTFT + (output tokens − 1) ÷ generate rate ([`BenchResult::e2e_ms`]):
//!   the rate is (n − 1) ÷ (last token time − first token time), the first token is not in
//!   it.
//! - `cli run` prints the text, a blank line, then in bold
//!   `time: 0.823s, speed: 171.302t/s, tokens: 128`. `time` is the reply's own duration
//!   (model load is outside it): that is E2E. Uzu prints the generate rate there when it
//!   has one and the PREFILL rate otherwise; with 0 output tokens it is prefill, with 1 it
//!   cannot be told apart, so only 2 or more tokens give a decode rate.

use crate::client::Message;
use crate::climode::exec::ProcessOutcome;
use crate::climode::parse::{scan_quantities, strip_terminal_noise};
use crate::climode::record::E2e;
use crate::climode::{AdapterInputs, Case, Interpreted, missing, model_path_of, sanitize};
use crate::engines::launch::cli_program;
use crate::process::CommandSpec;
use crate::results::{EngineReport, Sampling, SamplingApplied};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One message of a bench task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMessage {
    pub role: String,
    pub content: String,
}

/// `cli bench`'s task file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchTask {
    pub identifier: String,
    pub repo_id: String,
    pub number_of_runs: u64,
    pub tokens_limit: u64,
    pub greedy: bool,
    pub messages: Vec<TaskMessage>,
}

impl BenchTask {
    /// A task for one prompt. Uzu's only sampling choice here is greedy or its default,
    /// so temperature 0 maps to greedy and anything else to the model's default sampler.
    pub fn new(
        identifier: &str,
        repo_id: &str,
        runs: u64,
        max_tokens: u64,
        temperature: f64,
        messages: &[Message],
    ) -> BenchTask {
        BenchTask {
            identifier: identifier.to_string(),
            repo_id: repo_id.to_string(),
            number_of_runs: runs,
            tokens_limit: max_tokens,
            greedy: temperature <= 0.0,
            messages: messages
                .iter()
                .map(|m| TaskMessage {
                    role: m.role.clone(),
                    content: m.content.clone(),
                })
                .collect(),
        }
    }
}

/// One run in `cli bench`'s output file (fields we read; others ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BenchResult {
    pub engine_version: Option<String>,
    pub device: Option<serde_json::Value>,
    pub precision: Option<serde_json::Value>,
    /// Bytes.
    pub memory_used: Option<u64>,
    pub tokens_count_input: Option<u64>,
    pub tokens_count_output: Option<u64>,
    /// Seconds.
    pub time_to_first_token: Option<f64>,
    pub prompt_tokens_per_second: Option<f64>,
    pub generate_tokens_per_second: Option<f64>,
    pub text: Option<String>,
}

impl BenchResult {
    pub fn ttft_ms(&self) -> Option<f64> {
        self.time_to_first_token.map(|s| s * 1000.0)
    }

    /// The generate rate, when there is one (Uzu writes 0 when nothing followed the
    /// first token).
    pub fn generate_tps(&self) -> Option<f64> {
        self.generate_tokens_per_second.filter(|r| *r > 0.0)
    }

    /// The tokens the generate rate times: every output token after the first (Uzu's
    /// rate is (n − 1) ÷ (last token time − first token time)).
    pub fn decode_tokens(&self) -> Option<u64> {
        self.tokens_count_output.map(|n| n.saturating_sub(1))
    }

    /// Decoding time on the engine's clock, first token to last: (output tokens − 1) ÷
    /// generate rate.
    pub fn decode_ms(&self) -> Option<f64> {
        match (self.decode_tokens(), self.generate_tps()) {
            (Some(n), Some(r)) => Some(n as f64 * 1000.0 / r),
            _ => None,
        }
    }

    /// E2E of the measured run on the engine's clock: TTFT + (output tokens − 1) ÷
    /// generate rate; TTFT alone when at most one token came out. `None` when the output
    /// lacks what it takes (the process's wall time is never a stand-in: it holds the
    /// load and a warm-up pass).
    pub fn e2e_ms(&self) -> Option<f64> {
        let ttft = self.ttft_ms()?;
        match (self.tokens_count_output, self.decode_ms()) {
            (_, Some(d)) => Some(ttft + d),
            (Some(n), None) if n <= 1 => Some(ttft),
            _ => None,
        }
    }

    pub fn memory_mib(&self) -> Option<f64> {
        self.memory_used.map(|b| b as f64 / (1024.0 * 1024.0))
    }

    pub fn to_report(&self) -> EngineReport {
        let prompt_ms = match (self.tokens_count_input, self.prompt_tokens_per_second) {
            (Some(n), Some(r)) if r > 0.0 => Some(n as f64 * 1000.0 / r),
            _ => None,
        };
        EngineReport {
            source: "uzu cli bench".into(),
            prompt_tokens: self.tokens_count_input,
            prompt_ms,
            prefill_tps: self.prompt_tokens_per_second,
            decode_tokens: self.decode_tokens(),
            decode_ms: self.decode_ms(),
            decode_tps: self.generate_tps(),
            load_ms: None,
            total_ms: self.e2e_ms(),
            cached_tokens: None,
            decode_wall_tps: None,
        }
    }
}

/// Parse `cli bench`'s output file.
pub fn parse_bench_output(text: &str) -> Result<Vec<BenchResult>, serde_json::Error> {
    serde_json::from_str(text.trim())
}

/// The `time: … speed: … tokens: …` line of `cli run`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    pub seconds: f64,
    pub speed_tps: f64,
    pub output_tokens: u64,
}

impl RunStats {
    /// The decode rate, when the speed can only be one (2 or more output tokens).
    pub fn decode_tps(&self) -> Option<f64> {
        (self.output_tokens >= 2).then_some(self.speed_tps)
    }

    /// The prefill rate, when the speed is that (no output tokens).
    pub fn prefill_tps(&self) -> Option<f64> {
        (self.output_tokens == 0).then_some(self.speed_tps)
    }

    pub fn to_report(&self) -> EngineReport {
        EngineReport {
            source: "uzu cli run".into(),
            prefill_tps: self.prefill_tps(),
            decode_tokens: Some(self.output_tokens),
            decode_tps: self.decode_tps(),
            total_ms: Some(self.seconds * 1000.0),
            ..Default::default()
        }
    }
}

/// Parse the last stats line of `cli run`, each field by its label.
pub fn parse_run_stats(stdout: &str) -> Option<RunStats> {
    let clean = strip_terminal_noise(stdout);
    let mut found = None;
    for line in clean.lines() {
        let mut seconds = None;
        let mut speed = None;
        let mut tokens = None;
        for part in line.split(',') {
            let Some((label, value)) = part.split_once(':') else {
                continue;
            };
            let q = scan_quantities(value).into_iter().next();
            match (label.trim(), q) {
                ("time", Some(q)) if q.unit == "s" => seconds = q.value,
                ("speed", Some(q)) if q.unit == "t/s" => speed = q.value,
                ("tokens", Some(q)) if q.unit.is_empty() => {
                    tokens = q
                        .value
                        .filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v < 1e15)
                        .map(|v| v as u64)
                }
                _ => {}
            }
        }
        if let (Some(seconds), Some(speed_tps), Some(output_tokens)) = (seconds, speed, tokens) {
            found = Some(RunStats {
                seconds,
                speed_tps,
                output_tokens,
            });
        }
    }
    found
}

/// The generated text of `cli run`: everything before the stats line.
pub fn run_text(stdout: &str) -> String {
    let clean = strip_terminal_noise(stdout);
    let lines: Vec<&str> = clean.lines().collect();
    let end = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("time:"))
        .unwrap_or(lines.len());
    lines[..end].join("\n").trim().to_string()
}

/// The model argument of `cli bench` (0.5.19): the model folder's full path, made
/// absolute (a bare name fails: `Error: Model not found at path: <name>`). Pure but for
/// the current directory, which a relative path is resolved against.
pub fn bench_model_path(model: &Path) -> PathBuf {
    std::path::absolute(model).unwrap_or_else(|_| model.to_path_buf())
}

/// The sampler a model's own defaults give, where we know them (Gemma 3's generation
/// config: top_k 64, top_p 0.95), from its repo id or folder name. Pure.
fn model_default_sampler(model_id: &str) -> (String, Option<u32>, Option<f64>) {
    let id = model_id.to_ascii_lowercase();
    if id.contains("gemma-3") || id.contains("gemma3") {
        (
            "model default sampler (top_k 64, top_p 0.95)".into(),
            Some(64),
            Some(0.95),
        )
    } else {
        (
            "model default sampler (its settings are not known here)".into(),
            None,
            None,
        )
    }
}

/// The settings of `s` that matter under sampling but that a tool took none of.
fn sampled_settings(s: &Sampling) -> Vec<String> {
    let mut out = vec![format!("temperature {}", s.temperature)];
    if let Some(k) = s.top_k {
        out.push(format!("top_k {k}"));
    }
    if let Some(p) = s.top_p {
        out.push(format!("top_p {p}"));
    }
    if let Some(seed) = s.seed {
        out.push(format!("seed {seed}"));
    }
    out
}

/// What `cli bench` applies of the benchmark's sampling `s`. Its task has only `greedy`:
/// temperature 0 is greedy and taken as asked (`None`, unless fixed lengths were asked:
/// the task has no `ignore_eos`); any other temperature gets the model's default sampler,
/// whatever temperature, top_k, top_p or seed were asked. `model_id` names the model
/// (repo id or folder name), for its defaults. Pure.
pub fn bench_sampling_applied(s: &Sampling, model_id: &str) -> Option<SamplingApplied> {
    let mut a = if s.temperature <= 0.0 {
        SamplingApplied {
            greedy: true,
            temperature: Some(0.0),
            top_k: None,
            top_p: None,
            applied: "greedy (task `greedy: true`)".into(),
            ignored: Vec::new(),
        }
    } else {
        let (applied, top_k, top_p) = model_default_sampler(model_id);
        SamplingApplied {
            greedy: false,
            temperature: None,
            top_k,
            top_p,
            applied,
            ignored: sampled_settings(s),
        }
    };
    if s.ignore_eos {
        a.ignored.push(
            "ignore_eos (a bench task has no such field: replies may end before max_tokens)".into(),
        );
    }
    (!a.ignored.is_empty()).then_some(a)
}

/// What 0.4.x `cli run MODEL -m MSG` applies of `s`: it takes no sampling settings at
/// all, so every one is ignored and the model's default sampler runs (as far as is
/// known: its sampler is not documented). Pure.
pub fn run_sampling_applied(s: &Sampling, model_id: &str) -> SamplingApplied {
    let (applied, top_k, top_p) = model_default_sampler(model_id);
    let mut ignored = if s.temperature <= 0.0 {
        vec!["temperature 0 (greedy)".to_string()]
    } else {
        sampled_settings(s)
    };
    if s.ignore_eos {
        ignored.push("ignore_eos".into());
    }
    SamplingApplied {
        greedy: false,
        temperature: None,
        top_k,
        top_p,
        applied: format!("{applied}; 0.4.x `cli run` takes no sampling settings"),
        ignored,
    }
}

/// Which `cli` subcommand runs the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// `cli bench MODEL task.json out.json` with one run per process.
    Bench,
    /// 0.4.x `cli run MODEL -m MSG` (user message only; no system prompt flag).
    Run,
}

/// How one Uzu engine of the config is run.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub program: PathBuf,
    pub tool: Tool,
    pub model: PathBuf,
    /// `repo_id` written into the task (the config's `model_name`, else the directory name).
    pub repo_id: String,
    pub workdir: PathBuf,
    pub extra_args: Vec<String>,
}

impl Setup {
    pub fn endpoint(&self) -> String {
        match self.tool {
            Tool::Bench => "cli bench".into(),
            Tool::Run => "cli run".into(),
        }
    }

    fn files(&self, case: &Case) -> (PathBuf, PathBuf) {
        let stem = format!(
            "uzu-{}-{}{}",
            sanitize(&case.prompt_id),
            case.run_index,
            if case.warmup { "-warmup" } else { "" }
        );
        (
            self.workdir.join(format!("{stem}-task.json")),
            self.workdir.join(format!("{stem}-output.json")),
        )
    }

    /// The command line for one run (bench: writes the task file, one run per process so
    /// that our wall clock times that run alone).
    pub fn command(&self, case: &Case, s: &Sampling) -> anyhow::Result<CommandSpec> {
        let spec = CommandSpec::new(&self.program);
        Ok(match self.tool {
            Tool::Bench => {
                let (task_path, out_path) = self.files(case);
                let task = BenchTask::new(
                    &case.prompt_id,
                    &self.repo_id,
                    1,
                    s.max_tokens as u64,
                    s.temperature,
                    &case.input.messages,
                );
                std::fs::write(&task_path, serde_json::to_vec_pretty(&task)?)
                    .with_context(|| format!("writing {}", task_path.display()))?;
                let _ = std::fs::remove_file(&out_path);
                spec.arg("bench")
                    .arg(bench_model_path(&self.model))
                    .arg(&task_path)
                    .arg(&out_path)
                    .args(self.extra_args.iter())
            }
            Tool::Run => spec
                .arg("run")
                .arg(&self.model)
                .args(self.extra_args.iter())
                .arg("-m")
                .arg(&case.user),
        })
    }

    /// Whether this `cli` has no `bench` subcommand (retry with [`Tool::Run`]).
    pub fn needs_run_fallback(&self, o: &ProcessOutcome) -> bool {
        let err = o.stderr_text();
        self.tool == Tool::Bench
            && !o.success()
            && (err.contains("unrecognized subcommand") || err.contains("unexpected argument"))
            && err.contains("bench")
    }

    /// The model's name for its default sampler: the repo id, else the folder's name.
    fn model_id(&self) -> String {
        let dir = self
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{} {dir}", self.repo_id)
    }

    /// What this tool applies of the benchmark's sampling `s` (`None`: all as asked).
    pub fn sampling_applied(&self, s: &Sampling) -> Option<SamplingApplied> {
        match self.tool {
            Tool::Bench => bench_sampling_applied(s, &self.model_id()),
            Tool::Run => Some(run_sampling_applied(s, &self.model_id())),
        }
    }

    pub fn interpret(&self, case: &Case, o: &ProcessOutcome, s: &Sampling) -> Interpreted {
        // Either tool loads the model inside the process: its wall time is never E2E.
        let mut out = Interpreted {
            e2e: E2e::Unknown,
            sampling_applied: self.sampling_applied(s),
            ..Default::default()
        };
        match self.tool {
            Tool::Bench => {
                let (_, out_path) = self.files(case);
                let parsed = std::fs::read_to_string(&out_path)
                    .map_err(anyhow::Error::from)
                    .and_then(|t| parse_bench_output(&t).map_err(anyhow::Error::from));
                match parsed {
                    Ok(results) => match results.into_iter().next() {
                        Some(r) => {
                            out.report = Some(r.to_report());
                            out.text = r.text.clone().unwrap_or_default();
                            out.output_tokens = r.tokens_count_output;
                            out.ttft_ms = r.ttft_ms();
                            out.e2e = r.e2e_ms().map_or(E2e::Unknown, E2e::Engine);
                            out.gpu_mib = r.memory_mib();
                        }
                        None => out.error = Some("uzu bench wrote no results".into()),
                    },
                    Err(e) if o.success() => {
                        out.error = Some(format!(
                            "cannot read uzu bench output {}: {e:#}",
                            out_path.display()
                        ))
                    }
                    Err(_) => {}
                }
            }
            Tool::Run => {
                let stdout = o.stdout_text();
                match parse_run_stats(&stdout) {
                    Some(st) => {
                        out.report = Some(st.to_report());
                        out.output_tokens = Some(st.output_tokens);
                        // The reply's own duration; the model load is outside it.
                        out.e2e = E2e::Engine(st.seconds * 1000.0);
                    }
                    None if o.success() => {
                        out.error = Some("no `time: … speed: … tokens: …` line from cli run".into())
                    }
                    None => {}
                }
                out.text = run_text(&stdout);
            }
        }
        if !o.success() {
            out.error = Some(o.failure_reason());
        }
        out
    }
}

/// Uzu: its `cli bench` on the model folder.
pub fn setup(inputs: AdapterInputs, notes: &mut Vec<String>) -> anyhow::Result<Setup> {
    let AdapterInputs {
        key, section, ctx, ..
    } = inputs;
    let program = cli_program(&inputs, super::CLI_PROGRAMS, "no Uzu `cli` program found")?;
    let model = model_path_of(key, section, ctx.settings)
        .ok_or_else(|| missing(&format!("engines.{key}: no model_path")))?;
    let repo_id = section.model_name.clone().unwrap_or_else(|| {
        model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    notes.push("Uzu applies the model's own chat template to the messages".into());
    notes.push(format!(
        "cli bench: model given by its full path {} (0.5.x); E2E from its output \
         (TTFT + (output tokens − 1) ÷ generate rate), not the process's wall time, \
         which holds the model load and a warm-up pass",
        bench_model_path(&model).display()
    ));
    Ok(Setup {
        program,
        tool: Tool::Bench,
        model,
        repo_id,
        workdir: ctx.workdir.to_path_buf(),
        extra_args: inputs.extra_args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_line_decode_and_prefill() {
        let s = parse_run_stats(
            "Hi\n\n\u{1b}[1mtime: 0.823s, speed: 171.302t/s, tokens: 128\u{1b}[0m\n",
        )
        .unwrap();
        assert_eq!(s.seconds, 0.823);
        assert_eq!(s.decode_tps(), Some(171.302));
        assert_eq!(s.prefill_tps(), None);
        let s = parse_run_stats("time: 0.041s, speed: 582.519t/s, tokens: 0").unwrap();
        assert_eq!(s.decode_tps(), None);
        assert_eq!(s.prefill_tps(), Some(582.519));
        let s = parse_run_stats("time: 0.041s, speed: 582.519t/s, tokens: 1").unwrap();
        assert_eq!((s.decode_tps(), s.prefill_tps()), (None, None));
        assert!(parse_run_stats("time: 1s").is_none());
    }

    #[test]
    fn task_greedy_from_temperature() {
        let msgs = vec![Message {
            role: "user".into(),
            content: "Hi".into(),
        }];
        let t = BenchTask::new("p1", "google/gemma-3-1b-it", 3, 64, 0.0, &msgs);
        assert!(t.greedy);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["messages"][0]["role"], "user");
        assert_eq!(v["tokens_limit"], 64);
        assert!(!BenchTask::new("p1", "r", 1, 1, 0.3, &msgs).greedy);
    }

    #[test]
    fn bench_e2e_counts_the_intervals_after_the_first_token() {
        // 8 tokens, 10 tok/s over the 7 intervals after the first, TTFT 0.1 s:
        // E2E = 0.1 + 7 / 10 = 0.8 s (8 / 10 would be one interval too many: 0.9 s).
        let r = BenchResult {
            tokens_count_output: Some(8),
            time_to_first_token: Some(0.1),
            generate_tokens_per_second: Some(10.0),
            ..Default::default()
        };
        assert_eq!(r.decode_tokens(), Some(7));
        assert_eq!(r.decode_ms(), Some(700.0));
        assert_eq!(r.e2e_ms(), Some(800.0));
        let rep = r.to_report();
        assert_eq!(rep.decode_tokens, Some(7));
        assert_eq!(rep.decode_ms, Some(700.0));
        assert_eq!(rep.total_ms, Some(800.0));
        assert_eq!(rep.decode_tps, Some(10.0));
        // Two tokens: one interval.
        let two = BenchResult {
            tokens_count_output: Some(2),
            ..r
        };
        assert_eq!(two.e2e_ms(), Some(200.0));
    }

    #[test]
    fn bench_e2e_from_its_own_figures() {
        let r = BenchResult {
            tokens_count_input: Some(24),
            tokens_count_output: Some(129),
            time_to_first_token: Some(0.05),
            prompt_tokens_per_second: Some(480.0),
            generate_tokens_per_second: Some(160.0),
            ..Default::default()
        };
        // 50 ms + (129 − 1) / 160 tok/s.
        assert_eq!(r.e2e_ms(), Some(850.0));
        let rep = r.to_report();
        assert_eq!(rep.decode_ms, Some(800.0));
        assert_eq!(rep.total_ms, Some(850.0));
        assert_eq!(rep.prompt_ms, Some(50.0));
        // Nothing after the first token: Uzu writes 0 (or null) for the generate rate.
        let one = BenchResult {
            tokens_count_output: Some(1),
            time_to_first_token: Some(0.04),
            generate_tokens_per_second: Some(0.0),
            ..Default::default()
        };
        assert_eq!(one.generate_tps(), None);
        assert_eq!(one.to_report().decode_tps, None);
        assert_eq!(one.e2e_ms(), Some(40.0));
        // Many tokens but no rate: no E2E rather than a guess.
        let odd = BenchResult {
            tokens_count_output: Some(50),
            time_to_first_token: Some(0.04),
            ..Default::default()
        };
        assert_eq!(odd.e2e_ms(), None);
        assert_eq!(BenchResult::default().e2e_ms(), None);
    }

    #[test]
    fn bench_command_passes_the_model_full_path() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("models").join("gemma-3-1b-it");
        let setup = Setup {
            program: PathBuf::from("cli"),
            tool: Tool::Bench,
            model: model.clone(),
            repo_id: "google/gemma-3-1b-it".into(),
            workdir: dir.path().to_path_buf(),
            extra_args: Vec::new(),
        };
        let case = Case {
            prompt_id: "p1".into(),
            tier: "short".into(),
            run_index: 0,
            warmup: false,
            system: "Be brief.".into(),
            user: "Hi".into(),
            input: crate::client::PromptInput {
                messages: vec![Message {
                    role: "user".into(),
                    content: "Hi".into(),
                }],
                rendered: String::new(),
            },
        };
        let s = Sampling {
            max_tokens: 16,
            temperature: 0.0,
            seed: None,
            top_p: None,
            top_k: None,
            ignore_eos: false,
        };
        let spec = setup.command(&case, &s).unwrap();
        let argv = spec.argv();
        // 0.5.19 `cli bench` takes the full path (a bare name: "Model not found at path")
        // and finds the parent itself: no LOCAL_PATH.
        assert_eq!(
            &argv[1..3],
            ["bench".to_string(), model.display().to_string()]
        );
        assert!(spec.env.is_empty(), "{:?}", spec.env);
        let task: BenchTask = serde_json::from_slice(&std::fs::read(&argv[3]).unwrap()).unwrap();
        assert_eq!(task.repo_id, "google/gemma-3-1b-it");
        assert!(task.greedy);
        // A relative model folder is made absolute.
        let rel = bench_model_path(Path::new("models/gemma"));
        assert!(
            rel.is_absolute() && rel.ends_with("models/gemma"),
            "{rel:?}"
        );
        // 0.4.x `cli run` takes the path, with no LOCAL_PATH.
        let run = Setup {
            tool: Tool::Run,
            ..setup
        };
        let spec = run.command(&case, &s).unwrap();
        assert_eq!(spec.argv()[2], model.display().to_string());
        assert!(spec.env.is_empty());
    }

    fn sampling(temperature: f64) -> Sampling {
        Sampling {
            max_tokens: 64,
            temperature,
            seed: Some(42),
            top_p: Some(0.9),
            top_k: None,
            ignore_eos: false,
        }
    }

    #[test]
    fn bench_sampling_greedy_is_taken_anything_else_is_the_model_default() {
        // Temperature 0: the task says greedy; taken as asked (a seed changes nothing).
        assert_eq!(
            bench_sampling_applied(&sampling(0.0), "google/gemma-3-270m"),
            None
        );
        // Temperature 0.7: the task has no temperature; Gemma 3's default sampler runs.
        let a = bench_sampling_applied(&sampling(0.7), "google/gemma-3-270m").unwrap();
        assert!(!a.greedy);
        assert_eq!(a.applied, "model default sampler (top_k 64, top_p 0.95)");
        assert_eq!(
            (a.temperature, a.top_k, a.top_p),
            (None, Some(64), Some(0.95))
        );
        assert_eq!(a.ignored, ["temperature 0.7", "top_p 0.9", "seed 42"]);
        // Another model: its defaults are not known here, and not made up.
        let a = bench_sampling_applied(&sampling(0.7), "qwen2.5-0.5b").unwrap();
        assert_eq!((a.top_k, a.top_p), (None, None));
        assert!(
            a.applied.starts_with("model default sampler"),
            "{}",
            a.applied
        );
        // Fixed lengths asked: the task cannot say so, even when greedy.
        let fixed = Sampling {
            ignore_eos: true,
            ..sampling(0.0)
        };
        let a = bench_sampling_applied(&fixed, "gemma-3-270m").unwrap();
        assert!(a.greedy);
        assert_eq!(a.ignored.len(), 1);
        assert!(a.ignored[0].starts_with("ignore_eos"), "{:?}", a.ignored);
    }

    #[test]
    fn bench_run_records_and_flags_the_sampler_it_applied() {
        let dir = tempfile::tempdir().unwrap();
        let setup = Setup {
            program: PathBuf::from("cli"),
            tool: Tool::Bench,
            model: dir.path().join("gemma-3-270m"),
            repo_id: "gemma-3-270m".into(),
            workdir: dir.path().to_path_buf(),
            extra_args: Vec::new(),
        };
        let case = Case {
            prompt_id: "p1".into(),
            tier: "short".into(),
            run_index: 0,
            warmup: false,
            system: String::new(),
            user: "Hi".into(),
            input: crate::client::PromptInput {
                messages: Vec::new(),
                rendered: String::new(),
            },
        };
        let record = |s: &Sampling| {
            let o = ProcessOutcome {
                exit_code: Some(0),
                ..Default::default()
            };
            let interp = setup.interpret(&case, &o, s);
            crate::climode::build_record(
                "uzu",
                "cli bench",
                "t",
                &case,
                s,
                &o,
                interp,
                None,
                0.0,
                crate::climode::Checks {
                    tolerance_pct: 10.0,
                },
                None,
            )
        };
        let r = record(&sampling(0.7));
        let applied = r.sampling_applied.as_ref().unwrap();
        assert_eq!(
            applied.applied,
            "model default sampler (top_k 64, top_p 0.95)"
        );
        let flags: Vec<_> = r
            .flags
            .iter()
            .filter(|f| f.kind == crate::record::SAMPLING_NOT_APPLIED)
            .collect();
        assert_eq!(flags.len(), 1, "{:?}", r.flags);
        assert!(
            flags[0]
                .message
                .contains("model default sampler (top_k 64, top_p 0.95); ignored temperature 0.7"),
            "{}",
            flags[0].message
        );
        let r = record(&sampling(0.0));
        assert_eq!(r.sampling_applied, None);
        assert!(
            r.flags
                .iter()
                .all(|f| f.kind != crate::record::SAMPLING_NOT_APPLIED)
        );
        // 0.4.x `cli run` takes no sampling settings: even greedy is not applied.
        let run = Setup {
            tool: Tool::Run,
            ..setup.clone()
        };
        let a = run.sampling_applied(&sampling(0.0)).unwrap();
        assert_eq!(a.ignored, ["temperature 0 (greedy)"]);
    }

    #[test]
    fn text_before_stats() {
        assert_eq!(
            run_text("Hello\nworld\n\ntime: 1.000s, speed: 2.000t/s, tokens: 2\n"),
            "Hello\nworld"
        );
    }
}
