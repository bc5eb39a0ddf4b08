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
    /// Merge the results of the workers of a sharded load run (`--shard I/N`) into the
    /// result one client would have given: percentiles from merged histograms,
    /// throughput over the union of the workers' windows.
    ///
    /// Example:
    ///   inferbench merge results/w0.json results/w1.json -o merged.json
    Merge(MergeArgs),
    /// Compare two results files metric by metric, with intervals and a verdict.
    ///
    /// Either file may also be another tool's result, set beside ours: vLLM `bench serve
    /// --save-result`, AIPerf profile_export_aiperf.json, or an llm-d-benchmark Benchmark
    /// Report v0.2 (including the files `--export` writes).
    ///
    /// Examples:
    ///   inferbench compare output/a.json output/b.json
    ///   inferbench compare output/a.json vllm_result.json
    #[command(verbatim_doc_comment)]
    Compare(CompareArgs),
    /// Check that everything the selected engines need is there, before measuring.
    ///
    /// One line per check, ✓ (fine), ✗ (must be fixed: the line names the command that
    /// fixes it) or – (not applicable, e.g. Uzu where it cannot be installed): the host
    /// (OS, CPU, memory, GPUs, the device each engine will use and why), each engine's
    /// binary (where, version, build flags), model file (GGUF header: architecture, size,
    /// chat template), the Ollama model registration, the PyTorch venv (torch and
    /// transformers versions, the devices torch sees), the Uzu model folder, every
    /// configured port (free, or who holds it), the tokenizer, the chat template and the
    /// memory-bandwidth figure. Loads no model and takes a few seconds. Exit code 0 when
    /// everything needed is there, 2 otherwise.
    ///
    /// --deep also starts each selected engine's server (as `inferbench api` does), runs
    /// the fairness check and one short request (its TTFT is shown), and stops it.
    ///
    /// Examples:
    ///   inferbench doctor
    ///   inferbench doctor --engines llamacpp,ollama
    ///   inferbench doctor --deep --engines llamacpp
    ///   inferbench doctor --config my_config.json --json
    #[command(verbatim_doc_comment)]
    Doctor(DoctorArgs),
    /// Print the results document's JSON schema, generated from the result types.
    ///
    /// Draft 2020-12: the JSON file validates against it, each JSONL line against its
    /// `#/$defs/RunRecord`. schema/results.schema.json is this output.
    ///
    /// Example:
    ///   inferbench schema > schema/results.schema.json
    #[command(verbatim_doc_comment)]
    Schema,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Config file (default: ./benchmark_config.json if present, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Engines to check, by config key (default: every enabled engine and server).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub engines: Option<Vec<String>>,
    /// Also start each selected server, check fairness, send one short request, stop it.
    #[arg(long)]
    pub deep: bool,
    /// Print the checks as JSON instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Which mode's needs to check: `api` (each `servers` entry's server), `cli` (each
    /// `engines` entry's own tool: llama-completion, `ollama run`, generate.py, Uzu's
    /// `cli bench`), or both.
    #[arg(long, value_enum, default_value_t = DoctorMode::Both)]
    pub mode: DoctorMode,
}

/// The mode `inferbench doctor` checks for; `inferbench api` and `inferbench cli` record
/// their own mode's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DoctorMode {
    Api,
    Cli,
    Both,
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
    /// Also write each load step in another tool's format, one file per engine × step
    /// beside the results JSON (output/…_<engine>_<step>.br0.2.json, ….vllm.json):
    /// br0.2 (llm-d-benchmark's Benchmark Report v0.2) or vllm (the shape of vLLM's
    /// `bench serve --save-result`). Repeat the flag or give a comma list. Without load
    /// steps there is nothing to export (a warning, not an error).
    ///
    /// Examples:
    ///   --export br0.2
    ///   --export br0.2,vllm
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        value_delimiter = ',',
        verbatim_doc_comment
    )]
    pub export: Vec<ExportFormat>,
    /// Compare the engines' replies token by token (our tokenizer): per pair of engines,
    /// the common prefix and the share of identical replies, and an engine whose reply
    /// departs from the others' within the first 16 tokens flagged `parity_departs`.
    /// On by itself at temperature 0; sequential runs only (not load steps).
    #[arg(long)]
    pub parity: bool,
}

/// A format of another tool that `--export` writes each load step in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum ExportFormat {
    /// llm-d-benchmark's Benchmark Report v0.2 (JSON).
    #[value(name = "br0.2")]
    Br02,
    /// vLLM `bench serve --save-result` JSON.
    Vllm,
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
    /// The model file the server given by --url serves (GGUF, safetensors file or
    /// directory): sizes the physical decode bound (bandwidth ÷ bytes read per token).
    #[arg(
        long,
        value_name = "FILE",
        requires = "url",
        conflicts_with = "bytes_per_token"
    )]
    pub model_file: Option<PathBuf>,
    /// Bytes of weights the server given by --url reads per decoded token, for the
    /// physical decode bound when no model file is at hand.
    #[arg(long, value_name = "N", requires = "url")]
    pub bytes_per_token: Option<u64>,
    /// Go on when an engine's prompt differs from the reference rendering.
    #[arg(long)]
    pub allow_template_mismatch: bool,
    /// Start each engine N times, one request (the first prompt) after each, and split
    /// every start into phases (spawn → weights read → on the device → ready → first
    /// token) from our clock and the engine's log, with the model file's page-cache state
    /// before each start. The first start is made cold where the host allows it.
    #[arg(long, value_name = "N", conflicts_with = "url",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub starts: Option<u32>,
    #[command(flatten)]
    pub order: OrderArgs,
    /// Spin on one core instead of sleeping between events, so that no arrival waits for
    /// a wake-up (~0.1–0.2 ms on a VM). For benchmarks with the client on its own core
    /// (taskset); the spinning is left out of the client CPU figure.
    #[arg(long)]
    pub busy_poll: bool,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// What a load run sends, and whether engines may answer from a prompt cache.
#[derive(Debug, Clone, Args, Default)]
pub struct WorkloadArgs {
    /// What a load run sends instead of the prompt suite: sharegpt:FILE, jsonl:FILE,
    /// synthetic:in=N,out=M, prefix:groups=G,prefix=P,suffix=S, multiturn:turns=T,in=N,out=M,
    /// trace:FILE[,scale=X] (--help for every parameter).
    #[arg(long, value_name = "SOURCE", long_help = crate::workload::HELP)]
    pub workload: Option<String>,
    /// Let engines reuse cached prompt prefixes (llama-server `cache_prompt`): on or off.
    /// Default off (inferbench.cache_prompt), so repeated prompts do not measure a warm
    /// cache; a run an engine still served from its cache is flagged
    /// `served_from_prompt_cache`.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub cache_prompt: Option<bool>,
}

/// `on`/`off` (also true/false, yes/no, 1/0).
fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{s:?}: give on or off")),
    }
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
    /// Gamma shape of inter-arrival times for --rate (default 1 = Poisson, <1 burstier).
    #[arg(long, value_name = "K")]
    pub burstiness: Option<f64>,
    /// Sweep steps, e.g. "1,4,16" (concurrency), "rate:1,2,4", or "input:128,512,1024"
    /// (prefill and decode measured apart at those exact input lengths, one request at a
    /// time: --requests per length and phase, default 5 prefill / 3 decode; ",out=N"
    /// output tokens per decode request, default 128; llama-bench pp/tg beside a
    /// llama-server inferbench starts).
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
    /// Search for the highest load that meets --slo: max-concurrency (closed loop) or
    /// max-rate (open loop). Doubles the load until a probe misses the target, then
    /// bisects; each probe runs until the 95% Wilson interval of its SLO attainment is
    /// clear of --slo-attainment (extended, bounded, while it straddles it). Needs --slo;
    /// replaces --concurrency, --rate and --sweep; --requests sets a probe's first batch.
    #[arg(long, value_name = "max-concurrency|max-rate")]
    pub find: Option<String>,
    /// Percent of requests that must meet every --slo objective in a --find search
    /// (default 95).
    #[arg(long, value_name = "PCT")]
    pub slo_attainment: Option<f64>,
    /// Stop each load step once the 95% interval of --ci-metric's mean is within ±PCT %
    /// of it; --requests or --duration (one is required) bounds the step, and the step
    /// report says which came first.
    #[arg(long, value_name = "PCT")]
    pub target_ci: Option<f64>,
    /// The metric --target-ci watches: ttft_ms, tpot_ms (default), e2e_ms, ...
    #[arg(long, value_name = "METRIC")]
    pub ci_metric: Option<String>,
    /// Be worker I of N (0-based, e.g. "$JOB_COMPLETION_INDEX/4"): send 1/N of each
    /// step's concurrency or arrivals, a disjoint slice of its requests; every worker
    /// gets the same flags. Merge the workers' results with `inferbench merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Start the first load step's clock at this instant (RFC 3339, e.g.
    /// 2026-12-01T21:00:00Z), so that every worker's schedule is one schedule.
    #[arg(long, value_name = "RFC3339", conflicts_with = "start_file")]
    pub start_at: Option<String>,
    /// Like --start-at, with the instant read from this file.
    #[arg(long, value_name = "PATH")]
    pub start_file: Option<PathBuf>,
    /// Scrape the engine's Prometheus /metrics every SECONDS during each load step (queue
    /// depth, running requests, KV-cache use, token rates, server-side latency histograms;
    /// default 1; 0 turns it off). inferbench starts llama-server with --metrics; a server
    /// given with --url is scraped when its /metrics answers.
    #[arg(long, value_name = "SECONDS")]
    pub metrics_interval: Option<f64>,
    /// After each load step, send the step's shape again (concurrency or rate, output
    /// length, TTFT and TPOT scripted at the engine's measured medians) to the built-in
    /// synthetic engine on this host, and record the client's own TTFT and TPOT error
    /// beside the engine's figures. Without it a step is calibrated only where that fits
    /// in 5% of its span (long runs); differences between engines smaller than the error
    /// are reported as within the client's error.
    #[arg(long)]
    pub calibrate: bool,
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
    #[command(flatten)]
    pub order: OrderArgs,
}

/// The order of runs across engines (`api` and `cli`).
#[derive(Debug, Clone, Args, Default)]
pub struct OrderArgs {
    /// One engine after another (the seed's order). In API mode each server is started,
    /// checked, measured and stopped before the next starts; in CLI mode one engine's runs
    /// come after another's. By default every engine is brought up and checked first, and
    /// their runs are interleaved A,B,A,B so that drift of the machine hits all engines
    /// alike (a run during which another engine was busy is flagged `neighbour_busy`).
    #[arg(long)]
    pub no_interleave: bool,
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
    /// Extra time to the first token per word of the prompt, ms (a scripted prefill:
    /// TTFT = --ttft-ms + this × prompt words).
    #[arg(long, default_value_t = 0.0)]
    pub prefill_ms_per_token: f64,
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
    /// Make each completion request this share slower than the one before (0.02: the
    /// k-th request's TTFT and ITL × 1.02^k): a synthetic engine that drifts.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub slowdown_per_request: f64,
    /// Serve POST /apply-template rendering chat messages with this built-in template
    /// (gemma3, chatml): the fairness check then compares it with the reference.
    #[arg(long, value_name = "NAME")]
    pub chat_template: Option<String>,
    /// Spin on one core instead of sleeping, so that tokens leave on time to the
    /// microsecond (no timer wake-up, no thread hop). Pin the mock to its own core.
    #[arg(long)]
    pub busy_poll: bool,
    /// Serve at most N streams at once, like a server with N slots: a request beyond
    /// them waits for a free slot, and the wait is in its TTFT.
    #[arg(long, value_name = "N")]
    pub capacity: Option<u32>,
    /// Stream the first N tokens of every chat reply as `reasoning_content` (a reasoning
    /// model's thinking), the rest as content; usage reports them as reasoning tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub reasoning: u32,
    /// Serve at most K connections at once, each until it closes, like a server with a
    /// thread per connection (cpp-httplib, so llama-server's --threads-http): a connection
    /// beyond them is accepted by the kernel, and its request waits there unread.
    #[arg(long, value_name = "K")]
    pub http_threads: Option<u32>,
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
    /// Hold every chunk back and send them all at once when the last token is due (a
    /// slow back end, or any engine behind a buffering proxy).
    Burst,
    /// Read the request and never answer it, without counting it as work: an engine
    /// that dropped it (its `/slots` says idle).
    Lose,
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
pub struct MergeArgs {
    /// Workers' results JSON files (the `output/*.json` of each).
    #[arg(required = true, value_name = "WORKER.json")]
    pub files: Vec<PathBuf>,
    /// Where to write the merged results JSON.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "PATH",
        default_value = "merged.json"
    )]
    pub out: PathBuf,
    /// Workers whose clocks started further apart than this are flagged, ms.
    #[arg(long, value_name = "MS", default_value_t = 100.0)]
    pub tolerance_ms: f64,
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
    /// Smallest change of a mean, in percent, that gets a verdict: a smaller one is "no
    /// significant difference" even when its interval excludes 1 (runs on a shared or busy
    /// machine drift by a few percent between runs).
    #[arg(long, value_name = "PCT", default_value_t = 1.0)]
    pub min_effect: f64,
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
