//! Shared by the end-to-end tests: the synthetic engine as a separate process, free ports.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use assert_cmd::cargo::CommandCargoExt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `inferbench mock-engine --port 0 ARGS...` as a child process, killed on drop.
pub struct MockEngine {
    child: Child,
    /// Base URL it listens on, read from its first line of output.
    pub url: String,
}

impl Drop for MockEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the synthetic engine with these arguments and wait until it listens.
pub fn mock_engine(args: &[&str]) -> MockEngine {
    let mut child = Command::cargo_bin("inferbench")
        .unwrap()
        .args(["mock-engine", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected mock output: {line:?}"))
        .to_string();
    MockEngine { child, url }
}

/// A free TCP port on 127.0.0.1 for a server a test configures by port, taken below
/// the kernel's ephemeral range (32768–60999 by default): a port bound and released from
/// that range can be taken by any other test's outgoing connection or `--port 0` listener
/// before our server binds it (CI saw `ollama serve`: "bind: address already in use").
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Spread by process so that test binaries running side by side start apart.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let offset = (std::process::id() % 97) as u16 * 120;
    for _ in 0..2000 {
        let p = 20000 + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % 12000;
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port in 20000-31999");
}

/// The `inferbench` binary run in `dir`, with no `BENCHMARK_*` override inherited.
pub fn inferbench(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("inferbench").unwrap();
    c.current_dir(dir);
    for v in [
        "BENCHMARK_NUM_RUNS",
        "BENCHMARK_MAX_TOKENS",
        "BENCHMARK_TEMPERATURE",
        "BENCHMARK_TIMEOUT",
        "BENCHMARK_SYSTEM_PROMPT",
    ] {
        c.env_remove(v);
    }
    c
}

/// The one file in `dir` whose extension is `ext` (fails when there is not exactly one).
pub fn only_file(dir: &Path, ext: &str) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Fails with every error when `doc` does not validate against schema/results.schema.json.
pub fn assert_valid_results(doc: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema errors: {errors:?}");
}

/// Records in the one JSONL under `out` so far (0 before it exists).
pub fn jsonl_lines(out: &Path) -> usize {
    std::fs::read_dir(out)
        .ok()
        .and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        })
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .count()
        })
        .unwrap_or(0)
}

/// The synthetic engine in this process on 127.0.0.1:0: its base URL, and the sender that
/// stops it (dropping it stops it too).
pub async fn serve_mock(
    cfg: inferbench::mock::MockConfig,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(inferbench::mock::serve(l, cfg, async {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx)
}

/// One short user question per id, as load prompts.
pub fn load_prompts(ids: &[&str]) -> Vec<inferbench::load::LoadPrompt> {
    ids.iter()
        .map(|id| inferbench::load::LoadPrompt {
            id: id.to_string(),
            tier: "short".into(),
            input: inferbench::client::PromptInput {
                messages: vec![inferbench::client::Message {
                    role: "user".into(),
                    content: format!("question {id}"),
                }],
                rendered: format!("question {id}"),
            },
        })
        .collect()
}
