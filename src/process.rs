//! Child processes that never outlive us: each one is spawned without a shell, in its own
//! process group, with stdin closed and stdout/stderr captured to a log file (or piped).
//!
//! Every live group is kept in a global registry so that a signal handler
//! ([`install_signal_handlers`]) or a panic hook can kill them all before the process
//! exits. [`ProcessGroup`] kills its group when dropped, and [`ProcessGroup::stop`] does
//! the orderly version: SIGTERM to the whole group, a grace period, then SIGKILL. On
//! Linux each child also gets `PR_SET_PDEATHSIG = SIGKILL`, a backstop for the case where
//! we are killed with SIGKILL and no handler runs (it covers the direct child only;
//! grandchildren are reached through the group).
//!
//! [`kill_group`] is stateless so that `inferbench server stop` can end a group started by
//! another invocation.

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// What to run: a program and its arguments, never a shell string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Extra environment variables (the parent's environment is inherited).
    pub env: BTreeMap<OsString, OsString>,
    pub cwd: Option<PathBuf>,
}

impl CommandSpec {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        CommandSpec {
            program: program.into(),
            ..Default::default()
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The command line as strings, for logs and result files.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect()
    }
}

/// Where the child's stdout and stderr go.
#[derive(Debug, Clone, PartialEq)]
pub enum LogTarget {
    /// Both streams appended to this file (created with its parent directories).
    File(PathBuf),
    /// Both streams piped; take them with [`ProcessGroup::take_stdout`] /
    /// [`ProcessGroup::take_stderr`].
    Piped,
    /// Discarded.
    Null,
}

/// Process groups that are alive and must be killed if we exit abnormally.
static REGISTRY: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn register(pgid: i32) {
    if let Ok(mut set) = REGISTRY.lock() {
        set.insert(pgid);
    }
}

fn unregister(pgid: i32) {
    if let Ok(mut set) = REGISTRY.lock() {
        set.remove(&pgid);
    }
}

/// The process groups currently registered (live children of this process).
pub fn live_groups() -> Vec<i32> {
    REGISTRY
        .lock()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default()
}

/// A child process leading its own process group. Dropping it kills the whole group
/// (SIGKILL, no grace); call [`ProcessGroup::stop`] for an orderly end.
#[derive(Debug)]
pub struct ProcessGroup {
    child: Option<Child>,
    pid: u32,
    log: Option<PathBuf>,
    argv: Vec<String>,
    started: Instant,
}

impl ProcessGroup {
    /// Spawn `spec` in a new process group with stdin closed; the child dies with us.
    pub fn spawn(spec: &CommandSpec, log: LogTarget) -> Result<ProcessGroup> {
        Self::spawn_with(spec, log, true)
    }

    /// Like [`ProcessGroup::spawn`]; with `die_with_parent` false the child gets no
    /// parent-death signal, so it can outlive us after [`ProcessGroup::detach`]
    /// (`inferbench server start`). Until detached it is registered and killed on drop
    /// like any other.
    pub fn spawn_with(
        spec: &CommandSpec,
        log: LogTarget,
        die_with_parent: bool,
    ) -> Result<ProcessGroup> {
        let mut cmd = std::process::Command::new(&spec.program);
        cmd.args(&spec.args);
        cmd.envs(&spec.env);
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null());
        let log_path = match &log {
            LogTarget::File(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating log directory {}", parent.display()))?;
                }
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening log file {}", path.display()))?;
                let err = file.try_clone().context("duplicating log file handle")?;
                cmd.stdout(Stdio::from(file));
                cmd.stderr(Stdio::from(err));
                Some(path.clone())
            }
            LogTarget::Piped => {
                cmd.stdout(Stdio::piped());
                cmd.stderr(Stdio::piped());
                None
            }
            LogTarget::Null => {
                cmd.stdout(Stdio::null());
                cmd.stderr(Stdio::null());
                None
            }
        };
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        if die_with_parent {
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The parent may have died before prctl took effect.
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
        let argv = spec.argv();
        let child = spawn_on_keeper(cmd).with_context(|| format!("starting {}", argv.join(" ")))?;
        let pid = child.id();
        register(pid as i32);
        Ok(ProcessGroup {
            child: Some(child),
            pid,
            log: log_path,
            argv,
            started: Instant::now(),
        })
    }

    /// Pid of the group leader, which is also the process-group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The log file the output goes to, when it goes to one.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// The command line that was started.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// When the child was spawned.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.as_mut().and_then(|c| c.stderr.take())
    }

    /// The leader's exit status if it has exited (reaps it), `None` while it runs.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => Ok(child.try_wait()?),
            None => Ok(None),
        }
    }

    /// Whether the group leader is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// SIGTERM the whole group, wait up to `grace` for it to empty, then SIGKILL.
    /// Returns the leader's exit status when it could be collected.
    pub async fn stop(mut self, grace: Duration) -> Result<Option<ExitStatus>> {
        let pgid = self.pid as i32;
        let mut child = self.child.take();
        let status = tokio::task::spawn_blocking(move || {
            let status = terminate_group(pgid, grace, child.as_mut());
            unregister(pgid);
            status
        })
        .await
        .context("waiting for the process group to stop")?;
        Ok(status)
    }

    /// Let the group run on after this value is gone: unregistered, not killed on drop.
    /// Returns the pid (= process-group id) for a state file.
    pub fn detach(mut self) -> u32 {
        unregister(self.pid as i32);
        // Dropping a std Child neither kills nor waits; the zombie (if it exits before we
        // do) is reaped by init when we exit.
        drop(self.child.take());
        self.pid
    }

    /// Wait until the leader exits (blocking the current task's thread pool, not the runtime).
    pub async fn wait(mut self) -> Result<ExitStatus> {
        let pgid = self.pid as i32;
        let mut child = self.child.take().context("process already waited for")?;
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .context("joining wait task")??;
        // The leader is gone; make sure nothing it left behind in its group lives on.
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        unregister(pgid);
        Ok(status)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pgid = self.pid as i32;
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            let _ = child.wait();
            unregister(pgid);
        }
    }
}

/// Requests to the keeper thread: a command to spawn and where to send the result.
type SpawnRequest = (
    std::process::Command,
    std::sync::mpsc::Sender<std::io::Result<Child>>,
);

static KEEPER: Mutex<Option<std::sync::mpsc::Sender<SpawnRequest>>> = Mutex::new(None);

/// Spawn from one thread that lives as long as the process. Why: Linux delivers
/// `PR_SET_PDEATHSIG` when the *thread* that forked the child exits, not the process; a
/// child forked from a short-lived thread (a `spawn_blocking` worker that idles out, a
/// test thread) would be killed at a random later moment.
fn spawn_on_keeper(cmd: std::process::Command) -> std::io::Result<Child> {
    let tx = {
        let mut guard = KEEPER
            .lock()
            .map_err(|_| std::io::Error::other("spawn keeper lock poisoned"))?;
        if guard.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("inferbench-spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn());
                    }
                })?;
            *guard = Some(tx);
        }
        guard
            .as_ref()
            .cloned()
            .ok_or_else(|| std::io::Error::other("spawn keeper missing"))?
    };
    let (reply_tx, reply_rx) = std::sync::mpsc::channel();
    tx.send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("spawn keeper thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("spawn keeper thread did not answer"))?
}

/// The start time of a process in clock ticks since boot (Linux `/proc/PID/stat` field
/// 22): with the pid it identifies a process across pid reuse.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether any process in group `pgid` still exists (zombies count until reaped).
pub fn group_exists(pgid: i32) -> bool {
    // Signal 0 checks existence and permission without sending anything.
    killpg(Pid::from_raw(pgid), None).is_ok()
}

/// Whether a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    if nix::sys::signal::kill(Pid::from_raw(pid as i32), None).is_err() {
        return false;
    }
    // A zombie still answers signal 0; on Linux read its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z" && state != "X"),
        Err(_) => !cfg!(target_os = "linux"),
    }
}

/// Count the live (non-zombie) processes whose process group is `pgid` (Linux: /proc).
pub fn group_members(pgid: i32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after "comm)": state ppid pgrp ...
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2
            && fields[0] != "Z"
            && fields[0] != "X"
            && fields[2].parse::<i32>().ok() == Some(pgid)
        {
            out.push(pid);
        }
    }
    out
}

/// SIGTERM, grace, SIGKILL for a group; reaps `child` when given. Blocking.
fn terminate_group(
    pgid: i32,
    grace: Duration,
    mut child: Option<&mut Child>,
) -> Option<ExitStatus> {
    let pg = Pid::from_raw(pgid);
    let mut status = None;
    if killpg(pg, Signal::SIGTERM).is_ok() {
        let deadline = Instant::now() + grace;
        loop {
            if status.is_none()
                && let Some(c) = child.as_deref_mut()
            {
                status = c.try_wait().ok().flatten();
            }
            let leader_gone = child.is_none() || status.is_some();
            if leader_gone && live_members(pgid) == 0 {
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Whatever is left (or a group that ignored SIGTERM) gets SIGKILL.
    let _ = killpg(pg, Signal::SIGKILL);
    if status.is_none()
        && let Some(c) = child
    {
        status = c.wait().ok();
    }
    status
}

/// Members of a group still running; falls back to signal-0 where /proc is missing.
fn live_members(pgid: i32) -> usize {
    if Path::new("/proc/self/stat").exists() {
        group_members(pgid).len()
    } else {
        usize::from(group_exists(pgid))
    }
}

/// Stop a process group this invocation did not spawn (e.g. from a state file): SIGTERM,
/// wait up to `grace` for every member to exit, then SIGKILL. Returns whether anything
/// was running.
pub fn kill_group(pgid: u32, grace: Duration) -> bool {
    let pgid = pgid as i32;
    if pgid <= 1 || live_members(pgid) == 0 {
        return false;
    }
    terminate_group(pgid, grace, None);
    unregister(pgid);
    true
}

/// Kill every registered group at once: SIGTERM, a short grace, SIGKILL. Used by the
/// signal handler and the panic hook; blocking.
pub fn kill_all(grace: Duration) {
    let groups = live_groups();
    for &pgid in &groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && groups.iter().any(|&g| live_members(g) > 0) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pgid in &groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        unregister(pgid);
    }
}

/// Grace given to children when we are interrupted.
const SIGNAL_GRACE: Duration = Duration::from_secs(2);

static HANDLERS: Once = Once::new();

static PANIC_HOOK: Once = Once::new();

/// On SIGINT or SIGTERM kill every registered group, then exit 130 or 143. Needs a Tokio
/// runtime; idempotent.
pub fn install_signal_handlers() -> Result<()> {
    let mut result = Ok(());
    HANDLERS.call_once(|| {
        result = spawn_signal_task();
    });
    result
}

/// On panic kill every registered group (then the previous hook runs). For the binary
/// ([`crate::run`]): a process whose panic ends it must leave no engine behind. Not for a
/// test binary, where one test's panic would kill every other test's engines (an
/// unwinding panic drops, and so kills, the panicking test's own groups anyway).
pub fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            kill_all(Duration::from_millis(500));
            previous(info);
        }));
    });
}

fn spawn_signal_task() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        };
        eprintln!("interrupted: stopping engine processes");
        let _ = tokio::task::spawn_blocking(|| kill_all(SIGNAL_GRACE)).await;
        std::process::exit(code);
    });
    Ok(())
}

/// The one line of a failed program's output that says why: the last line that starts
/// with `Error:` or `error:` (a Rust program's error, Uzu's `Error: Model not found …`),
/// which a backtrace printed after it (`RUST_BACKTRACE` set) would otherwise bury; `None`
/// when there is no such line. Pure.
pub fn error_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("Error:") || l.starts_with("error:"))
}

/// The reason line of a failed program's output: its [`error_line`], else its last
/// non-empty line; `None` when it printed nothing. Pure.
pub fn reason_line(text: &str) -> Option<&str> {
    error_line(text).or_else(|| text.lines().map(str::trim).rfind(|l| !l.is_empty()))
}

/// The last `max_bytes` of a log file, for error messages (lossy UTF-8).
pub fn log_tail(path: &Path, max_bytes: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max_bytes);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper() -> CommandSpec {
        // A leader with two grandchildren-style descendants in the same group.
        CommandSpec::new("sh").args(["-c", "sleep 100 & sleep 100 & wait"])
    }

    fn wait_members(pgid: i32, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_members(pgid).len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[tokio::test]
    async fn stop_kills_grandchildren() {
        let pg = ProcessGroup::spawn(&sleeper(), LogTarget::Null).unwrap();
        let pgid = pg.pid() as i32;
        wait_members(pgid, 3);
        assert_eq!(group_members(pgid).len(), 3, "sh + two sleeps");
        assert!(live_groups().contains(&pgid));
        pg.stop(Duration::from_secs(2)).await.unwrap();
        assert!(group_members(pgid).is_empty(), "group still has members");
        assert!(!live_groups().contains(&pgid));
    }

    #[test]
    fn drop_kills_grandchildren() {
        let pg = ProcessGroup::spawn(&sleeper(), LogTarget::Null).unwrap();
        let pgid = pg.pid() as i32;
        wait_members(pgid, 3);
        assert_eq!(group_members(pgid).len(), 3);
        drop(pg);
        // Grandchildren are re-parented to init, which reaps them shortly after SIGKILL.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !group_members(pgid).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(group_members(pgid).is_empty());
    }

    #[test]
    fn sigterm_ignoring_group_is_killed_after_grace() {
        let spec = CommandSpec::new("sh").args(["-c", "trap '' TERM; sleep 100 & wait"]);
        let pg = ProcessGroup::spawn(&spec, LogTarget::Null).unwrap();
        let pgid = pg.pid();
        wait_members(pgid as i32, 2);
        let t = Instant::now();
        assert!(kill_group(pgid, Duration::from_millis(300)));
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "grace was skipped"
        );
        drop(pg);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !group_members(pgid as i32).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(group_members(pgid as i32).is_empty());
    }

    #[test]
    fn kill_group_of_nothing_is_false() {
        let pg = ProcessGroup::spawn(&CommandSpec::new("true"), LogTarget::Null).unwrap();
        let pid = pg.pid();
        drop(pg);
        assert!(!kill_group(pid, Duration::from_millis(100)));
    }

    #[tokio::test]
    async fn log_file_captures_both_streams_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sub/out.log");
        let spec = CommandSpec::new("sh")
            .args(["-c", "echo out $FOO; echo err >&2; pwd"])
            .env("FOO", "bar")
            .cwd(dir.path());
        let pg = ProcessGroup::spawn(&spec, LogTarget::File(log.clone())).unwrap();
        let status = pg.wait().await.unwrap();
        assert!(status.success());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("out bar"), "{text}");
        assert!(text.contains("err"), "{text}");
        assert!(text.contains(dir.path().file_name().unwrap().to_str().unwrap()));
        assert!(log_tail(&log, 4).len() <= 4);
    }

    #[test]
    fn reason_is_the_error_line_not_the_end_of_a_backtrace() {
        // Uzu 0.5.19 with RUST_BACKTRACE=1: anyhow's error, then its backtrace.
        let stderr = "\
Error: Model not found at path: gemma-3-270m

Stack backtrace:
   0: anyhow::error::<impl anyhow::Error>::msg
             at /root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/anyhow-1.0.98/src/error.rs:83:36
   1: cli::bench::run
             at ./crates/cli/src/bench.rs:41:9
   2: cli::main
             at ./crates/cli/src/main.rs:57:31
   3: core::ops::function::FnOnce::call_once
             at /rustc/17067e9ac6d7e98f18d4a3b4a0fd4e3e7a6e9d02/library/core/src/ops/function.rs:250:5
   4: std::rt::lang_start::{{closure}}
   5: std::rt::lang_start_internal
   6: main
   7: __libc_start_call_main
             at ./csu/../sysdeps/nptl/libc_start_call_main.h:58:16
   8: __libc_start_main_impl
             at ./csu/../csu/libc-start.c:360:3
   9: _start
";
        assert_eq!(
            reason_line(stderr),
            Some("Error: Model not found at path: gemma-3-270m")
        );
        // The last of several error lines; a clap-style `error:` counts too.
        assert_eq!(
            error_line("error: first\nnoise\nerror: unexpected argument '--x'\n  tip: x\n"),
            Some("error: unexpected argument '--x'")
        );
        // No error line: the last non-empty line, as before.
        assert_eq!(error_line("loading\nkilled\n"), None);
        assert_eq!(reason_line("loading\nkilled\n\n"), Some("killed"));
        assert_eq!(reason_line(" \n"), None);
        // A line that only mentions an error is not one.
        assert_eq!(
            reason_line("llama_model_load: error loading model\nabort\n"),
            Some("abort")
        );
    }

    #[test]
    fn missing_program_is_an_error() {
        let err = ProcessGroup::spawn(
            &CommandSpec::new("/nonexistent/inferbench-no-such-binary"),
            LogTarget::Null,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("inferbench-no-such-binary"));
    }

    #[test]
    fn detached_group_survives_the_value_and_kill_group_ends_it() {
        let pg = ProcessGroup::spawn_with(&sleeper(), LogTarget::Null, false).unwrap();
        let pgid = pg.pid();
        wait_members(pgid as i32, 3);
        let ticks = start_ticks(pgid).unwrap();
        assert_eq!(pg.detach(), pgid);
        assert!(!live_groups().contains(&(pgid as i32)));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            group_members(pgid as i32).len(),
            3,
            "detached group must keep running"
        );
        assert_eq!(start_ticks(pgid), Some(ticks));
        assert!(kill_group(pgid, Duration::from_secs(2)));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !group_members(pgid as i32).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(group_members(pgid as i32).is_empty());
    }

    #[test]
    fn pid_alive_sees_exit() {
        let mut pg = ProcessGroup::spawn(&CommandSpec::new("true"), LogTarget::Null).unwrap();
        let pid = pg.pid();
        let deadline = Instant::now() + Duration::from_secs(5);
        while pg.is_alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!pid_alive(pid));
    }
}
