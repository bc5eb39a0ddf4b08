//! # inferbench
//!
//! Benchmarks LLM inference engines (llama.cpp, Ollama, PyTorch/transformers, Uzu, any
//! OpenAI-compatible server) fairly and explainably, in two modes: **API** (start each
//! engine's HTTP server, wait until ready, stream requests, stop it) and **CLI** (run each
//! engine's own command-line tool and parse what it prints).
//!
//! ## Module map
//! - [`cli`]: clap definitions only.
//! - [`config`]: `benchmark_config.json` + `BENCHMARK_*` env + flags → validated
//!   [`config::Settings`] with the origin of every value.
//! - [`prompt`]: the prompt suite, chat-template rendering (minijinja), token counting.
//! - [`gguf`]: a GGUF header/metadata/tensor-info reader (never loads tensor data).
//! - [`client`]: wire protocols, pure SSE/NDJSON parsers, one streaming request → trace.
//! - [`measure`]: pure metric math over recorded instants, statistics, the roofline,
//!   the bandwidth probe, resource sampling.
//! - [`engine`]: the words every layer uses for an engine: [`engine::EngineKind`], the
//!   [`engine::ApiTarget`] the client talks to and the [`engine::Protocol`] it speaks,
//!   [`engine::multigpu`] (the GPUs an engine may use and how llama.cpp splits a model
//!   over them). Pure data, low in the house.
//! - [`engines`]: one folder per engine (`llamacpp/`, `ollama/`, `pytorch/`, `uzu/`,
//!   `openai/`): `server.rs` (launch command, readiness, request shape, quirks), `cli.rs`
//!   (its command-line tool and parsers of what it prints), `doctor.rs` (its checks);
//!   `engines/mod.rs` is the registry (one line per engine wherever the kind decides);
//!   [`engines::launch`] (launch plans, the one program lookup) and [`engines::fairness`]
//!   are the engine-neutral helpers of starting and checking engines.
//! - [`process`]: spawn in an own process group, capture logs, kill the whole group.
//! - [`server`]: the server manager (start/stop/status, state file, readiness, load time).
//! - [`pipeline`]: every mode's one path: validated plan → bring-up of every engine
//!   (start, readiness, fairness, roofline, sampler) → schedule (sequential, interleaved,
//!   load, subprocess) → records on disk as they finish → one finish (exports, exit code).
//! - [`record`]: a streamed response ([`client::Trace`]) → a [`results::RunRecord`] (pure).
//! - [`climode`]: CLI mode's engine-neutral machinery: a process per run (own group,
//!   stamped reads, peak memory), text helpers, one process's outcome → a record; the
//!   driver ([`pipeline::cli_runner`]) prepares each engine through the registry.
//! - [`load`]: concurrency / arrival-rate schedules and sweeps; [`load::calibrate`]: a
//!   step's shape sent again to the synthetic engine, the client's own error at that load.
//! - [`results`]: the one result model every exporter reads (data only), and the one
//!   metric table ([`results::metric`]: name, unit, getter) every report reads;
//!   [`results::Shard`]: worker I of N of a sharded load run (`--shard I/N`), which
//!   [`load`] sends by and [`merge`] reads back.
//! - [`schema`]: the results document's JSON schema, generated from the types of
//!   [`results`] (`inferbench schema`; `schema/results.schema.json` is its output).
//! - [`scrape`]: the engine's Prometheus `/metrics` during load steps: a pure text-format
//!   parser, known names per engine, series (counters as rates), the sampler.
//! - [`output`]: file naming, the append-only JSONL of records, writing exports.
//! - [`export`]: assembling the results document and summaries; JSON, Markdown, log,
//!   HTML, CSV and console renderers (pure: records → bytes). The HTML page and the
//!   Markdown report are the minijinja templates `templates/report.html.j2` and
//!   `templates/report.md.j2` (embedded, auto-escaped: HTML, and Markdown table cells).
//! - [`compare`]: two results files → per-metric verdicts; a vLLM `bench serve` or AIPerf
//!   result beside ours ([`compare::peers`] parses and maps, [`compare::beside`] sets side
//!   by side).
//! - [`merge`]: the results of a sharded load run's workers → one result (`inferbench
//!   merge`), from the mergeable histograms of [`measure::hist`] that each worker wrote.
//! - [`mock`]: a synthetic OpenAI-compatible engine with scripted timing and faults.
//! - [`host`]: what touches the host beyond engine processes: the page cache of a model
//!   file (mincore, posix_fadvise) for `--starts`.
//! - [`environment`]: facts about the host (OS, CPU, memory, GPU).
//! - [`checks`]: doctor's verdicts, pure: [`checks::Check`] (✓/✗/– with its fix) and the
//!   engine-neutral judges; each engine's own judges are in `engines/<name>/doctor.rs`.
//! - [`doctor`]: doctor's checks: gathers facts about the host, engines, models, ports,
//!   tokenizer and bandwidth, judges them into ✓/✗/– lines, each ✗ with its fix;
//!   [`doctor::survey`] is what the pipeline records in every result. Below the pipeline.
//! - [`doctor_cmd`]: the `inferbench doctor` command: [`doctor`]'s checks, then `--deep`'s
//!   ([`doctor_cmd::deep`]: each server brought up through the pipeline's bring-up). Above
//!   the pipeline, so that [`pipeline`] → [`doctor`] is the only way between those two.
//! - [`timer`]: sub-millisecond sleeps and `--busy-poll` (the mock's deadlines, open-loop
//!   arrivals, and a client that never waits for a wake-up).
//! - [`workload`]: workload sources beyond the prompt suite (ShareGPT, JSONL, synthetic
//!   exact lengths, shared prefix, multi-turn, trace replay), seeded and content-hashed.
//!
//! ## Data flow
//! ```text
//! Settings ──► prompts + template ──► PromptInput (messages + rendered text)
//!     │                                   │
//!     ▼                                   ▼
//! engine folders ──► ApiTarget ──► client::stream::execute ──► Trace (raw instants)
//!                                                                 │
//!                  measure::metrics::compute ◄────────────────────┘
//!                                │
//!                                ▼
//!                 RunRecord ──► output (JSONL, flushed per run)
//!                                │
//!                                ▼
//!               measure::stats summaries ──► export (JSON, Markdown, log, HTML, CSV)
//! ```

pub mod checks;
pub mod cli;
pub mod client;
pub mod climode;
pub mod compare;
pub mod config;
pub mod doctor;
pub mod doctor_cmd;
pub mod engine;
pub mod engines;
pub mod environment;
pub mod error;
pub mod exit;
pub mod export;
pub mod gguf;
pub mod host;
pub mod liveness;
pub mod load;
pub mod measure;
pub mod merge;
pub mod mock;
pub mod output;
pub mod pipeline;
pub mod process;
pub mod prompt;
pub mod record;
pub mod results;
pub mod schema;
pub mod scrape;
pub mod server;
pub mod timer;
pub mod workload;

use cli::{Cli, Command};

/// Set up `tracing` on stderr; `RUST_LOG` wins over `-v`.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Run one command; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    crate::process::install_panic_hook();
    let busy_poll = cli.busy_poll();
    let rt = timer::runtime(busy_poll)?;
    rt.block_on(async move {
        if busy_poll {
            tokio::spawn(timer::busy_poll());
        }
        match cli.command {
            Command::Config(args) => {
                let settings = args.settings()?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&settings.effective_json())?
                );
                Ok(0)
            }
            Command::Prompts(args) => crate::prompt::cmd_prompts(&args.settings()?),
            Command::Compare(args) => crate::compare::run(args),
            Command::Merge(args) => crate::merge::run(args),
            Command::Api(args) => crate::pipeline::run_api(args).await,
            Command::MockEngine(args) => crate::mock::run(args).await,
            Command::Server(args) => crate::server::run(args).await,
            Command::Models(args) => match args.action {
                cli::ModelsAction::Prepare { common } => {
                    crate::engines::ollama::server::prepare(&common.settings()?).await
                }
            },
            Command::Cli(args) => crate::pipeline::run_cli(args).await,
            Command::Doctor(args) => crate::doctor_cmd::run(args).await,
            Command::Schema => crate::schema::run(),
        }
    })
}
