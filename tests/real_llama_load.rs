//! Load against the real llama-server (installed by scripts/setup.sh), on Gemma 3 270M:
//! a healthy server must get zero failed requests, one at a time and 32 at a time.
//!
//! llama-server (cpp-httplib) closes a connection after each streamed answer without
//! saying `Connection: close`, and closes idle ones after 5 s; a client that reuses such a
//! connection used to fail the request ("connection closed before message completed").
//! Nothing here is simulated; a missing engine or model fails with a message naming
//! scripts/setup.sh. Short prompts and 4 output tokens keep it to minutes on 2 cores (llama-server closes
//! its connection after every streamed reply, so short replies hit the race most often).

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

const REQUESTS: u64 = 1000;

/// llama-server as a child process, killed on drop.
struct LlamaServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn installed() -> (PathBuf, PathBuf) {
    let home = inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set");
    let bin = home.join("bin/llama-server");
    let model = home.join("models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf");
    for p in [&bin, &model] {
        assert!(
            p.exists(),
            "{} is missing: run scripts/setup.sh to install llama-server and the Gemma 3 270M model",
            p.display()
        );
    }
    (bin, model)
}

/// Start llama-server with 32 slots (so that 32 requests in flight are served together)
/// and wait until /health answers 200.
fn start(dir: &Path) -> LlamaServer {
    let (bin, model) = installed();
    let port = free_port();
    let log = dir.join("llama-server.log");
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(&bin)
        .args(["-m", &model.display().to_string()])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["-c", "8192", "-np", "32", "-t", "2"])
        // The reference chat template (the GGUF has none, and llama-server would fall
        // back to ChatML): the fairness check of a `--url` llama-server compares its
        // /apply-template with our rendering and refuses a server that renders another
        // prompt.
        .args(["--jinja", "--chat-template-file"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/gemma3.jinja"))
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "could not start {}: {e} (run scripts/setup.sh)",
                bin.display()
            )
        });
    let mut server = LlamaServer { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "llama-server exited during start-up ({status}):\n{}",
                server.log_tail()
            );
        }
        if health_ok(port) {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "llama-server not ready after 180 s:\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn health_ok(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.starts_with("HTTP/1.1 200")
}

/// `inferbench api --url URL --concurrency C --requests N`, 4 tokens; its records.
fn load(dir: &Path, url: &str, concurrency: u32) -> Vec<Value> {
    let out_dir = dir.join(format!("c{concurrency}"));
    let prompts = dir.join("prompts.json");
    let mut c = common::inferbench(dir);
    let started = Instant::now();
    let output = c
        .args(["api", "--url", url, "--model", "gemma-3-270m", "-q"])
        .args(["--prompts", &prompts.display().to_string()])
        .args(["--max-tokens", "4", "--timeout", "120"])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--requests", &REQUESTS.to_string()])
        .args(["--out-dir", &out_dir.display().to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!(
        "c={concurrency}: inferbench exited {} after {:.0} s",
        output.status,
        started.elapsed().as_secs_f64()
    );
    let jsonl = std::fs::read_dir(out_dir.join("output"))
        .unwrap_or_else(|e| {
            panic!(
                "no output/ under {}: {e}; stderr:\n{stderr}",
                out_dir.display()
            )
        })
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap_or_else(|| panic!("no JSONL written; stderr:\n{stderr}"));
    std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Measured records, failures (with their errors) and retried requests.
fn tally(records: &[Value]) -> (usize, Vec<String>, usize) {
    let measured: Vec<&Value> = records
        .iter()
        .filter(|r| r["warmup"] != Value::Bool(true))
        .collect();
    let failed = measured
        .iter()
        .filter(|r| r["ok"] != Value::Bool(true))
        .map(|r| {
            // The error and where the request stood, so that a failure here can be told
            // apart: never answered, answered then stalled, or died on its connection.
            format!(
                "{} [timeline {}, retries {}]",
                r["error"].as_str().unwrap_or("?"),
                r["timeline"],
                r.get("retries").unwrap_or(&Value::Null)
            )
        })
        .collect();
    let retried = measured
        .iter()
        .filter(|r| r.get("retries").is_some())
        .count();
    (measured.len(), failed, retried)
}

#[test]
fn llama_server_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prompts.json"),
        r#"[{"id": "hi", "tier": "short", "text": "Say hi."},
            {"id": "sum", "tier": "short", "text": "What is 2+2?"}]"#,
    )
    .unwrap();
    let server = start(dir.path());
    // Both spellings of a base URL people use.
    let urls = [
        format!("http://127.0.0.1:{}", server.port),
        format!("http://127.0.0.1:{}/v1/", server.port),
    ];
    let mut failures = Vec::new();
    for (concurrency, url) in [(1, &urls[0]), (32, &urls[1])] {
        let records = load(dir.path(), url, concurrency);
        let (measured, failed, retried) = tally(&records);
        eprintln!(
            "c={concurrency}: {} of {measured} requests failed, {retried} retried on a new connection",
            failed.len()
        );
        assert!(
            measured as u64 >= REQUESTS,
            "c={concurrency}: {measured} measured records, expected {REQUESTS}"
        );
        let ok_tokens = records
            .iter()
            .filter(|r| r["ok"] == Value::Bool(true))
            .all(|r| {
                r["output_tokens"]
                    .as_u64()
                    .is_some_and(|n| (1..=4).contains(&n))
            });
        assert!(
            ok_tokens,
            "c={concurrency}: a record outside 1..=4 output tokens"
        );
        if !failed.is_empty() {
            let mut kinds = failed.clone();
            kinds.sort();
            kinds.dedup();
            kinds.truncate(5);
            failures.push(format!(
                "c={concurrency}: {} of {measured} failed: {kinds:?}",
                failed.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nllama-server log:\n{}",
        failures.join("\n"),
        server.log_tail()
    );
}
