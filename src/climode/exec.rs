//! Run one engine process for one measured run: spawn it in its own process group with
//! stdin closed ([`crate::process`]), stamp every stdout read on our clock, sample the
//! group's memory, enforce a timeout (the whole group is killed), and time spawn → exit.

use super::memory::TreePeak;
use crate::process::{CommandSpec, LogTarget, ProcessGroup};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::time::{Duration, Instant};

/// How often the process group's memory is sampled. Rarely, on purpose: a sample scans
/// `/proc`, and on a small host every millisecond we take is stolen from the engine we
/// measure (at 20 ms, llama.cpp on 2 cores decoded ~7 % slower under the runner than
/// alone). The peak of each process is its kernel-kept `VmHWM`, exact however rarely it
/// is read; only the sum over several processes depends on the interval.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// One read from stdout: when it arrived (ms after spawn) and where it ended in the
/// captured bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub at_ms: f64,
    pub end: usize,
}

/// What one process did.
#[derive(Debug, Clone, Default)]
pub struct ProcessOutcome {
    pub argv: Vec<String>,
    /// When the spawn was started (wall clock, RFC 3339).
    pub started_at: String,
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stdout_chunks: Vec<Chunk>,
    pub stderr: Vec<u8>,
    /// Spawn to exit, on our clock.
    pub wall_ms: f64,
    pub memory: TreePeak,
}

impl ProcessOutcome {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// A one-line reason for a failed process: timeout, signal or exit code, and the
    /// line of stderr that says why ([`crate::process::reason_line`]: the last `Error:` /
    /// `error:` line, not the end of a backtrace printed after it; else the last line).
    pub fn failure_reason(&self) -> String {
        let how = if self.timed_out {
            "timed out (process group killed)".to_string()
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig}")
        } else {
            format!("exited with code {}", self.exit_code.unwrap_or(-1))
        };
        let err = self.stderr_text();
        let last = crate::process::reason_line(&err).unwrap_or("");
        if last.is_empty() {
            format!("{} {how}", self.argv.first().map_or("", String::as_str))
        } else {
            format!(
                "{} {how}: {}",
                self.argv.first().map_or("", String::as_str),
                last.chars().take(300).collect::<String>()
            )
        }
    }
}

fn read_stamped(mut r: impl Read, t0: Instant) -> (Vec<u8>, Vec<Chunk>) {
    let mut bytes = Vec::new();
    let mut chunks = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let at_ms = t0.elapsed().as_secs_f64() * 1000.0;
                bytes.extend_from_slice(&buf[..n]);
                chunks.push(Chunk {
                    at_ms,
                    end: bytes.len(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    (bytes, chunks)
}

/// Run `spec` to completion (or `timeout`, after which the group gets SIGTERM, `grace`,
/// SIGKILL). Errors only when the process cannot be started.
pub async fn run_process(
    spec: &CommandSpec,
    timeout: Duration,
    grace: Duration,
) -> anyhow::Result<ProcessOutcome> {
    let started_at = chrono::Local::now().to_rfc3339();
    let t0 = Instant::now();
    let mut group = ProcessGroup::spawn(spec, LogTarget::Piped)?;
    let pgid = group.pid();
    let argv = group.argv().to_vec();
    let stdout = group.take_stdout().context("child stdout was not piped")?;
    let stderr = group.take_stderr().context("child stderr was not piped")?;
    let out_task = tokio::task::spawn_blocking(move || read_stamped(stdout, t0));
    let err_task = tokio::task::spawn_blocking(move || read_stamped(stderr, t0).0);

    let mut memory = TreePeak::default();
    memory.sample_group(pgid);
    let mut wait = tokio::spawn(group.wait());
    let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut timed_out = false;
    let status = loop {
        tokio::select! {
            res = &mut wait => {
                break res.context("joining the process waiter")?;
            }
            _ = ticker.tick() => {
                memory.sample_group(pgid);
                if !timed_out && t0.elapsed() > timeout {
                    timed_out = true;
                    tokio::task::spawn_blocking(move || crate::process::kill_group(pgid, grace));
                }
            }
        }
    };
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let status = status?;
    let (stdout, stdout_chunks) = out_task.await.context("joining the stdout reader")?;
    let stderr = err_task.await.context("joining the stderr reader")?;
    use std::os::unix::process::ExitStatusExt;
    Ok(ProcessOutcome {
        argv,
        started_at,
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout,
        stdout_chunks,
        stderr,
        wall_ms,
        memory,
    })
}

/// Times (ms after spawn) of the first and last stdout chunk that carry generated text:
/// bytes in `[from, to)` of the captured stdout that are not whitespace. `from` skips an
/// echoed prompt, `to` cuts an end marker such as ` [end of text]`. Pure.
pub fn content_span(stdout: &[u8], chunks: &[Chunk], from: usize, to: usize) -> Option<(f64, f64)> {
    let mut first = None;
    let mut last = None;
    let mut start = 0usize;
    for c in chunks {
        let lo = start.max(from);
        let hi = c.end.min(to).min(stdout.len());
        if lo < hi && stdout[lo..hi].iter().any(|b| !b.is_ascii_whitespace()) {
            first.get_or_insert(c.at_ms);
            last = Some(c.at_ms);
        }
        start = c.end;
    }
    Some((first?, last?))
}

/// The arrival times (ms after spawn) of chunks that carry generated text. Pure.
pub fn content_events(stdout: &[u8], chunks: &[Chunk], from: usize, to: usize) -> Vec<f64> {
    content_reads(stdout, chunks, from, to)
        .into_iter()
        .map(|r| r.at_ms)
        .collect()
}

/// One stdout read that carried generated text: when it arrived (ms after spawn) and how
/// many bytes of `[from, to)` it carried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContentRead {
    pub at_ms: f64,
    pub bytes: usize,
}

/// The reads that carry generated text (bytes in `[from, to)` that are not all
/// whitespace), with the bytes of that range each carried. Pure.
pub fn content_reads(stdout: &[u8], chunks: &[Chunk], from: usize, to: usize) -> Vec<ContentRead> {
    let mut out = Vec::new();
    let mut start = 0usize;
    for c in chunks {
        let lo = start.max(from);
        let hi = c.end.min(to).min(stdout.len());
        if lo < hi && stdout[lo..hi].iter().any(|b| !b.is_ascii_whitespace()) {
            out.push(ContentRead {
                at_ms: c.at_ms,
                bytes: hi - lo,
            });
        }
        start = c.end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_skips_echo_and_marker() {
        let out = b"user\nHi\nmodel\nHello there [end of text]\n";
        let echo = "user\nHi\nmodel\n".len();
        let marker = out.len() - " [end of text]\n".len();
        let chunks = [
            Chunk {
                at_ms: 100.0,
                end: echo,
            },
            Chunk {
                at_ms: 300.0,
                end: echo + 5,
            },
            Chunk {
                at_ms: 320.0,
                end: echo + 11,
            },
            Chunk {
                at_ms: 330.0,
                end: out.len(),
            },
        ];
        assert_eq!(
            content_span(out, &chunks, echo, marker),
            Some((300.0, 320.0))
        );
        assert_eq!(
            content_events(out, &chunks, echo, marker),
            vec![300.0, 320.0]
        );
        assert_eq!(content_span(out, &chunks, out.len(), out.len()), None);
        let reads = content_reads(out, &chunks, echo, marker);
        assert_eq!(
            reads,
            vec![
                ContentRead {
                    at_ms: 300.0,
                    bytes: 5
                },
                ContentRead {
                    at_ms: 320.0,
                    bytes: 6
                }
            ]
        );
    }

    #[tokio::test]
    async fn runs_a_process_and_stamps_output() {
        let spec =
            CommandSpec::new("sh").args(["-c", "echo one; sleep 0.2; echo two; echo err >&2"]);
        let o = run_process(&spec, Duration::from_secs(10), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(o.success(), "{}", o.failure_reason());
        assert_eq!(o.stdout_text(), "one\ntwo\n");
        assert_eq!(o.stderr_text(), "err\n");
        assert!(o.stdout_chunks.len() >= 2);
        let gap = o.stdout_chunks.last().unwrap().at_ms - o.stdout_chunks[0].at_ms;
        assert!(gap >= 150.0, "{gap}");
        assert!(o.wall_ms >= 200.0);
        assert!(o.memory.peak_mib().is_some());
    }

    #[test]
    fn failure_reason_names_the_error_line_before_a_backtrace() {
        let o = ProcessOutcome {
            argv: vec!["cli".into()],
            exit_code: Some(1),
            stderr: b"Error: Model not found at path: gemma-3-270m\n\nStack backtrace:\n   0: anyhow::error::<impl anyhow::Error>::msg\n  10: __libc_start_main\n  11: _start\n".to_vec(),
            ..Default::default()
        };
        assert_eq!(
            o.failure_reason(),
            "cli exited with code 1: Error: Model not found at path: gemma-3-270m"
        );
        let plain = ProcessOutcome {
            stderr: b"loading\nout of memory\n".to_vec(),
            ..o
        };
        assert_eq!(
            plain.failure_reason(),
            "cli exited with code 1: out of memory"
        );
    }

    #[tokio::test]
    async fn timeout_kills_the_group() {
        let spec = CommandSpec::new("sh").args(["-c", "sleep 30 & sleep 30"]);
        let o = run_process(
            &spec,
            Duration::from_millis(200),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        assert!(o.timed_out);
        assert!(!o.success());
        assert!(o.wall_ms < 5000.0, "{}", o.wall_ms);
        assert!(o.failure_reason().contains("timed out"));
    }
}
