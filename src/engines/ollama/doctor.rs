//! What doctor judges of Ollama, pure: its version line and whether the registered
//! model matches the Modelfile inferbench would write.

use crate::checks::Check;
use std::path::Path;

/// The version Ollama's client prints: "ollama version is 0.17.4", or without a server
/// "Warning: client version is 0.17.4".
pub fn parse_ollama_version(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split("version is").nth(1))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

/// What a registered Ollama model consists of, read from its manifest and blobs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OllamaModel {
    /// Size of the weights layer (`application/vnd.ollama.image.model`).
    pub weights_bytes: Option<u64>,
    pub template: Option<String>,
    pub system: Option<String>,
    /// The params layer (stop, temperature, num_predict, seed).
    pub params: Option<serde_json::Value>,
}

/// What a Modelfile we would write says, for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedOllama {
    pub gguf_bytes: Option<u64>,
    pub template: String,
    pub stops: Vec<String>,
    pub system: String,
}

/// The Ollama registration line: registered, and the parts that decide what prompt the
/// model sees (template, stops, system prompt, weights) as our Modelfile would make them.
/// Sampling parameters may differ: API requests send their own, and `inferbench cli`
/// registers the model again with the run's settings.
pub fn ollama_model(
    scope: &str,
    name: &str,
    store: &Path,
    found: &Result<OllamaModel, String>,
    expected: &ExpectedOllama,
    prepare: &str,
) -> Check {
    let fix = prepare.to_string();
    let m = match found {
        Ok(m) => m,
        Err(why) => {
            return Check::fail(
                scope,
                "ollama model",
                format!("`{name}` is not registered in {} ({why})", store.display()),
                format!("{fix} (or set servers.{scope}.model_name to a registered model)"),
            );
        }
    };
    let mut diffs = Vec::new();
    if m.template.as_deref() != Some(expected.template.as_str()) {
        diffs.push("TEMPLATE differs from the Gemma 3 template".to_string());
    }
    let stops: Vec<String> = m
        .params
        .as_ref()
        .and_then(|p| p.get("stop"))
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for s in &expected.stops {
        if !stops.contains(s) {
            diffs.push(format!("no stop {s:?}"));
        }
    }
    if m.system.as_deref().unwrap_or("") != expected.system {
        diffs.push("SYSTEM differs from the benchmark's system prompt".to_string());
    }
    if let (Some(have), Some(want)) = (m.weights_bytes, expected.gguf_bytes)
        && have != want
    {
        diffs.push(format!(
            "weights are {have} bytes, the configured GGUF {want}"
        ));
    }
    if diffs.is_empty() {
        Check::ok(
            scope,
            "ollama model",
            format!(
                "`{name}` registered in {}; template, stops, system prompt and weights match our Modelfile",
                store.display()
            ),
        )
    } else {
        Check::fail(
            scope,
            "ollama model",
            format!(
                "`{name}` is registered but does not match our Modelfile: {}",
                diffs.join("; ")
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
    fn ollama_version_with_and_without_a_server() {
        assert_eq!(
            parse_ollama_version(
                "Warning: could not connect to a running Ollama instance\nWarning: client version is 0.17.4\n"
            )
            .as_deref(),
            Some("0.17.4")
        );
        assert_eq!(
            parse_ollama_version("ollama version is 0.5.1").as_deref(),
            Some("0.5.1")
        );
        assert_eq!(parse_ollama_version("nothing"), None);
    }

    #[test]
    fn ollama_manifest_paths() {
        let s = Path::new("/s");
        assert_eq!(
            crate::engines::ollama::manifest_path(s, "gemma-3-270m-bench"),
            Path::new("/s/manifests/registry.ollama.ai/library/gemma-3-270m-bench/latest")
        );
        assert_eq!(
            crate::engines::ollama::manifest_path(s, "gemma3:270m"),
            Path::new("/s/manifests/registry.ollama.ai/library/gemma3/270m")
        );
        assert_eq!(
            crate::engines::ollama::manifest_path(s, "me/model"),
            Path::new("/s/manifests/registry.ollama.ai/me/model/latest")
        );
        assert_eq!(
            crate::engines::ollama::manifest_path(s, "host:5000/ns/m:v1"),
            Path::new("/s/manifests/host:5000/ns/m/v1")
        );
    }

    const PREPARE: &str = "inferbench models prepare";

    fn expected() -> ExpectedOllama {
        ExpectedOllama {
            gguf_bytes: Some(100),
            template: "T".into(),
            stops: vec!["<end_of_turn>".into()],
            system: "S".into(),
        }
    }

    #[test]
    fn ollama_registration_is_compared_with_our_modelfile() {
        let store = Path::new("/s");
        let good = OllamaModel {
            weights_bytes: Some(100),
            template: Some("T".into()),
            system: Some("S".into()),
            params: Some(serde_json::json!({"stop": ["<end_of_turn>"], "num_predict": 32})),
        };
        let c = ollama_model(
            "ollama",
            "m",
            store,
            &Ok(good.clone()),
            &expected(),
            PREPARE,
        );
        assert_eq!(c.status, Status::Ok, "{c:?}");
        let mut bad = good.clone();
        bad.template = Some("{{ .Prompt }}".into());
        bad.weights_bytes = Some(5);
        let c = ollama_model("ollama", "m", store, &Ok(bad), &expected(), PREPARE);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("TEMPLATE") && c.detail.contains("weights"));
        assert_eq!(c.fix.as_deref(), Some("inferbench models prepare"));
        let c = ollama_model(
            "ollama",
            "m",
            store,
            &Err("no manifest".into()),
            &expected(),
            PREPARE,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().starts_with("inferbench models prepare"));
    }
}
