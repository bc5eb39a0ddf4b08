//! The real benchmark, as a user runs it: `inferbench api` over llama.cpp and PyTorch on
//! Gemma 3 270M, with the engines and models that scripts/setup.sh installs. Nothing here
//! is simulated; a missing engine or model fails with a message naming scripts/setup.sh.
//!
//! Each test writes its own config (the repository's, with free ports and a short output
//! length) so tests can run in parallel.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

mod common;
use common::{free_port, inferbench};

/// The repository's config with the given servers enabled on free ports, its paths made
/// absolute, written to `dir`. Returns the path and the ports.
fn config(dir: &Path, engines: &[&str], max_tokens: u32) -> (PathBuf, Vec<u16>) {
    let text = std::fs::read_to_string(repo().join("benchmark_config.json")).unwrap();
    let mut cfg: Value = serde_json::from_str(&text).unwrap();
    cfg["benchmark"]["max_tokens"] = max_tokens.into();
    let mut ports = Vec::new();
    let servers = cfg["servers"].as_object_mut().unwrap();
    for (name, s) in servers.iter_mut() {
        let on = engines.contains(&name.as_str());
        s["enabled"] = on.into();
        if on {
            let p = free_port();
            s["port"] = p.into();
            ports.push(p);
        }
    }
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    (path, ports)
}

fn require_engines() {
    let home = inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set");
    for p in [
        "bin/llama-server",
        "models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf",
        "models/gemma-3-270m/tokenizer/tokenizer.json",
        "venv/bin/python",
    ] {
        assert!(
            home.join(p).exists(),
            "{} is missing: run scripts/setup.sh to install the engines and models",
            home.join(p).display()
        );
    }
}

/// Processes whose command line names one of these ports after `--port`.
fn engines_on(ports: &[u16]) -> Vec<String> {
    engine_pids_on(ports)
        .into_iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|cmd| {
            cmd.split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn results(out: &Path) -> Value {
    let dir = out.join("output");
    let json = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap_or_else(|| panic!("no results JSON in {}", dir.display()));
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

/// Whether setup could build Ollama here (it needs the Go module proxy and a long native
/// build); when it could, the real benchmark includes it.
fn ollama_built() -> bool {
    let home = inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set");
    home.join("bin/ollama").exists()
}

#[test]
fn api_quick_over_llamacpp_and_pytorch_writes_the_seed_files() {
    require_engines();
    let dir = tempfile::tempdir().unwrap();
    let mut engines = vec!["llamacpp", "pytorch"];
    if ollama_built() {
        engines.push("ollama");
    } else {
        eprintln!(
            "Ollama was not built by scripts/setup.sh here: benchmarking llama.cpp and PyTorch"
        );
    }
    let (cfg, ports) = config(dir.path(), &engines, 64);
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--runs", "2", "--quiet", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "inferbench api failed: {stderr}");
    for sub in ["report", "output", "logging"] {
        let n = std::fs::read_dir(dir.path().join(sub)).unwrap().count();
        assert!(n >= 1, "{sub}/ is empty");
    }
    let doc = results(dir.path());
    let runs = doc["runs"].as_array().unwrap();
    for &engine in &engines {
        let measured: Vec<&Value> = runs
            .iter()
            .filter(|r| r["engine"] == engine && r["warmup"] == false)
            .collect();
        assert_eq!(measured.len(), 2, "{engine}");
        for r in &measured {
            assert_eq!(r["ok"], true, "{engine}: {}", r["error"]);
            assert!(r["output_tokens"].as_u64().unwrap() > 1);
            assert_eq!(r["output_tokens_source"], "usage", "{engine}");
            let ours = r["decode_tps"].as_f64().unwrap();
            assert!(ours > 0.0);
        }
        let info = doc["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["engine"] == engine)
            .unwrap();
        let fairness = info["fairness"].as_str().unwrap_or("");
        let expected = if engine == "ollama" {
            // Ollama has no tokenize or template route.
            "not checked"
        } else {
            "match"
        };
        assert!(
            fairness.starts_with(expected),
            "{engine}: the engine saw the reference prompt: {}",
            info["fairness"]
        );
        assert!(info["load_ms"].as_f64().unwrap() > 0.0);
    }
    // Every engine's own figures are credited to that engine.
    for r in runs.iter().filter(|r| r["warmup"] == false) {
        let expected = match r["engine"].as_str() {
            Some("llamacpp") => "llama.cpp timings",
            Some("pytorch") => "pytorch server timings",
            Some("ollama") => "ollama durations",
            other => panic!("unexpected engine {other:?}"),
        };
        assert_eq!(r["engine_report"]["source"], expected, "{}", r["engine"]);
    }
    // llama.cpp: our clock agrees with the server's own decode rate.
    for r in runs
        .iter()
        .filter(|r| r["engine"] == "llamacpp" && r["warmup"] == false)
    {
        let ours = r["decode_tps"].as_f64().unwrap();
        let theirs = r["engine_report"]["decode_tps"].as_f64().unwrap();
        let diff = (ours - theirs).abs() / theirs * 100.0;
        assert!(
            diff <= 5.0,
            "decode by our clock {ours:.2} vs predicted_per_second {theirs:.2}: {diff:.1}% apart"
        );
    }
    assert!(
        engines_on(&ports).is_empty(),
        "engine processes left behind: {:?}",
        engines_on(&ports)
    );
}

/// Start `inferbench api` on llama.cpp with many runs, wait until it measures, send
/// `signal`, and check that it exits and no engine process is left.
fn interrupted_run_leaves_no_engine(signal: nix::sys::signal::Signal) {
    require_engines();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, ports) = config(dir.path(), &["llamacpp"], 32);
    let mut child = inferbench(dir.path())
        .args(["api", "--runs", "50", "--quiet", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
    // Wait until a run has been recorded: the server is up and serving.
    let deadline = Instant::now() + Duration::from_secs(120);
    let jsonl_has_a_run = || {
        std::fs::read_dir(dir.path().join("output"))
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.path().extension().is_some_and(|x| x == "jsonl")
                    && std::fs::read_to_string(e.path()).is_ok_and(|t| t.lines().count() >= 2)
            })
    };
    while !jsonl_has_a_run() {
        assert!(Instant::now() < deadline, "no run recorded within 120 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "inferbench exited early: {}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!engines_on(&ports).is_empty(), "the engine is running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "inferbench did not exit after {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        !status.success(),
        "an interrupted benchmark is not a success"
    );
    // The group is killed before inferbench exits; allow the kernel a moment to reap.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !engines_on(&ports).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        engines_on(&ports).is_empty(),
        "engine processes left after {signal}: {:?}",
        engines_on(&ports)
    );
}

#[test]
fn ctrl_c_mid_run_leaves_no_engine_process() {
    interrupted_run_leaves_no_engine(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_mid_run_leaves_no_engine_process() {
    interrupted_run_leaves_no_engine(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn cli_quick_over_the_installed_engines_writes_the_seed_cli_files() {
    require_engines();
    let dir = tempfile::tempdir().unwrap();
    let mut engines = vec!["llamacpp", "pytorch"];
    if ollama_built() {
        engines.push("ollama");
    }
    // The repository's config, CLI-mode sections limited to the installed engines; the
    // servers section only matters for Ollama (whose CLI talks to `ollama serve`).
    let (cfg, _) = config(dir.path(), &["ollama"], 32);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    for (name, s) in doc["engines"].as_object_mut().unwrap().iter_mut() {
        s["enabled"] = engines.contains(&name.as_str()).into();
    }
    std::fs::write(&cfg, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let out = inferbench(dir.path())
        .args(["cli", "--quick", "--quiet", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "inferbench cli failed: {stderr}");
    let report = std::fs::read_dir(dir.path().join("report"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    assert!(
        report
            .iter()
            .any(|n| n.starts_with("benchmark_report_1runs_")),
        "{report:?}"
    );
    assert!(
        std::fs::read_dir(dir.path().join("logging"))
            .unwrap()
            .flatten()
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with("benchmark_detailed_"))
    );
    let doc = results(dir.path());
    assert_eq!(doc["mode"], "cli");
    for &engine in &engines {
        let measured: Vec<&Value> = doc["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["engine"] == engine && r["warmup"] == false)
            .collect();
        assert_eq!(measured.len(), 1, "{engine}");
        let r = measured[0];
        assert_eq!(r["ok"], true, "{engine}: {}", r["error"]);
        assert!(r["decode_tps"].as_f64().unwrap() > 0.0, "{engine}");
        assert!(
            r["wall_ms"].as_f64().unwrap() > 0.0,
            "{engine}: our own clock"
        );
        assert!(
            !r["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["kind"] == "above_roofline"),
            "{engine}: {r}"
        );
    }
}

#[test]
fn load_run_sets_the_engines_slots_and_flags_a_step_beyond_them() {
    require_engines();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = config(dir.path(), &["llamacpp"], 8);
    let run = |extra: Option<&[&str]>, out: &str| {
        if let Some(args) = extra {
            let mut v: Value =
                serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
            v["servers"]["llamacpp"]["extra_args"] = serde_json::json!(args);
            std::fs::write(&cfg, v.to_string()).unwrap();
        }
        let o = inferbench(dir.path())
            .args(["api", "--engines", "llamacpp", "--quick", "--quiet"])
            .args(["--concurrency", "4", "--requests", "8", "--out-dir", out])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        results(&dir.path().join(out))
    };
    // inferbench starts llama-server with one slot per stream and reads them back.
    let doc = run(None, "A");
    let cap = &doc["engines"][0]["capacity"];
    assert_eq!(cap["streams"], 4, "{cap}");
    assert_eq!(cap["asked"], 4, "{cap}");
    assert_eq!(cap["source"], "llama-server /props total_slots");
    let queued = |doc: &Value| {
        doc["load"][0]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "queued_in_engine")
    };
    assert!(!queued(&doc), "{}", doc["load"][0]["flags"]);
    // The user's own -np 2 wins, and the step at c=4 is flagged.
    let doc = run(Some(&["-np", "2"]), "B");
    assert_eq!(doc["engines"][0]["capacity"]["streams"], 2);
    assert!(queued(&doc), "{}", doc["load"][0]["flags"]);
}

#[test]
fn a_server_given_with_url_reports_its_slots_and_a_step_beyond_them_is_flagged() {
    require_engines();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, ports) = config(dir.path(), &["llamacpp"], 4);
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["servers"]["llamacpp"]["extra_args"] = serde_json::json!(["-np", "2"]);
    std::fs::write(&cfg, v.to_string()).unwrap();
    // A llama-server we do not start for the benchmark: the server manager's, with 2 slots.
    let up = inferbench(dir.path())
        .args(["server", "start", "llamacpp"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let o = inferbench(dir.path())
        .args(["api", "--url", &format!("http://127.0.0.1:{}", ports[0])])
        .args([
            "--model",
            "gemma",
            "--quiet",
            "--concurrency",
            "4",
            "--requests",
            "8",
        ])
        .args(["--out-dir", "U"])
        .output()
        .unwrap();
    let down = inferbench(dir.path())
        .args(["server", "stop"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let doc = results(&dir.path().join("U"));
    let cap = &doc["engines"][0]["capacity"];
    assert_eq!(cap["streams"], 2, "{cap}");
    assert_eq!(cap["source"], "llama-server /props total_slots");
    let flags = doc["load"][0]["flags"].as_array().unwrap();
    assert!(
        flags.iter().any(|f| f["kind"] == "queued_in_engine"),
        "{flags:?}"
    );
    assert!(engines_on(&ports).is_empty(), "{:?}", engines_on(&ports));
}

/// Pids of the processes whose command line has `--port P` for one of `ports`.
fn engine_pids_on(ports: &[u16]) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args
            .windows(2)
            .any(|w| w[0] == "--port" && ports.iter().any(|p| w[1] == p.to_string()))
        {
            found.push(pid);
        }
    }
    found
}

/// issue 18: `kill -9` of the llama-server we started, in the middle of a load step. The
/// step and the engine say it died (signal 9, when), nothing is sent to it afterwards,
/// the exit code is 1 and no process is left behind.
#[test]
fn an_engine_killed_mid_load_step_is_reported_dead_nothing_is_sent_after_and_exit_is_1() {
    require_engines();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, ports) = config(dir.path(), &["llamacpp"], 16);
    let mut child = inferbench(dir.path())
        .args([
            "api",
            "--concurrency",
            "4",
            "--requests",
            "400",
            "--quiet",
            "--config",
        ])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
    let records = || -> usize {
        std::fs::read_dir(dir.path().join("output"))
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .map(|e| {
                std::fs::read_to_string(e.path())
                    .map(|t| t.lines().count())
                    .unwrap_or(0)
            })
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    while records() < 12 {
        assert!(Instant::now() < deadline, "no load records within 180 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "inferbench exited early: {}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pids = engine_pids_on(&ports);
    assert!(!pids.is_empty(), "llama-server is running");
    for pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let killed_at = chrono::Local::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "inferbench went on for 60 s after its engine died: {}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1), "{}", stderr());
    assert!(
        engines_on(&ports).is_empty(),
        "engine processes left: {:?}",
        engines_on(&ports)
    );
    let doc = results(dir.path());
    common::assert_valid_results(&doc);
    let exited = &doc["engines"][0]["exited"];
    assert_eq!(exited["signal"], 9, "{doc:#}");
    assert_eq!(exited["how"], "killed by signal 9 (SIGKILL)");
    let died_at = chrono::DateTime::parse_from_rfc3339(exited["at"].as_str().unwrap()).unwrap();
    let late = (died_at.with_timezone(&chrono::Local) - killed_at).num_milliseconds();
    assert!(
        (-1000..3000).contains(&late),
        "death recorded {late} ms from the kill"
    );
    assert_eq!(doc["load"][0]["engine_exit"]["signal"], 9);
    // Nothing sent to it after its death was seen: no record starts later.
    let runs = doc["runs"].as_array().unwrap();
    assert!(runs.len() < 404, "{} records: the step went on", runs.len());
    let after: Vec<&Value> = runs
        .iter()
        .filter(|r| {
            chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap())
                .is_ok_and(|t| t > died_at)
        })
        .collect();
    assert!(after.is_empty(), "sent after the death: {after:#?}");
    let report: String = std::fs::read_dir(dir.path().join("report"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert!(
        report.contains("## Engines that died") && report.contains("killed by signal 9"),
        "{report}"
    );
    assert!(
        stderr().contains("killed by signal 9"),
        "the exit message says why: {}",
        stderr()
    );
}
