//! One measurement pipeline for every mode (sequential, interleaved and load API runs,
//! CLI subprocess runs):
//!
//! ```text
//! flags + config ──► plan (validated; bad input exits 2 before any engine starts)
//!                      │
//!                      ▼
//!   bring-up, every engine first: start · readiness · fairness · roofline · sampler
//!      (one that fails is left out with its reason; the others go on)
//!                      │
//!                      ▼
//!   schedule: sequential | interleaved A,B,A,B | closed/open loop | subprocess runs
//!      every record on disk (JSONL) the moment it is finished
//!                      │
//!                      ▼
//!   finish: one results document, every export, exit code (non-zero when an engine was
//!      left out or every run of an engine failed)
//! ```
//!
//! - [`plan`]: flags → [`plan::Plan`] (pure).
//! - [`bringup`]: API engines up and checked, or [`bringup::LeftOut`].
//! - [`run`]: the API schedules; the neighbour watch both modes use.
//! - [`cli`]: CLI mode's bring-up and its runs, one subprocess each, in the same order.
//! - [`finish`]: results, exports, console, exit code.
//! - [`input_sweep`]: `--sweep input:…`: its prompts, its steps, llama-bench beside them.
//! - [`starts`]: `--starts N`: each engine started N times (the first cold where the
//!   host allows), in phases, with one request after each.
//! - [`progress`]: bar on a terminal, a line per run elsewhere.

pub mod bringup;
mod calibrate;
pub mod cli;
pub mod cli_runner;
pub mod finish;
pub mod gpu;
pub mod input_sweep;
pub mod plan;
pub mod progress;
pub mod run;
pub mod starts;

use crate::cli::ApiArgs;
use crate::client::PromptInput;
use crate::config::Settings;
use crate::error::UserError;
use crate::prompt::Prompt;
use crate::prompt::tokenizer::TokenCounter;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Our reference tokenizer, loaded on first use (Gemma's 262k vocabulary costs ~300 MB:
/// a load run against a server that reports usage never needs it).
pub struct LazyTokenizer {
    path: Option<PathBuf>,
    cell: OnceLock<Option<TokenCounter>>,
}

impl LazyTokenizer {
    /// A tokenizer at `path`; an error (exit 2) when the file does not exist.
    pub fn new(path: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(p) = &path
            && !p.is_file()
        {
            return Err(UserError::new(format!(
                "tokenizer {} does not exist: run scripts/setup.sh or fix inferbench.tokenizer (or --tokenizer)",
                p.display()
            ))
            .into());
        }
        Ok(LazyTokenizer {
            path,
            cell: OnceLock::new(),
        })
    }

    /// The tokenizer, loading it now if needed; `None` without one or when it cannot be
    /// read (warned once).
    pub fn get(&self) -> Option<&TokenCounter> {
        let path = self.path.as_ref()?;
        self.cell
            .get_or_init(|| match TokenCounter::from_file(path) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!("cannot load tokenizer {}: {e:#}", path.display());
                    None
                }
            })
            .as_ref()
    }

    /// Whether a tokenizer file was configured.
    pub fn is_configured(&self) -> bool {
        self.path.is_some()
    }

    /// Tokens of `text`, when there is a tokenizer.
    pub fn count(&self, text: &str) -> Option<u64> {
        self.get().and_then(|t| t.count(text).ok())
    }
}

/// The prompts every engine gets, rendered through the reference template.
pub struct Inputs {
    pub system: String,
    pub prompts: Vec<(Prompt, PromptInput)>,
    pub template_name: String,
    pub tokenizer: std::sync::Arc<LazyTokenizer>,
    /// `--workload`: what load steps send instead of the suite (the suite still serves
    /// the fairness check).
    pub workload: Option<WorkloadInputs>,
    /// `--sweep input:…`: each step's prompts of exact length, by step index.
    pub input_sweep: Option<Vec<input_sweep::StepPrompts>>,
}

/// A built `--workload`, rendered through the reference template for sending.
pub struct WorkloadInputs {
    pub workload: crate::workload::Workload,
    pub prompts: Vec<crate::load::LoadPrompt>,
    pub run: crate::load::executor::WorkloadRun,
}

/// Token counts as the engine sees them: our template's rendering (generation prompt,
/// BOS text and all) encoded by our tokenizer, special-token text as one token each.
pub(crate) struct TemplateTokens<'a> {
    pub(crate) template: &'a crate::prompt::template::ChatTemplate,
    pub(crate) tokenizer: &'a TokenCounter,
}

impl crate::workload::PromptTokens for TemplateTokens<'_> {
    fn prompt_tokens(&self, messages: &[crate::client::Message]) -> anyhow::Result<u64> {
        let rendered = self.template.render(messages, true)?;
        Ok(self.tokenizer.encode_ids(&rendered, false)?.len() as u64)
    }
    fn text_tokens(&self, text: &str) -> anyhow::Result<u64> {
        self.tokenizer.count(text)
    }
}

/// Build `--workload` for this plan: parse, generate (with our tokenizer and template),
/// render every request; a trace's step gets its rate (peak arrivals in a second) and
/// its length. `None` without `--workload`.
pub fn build_workload(
    raw: Option<&str>,
    settings: &Settings,
    inputs: &Inputs,
    plan: &mut plan::Plan,
) -> anyhow::Result<Option<WorkloadInputs>> {
    use crate::load::executor::{SessionRun, WorkloadRun};
    use crate::workload::{BuildContext, Items};
    let Some(raw) = raw else {
        return Ok(None);
    };
    let spec = crate::workload::parse_spec(raw).map_err(|e| UserError::new(e.to_string()))?;
    let template = crate::prompt::template::ChatTemplate::resolve(
        &settings.chat_template,
        &settings.base_dir,
    )?;
    let steps = match &mut plan.schedule {
        plan::Schedule::Load { steps, .. } => steps,
        _ => return Err(UserError::new("--workload needs a load mode").into()),
    };
    // Enough distinct requests for the longest step, so none repeats (a repeat could be
    // served from a prompt cache).
    let default_count = steps
        .iter()
        .map(|s| (s.warmup + s.requests.unwrap_or(256)) as usize)
        .max()
        .unwrap_or(256);
    let tokenizer = if spec.needs_tokenizer() || inputs.tokenizer.is_configured() {
        inputs.tokenizer.get()
    } else {
        None
    };
    let counter = tokenizer.map(|t| TemplateTokens {
        template: &template,
        tokenizer: t,
    });
    let ctx = BuildContext {
        seed: settings.seed,
        default_count,
        tokens: counter
            .as_ref()
            .map(|c| c as &dyn crate::workload::PromptTokens),
    };
    let mut workload = crate::workload::build(&spec, &ctx)?;
    let tier = workload.kind.to_string();
    let mut run = WorkloadRun::default();
    let mut prompts = Vec::new();
    match &workload.items {
        Items::Requests(items) => {
            for it in items {
                let rendered = template.render(&it.messages, true)?;
                prompts.push(crate::load::LoadPrompt {
                    id: it.id.clone(),
                    tier: tier.clone(),
                    input: PromptInput {
                        messages: it.messages.clone(),
                        rendered,
                    },
                });
                run.lengths.push((it.max_tokens, it.exact_output));
            }
        }
        Items::Sessions(sessions) => {
            // The executor renders each turn with its history; these first turns only
            // satisfy its "something to send" check.
            for s in sessions {
                let messages = vec![crate::workload::user(s.turns[0].text.clone())];
                let rendered = template.render(&messages, true)?;
                prompts.push(crate::load::LoadPrompt {
                    id: s.id.clone(),
                    tier: tier.clone(),
                    input: PromptInput { messages, rendered },
                });
            }
            let t = template.clone();
            run.sessions = Some(SessionRun {
                sessions: std::sync::Arc::new(sessions.clone()),
                think: workload.think,
                render: std::sync::Arc::new(move |m: &[crate::client::Message]| {
                    Ok(PromptInput {
                        messages: m.to_vec(),
                        rendered: t.render(m, true)?,
                    })
                }),
                tier: tier.clone(),
            });
        }
    }
    if let Some(offsets) = &workload.schedule {
        let n = offsets.len() as u64;
        let rate = crate::workload::trace::peak_rate(offsets);
        for s in steps.iter_mut() {
            s.arrival = crate::results::Arrival::Open {
                rate,
                burstiness: 1.0,
            };
            s.requests = Some(
                s.requests
                    .unwrap_or(n)
                    .min(n.saturating_sub(s.warmup))
                    .max(1),
            );
        }
        let scale = workload.params.get("scale").cloned().unwrap_or_default();
        run.label = Some(if scale == "1" {
            "trace".to_string()
        } else {
            format!("trace x{scale}")
        });
        run.schedule = Some(std::sync::Arc::new(offsets.clone()));
    }
    let exact = run.lengths.iter().any(|&(_, e)| e)
        || matches!(&workload.items, Items::Sessions(s) if s.iter().flat_map(|s| &s.turns).any(|t| t.exact_output));
    if exact {
        workload.notes.push(
            "exact output lengths are sent as max_tokens with ignore_eos, to engines that have it (llama.cpp, PyTorch, an OpenAI server with supports_ignore_eos); Ollama and Uzu have none: their outputs may be shorter".into(),
        );
    }
    Ok(Some(WorkloadInputs {
        workload,
        prompts,
        run,
    }))
}

impl Inputs {
    pub fn new(settings: &Settings) -> anyhow::Result<Inputs> {
        let (system, prompts) = crate::prompt::suite::suite_for(settings)?;
        let template = crate::prompt::template::ChatTemplate::resolve(
            &settings.chat_template,
            &settings.base_dir,
        )?;
        let prompts = prompts
            .into_iter()
            .map(|p| {
                let input = template.prompt_input(&system, &p.text)?;
                Ok((p, input))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if prompts.is_empty() {
            return Err(UserError::new("the prompt suite is empty; nothing to send").into());
        }
        Ok(Inputs {
            system,
            prompts,
            template_name: template.name,
            tokenizer: std::sync::Arc::new(LazyTokenizer::new(settings.tokenizer.clone())?),
            workload: None,
            input_sweep: None,
        })
    }

    /// Log the settings and every rendered prompt.
    pub fn log_to(&self, session: &mut crate::output::Session, settings: &Settings, mode: &str) {
        match serde_json::to_string_pretty(&settings.effective_json()) {
            Ok(s) => session.log(&format!("inferbench {mode}: effective config\n{s}")),
            Err(e) => session.log(&format!("inferbench {mode}: effective config: {e}")),
        }
        session.log(&format!("chat template: {}", self.template_name));
        for (p, input) in &self.prompts {
            session.log(&format!(
                "prompt {} ({}), rendered:\n{}",
                p.id,
                p.tier.as_str(),
                input.rendered
            ));
        }
    }
}

/// How long the one connection to a server given with `--url` may take to open.
const URL_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A server given with `--url` must accept a connection before anything is measured:
/// where nothing listens, one message naming the URL and what to do (a [`UserError`],
/// exit 2) instead of a suite of failed runs. Connects once (TCP) and closes.
pub async fn url_answers(url: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|e| UserError::new(format!("--url {url}: {e}")))?;
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let why = match tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("nothing listens on {host} port {port} (connection refused)")
        }
        Ok(Err(e)) => format!("cannot connect to {host} port {port}: {e}"),
        Err(_) => format!(
            "no connection to {host} port {port} within {:.0} s",
            timeout.as_secs_f64()
        ),
    };
    Err(UserError::new(format!(
        "--url {url}: {why}; nothing was measured: start the server there (e.g. \
         `inferbench server start`, or the engine's own command), or fix --url"
    ))
    .into())
}

/// `inferbench api`: plan, bring up, run the schedule, finish.
pub async fn run_api(args: ApiArgs) -> anyhow::Result<i32> {
    let mut overrides = args.common.overrides();
    overrides.allow_template_mismatch = args.allow_template_mismatch;
    let mut settings = crate::config::load(
        args.common.config.as_deref(),
        &crate::config::ProcessEnv,
        &overrides,
    )?;
    if let Some(t) = &args.tokenizer {
        settings.tokenizer = Some(t.clone());
    }
    if let Some(c) = args.workload.cache_prompt {
        settings.cache_prompt = c;
        settings.origins.insert(
            "cache_prompt".into(),
            crate::config::Origin::Flag("--cache-prompt".into()),
        );
    }
    let mut plan = plan::plan_api(
        &args,
        &settings,
        args.model_file.as_deref(),
        args.bytes_per_token,
    )?;
    if let Some(url) = &args.url {
        url_answers(url, URL_CONNECT_TIMEOUT).await?;
    }
    let mut inputs = Inputs::new(&settings)?;
    let workload = build_workload(
        args.workload.workload.as_deref(),
        &settings,
        &inputs,
        &mut plan,
    )?;
    inputs.workload = workload;
    if let plan::Schedule::Load {
        input: Some(sweep), ..
    } = &plan.schedule
    {
        inputs.input_sweep = Some(input_sweep::build_prompts(sweep, &settings, &inputs)?);
    }
    crate::process::install_signal_handlers().context("installing signal handlers")?;
    if let Some(n) = args.starts {
        return starts::run(&plan, &settings, &inputs, &args, n).await;
    }
    run::run(&plan, &settings, &inputs, &args).await
}

/// `inferbench cli`.
pub async fn run_cli(args: crate::cli::CliArgs) -> anyhow::Result<i32> {
    let settings = args.common.settings()?;
    let plan = plan::plan_cli(&args, &settings)?;
    cli::run(&plan, &settings, &args).await
}
