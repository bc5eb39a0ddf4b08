//! `inferbench api` with a load mode (`--concurrency`, `--rate`, `--sweep`): prompts and
//! sampling from the settings, the load steps against each target, every record written
//! through to the JSONL as its step ends, then the results document and reports.
//!
//! [`run_api_load`] handles a server given with `--url`. For engines that inferbench
//! starts itself, the runner calls [`load_target`] between starting and stopping each
//! engine, then [`finish`].

use super::executor::{LoadOptions, LoadPrompt, TokenCounter, run_load};
use super::report::StepReport;
use crate::cli::{ApiArgs, Endpoint};
use crate::config::Settings;
use crate::engine::ApiTarget;
use crate::error::{AllRunsFailed, UserError};
use crate::output::Session;
use crate::results::{EngineInfo, Mode, ResultsDoc, RunRecord};
use anyhow::Context;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// The prompt suite rendered for load runs, and the template's name.
pub fn prompts_for(settings: &Settings) -> anyhow::Result<(Vec<LoadPrompt>, String)> {
    let (system, prompts) = crate::prompt::suite::suite_for(settings)?;
    let template = crate::prompt::template::ChatTemplate::resolve(
        &settings.chat_template,
        &settings.base_dir,
    )?;
    let out = prompts
        .iter()
        .map(|p| {
            Ok(LoadPrompt {
                id: p.id.clone(),
                tier: p.tier.as_str().to_string(),
                input: template.prompt_input(&system, &p.text)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((out, template.name))
}

/// Load options from the settings (timeout, seed, tokenizer for servers without usage).
pub fn options_for(
    settings: &Settings,
    template: &str,
    tokenizer: Option<&std::path::Path>,
) -> anyhow::Result<LoadOptions> {
    let count_tokens: Option<TokenCounter> = match tokenizer.or(settings.tokenizer.as_deref()) {
        Some(path) => {
            // Loaded on first use: under load the server's usage is the count, and a large
            // vocabulary (Gemma's 262k) would otherwise cost ~300 MB of client memory.
            if !path.is_file() {
                return Err(UserError::new(format!(
                    "tokenizer {} does not exist: run scripts/setup.sh or fix inferbench.tokenizer",
                    path.display()
                ))
                .into());
            }
            let path = path.to_path_buf();
            let lazy: std::sync::OnceLock<Option<crate::prompt::tokenizer::TokenCounter>> =
                std::sync::OnceLock::new();
            Some(Arc::new(move |text: &str| {
                lazy.get_or_init(|| {
                    match crate::prompt::tokenizer::TokenCounter::from_file(&path) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            tracing::warn!("cannot load tokenizer {}: {e:#}", path.display());
                            None
                        }
                    }
                })
                .as_ref()
                .and_then(|t| t.count(text).ok())
            }))
        }
        None => None,
    };
    Ok(LoadOptions {
        timeout: Duration::from_secs_f64(settings.timeout_seconds),
        seed: settings.seed,
        template: template.to_string(),
        count_tokens,
    })
}

/// Run the load steps against one target, appending every record to the session as each
/// step ends. Returns the step reports.
pub async fn load_target(
    target: &ApiTarget,
    prompts: &[LoadPrompt],
    settings: &Settings,
    args: &ApiArgs,
    opts: &LoadOptions,
    session: &mut Session,
) -> anyhow::Result<Vec<StepReport>> {
    let mut sink = |report: &StepReport, records: Vec<RunRecord>| -> anyhow::Result<()> {
        for r in records {
            session.record(r)?;
        }
        session.log(&step_line(report));
        if !args.output.quiet {
            eprintln!("{}", step_line(report));
        }
        Ok(())
    };
    run_load(
        target,
        prompts,
        &settings.sampling(),
        &args.load,
        opts,
        &mut sink,
    )
    .await
}

/// One line per finished step, for the log and the terminal.
pub fn step_line(r: &StepReport) -> String {
    let m = |k: &str| r.metrics.get(k);
    let f = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or("–".into());
    let mut s = format!(
        "{} {}: {} requests ({} failed), TTFT mean {} p99 {} ms, TPOT mean {} ms, {} tok/s steady ({} span), {} req/s",
        r.engine,
        r.step,
        r.requests,
        r.failed,
        f(m("ttft_ms").map(|x| x.mean)),
        f(m("ttft_ms").map(|x| x.p99)),
        f(m("tpot_ms").map(|x| x.mean)),
        f(r.output_tps_steady),
        f(r.output_tps),
        f(r.request_rps),
    );
    if let Some(g) = &r.goodput {
        let _ = write!(s, ", goodput {:.1}%", 100.0 * g.fraction);
    }
    for flag in &r.flags {
        let _ = write!(s, " [{}: {}]", flag.kind, flag.message);
    }
    s
}

/// The per-step table printed at the end.
pub fn console_table(reports: &[StepReport]) -> String {
    let mut rows: Vec<[String; 12]> = vec![[
        "engine".into(),
        "step".into(),
        "requests".into(),
        "failed".into(),
        "TTFT mean ms".into(),
        "TTFT p99 ms".into(),
        "TTFT p99 sched ms".into(),
        "TPOT mean ms".into(),
        "tok/s steady".into(),
        "req/s".into(),
        "lag p99 ms".into(),
        "client CPU".into(),
    ]];
    let f = |x: Option<f64>, p: usize| x.map(|v| format!("{v:.p$}")).unwrap_or("–".into());
    for r in reports {
        let m = |k: &str| r.metrics.get(k);
        rows.push([
            r.engine.clone(),
            r.step.clone(),
            r.requests.to_string(),
            r.failed.to_string(),
            f(m("ttft_ms").map(|x| x.mean), 3),
            f(m("ttft_ms").map(|x| x.p99), 3),
            f(m("ttft_from_scheduled_ms").map(|x| x.p99), 3),
            f(m("tpot_ms").map(|x| x.mean), 4),
            f(r.output_tps_steady.or(r.output_tps), 0),
            f(r.request_rps, 1),
            f(r.client.send_lag_ms.as_ref().map(|x| x.p99), 3),
            match r.client.cpu_cores {
                Some(c) => format!(
                    "{:.0}%{}",
                    100.0 * c,
                    if r.client.bottleneck { " (!)" } else { "" }
                ),
                None => "–".into(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..12)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 2 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(s, "{}", cells.join("  ").trim_end());
    }
    s
}

/// Write the results document and reports for a finished load run; exit code 0, or an
/// [`AllRunsFailed`] error when no measured request succeeded.
pub fn finish(
    settings: &Settings,
    args: &ApiArgs,
    started_at: String,
    engines: Vec<EngineInfo>,
    load: Vec<StepReport>,
    session: &mut Session,
) -> anyhow::Result<i32> {
    let runs = session.records().to_vec();
    let doc = ResultsDoc::assemble(Mode::Api, settings, started_at, engines, runs, load);
    session.write_exports(&doc, args.output.html, args.output.csv)?;
    if !args.output.quiet {
        print!("{}", console_table(&doc.load));
        println!("results: {}", session.paths.json.display());
    }
    let measured: Vec<&RunRecord> = doc.runs.iter().filter(|r| !r.warmup).collect();
    if !measured.is_empty() && measured.iter().all(|r| !r.ok) {
        return Err(AllRunsFailed(measured.len()).into());
    }
    Ok(0)
}

/// `inferbench api --url URL [--model M] --concurrency N | --rate R | --sweep STEPS`.
pub async fn run_api_load(args: &ApiArgs) -> anyhow::Result<i32> {
    let settings = args.common.settings()?;
    let (prompts, template) = prompts_for(&settings)?;
    let opts = options_for(&settings, &template, args.tokenizer.as_deref())?;
    let started_at = chrono::Local::now().to_rfc3339();
    let mut session = Session::create(
        &args.output.out_dir,
        Mode::Api,
        settings.num_runs,
        &crate::output::stamp_now(),
    )?;
    let mut engines = Vec::new();
    let mut reports = Vec::new();
    if let Some(url) = args.url.as_deref() {
        let name = args.model.clone().unwrap_or_else(|| "server".to_string());
        let target = ApiTarget::openai(
            &name,
            url,
            args.model.clone(),
            args.endpoint == Endpoint::Chat,
        );
        session.log(&format!(
            "load run against {} ({}), template {template}",
            target.url(),
            name
        ));
        reports.extend(load_target(&target, &prompts, &settings, args, &opts, &mut session).await?);
        engines.push(EngineInfo {
            engine: name,
            kind: target.kind.clone(),
            mode: Some(Mode::Api),
            base_url: Some(target.base_url.clone()),
            template: Some(template.clone()),
            notes: vec!["server given with --url; not started by inferbench".into()],
            ..EngineInfo::default()
        });
    } else {
        crate::process::install_signal_handlers().context("installing signal handlers")?;
        let keys: Vec<String> = settings
            .file
            .servers
            .iter()
            .filter(|(k, s)| settings.selected(k, s))
            .map(|(k, _)| k.clone())
            .collect();
        if keys.is_empty() {
            return Err(UserError::new(
                "no engine selected: enable one in the config's `servers` section, name one with --engines, or give --url",
            )
            .into());
        }
        // One engine at a time: under load an engine must have the machine to itself.
        for key in keys {
            let running = crate::server::start(&settings, &key, &session.paths.logging_dir)
                .await
                .with_context(|| format!("starting engine `{key}`"))?;
            session.log(&format!(
                "load run against {} ({key}), template {template}",
                running.target.url()
            ));
            let outcome = load_target(
                &running.target,
                &prompts,
                &settings,
                args,
                &opts,
                &mut session,
            )
            .await;
            let mut info = running.info.clone();
            info.template = Some(template.clone());
            if let Err(e) = running.stop().await {
                session.log(&format!("stopping {key}: {e:#}"));
            }
            reports.extend(outcome?);
            engines.push(info);
        }
    }
    finish(&settings, args, started_at, engines, reports, &mut session)
}
