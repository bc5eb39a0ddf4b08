//! The JSON schema of the results document, generated from its types
//! ([`crate::results::ResultsDoc`] and everything it holds) with schemars: each type's and
//! field's doc comment is its description, and serde's attributes decide the names, how
//! enums are written and which fields may be absent. `inferbench schema` prints it;
//! `schema/results.schema.json` is that output, and `tests/schema.rs` fails when the
//! committed copy differs from what the types give. Each line of the JSONL file is a
//! `#/$defs/RunRecord`.
//!
//! What the types alone do not say, decided here:
//! - It describes what inferbench **writes** (schemars' serialize contract): a field is
//!   required unless serde skips it when empty (`skip_serializing_if`); an `Option` that is
//!   always written is required and may be `null`.
//! - Every object with named properties allows no others (`additionalProperties: false`),
//!   set by one transform for every type, those added later included: a property the types
//!   do not know means a stale schema or a document some other tool wrote. Maps
//!   (`BTreeMap`) and the free-form parts (`config`) stay open.
//! - `environment.doctor` is a `serde_json::Value` in [`crate::results`] (which the doctor
//!   module imports, so it cannot name the doctor's types); here it gets the schema of what
//!   `inferbench doctor --json` prints ([`crate::doctor::render::Report`]).

use crate::doctor::render::Report;
use crate::results::ResultsDoc;
use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::Value;

/// Where `environment.doctor` sits in the generated schema.
const DOCTOR_FIELD: &str = "/$defs/Environment/properties/doctor";

/// The JSON schema (draft 2020-12) of the results document, as `inferbench schema` prints
/// it and `schema/results.schema.json` holds it.
pub fn results_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(close_objects))
        .into_generator();
    // Registers the doctor's definitions before the root takes every definition.
    let doctor = generator.subschema_for::<Option<Report<'static>>>();
    let schema = generator.into_root_schema_for::<ResultsDoc>();
    let mut schema = schema.to_value();
    schema["title"] = "inferbench results".into();
    let field = schema
        .pointer_mut(DOCTOR_FIELD)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("the results schema has no {DOCTOR_FIELD}"));
    let description = field.remove("description");
    *field = doctor.to_value().as_object().cloned().unwrap_or_default();
    if let Some(d) = description {
        field.insert("description".into(), d);
    }
    schema
}

/// The schema pretty-printed with a trailing newline: the bytes of
/// `schema/results.schema.json`.
pub fn results_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&results_schema())
        .expect("a serde_json::Value always serialises");
    text.push('\n');
    text
}

/// `additionalProperties: false` on an object schema with named properties that says
/// nothing about others.
fn close_objects(schema: &mut Schema) {
    if let Some(object) = schema.as_object_mut()
        && object.contains_key("properties")
        && !object.contains_key("additionalProperties")
    {
        object.insert("additionalProperties".into(), false.into());
    }
}

/// `inferbench schema`: print the schema.
pub fn run() -> anyhow::Result<i32> {
    print!("{}", results_schema_text());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_closed_maps_stay_open_and_doctor_is_typed() {
        let s = results_schema();
        assert_eq!(s["$defs"]["RunRecord"]["additionalProperties"], false);
        assert_eq!(s["additionalProperties"], false);
        // metric name → summary: a map, open to any name.
        let metrics = &s["$defs"]["GroupSummary"]["properties"]["metrics"];
        assert!(metrics["additionalProperties"].is_object(), "{metrics}");
        let doctor = s.pointer(DOCTOR_FIELD).unwrap().to_string();
        assert!(doctor.contains("DoctorReport"), "{doctor}");
        assert!(s["$defs"]["DoctorReport"]["properties"]["checks"].is_object());
    }

    #[test]
    fn always_written_options_are_required_and_nullable_skipped_ones_are_not_required() {
        let s = results_schema();
        let rec = &s["$defs"]["RunRecord"];
        let required: Vec<&str> = rec["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(required.contains(&"ttft_ms"));
        assert!(!required.contains(&"retries"), "skipped when None");
        let ttft = rec["properties"]["ttft_ms"].to_string();
        assert!(ttft.contains("null"), "{ttft}");
    }
}
