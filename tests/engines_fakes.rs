//! Uzu and Ollama through their adapters, against fakes that reproduce each documented
//! quirk (tests/fakes): requests go through the real client (`client::stream::execute`)
//! and the runner's record builder, and the life cycle (spawn, readiness, stop) runs
//! against a stand-in process launched exactly as the real program would be.

mod fakes;

use inferbench::client::stream::{apply_error_text_rule, build_spec, execute, http_client};
use inferbench::client::{MaxTokensField, PromptInput, Protocol};
use inferbench::config::{self, Overrides, ProcessEnv, Settings};
use inferbench::engine::ApiTarget;
use inferbench::engines::launch::StartError;
use inferbench::measure::metrics::TokenSource;
use inferbench::prompt::template::ChatTemplate;
use inferbench::record::{Checks, record_from_trace};
use inferbench::results::{Mode, RunRecord};
use inferbench::server;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fake_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/fake_engine_server.py")
}

/// `dir/name` → the fake engine script (the adapters look at the program's name).
fn fake_binary(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::os::unix::fs::symlink(fake_script(), &p).unwrap();
    p
}

mod common;
use common::free_port;

fn settings(dir: &Path, servers: Value) -> Settings {
    let cfg = json!({
        "benchmark": {"max_tokens": 64, "temperature": 0.3, "num_runs": 1},
        "servers": servers,
        "inferbench": {"seed": 7, "stop_grace_seconds": 2}
    });
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    config::load(Some(&path), &ProcessEnv, &Overrides::default()).unwrap()
}

fn prompt(user: &str) -> PromptInput {
    ChatTemplate::builtin("gemma3")
        .unwrap()
        .prompt_input("Be brief.", user)
        .unwrap()
}

fn record(target: &ApiTarget, trace: &inferbench::client::Trace, s: &Settings) -> RunRecord {
    let base = RunRecord::new(
        &target.name,
        Mode::Api,
        &target.endpoint,
        "p1",
        "short",
        0,
        s.sampling(),
        "gemma3",
    );
    record_from_trace(
        base,
        trace,
        None,
        &Checks {
            tolerance_pct: 10.0,
            roofline: None,
        },
    )
}

async fn run(
    target: &ApiTarget,
    p: &PromptInput,
    s: &Settings,
    stream: bool,
) -> inferbench::client::Trace {
    let http = http_client(1).unwrap();
    let spec = build_spec(target, p, &s.sampling(), stream, Duration::from_secs(10));
    let origin = Instant::now();
    let mut trace = execute(&http, &spec, origin, origin).await;
    if target.error_text_is_failure {
        apply_error_text_rule(&mut trace);
    }
    trace
}

/// A model folder as Lalamo writes one (only config.json is looked at by the fake).
fn uzu_model_dir(dir: &Path) -> PathBuf {
    let model = dir.join("gemma-uzu");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), "{}").unwrap();
    model
}

fn uzu_plan(dir: &Path, name: &str) -> (Settings, inferbench::engines::launch::LaunchPlan) {
    let bin = fake_binary(dir, name);
    let model = uzu_model_dir(dir);
    let s = settings(
        dir,
        json!({"uzu": {"port": free_port(), "model_path": model.display().to_string(),
                       "binary": bin.display().to_string(), "api_endpoint": "/chat/completions"}}),
    );
    let plan = server::plan(&s, "uzu", &dir.join("logging")).unwrap();
    (s, plan)
}

#[tokio::test]
async fn uzu_adapter_reads_a_quirky_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (s, plan) = uzu_plan(dir.path(), "uzu");
    let mut target = plan.target.clone();
    assert_eq!(target.max_tokens_field, MaxTokensField::MaxCompletionTokens);
    assert!(target.error_text_is_failure);
    assert_eq!(target.protocol, Protocol::OpenAiChat);
    let fake = fakes::uzu::start().await;
    target.base_url = fake.base_url.clone();

    let trace = run(&target, &prompt("리스트와 튜플의 차이?"), &s, true).await;
    assert_eq!(trace.error, None, "{trace:?}");
    assert_eq!(
        trace.text,
        fakes::PIECES.concat(),
        "heartbeats and `data:` without space"
    );
    assert_eq!(trace.usage.unwrap().completion_tokens, Some(9));
    assert_eq!(trace.timeline.content_events.len(), fakes::PIECES.len());
    let body = fake.last_body();
    assert_eq!(body["max_completion_tokens"], 64, "{body}");
    assert!(body.get("max_tokens").is_none(), "{body}");
    assert_eq!(body["temperature"], 0.3);

    let r = record(&target, &trace, &s);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.output_tokens, Some(9));
    assert_eq!(r.output_tokens_source, Some(TokenSource::Usage));

    // Uzu's server takes temperature, top_p and top_k but not the seed: at temperature
    // 0.3 with seed 7 the record says so and is flagged, as the runner records it.
    let mut r = r;
    inferbench::record::note_sampling_applied(
        &mut r,
        inferbench::engines::api_sampling_applied(target.kind, &s.sampling()),
    );
    let applied = r.sampling_applied.as_ref().expect("a seed Uzu ignores");
    assert_eq!((applied.greedy, applied.temperature), (false, Some(0.3)));
    assert!(applied.ignored[0].starts_with("seed 7"), "{applied:?}");
    assert!(
        r.flags
            .iter()
            .any(|f| f.kind == inferbench::record::SAMPLING_NOT_APPLIED
                && f.message.contains("seed 7")),
        "{:?}",
        r.flags
    );
}

#[tokio::test]
async fn uzu_200_error_text_is_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let (s, plan) = uzu_plan(dir.path(), "uzu");
    let mut target = plan.target.clone();
    let fake = fakes::uzu::start().await;
    target.base_url = fake.base_url.clone();
    for stream in [true, false] {
        let trace = run(&target, &prompt("FAIL please"), &s, stream).await;
        assert_eq!(trace.http_status, Some(200));
        let r = record(&target, &trace, &s);
        assert!(
            !r.ok,
            "stream={stream}: HTTP 200 'Error:' with zero usage must fail: {r:?}"
        );
        assert!(
            r.error
                .as_deref()
                .unwrap()
                .contains("Error: generation failed"),
            "{r:?}"
        );
    }
    // Without the rule (a generic OpenAI server) the same body would have passed.
    target.error_text_is_failure = false;
    let trace = run(&target, &prompt("FAIL please"), &s, true).await;
    assert!(record(&target, &trace, &s).ok);
}

#[tokio::test]
async fn uzu_non_streaming_reads_usage() {
    let dir = tempfile::tempdir().unwrap();
    let (s, plan) = uzu_plan(dir.path(), "uzu");
    let mut target = plan.target.clone();
    let fake = fakes::uzu::start().await;
    target.base_url = fake.base_url.clone();
    let trace = run(&target, &prompt("hi"), &s, false).await;
    assert_eq!(trace.error, None);
    assert_eq!(trace.text, fakes::PIECES.concat());
    assert_eq!(trace.usage.unwrap().completion_tokens, Some(9));
}

fn argv_log(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("argv.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The stand-in reproduces Uzu 0.5.x's lookup, so it would catch an adapter that passes
/// the model folder's path: a full path fails at start, as does a name without LOCAL_PATH;
/// the name inside LOCAL_PATH gets past the lookup.
#[test]
fn uzu_fake_server_finds_models_only_by_name_in_local_path() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_binary(dir.path(), "uzu");
    let model = uzu_model_dir(dir.path());
    // A port already taken: a fake that gets past the lookup fails at the bind and exits.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let start = |model: &str, local: Option<&Path>| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["server", "--model", model, "--port", &port])
            .env_remove("LOCAL_PATH");
        if let Some(l) = local {
            cmd.env("LOCAL_PATH", l);
        }
        cmd.output().unwrap()
    };
    let full = start(&model.display().to_string(), None);
    assert!(!full.status.success());
    assert!(
        String::from_utf8_lossy(&full.stderr).contains("Model not found:"),
        "{full:?}"
    );
    let full_with_local = start(&model.display().to_string(), Some(dir.path()));
    assert!(!full_with_local.status.success(), "{full_with_local:?}");
    let no_local = start("gemma-uzu", None);
    assert!(!no_local.status.success(), "{no_local:?}");
    let other = start("other-model", Some(dir.path()));
    assert!(!other.status.success(), "{other:?}");
    // Found: it gets as far as binding the taken port; the failure is the bind.
    let found = start("gemma-uzu", Some(dir.path()));
    let err = String::from_utf8_lossy(&found.stderr);
    assert!(!err.contains("Model not found"), "{found:?}");
    assert!(err.contains("Address already in use"), "{found:?}");
}

fn assert_group_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !inferbench::process::group_members(pid as i32).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(inferbench::process::group_members(pid as i32).is_empty());
}

#[tokio::test]
async fn uzu_life_cycle_with_both_command_forms() {
    for (name, expect_first) in [("uzu", "server"), ("uzu_cli", "serve")] {
        let dir = tempfile::tempdir().unwrap();
        let (s, plan) = uzu_plan(dir.path(), name);
        let engine = server::start(&s, "uzu", &dir.path().join("logging"))
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let pid = engine.pid();
        // The fake loads for 0.5 s before binding: readiness waited for it.
        assert!(
            engine.info.load_ms.unwrap() >= 400.0,
            "{:?}",
            engine.info.load_ms
        );
        let logged = argv_log(dir.path());
        let argv: Vec<&str> = logged[0]["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let port = plan.port.to_string();
        let model = dir.path().join("gemma-uzu").display().to_string();
        if expect_first == "server" {
            // 0.5.x: the model by NAME, found inside LOCAL_PATH (ENGINES.md).
            assert_eq!(
                argv,
                [
                    "server",
                    "--model",
                    "gemma-uzu",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port
                ]
            );
            let local = std::path::absolute(dir.path()).unwrap();
            assert_eq!(
                logged[0]["env"]["LOCAL_PATH"],
                local.display().to_string(),
                "{logged:?}"
            );
            assert!(
                plan.notes.iter().any(|n| n.contains("LOCAL_PATH")),
                "{:?}",
                plan.notes
            );
        } else {
            assert_eq!(argv, ["serve", &model, "--port", &port]);
            assert!(logged[0]["env"].get("LOCAL_PATH").is_none(), "{logged:?}");
        }
        engine.stop().await.unwrap();
        assert_group_gone(pid);
    }
}

fn ollama_settings(dir: &Path, endpoint: &str, model: Option<&str>) -> Settings {
    let bin = fake_binary(dir, "ollama");
    let mut sec = json!({"port": free_port(), "binary": bin.display().to_string(),
                         "api_endpoint": endpoint, "startup_timeout": 20});
    if let Some(m) = model {
        sec["model_name"] = json!(m);
    }
    settings(dir, json!({ "ollama": sec }))
}

#[tokio::test]
async fn ollama_adapter_reads_ndjson_with_nanosecond_durations() {
    let dir = tempfile::tempdir().unwrap();
    let s = ollama_settings(dir.path(), "/api/generate", None);
    let plan = server::plan(&s, "ollama", &dir.path().join("logging")).unwrap();
    let mut target = plan.target.clone();
    assert_eq!(target.protocol, Protocol::OllamaGenerate);
    assert_eq!(target.model.as_deref(), Some(fakes::ollama::MODEL));
    let fake = fakes::ollama::start().await;
    target.base_url = fake.base_url.clone();

    let trace = run(&target, &prompt("리스트와 튜플?"), &s, true).await;
    assert_eq!(trace.error, None, "{trace:?}");
    assert_eq!(trace.text, fakes::PIECES.concat());
    let rep = trace.engine_report.clone().unwrap();
    assert_eq!(rep.decode_tokens, Some(9));
    assert!((rep.decode_ms.unwrap() - 250.0).abs() < 1e-9, "ns → ms");
    assert!((rep.decode_tps.unwrap() - 36.0).abs() < 1e-9, "9 / 0.25 s");
    assert_eq!(rep.prompt_tokens, Some(20));
    assert!((rep.load_ms.unwrap() - 200.0).abs() < 1e-9);

    // Sampling is explicit: Ollama's import default (temperature 0.1) must not apply.
    let body = fake.last_body();
    assert_eq!(body["options"]["temperature"], 0.3, "{body}");
    assert_eq!(body["options"]["seed"], 7);
    assert_eq!(body["options"]["num_predict"], 64);
    assert_eq!(body["raw"], true);
    assert_eq!(body["model"], fakes::ollama::MODEL);

    let r = record(&target, &trace, &s);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.output_tokens, Some(9));

    // omitempty: no prompt_eval_count in the final line is no count, not zero.
    let trace = run(&target, &prompt("CACHED prompt"), &s, true).await;
    assert_eq!(trace.error, None);
    assert_eq!(trace.engine_report.unwrap().prompt_tokens, None);
}

#[tokio::test]
async fn ollama_chat_route_sends_messages() {
    let dir = tempfile::tempdir().unwrap();
    let s = ollama_settings(dir.path(), "/api/chat", None);
    let plan = server::plan(&s, "ollama", &dir.path().join("logging")).unwrap();
    let mut target = plan.target.clone();
    assert_eq!(target.protocol, Protocol::OllamaChat);
    assert_eq!(target.strip_prompt_prefix, None);
    let fake = fakes::ollama::start().await;
    target.base_url = fake.base_url.clone();
    let trace = run(&target, &prompt("hi"), &s, true).await;
    assert_eq!(trace.error, None, "{trace:?}");
    assert_eq!(trace.text, fakes::PIECES.concat());
    let body = fake.last_body();
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "hi");
    assert!(body.get("raw").is_none());
}

#[tokio::test]
async fn ollama_life_cycle_env_and_unregistered_model() {
    let dir = tempfile::tempdir().unwrap();
    let s = ollama_settings(dir.path(), "/api/generate", None);
    let engine = server::start(&s, "ollama", &dir.path().join("logging"))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let pid = engine.pid();
    // The model was loaded (0.3 s in the fake) before start returned, inside load_ms.
    assert!(
        engine.info.load_ms.unwrap() >= 300.0,
        "{:?}",
        engine.info.load_ms
    );
    let logged = argv_log(dir.path());
    assert_eq!(logged[0]["argv"], json!(["serve"]));
    let port = engine
        .target
        .base_url
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(logged[0]["env"]["OLLAMA_HOST"], format!("127.0.0.1:{port}"));
    assert!(logged[0]["env"]["OLLAMA_MODELS"].as_str().is_some());
    engine.stop().await.unwrap();
    assert_group_gone(pid);

    // A model that was never registered: a user error naming the fix, and the server
    // that was started for nothing is gone.
    let dir = tempfile::tempdir().unwrap();
    let s = ollama_settings(dir.path(), "/api/generate", Some("not-registered"));
    let err = server::start(&s, "ollama", &dir.path().join("logging"))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("inferbench models prepare") && msg.contains("not-registered"),
        "{msg}"
    );
    assert_eq!(inferbench::exit::exit_code(&err), 2);
    assert!(matches!(
        err.downcast_ref::<StartError>(),
        Some(StartError::Unusable { .. })
    ));
    let pid = argv_log(dir.path())[0]["pid"].as_u64().unwrap() as u32;
    assert_group_gone(pid);
}
