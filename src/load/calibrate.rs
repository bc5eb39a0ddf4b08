//! The client's own error bar, per load step (issue 21): after a step against an engine,
//! the same shape — its concurrency or arrival rate, its output length, TTFT and TPOT
//! scripted at the engine's measured medians — is sent to the built-in synthetic engine
//! ([`crate::mock`]) on this host, and what the client measured there minus the script
//! is the client's error at that load ([`crate::measure::calibration`]).
//!
//! The synthetic engine runs on a runtime and OS thread of its own, so its timers do not
//! queue behind the client's tasks; it shares this host's cores with the client, as the
//! engine did. Its own lateness is part of the error: an upper bound on the client's.
//! A calibration that fails is recorded as skipped with the reason; it never fails the run.

use super::executor::{LoadOptions, LoadPrompt, run_load};
use super::schedule::{LoadSteps, Step};
use crate::client::Protocol;
use crate::engine::ApiTarget;
use crate::measure::calibration::{CalibrationPlan, error_bar, plan};
use crate::mock::MockConfig;
use crate::results::metric::{E2E, TPOT, TTFT};
use crate::results::{Calibration, RunRecord, Sampling, StepReport};
use anyhow::Context;
use std::time::Instant;

/// What the step measured that the script is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub ttft_ms: f64,
    pub tpot_ms: f64,
    pub output_tokens: u32,
    /// Estimated duration of one request, s.
    pub e2e_s: f64,
    /// The step's span, s.
    pub span_s: f64,
}

/// The script of a step: its median TTFT and TPOT, its mean delivered length (at least
/// 2 tokens, so a TPOT exists), its median E2E (else TTFT + tokens × TPOT). Pure; `None`
/// when the step has no TTFT or TPOT.
pub fn script_of(report: &StepReport) -> Option<Script> {
    let p50 = |name: &str| report.metrics.get(name).map(|s| s.p50);
    let (ttft_ms, tpot_ms) = (p50(TTFT.name)?, p50(TPOT.name)?);
    let tokens = if report.ok > 0 {
        (report.output_tokens as f64 / report.ok as f64).round()
    } else {
        0.0
    };
    let output_tokens = tokens.clamp(2.0, f64::from(u32::MAX)) as u32;
    let e2e_ms = p50(E2E.name).unwrap_or(ttft_ms + f64::from(output_tokens - 1) * tpot_ms);
    let span_s = report.span.as_ref().map(|w| w.seconds()).unwrap_or(0.0);
    Some(Script {
        ttft_ms,
        tpot_ms,
        output_tokens,
        e2e_s: e2e_ms / 1000.0,
        span_s,
    })
}

/// A calibration that did not run, saying why.
fn skipped(full: bool, why: String, script: Option<&Script>) -> Calibration {
    Calibration {
        full,
        skipped: Some(why),
        scripted_ttft_ms: script.map(|s| s.ttft_ms),
        scripted_tpot_ms: script.map(|s| s.tpot_ms),
        output_tokens: script.map(|s| s.output_tokens).unwrap_or(0),
        requests: 0,
        ok: 0,
        ttft_error_ms: None,
        tpot_error_ms: None,
        wall_s: 0.0,
        cost_pct: None,
    }
}

/// Calibrate one finished step (`report`, run as `step` against `target`): all its
/// requests again with `full` (`--calibrate`), else the cheap default or nothing.
pub async fn calibrate_step(
    target: &ApiTarget,
    report: &StepReport,
    step: &Step,
    prompts: &[LoadPrompt],
    sampling: &Sampling,
    opts: &LoadOptions,
    full: bool,
) -> Calibration {
    let Some(script) = script_of(report) else {
        return skipped(
            full,
            "the step has no TTFT or TPOT to script (no successful multi-token reply)".into(),
            None,
        );
    };
    let requests = match plan(
        step.arrival,
        report.requests,
        script.span_s,
        script.e2e_s,
        full,
    ) {
        CalibrationPlan::Run { requests } => requests,
        CalibrationPlan::Skip(why) => return skipped(full, why, Some(&script)),
    };
    let t0 = Instant::now();
    match against_mock(
        target, &script, step, requests, full, prompts, sampling, opts,
    )
    .await
    {
        Ok(records) => {
            let ok: Vec<&RunRecord> = records.iter().filter(|r| r.ok && !r.warmup).collect();
            let of = |f: fn(&RunRecord) -> Option<f64>| ok.iter().filter_map(|r| f(r)).collect();
            let ttft: Vec<f64> = of(|r| r.ttft_ms);
            let tpot: Vec<f64> = of(|r| r.tpot_ms);
            let wall_s = t0.elapsed().as_secs_f64();
            Calibration {
                full,
                skipped: None,
                scripted_ttft_ms: Some(script.ttft_ms),
                scripted_tpot_ms: Some(script.tpot_ms),
                output_tokens: script.output_tokens,
                requests: records.iter().filter(|r| !r.warmup).count() as u64,
                ok: ok.len() as u64,
                ttft_error_ms: error_bar(&ttft, script.ttft_ms),
                tpot_error_ms: error_bar(&tpot, script.tpot_ms),
                wall_s,
                cost_pct: (script.span_s > 0.0).then(|| 100.0 * wall_s / script.span_s),
            }
        }
        Err(e) => skipped(
            full,
            format!("the synthetic engine run failed: {e:#}"),
            Some(&script),
        ),
    }
}

/// `requests` of `step`'s shape against a synthetic engine scripted by `script`; its
/// records (warm-up included, marked).
#[allow(clippy::too_many_arguments)]
async fn against_mock(
    target: &ApiTarget,
    script: &Script,
    step: &Step,
    requests: u64,
    full: bool,
    prompts: &[LoadPrompt],
    sampling: &Sampling,
    opts: &LoadOptions,
) -> anyhow::Result<Vec<RunRecord>> {
    let cfg = MockConfig {
        ttft_ms: script.ttft_ms.max(0.0),
        itl_ms: script.tpot_ms.max(0.0),
        tokens: script.output_tokens,
        model: "calibration".into(),
        ..MockConfig::default()
    };
    let mock = MockHost::start(cfg).await?;
    let chat = matches!(target.protocol, Protocol::OpenAiChat);
    let mock_target =
        ApiTarget::openai("calibration", &mock.base, Some("calibration".into()), chat);
    let mut sampling = sampling.clone();
    sampling.max_tokens = script.output_tokens;
    sampling.ignore_eos = true;
    let load = LoadSteps {
        steps: vec![Step {
            index: 0,
            requests: Some(requests),
            duration: None,
            // The cheap default skips the warm-up (its cost counts); --calibrate keeps the
            // step's.
            warmup: if full { step.warmup } else { 0 },
            shard: None,
            not_before_unix_ns: None,
            ..step.clone()
        }],
        slo: None,
        preconnect: true,
        precision: None,
    };
    let opts = LoadOptions {
        count_tokens: None,
        on_record: None,
        scrape: None,
        workload: None,
        engine: None,
        ..opts.clone()
    };
    let mut records = Vec::new();
    let mut sink = |_: &StepReport, r: Vec<RunRecord>| -> anyhow::Result<()> {
        records.extend(r);
        Ok(())
    };
    let result = run_load(&mock_target, prompts, &sampling, &load, &opts, &mut sink).await;
    mock.stop().await;
    result?;
    Ok(records)
}

/// The synthetic engine on 127.0.0.1:0, on a runtime and OS thread of its own.
struct MockHost {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl MockHost {
    async fn start(cfg: MockConfig) -> anyhow::Result<MockHost> {
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<std::io::Result<String>>();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("calibration-engine".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = addr_tx.send(Err(e));
                            return;
                        }
                    };
                    let addr = listener.local_addr().map(|a| format!("http://{a}"));
                    let _ = addr_tx.send(addr);
                    let shutdown = async {
                        let _ = stop_rx.await;
                    };
                    if let Err(e) = crate::mock::serve(listener, cfg, shutdown).await {
                        tracing::warn!("calibration engine: {e:#}");
                    }
                });
            })
            .context("starting the calibration engine's thread")?;
        let base = addr_rx
            .await
            .context("the calibration engine's thread ended before it listened")?
            .context("binding the calibration engine on 127.0.0.1")?;
        Ok(MockHost { base, stop, thread })
    }

    /// Stop it and wait for its thread (off the runtime: joining blocks).
    async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::summarize;
    use crate::results::Window;

    #[test]
    fn the_script_is_the_steps_medians_and_mean_length() {
        let mut r: StepReport = serde_json::from_value(serde_json::json!({
            "engine": "e", "step": "c=2", "index": 0,
            "arrival": {"kind": "closed", "concurrency": 2},
            "warmup": 0, "requests": 3, "ok": 3, "failed": 0, "in_flight": 2,
            "max_in_flight": 2, "span": null, "steady": null, "ramp_up_s": null,
            "drain_s": null, "output_tokens": 95, "output_tps": null,
            "output_tps_steady": null, "request_rps": null, "timeline": [],
            "goodput": null, "metrics": {}, "inference": {},
            "client": {"send_lag_ms": null, "cpu_cores": null, "cores_available": 2,
                       "bottleneck": false, "reasons": []},
            "connect_ms": null, "flags": []
        }))
        .unwrap();
        assert_eq!(script_of(&r), None);
        r.metrics
            .insert("ttft_ms".into(), summarize(&[10.0, 20.0, 40.0]).unwrap());
        r.metrics
            .insert("tpot_ms".into(), summarize(&[2.0, 3.0, 4.0]).unwrap());
        r.span = Some(Window {
            start_ms: 500.0,
            end_ms: 2500.0,
        });
        // 95 tokens over 3 replies → 32 (31.67 rounded); E2E = 20 + 31 × 3 ms.
        let s = script_of(&r).unwrap();
        assert_eq!(
            s,
            Script {
                ttft_ms: 20.0,
                tpot_ms: 3.0,
                output_tokens: 32,
                e2e_s: 0.113,
                span_s: 2.0
            }
        );
    }
}
