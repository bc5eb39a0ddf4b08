//! No engine process outlives inferbench: SIGINT, SIGTERM and a panic kill every
//! registered process group (grandchildren included) before exit; SIGKILL, which no
//! handler can see, still takes the direct children down through the parent-death signal.
//!
//! Each test runs itself again as the "inferbench" under test (same test binary, env
//! `ENGINES_PROCESS_CHILD` set): the child spawns two process groups the way engines are
//! spawned (`sh` with two `sleep` children), prints their pids, and waits for a signal or
//! panics; the parent signals it and counts what is left.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "ENGINES_PROCESS_CHILD";

/// In the child role: spawn two groups, print their pids, then panic or wait.
fn child_role(panic: bool) {
    use inferbench::process::{CommandSpec, LogTarget, ProcessGroup, install_signal_handlers};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        install_signal_handlers().unwrap();
        let spec = CommandSpec::new("sh").args(["-c", "sleep 100 & sleep 100 & wait"]);
        let a = ProcessGroup::spawn(&spec, LogTarget::Null).unwrap();
        let b = ProcessGroup::spawn(&spec, LogTarget::Null).unwrap();
        println!("PIDS {} {}", a.pid(), b.pid());
        tokio::time::sleep(Duration::from_millis(300)).await;
        if panic {
            panic!("deliberate panic with engines running");
        }
        tokio::time::sleep(Duration::from_secs(100)).await;
        drop((a, b));
    });
}

/// Run this test binary again as the child, for test `name`.
fn start(name: &str) -> (std::process::Child, Vec<u32>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pids: Vec<u32> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest prints "test NAME ... " on the same line first.
        if let Some((_, rest)) = line.split_once("PIDS ") {
            pids = rest
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect();
            break;
        }
    }
    assert_eq!(pids.len(), 2, "child printed no pids");
    // Wait for each group to have its three members.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids
        .iter()
        .any(|&p| inferbench::process::group_members(p as i32).len() < 3)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &p in &pids {
        assert_eq!(inferbench::process::group_members(p as i32).len(), 3);
    }
    (child, pids)
}

fn wait_gone(pred: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pred() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    pred()
}

fn groups_empty(pids: &[u32]) -> bool {
    pids.iter()
        .all(|&p| inferbench::process::group_members(p as i32).is_empty())
}

#[test]
fn sigint_and_sigterm_kill_every_group_then_exit_130_143() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_role(false);
    }
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let (mut child, pids) = start("sigint_and_sigterm_kill_every_group_then_exit_130_143");
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "signal {sig}");
        assert!(
            wait_gone(|| groups_empty(&pids)),
            "signal {sig}: processes left"
        );
    }
}

#[test]
fn panic_kills_every_group() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_role(true);
    }
    let (mut child, pids) = start("panic_kills_every_group");
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        wait_gone(|| groups_empty(&pids)),
        "processes left after panic"
    );
}

#[test]
fn sigkill_takes_direct_children_down() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_role(false);
    }
    let (mut child, pids) = start("sigkill_takes_direct_children_down");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        wait_gone(|| pids.iter().all(|&p| !inferbench::process::pid_alive(p))),
        "group leaders survived SIGKILL of their parent"
    );
    // Their own children are out of reach of the parent-death signal; clean them up.
    for &p in &pids {
        inferbench::process::kill_group(p, Duration::from_millis(100));
    }
    assert!(wait_gone(|| groups_empty(&pids)));
}
