//! Command-line interface (clap derive). Parsing only: every command's work lives in
//! the library module named in its doc.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Fair, explainable benchmarks of LLM inference engines.
///
/// Every figure says where it came from (engine clock or ours, server token count or our
/// tokenizer), is cross-checked where two sources exist, and is flagged when it beats the
/// physical bound (memory bandwidth ÷ bytes read per token).
#[derive(Debug, Parser)]
#[command(name = "inferbench", version, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command asked to busy-poll (see [`crate::timer`]).
    pub fn busy_poll(&self) -> bool {
        match &self.command {
            Command::Api(a) => a.busy_poll,
            Command::MockEngine(m) => m.busy_poll,
            _ => false,
        }
    }
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Benchmark engines through their HTTP servers (the seed's api_benchmark.py).
    ///
    /// Starts each enabled server, waits until it is ready, runs the prompt suite, stops it.
    /// With --url it benchmarks a server that is already running instead.
    ///
    /// Examples:
    ///   inferbench api --quick
    ///   inferbench api --engines llamacpp --runs 5
    ///   inferbench api --url http://127.0.0.1:8080 --model gemma --runs 3
    ///   inferbench api --url http://127.0.0.1:8080 --model m --concurrency 64 --requests 512
    #[command(verbatim_doc_comment)]
    Api(ApiArgs),
    /// Benchmark engines through their own command-line tools (the seed's
    /// subprocess_benchmark.py).
    ///
    /// Examples:
    ///   inferbench cli --quick
    ///   inferbench cli --engines llamacpp --runs 5
    #[command(verbatim_doc_comment)]
    Cli(CliArgs),
    /// Start, stop or inspect engine servers (the seed's server_manager.py).
    ///
    /// Examples:
    ///   inferbench server start llamacpp
    ///   inferbench server status
    ///   inferbench server stop
    #[command(verbatim_doc_comment)]
    Server(ServerArgs),
    /// Print the effective settings and where each value came from.
    ///
    /// Example:
    ///   BENCHMARK_NUM_RUNS=3 inferbench config --quick
    #[command(verbatim_doc_comment)]
    Config(CommonArgs),
    /// List the prompt suite and show each prompt rendered through the chat template.
    ///
    /// Examples:
    ///   inferbench prompts
    ///   inferbench prompts --chat-template chatml
    ///   inferbench prompts --prompts my_prompts.jsonl --chat-template-file t.jinja
    #[command(verbatim_doc_comment)]
    Prompts(CommonArgs),
    /// Run a synthetic OpenAI-compatible streaming server with scripted timing.
    ///
    /// For tests, and to check that the client has headroom. Deadlines are absolute from
    /// each request's arrival, so delays do not drift.
    ///
    /// Examples:
    ///   inferbench mock-engine --port 8090 --ttft-ms 50 --itl-ms 5 --tokens 128
    ///   inferbench mock-engine --port 8090 --fault http500
    #[command(verbatim_doc_comment)]
    MockEngine(MockArgs),
    /// Prepare models for engines that need registration (Ollama Modelfile + create).
    ///
    /// Example:
    ///   inferbench models prepare
    #[command(verbatim_doc_comment)]
    Models(ModelsArgs),
    /// Compare two results files metric by metric, with intervals and a verdict.
    ///
    /// Example:
    ///   inferbench compare output/a.json output/b.json
    #[command(verbatim_doc_comment)]
    Compare(CompareArgs),
}

/// Options shared by every command that reads the configuration.
#[derive(Debug, Clone, Args, Default)]
pub struct CommonArgs {
    /// Config file (default: ./benchmark_config.json if present, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Runs per prompt (overrides BENCHMARK_NUM_RUNS and the file).
    #[arg(long, value_name = "N")]
    pub runs: Option<u32>,
    /// The first prompt only, and 1 run unless --runs is given.
    #[arg(long)]
    pub quick: bool,
    /// Engines to run, by config key (e.g. llamacpp,pytorch).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub engines: Option<Vec<String>>,
    /// A custom prompt suite (JSON array or JSONL of {id, tier, text}).
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<PathBuf>,
    /// Reference chat template: gemma3, chatml, a tokenizer_config.json or a .gguf file.
    #[arg(long, value_name = "NAME|FILE")]
    pub chat_template: Option<String>,
    /// A Jinja chat-template file (same as --chat-template FILE).
    #[arg(long, value_name = "FILE", conflicts_with = "chat_template")]
    pub chat_template_file: Option<PathBuf>,
    /// Maximum output tokens per request (overrides BENCHMARK_MAX_TOKENS).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature (overrides BENCHMARK_TEMPERATURE).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
    /// Sampling seed sent with every request.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Per-request timeout in seconds (overrides BENCHMARK_TIMEOUT).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Untimed warm-up runs per engine before measuring.
    #[arg(long, value_name = "N")]
    pub warmup: Option<u32>,
}

/// Where results go and how progress is shown.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Directory under which report/, output/ and logging/ are written.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write a self-contained HTML report.
    #[arg(long)]
    pub html: bool,
    /// Also write per-run records as CSV.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Benchmark an already running OpenAI-compatible server at this base URL.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Model name sent to the server given by --url.
    #[arg(long, value_name = "NAME", requires = "url")]
    pub model: Option<String>,
    /// Endpoint used with --url.
    #[arg(long, value_enum, default_value_t = Endpoint::Chat)]
    pub endpoint: Endpoint,
    /// A tokenizer.json to count output tokens when the server reports no usage.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Go on when an engine's prompt differs from the reference rendering.
    #[arg(long)]
    pub allow_template_mismatch: bool,
    /// Benchmark engines one after another (the seed's order) instead of interleaving
    /// their runs A,B,A,B so that drift of the machine hits all engines alike.
    #[arg(long)]
    pub no_interleave: bool,
    /// Spin on one core instead of sleeping between events, so that no arrival waits for
    /// a wake-up (~0.1–0.2 ms on a VM). For benchmarks with the client on its own core
    /// (taskset); the spinning is left out of the client CPU figure.
    #[arg(long)]
    pub busy_poll: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Load generation (beyond the seed's one-request-at-a-time).
#[derive(Debug, Clone, Args, Default)]
pub struct LoadArgs {
    /// Closed loop: keep N requests in flight.
    #[arg(long, value_name = "N", conflicts_with = "rate")]
    pub concurrency: Option<u32>,
    /// Open loop: Poisson arrivals at R requests/s (seeded).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Gamma shape of inter-arrival times for --rate (1 = Poisson, <1 burstier).
    #[arg(long, value_name = "K", default_value_t = 1.0)]
    pub burstiness: f64,
    /// Sweep steps, e.g. "1,4,16" (concurrency) or "rate:1,2,4".
    #[arg(long, value_name = "STEPS")]
    pub sweep: Option<String>,
    /// Requests per load step.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Duration per load step in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Warm-up requests per load step, excluded from results.
    #[arg(long, value_name = "N")]
    pub load_warmup: Option<u64>,
    /// Open connections only when requests need them. By default a load step first opens
    /// as many connections as it will have requests in flight, and times them apart; with
    /// this flag, connection set-up happens during the step (it shows as send lag, not as
    /// TTFT: a request's clock starts when its first byte is written).
    #[arg(long, conflicts_with = "preconnect")]
    pub no_preconnect: bool,
    /// Open connections before the clock starts (the default in load modes).
    #[arg(long, hide = true)]
    pub preconnect: bool,
    /// Service-level objectives for goodput, e.g. ttft_ms=500,tpot_ms=50,e2e_ms=10000.
    #[arg(long, value_name = "LIST")]
    pub slo: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Endpoint {
    /// /v1/chat/completions with messages.
    Chat,
    /// /v1/completions with the prompt rendered by inferbench.
    Completions,
}

#[derive(Debug, Clone, Args)]
pub struct CliArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub action: ServerAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ServerAction {
    /// Start servers (all enabled when none named) and leave them running.
    Start {
        #[command(flatten)]
        common: CommonArgs,
        /// Engine keys from the config's `servers` section.
        #[arg(value_name = "ENGINE")]
        names: Vec<String>,
    },
    /// Stop servers started by `inferbench server start` (all when none named).
    Stop {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(value_name = "ENGINE")]
        names: Vec<String>,
    },
    /// Show engine, pid, port, uptime and RSS of started servers.
    Status {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(value_name = "ENGINE")]
        names: Vec<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct MockArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 = any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    /// Time from request arrival to the first token, ms.
    #[arg(long, default_value_t = 50.0)]
    pub ttft_ms: f64,
    /// Time between tokens, ms.
    #[arg(long, default_value_t = 5.0)]
    pub itl_ms: f64,
    /// Output tokens per response (capped by the request's max tokens).
    #[arg(long, default_value_t = 128)]
    pub tokens: u32,
    /// Tokens carried by each SSE event.
    #[arg(long, default_value_t = 1)]
    pub tokens_per_chunk: u32,
    /// Inject a fault into every response.
    #[arg(long, value_enum)]
    pub fault: Option<Fault>,
    /// Apply --fault only to every Nth request (1 = all).
    #[arg(long, default_value_t = 1)]
    pub fault_every: u32,
    /// Model name reported by /v1/models.
    #[arg(long, default_value = "mock")]
    pub model: String,
    /// Text of each token (repeated); default a short Korean syllable sequence.
    #[arg(long)]
    pub token_text: Option<String>,
    /// Omit `usage` from responses.
    #[arg(long)]
    pub no_usage: bool,
    /// Multiply TTFT and ITL by this factor (e.g. 1.2 = 20% slower).
    #[arg(long, default_value_t = 1.0)]
    pub slowdown: f64,
    /// Spin on one core instead of sleeping, so that tokens leave on time to the
    /// microsecond (no timer wake-up, no thread hop). Pin the mock to its own core.
    #[arg(long)]
    pub busy_poll: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fault {
    /// Answer HTTP 500.
    Http500,
    /// Close the stream half way, without [DONE].
    Truncate,
    /// Send bytes that are not SSE JSON.
    Garbage,
    /// Send the first token, then nothing.
    Stall,
}

#[derive(Debug, Clone, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub action: ModelsAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ModelsAction {
    /// Write the Ollama Modelfile (Gemma TEMPLATE, stops) and run `ollama create`.
    Prepare {
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Baseline results JSON.
    pub a: PathBuf,
    /// Candidate results JSON.
    pub b: PathBuf,
    /// Confidence level for intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
}

impl CommonArgs {
    /// The flag layer for [`crate::config::load`].
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            runs: self.runs,
            quick: self.quick,
            engines: self.engines.clone(),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            timeout_seconds: self.timeout,
            seed: self.seed,
            prompts_file: self.prompts.clone(),
            chat_template: self.chat_template.clone().or_else(|| {
                self.chat_template_file
                    .as_ref()
                    .map(|p| p.display().to_string())
            }),
            warmup_runs: self.warmup,
            allow_template_mismatch: false,
        }
    }

    /// Load the validated settings for this invocation.
    pub fn settings(&self) -> Result<crate::config::Settings, crate::config::ConfigError> {
        crate::config::load(
            self.config.as_deref(),
            &crate::config::ProcessEnv,
            &self.overrides(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
