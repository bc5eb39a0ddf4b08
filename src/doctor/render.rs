//! `inferbench doctor`'s output, pure: checks → one line each (✓ / ✗ / –, a ✗ line ending
//! with its fix), or → JSON.

use crate::checks::{Check, Status, exit_code};
use serde::Serialize;

/// The whole answer, as `--json` prints it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "DoctorReport")]
pub struct Report<'a> {
    pub tool: String,
    pub config: Option<String>,
    pub engines: &'a [String],
    /// Whose needs were checked: API mode's servers, CLI mode's tools, or both.
    pub mode: super::Mode,
    pub deep: bool,
    pub elapsed_s: f64,
    pub ok: bool,
    pub exit_code: i32,
    pub checks: &'a [Check],
}

/// The lines for a terminal: a header, one line per check grouped by scope, a summary.
pub fn text(report: &Report<'_>) -> String {
    let mut out = format!(
        "inferbench doctor — config {}; engines {}; mode {}\n",
        report.config.as_deref().unwrap_or("(built-in defaults)"),
        if report.engines.is_empty() {
            "none selected".to_string()
        } else {
            report.engines.join(", ")
        },
        match report.mode {
            super::Mode::Api => "api",
            super::Mode::Cli => "cli",
            super::Mode::Both => "api and cli",
        }
    );
    let scope_w = report
        .checks
        .iter()
        .map(|c| c.scope.chars().count())
        .max()
        .unwrap_or(0);
    let name_w = report
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in report.checks {
        out.push_str(&line(c, scope_w, name_w));
        out.push('\n');
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    if failed == 0 {
        out.push_str(&format!(
            "everything the selected engines need is there ({:.1} s)\n",
            report.elapsed_s
        ));
    } else {
        out.push_str(&format!(
            "{failed} problem{} to fix (each ✗ line says how); {:.1} s\n",
            if failed == 1 { "" } else { "s" },
            report.elapsed_s
        ));
    }
    out
}

/// One check as one line: `✗ scope  name  detail — fix: …`. Line breaks in what was
/// found are folded so that one check stays one line.
pub fn line(c: &Check, scope_w: usize, name_w: usize) -> String {
    let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = format!(
        "{} {:scope_w$}  {:name_w$}  {}",
        c.status.symbol(),
        c.scope,
        c.name,
        fold(&c.detail)
    );
    if let Some(fix) = &c.fix {
        s.push_str(" — fix: ");
        s.push_str(&fold(fix));
    }
    s
}

/// The JSON document.
pub fn json(report: &Report<'_>) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(report)?)
}

impl Report<'_> {
    /// Whether nothing failed, and the exit code that follows.
    pub fn verdict(checks: &[Check]) -> (bool, i32) {
        let code = exit_code(checks);
        (code == 0, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_is_one_line_with_its_fix() {
        let c = Check::fail(
            "llamacpp",
            "port",
            "8002 on 127.0.0.1 is in use by pid 7 (nc\n -l)",
            "kill 7, or set servers.llamacpp.port to a free port",
        );
        let l = line(&c, 8, 4);
        assert!(!l.contains('\n'));
        assert!(l.starts_with("✗ llamacpp  port  8002"), "{l}");
        assert!(l.ends_with("— fix: kill 7, or set servers.llamacpp.port to a free port"));
        let ok = line(&Check::ok("host", "os", "linux"), 8, 4);
        assert_eq!(ok, "✓ host      os    linux");
    }

    #[test]
    fn summary_counts_failures() {
        let checks = vec![
            Check::ok("host", "os", "linux"),
            Check::skip("uzu", "binary", "not installed"),
        ];
        let engines = vec!["llamacpp".to_string()];
        let (ok, code) = Report::verdict(&checks);
        let r = Report {
            tool: "inferbench".into(),
            config: None,
            engines: &engines,
            mode: super::super::Mode::Both,
            deep: false,
            elapsed_s: 1.24,
            ok,
            exit_code: code,
            checks: &checks,
        };
        let t = text(&r);
        assert!(
            t.contains("everything the selected engines need is there (1.2 s)"),
            "{t}"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&r).unwrap()).unwrap();
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["checks"][1]["status"], "skip");
        assert!(v["checks"][0].get("fix").is_none());
    }
}
