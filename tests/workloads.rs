//! `--workload` end to end: bad specs exit 2 before any engine starts; a replayed trace of
//! 100 timestamped requests against the synthetic engine keeps to its schedule; sessions
//! and files go through the load executor; and against the real llama-server (installed by
//! scripts/setup.sh) a synthetic workload gets exactly the lengths it asked for and the
//! prompt cache is on or off as the setting says.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

mod common;
use common::{assert_valid_results, free_port, inferbench, mock_engine};

/// The tests of this file run one at a time: the trace test measures send lag, which a
/// neighbour test loading a tokenizer or a model on the same two cores would disturb.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn home() -> PathBuf {
    inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set")
}

fn tokenizer() -> PathBuf {
    let p = home().join("models/gemma-3-270m/tokenizer/tokenizer.json");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/workloads")
        .join(name)
        .display()
        .to_string()
}

/// The results document written under `out`.
fn results(out: &Path) -> Value {
    let dir = out.join("output");
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a results JSON");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_valid_results(&doc);
    doc
}

fn runs(doc: &Value) -> Vec<&Value> {
    doc["runs"].as_array().expect("runs").iter().collect()
}

/// p-quantile (nearest rank) of `v`.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

#[test]
fn bad_workloads_exit_2_before_any_engine_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--workload", "synthetic:in=256", "--concurrency", "1"],
            "out= is required",
        ),
        (
            &["--workload", "synthetic:in=256,out=8"],
            "needs a load mode",
        ),
        (
            &["--workload", "zipf:x", "--concurrency", "1"],
            "unknown source \"zipf\"",
        ),
        (
            &["--workload", "trace:t.jsonl", "--rate", "2"],
            "replayed on its own timestamps",
        ),
        (
            &["--workload", "multiturn:turns=2,in=8,out=4", "--rate", "2"],
            "give --concurrency N",
        ),
        (&["--cache-prompt", "maybe"], "give on or off"),
    ];
    for (args, want) in cases {
        let out = inferbench(dir.path())
            .args(["api", "--url", "http://127.0.0.1:9", "--model", "m", "-q"])
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: want {want:?} in {stderr}");
    }
}

#[test]
fn a_replayed_trace_keeps_to_its_schedule() {
    let _serial = serial();
    let mock = mock_engine(&["--ttft-ms", "5", "--itl-ms", "1", "--tokens", "8"]);
    let dir = tempfile::tempdir().unwrap();
    let trace = fixture("trace_100.jsonl");
    let out = inferbench(dir.path())
        .args(["api", "--url", &mock.url, "--model", "mock", "-q"])
        .args(["--workload", &format!("trace:{trace},block=16")])
        .args(["--tokenizer", &tokenizer().display().to_string()])
        .args(["--out-dir", &dir.path().display().to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc = results(dir.path());
    let w = &doc["workload"];
    assert_eq!(w["source"], "trace");
    assert_eq!(w["requests"], 100);
    assert_eq!(w["seed"], 42);
    assert_eq!(w["params"]["block"], "16");
    assert!(
        w["content_hash"].as_str().unwrap().starts_with("fnv1a64:"),
        "{w}"
    );
    let runs = runs(&doc);
    assert_eq!(runs.len(), 100, "every line of the trace, no warm-up");
    assert!(runs.iter().all(|r| r["ok"] == true && r["warmup"] == false));
    assert!(runs.iter().all(|r| r["load_step"] == "trace"));
    // Scheduled instants follow the trace's timestamps (ms), from the first.
    let lines: Vec<Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut sched: Vec<f64> = runs
        .iter()
        .map(|r| r["timeline"]["scheduled_ms"].as_f64().unwrap())
        .collect();
    sched.sort_by(f64::total_cmp);
    let t0 = sched[0];
    for (s, l) in sched.iter().zip(&lines) {
        let want = l["timestamp"].as_f64().unwrap();
        assert!(
            (s - t0 - want).abs() < 0.01,
            "scheduled {} ms vs trace {want} ms",
            s - t0
        );
    }
    let lag: Vec<f64> = runs
        .iter()
        .map(|r| r["send_lag_ms"].as_f64().unwrap())
        .collect();
    let p99 = quantile(lag.clone(), 0.99);
    let p50 = quantile(lag, 0.5);
    eprintln!("trace replay, 100 requests: send lag p50 {p50:.3} ms, p99 {p99:.3} ms");
    let mut worst: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| {
            (
                r["send_lag_ms"].as_f64().unwrap(),
                r["timeline"]["scheduled_ms"].as_f64().unwrap() - t0,
            )
        })
        .collect();
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("largest send lags (ms, at scheduled ms): {:?}", &worst[..3]);
    // The target is 1 ms at p99 (1.3 ms measured here at a quiet moment, debug build). On
    // this shared 2-core VM at load 7 a descheduled client shows 15-25 ms at p99, so the
    // bounds are loose: most requests on time, none far off.
    let p90 = quantile(
        runs.iter()
            .map(|r| r["send_lag_ms"].as_f64().unwrap())
            .collect(),
        0.9,
    );
    assert!(p90 < 5.0, "send lag p90 {p90:.3} ms");
    assert!(p99 < 50.0, "send lag p99 {p99:.3} ms");
    // Latency from the scheduled instant is reported for every request.
    assert!(
        runs.iter().all(
            |r| r["ttft_from_scheduled_ms"].as_f64().unwrap() >= r["ttft_ms"].as_f64().unwrap()
        )
    );
    assert!(
        runs.iter()
            .all(|r| r["workload_item"].as_str().unwrap().starts_with("trace-"))
    );
}

#[test]
fn sessions_sharegpt_and_jsonl_go_through_the_executor() {
    let _serial = serial();
    let mock = mock_engine(&["--ttft-ms", "2", "--itl-ms", "1", "--tokens", "4"]);
    let dir = tempfile::tempdir().unwrap();
    let run = |workload: &str, extra: &[&str], sub: &str| -> Value {
        let out_dir = dir.path().join(sub);
        let out = inferbench(dir.path())
            .args(["api", "--url", &mock.url, "--model", "mock", "-q"])
            .args(["--workload", workload, "--load-warmup", "0"])
            .args(["--tokenizer", &tokenizer().display().to_string()])
            .args(["--out-dir", &out_dir.display().to_string()])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{workload}: {stderr}");
        results(&out_dir)
    };
    // Two users, sessions of three turns: each session's turns go in order, one after
    // the other's end.
    let doc = run(
        "multiturn:turns=3,in=12,out=4,think_ms=20",
        &["--concurrency", "2", "--requests", "12"],
        "multiturn",
    );
    assert_eq!(doc["workload"]["sessions"], 4);
    let recs = runs(&doc);
    assert_eq!(recs.len(), 12);
    let mut by_session: std::collections::BTreeMap<String, Vec<(u32, f64, f64)>> =
        Default::default();
    for r in &recs {
        let id = r["prompt_id"].as_str().unwrap();
        let (s, t) = id.split_once("/t").unwrap();
        let tl = &r["timeline"];
        let sent = tl["sent_ms"].as_f64().unwrap();
        let end = sent + tl["end_ms"].as_f64().unwrap();
        by_session
            .entry(s.to_string())
            .or_default()
            .push((t.parse().unwrap(), sent, end));
        assert_eq!(r["tier"], "multiturn");
    }
    assert_eq!(by_session.len(), 4);
    for (s, mut turns) in by_session {
        turns.sort_by_key(|t| t.0);
        assert_eq!(
            turns.iter().map(|t| t.0).collect::<Vec<_>>(),
            vec![0, 1, 2],
            "{s}"
        );
        for w in turns.windows(2) {
            assert!(
                w[1].1 >= w[0].2 + 19.0,
                "{s}: turn {} sent {} ms, before the previous ended at {} ms + think",
                w[1].0,
                w[1].1,
                w[0].2
            );
        }
    }
    // Sharded: two workers of the same multi-turn step hold disjoint sessions.
    let sessions_of = |shard: &str| -> std::collections::BTreeSet<String> {
        let doc = run(
            "multiturn:turns=3,in=12,out=4",
            &["--concurrency", "2", "--requests", "12", "--shard", shard],
            &format!("multiturn-shard-{}", shard.replace('/', "of")),
        );
        runs(&doc)
            .iter()
            .map(|r| {
                let id = r["prompt_id"].as_str().unwrap();
                id.split_once("/t").unwrap().0.to_string()
            })
            .collect()
    };
    let (first, second) = (sessions_of("0/2"), sessions_of("1/2"));
    assert!(
        !first.is_empty() && !second.is_empty(),
        "{first:?} {second:?}"
    );
    assert!(
        first.is_disjoint(&second),
        "both workers sent sessions {:?}",
        first.intersection(&second).collect::<Vec<_>>()
    );
    // ShareGPT first turns with the recorded answers' lengths; a JSONL prompt file.
    let doc = run(
        &format!("sharegpt:{}", fixture("sharegpt.json")),
        &["--concurrency", "1", "--requests", "3"],
        "sharegpt",
    );
    assert_eq!(doc["workload"]["requests"], 3);
    let ids: std::collections::BTreeSet<&str> = runs(&doc)
        .iter()
        .map(|r| r["prompt_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c1", "c2", "c3"].into_iter().collect());
    let doc = run(
        &format!("jsonl:{}", fixture("prompts.jsonl")),
        &["--concurrency", "1", "--requests", "2"],
        "jsonl",
    );
    let recs = runs(&doc);
    let p1 = recs.iter().find(|r| r["prompt_id"] == "p1").unwrap();
    assert_eq!(p1["sampling"]["max_tokens"], 6);
    assert_eq!(p1["sampling"]["ignore_eos"], true);
    let p2 = recs.iter().find(|r| r["prompt_id"] == "p2").unwrap();
    assert_eq!(p2["sampling"]["ignore_eos"], false);
}

/// A config with the real llama-server as the only engine.
fn llama_config(dir: &Path) -> PathBuf {
    let model = home().join("models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf");
    assert!(
        model.is_file(),
        "{} is missing: run scripts/setup.sh",
        model.display()
    );
    let cfg = json!({
        "benchmark": {"max_tokens": 32, "temperature": 0.0, "num_runs": 1, "timeout_seconds": 120},
        "servers": {"llamacpp": {"port": free_port(), "model_path": model.display().to_string(),
                                  "startup_timeout": 120, "api_endpoint": "/completion"}},
        "inferbench": {"chat_template": "gemma3", "threads": 2, "stop_grace_seconds": 3,
                        "tokenizer": tokenizer().display().to_string()}
    });
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    path
}

fn llama_run(dir: &Path, sub: &str, args: &[&str]) -> Value {
    let cfg = llama_config(dir);
    let out_dir = dir.join(sub);
    let out = inferbench(dir)
        .args(["api", "--config", &cfg.display().to_string(), "-q"])
        .args(["--engines", "llamacpp", "--load-warmup", "0"])
        .args(["--out-dir", &out_dir.display().to_string()])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    results(&out_dir)
}

/// Requests of the synthetic 256/128 test (the 200 take ~5 min on 2 cores; the
/// book's Workloads section, docs/book/src/load.md, gives the command and the figure of
/// that run).
const SYNTHETIC_REQUESTS: usize = 4;

#[test]
fn real_llama_server_synthetic_lengths_are_exact() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let n = SYNTHETIC_REQUESTS.to_string();
    let doc = llama_run(
        dir.path(),
        "synthetic",
        &[
            "--workload",
            "synthetic:in=256,out=128",
            "--concurrency",
            "2",
            "--requests",
            &n,
        ],
    );
    assert_eq!(doc["workload"]["source"], "synthetic");
    let runs = runs(&doc);
    assert_eq!(runs.len(), SYNTHETIC_REQUESTS);
    for r in &runs {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["prompt_tokens_source"], "usage", "{r}");
        assert_eq!(r["prompt_tokens"], 256, "{}", r["prompt_id"]);
        assert_eq!(r["output_tokens"], 128, "{}", r["prompt_id"]);
        assert_eq!(r["output_tokens_source"], "usage");
        assert_eq!(
            r["cached_prompt_tokens"], 0,
            "cache_prompt is off by default"
        );
    }
}

#[test]
fn real_llama_server_prefix_cache_on_and_off() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let workload = "prefix:groups=2,prefix=120,suffix=8,per_group=3,out=2";
    let base = [
        "--workload",
        workload,
        "--concurrency",
        "1",
        "--requests",
        "6",
    ];
    let on = llama_run(
        dir.path(),
        "on",
        &[&base[..], &["--cache-prompt", "on"]].concat(),
    );
    for r in runs(&on) {
        assert_eq!(r["ok"], true, "{r}");
        let cached = r["cached_prompt_tokens"].as_u64().expect("llama.cpp says");
        let id = r["prompt_id"].as_str().unwrap();
        if !id.ends_with("-s0") {
            // A later request of the group reuses at least its 120-token prefix.
            assert!(cached >= 120, "{id}: {cached} cached tokens");
        }
        assert!(
            r["flags"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["kind"] != "served_from_prompt_cache"),
            "caching on: no flag"
        );
    }
    assert_eq!(on["config"]["settings"]["cache_prompt"]["value"], true);
    let off = llama_run(dir.path(), "off", &base);
    for r in runs(&off) {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["cached_prompt_tokens"], 0, "{}", r["prompt_id"]);
        assert!(
            r["flags"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["kind"] != "served_from_prompt_cache")
        );
    }
    assert_eq!(
        on["workload"]["content_hash"],
        off["workload"]["content_hash"]
    );
}
