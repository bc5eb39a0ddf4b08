//! Server metrics from the real llama-server (installed by scripts/setup.sh), started by
//! inferbench with `--metrics`: a short load step (c=4, 16 requests of the first prompt,
//! 4 tokens, no warm-up) against 2
//! slots, so that requests queue inside the engine. The results must hold time series of
//! its queue, running and KV-cache gauges, each named with its source, and the HTML must
//! plot them. Nothing here is simulated; a missing engine or model fails naming setup.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;
use common::{assert_valid_results, free_port, inferbench};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require_llama() {
    let home = inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set");
    for p in [
        "bin/llama-server",
        "models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf",
    ] {
        assert!(
            home.join(p).exists(),
            "{} is missing: run scripts/setup.sh to install llama-server and the model",
            home.join(p).display()
        );
    }
}

/// The repository's config with only llama-server, on a free port, with 2 slots.
fn config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("benchmark_config.json")).unwrap();
    let mut cfg: Value = serde_json::from_str(&text).unwrap();
    cfg["benchmark"]["max_tokens"] = 4.into();
    let servers = cfg["servers"].as_object_mut().unwrap();
    for (name, s) in servers.iter_mut() {
        let on = name == "llamacpp";
        s["enabled"] = on.into();
        if on {
            s["port"] = free_port().into();
            s["extra_args"] = serde_json::json!(["-np", "2"]);
        }
    }
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    path
}

fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_with_ext(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn series<'a>(m: &'a Value, name: &str) -> &'a Value {
    m["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} series in {m:#}"))
}

fn max_of(s: &Value) -> f64 {
    s["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn a_load_step_records_llama_servers_queue_and_kv_cache_gauges() {
    require_llama();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let t0 = Instant::now();
    let out = inferbench(dir.path())
        .args([
            "api",
            "--quick",
            "--load-warmup",
            "0",
            "--engines",
            "llamacpp",
            "--concurrency",
            "4",
            "--requests",
            "16",
            "--metrics-interval",
            "0.25",
            "--html",
            "--quiet",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 4 in flight against 2 slots is flagged queued_in_engine; the run itself succeeds.
    assert!(out.status.success(), "inferbench api failed: {stderr}");
    let mut json = Vec::new();
    files_with_ext(&dir.path().join("output"), "json", &mut json);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json[0]).unwrap()).unwrap();
    assert_valid_results(&doc);
    let steps = doc["load"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    let m = &steps[0]["server_metrics"];
    assert!(m["scrapes"].as_u64().unwrap() >= 3, "{m:#}");
    assert_eq!(m["failed_scrapes"], 0, "{m:#}");

    let queue = series(m, "queue_depth");
    assert_eq!(queue["metric"], "llamacpp:requests_deferred");
    assert!(queue["endpoint"].as_str().unwrap().ends_with("/metrics"));
    let running = series(m, "running");
    assert_eq!(running["metric"], "llamacpp:requests_processing");
    let kv = series(m, "kv_cache_tokens");
    assert!(kv["endpoint"].as_str().unwrap().ends_with("/slots"));
    let generated = series(m, "generation_tps");
    assert_eq!(generated["read"], "rate");
    // Two slots busy and the other two requests waiting in the engine's queue.
    let (q, r, k, g) = (
        max_of(queue),
        max_of(running),
        max_of(kv),
        max_of(generated),
    );
    assert!((1.0..=2.0).contains(&r), "running max {r}");
    assert!(
        q >= 1.0,
        "queue max {q}: 4 in flight against 2 slots must queue"
    );
    assert!(k > 0.0, "KV cache tokens max {k}");
    assert!(g > 0.0, "generation rate max {g}");
    // Times are on the step's clock: the last scrape is when the step ended.
    let last_t = running["points"].as_array().unwrap().last().unwrap()["t_s"]
        .as_f64()
        .unwrap();
    let end_s = steps[0]["span"]["end_ms"].as_f64().unwrap() / 1000.0;
    let span_s = end_s - steps[0]["span"]["start_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        last_t >= end_s - 0.5 && last_t <= end_s + 2.0,
        "last scrape at {last_t} s, step ended at {end_s} s"
    );
    eprintln!(
        "llama-server c=4 over 2 slots, {} scrapes in {span_s:.1} s: requests_deferred max {q}, requests_processing max {r}, KV cache tokens max {k}, generation {g:.1} tok/s max",
        m["scrapes"]
    );

    let mut html = Vec::new();
    files_with_ext(dir.path(), "html", &mut html);
    let page = std::fs::read_to_string(&html[0]).unwrap();
    assert!(page.contains("<h2>Server metrics</h2>"));
    for name in [
        "llamacpp:requests_deferred",
        "llamacpp:requests_processing",
        "requests waiting and running",
        "KV cache tokens",
    ] {
        assert!(page.contains(name), "{name} not in the HTML");
    }
    let mut md = Vec::new();
    files_with_ext(dir.path(), "md", &mut md);
    let report = std::fs::read_to_string(&md[0]).unwrap();
    assert!(report.contains("## Server metrics"), "{report}");
    eprintln!("took {:.1} s", t0.elapsed().as_secs_f64());
}
