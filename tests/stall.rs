//! A load step never stalls (issue 18). Against the synthetic engine (in-process,
//! 127.0.0.1:0): a server with a thread per connection (`--http-threads`, as
//! llama-server's cpp-httplib) gets no more connections than a closed loop's concurrency,
//! so no request waits unread behind a busy thread; and an engine that drops a request
//! (`--fault lose`: read, never answered, `/slots` idle) gets that request failed within
//! seconds, with the reason, while the step goes on. Bounds are loose (shared cores): a
//! request stuck behind a busy thread waits at least the client's 4 s idle limit.

use inferbench::cli::{Fault, LoadArgs};
use inferbench::engine::ApiTarget;
use inferbench::load::report::StepReport;
use inferbench::load::schedule::{LoadSteps, plan_steps};
use inferbench::load::{LoadOptions, LoadPrompt, run_load};
use inferbench::mock::MockConfig;
use inferbench::results::{RunRecord, Sampling};
use std::time::{Duration, Instant};

mod common;

async fn start(cfg: MockConfig) -> (String, tokio::sync::oneshot::Sender<()>) {
    common::serve_mock(cfg).await
}

fn prompts() -> Vec<LoadPrompt> {
    common::load_prompts(&["p0", "p1", "p2"])
}

fn sampling() -> Sampling {
    Sampling {
        max_tokens: 4,
        temperature: 0.0,
        seed: Some(1),
        top_p: None,
        top_k: None,
        ignore_eos: true,
    }
}

fn opts(timeout_s: u64) -> LoadOptions {
    LoadOptions {
        timeout: Duration::from_secs(timeout_s),
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

async fn run(base: &str, load: LoadArgs, timeout_s: u64) -> (Vec<StepReport>, Vec<Vec<RunRecord>>) {
    let target = ApiTarget::openai("mock", base, Some("mock".into()), true);
    let mut seen: Vec<Vec<RunRecord>> = Vec::new();
    let mut sink = |_: &StepReport, r: Vec<RunRecord>| -> anyhow::Result<()> {
        seen.push(r);
        Ok(())
    };
    let steps = LoadSteps {
        steps: plan_steps(&inferbench::pipeline::plan::load_spec(&load), 42).unwrap(),
        slo: None,
        preconnect: !load.no_preconnect,
        precision: None,
    };
    let reports = run_load(
        &target,
        &prompts(),
        &sampling(),
        &steps,
        &opts(timeout_s),
        &mut sink,
    )
    .await
    .unwrap();
    (reports, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_per_connection_server_gets_no_request_stuck_behind_a_busy_thread() {
    let (base, _stop) = start(MockConfig {
        ttft_ms: 2.0,
        itl_ms: 1.0,
        tokens: 4,
        http_threads: Some(4),
        ..MockConfig::default()
    })
    .await;
    let (reports, records) = run(
        &base,
        LoadArgs {
            sweep: Some("1,4".into()),
            requests: Some(300),
            ..LoadArgs::default()
        },
        60,
    )
    .await;
    assert_eq!(reports.len(), 2);
    for (r, recs) in reports.iter().zip(&records) {
        assert_eq!(
            (r.requests, r.ok, r.failed),
            (300, 300, 0),
            "step {}",
            r.step
        );
        let worst = recs
            .iter()
            .filter_map(|x| x.ttft_ms)
            .fold(0.0_f64, f64::max);
        assert!(
            worst < 2000.0,
            "step {}: a request waited {worst:.0} ms for its first token: it sat unread on a connection the server had no thread for",
            r.step
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_engine_dropped_fails_within_seconds_and_the_step_goes_on() {
    let (base, _stop) = start(MockConfig {
        ttft_ms: 5.0,
        itl_ms: 1.0,
        tokens: 4,
        fault: Some(Fault::Lose),
        fault_every: 10,
        ..MockConfig::default()
    })
    .await;
    let t0 = Instant::now();
    let (reports, records) = run(
        &base,
        LoadArgs {
            concurrency: Some(2),
            requests: Some(30),
            no_preconnect: true,
            ..LoadArgs::default()
        },
        300,
    )
    .await;
    let took = t0.elapsed();
    let r = &reports[0];
    let lost: Vec<&RunRecord> = records[0].iter().filter(|x| !x.ok).collect();
    // Requests 10, 20, 30 of 32 sent (2 warm-up) are dropped by the engine.
    assert_eq!(lost.len(), 3, "{lost:#?}");
    assert_eq!(r.ok + r.failed, 30);
    for x in &lost {
        let why = x.error.as_deref().unwrap_or_default();
        assert!(why.contains("no answer while the engine was idle"), "{why}");
        assert!(why.contains("said it was idle"), "{why}");
        assert!(
            why.contains("read the request and never answered it"),
            "where it sat: {why}"
        );
    }
    assert!(
        took < Duration::from_secs(60),
        "the step took {took:?} (request timeout 300 s)"
    );
}
