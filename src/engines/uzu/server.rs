//! Uzu (Mirai's Rust engine; Apple Metal, a CPU back end in progress): `cli server
//! --model NAME --port P` (the 0.1.x binary `uzu_cli` used `serve PATH`). Uzu 0.5.x finds a
//! model by NAME inside the folder named by the environment variable `LOCAL_PATH`; a full
//! path alone fails at start with `Model not found: <path>`. So a configured model folder
//! `/models/gemma-3-1b-it` runs as `LOCAL_PATH=/models cli server --model gemma-3-1b-it`
//! ([`local_model`]; `cli bench` is different: it takes the model's full path, see
//! [`crate::engines::uzu::cli`]). It has no health route: the model loads before the port
//! binds, so readiness is `GET /v1/models` answering 200. It reads `max_completion_tokens`,
//! temperature (<= 0: greedy), top_p and top_k, ignores seed/stop/ignore_eos/min_tokens
//! (recorded per run: [`api_sampling_applied`]), streams SSE with `data:`
//! and no space, `:` heartbeats, usage always in the final chunk, and reports failures as
//! HTTP 200 with content "Error: ..." and zero usage, which must count as a failed run.

use crate::client::{MaxTokensField, Protocol};
use crate::engine::ApiTarget;
use crate::engines::launch::{
    LaunchPlan, PlanContext, Readiness, protocol_for_endpoint, unsupported_endpoint,
};
use crate::process::CommandSpec;
use crate::results::{Sampling, SamplingApplied};
use std::path::{Path, PathBuf};

pub const DEFAULT_PORT: u16 = 8000;
const ENDPOINTS: &[&str] = &["/v1/chat/completions", "/chat/completions"];

/// The environment variable Uzu 0.5.x looks models up in.
pub const LOCAL_PATH: &str = "LOCAL_PATH";

/// A model folder as Uzu 0.5.x finds it: `name` inside `local_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModel {
    /// The value for `LOCAL_PATH`: the folder that holds the model folder.
    pub local_path: PathBuf,
    /// The model folder's name, given as `--model` (server) or the model argument (bench).
    pub name: String,
}

impl LocalModel {
    /// `LOCAL_PATH` set on `spec`, to be followed by [`LocalModel::name`] as the model.
    pub fn apply(&self, spec: CommandSpec) -> CommandSpec {
        spec.env(LOCAL_PATH, &self.local_path)
    }
}

/// Split a model folder into the `LOCAL_PATH` and model name Uzu 0.5.x wants. `None` for
/// a path with no parent or no name (`/`, `x/..`), which no lookup can reach.
pub fn local_model(dir: &Path) -> Option<LocalModel> {
    let dir = std::path::absolute(dir).ok()?;
    let name = dir.file_name()?.to_str()?.to_string();
    Some(LocalModel {
        local_path: dir.parent()?.to_path_buf(),
        name,
    })
}

/// What Uzu's server applies of the benchmark's sampling `s`. It reads temperature
/// (<= 0: greedy), top_p and top_k, and ignores seed, stop, ignore_eos and min_tokens.
/// `None` when nothing it ignores matters here: no fixed output length asked, and no seed
/// or greedy decoding (where a seed changes nothing). Pure.
pub fn api_sampling_applied(s: &Sampling) -> Option<SamplingApplied> {
    let greedy = s.temperature <= 0.0;
    let mut ignored = Vec::new();
    if let Some(seed) = s.seed
        && !greedy
    {
        ignored.push(format!(
            "seed {seed} (Uzu's server takes no seed: sampled replies are not reproducible)"
        ));
    }
    if s.ignore_eos {
        ignored.push(
            "ignore_eos/min_tokens (Uzu's server has neither: replies may end before max_tokens)"
                .to_string(),
        );
    }
    if ignored.is_empty() {
        return None;
    }
    let (top_k, top_p) = if greedy {
        (None, None)
    } else {
        (s.top_k, s.top_p)
    };
    let mut applied = if greedy {
        "greedy (temperature 0)".to_string()
    } else {
        format!("temperature {}", s.temperature)
    };
    if let Some(k) = top_k {
        applied.push_str(&format!(", top_k {k}"));
    }
    if let Some(p) = top_p {
        applied.push_str(&format!(", top_p {p}"));
    }
    Some(SamplingApplied {
        greedy,
        temperature: Some(s.temperature.max(0.0)),
        top_k,
        top_p,
        applied,
        ignored,
    })
}

pub fn plan(ctx: &PlanContext<'_>) -> anyhow::Result<LaunchPlan> {
    // No generic `cli` is looked up on PATH: too likely to be some other program.
    let binary = ctx.binary(&["uzu", "uzu_cli"])?;
    let model = ctx.model_path()?;
    let host = ctx.host();
    let port = ctx.port(DEFAULT_PORT);
    let endpoint = ctx.endpoint("/v1/chat/completions");
    protocol_for_endpoint(&endpoint)
        .filter(|(p, _)| *p == Protocol::OpenAiChat)
        .ok_or_else(|| unsupported_endpoint(ctx.key, &endpoint, ENDPOINTS))?;
    let legacy = binary
        .file_name()
        .is_some_and(|n| n.to_string_lossy() == "uzu_cli");
    let cmd = if legacy {
        CommandSpec::new(&binary)
            .arg("serve")
            .arg(&model)
            .args(["--port", &port.to_string()])
    } else {
        let spec = CommandSpec::new(&binary).arg("server").arg("--model");
        let spec = match local_model(&model) {
            Some(m) => m.apply(spec).arg(&m.name),
            None => spec.arg(&model),
        };
        spec.args(["--host", &host, "--port", &port.to_string()])
    }
    .args(ctx.extra_args());
    let target = ApiTarget {
        name: ctx.key.to_string(),
        kind: crate::engine::EngineKind::Uzu,
        base_url: ctx.base_url(&host, port),
        endpoint,
        protocol: Protocol::OpenAiChat,
        model: ctx.section.model_name.clone(),
        max_tokens_field: MaxTokensField::MaxCompletionTokens,
        supports_ignore_eos: false,
        include_usage: true,
        extra_body: serde_json::Map::new(),
        error_text_is_failure: true,
        strip_prompt_prefix: None,
    };
    Ok(LaunchPlan {
        command: Some(cmd),
        host,
        port,
        readiness: Readiness::HttpOk("/v1/models".into()),
        startup_timeout: ctx.startup_timeout(60.0),
        target,
        template: Some("uzu (model's own Gemma template)".into()),
        files: Vec::new(),
        notes: vec![
            "Uzu applies the model's chat template itself".into(),
            match local_model(&model) {
                Some(m) if !legacy => format!(
                    "model looked up as `{}` in LOCAL_PATH={}",
                    m.name,
                    m.local_path.display()
                ),
                _ => format!("model passed as the path {}", model.display()),
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling(temperature: f64, seed: Option<u64>, ignore_eos: bool) -> Sampling {
        Sampling {
            max_tokens: 64,
            temperature,
            seed,
            top_p: Some(0.9),
            top_k: Some(40),
            ignore_eos,
        }
    }

    #[test]
    fn server_sampling_ignores_seed_and_fixed_lengths() {
        // Greedy with a seed: the seed changes nothing, everything else is taken.
        assert_eq!(api_sampling_applied(&sampling(0.0, Some(42), false)), None);
        // Sampled with no seed and no fixed length: taken as asked.
        assert_eq!(api_sampling_applied(&sampling(0.7, None, false)), None);
        // Sampled with a seed: temperature/top_k/top_p applied, the seed ignored.
        let a = api_sampling_applied(&sampling(0.7, Some(42), false)).unwrap();
        assert!(!a.greedy);
        assert_eq!(
            (a.temperature, a.top_k, a.top_p),
            (Some(0.7), Some(40), Some(0.9))
        );
        assert_eq!(a.applied, "temperature 0.7, top_k 40, top_p 0.9");
        assert_eq!(a.ignored.len(), 1);
        assert!(a.ignored[0].starts_with("seed 42"), "{:?}", a.ignored);
        // Fixed lengths asked under greedy: only ignore_eos is ignored.
        let a = api_sampling_applied(&sampling(0.0, Some(42), true)).unwrap();
        assert!(a.greedy);
        assert_eq!((a.top_k, a.top_p), (None, None));
        assert_eq!(a.ignored.len(), 1);
        assert!(a.ignored[0].starts_with("ignore_eos"), "{:?}", a.ignored);
    }

    #[test]
    fn model_folder_splits_into_local_path_and_name() {
        let m = local_model(Path::new("/models/gemma-3-1b-it/")).unwrap();
        assert_eq!(m.local_path, PathBuf::from("/models"));
        assert_eq!(m.name, "gemma-3-1b-it");
        let spec = m.apply(CommandSpec::new("cli"));
        assert_eq!(
            spec.env.get(std::ffi::OsStr::new(LOCAL_PATH)),
            Some(&std::ffi::OsString::from("/models"))
        );
        assert_eq!(local_model(Path::new("/")), None);
        assert_eq!(local_model(Path::new("/models/x/..")), None);
        // A relative folder is made absolute first: LOCAL_PATH never depends on the cwd.
        let rel = local_model(Path::new("gemma")).unwrap();
        assert!(rel.local_path.is_absolute(), "{rel:?}");
        assert_eq!(rel.name, "gemma");
    }
}
