//! `inferbench server start|status|stop` through `server::run`: start leaves a real
//! llama-server running and recorded in the state file; status sees it; stop (as another
//! invocation would, from the state file alone) ends its whole process group; a dead pid
//! in the state file is reported stale. Uses a private INFERBENCH_HOME.

use clap::Parser;
use inferbench::cli::{Cli, Command};
use inferbench::server::{self, StateEntry};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn real_home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/inferbench")
}

fn server_args(argv: &[&str]) -> inferbench::cli::ServerArgs {
    let mut full = vec!["inferbench", "server"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full).unwrap().command {
        Command::Server(a) => a,
        other => panic!("not a server command: {other:?}"),
    }
}

#[tokio::test]
async fn start_status_stop_across_invocations() {
    let real = std::env::var_os("INFERBENCH_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(real_home);
    let llama = real.join("bin/llama-server");
    let model = real.join("models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf");
    assert!(
        llama.exists() && model.is_file(),
        "llama-server or the Gemma model is missing: run scripts/setup.sh"
    );
    let home = tempfile::tempdir().unwrap();
    // SAFETY: this test binary has this one test; nothing else reads the variable concurrently.
    unsafe { std::env::set_var("INFERBENCH_HOME", home.path()) };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = home.path().join("benchmark_config.json");
    std::fs::write(
        &cfg,
        json!({"servers": {"llamacpp": {"port": port, "binary": llama, "model_path": model,
                                        "startup_timeout": 60}},
               "inferbench": {"stop_grace_seconds": 3}})
        .to_string(),
    )
    .unwrap();
    let cfg = cfg.display().to_string();

    assert_eq!(
        server::run(server_args(&["start", "llamacpp", "--config", &cfg]))
            .await
            .unwrap(),
        0
    );
    let state = server::read_state(&server::state_path()).unwrap();
    let entry = state["llamacpp"].clone();
    assert!(entry.is_running());
    assert_eq!(entry.port, port);
    assert!(entry.log.as_ref().unwrap().is_file());
    assert!(state_path_is_private(home.path()));
    let health = reqwest::get(format!("{}/health", entry.base_url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Starting again is a no-op while it runs.
    assert_eq!(
        server::run(server_args(&["start", "llamacpp", "--config", &cfg]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        server::read_state(&server::state_path()).unwrap()["llamacpp"].pid,
        entry.pid
    );
    assert_eq!(
        server::run(server_args(&["status", "--config", &cfg]))
            .await
            .unwrap(),
        0
    );

    // Stop works from the state file alone.
    assert_eq!(
        server::run(server_args(&["stop", "llamacpp", "--config", &cfg]))
            .await
            .unwrap(),
        0
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !inferbench::process::group_members(entry.pid as i32).is_empty()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(inferbench::process::group_members(entry.pid as i32).is_empty());
    assert!(
        server::read_state(&server::state_path())
            .unwrap()
            .is_empty()
    );

    // A stale entry (its process is gone) is detected and removed by stop.
    let mut stale: BTreeMap<String, StateEntry> = BTreeMap::new();
    stale.insert("llamacpp".into(), entry.clone());
    server::write_state(&server::state_path(), &stale).unwrap();
    assert!(!stale["llamacpp"].is_running());
    assert_eq!(
        server::run(server_args(&["stop", "--config", &cfg]))
            .await
            .unwrap(),
        0
    );
    assert!(
        server::read_state(&server::state_path())
            .unwrap()
            .is_empty()
    );
}

fn state_path_is_private(home: &std::path::Path) -> bool {
    server::state_path().starts_with(home)
}
