//! The judgement of `inferbench doctor`, pure: gathered facts (doctor's `gather`) → one
//! [`Check`] per line. Every failed check carries the command or setting that fixes it.
//! No I/O here, so every verdict is unit-tested. The verdict type and the engine-neutral
//! judges (host, GPUs, models, ports, tokenizer, template, bandwidth) are here, below
//! both the doctor and the engines; each engine's own judges are in its folder
//! (`engines/<name>/doctor.rs`), in this file's words.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One line's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// ✓ what is needed is there.
    Ok,
    /// ✗ something the selected engines need is missing or wrong; `fix` says what to do.
    Fail,
    /// – not applicable here (not installable on this host, nothing configured, no GPU).
    Skip,
}

impl Status {
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Fail => "✗",
            Status::Skip => "–",
        }
    }
}

/// One check: what it is about (`host` or an engine key), what was checked, the verdict,
/// what was found, and for a failure the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    pub scope: String,
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(scope: &str, name: &str, detail: impl Into<String>) -> Check {
        Check {
            scope: scope.into(),
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(
        scope: &str,
        name: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            scope: scope.into(),
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn skip(scope: &str, name: &str, detail: impl Into<String>) -> Check {
        Check {
            scope: scope.into(),
            name: name.into(),
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// 0 when nothing failed, 2 (input the user must fix) otherwise.
pub fn exit_code(checks: &[Check]) -> i32 {
    if checks.iter().any(|c| c.status == Status::Fail) {
        2
    } else {
        0
    }
}

/// A size in MiB (or GiB above 1 GiB), for a reader.
pub fn human_bytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

// ---------------------------------------------------------------------------------------
// Host
// ---------------------------------------------------------------------------------------

/// A GPU as NVML reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub name: String,
    pub memory_bytes: Option<u64>,
}

/// The GPU line: the GPUs NVML lists, or why there are none ("–": none is needed).
pub fn gpus(nvml: &Result<Vec<Gpu>, String>) -> Check {
    match nvml {
        Ok(list) if !list.is_empty() => Check::ok(
            "host",
            "gpus",
            list.iter()
                .enumerate()
                .map(|(i, g)| match g.memory_bytes {
                    Some(b) => format!("{i}: {} ({})", g.name, human_bytes(b)),
                    None => format!("{i}: {}", g.name),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Ok(_) => Check::skip("host", "gpus", "none (NVML lists no device)"),
        Err(why) => Check::skip("host", "gpus", format!("none found (NVML: {why})")),
    }
}

/// The device line of one engine: what it will run on and why; a GPU device asked for on
/// a host without one fails.
pub fn device(scope: &str, section: &str, device: &str, why: &str, has_nvidia: bool) -> Check {
    let cuda = device == "cuda" || device.starts_with("cuda:");
    if cuda && !has_nvidia {
        return Check::fail(
            scope,
            "device",
            format!("{device} ({why}), but this host has no NVIDIA GPU"),
            format!("set {section}.{scope}.device (or inferbench.device) to cpu or auto"),
        );
    }
    Check::ok(scope, "device", format!("{device} ({why})"))
}

// ---------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------

/// Where an engine's program was looked for and found (or the lookup's message).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub path: Result<PathBuf, String>,
}

/// The ✗ line of a program that is not there, with setup as its fix.
pub fn binary_missing(scope: &str, section: &str, why: &str) -> Check {
    Check::fail(
        scope,
        "binary",
        why.to_string(),
        format!("scripts/setup.sh (or set {section}.{scope}.binary)"),
    )
}

/// A program found (or not) with the version it printed.
pub fn binary(
    scope: &str,
    section: &str,
    found: &Result<PathBuf, String>,
    version: Option<&str>,
) -> Check {
    match found {
        Ok(p) => Check::ok(
            scope,
            "binary",
            format!("{} (version {})", p.display(), version.unwrap_or("unknown")),
        ),
        Err(why) => binary_missing(scope, section, why),
    }
}

// ---------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------

/// What a GGUF header says.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufSummary {
    pub architecture: Option<String>,
    pub file_size: u64,
    pub tensors: usize,
    pub has_chat_template: bool,
}

/// What was found at a configured model path.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelFacts {
    /// No `model_path` in the section.
    NotConfigured,
    Missing(PathBuf),
    /// A GGUF file, its header read (or why it could not be).
    Gguf(PathBuf, Result<GgufSummary, String>),
    /// Another file or a directory (safetensors, an HF or Uzu model folder), its size.
    Other {
        path: PathBuf,
        bytes: u64,
        dir: bool,
    },
}

/// The model line: present and readable, with what its header says.
pub fn model(scope: &str, section: &str, facts: &ModelFacts) -> Check {
    let fix_path = format!("scripts/setup.sh downloads it, or set {section}.{scope}.model_path");
    match facts {
        ModelFacts::NotConfigured => Check::fail(
            scope,
            "model",
            "no model_path configured",
            format!("set {section}.{scope}.model_path (scripts/setup.sh installs a GGUF)"),
        ),
        ModelFacts::Missing(p) => Check::fail(
            scope,
            "model",
            format!("{} does not exist", p.display()),
            fix_path,
        ),
        ModelFacts::Gguf(p, Err(why)) => Check::fail(
            scope,
            "model",
            format!("{} is not a readable GGUF: {why}", p.display()),
            format!("re-download it with scripts/setup.sh, or set {section}.{scope}.model_path"),
        ),
        ModelFacts::Gguf(p, Ok(g)) => Check::ok(
            scope,
            "model",
            format!(
                "{} (GGUF, {}, architecture {}, {} tensors, {})",
                p.display(),
                human_bytes(g.file_size),
                g.architecture.as_deref().unwrap_or("unknown"),
                g.tensors,
                if g.has_chat_template {
                    "carries a chat template"
                } else {
                    "no chat template: inferbench supplies its own"
                }
            ),
        ),
        ModelFacts::Other { path, bytes, dir } => Check::ok(
            scope,
            "model",
            format!(
                "{} ({}, {})",
                path.display(),
                if *dir { "directory" } else { "file" },
                human_bytes(*bytes)
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------

/// A process that holds a port.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
}

/// Whether a configured port can be bound.
#[derive(Debug, Clone, PartialEq)]
pub enum PortState {
    Free,
    /// In use; the processes holding it where `/proc` shows them; `ours` names the
    /// `inferbench server start` entry on that port, if any.
    Held {
        holders: Vec<Holder>,
        ours: Option<String>,
    },
    /// Bind failed for another reason (permission, no such address).
    Error(String),
}

/// The port line: free, or who holds it and how to free it.
pub fn port(scope: &str, host: &str, port: u16, state: &PortState) -> Check {
    let change = format!("set servers.{scope}.port to a free port");
    match state {
        PortState::Free => Check::ok(scope, "port", format!("{port} on {host} is free")),
        PortState::Held { holders, ours } => {
            let who = if holders.is_empty() {
                "a process /proc does not show (another user's?)".to_string()
            } else {
                holders
                    .iter()
                    .map(|h| format!("pid {} ({})", h.pid, h.command))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let fix = match (ours, holders.first()) {
                (Some(engine), _) => format!("inferbench server stop {engine}, or {change}"),
                (None, Some(_)) => format!(
                    "kill {}, or {change}",
                    holders
                        .iter()
                        .map(|h| h.pid.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                (None, None) => format!("stop what listens on {port}, or {change}"),
            };
            Check::fail(
                scope,
                "port",
                format!("{port} on {host} is in use by {who}"),
                fix,
            )
        }
        PortState::Error(e) => Check::fail(
            scope,
            "port",
            format!("cannot bind {host}:{port}: {e}"),
            format!("set servers.{scope}.host to 127.0.0.1 or {change}"),
        ),
    }
}

/// The inodes of sockets listening on `port` in a `/proc/net/tcp` or `/proc/net/tcp6`
/// table (state `0A`). Pure.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = cols.get(1)?;
            let state = cols.get(3)?;
            let inode = cols.get(9)?;
            let hex_port = local.rsplit(':').next()?;
            let p = u16::from_str_radix(hex_port, 16).ok()?;
            (p == port && *state == "0A")
                .then(|| inode.parse::<u64>().ok())
                .flatten()
        })
        .filter(|i| *i != 0)
        .collect()
}

/// The socket inode a `/proc/PID/fd/N` link names (`socket:[12345]`). Pure.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------
// CLI mode's tools
// ---------------------------------------------------------------------------------------

/// An engine kind without a command-line tool (a generic OpenAI server, the synthetic
/// engine) selected in CLI mode: `inferbench cli` refuses it.
pub fn no_cli_tool(scope: &str, kind: &str) -> Check {
    Check::fail(
        scope,
        "cli tool",
        format!("kind `{kind}` has no command-line tool to benchmark in CLI mode"),
        format!("use `inferbench api` for it, or set engines.{scope}.enabled to false"),
    )
}

// ---------------------------------------------------------------------------------------
// Shared inputs
// ---------------------------------------------------------------------------------------

/// The tokenizer line: not configured is "–" (token counts then come from the engines
/// only and the fairness check compares text), configured but unreadable fails.
pub fn tokenizer(path: Option<&Path>, loaded: &Result<(u64, Option<f64>), String>) -> Check {
    let Some(path) = path else {
        return Check::skip(
            "inputs",
            "tokenizer",
            "none configured: token counts from the engines; fairness compares text only",
        );
    };
    match loaded {
        Ok((tokens, secs)) => Check::ok(
            "inputs",
            "tokenizer",
            format!(
                "{} loads ({}; the first prompt is {tokens} tokens)",
                path.display(),
                match secs {
                    Some(s) => format!("in {s:.2} s"),
                    None => "loaded by an earlier doctor run, unchanged since".to_string(),
                }
            ),
        ),
        Err(why) => Check::fail(
            "inputs",
            "tokenizer",
            format!("{}: {why}", path.display()),
            "scripts/setup.sh (exports tokenizer.json), or fix inferbench.tokenizer",
        ),
    }
}

/// The chat-template line: the reference template renders the first prompt.
pub fn template(spec: &str, rendered: &Result<(String, usize), String>) -> Check {
    match rendered {
        Ok((name, chars)) => Check::ok(
            "inputs",
            "chat template",
            format!("{name} renders the first prompt ({chars} characters)"),
        ),
        Err(why) => Check::fail(
            "inputs",
            "chat template",
            format!("`{spec}`: {why}"),
            "set inferbench.chat_template to gemma3, chatml, a .jinja file, a tokenizer_config.json or a .gguf",
        ),
    }
}

/// What is known about the memory-bandwidth figure.
#[derive(Debug, Clone, PartialEq)]
pub enum BandwidthFacts {
    Configured(f64),
    Cached {
        gbps: f64,
        path: PathBuf,
        describe: String,
        /// Age in hours, when its time stamp parses.
        age_hours: Option<f64>,
        /// Measured often enough to be used without probing again.
        settled: bool,
    },
    /// No cached figure for this host.
    None(Option<PathBuf>),
}

/// The bandwidth line: configured, cached (with age and source), or not measured yet
/// ("–": the first benchmark measures it).
pub fn bandwidth(facts: &BandwidthFacts) -> Check {
    match facts {
        BandwidthFacts::Configured(g) => Check::ok(
            "inputs",
            "bandwidth",
            format!("{g:.1} GB/s configured (inferbench.memory_bandwidth_gbps)"),
        ),
        BandwidthFacts::Cached {
            gbps,
            path,
            describe,
            age_hours,
            settled,
        } => {
            let age = match age_hours {
                Some(h) if *h < 1.0 => format!("{:.0} min old", h * 60.0),
                Some(h) if *h < 48.0 => format!("{h:.1} h old"),
                Some(h) => format!("{:.0} days old", h / 24.0),
                None => "age unknown".into(),
            };
            Check::ok(
                "inputs",
                "bandwidth",
                format!(
                    "{gbps:.1} GB/s, {age}, cached in {} ({describe}){}",
                    path.display(),
                    if *settled {
                        ""
                    } else {
                        "; not settled yet: the next run probes again"
                    }
                ),
            )
        }
        BandwidthFacts::None(path) => Check::skip(
            "inputs",
            "bandwidth",
            format!(
                "not measured on this host yet: the first benchmark probes it (a few seconds){}",
                path.as_ref()
                    .map(|p| format!(" and caches it in {}", p.display()))
                    .unwrap_or_default()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_is_two_only_with_a_failure() {
        let ok = Check::ok("host", "os", "linux");
        let skip = Check::skip("uzu", "binary", "not installed");
        assert_eq!(exit_code(&[ok.clone(), skip.clone()]), 0);
        let bad = Check::fail("x", "port", "taken", "kill 1");
        assert_eq!(exit_code(&[ok, skip, bad]), 2);
        assert_eq!(exit_code(&[]), 0);
    }

    #[test]
    fn missing_model_names_setup_and_the_key() {
        let c = model(
            "llamacpp",
            "servers",
            &ModelFacts::Missing("/m/x.gguf".into()),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("/m/x.gguf"));
        let fix = c.fix.unwrap();
        assert!(fix.contains("scripts/setup.sh") && fix.contains("servers.llamacpp.model_path"));
        let g = model(
            "llamacpp",
            "servers",
            &ModelFacts::Gguf(
                "/m/x.gguf".into(),
                Ok(GgufSummary {
                    architecture: Some("gemma3".into()),
                    file_size: 253 << 20,
                    tensors: 236,
                    has_chat_template: false,
                }),
            ),
        );
        assert_eq!(g.status, Status::Ok);
        assert!(g.detail.contains("gemma3") && g.detail.contains("253.0 MiB"));
        assert!(g.detail.contains("no chat template"));
    }

    #[test]
    fn held_port_names_the_pid_to_kill_or_our_server() {
        let held = PortState::Held {
            holders: vec![Holder {
                pid: 4242,
                command: "python3 -m http.server".into(),
            }],
            ours: None,
        };
        let c = port("llamacpp", "127.0.0.1", 8002, &held);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("pid 4242"), "{}", c.detail);
        let fix = c.fix.unwrap();
        assert!(fix.contains("kill 4242") && fix.contains("servers.llamacpp.port"));
        let ours = PortState::Held {
            holders: vec![],
            ours: Some("llamacpp".into()),
        };
        let fix = port("llamacpp", "127.0.0.1", 8002, &ours).fix.unwrap();
        assert!(fix.contains("inferbench server stop llamacpp"), "{fix}");
        assert_eq!(
            port("llamacpp", "127.0.0.1", 8002, &PortState::Free).status,
            Status::Ok
        );
    }

    #[test]
    fn proc_net_tcp_listeners_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F42 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F42 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 20 4 30 10 -1\n\
   2: 00000000:2B67 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 8002), vec![123456]);
        assert_eq!(listening_inodes(table, 11111), vec![999]);
        assert!(listening_inodes(table, 1).is_empty());
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:1F42 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inodes(v6, 8002), vec![555]);
        assert_eq!(socket_inode("socket:[123456]"), Some(123456));
        assert_eq!(socket_inode("pipe:[1]"), None);
    }

    #[test]
    fn no_cli_tool_fails() {
        assert_eq!(no_cli_tool("m", "mock").status, Status::Fail);
    }

    #[test]
    fn bandwidth_age_and_absence() {
        let c = bandwidth(&BandwidthFacts::Cached {
            gbps: 51.6,
            path: "/c/bandwidth.json".into(),
            describe: "probe".into(),
            age_hours: Some(0.5),
            settled: true,
        });
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("51.6 GB/s") && c.detail.contains("30 min old"));
        assert_eq!(bandwidth(&BandwidthFacts::None(None)).status, Status::Skip);
    }

    #[test]
    fn device_cuda_without_gpu_fails() {
        assert_eq!(
            device("llamacpp", "servers", "cuda", "configured", false).status,
            Status::Fail
        );
        assert_eq!(
            device("llamacpp", "servers", "cpu", "auto: no GPU found", false).status,
            Status::Ok
        );
    }
}
