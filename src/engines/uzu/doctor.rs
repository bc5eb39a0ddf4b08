//! What doctor judges of Uzu, pure: its program (server or `cli`), the model folder
//! Lalamo writes, and the `cli` subcommands CLI mode runs.

use crate::checks::{Check, ModelFacts, human_bytes, model};
use std::path::{Path, PathBuf};

/// Files the Lalamo converter writes into an Uzu model folder; Uzu loads every one.
pub const UZU_MODEL_FILES: [&str; 4] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "encoding.json",
];

/// An Uzu program (`name`: "binary" for the server, "cli binary" for CLI mode), found or
/// not. Uzu is not installable on this kind of host (no registry we reach has it; it
/// builds for Apple Metal), and a run skips an unnamed engine that is not installed, so
/// not found is "–" — unless a binary is `configured`: that one must exist, the run fails
/// without it, and so does this check.
pub fn uzu_binary(
    scope: &str,
    section: &str,
    name: &str,
    found: &Result<PathBuf, String>,
    configured: Option<&str>,
) -> Check {
    match (found, configured) {
        (Ok(p), _) => Check::ok(scope, name, p.display().to_string()),
        (Err(why), Some(_)) => Check::fail(
            scope,
            name,
            why.clone(),
            format!(
                "set {section}.{scope}.binary to Uzu's `cli` program (built from its source), or remove it to look on PATH and in $INFERBENCH_HOME/bin"
            ),
        ),
        (Err(_), None) => Check::skip(
            scope,
            name,
            "Uzu is not installed (it builds on macOS with Metal from its source; not installable here)",
        ),
    }
}

/// The Uzu model folder: a folder (not a file) holding every file of Lalamo's output
/// ([`UZU_MODEL_FILES`]; `missing`: those it lacks). `runs_as`: how the engine is given
/// it, for the ✓ line; `None` when it cannot be given (no parent folder for
/// `LOCAL_PATH`).
pub fn uzu_folder(
    scope: &str,
    section: &str,
    folder: &ModelFacts,
    missing: &[String],
    runs_as: Option<&str>,
) -> Check {
    match folder {
        ModelFacts::Other {
            path,
            dir: true,
            bytes,
        } => {
            if !missing.is_empty() {
                return Check::fail(
                    scope,
                    "model folder",
                    format!(
                        "{} lacks {}: not a converted Uzu model (Lalamo writes {})",
                        path.display(),
                        missing.join(", "),
                        UZU_MODEL_FILES.join(", ")
                    ),
                    format!(
                        "convert the model into it with Lalamo: `lalamo convert google/gemma-3-1b-it --output-dir {}` (your model's Hugging Face id), or set {section}.{scope}.model_path to a converted folder",
                        path.display()
                    ),
                );
            }
            match runs_as {
                Some(how) => Check::ok(
                    scope,
                    "model folder",
                    format!(
                        "{} ({}, {}; {how})",
                        path.display(),
                        UZU_MODEL_FILES.join(", "),
                        human_bytes(*bytes)
                    ),
                ),
                None => Check::fail(
                    scope,
                    "model folder",
                    format!("{}: no parent folder to use as LOCAL_PATH", path.display()),
                    format!("set {section}.{scope}.model_path to a folder inside a models folder"),
                ),
            }
        }
        ModelFacts::Other {
            path, dir: false, ..
        }
        | ModelFacts::Gguf(path, _) => Check::fail(
            scope,
            "model folder",
            format!(
                "{} is a file; Uzu wants a model folder (Lalamo's output)",
                path.display()
            ),
            format!(
                "set {section}.{scope}.model_path to the Uzu model folder (e.g. models/gemma-3-1b-it)"
            ),
        ),
        other => model(scope, section, other),
    }
}

/// The subcommands a program's `--help` lists: the first word of each line indented by
/// at most four spaces under `Commands:` (clap) or `SUBCOMMANDS:` (older clap), up to
/// the next blank line or heading (deeper lines continue a description). Pure.
pub fn parse_subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        let trimmed = line.trim();
        if matches!(trimmed, "Commands:" | "SUBCOMMANDS:" | "Subcommands:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if trimmed.is_empty() || indent == 0 {
            inside = false;
        } else if indent <= 4
            && let Some(word) = trimmed.split_whitespace().next()
        {
            out.push(word.to_string());
        }
    }
    out
}

/// Uzu's `cli` in CLI mode: its `--help` must list `bench` (what CLI mode runs), or
/// `run` (0.4.x; CLI mode falls back to it). Anything else is not Uzu's `cli` (a program
/// of that generic name found on PATH, say).
pub fn uzu_cli_tool(scope: &str, program: &Path, help: &Result<String, String>) -> Check {
    let fix = format!(
        "set engines.{scope}.binary to Uzu's `cli` program (0.5.x has `cli bench`), built from its source"
    );
    let subcommands = match help {
        Ok(text) => parse_subcommands(text),
        Err(why) => {
            return Check::fail(
                scope,
                "cli bench",
                format!("`{} --help` failed: {why}", program.display()),
                fix,
            );
        }
    };
    let has = |s: &str| subcommands.iter().any(|c| c == s);
    if has("bench") {
        Check::ok(
            scope,
            "cli bench",
            format!(
                "{} has `bench` (CLI mode runs `cli bench MODEL task.json out.json`)",
                program.display()
            ),
        )
    } else if has("run") {
        Check::ok(
            scope,
            "cli bench",
            format!(
                "{} has no `bench` but `run` (0.4.x): CLI mode falls back to `cli run -m`, which takes no system prompt",
                program.display()
            ),
        )
    } else {
        Check::fail(
            scope,
            "cli bench",
            format!(
                "`{} --help` lists neither `bench` nor `run` (subcommands: {}): not Uzu's `cli`",
                program.display(),
                if subcommands.is_empty() {
                    "none".to_string()
                } else {
                    subcommands.join(", ")
                }
            ),
            fix,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn uzu_not_installed_is_a_dash_unless_a_binary_is_configured() {
        let missing = Err("not on PATH".to_string());
        let c = uzu_binary("uzu", "servers", "binary", &missing, None);
        assert_eq!(c.status, Status::Skip);
        let c = uzu_binary("uzu", "servers", "binary", &missing, Some("/opt/uzu/cli"));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.fix.unwrap().contains("servers.uzu.binary"));
        let found = Ok(PathBuf::from("/bin/cli"));
        let c = uzu_binary("uzu", "engines", "cli binary", &found, Some("/bin/cli"));
        assert_eq!((c.status, c.name.as_str()), (Status::Ok, "cli binary"));
    }

    #[test]
    fn uzu_folder_needs_every_file_of_lalamos_output() {
        let folder = ModelFacts::Other {
            path: "/models/gemma-3-1b-it".into(),
            bytes: 1,
            dir: true,
        };
        let how = "LOCAL_PATH=/models cli server --model gemma-3-1b-it";
        let c = uzu_folder("uzu", "servers", &folder, &[], Some(how));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains(how), "{}", c.detail);
        let c = uzu_folder(
            "uzu",
            "servers",
            &folder,
            &["encoding.json".to_string()],
            Some(how),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("lacks encoding.json"), "{}", c.detail);
        let fix = c.fix.unwrap();
        assert!(
            fix.contains("lalamo convert google/gemma-3-1b-it --output-dir /models/gemma-3-1b-it")
                && fix.contains("servers.uzu.model_path"),
            "{fix}"
        );
        let c = uzu_folder("uzu", "servers", &folder, &[], None);
        assert_eq!(c.status, Status::Fail);
        let file = ModelFacts::Gguf("/m/x.gguf".into(), Err("x".into()));
        let c = uzu_folder("uzu", "engines", &file, &[], Some(how));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("engines.uzu.model_path"));
        let gone = ModelFacts::Missing("/models/nope".into());
        assert_eq!(
            uzu_folder("uzu", "servers", &gone, &[], None).status,
            Status::Fail
        );
    }

    #[test]
    fn uzu_cli_must_have_bench_or_run() {
        let help = "Uzu CLI\n\nUsage: cli <COMMAND>\n\nCommands:\n  bench             Run a benchmark\n                    described in a task file\n  list-models       List models\n  server            Start a server\n  help              Print this message\n\nOptions:\n  -h, --help  Print help\n";
        assert_eq!(
            parse_subcommands(help),
            ["bench", "list-models", "server", "help"]
        );
        let p = Path::new("/bin/cli");
        assert_eq!(uzu_cli_tool("uzu", p, &Ok(help.into())).status, Status::Ok);
        let old = "USAGE:\n    uzu_cli <SUBCOMMAND>\n\nSUBCOMMANDS:\n    run      Run once\n    serve    Serve\n";
        let c = uzu_cli_tool("uzu", p, &Ok(old.into()));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("falls back"), "{}", c.detail);
        // Some other program called `cli`.
        let c = uzu_cli_tool("uzu", p, &Ok("usage: cli [-v] FILE\n".into()));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("engines.uzu.binary"));
        let c = uzu_cli_tool("uzu", p, &Err("exit status 127".into()));
        assert_eq!(c.status, Status::Fail);
    }
}
