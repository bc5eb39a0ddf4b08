//! The engines: one folder per engine (`mod.rs`: what it is; `server.rs`: how its server
//! starts, is ready and is asked; `cli.rs`: how its command-line tool runs and what it
//! prints; `doctor.rs`: what must be true before it runs), and this registry: one line
//! per engine wherever the kind decides. [`launch`] and [`fairness`] are the
//! engine-neutral helpers of starting and checking engines; the vocabulary every layer
//! shares ([`crate::engine`]) and CLI mode's process machinery ([`crate::climode`]) sit
//! below.

pub mod fairness;
pub mod launch;
pub mod llamacpp;
pub mod ollama;
pub mod openai;
pub mod pytorch;
pub mod uzu;

use crate::climode::exec::ProcessOutcome;
use crate::climode::{AdapterInputs, Case, Interpreted};
use crate::engine::{ApiTarget, EngineKind};
use crate::engines::launch::{LaunchPlan, PlanContext};
use crate::error::UserError;
use crate::measure::roofline;
use crate::results::{Sampling, SamplingApplied};

/// How an engine's log gives its start-up marks (`--starts`); `None` for an engine whose log
/// we do not read (only our own marks then).
pub fn start_marks(kind: EngineKind) -> Option<crate::measure::startup::MarkReader> {
    match kind {
        EngineKind::LlamaCpp => Some(llamacpp::server::start_mark),
        EngineKind::Ollama => Some(ollama::server::start_mark),
        EngineKind::PyTorch => Some(pytorch::server::start_mark),
        EngineKind::Uzu | EngineKind::OpenAi | EngineKind::Mock => None,
    }
}

/// The programs CLI mode runs for an engine kind, in the order they are looked for.
/// Empty for a kind without one (PyTorch runs [`pytorch::cli::python_for`]).
pub fn cli_programs(kind: EngineKind) -> &'static [&'static str] {
    match kind {
        EngineKind::LlamaCpp => llamacpp::CLI_PROGRAMS,
        EngineKind::Ollama => ollama::CLI_PROGRAMS,
        EngineKind::Uzu => uzu::CLI_PROGRAMS,
        EngineKind::PyTorch | EngineKind::OpenAi | EngineKind::Mock => &[],
    }
}

/// The launch plan of the server of `ctx.key`, by its engine's own `server::plan`.
pub fn plan(kind: EngineKind, ctx: &PlanContext) -> anyhow::Result<LaunchPlan> {
    match kind {
        EngineKind::LlamaCpp => llamacpp::server::plan(ctx),
        EngineKind::PyTorch => pytorch::server::plan(ctx),
        EngineKind::Ollama => ollama::server::plan(ctx),
        EngineKind::Uzu => uzu::server::plan(ctx),
        EngineKind::OpenAi => openai::server::plan(ctx),
        EngineKind::Mock => openai::server::plan_mock(ctx),
    }
}

/// The engine's capacity for concurrent streams: what llama-server reports
/// (`/props` `total_slots`), else what we asked for.
pub async fn capacity(
    client: &reqwest::Client,
    target: &ApiTarget,
    asked: Option<u32>,
) -> Option<crate::results::Capacity> {
    let reported = match target.kind {
        EngineKind::LlamaCpp => llamacpp::server::props_total_slots(client, &target.base_url).await,
        _ => None,
    };
    let source = match target.kind {
        EngineKind::Ollama => "OLLAMA_NUM_PARALLEL set by inferbench (Ollama does not report it)",
        _ => "asked for by inferbench (the engine does not report it)",
    };
    match (reported, asked) {
        (Some((streams, source)), asked) => Some(crate::results::Capacity {
            streams,
            source,
            asked,
        }),
        (None, Some(n)) if target.kind == EngineKind::Ollama => Some(crate::results::Capacity {
            streams: n,
            source: source.into(),
            asked: Some(n),
        }),
        _ => None,
    }
}

/// The sampling an API engine of `kind` really applies of `s`, where it cannot take it
/// as asked (for [`crate::record::note_sampling_applied`]); `None` when it takes it all.
/// Pure.
pub fn api_sampling_applied(kind: EngineKind, s: &Sampling) -> Option<SamplingApplied> {
    match kind {
        EngineKind::Uzu => uzu::server::api_sampling_applied(s),
        _ => None,
    }
}

/// Build the CLI-mode adapter of an engine of `kind` (its own `cli::setup`).
pub fn cli_adapter(
    kind: EngineKind,
    inputs: AdapterInputs,
    notes: &mut Vec<String>,
) -> anyhow::Result<Adapter> {
    Ok(match kind {
        EngineKind::LlamaCpp => Adapter::LlamaCpp(llamacpp::cli::setup(inputs, notes)?),
        EngineKind::Ollama => Adapter::Ollama(ollama::cli::setup(inputs, notes)?),
        EngineKind::PyTorch => Adapter::PyTorch(pytorch::cli::setup(inputs, notes)?),
        EngineKind::Uzu => Adapter::Uzu(uzu::cli::setup(inputs, notes)?),
        EngineKind::OpenAi | EngineKind::Mock => {
            let key = inputs.key;
            return Err(UserError::new(format!(
                "engines.{key}: kind `{kind}` has no command-line tool to benchmark in CLI mode \
                 (use `inferbench api` for it)"
            ))
            .into());
        }
    })
}

/// One configured engine, ready to run in CLI mode: its `cli::Setup`.
#[derive(Debug, Clone)]
pub enum Adapter {
    LlamaCpp(llamacpp::cli::Setup),
    Ollama(ollama::cli::Setup),
    PyTorch(pytorch::cli::Setup),
    Uzu(uzu::cli::Setup),
}

impl Adapter {
    pub fn endpoint(&self) -> String {
        match self {
            Adapter::LlamaCpp(s) => s.endpoint(),
            Adapter::Ollama(s) => s.endpoint(),
            Adapter::PyTorch(s) => s.endpoint(),
            Adapter::Uzu(s) => s.endpoint(),
        }
    }

    pub fn command(
        &self,
        case: &Case,
        s: &Sampling,
    ) -> anyhow::Result<crate::process::CommandSpec> {
        match self {
            Adapter::LlamaCpp(x) => Ok(x.command(case, s)),
            Adapter::Ollama(x) => Ok(x.command(case)),
            Adapter::PyTorch(x) => x.command(case, s),
            Adapter::Uzu(x) => x.command(case, s),
        }
    }

    /// Switch to the fallback tool when this outcome says the first choice does not
    /// exist in this version; returns a note when it switched.
    pub fn fallback(&mut self, o: &ProcessOutcome) -> Option<String> {
        match self {
            Adapter::LlamaCpp(x) if x.needs_chat_fallback(o) => {
                x.tool = llamacpp::cli::Tool::ChatCli;
                Some(
                    "this llama-cli is chat-only (refuses -no-cnv): using --simple-io -st, \
                     which applies the GGUF's own template, not inferbench's"
                        .into(),
                )
            }
            Adapter::Uzu(x) if x.needs_run_fallback(o) => {
                x.tool = uzu::cli::Tool::Run;
                Some(
                    "this Uzu cli has no `bench`: using the 0.4.x `cli run -m`, which takes the \
                     user message only (no system prompt)"
                        .into(),
                )
            }
            _ => None,
        }
    }

    pub fn interpret(&self, case: &Case, o: &ProcessOutcome, s: &Sampling) -> Interpreted {
        match self {
            Adapter::LlamaCpp(x) => x.interpret(case, o, s.max_tokens),
            Adapter::Ollama(x) => x.interpret(o),
            Adapter::PyTorch(x) => x.interpret(o),
            Adapter::Uzu(x) => x.interpret(case, o, s),
        }
    }

    /// Bytes of weights this engine reads per decoded token, for the roofline.
    /// transformers loads weights at the torch dtype whatever the file holds (a GGUF is
    /// dequantized, safetensors are cast), so a PyTorch model is sized at the dtype
    /// generate.py really loads ([`roofline::transformers_bytes_per_param`]).
    pub fn model_bytes(&self) -> anyhow::Result<roofline::ModelBytes> {
        match self {
            Adapter::LlamaCpp(x) => roofline::model_bytes(&x.model),
            Adapter::Ollama(_) => anyhow::bail!("no model file to size (Ollama keeps its own)"),
            Adapter::PyTorch(x) => roofline::transformers_model_bytes(&x.model, Some(x.dtype())),
            Adapter::Uzu(x) => roofline::model_bytes(&x.model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_marks_are_read_only_from_the_logs_we_know() {
        let line = "0.00.006.353 I srv    load_model: loading model 'm.gguf'";
        let llama = start_marks(EngineKind::LlamaCpp).expect("llama-server's log is read");
        assert_eq!(crate::measure::startup::marks(llama, line).len(), 1);
        let ollama = start_marks(EngineKind::Ollama).expect("Ollama's log is read");
        assert!(crate::measure::startup::marks(ollama, line).is_empty());
        assert!(start_marks(EngineKind::OpenAi).is_none());
        assert!(start_marks(EngineKind::Uzu).is_none());
    }
}
