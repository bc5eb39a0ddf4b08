//! The real engines, for real: llama-server and the PyTorch server are started through the
//! server manager, checked for readiness and prompt fairness, sent one request, and
//! stopped; no process of theirs may be left. Needs `scripts/setup.sh` to have run; when an
//! engine or model is missing these tests FAIL saying so.
//!
//! Also: a port in use, a missing model, a missing binary are each a one-line user error
//! (exit code 2) raised before anything is spawned.

use inferbench::config::{self, Overrides, ProcessEnv, Settings};
use inferbench::engines::fairness::{self, FairnessStatus, TemplateMismatch};
use inferbench::engines::launch::{StartError, inferbench_home};
use inferbench::prompt::template::ChatTemplate;
use inferbench::prompt::tokenizer::TokenCounter;
use inferbench::server;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn gemma() -> PathBuf {
    let p = inferbench_home().join("models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh to install the test model",
        p.display()
    );
    p
}

fn tokenizer() -> TokenCounter {
    let p = inferbench_home().join("models/gemma-3-270m/tokenizer/tokenizer.json");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    TokenCounter::from_file(&p).unwrap()
}

mod common;
use common::free_port;

/// Settings from a config written to `dir`.
fn settings(dir: &Path, servers: Value) -> Settings {
    let cfg = json!({
        "benchmark": {"max_tokens": 32, "temperature": 0.0, "num_runs": 1},
        "servers": servers,
        "inferbench": {"chat_template": "gemma3", "threads": 2, "stop_grace_seconds": 3}
    });
    let path = dir.join("benchmark_config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    config::load(Some(&path), &ProcessEnv, &Overrides::default()).unwrap()
}

fn reference() -> inferbench::client::PromptInput {
    ChatTemplate::builtin("gemma3")
        .unwrap()
        .prompt_input(
            "당신은 도움이 되는 AI 어시스턴트입니다.",
            "파이썬에서 리스트와 튜플의 차이점은?",
        )
        .unwrap()
}

fn assert_group_gone(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !inferbench::process::group_members(pid as i32).is_empty()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        inferbench::process::group_members(pid as i32).is_empty(),
        "processes of group {pid} left after stop"
    );
}

#[tokio::test]
async fn llamacpp_starts_serves_one_request_and_stops_clean() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = settings(
        dir.path(),
        json!({"llamacpp": {"port": port, "model_path": gemma().display().to_string(),
                            "api_endpoint": "/completion", "startup_timeout": 60}}),
    );
    let engine = server::start(&s, "llamacpp", &dir.path().join("logging"))
        .await
        .unwrap_or_else(|e| panic!("{e:#} (run scripts/setup.sh if llama-server is missing)"));
    let pid = engine.pid();
    assert!(pid > 0);
    let load_ms = engine.info.load_ms.unwrap();
    assert!(load_ms > 0.0 && load_ms < 60_000.0, "load {load_ms} ms");
    assert!(engine.info.rss_after_load_mib.unwrap() > 50.0);
    assert!(
        engine
            .info
            .command
            .iter()
            .any(|a| a.ends_with("chat-template.jinja")),
        "template file passed: {:?}",
        engine.info.command
    );
    assert!(engine.log_path.as_ref().unwrap().is_file());
    let sampler = engine.memory_sampler(Duration::from_millis(100)).unwrap();
    sampler.reset_peak();

    // Fairness through the chat route: llama-server renders our template file.
    let tok = tokenizer();
    let mut chat = engine.target.clone();
    chat.endpoint = "/v1/chat/completions".into();
    chat.protocol = inferbench::client::Protocol::OpenAiChat;
    let out = fairness::check(&chat, &reference(), &s.sampling(), Some(&tok), false)
        .await
        .unwrap();
    assert_eq!(out.status, FairnessStatus::Match, "{}", out.summary());

    // A raw prompt that keeps the BOS text would reach the model with two BOS tokens:
    // the check must catch it.
    let mut doubled = engine.target.clone();
    doubled.strip_prompt_prefix = None;
    let err = fairness::check(&doubled, &reference(), &s.sampling(), Some(&tok), false)
        .await
        .unwrap_err();
    let mismatch = err
        .downcast_ref::<TemplateMismatch>()
        .expect("a TemplateMismatch");
    assert!(mismatch.ids.contains("[2, 2,"), "{mismatch}");
    assert_eq!(inferbench::exit::exit_code(&err), 2);

    // One real request on the seed's endpoint, with the prompt as the adapter says to send it.
    let body = json!({
        "prompt": engine.target.raw_prompt(&reference().rendered),
        "n_predict": 32, "temperature": 0.0, "seed": 42, "cache_prompt": false, "stream": false
    });
    let resp: Value = reqwest::Client::new()
        .post(engine.target.url())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let timings = &resp["timings"];
    let prompt_n = timings["prompt_n"].as_u64().unwrap();
    assert_eq!(
        prompt_n as usize,
        tok.encode_ids(&reference().rendered, false).unwrap().len(),
        "the engine evaluated exactly our reference tokens"
    );
    assert!(timings["predicted_n"].as_u64().unwrap() > 0);
    let tps = timings["predicted_per_second"].as_f64().unwrap();
    assert!(tps > 1.0, "decode {tps} tok/s");
    eprintln!(
        "llama-server: load {load_ms:.0} ms, prompt {prompt_n} tokens, decode {tps:.1} tok/s, output {:?}",
        resp["content"].as_str().unwrap_or_default()
    );
    assert!(!resp["content"].as_str().unwrap().is_empty());
    // The same run through our client: our decode rate against the server's timings.
    let mut sampling = s.sampling();
    sampling.max_tokens = 64;
    sampling.ignore_eos = true;
    let spec = inferbench::client::stream::build_spec(
        &engine.target,
        &reference(),
        &sampling,
        true,
        Duration::from_secs(60),
    );
    let http = inferbench::client::stream::http_client(1).unwrap();
    let origin = std::time::Instant::now();
    let trace = inferbench::client::stream::execute(&http, &spec, origin, origin).await;
    assert_eq!(trace.error, None);
    let rec = inferbench::record::record_from_trace(
        inferbench::results::RunRecord::new(
            "llamacpp",
            inferbench::results::Mode::Api,
            "/completion",
            "p",
            "short",
            0,
            sampling.clone(),
            "gemma3",
        ),
        &trace,
        None,
        &inferbench::record::Checks {
            tolerance_pct: 5.0,
            roofline: None,
        },
    );
    let ours = rec.decode_tps.unwrap();
    let theirs = rec.engine_report.as_ref().unwrap().decode_tps.unwrap();
    eprintln!(
        "llama-server /completion, 64 tokens: decode {ours:.1} tok/s by our clock, {theirs:.1} tok/s by its timings; flags {:?}",
        rec.flags
    );
    assert_eq!(rec.output_tokens, Some(64));
    assert!(
        inferbench::record::rel_diff_pct(ours, theirs) < 5.0,
        "our clock {ours:.2} vs engine {theirs:.2} tok/s"
    );
    let peak = sampler.peak_mib().unwrap();
    assert!(peak > 50.0, "peak {peak} MiB");
    drop(sampler);

    engine.stop().await.unwrap();
    assert_group_gone(pid);
    assert!(!inferbench::process::pid_alive(pid));
}

#[tokio::test]
async fn pytorch_server_starts_streams_with_usage_and_timings_and_stops_clean() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let venv = inferbench_home().join("venv/bin/python");
    assert!(
        venv.is_file(),
        "{} is missing: run scripts/setup.sh",
        venv.display()
    );
    let s = settings(
        dir.path(),
        json!({"pytorch": {"port": port, "model_path": gemma().display().to_string(),
                           "api_endpoint": "/chat/completions", "startup_timeout": 400,
                           "device": "cpu", "torch_dtype": "bfloat16"}}),
    );
    let engine = server::start(&s, "pytorch", &dir.path().join("logging"))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let pid = engine.pid();
    eprintln!(
        "pytorch: load {:.1} s, RSS after load {:.0} MiB",
        engine.info.load_ms.unwrap() / 1000.0,
        engine.info.rss_after_load_mib.unwrap_or(0.0)
    );

    let tok = tokenizer();
    let out = fairness::check(
        &engine.target,
        &reference(),
        &s.sampling(),
        Some(&tok),
        false,
    )
    .await
    .unwrap();
    assert_eq!(out.status, FairnessStatus::Match, "{}", out.summary());

    let r = reference();
    let body = json!({
        "model": engine.target.model, "messages": r.messages, "max_tokens": 16,
        "temperature": 0.0, "seed": 42, "stream": true,
        "stream_options": {"include_usage": true}
    });
    let text = reqwest::Client::new()
        .post(engine.target.url())
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let last: Value = serde_json::from_str(events[events.len() - 2]).unwrap();
    assert_eq!(
        last["choices"],
        json!([]),
        "usage chunk has no choices: {last}"
    );
    let completion = last["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(completion > 0 && completion <= 16, "{last}");
    assert_eq!(
        last["usage"]["prompt_tokens"].as_u64().unwrap() as usize,
        tok.encode_ids(&r.rendered, false).unwrap().len()
    );
    assert_eq!(last["timings"]["predicted_n"].as_u64(), Some(completion));
    assert!(last["timings"]["prompt_ms"].as_f64().unwrap() > 0.0);
    // It names itself, so a report never credits llama.cpp with PyTorch's clock.
    assert_eq!(last["timings"]["source"], "pytorch server timings");
    let content: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert!(!content.is_empty(), "{text}");
    eprintln!(
        "pytorch: {completion} tokens, decode {:?} tok/s, text {content:?}",
        last["timings"]["predicted_per_second"]
    );

    // Non-streaming, and the raw completions route with our rendering: same prompt tokens.
    let client = reqwest::Client::new();
    let full: Value = client
        .post(engine.target.url())
        .json(
            &json!({"messages": r.messages, "max_tokens": 8, "temperature": 0.0, "stream": false}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !full["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{full}"
    );
    assert!(full["usage"]["completion_tokens"].as_u64().unwrap() <= 8);
    let raw: Value = client
        .post(format!("{}/v1/completions", engine.target.base_url))
        .json(&json!({"prompt": r.rendered, "max_tokens": 4, "temperature": 0.0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        raw["usage"]["prompt_tokens"], full["usage"]["prompt_tokens"],
        "raw rendering and chat template give the same prompt: {raw}"
    );

    engine.stop().await.unwrap();
    assert_group_gone(pid);
}

#[tokio::test]
async fn port_in_use_is_a_one_line_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let s = settings(
        dir.path(),
        json!({"llamacpp": {"port": port, "model_path": gemma().display().to_string()}}),
    );
    let err = server::start(&s, "llamacpp", dir.path()).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<StartError>(),
        Some(StartError::PortInUse { .. })
    ));
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&port.to_string()) && msg.contains("llamacpp"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert_eq!(inferbench::exit::exit_code(&err), 2);
}

#[tokio::test]
async fn missing_model_is_a_one_line_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        json!({"llamacpp": {"port": free_port(), "model_path": "/nonexistent/model.gguf"},
               "pytorch": {"port": free_port(), "model_path": "./missing-model-dir"}}),
    );
    for key in ["llamacpp", "pytorch"] {
        let err = server::start(&s, key, dir.path()).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("model file") && msg.contains("scripts/setup.sh") && msg.contains(key),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(inferbench::exit::exit_code(&err), 2);
        assert!(
            err.downcast_ref::<StartError>()
                .unwrap()
                .is_missing_engine()
        );
    }
}

#[tokio::test]
async fn missing_binary_is_a_one_line_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        json!({"llamacpp": {"port": free_port(), "model_path": gemma().display().to_string(),
                            "binary": "/nonexistent/llama-server"},
               "ollama": {"port": free_port(), "binary": "no-such-ollama-binary"}}),
    );
    for key in ["llamacpp", "ollama"] {
        let err = server::start(&s, key, dir.path()).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("not found") && msg.contains("scripts/setup.sh"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(inferbench::exit::exit_code(&err), 2);
        assert!(matches!(
            err.downcast_ref::<StartError>(),
            Some(StartError::MissingBinary { .. })
        ));
    }
    // Nothing was spawned, so nothing was logged.
    assert!(!dir.path().join("logging").exists());
}

#[tokio::test]
async fn a_server_that_dies_during_startup_reports_its_log() {
    // A "llama-server" that prints an error and exits: the manager must say so at once,
    // quoting the log, instead of waiting for the startup timeout.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("llama-server");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'error: failed to load model: bad magic' >&2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = settings(
        dir.path(),
        json!({"llamacpp": {"port": free_port(), "model_path": gemma().display().to_string(),
                            "binary": fake.display().to_string(), "startup_timeout": 30}}),
    );
    let t = std::time::Instant::now();
    let err = server::start(&s, "llamacpp", &dir.path().join("logging"))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("exited during startup") && msg.contains("bad magic"),
        "{msg}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn ollama_prepare_start_request_stop_clean() {
    let bin = inferbench_home().join("bin/ollama");
    assert!(
        bin.is_file() || inferbench::engines::launch::search_path("ollama").is_some(),
        "ollama is not installed: run scripts/setup.sh (it builds Ollama with `go install`)"
    );
    let dir = tempfile::tempdir().unwrap();
    // A private model store, so the test neither needs nor changes the user's.
    let store = dir.path().join("ollama-models").display().to_string();
    let port = free_port();
    let s = settings(
        dir.path(),
        json!({"ollama": {"port": port, "model_path": gemma().display().to_string(),
                          "models_dir": store,
                          "model_name": "inferbench-test-gemma", "api_endpoint": "/api/generate",
                          "startup_timeout": 60}}),
    );
    assert_eq!(
        inferbench::engines::ollama::server::prepare(&s)
            .await
            .unwrap_or_else(|e| panic!("{e:#}")),
        0
    );
    let engine = server::start(&s, "ollama", &dir.path().join("logging"))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let pid = engine.pid();
    let tok = tokenizer();
    let client = reqwest::Client::new();
    let generate = async |r: &inferbench::client::PromptInput| -> Value {
        let body = json!({
            "model": "inferbench-test-gemma", "prompt": engine.target.raw_prompt(&r.rendered),
            "raw": true, "stream": false,
            "options": {"temperature": 0.0, "seed": 42, "num_predict": 32, "num_thread": 2}
        });
        client
            .post(engine.target.url())
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    // A prompt without "\n\n" (no system message), where Ollama's tokenizer and ours
    // agree: Ollama adds BOS itself, so the raw prompt without it is exactly our tokens.
    // (With a system message the template puts "\n\n" after it, which tokenizer.json
    // and llama.cpp read as one token (108) and Ollama 0.17.4 as more; reported below.)
    let ascii = ChatTemplate::builtin("gemma3")
        .unwrap()
        .prompt_input("", "What is the difference between a list and a tuple?")
        .unwrap();
    let resp = generate(&ascii).await;
    assert_eq!(
        resp["prompt_eval_count"].as_u64().unwrap() as usize,
        tok.encode_ids(&ascii.rendered, false).unwrap().len(),
        "{resp}"
    );
    let n = resp["eval_count"].as_u64().unwrap();
    let ns = resp["eval_duration"].as_u64().unwrap();
    assert!(n > 0 && ns > 0, "{resp}");
    eprintln!(
        "ollama: load {:.0} ms, decode {:.1} tok/s, output {:?}",
        engine.info.load_ms.unwrap(),
        n as f64 / ns as f64 * 1e9,
        resp["response"].as_str().unwrap_or_default()
    );
    // The seed's Korean prompt: report how Ollama's own tokenizer counts it.
    let korean = reference();
    let resp = generate(&korean).await;
    eprintln!(
        "ollama: seed-style prompt (system + Korean user) evaluated as {} tokens; tokenizer.json says {}",
        resp["prompt_eval_count"],
        tok.encode_ids(&korean.rendered, false).unwrap().len()
    );
    engine.stop().await.unwrap();
    // `ollama serve` runs the model in a runner subprocess: the whole group must be gone.
    assert_group_gone(pid);
}
