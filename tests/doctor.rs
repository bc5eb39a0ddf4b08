//! `inferbench doctor` end to end, against the engines scripts/setup.sh installed (these
//! tests FAIL saying so when one is missing): after setup every line is ✓ or – and the
//! exit code is 0, within seconds; a missing model file, a port held by a listener of
//! ours and an Ollama model that is not registered are three ✗ lines, each naming its
//! fix, exit 2; `--deep` brings llama-server up, reports the fairness result and one
//! request's TTFT, and stops it.

mod common;

use common::{free_port, inferbench};
use inferbench::config::inferbench_home;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn installed(rel: &str) -> PathBuf {
    let p = inferbench_home().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (doctor's tests need the installed engines)",
        p.display()
    );
    p
}

fn gemma() -> PathBuf {
    installed("models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf")
}

/// The repository's default config, with every server moved to a free port (the
/// defaults may be in use by other tests on this machine).
fn default_config_on_free_ports(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benchmark_config.json"),
    )
    .unwrap();
    let mut cfg: Value = serde_json::from_str(&text).unwrap();
    for (_, s) in cfg["servers"].as_object_mut().unwrap().iter_mut() {
        s["port"] = json!(free_port());
    }
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    path
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String, f64) {
    let t0 = Instant::now();
    let out = inferbench(dir).arg("doctor").args(args).output().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        secs,
    )
}

fn lines_with<'a>(stdout: &'a str, symbol: &str) -> Vec<&'a str> {
    stdout.lines().filter(|l| l.starts_with(symbol)).collect()
}

#[test]
fn after_setup_every_line_passes_within_seconds() {
    installed("bin/llama-server");
    installed("bin/ollama");
    installed("venv/bin/python");
    gemma();
    let dir = tempfile::tempdir().unwrap();
    let cfg = default_config_on_free_ports(dir.path());
    let (code, stdout, stderr, secs) = run(dir.path(), &["--config", cfg.to_str().unwrap()]);
    println!("{stdout}\ninferbench doctor took {secs:.2} s");
    assert!(lines_with(&stdout, "✗").is_empty(), "{stdout}\n{stderr}");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Every check line is ✓ or –, and the engines of the default config all appear.
    let checks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with('✓') || l.starts_with('–') || l.starts_with('✗'))
        .collect();
    assert!(checks.len() >= 15, "{stdout}");
    for engine in ["llamacpp", "ollama", "pytorch"] {
        assert!(
            checks.iter().any(
                |l| l.starts_with('✓') && l.contains(engine) && l.contains("binary")
                    || l.contains(engine) && l.contains("python")
            ),
            "no ✓ binary line for {engine}:\n{stdout}"
        );
    }
    assert!(stdout.contains("torch devices"), "{stdout}");
    assert!(stdout.contains("ollama model"), "{stdout}");
    // The issue's bound is 5 s; this is a shared 2-core machine, so the test is loose.
    assert!(secs < 15.0, "doctor took {secs:.1} s");
}

#[test]
fn missing_model_taken_port_and_unregistered_ollama_model_are_three_fixes() {
    installed("bin/llama-server");
    installed("bin/ollama");
    installed("models/gemma-3-270m/tokenizer/tokenizer.json");
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().port();
    let gone = dir.path().join("moved-away.gguf");
    let cfg = json!({
        "servers": {
            "llamacpp": {"port": taken, "model_path": gone, "device": "cpu"},
            "ollama": {"port": free_port(), "model_path": gemma(),
                       "model_name": "doctor-test-not-registered", "device": "cpu"}
        },
        "inferbench": {"chat_template": "gemma3", "device": "cpu",
                       "tokenizer": inferbench_home().join("models/gemma-3-270m/tokenizer/tokenizer.json")}
    });
    let path = dir.path().join("c.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let (code, stdout, stderr, _) = run(dir.path(), &["--config", path.to_str().unwrap()]);
    println!("{stdout}");
    let failed = lines_with(&stdout, "✗");
    assert_eq!(failed.len(), 3, "{stdout}\n{stderr}");
    let model = failed
        .iter()
        .find(|l| l.contains("llamacpp") && l.contains("model"))
        .unwrap_or_else(|| panic!("no ✗ model line:\n{stdout}"));
    assert!(
        model.contains(gone.to_str().unwrap())
            && model.contains("fix: scripts/setup.sh")
            && model.contains("servers.llamacpp.model_path"),
        "{model}"
    );
    let port = failed
        .iter()
        .find(|l| l.contains("port"))
        .unwrap_or_else(|| panic!("no ✗ port line:\n{stdout}"));
    let me = std::process::id();
    assert!(
        port.contains(&format!("pid {me}")) && port.contains(&format!("kill {me}")),
        "the port line should name this test process as the holder: {port}"
    );
    assert!(port.contains("servers.llamacpp.port"), "{port}");
    let ollama = failed
        .iter()
        .find(|l| l.contains("ollama model"))
        .unwrap_or_else(|| panic!("no ✗ ollama model line:\n{stdout}"));
    assert!(
        ollama.contains("doctor-test-not-registered")
            && ollama.contains("fix: inferbench models prepare"),
        "{ollama}"
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");

    // The same as JSON: three failures, each with its fix.
    let (code, stdout, _, _) = run(dir.path(), &["--config", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["exit_code"], 2);
    let fails: Vec<&Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(fails.len(), 3, "{stdout}");
    assert!(
        fails
            .iter()
            .all(|c| c["fix"].as_str().is_some_and(|f| !f.is_empty()))
    );
    drop(listener);
}

#[test]
fn uzu_not_installed_is_a_dash_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = default_config_on_free_ports(dir.path());
    let (code, stdout, stderr, _) = run(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "--engines", "uzu"],
    );
    println!("{stdout}");
    let uzu: Vec<&str> = stdout.lines().filter(|l| l.contains(" uzu ")).collect();
    assert!(
        uzu.iter()
            .any(|l| l.starts_with('–') && l.contains("not installed")),
        "expected a – line for Uzu, which is not installable on this machine:\n{stdout}\n{stderr}"
    );
    assert!(lines_with(&stdout, "✗").is_empty(), "{stdout}");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[test]
fn unknown_engine_name_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = inferbench(dir.path())
        .args(["doctor", "--engines", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`nope`"), "{err}");
}

#[test]
fn deep_llamacpp_reports_fairness_and_ttft_and_stops_it() {
    installed("bin/llama-server");
    let tokenizer = installed("models/gemma-3-270m/tokenizer/tokenizer.json");
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
        "benchmark": {"max_tokens": 32, "temperature": 0.0, "num_runs": 1},
        "servers": {
            "llamacpp": {"port": free_port(), "model_path": gemma(), "device": "cpu",
                         "startup_timeout": 60}
        },
        "inferbench": {"chat_template": "gemma3", "device": "cpu", "threads": 2,
                       "tokenizer": tokenizer, "stop_grace_seconds": 3}
    });
    let path = dir.path().join("c.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let (code, stdout, stderr, secs) = run(
        dir.path(),
        &[
            "--config",
            path.to_str().unwrap(),
            "--deep",
            "--engines",
            "llamacpp",
        ],
    );
    println!("{stdout}\n--deep took {secs:.1} s");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains("llamacpp") && l.contains(name))
            .unwrap_or_else(|| panic!("no `{name}` line:\n{stdout}"))
            .to_string()
    };
    let fairness = line("deep fairness");
    assert!(
        fairness.starts_with('✓') && fairness.contains("match"),
        "{fairness}"
    );
    let request = line("deep request");
    assert!(request.starts_with('✓'), "{request}");
    let ttft: f64 = request
        .split("TTFT ")
        .nth(1)
        .and_then(|r| r.split(" ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no TTFT figure: {request}"));
    assert!(ttft > 0.0 && ttft < 60_000.0, "{request}");
    let stop = line("deep stop");
    assert!(stop.starts_with('✓') && stop.contains("gone"), "{stop}");
    // No llama-server of ours is left on the port.
    let port = cfg["servers"]["llamacpp"]["port"].as_u64().unwrap() as u16;
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} still held after --deep"
    );
}

/// Importing torch takes seconds, so doctor remembers a clean Python probe: a second run
/// asks the interpreter nothing and says so; a package installed into the venv (its
/// site-packages changes) makes the next run probe again. The interpreter here is a
/// stand-in script in a venv-shaped folder that answers the probe and counts its calls.
#[test]
fn python_probe_is_remembered_until_the_venv_changes() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let venv = dir.path().join("venv");
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let calls = dir.path().join("calls");
    let python = venv.join("bin/python");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\necho call >> '{}'\necho '{}'\n",
            calls.display(),
            r#"{"packages": {"torch": "2.15.0", "transformers": "5.23.0", "accelerate": "1", "gguf": "0.1", "fastapi": "0.1", "uvicorn": "0.1"}, "cuda": false, "cuda_devices": [], "mps": false, "threads": 2}"#
        ),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.path().join("benchmark_config.json");
    std::fs::write(
        &cfg,
        serde_json::to_string_pretty(&json!({
            "servers": {"pytorch": {"port": free_port(), "device": "cpu",
                                    "python": python, "model_path": gemma()}}
        }))
        .unwrap(),
    )
    .unwrap();
    let python_line = || {
        let out = inferbench(dir.path())
            .env("INFERBENCH_HOME", &home)
            .args([
                "doctor",
                "--config",
                cfg.to_str().unwrap(),
                "--engines",
                "pytorch",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = stdout
            .lines()
            .find(|l| l.contains(" python "))
            .unwrap_or_else(|| panic!("no python line in\n{stdout}"))
            .to_string();
        assert!(line.starts_with('✓'), "{stdout}");
        line
    };
    let calls_made = || {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let first = python_line();
    assert!(first.contains("probed in"), "{first}");
    assert_eq!(calls_made(), 1);
    let second = python_line();
    assert!(
        second.contains("probed by an earlier doctor run"),
        "{second}"
    );
    assert_eq!(
        calls_made(),
        1,
        "the second run asked the interpreter again"
    );
    // `pip install` adds a folder to site-packages.
    std::fs::create_dir(site.join("newpkg-1.0.dist-info")).unwrap();
    let third = python_line();
    assert!(third.contains("probed in"), "{third}");
    assert_eq!(calls_made(), 2);
}

/// An executable shell script at `path`.
fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An Uzu model folder `dir/models/gemma-3-1b-it` holding `files` (Lalamo writes
/// config.json, model.safetensors, tokenizer.json, encoding.json).
fn uzu_folder(dir: &Path, files: &[&str]) -> PathBuf {
    let folder = dir.join("models/gemma-3-1b-it");
    std::fs::create_dir_all(&folder).unwrap();
    for f in files {
        std::fs::write(folder.join(f), "{}").unwrap();
    }
    folder
}

const LALAMO_FILES: [&str; 4] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "encoding.json",
];

/// Uzu's `cli` stand-in: `--help` lists these subcommands the way clap does.
fn fake_uzu(path: &Path, subcommands: &[&str]) {
    let list: String = subcommands
        .iter()
        .map(|c| format!("  {c:<16}  Does {c}\\n"))
        .collect();
    script(
        path,
        &format!(
            "if [ \"$1\" = --help ]; then printf 'Usage: cli <COMMAND>\\n\\nCommands:\\n{list}\\nOptions:\\n  -h, --help  Print help\\n'; exit 0; fi\nexit 2"
        ),
    );
}

fn write_config(dir: &Path, cfg: &Value) -> PathBuf {
    let path = dir.join("c.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    path
}

#[test]
fn uzu_model_folder_without_encoding_json_is_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cli = dir.path().join("uzu/cli");
    fake_uzu(&cli, &["bench", "server"]);
    let folder = uzu_folder(dir.path(), &LALAMO_FILES[..3]);
    let cfg = write_config(
        dir.path(),
        &json!({"servers": {"uzu": {"binary": cli, "model_path": folder,
                                    "port": free_port()}}}),
    );
    let (code, stdout, stderr, _) = run(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "--engines", "uzu"],
    );
    println!("{stdout}");
    let failed = lines_with(&stdout, "✗");
    assert_eq!(failed.len(), 1, "{stdout}\n{stderr}");
    let line = failed[0];
    assert!(
        line.contains("model folder")
            && line.contains("lacks encoding.json")
            && line.contains(&format!(
                "fix: convert the model into it with Lalamo: `lalamo convert google/gemma-3-1b-it --output-dir {}`",
                folder.display()
            )),
        "{line}"
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");

    // With Lalamo's whole output the folder passes.
    std::fs::write(folder.join("encoding.json"), "{}").unwrap();
    let (code, stdout, stderr, _) = run(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "--engines", "uzu"],
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('✓') && l.contains("model folder")),
        "{stdout}"
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[test]
fn configured_binary_that_does_not_exist_is_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let folder = uzu_folder(dir.path(), &LALAMO_FILES);
    let gone = dir.path().join("not-built/cli");
    for (section, name) in [("servers", "binary"), ("engines", "cli binary")] {
        let cfg = write_config(
            dir.path(),
            &json!({section: {"uzu": {"binary": gone, "model_path": folder,
                                      "port": free_port()}}}),
        );
        let (code, stdout, stderr, _) = run(
            dir.path(),
            &["--config", cfg.to_str().unwrap(), "--engines", "uzu"],
        );
        println!("{stdout}");
        let failed = lines_with(&stdout, "✗");
        assert_eq!(failed.len(), 1, "{stdout}\n{stderr}");
        let line = failed[0];
        assert!(
            line.contains(&format!(" {name} "))
                && line.contains(gone.to_str().unwrap())
                && line.contains(&format!(
                    "fix: set {section}.uzu.binary to Uzu's `cli` program"
                )),
            "{line}"
        );
        assert_eq!(code, 2, "{stdout}\n{stderr}");
    }
}

#[test]
fn cli_mode_checks_uzus_bench_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let folder = uzu_folder(dir.path(), &LALAMO_FILES);
    let cli = dir.path().join("uzu/cli");
    let cfg = write_config(
        dir.path(),
        &json!({
            "servers": {"uzu": {"enabled": false}},
            "engines": {"uzu": {"binary": cli, "model_path": folder}}
        }),
    );
    let args = ["--config", cfg.to_str().unwrap(), "--mode", "cli"];
    fake_uzu(&cli, &["bench", "list-models", "server"]);
    let (code, stdout, stderr, _) = run(dir.path(), &args);
    println!("{stdout}");
    assert!(stdout.contains("mode cli"), "{stdout}");
    let bench = stdout
        .lines()
        .find(|l| l.contains(" cli bench "))
        .unwrap_or_else(|| panic!("no `cli bench` line:\n{stdout}"));
    assert!(bench.starts_with('✓'), "{bench}");
    assert!(lines_with(&stdout, "✗").is_empty(), "{stdout}\n{stderr}");
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    // A `cli` without `bench` (nor 0.4.x's `run`) cannot run CLI mode.
    fake_uzu(&cli, &["server", "storage"]);
    let (code, stdout, _, _) = run(dir.path(), &args);
    let failed = lines_with(&stdout, "✗");
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(
        failed[0].contains("neither `bench` nor `run`")
            && failed[0].contains("fix: set engines.uzu.binary"),
        "{}",
        failed[0]
    );
    assert_eq!(code, 2);

    // API mode does not look at CLI mode's tool.
    let (code, stdout, _, _) = run(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "--mode", "api"],
    );
    assert!(!stdout.contains("cli bench"), "{stdout}");
    assert!(stdout.contains("no engine selected"), "{stdout}");
    assert_eq!(code, 2);
}
