//! PyTorch / transformers through `python/generate.py`: one process per run, one JSON line
//! out (the last line of stdout that is a JSON object).
//!
//! The script measures on its own clock (`time.perf_counter`): TTFT from the call to
//! `generate` to the first text item of a `TextIteratorStreamer(skip_prompt=True)` (without
//! `skip_prompt` the first item is the prompt and TTFT reads ≈ 0), prefill = TTFT, decode =
//! first to last streamed item, token counts from ids (`output.shape[1] - prompt_len`), not
//! from streamed text (items may be empty while the tokenizer holds text back).
//!
//! The speed knobs (`torch_dtype`, `attn_implementation`, `compile`,
//! `cache_implementation`) are passed as `python/torch_knobs.py` flags, and the script
//! reports what was in effect (`settings`) for the engine's results. With `compile` on,
//! the script's untimed compile warm-up (`compile_ms`) is inside its `load_ms`.

use crate::climode::exec::ProcessOutcome;
use crate::climode::{
    AdapterInputs, Case, Interpreted, missing, optional_sampling_flags, required_model, sanitize,
};
use crate::config::{EngineSection, Settings};
use crate::engines::launch::{is_executable, search_path};
use crate::process::CommandSpec;
use crate::results::{EngineReport, EngineSetting, Flag, Sampling};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The JSON line `python/generate.py` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateOutput {
    pub load_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub prefill_ms: Option<f64>,
    /// First streamed item to last streamed item.
    pub decode_ms: Option<f64>,
    /// `generate` call to return.
    pub generate_ms: Option<f64>,
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Number of non-empty items the streamer produced.
    pub stream_items: Option<u64>,
    pub device: Option<String>,
    pub dtype: Option<String>,
    pub peak_memory_mib: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub torch_version: Option<String>,
    pub transformers_version: Option<String>,
    /// Whether transformers rendered the prompt exactly as inferbench did.
    pub rendered_matches: Option<bool>,
    /// The untimed compile warm-up generate (inside `load_ms`), with `compile` on.
    pub compile_ms: Option<f64>,
    /// What was in effect, each knob with what was asked (`torch_knobs.report`).
    pub settings: Option<serde_json::Value>,
    pub text: String,
    pub error: Option<String>,
}

impl GenerateOutput {
    /// Decode rate: tokens after the first ÷ time from the first to the last item.
    pub fn decode_tps(&self) -> Option<f64> {
        match (self.output_tokens, self.decode_ms) {
            (Some(n), Some(ms)) if n >= 2 && ms > 0.0 => Some((n - 1) as f64 * 1000.0 / ms),
            _ => None,
        }
    }

    pub fn prefill_tps(&self) -> Option<f64> {
        match (self.prompt_tokens, self.prefill_ms) {
            (Some(n), Some(ms)) if ms > 0.0 => Some(n as f64 * 1000.0 / ms),
            _ => None,
        }
    }

    pub fn to_report(&self) -> EngineReport {
        EngineReport {
            source: "python/generate.py".into(),
            prompt_tokens: self.prompt_tokens,
            prompt_ms: self.prefill_ms,
            prefill_tps: self.prefill_tps(),
            // Tokens decoded after the first (the first comes out of prefill), as in
            // llama.cpp's `eval` runs.
            decode_tokens: self.output_tokens.map(|n| n.saturating_sub(1)),
            decode_ms: self.decode_ms,
            decode_tps: self.decode_tps(),
            load_ms: self.load_ms,
            total_ms: self.generate_ms,
            cached_tokens: None,
            decode_wall_tps: None,
        }
    }
}

/// Parse the last line of `stdout` that is a JSON object.
pub fn parse_generate_output(stdout: &str) -> Option<GenerateOutput> {
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .find_map(|l| serde_json::from_str(l).ok())
}

/// The script, embedded so an installed binary needs no checkout; written to the work
/// directory at run time, with [`crate::engines::pytorch::server::KNOBS_SCRIPT`] beside it.
pub const GENERATE_PY: &str = include_str!("../../../python/generate.py");

/// Write [`GENERATE_PY`] into `dir`, with the knobs module it imports beside it; the
/// script's path.
pub fn write_script(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let script = dir.join("generate.py");
    let knobs = dir.join(crate::engines::pytorch::server::KNOBS_FILE);
    for (path, text) in [
        (&script, GENERATE_PY),
        (&knobs, crate::engines::pytorch::server::KNOBS_SCRIPT),
    ] {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(script)
}

/// The settings a run's output reports: the final line's, else the first line's (a run
/// that failed after loading). Pure.
pub fn reported_settings(stdout: &str) -> BTreeMap<String, EngineSetting> {
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| {
            let s = crate::engines::pytorch::server::parse_settings(v.get("settings")?);
            (!s.is_empty()).then_some(s)
        })
        .unwrap_or_default()
}

/// How one PyTorch engine of the config is run.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    pub python: PathBuf,
    pub script: PathBuf,
    /// An HF directory or a `.gguf` file.
    pub model: PathBuf,
    /// A directory with tokenizer files (default: the model's).
    pub tokenizer_dir: Option<PathBuf>,
    /// Our chat template's source, written to a file the script loads.
    pub template_file: PathBuf,
    pub device: String,
    /// `--dtype`, `--attn-implementation`, `--compile`, `--cache-implementation` and their
    /// values ([`crate::engines::pytorch::server::knob_args`]).
    pub knobs: Vec<String>,
    pub threads: u32,
    /// Where per-run files (our rendering) are written.
    pub workdir: PathBuf,
    pub extra_args: Vec<String>,
}

impl Setup {
    pub fn endpoint(&self) -> String {
        "python/generate.py".into()
    }

    /// The command line for one run; writes our rendering for the script to compare.
    pub fn command(&self, case: &Case, s: &Sampling) -> anyhow::Result<CommandSpec> {
        let rendered = self.workdir.join(format!(
            "rendered-{}-{}.txt",
            sanitize(&case.prompt_id),
            case.run_index
        ));
        std::fs::write(&rendered, &case.input.rendered)
            .with_context(|| format!("writing {}", rendered.display()))?;
        let mut spec = CommandSpec::new(&self.python)
            .arg("-u")
            .arg(&self.script)
            .arg("--model")
            .arg(&self.model)
            .arg("--chat-template-file")
            .arg(&self.template_file)
            .arg("--system")
            .arg(&case.system)
            .arg("--user")
            .arg(&case.user)
            .arg("--rendered-file")
            .arg(&rendered)
            .arg("--max-new-tokens")
            .arg(s.max_tokens.to_string())
            .arg("--temperature")
            .arg(s.temperature.to_string())
            .arg("--device")
            .arg(&self.device)
            .args(self.knobs.iter())
            .arg("--threads")
            .arg(self.threads.to_string());
        if let Some(t) = &self.tokenizer_dir {
            spec = spec.arg("--tokenizer").arg(t);
        }
        spec = optional_sampling_flags(spec, s);
        Ok(spec.args(self.extra_args.iter()))
    }

    /// The dtype asked for (`--dtype`'s value).
    pub fn dtype(&self) -> &str {
        self.knobs
            .iter()
            .position(|a| a == "--dtype")
            .and_then(|i| self.knobs.get(i + 1))
            .map(String::as_str)
            .unwrap_or("auto")
    }

    pub fn interpret(&self, o: &ProcessOutcome) -> Interpreted {
        let mut out = Interpreted {
            engine_settings: reported_settings(&o.stdout_text()),
            ..Default::default()
        };
        match parse_generate_output(&o.stdout_text()) {
            Some(g) => {
                out.report = Some(g.to_report());
                out.text = g.text.clone();
                out.output_tokens = g.output_tokens;
                out.ttft_ms = g.ttft_ms;
                out.gpu_mib = g.peak_memory_mib;
                if g.rendered_matches == Some(false) {
                    out.flags.push(Flag {
                        kind: "template_mismatch".into(),
                        message: "transformers rendered the prompt differently from \
                                  inferbench's template"
                            .into(),
                    });
                }
                if let Some(e) = g.error {
                    out.error = Some(format!("generate.py: {e}"));
                }
            }
            None => {
                out.error = Some(if o.success() {
                    "generate.py printed no JSON line".into()
                } else {
                    o.failure_reason()
                });
            }
        }
        if out.error.is_none() && !o.success() {
            out.error = Some(o.failure_reason());
        }
        out
    }
}

/// PyTorch/transformers: our generate script, written to the work folder with the chat
/// template beside it, run by CLI mode's Python.
pub fn setup(inputs: AdapterInputs, notes: &mut Vec<String>) -> anyhow::Result<Setup> {
    let AdapterInputs {
        key, section, ctx, ..
    } = inputs;
    let python = python_for(section, ctx.settings)
        .ok_or_else(|| missing(&format!("engines.{key}: no Python interpreter")))?;
    let model = required_model(&inputs, Path::exists)?;
    let script = write_script(ctx.workdir)?;
    let template_file = ctx.workdir.join(format!("{key}-template.jinja"));
    std::fs::write(&template_file, &ctx.template.source)
        .with_context(|| format!("writing {}", template_file.display()))?;
    // The resolved device, as API mode passes it.
    let device = super::server::torch_device(inputs.device);
    notes.push(crate::engines::pytorch::server::knobs_note(section));
    Ok(Setup {
        python,
        script,
        model,
        tokenizer_dir: inputs
            .tokenizer_path
            .and_then(Path::parent)
            .map(Path::to_path_buf),
        template_file,
        device,
        knobs: crate::engines::pytorch::server::knob_args(section),
        threads: inputs.threads,
        workdir: ctx.workdir.to_path_buf(),
        extra_args: inputs.extra_args,
    })
}

/// The Python interpreter CLI mode runs `generate.py` with: `engines.KEY.python` as
/// configured (whether or not it exists), else the setup venv's, else `python3` on PATH.
pub fn python_for(section: &EngineSection, settings: &Settings) -> Option<PathBuf> {
    match section.python.as_deref() {
        Some(p) => Some(settings.path_of(p)),
        None => crate::config::setup_home()
            .map(|h| h.join("venv/bin/python"))
            .filter(|p| is_executable(p))
            .or_else(|| search_path("python3")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_json_line_wins_and_rates_follow() {
        let out = "loading...\n{\"ttft_ms\": 1}\n{\"ttft_ms\": 50.0, \"prefill_ms\": 50.0, \"decode_ms\": 1000.0, \"prompt_tokens\": 20, \"output_tokens\": 101, \"text\": \"hi\"}\n";
        let g = parse_generate_output(out).unwrap();
        assert_eq!(g.ttft_ms, Some(50.0));
        assert_eq!(g.decode_tps(), Some(100.0));
        assert_eq!(g.prefill_tps(), Some(400.0));
        assert!(parse_generate_output("no json\n").is_none());
    }

    #[test]
    fn settings_from_the_last_line_else_the_first() {
        let first =
            r#"{"settings": {"cache_implementation": {"asked": "static", "effective": "static"}}}"#;
        let last = r#"{"ttft_ms": 1.0, "text": "", "settings": {"cache_implementation": {"asked": "static", "effective": "dynamic"}}}"#;
        let both = format!("{first}\nlog line\n{last}\n");
        let s = reported_settings(&both);
        assert_eq!(
            s["cache_implementation"].effective.as_deref(),
            Some("dynamic")
        );
        assert!(s["cache_implementation"].differs());
        // A run that died after loading still says what it ran with.
        let died = format!("{first}\n{{\"error\": \"boom\"}}\n");
        let s = reported_settings(&died);
        assert_eq!(
            s["cache_implementation"].effective.as_deref(),
            Some("static")
        );
        assert!(reported_settings("{\"error\": \"x\"}").is_empty());
    }
}
