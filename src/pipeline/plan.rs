//! The validated plan of one invocation, built before any engine starts: which engines,
//! in which schedule, with which load steps and SLO. Every flag is checked here; bad
//! input is a [`PlanError`] naming the flag and what is allowed (exit code 2), so a typo
//! is found in milliseconds, not after a model has loaded.
//!
//! Pure apart from nothing: [`plan_api`] and [`plan_cli`] take parsed arguments and the
//! loaded settings and decide; tests call them directly.

use crate::cli::{ApiArgs, CliArgs, Endpoint, LoadArgs};
use crate::config::Settings;
use crate::load::schedule::{self, LoadSpec, Slo, Step};
use crate::results::Mode;

/// Bad flags or a selection that names nothing: exit code 2, before any engine starts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "--{flag} only applies to a load run; add --concurrency N, --rate R or --sweep STEPS (or drop --{flag})"
    )]
    NeedsLoadMode { flag: &'static str },
    #[error(transparent)]
    Load(#[from] schedule::LoadError),
    #[error("{0}")]
    Workload(String),
    #[error(
        "--engines names `{name}`, which is not in the config's `{section}` section; configured: {known}"
    )]
    UnknownEngine {
        name: String,
        section: &'static str,
        known: String,
    },
    #[error(
        "--engines selects engines of the config; with --url the server at that URL is the one benchmarked: give one or the other"
    )]
    EnginesWithUrl,
    #[error(
        "--url {url:?} is not an http:// or https:// URL ({why}); give e.g. http://127.0.0.1:8080 or http://127.0.0.1:8080/v1"
    )]
    BadUrl { url: String, why: String },
    #[error(
        "--{flag} applies only with --url (an engine inferbench starts is sized from its model file)"
    )]
    NeedsUrl { flag: &'static str },
    #[error(
        "no engine selected: enable one in the config's `{section}` section, name one with --engines{url}"
    )]
    NothingSelected {
        section: &'static str,
        url: &'static str,
    },
    #[error("{0}")]
    Shard(#[from] crate::results::ShardError),
    #[error(
        "--shard {shard}: step {step} leaves this worker nothing to send (its share of the concurrency or requests is 0); give at least N-fold concurrency and requests, or fewer shards"
    )]
    IdleShard { shard: String, step: String },
    #[error(
        "--start-at {0:?} is not an RFC 3339 instant; give e.g. 2026-12-01T21:00:00Z (the same for every worker)"
    )]
    StartAt(String),
    #[error("--start-file {path}: {why}")]
    StartFile { path: String, why: String },
    #[error("{0}")]
    Search(String),
    #[error("{0}")]
    Precision(#[from] crate::load::precision::PrecisionError),
}

/// Where an engine comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A config entry that inferbench starts and stops.
    Managed,
    /// A server already running at a URL (`--url`).
    External {
        base_url: String,
        model: Option<String>,
        chat: bool,
    },
}

/// One engine of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct EnginePlan {
    /// Config key (or the model name / "server" for `--url`).
    pub key: String,
    pub source: Source,
    /// Named with `--engines` (a missing install is then an error, not a skip).
    pub named: bool,
}

/// The order in which requests (or processes) are run.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// One engine after another, every prompt × runs, one request at a time (the seed).
    Sequential,
    /// Every engine up at once; each round visits every engine in turn (A,B,A,B), so that
    /// drift of the machine hits all alike.
    Interleaved,
    /// Load steps (closed or open loop), one engine at a time.
    Load {
        steps: Vec<Step>,
        slo: Option<Slo>,
        preconnect: bool,
        /// `--find`: the steps are chosen by the search as it goes (`steps` is empty).
        search: Option<Box<crate::load::search::SearchPlan>>,
        /// `--target-ci`: each step stops once its metric is precise enough.
        precision: Option<crate::load::precision::PrecisionRule>,
        /// `--sweep input:…`: `steps` are its prefill and decode steps, length by length.
        input: Option<Box<crate::load::input_sweep::InputSweep>>,
    },
}

/// One run of a one-request-at-a-time schedule (an HTTP request or an engine process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub engine: usize,
    pub prompt: usize,
    pub run: u32,
    pub warmup: bool,
}

impl Schedule {
    /// One line for the log and the results.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Sequential => "sequential: one engine after another".into(),
            Schedule::Interleaved => "interleaved (ABAB) across engines".into(),
            Schedule::Load {
                search: Some(search),
                ..
            } => format!("load: {}", search.describe()),
            Schedule::Load {
                input: Some(input), ..
            } => format!("load: {}", input.describe()),
            Schedule::Load { steps, .. } => format!(
                "load: {}",
                steps.iter().map(Step::label).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The runs of `engines` engines in this schedule's order (API and CLI mode alike):
    /// interleaved, every engine's warm-ups (on the first prompt), then each prompt and
    /// run visits every engine in turn (A,B,A,B); otherwise one engine's warm-ups and runs
    /// after another's (A,A,B,B). Pure.
    pub fn order(&self, engines: usize, prompts: usize, runs: u32, warmups: u32) -> Vec<Slot> {
        let slot = |engine, prompt, run, warmup| Slot {
            engine,
            prompt,
            run,
            warmup,
        };
        let warm = |e| {
            (0..warmups)
                .filter(move |_| prompts > 0)
                .map(move |w| slot(e, 0, w, true))
        };
        let measured =
            |e| (0..prompts).flat_map(move |p| (0..runs).map(move |r| slot(e, p, r, false)));
        if matches!(self, Schedule::Interleaved) {
            let rounds = (0..prompts).flat_map(|p| {
                (0..runs).flat_map(move |r| (0..engines).map(move |e| slot(e, p, r, false)))
            });
            (0..engines).flat_map(warm).chain(rounds).collect()
        } else {
            (0..engines)
                .flat_map(|e| warm(e).chain(measured(e)))
                .collect()
        }
    }
}

/// The physical bound the user gave for a server inferbench did not start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalBound {
    pub model_file: Option<std::path::PathBuf>,
    pub bytes_per_token: Option<u64>,
}

/// Everything decided before any engine starts.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub engines: Vec<EnginePlan>,
    pub schedule: Schedule,
    pub bound: ExternalBound,
    /// What makes this run one worker of several (`--shard`, `--start-at`).
    pub worker: WorkerPlan,
}

/// A load run as one worker of several: its shard, the shared start, and the whole plan
/// that every worker shares (what `inferbench merge` checks they agree on).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerPlan {
    pub shard: Option<crate::results::Shard>,
    /// `--start-at` / `--start-file`, RFC 3339 UTC.
    pub start_at: Option<String>,
    /// The whole (unsharded) steps, by index: label and arrival.
    pub whole: Vec<(String, crate::results::Arrival)>,
    /// Everything of the plan that every worker must share: the whole steps, the SLO,
    /// preconnect and the target (URL, model, endpoint), as canonical JSON.
    pub shared: serde_json::Value,
}

/// Parse an RFC 3339 instant (`--start-at`, or the contents of `--start-file`) as unix ns.
pub fn parse_start_at(s: &str) -> Result<(i64, String), PlanError> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim())
        .map_err(|_| PlanError::StartAt(s.trim().to_string()))?
        .with_timezone(&chrono::Utc);
    let ns = t
        .timestamp_nanos_opt()
        .ok_or_else(|| PlanError::StartAt(s.trim().to_string()))?;
    Ok((ns, t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
}

/// `--start-at` or the instant in `--start-file` (the one read of the plan).
fn start_instant(load: &LoadArgs) -> Result<Option<(i64, String)>, PlanError> {
    if let Some(s) = &load.start_at {
        return parse_start_at(s).map(Some);
    }
    let Some(path) = &load.start_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::StartFile {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    parse_start_at(&text)
        .map(Some)
        .map_err(|_| PlanError::StartFile {
            path: path.display().to_string(),
            why: format!(
                "holds {:?}, not an RFC 3339 instant such as 2026-12-01T21:00:00Z",
                text.trim()
            ),
        })
}

/// The load flags as the schedule module takes them.
pub fn load_spec(load: &LoadArgs) -> LoadSpec {
    LoadSpec {
        concurrency: load.concurrency,
        rate: load.rate,
        burstiness: load.burstiness,
        sweep: load.sweep.clone(),
        requests: load.requests,
        duration: load.duration,
        load_warmup: load.load_warmup,
    }
}

/// `--workload` checked against the load flags; whether it is a trace (which brings its
/// own open-loop schedule). Pure.
pub fn check_workload(args: &ApiArgs) -> Result<bool, PlanError> {
    let Some(raw) = args.workload.workload.as_deref() else {
        return Ok(false);
    };
    let spec = crate::workload::parse_spec(raw).map_err(|e| PlanError::Workload(e.to_string()))?;
    let load = &args.load;
    let modes = load.concurrency.is_some() || load.rate.is_some() || load.sweep.is_some();
    let bad = |m: &str| {
        Err(PlanError::Workload(format!(
            "--workload {}: {m}",
            spec.kind()
        )))
    };
    if load.find.is_some() {
        return bad("--find searches with the prompt suite; drop one of them");
    }
    let sessions = matches!(
        &spec,
        crate::workload::WorkloadSpec::MultiTurn(_)
            | crate::workload::WorkloadSpec::ShareGpt(crate::workload::sharegpt::Spec {
                turns: crate::workload::sharegpt::Turns::All,
                ..
            })
    );
    if spec.has_schedule() {
        if modes {
            return bad(
                "a trace is replayed on its own timestamps; drop --concurrency/--rate/--sweep (scale=X speeds it up or slows it down)",
            );
        }
        return Ok(true);
    }
    if !modes {
        return bad("needs a load mode: add --concurrency N, --rate R or --sweep STEPS");
    }
    let open = load.rate.is_some()
        || load
            .sweep
            .as_deref()
            .is_some_and(|s| s.trim_start().to_ascii_lowercase().starts_with('r'));
    if sessions && open {
        return bad(
            "multi-turn sessions are held by virtual users: give --concurrency N (or a concurrency --sweep), not a rate",
        );
    }
    Ok(false)
}

/// `--sweep input:…` planned, and checked against what it cannot go with: it builds its
/// own prompts of exact lengths and sends one at a time, and measures real prefills (no
/// prompt cache). `None` for any other load. Pure.
fn check_input_sweep(
    args: &ApiArgs,
    settings: &Settings,
) -> Result<Option<crate::load::input_sweep::InputSweep>, PlanError> {
    let Some(sweep) = crate::load::input_sweep::from_load(&load_spec(&args.load))? else {
        return Ok(None);
    };
    let load = &args.load;
    let clash = [
        ("workload", args.workload.workload.is_some()),
        ("shard", load.shard.is_some()),
        (
            "start-at",
            load.start_at.is_some() || load.start_file.is_some(),
        ),
    ];
    let refuse = |why: String| Err(PlanError::Load(schedule::LoadError::InputSweep(why)));
    if let Some((flag, _)) = clash.iter().find(|(_, given)| *given) {
        return refuse(format!(
            "--{flag} does not go with it (it builds its own prompts of exact lengths and sends them one at a time)"
        ));
    }
    if settings.cache_prompt {
        return refuse(
            "prompt caching is on; the sweep measures real prefills: give --cache-prompt off (or set inferbench.cache_prompt false)".into(),
        );
    }
    Ok(Some(sweep))
}

/// The load spec of the steps: a trace replays as one open-loop step (its rate is set
/// from the trace once it is read), without warm-up unless asked.
fn workload_load_spec(load: &LoadArgs, trace: bool) -> LoadSpec {
    let mut spec = load_spec(load);
    if trace {
        spec.rate = Some(1.0);
        spec.load_warmup = Some(load.load_warmup.unwrap_or(0));
        // Every line of the trace unless --requests cuts it (set once it is read).
        spec.requests = Some(load.requests.unwrap_or(u64::MAX));
    }
    spec
}

/// Load-only flags that were given, by name.
fn load_only_flags(load: &LoadArgs) -> Vec<&'static str> {
    [
        ("requests", load.requests.is_some()),
        ("duration", load.duration.is_some()),
        ("slo", load.slo.is_some()),
        ("load-warmup", load.load_warmup.is_some()),
        ("burstiness", load.burstiness.is_some()),
        ("no-preconnect", load.no_preconnect),
        ("preconnect", load.preconnect),
        ("slo-attainment", load.slo_attainment.is_some()),
        ("target-ci", load.target_ci.is_some()),
        ("ci-metric", load.ci_metric.is_some()),
        ("shard", load.shard.is_some()),
        ("start-at", load.start_at.is_some()),
        ("start-file", load.start_file.is_some()),
        ("calibrate", load.calibrate),
    ]
    .into_iter()
    .filter_map(|(f, given)| given.then_some(f))
    .collect()
}

/// Accept a base URL with or without `/v1` (the form OpenAI clients use) and a trailing
/// slash: `http://h:p`, `http://h:p/`, `http://h:p/v1`, `http://h:p/v1/` → `http://h:p`.
pub fn normalize_base_url(raw: &str) -> Result<String, PlanError> {
    let bad = |why: &str| PlanError::BadUrl {
        url: raw.to_string(),
        why: why.to_string(),
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!("scheme `{}`", url.scheme())));
    }
    if url.host_str().is_none() {
        return Err(bad("no host"));
    }
    let s = url.as_str().trim_end_matches('/');
    let s = s.strip_suffix("/v1").unwrap_or(s);
    Ok(s.trim_end_matches('/').to_string())
}

/// Check `--engines` against the keys of one config section.
fn check_engine_names<'a>(
    settings: &Settings,
    section: &'static str,
    keys: impl Iterator<Item = &'a String> + Clone,
) -> Result<(), PlanError> {
    if let Some(names) = &settings.engine_filter {
        for name in names {
            if !keys.clone().any(|k| k == name) {
                let known: Vec<&str> = keys.clone().map(String::as_str).collect();
                return Err(PlanError::UnknownEngine {
                    name: name.clone(),
                    section,
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
    }
    Ok(())
}

/// The selected engines of one config section (`servers` or `engines`), after checking
/// that `--engines` names only engines of it.
fn managed(
    settings: &Settings,
    section: &'static str,
    entries: &std::collections::BTreeMap<String, crate::config::EngineSection>,
) -> Result<Vec<EnginePlan>, PlanError> {
    check_engine_names(settings, section, entries.keys())?;
    Ok(entries
        .iter()
        .filter(|(k, s)| settings.selected(k, s))
        .map(|(k, _)| EnginePlan {
            key: k.clone(),
            source: Source::Managed,
            named: settings.engine_filter.is_some(),
        })
        .collect())
}

/// The plan of `inferbench api`.
pub fn plan_api(
    args: &ApiArgs,
    settings: &Settings,
    model_file: Option<&std::path::Path>,
    bytes_per_token: Option<u64>,
) -> Result<Plan, PlanError> {
    let load = &args.load;
    let trace = check_workload(args)?;
    let is_load = schedule::is_load_mode(&load_spec(load)) || load.find.is_some() || trace;
    if !is_load && let Some(flag) = load_only_flags(load).first() {
        return Err(PlanError::NeedsLoadMode { flag });
    }
    // Checks every load flag (an input sweep's conflicts too); no steps for an input sweep.
    let planned = schedule::plan_steps(&workload_load_spec(load, trace), settings.seed)?;
    let input = check_input_sweep(args, settings)?;
    let mut steps = match &input {
        Some(sweep) => sweep.steps(settings.seed),
        None => planned,
    };
    let slo = load.slo.as_deref().map(schedule::parse_slo).transpose()?;
    let search = crate::load::search::plan_search(
        load.find.as_deref(),
        load.slo_attainment,
        slo,
        &load_spec(load),
        settings.seed,
    )
    .map_err(PlanError::Search)?;
    if search.is_some() && load.shard.is_some() {
        return Err(PlanError::Search(
            "--find decides each probe from all of its requests; run it from one client, without --shard".into(),
        ));
    }
    let precision = crate::load::precision::plan_precision(
        load.target_ci,
        load.ci_metric.as_deref(),
        {
            let spec = load_spec(load);
            spec.requests.is_some() || spec.duration.is_some()
        },
        search.is_some(),
    )?;
    let shard = load
        .shard
        .as_deref()
        .map(crate::results::Shard::parse)
        .transpose()?;
    let start = start_instant(load)?;
    let shared = serde_json::json!({
        "steps": steps,
        "slo": slo,
        "preconnect": !load.no_preconnect,
        "url": args.url.as_deref().map(normalize_base_url).transpose()?,
        "model": args.model,
        "endpoint": format!("{:?}", args.endpoint),
    });
    let whole: Vec<(String, crate::results::Arrival)> =
        steps.iter().map(|s| (s.label(), s.arrival)).collect();
    if let Some(sh) = shard {
        steps = steps.iter().map(|s| s.for_shard(sh)).collect();
        if let Some(idle) = steps.iter().find(|s| s.has_nothing_to_send()) {
            return Err(PlanError::IdleShard {
                shard: sh.label(),
                step: whole[idle.index].0.clone(),
            });
        }
    }
    if let (Some((ns, _)), Some(first)) = (&start, steps.first_mut()) {
        first.not_before_unix_ns = Some(*ns);
    }
    let worker = WorkerPlan {
        shard,
        start_at: start.map(|(_, s)| s),
        whole,
        shared,
    };

    let engines: Vec<EnginePlan> = match &args.url {
        Some(url) => {
            if settings.engine_filter.is_some() {
                return Err(PlanError::EnginesWithUrl);
            }
            vec![EnginePlan {
                key: args.model.clone().unwrap_or_else(|| "server".into()),
                source: Source::External {
                    base_url: normalize_base_url(url)?,
                    model: args.model.clone(),
                    chat: args.endpoint == Endpoint::Chat,
                },
                named: true,
            }]
        }
        None => {
            if model_file.is_some() {
                return Err(PlanError::NeedsUrl { flag: "model-file" });
            }
            if bytes_per_token.is_some() {
                return Err(PlanError::NeedsUrl {
                    flag: "bytes-per-token",
                });
            }
            managed(settings, "servers", &settings.file.servers)?
        }
    };
    if engines.is_empty() {
        return Err(PlanError::NothingSelected {
            section: "servers",
            url: ", or give --url",
        });
    }
    let schedule = if is_load {
        Schedule::Load {
            steps,
            slo,
            preconnect: !load.no_preconnect,
            search: search.map(Box::new),
            precision,
            input: input.map(Box::new),
        }
    } else if engines.len() > 1 && !args.order.no_interleave {
        Schedule::Interleaved
    } else {
        Schedule::Sequential
    };
    Ok(Plan {
        mode: Mode::Api,
        engines,
        schedule,
        bound: ExternalBound {
            model_file: model_file.map(Into::into),
            bytes_per_token,
        },
        worker,
    })
}

/// The plan of `inferbench cli`.
pub fn plan_cli(args: &CliArgs, settings: &Settings) -> Result<Plan, PlanError> {
    let engines = managed(settings, "engines", &settings.file.engines)?;
    if engines.is_empty() {
        return Err(PlanError::NothingSelected {
            section: "engines",
            url: "",
        });
    }
    let schedule = if engines.len() > 1 && !args.order.no_interleave {
        Schedule::Interleaved
    } else {
        Schedule::Sequential
    };
    Ok(Plan {
        mode: Mode::Cli,
        engines,
        schedule,
        bound: ExternalBound::default(),
        worker: WorkerPlan::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn settings(json: &str) -> Settings {
        let dir = std::env::temp_dir();
        let file = crate::config::parse_config(json, &dir.join("c.json")).expect("config");
        let mut s = crate::config::resolve(
            Some(dir.join("c.json")),
            file,
            &std::collections::BTreeMap::<String, String>::new(),
            &crate::config::Overrides::default(),
        )
        .expect("settings");
        s.base_dir = dir;
        s
    }

    fn api(argv: &[&str]) -> ApiArgs {
        let mut full = vec!["inferbench", "api"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).expect("parses").command {
            Command::Api(a) => a,
            _ => unreachable!("api subcommand"),
        }
    }

    const TWO: &str =
        r#"{"servers": {"a": {"kind": "mock", "port": 1}, "b": {"kind": "mock", "port": 2}}}"#;

    fn plan(argv: &[&str], json: &str) -> Result<Plan, PlanError> {
        let a = api(argv);
        let mut s = settings(json);
        s.engine_filter = a.common.engines.clone();
        plan_api(&a, &s, None, None)
    }

    #[test]
    fn load_flags_without_a_load_mode_are_refused() {
        for (argv, flag) in [
            (vec!["--requests", "5"], "requests"),
            (vec!["--duration", "3"], "duration"),
            (vec!["--slo", "ttft_ms=5"], "slo"),
            (vec!["--load-warmup", "1"], "load-warmup"),
            (vec!["--burstiness", "0.5"], "burstiness"),
            (vec!["--no-preconnect"], "no-preconnect"),
            (vec!["--calibrate"], "calibrate"),
        ] {
            let err = plan(&argv, TWO).expect_err("refused");
            assert_eq!(err, PlanError::NeedsLoadMode { flag }, "{argv:?}");
        }
        assert!(plan(&["--requests", "5", "--concurrency", "2"], TWO).is_ok());
    }

    #[test]
    fn bad_sweep_and_slo_are_refused_before_anything_starts() {
        let err = plan(&["--sweep", "concurrency:x"], TWO).expect_err("refused");
        assert!(err.to_string().contains("--sweep"), "{err}");
        let err = plan(&["--concurrency", "2", "--slo", "ttft=5"], TWO).expect_err("refused");
        assert!(err.to_string().contains("--slo"), "{err}");
    }

    #[test]
    fn find_and_target_ci_are_checked_before_anything_starts() {
        for (argv, needle) in [
            (vec!["--find", "max-concurrency"], "needs --slo"),
            (
                vec!["--find", "x", "--slo", "ttft_ms=5"],
                "max-concurrency or max-rate",
            ),
            (
                vec!["--concurrency", "2", "--target-ci", "5"],
                "needs a bound",
            ),
            (vec!["--slo-attainment", "90"], "only applies to a load run"),
        ] {
            let err = plan(&argv, TWO).expect_err("refused").to_string();
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
        let p = plan(&["--find", "max-rate", "--slo", "ttft_ms=5"], TWO).expect("plan");
        match p.schedule {
            Schedule::Load {
                steps,
                search: Some(s),
                precision: None,
                ..
            } => {
                assert!(steps.is_empty());
                assert_eq!(s.cfg.find, crate::results::Find::MaxRate);
                assert_eq!(s.cfg.target, 0.95);
            }
            other => panic!("{other:?}"),
        }
        let p = plan(
            &["--concurrency", "2", "--duration", "5", "--target-ci", "3"],
            TWO,
        )
        .expect("plan");
        assert!(matches!(
            p.schedule,
            Schedule::Load {
                precision: Some(_),
                search: None,
                ..
            }
        ));
    }

    #[test]
    fn unknown_engine_names_the_configured_ones() {
        let err = plan(&["--engines", "nope"], TWO).expect_err("refused");
        assert_eq!(
            err,
            PlanError::UnknownEngine {
                name: "nope".into(),
                section: "servers",
                known: "a, b".into()
            }
        );
    }

    #[test]
    fn schedule_follows_the_flags() {
        assert_eq!(
            plan(&[], TWO).expect("plan").schedule,
            Schedule::Interleaved
        );
        assert_eq!(
            plan(&["--no-interleave"], TWO).expect("plan").schedule,
            Schedule::Sequential
        );
        assert_eq!(
            plan(&["--engines", "a"], TWO).expect("plan").schedule,
            Schedule::Sequential
        );
        let p = plan(&["--sweep", "1,2", "--no-preconnect"], TWO).expect("plan");
        match p.schedule {
            Schedule::Load {
                steps, preconnect, ..
            } => {
                assert_eq!(steps.len(), 2);
                assert!(!preconnect);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interleaved_visits_every_engine_per_run_sequential_one_after_another() {
        let order = |s: Schedule| -> Vec<(usize, usize, u32, bool)> {
            s.order(2, 2, 2, 1)
                .into_iter()
                .map(|x| (x.engine, x.prompt, x.run, x.warmup))
                .collect()
        };
        let m = |e, p, r| (e, p, r, false);
        assert_eq!(
            order(Schedule::Interleaved),
            vec![
                (0, 0, 0, true),
                (1, 0, 0, true),
                m(0, 0, 0),
                m(1, 0, 0),
                m(0, 0, 1),
                m(1, 0, 1),
                m(0, 1, 0),
                m(1, 1, 0),
                m(0, 1, 1),
                m(1, 1, 1)
            ]
        );
        assert_eq!(
            order(Schedule::Sequential),
            vec![
                (0, 0, 0, true),
                m(0, 0, 0),
                m(0, 0, 1),
                m(0, 1, 0),
                m(0, 1, 1),
                (1, 0, 0, true),
                m(1, 0, 0),
                m(1, 0, 1),
                m(1, 1, 0),
                m(1, 1, 1)
            ]
        );
        assert!(Schedule::Interleaved.order(2, 0, 3, 2).is_empty());
    }

    #[test]
    fn base_urls_with_and_without_v1() {
        for raw in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/v1",
            "http://127.0.0.1:8080/v1/",
        ] {
            assert_eq!(
                normalize_base_url(raw).expect("url"),
                "http://127.0.0.1:8080",
                "{raw}"
            );
        }
        assert_eq!(
            normalize_base_url("https://h.example/proxy/v1").expect("url"),
            "https://h.example/proxy"
        );
        assert!(matches!(
            normalize_base_url("localhost:8080"),
            Err(PlanError::BadUrl { .. })
        ));
        let p = plan(&["--url", "http://127.0.0.1:9/v1", "--model", "m"], "{}").expect("plan");
        assert_eq!(
            p.engines[0].source,
            Source::External {
                base_url: "http://127.0.0.1:9".into(),
                model: Some("m".into()),
                chat: true
            }
        );
        let err = plan(&["--url", "http://127.0.0.1:9", "--engines", "a"], TWO).expect_err("no");
        assert_eq!(err, PlanError::EnginesWithUrl);
    }

    #[test]
    fn nothing_selected_is_an_error() {
        let err = plan(
            &[],
            r#"{"servers": {"a": {"kind": "mock", "enabled": false}}}"#,
        )
        .expect_err("refused");
        assert!(matches!(err, PlanError::NothingSelected { .. }), "{err}");
    }
}
