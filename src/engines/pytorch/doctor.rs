//! What doctor judges of PyTorch, pure: the interpreter, the packages the server (API
//! mode) or generate.py (CLI mode) needs, the devices torch sees.

use crate::checks::Check;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What the venv's Python reported (one `python -c`, run by doctor's gathering).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct PyProbe {
    #[serde(default)]
    pub packages: std::collections::BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub cuda: bool,
    #[serde(default)]
    pub cuda_devices: Vec<String>,
    #[serde(default)]
    pub mps: bool,
    #[serde(default)]
    pub threads: Option<u32>,
    #[serde(default)]
    pub torch_error: Option<String>,
}

/// Packages `python/generate.py` (CLI mode) needs: transformers on torch, gguf for a GGUF
/// model, accelerate for a device map.
pub const PY_CLI_PACKAGES: &[&str] = &["torch", "transformers", "accelerate", "gguf"];

/// Packages `python/pytorch_server.py` imports.
pub const PY_PACKAGES: &[&str] = &[
    "torch",
    "transformers",
    "accelerate",
    "gguf",
    "fastapi",
    "uvicorn",
];

/// The last line of the probe's stdout that parses as its JSON. Pure.
pub fn parse_py_probe(stdout: &str) -> Result<PyProbe, String> {
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<PyProbe>(l.trim()).ok())
        .ok_or_else(|| {
            format!(
                "no probe output ({})",
                stdout.trim().chars().take(200).collect::<String>()
            )
        })
}

/// The PyTorch lines: the interpreter, the `packages` the server (API mode,
/// [`PY_PACKAGES`]) or generate.py (CLI mode, [`PY_CLI_PACKAGES`]) needs, and the devices
/// torch sees against the one configured. `section`: the config section whose settings
/// the fixes name (`servers` or `engines`).
pub fn pytorch(
    scope: &str,
    section: &str,
    python: &Result<PathBuf, String>,
    probe: &Result<(PyProbe, Option<f64>), String>,
    device: &str,
    packages: &[&str],
) -> Vec<Check> {
    let py = match python {
        Ok(p) => p,
        Err(why) => {
            return vec![Check::fail(
                scope,
                "python",
                why.clone(),
                format!("scripts/setup.sh (creates the venv) or set {section}.{scope}.python"),
            )];
        }
    };
    let (p, secs) = match probe {
        Ok(x) => x,
        Err(why) => {
            return vec![Check::fail(
                scope,
                "python",
                format!("{}: {why}", py.display()),
                "scripts/setup.sh (reinstalls the venv's packages)",
            )];
        }
    };
    let mut out = vec![Check::ok(
        scope,
        "python",
        match secs {
            Some(secs) => format!("{} (probed in {secs:.1} s)", py.display()),
            None => format!(
                "{} (probed by an earlier doctor run; interpreter, packages and GPU devices unchanged since)",
                py.display()
            ),
        },
    )];
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|name| p.packages.get(*name).is_none_or(Option::is_none))
        .collect();
    let listed = packages
        .iter()
        .filter_map(|name| {
            p.packages
                .get(*name)
                .and_then(Option::as_deref)
                .map(|v| format!("{name} {v}"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    if missing.is_empty() && p.torch_error.is_none() {
        out.push(Check::ok(scope, "packages", listed));
    } else {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("missing {}", missing.join(", ")));
        }
        if let Some(e) = &p.torch_error {
            why.push(format!("import torch failed: {e}"));
        }
        out.push(Check::fail(
            scope,
            "packages",
            format!("{}{}", why.join("; "), if listed.is_empty() { String::new() } else { format!(" (have {listed})") }),
            "scripts/setup.sh (installs the pinned torch, transformers, accelerate, gguf, fastapi, uvicorn)",
        ));
    }
    if p.torch_error.is_none() {
        let mut seen = vec![format!(
            "cpu{}",
            p.threads
                .map(|t| format!(" ({t} threads)"))
                .unwrap_or_default()
        )];
        if p.cuda {
            seen.push(if p.cuda_devices.is_empty() {
                "cuda".to_string()
            } else {
                format!("cuda ({})", p.cuda_devices.join(", "))
            });
        }
        if p.mps {
            seen.push("mps".into());
        }
        let seen = seen.join(", ");
        let cuda = device == "cuda" || device.starts_with("cuda:");
        let mps = device == "mps" || device == "metal";
        if (cuda && !p.cuda) || (mps && !p.mps) {
            out.push(Check::fail(
                scope,
                "torch devices",
                format!("torch sees {seen}, not {device}"),
                if mps {
                    format!(
                        "set {section}.{scope}.device to cpu, or use a torch build with MPS (macOS 12.3+); PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 lifts its memory cap"
                    )
                } else {
                    format!(
                        "set {section}.{scope}.device to cpu, or install a CUDA build of torch matching the driver (scripts/setup.sh)"
                    )
                },
            ));
        } else {
            out.push(Check::ok(
                scope,
                "torch devices",
                format!("torch sees {seen}; runs on {device}"),
            ));
        }
    }
    out
}

/// PyTorch in CLI mode: the built-in `python/generate.py` starts (`--help`) with the
/// interpreter CLI mode runs it with.
pub fn generate_script(scope: &str, python: &Path, help: &Result<String, String>) -> Check {
    match help {
        Ok(_) => Check::ok(
            scope,
            "cli script",
            format!(
                "python/generate.py (built in) starts with {}",
                python.display()
            ),
        ),
        Err(why) => Check::fail(
            scope,
            "cli script",
            format!(
                "python/generate.py does not start with {}: {why}",
                python.display()
            ),
            format!(
                "scripts/setup.sh (the venv), or set engines.{scope}.python to a Python 3 with torch and transformers"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn pytorch_probe_parses_and_judges_devices() {
        let out = "some warning\n{\"packages\": {\"torch\": \"2.5.0\", \"transformers\": \"4.50\", \"accelerate\": \"1\", \"gguf\": \"0.1\", \"fastapi\": \"0.1\", \"uvicorn\": \"0.1\"}, \"cuda\": false, \"cuda_devices\": [], \"mps\": false, \"threads\": 2}\n";
        let p = parse_py_probe(out).unwrap();
        assert_eq!(p.packages["torch"].as_deref(), Some("2.5.0"));
        let py = Ok(PathBuf::from("/v/bin/python"));
        let cpu = pytorch(
            "pytorch",
            "servers",
            &py,
            &Ok((p.clone(), Some(2.0))),
            "cpu",
            PY_PACKAGES,
        );
        assert!(cpu.iter().all(|c| c.status == Status::Ok), "{cpu:?}");
        let cuda = pytorch(
            "pytorch",
            "servers",
            &py,
            &Ok((p.clone(), Some(2.0))),
            "cuda",
            PY_PACKAGES,
        );
        let dev = cuda.iter().find(|c| c.name == "torch devices").unwrap();
        assert_eq!(dev.status, Status::Fail);
        let mps = pytorch(
            "pytorch",
            "servers",
            &py,
            &Ok((p.clone(), Some(2.0))),
            "mps",
            PY_PACKAGES,
        );
        let dev = mps.iter().find(|c| c.name == "torch devices").unwrap();
        assert!(
            dev.fix
                .as_deref()
                .unwrap()
                .contains("PYTORCH_MPS_HIGH_WATERMARK_RATIO")
        );
        // generate.py (CLI mode) needs no web server packages.
        let mut no_server = p.clone();
        no_server.packages.insert("fastapi".into(), None);
        let ok = |c: &[Check]| c.iter().find(|c| c.name == "packages").unwrap().status;
        let probe = Ok((no_server, Some(2.0)));
        let api = pytorch("pytorch", "servers", &py, &probe, "cpu", PY_PACKAGES);
        assert_eq!(ok(&api), Status::Fail);
        let cli = pytorch("pytorch", "engines", &py, &probe, "cpu", PY_CLI_PACKAGES);
        assert_eq!(ok(&cli), Status::Ok);
        let mut no_tf = p;
        no_tf.packages.insert("transformers".into(), None);
        let probe = Ok((no_tf, Some(2.0)));
        let c = pytorch("pytorch", "engines", &py, &probe, "cuda", PY_CLI_PACKAGES);
        let pk = c.iter().find(|c| c.name == "packages").unwrap();
        assert_eq!(pk.status, Status::Fail);
        assert!(pk.detail.contains("missing transformers"));
        let dev = c.iter().find(|c| c.name == "torch devices").unwrap();
        assert!(
            dev.fix
                .as_deref()
                .unwrap()
                .contains("engines.pytorch.device")
        );
        assert!(parse_py_probe("Traceback ...").is_err());
    }

    #[test]
    fn cli_mode_script() {
        let py = Path::new("/v/bin/python");
        assert_eq!(
            generate_script("pytorch", py, &Ok(String::new())).status,
            Status::Ok
        );
        let c = generate_script("pytorch", py, &Err("SyntaxError".into()));
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("engines.pytorch.python"));
    }
}
