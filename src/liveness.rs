//! Watching the engine processes we started: when one exits while it is being measured,
//! when and how (exit code or signal, the end of its log), so that nothing more is sent to
//! it and every report says it died.
//!
//! The exit is read without reaping the child (`waitid` with `WNOWAIT` on Linux), so the
//! [`crate::process::ProcessGroup`] that owns it still collects it when it is stopped.

use crate::client::RequestError;
pub use crate::results::EngineExit;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How often a watched process is looked at.
const POLL: Duration = Duration::from_millis(100);
/// After a request fails as a dead engine's would, how long its process is looked at.
const FAILURE_LOOK: Duration = Duration::from_millis(300);
/// How much of the end of its log an exit keeps.
const LOG_TAIL_BYTES: u64 = 1200;

/// In words: "killed by signal 9 (SIGKILL)" or "exited with code 1". Pure.
pub fn describe(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (_, Some(s)) => {
            let name = nix::sys::signal::Signal::try_from(s)
                .map(|n| format!(" ({})", n.as_str()))
                .unwrap_or_default();
            format!("killed by signal {s}{name}")
        }
        (Some(c), None) => format!("exited with code {c}"),
        (None, None) => "exited (how is unknown on this platform)".to_string(),
    }
}

/// The exit code and signal of child `pid` once it has exited, without reaping it;
/// `None` while it runs.
fn peek_exit(pid: u32) -> Option<(Option<i32>, Option<i32>)> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(nix::unistd::Pid::from_raw(pid as i32)), flags) {
            Ok(WaitStatus::Exited(_, code)) => Some((Some(code), None)),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some((None, Some(sig as i32))),
            Ok(_) => None,
            // Not our child any more (already reaped): it is gone.
            Err(_) => (!crate::process::pid_alive(pid)).then_some((None, None)),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        (!crate::process::pid_alive(pid)).then_some((None, None))
    }
}

/// A watch on one engine process; cheap to clone.
#[derive(Clone, Debug)]
pub struct EngineWatch(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    /// The watched child.
    pid: u32,
    log: Option<PathBuf>,
    exit: OnceLock<EngineExit>,
    notify: tokio::sync::Notify,
    /// We are stopping it ourselves: its exit is no death.
    disarmed: AtomicBool,
}

impl Shared {
    /// Look at the process now; record its exit if it has exited. Whether it has.
    fn look(&self) -> bool {
        if self.exit.get().is_some() {
            return true;
        }
        if self.disarmed.load(Ordering::Relaxed) {
            return false;
        }
        let Some((code, signal)) = peek_exit(self.pid) else {
            return false;
        };
        let exit = EngineExit {
            how: describe(code, signal),
            code,
            signal,
            at: chrono::Local::now().to_rfc3339(),
            log_tail: self
                .log
                .as_deref()
                .map(|p| crate::process::log_tail(p, LOG_TAIL_BYTES))
                .unwrap_or_default(),
        };
        tracing::error!("engine process {} {} at {}", self.pid, exit.how, exit.at);
        let _ = self.exit.set(exit);
        self.notify.notify_waiters();
        true
    }
}

impl EngineWatch {
    fn new(pid: u32, log: Option<PathBuf>) -> EngineWatch {
        EngineWatch(Arc::new(Shared {
            pid,
            log,
            exit: OnceLock::new(),
            notify: tokio::sync::Notify::new(),
            disarmed: AtomicBool::new(false),
        }))
    }

    /// Watch child `pid` (a process group leader we spawned) from now on.
    pub fn start(pid: u32, log: Option<PathBuf>) -> EngineWatch {
        let watch = EngineWatch::new(pid, log);
        let shared = Arc::downgrade(&watch.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                let Some(s) = shared.upgrade() else { return };
                if s.disarmed.load(Ordering::Relaxed) || s.look() {
                    return;
                }
            }
        });
        watch
    }

    /// After a request that ended with `error`: when its failure is one a dead engine's
    /// would be (connection refused or reset), look at the process now, and again for up
    /// to [`FAILURE_LOOK`] (the kernel closes a dying process's sockets a moment before
    /// its exit can be read), rather than at the next poll, so that no request is sent to
    /// a dead engine in between.
    pub async fn look_after(&self, error: Option<&RequestError>) {
        if !matches!(
            error,
            Some(RequestError::Connect(_) | RequestError::Transport(_))
        ) {
            return;
        }
        let until = std::time::Instant::now() + FAILURE_LOOK;
        while !self.0.look() && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stop watching: we are about to stop the process ourselves.
    pub fn disarm(&self) {
        self.0.disarmed.store(true, Ordering::Relaxed);
    }

    /// The exit, once the process died while watched.
    pub fn exited(&self) -> Option<&EngineExit> {
        self.0.exit.get()
    }

    /// Once the process died, the error a request still outstanding ends with (never,
    /// while it lives).
    pub async fn died_error(&self) -> RequestError {
        let x = self.died().await;
        RequestError::EngineExited(format!("{} at {}", x.how, x.at))
    }

    /// Wait until the process dies (forever if it does not, or once disarmed).
    pub async fn died(&self) -> EngineExit {
        loop {
            let notified = self.0.notify.notified();
            if let Some(e) = self.0.exit.get() {
                return e.clone();
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_in_words() {
        assert_eq!(describe(None, Some(9)), "killed by signal 9 (SIGKILL)");
        assert_eq!(describe(Some(1), None), "exited with code 1");
        assert_eq!(describe(Some(0), None), "exited with code 0");
        assert!(describe(None, None).contains("unknown"));
    }

    #[tokio::test]
    async fn a_killed_child_is_seen_with_its_signal_and_can_still_be_reaped() {
        let spec = crate::process::CommandSpec::new("sleep").arg("30");
        let group =
            crate::process::ProcessGroup::spawn(&spec, crate::process::LogTarget::Null).unwrap();
        let watch = EngineWatch::start(group.pid(), None);
        assert!(watch.exited().is_none());
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(group.pid() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), watch.died())
            .await
            .expect("the watch saw the death");
        assert_eq!(exit.signal, Some(9));
        assert_eq!(exit.how, "killed by signal 9 (SIGKILL)");
        // Not reaped by the watch: the owner still collects the status.
        let status = group.stop(Duration::from_millis(100)).await.unwrap();
        assert!(status.is_some());
    }

    #[tokio::test]
    async fn a_disarmed_watch_ignores_our_own_stop() {
        let spec = crate::process::CommandSpec::new("sleep").arg("30");
        let group =
            crate::process::ProcessGroup::spawn(&spec, crate::process::LogTarget::Null).unwrap();
        let watch = EngineWatch::start(group.pid(), None);
        watch.disarm();
        group.stop(Duration::from_millis(100)).await.unwrap();
        tokio::time::sleep(POLL * 3).await;
        assert!(watch.exited().is_none());
    }
}
