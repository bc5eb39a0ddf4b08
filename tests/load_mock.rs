//! Load modes against the synthetic engine (in-process, 127.0.0.1:0). Timing bounds are
//! loose: these machines are shared; the exact checks are on counts and schedules.

use inferbench::cli::{Fault, LoadArgs};
use inferbench::engine::ApiTarget;
use inferbench::load::report::StepReport;
use inferbench::load::schedule::OpenArrivals;
use inferbench::load::schedule::{LoadSteps, parse_slo, plan_steps};
use inferbench::load::{LoadOptions, LoadPrompt, run_load};
use inferbench::mock::MockConfig;
use inferbench::results::{RunRecord, Sampling};
use std::time::Duration;

mod common;

async fn start(cfg: MockConfig) -> (String, tokio::sync::oneshot::Sender<()>) {
    common::serve_mock(cfg).await
}

fn prompts() -> Vec<LoadPrompt> {
    common::load_prompts(&["p1", "p2", "p3"])
}

fn sampling() -> Sampling {
    Sampling {
        max_tokens: 16,
        temperature: 0.0,
        seed: Some(1),
        top_p: None,
        top_k: None,
        ignore_eos: true,
    }
}

fn opts() -> LoadOptions {
    LoadOptions {
        timeout: Duration::from_secs(30),
        seed: 42,
        template: "chatml".into(),
        count_tokens: None,
        on_record: None,
        scrape: None,
        cache_prompt: false,
        workload: None,
        engine: None,
    }
}

fn cfg(ttft: f64, itl: f64, tokens: u32) -> MockConfig {
    MockConfig {
        ttft_ms: ttft,
        itl_ms: itl,
        tokens,
        ..MockConfig::default()
    }
}

async fn run(base: &str, load: LoadArgs) -> anyhow::Result<(Vec<StepReport>, Vec<Vec<RunRecord>>)> {
    let target = ApiTarget::openai("mock", base, Some("mock".into()), true);
    let mut seen: Vec<Vec<RunRecord>> = Vec::new();
    let mut sink = |_: &StepReport, r: Vec<RunRecord>| -> anyhow::Result<()> {
        seen.push(r);
        Ok(())
    };
    let steps = LoadSteps {
        steps: plan_steps(&inferbench::pipeline::plan::load_spec(&load), 42)?,
        slo: load.slo.as_deref().map(parse_slo).transpose()?,
        preconnect: !load.no_preconnect,
        precision: None,
    };
    let reports = run_load(&target, &prompts(), &sampling(), &steps, &opts(), &mut sink).await?;
    Ok((reports, seen))
}

fn load() -> LoadArgs {
    LoadArgs::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_measures_the_scripted_timing() {
    let (base, _stop) = start(cfg(20.0, 2.0, 16)).await;
    let (reports, records) = run(
        &base,
        LoadArgs {
            concurrency: Some(8),
            requests: Some(64),
            ..load()
        },
    )
    .await
    .unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!((r.requests, r.ok, r.failed, r.warmup), (64, 64, 0, 8));
    assert_eq!(r.max_in_flight, 8);
    assert_eq!(records[0].len(), 72);
    assert_eq!(records[0].iter().filter(|x| x.warmup).count(), 8);
    assert!(
        records[0]
            .iter()
            .all(|x| x.load_step.as_deref() == Some("c=8"))
    );
    // Prompts are cycled.
    assert_eq!(
        records[0].iter().filter(|x| x.prompt_id == "p2").count(),
        24
    );
    let ttft = r.metrics["ttft_ms"].mean;
    let tpot = r.metrics["tpot_ms"].mean;
    assert!((ttft - 20.0).abs() < 5.0, "TTFT {ttft}");
    // Loose: sub-millisecond accuracy is measured by scripts/perf.sh, not here.
    assert!((tpot - 2.0).abs() < 1.0, "TPOT {tpot}");
    assert_eq!(r.output_tokens, 64 * 16);
    // 8 streams of 16 tokens every ~50 ms: about 2,500 tok/s; loose bounds.
    let tps = r.output_tps_steady.or(r.output_tps).unwrap();
    assert!(tps > 800.0 && tps < 4000.0, "{tps}");
    assert!(r.steady.is_some());
    assert!(r.client.cpu_cores.is_some());
    assert!(!r.timeline.is_empty());
    for x in &records[0] {
        assert!(x.ttft_from_scheduled_ms.unwrap() >= x.ttft_ms.unwrap());
        assert!(x.send_lag_ms.unwrap() >= 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_follows_the_seeded_schedule() {
    let (base, _stop) = start(cfg(5.0, 1.0, 4)).await;
    let (reports, records) = run(
        &base,
        LoadArgs {
            rate: Some(100.0),
            requests: Some(40),
            load_warmup: Some(5),
            ..load()
        },
    )
    .await
    .unwrap();
    let r = &reports[0];
    assert_eq!((r.requests, r.ok, r.warmup), (40, 40, 5));
    // The scheduled instants are exactly the seeded arrivals (seed 42, step 0).
    let want: Vec<f64> = OpenArrivals::new(100.0, 1.0, 42)
        .unwrap()
        .take(45)
        .map(|d| d.as_nanos() as f64 / 1e6)
        .collect();
    let mut got: Vec<(u32, f64)> = records[0]
        .iter()
        .map(|x| (x.run_index, x.timeline.as_ref().unwrap().scheduled_ms))
        .collect();
    got.sort_by_key(|x| x.0);
    for (i, (idx, sched)) in got.iter().enumerate() {
        assert_eq!(*idx as usize, i);
        assert!(
            (sched - want[i]).abs() < 1e-6,
            "{i}: {sched} vs {}",
            want[i]
        );
    }
    assert_eq!(r.step, "rate=100/s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_goodput_and_failures() {
    let mut c = cfg(10.0, 1.0, 8);
    c.fault = Some(Fault::Http500);
    c.fault_every = 4;
    let (base, _stop) = start(c).await;
    let (reports, _) = run(
        &base,
        LoadArgs {
            sweep: Some("1,4".into()),
            requests: Some(16),
            load_warmup: Some(0),
            slo: Some("ttft_ms=5000,e2e_ms=10000".into()),
            ..load()
        },
    )
    .await
    .unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].step, "c=1");
    assert_eq!(reports[1].step, "c=4");
    for r in &reports {
        // Every 4th request fails: they stay in goodput's denominator.
        assert_eq!((r.requests, r.failed), (16, 4), "{}", r.step);
        let g = r.goodput.as_ref().unwrap();
        assert_eq!((g.good, g.total), (12, 16));
        assert_eq!(g.fraction, 0.75);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preconnect_reports_connection_time_and_duration_bounds_a_step() {
    let (base, _stop) = start(cfg(10.0, 1.0, 8)).await;
    let (reports, records) = run(
        &base,
        LoadArgs {
            concurrency: Some(4),
            duration: Some(0.5),
            load_warmup: Some(0),
            preconnect: true,
            ..load()
        },
    )
    .await
    .unwrap();
    let r = &reports[0];
    let c = r.connect_ms.as_ref().expect("connection times");
    assert_eq!(c.n, 4);
    assert!(c.mean > 0.0 && c.mean < 100.0, "{}", c.mean);
    // Each request takes ~17 ms; 4 workers for 0.5 s send roughly 120; no request is
    // scheduled after the duration.
    assert!(r.requests > 20 && r.requests < 200, "{}", r.requests);
    let first = records[0]
        .iter()
        .map(|x| x.timeline.as_ref().unwrap().scheduled_ms)
        .fold(f64::INFINITY, f64::min);
    let last = records[0]
        .iter()
        .map(|x| x.timeline.as_ref().unwrap().scheduled_ms)
        .fold(0.0f64, f64::max);
    assert!(last - first < 500.0, "{first}..{last}");
}

#[tokio::test]
async fn bad_flags_are_user_errors() {
    let err = run(
        "http://127.0.0.1:9",
        LoadArgs {
            rate: Some(-1.0),
            ..load()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(inferbench::exit::exit_code(&err), 2);
    let err = run(
        "http://127.0.0.1:9",
        LoadArgs {
            concurrency: Some(2),
            slo: Some("ttft=1".into()),
            ..load()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("unknown objective"), "{err}");
    let err = run("http://127.0.0.1:9", load()).await.unwrap_err();
    assert_eq!(inferbench::exit::exit_code(&err), 2);
}
