//! Greedy parity end to end through the binary: three synthetic engines of `kind: mock`
//! (inferbench starts each), two answering alike and one with other text; at
//! temperature 0 the replies are compared with the Gemma tokenizer, the odd one is
//! flagged `parity_departs`, and the JSON, the Markdown and the console say so.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::{inferbench, only_file};

/// The Gemma tokenizer that scripts/setup.sh exports.
fn gemma_tokenizer() -> PathBuf {
    let home = inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set");
    let p = home.join("models/gemma-3-270m/tokenizer/tokenizer.json");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it exports the Gemma tokenizer)",
        p.display()
    );
    p
}

/// A config with synthetic engines `name → extra mock-engine args`, each on a free port,
/// and our tokenizer.
fn config(dir: &Path, engines: &[(&str, &[&str])]) {
    let exe = assert_cmd::cargo::cargo_bin("inferbench");
    let mut servers = serde_json::Map::new();
    for (name, args) in engines {
        let mut extra = vec!["--ttft-ms", "5", "--itl-ms", "1", "--tokens", "24"];
        extra.extend_from_slice(args);
        servers.insert(
            name.to_string(),
            serde_json::json!({
                "kind": "mock",
                "binary": exe,
                "port": common::free_port(),
                "extra_args": extra,
            }),
        );
    }
    let cfg = serde_json::json!({
        "benchmark": {"num_runs": 1, "max_tokens": 24},
        "inferbench": {"warmup_runs": 0, "chat_template": "gemma3", "tokenizer": gemma_tokenizer()},
        "servers": servers,
    });
    std::fs::write(
        dir.join("benchmark_config.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
}

#[test]
fn at_temperature_0_the_engine_whose_reply_departs_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &[
            ("same1", &[]),
            ("same2", &[]),
            ("other", &["--token-text", "다른 "]),
        ],
    );
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--runs", "2", "--temperature", "0"])
        .args(["--out-dir", "D"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(only_file(&dir.path().join("D/output"), "json")).unwrap(),
    )
    .unwrap();
    common::assert_valid_results(&doc);
    let parity = &doc["parity"];
    assert_eq!(parity["why"], "temperature 0", "{parity}");
    assert_eq!(parity["early_tokens"], 16);
    let pairs = parity["pairs"].as_array().unwrap();
    let pair = |a: &str, b: &str| {
        pairs
            .iter()
            .find(|p| {
                let (x, y) = (&p["a"]["engine"], &p["b"]["engine"]);
                (x == a && y == b) || (x == b && y == a)
            })
            .unwrap_or_else(|| panic!("no pair {a}–{b}: {parity}"))
    };
    // --quick: one prompt, 2 runs each: 2 × 2 comparisons per pair.
    let same = pair("same1", "same2");
    assert_eq!(same["comparisons"], 4, "{same}");
    assert_eq!(same["identical"], 4, "{same}");
    assert_eq!(same["identical_pct"], 100.0);
    assert!(same["first_difference"].is_null());
    // Identical replies share every token.
    assert_eq!(
        same["min_common_prefix"].as_f64(),
        same["mean_tokens_a"].as_f64()
    );
    for a in ["same1", "same2"] {
        let p = pair(a, "other");
        assert_eq!(p["identical"], 0, "{p}");
        assert_eq!(p["first_difference"], 0, "{p}");
        assert_eq!(p["min_common_prefix"], 0, "{p}");
    }
    let departures = parity["departures"].as_array().unwrap();
    assert_eq!(departures.len(), 1, "{parity}");
    let d = &departures[0];
    assert_eq!(d["engine"]["engine"], "other");
    assert_eq!(d["pair_only"], false);
    assert_eq!(d["position"], 0);
    assert!(d["excerpt"].as_str().unwrap().starts_with("▸다른"), "{d}");
    // Only the odd engine's runs carry the flag.
    let runs = doc["runs"].as_array().unwrap();
    for r in runs {
        let flagged = r["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "parity_departs");
        assert_eq!(flagged, r["engine"] == "other", "{r}");
    }
    let report = std::fs::read_to_string(only_file(&dir.path().join("D/report"), "md")).unwrap();
    assert!(report.contains("## Greedy parity"), "{report}");
    assert!(
        report.contains("| same1 api – same2 api | 1 | 4/4 (100%) |"),
        "{report}"
    );
    assert!(
        report.contains("**⚠ parity\\_departs** (short-01): other api&#39;s reply"),
        "{report}"
    );
    assert!(stdout.contains("parity (temperature 0;"), "{stdout}");
    assert!(
        stdout.contains("⚠ parity_departs: other api's reply"),
        "{stdout}"
    );
}

#[test]
fn above_temperature_0_parity_runs_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &[("a", &[]), ("b", &["--token-text", "다른 "])]);
    let run = |extra: &[&str], out: &str| {
        let o = inferbench(dir.path())
            .args([
                "api",
                "--quick",
                "--quiet",
                "--runs",
                "1",
                "--temperature",
                "0.7",
            ])
            .args(extra)
            .args(["--out-dir", out])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(only_file(&dir.path().join(out).join("output"), "json"))
                .unwrap(),
        )
        .unwrap();
        common::assert_valid_results(&doc);
        doc
    };
    assert!(run(&[], "D1").get("parity").is_none());
    let doc = run(&["--parity"], "D2");
    assert_eq!(doc["parity"]["why"], "--parity");
    // Two engines: the pair departs, and it cannot say which.
    let d = &doc["parity"]["departures"][0];
    assert_eq!(d["pair_only"], true, "{d}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("with two engines it cannot say which one departs"),
        "{d}"
    );
    let flagged = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["kind"] == "parity_departs")
        })
        .count();
    assert_eq!(flagged, 2);
}

/// Real engines: two llama-servers on the same GGUF, greedy at temperature 0, give the
/// same tokens (the repository's config, its llama.cpp server twice on free ports).
#[test]
fn two_real_llama_servers_agree_token_for_token() {
    let home = inferbench::config::setup_home().expect("HOME or INFERBENCH_HOME is set");
    for p in [
        "bin/llama-server",
        "models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf",
    ] {
        assert!(
            home.join(p).exists(),
            "{} is missing: run scripts/setup.sh to install the engines and models",
            home.join(p).display()
        );
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("benchmark_config.json")).unwrap())
            .unwrap();
    let mut server = cfg["servers"]["llamacpp"].clone();
    server["kind"] = "llamacpp".into();
    let mut servers = serde_json::Map::new();
    for name in ["llama_a", "llama_b"] {
        server["port"] = common::free_port().into();
        servers.insert(name.into(), server.clone());
    }
    cfg["servers"] = servers.into();
    cfg["engines"] = serde_json::json!({});
    cfg["inferbench"]["warmup_runs"] = 0.into();
    cfg["inferbench"]["tokenizer"] = gemma_tokenizer().display().to_string().into();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("benchmark_config.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let out = inferbench(dir.path())
        .args(["api", "--quick", "--quiet", "--temperature", "0"])
        .args(["--max-tokens", "16", "--out-dir", "D"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(only_file(&dir.path().join("D/output"), "json")).unwrap(),
    )
    .unwrap();
    common::assert_valid_results(&doc);
    let pair = &doc["parity"]["pairs"][0];
    assert_eq!(pair["comparisons"], 1, "{pair}");
    assert_eq!(pair["identical"], 1, "{pair}");
    assert!(pair["first_difference"].is_null(), "{pair}");
    assert!(pair["mean_tokens_a"].as_f64().unwrap() > 0.0, "{pair}");
    assert!(doc["parity"]["departures"].as_array().unwrap().is_empty());
}
