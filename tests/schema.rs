//! `schema/results.schema.json` is generated from the result types (`inferbench schema`);
//! this fails when the committed copy is stale, and says how to regenerate it.

use std::path::Path;

const REGENERATE: &str = "cargo run -q -- schema > schema/results.schema.json";

#[test]
fn committed_schema_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with: {REGENERATE}", path.display()));
    let generated = inferbench::schema::results_schema_text();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "schema/results.schema.json differs from the schema the result types give \
             (first at line {}: committed {:?}, generated {:?}).\nRegenerate it with:\n    {REGENERATE}",
            first + 1,
            committed.lines().nth(first).unwrap_or("<end of file>"),
            generated.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let schema = inferbench::schema::results_schema();
    jsonschema::meta::validate(&schema).expect("a valid JSON schema");
    jsonschema::draft202012::new(&schema).expect("compiles");
}

#[test]
fn schema_command_prints_the_committed_file() {
    let out = assert_cmd::Command::cargo_bin("inferbench")
        .unwrap()
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        inferbench::schema::results_schema_text()
    );
    let help = assert_cmd::Command::cargo_bin("inferbench")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("schema"), "{help}");
}

/// A JSONL line is one `RunRecord`: it validates against `#/$defs/RunRecord`, and a
/// property the type does not have is an error.
#[test]
fn a_jsonl_record_validates_against_its_definition() {
    use inferbench::results::{Mode, RunRecord, Sampling};
    let full = inferbench::schema::results_schema();
    let schema = serde_json::json!({"$defs": full["$defs"], "$ref": "#/$defs/RunRecord"});
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let sampling = Sampling {
        max_tokens: 32,
        temperature: 0.0,
        seed: Some(1),
        top_p: None,
        top_k: None,
        ignore_eos: false,
    };
    let mut r = RunRecord::new(
        "mock",
        Mode::Api,
        "/v1/chat/completions",
        "p1",
        "short",
        0,
        sampling,
        "gemma3",
    );
    r.ok = true;
    r.ttft_ms = Some(12.5);
    r.decode_tps_source = Some("client_clock".into());
    r.flag("short_reply", "16 of 32 tokens");
    let line = serde_json::to_value(&r).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&line)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    let mut unknown = line.clone();
    unknown["not_a_field"] = 1.into();
    assert!(
        !validator.is_valid(&unknown),
        "an unknown property must be an error"
    );
    let mut bad_source = line;
    bad_source["decode_tps_source"] = "guess".into();
    assert!(!validator.is_valid(&bad_source));
}
