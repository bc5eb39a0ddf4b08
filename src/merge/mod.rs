//! `inferbench merge`: the results of the workers of a sharded load run (`--shard I/N`)
//! → the result one client would have given.
//!
//! - [`crate::measure::hist`] (pure, below): mergeable metric summaries (exact moments +
//!   HdrHistogram); each worker writes them (`load::report`), this command merges them.
//! - [`combine`]: pure — several workers' results documents → one, or a
//!   [`combine::MergeError`] naming the files and the field they differ in.
//! - [`run`]: the command: read the files, combine, write the merged JSON, print the steps.

pub mod combine;

use crate::cli::MergeArgs;
use crate::error::UserError;
use crate::results::ResultsDoc;
use anyhow::Context;

/// A short stable fingerprint (FNV-1a 64, hex) of a JSON value. serde_json's maps are
/// ordered by key, so equal values give equal fingerprints on every machine.
pub fn fingerprint(value: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    format!("{:016x}", crate::workload::fnv1a64_u64(&bytes))
}

/// Run `inferbench merge`; the exit code.
pub fn run(args: MergeArgs) -> anyhow::Result<i32> {
    let mut docs: Vec<(String, ResultsDoc)> = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| UserError::new(format!("{name}: cannot read it: {e}")))?;
        let doc: ResultsDoc = serde_json::from_str(&text)
            .map_err(|e| UserError::new(format!("{name}: not an inferbench results JSON: {e}")))?;
        docs.push((name, doc));
    }
    if !(args.tolerance_ms.is_finite() && args.tolerance_ms >= 0.0) {
        return Err(UserError::new(format!(
            "--tolerance-ms must be a non-negative number of milliseconds (got {})",
            args.tolerance_ms
        ))
        .into());
    }
    let merged =
        combine::merge(&docs, args.tolerance_ms).map_err(|e| UserError::new(e.to_string()))?;
    let json = serde_json::to_string_pretty(&merged).context("serialising the merged results")?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    for step in &merged.load {
        eprintln!("{}", crate::export::console::step_line(step));
        for f in &step.flags {
            eprintln!("  [{}] {}", f.kind, f.message);
        }
    }
    eprintln!(
        "merged {} worker file(s) into {}",
        docs.len(),
        args.out.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_follow_content_not_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a":2,"b":[1,2]}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(fingerprint(&a).len(), 16);
    }
}
