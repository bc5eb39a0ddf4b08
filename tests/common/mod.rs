//! Shared by the end-to-end tests: the synthetic engine as a separate process, free ports.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use assert_cmd::cargo::CommandCargoExt;
use std::io::{BufRead, BufReader};
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

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
