//! The results document as pretty JSON (described by `schema/results.schema.json`, which
//! [`crate::schema`] generates from the result types).

use crate::results::ResultsDoc;

pub fn render(doc: &ResultsDoc) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(doc)?;
    s.push('\n');
    Ok(s)
}
