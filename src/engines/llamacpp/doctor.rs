//! What doctor judges of llama.cpp, pure: `llama-server --version` and the back ends its
//! build ships against the configured device (API mode), the one-shot tool (CLI mode).

use crate::checks::{Check, binary_missing};
use std::path::PathBuf;

/// What `llama-server --version` says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlamaVersion {
    /// e.g. "6123 (abc1234)" or "0.6.0-dev (build 0, commit unknown)".
    pub version: Option<String>,
    /// e.g. "GNU 12.2.0 for Linux x86_64".
    pub built_with: Option<String>,
    /// Back ends it reports loading or initialising (CPU, CUDA, Metal, …).
    pub backends: Vec<String>,
}

/// Parse `llama-server --version` output (it prints on stderr): `version: …`,
/// `built with …`, and any `load_backend: loaded X backend` / `ggml_cuda_init` /
/// `ggml_metal_init` lines of builds that load back ends at start.
pub fn parse_llama_version(text: &str) -> LlamaVersion {
    let mut v = LlamaVersion::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("version:") {
            v.version = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("built with") {
            v.built_with = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("load_backend: loaded ") {
            if let Some(name) = rest.split_whitespace().next() {
                push_backend(&mut v.backends, name);
            }
        } else if line.starts_with("ggml_cuda_init") {
            push_backend(&mut v.backends, "CUDA");
        } else if line.starts_with("ggml_metal_init") || line.starts_with("ggml_metal_device") {
            push_backend(&mut v.backends, "Metal");
        }
    }
    v
}

fn push_backend(list: &mut Vec<String>, name: &str) {
    let canonical = canonical_backend(name);
    if !list.iter().any(|b| b == &canonical) {
        list.push(canonical);
    }
}

fn canonical_backend(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "cpu" => "CPU".into(),
        "cuda" => "CUDA".into(),
        "metal" | "mtl" => "Metal".into(),
        "vulkan" => "Vulkan".into(),
        "hip" | "rocm" => "HIP".into(),
        "sycl" => "SYCL".into(),
        "blas" => "BLAS".into(),
        other => other.to_string(),
    }
}

/// The back ends a shared-library llama.cpp build ships beside its binary
/// (`libggml-cpu.so`, `libggml-cuda.so`, …; `libggml-base` is not one).
pub fn backends_from_libs(names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        let Some(rest) = n.strip_prefix("libggml-") else {
            continue;
        };
        let stem = rest.split('.').next().unwrap_or("");
        // libggml-cpu-haswell.so and friends are CPU variants.
        let backend = stem.split('-').next().unwrap_or("");
        if backend.is_empty() || backend == "base" {
            continue;
        }
        push_backend(&mut out, backend);
    }
    out
}

/// llama.cpp: the server binary with its version, and its build (back ends) against the
/// device it will be asked to use.
pub fn llamacpp_binary(
    scope: &str,
    found: &Result<PathBuf, String>,
    version: Option<&LlamaVersion>,
    lib_backends: &[String],
    device: &str,
) -> Vec<Check> {
    let path = match found {
        Ok(p) => p,
        Err(why) => return vec![binary_missing(scope, "servers", why)],
    };
    let mut out = Vec::new();
    let v = version.cloned().unwrap_or_default();
    out.push(Check::ok(
        scope,
        "binary",
        format!(
            "{} (version {}{})",
            path.display(),
            v.version.as_deref().unwrap_or("unknown"),
            v.built_with
                .as_deref()
                .map(|b| format!(", built with {b}"))
                .unwrap_or_default()
        ),
    ));
    let mut backends = v.backends.clone();
    for b in lib_backends {
        if !backends.contains(b) {
            backends.push(b.clone());
        }
    }
    let gpu_backends: Vec<&String> = backends
        .iter()
        .filter(|b| !matches!(b.as_str(), "CPU" | "BLAS"))
        .collect();
    let flags = if backends.is_empty() {
        "CPU (no GPU back end found)".to_string()
    } else {
        backends.join(", ")
    };
    let wants_gpu = device != "cpu";
    let wanted = match device {
        d if d == "cuda" || d.starts_with("cuda:") => Some("CUDA"),
        "mps" | "metal" => Some("Metal"),
        _ => None,
    };
    match wanted {
        Some(w) if !backends.iter().any(|b| b == w) => out.push(Check::fail(
            scope,
            "build",
            format!("back ends {flags}: no {w} for device {device}"),
            format!(
                "rebuild llama.cpp with {w} (CMAKE_ARGS=\"-DGGML_{}=ON\" scripts/setup.sh) or set servers.{scope}.device to cpu",
                w.to_ascii_uppercase()
            ),
        )),
        _ if wants_gpu && gpu_backends.is_empty() => out.push(Check::fail(
            scope,
            "build",
            format!("back ends {flags}: no GPU back end for device {device}"),
            format!("rebuild llama.cpp with GPU support or set servers.{scope}.device to cpu"),
        )),
        _ => out.push(Check::ok(
            scope,
            "build",
            format!("back ends {flags}; runs on {device}"),
        )),
    }
    out
}

/// llama.cpp in CLI mode: the one-shot tool found (`llama-completion`, else an older
/// `llama-cli`) and whether it starts (`--version`).
pub fn llamacpp_cli_tool(
    scope: &str,
    found: &Result<PathBuf, String>,
    version: &Result<String, String>,
) -> Check {
    let path = match found {
        Ok(p) => p,
        Err(why) => {
            let mut c = binary_missing(scope, "engines", why);
            c.name = "cli binary".into();
            return c;
        }
    };
    let text = match version {
        Ok(t) => t,
        Err(why) => {
            return Check::fail(
                scope,
                "cli binary",
                format!("{} does not start: {why}", path.display()),
                format!("scripts/setup.sh (reinstalls llama.cpp), or set engines.{scope}.binary"),
            );
        }
    };
    let v = parse_llama_version(text);
    let version = v.version.as_deref().unwrap_or("unknown");
    let completion = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("llama-completion"));
    Check::ok(
        scope,
        "cli binary",
        if completion {
            format!(
                "{} (version {version}; CLI mode: one-shot with -no-cnv)",
                path.display()
            )
        } else {
            format!(
                "{} (version {version}; no llama-completion: CLI mode runs it with -no-cnv, or, if it is the chat-only llama-cli, with --simple-io -st and the GGUF's own template)",
                path.display()
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn llama_version_and_backends() {
        let text = "load_backend: loaded CPU backend from /x/libggml-cpu.so\n\
                    ggml_cuda_init: found 1 CUDA devices:\n\
                    version: 6123 (abc1234)\nbuilt with cc (GCC) 13.2 for x86_64-linux-gnu\n";
        let v = parse_llama_version(text);
        assert_eq!(v.version.as_deref(), Some("6123 (abc1234)"));
        assert_eq!(
            v.built_with.as_deref(),
            Some("cc (GCC) 13.2 for x86_64-linux-gnu")
        );
        assert_eq!(v.backends, vec!["CPU".to_string(), "CUDA".to_string()]);
        let libs: Vec<String> = [
            "libggml-base.so",
            "libggml-cpu.so.0",
            "libggml-cpu-haswell.so",
            "libggml-cuda.so",
            "libllama.so",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(backends_from_libs(&libs), vec!["CPU", "CUDA"]);
    }

    #[test]
    fn a_cpu_build_fails_a_cuda_device_and_passes_cpu() {
        let found = Ok(PathBuf::from("/bin/llama-server"));
        let v = parse_llama_version("version: 1 (x)\n");
        let cpu = vec!["CPU".to_string()];
        let on_cpu = llamacpp_binary("llamacpp", &found, Some(&v), &cpu, "cpu");
        assert!(on_cpu.iter().all(|c| c.status == Status::Ok), "{on_cpu:?}");
        let on_cuda = llamacpp_binary("llamacpp", &found, Some(&v), &cpu, "cuda");
        let build = on_cuda.iter().find(|c| c.name == "build").unwrap();
        assert_eq!(build.status, Status::Fail);
        assert!(build.fix.as_deref().unwrap().contains("GGML_CUDA"));
        let missing = llamacpp_binary("llamacpp", &Err("not on PATH".into()), None, &[], "cpu");
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].status, Status::Fail);
        assert!(
            missing[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("scripts/setup.sh")
        );
    }

    #[test]
    fn cli_mode_tool() {
        let v = Ok("version: 7000 (abc)\nbuilt with cc\n".to_string());
        let c = llamacpp_cli_tool("llamacpp", &Ok("/b/llama-completion".into()), &v);
        assert_eq!((c.status, c.name.as_str()), (Status::Ok, "cli binary"));
        assert!(c.detail.contains("version 7000 (abc)"), "{}", c.detail);
        let c = llamacpp_cli_tool("llamacpp", &Ok("/b/llama-cli".into()), &v);
        assert!(c.detail.contains("no llama-completion"), "{}", c.detail);
        let c = llamacpp_cli_tool(
            "llamacpp",
            &Ok("/b/llama-completion".into()),
            &Err("libggml.so: cannot open shared object file".into()),
        );
        assert_eq!(c.status, Status::Fail);
        let c = llamacpp_cli_tool("llamacpp", &Err("not found".into()), &v);
        assert_eq!((c.status, c.name.as_str()), (Status::Fail, "cli binary"));
        assert!(c.fix.unwrap().contains("engines.llamacpp.binary"));
    }
}
