//! The physical bound on batch-1 decode: every weight is read from memory once per token,
//! so tokens/s ≤ memory bandwidth ÷ bytes of weights read per token. A decode figure above
//! that is a measurement bug (the seed's 2,337 tok/s), not a fast engine.
//!
//! Bytes per token come from the model file without loading it:
//! - GGUF: [`crate::gguf::GgufInfo::decode_bytes_per_token`] (tensor infos only).
//! - safetensors (an HF or Uzu model directory, or one `.safetensors` file): the 8-byte
//!   little-endian header length, then the JSON header; the sum of each tensor's
//!   `data_offsets` span. An input embedding (`*embed_tokens.weight`) is a lookup (one row
//!   per token) when a separate `lm_head.weight` exists; when it does not, the embedding is
//!   tied to the output layer and counts in full (Gemma 3 ties its 262k-row table).
//!   KV-cache traffic is not counted, so the bound is generous, never too tight.
//!
//! What a figure above the ceiling does to a run (decided here, documented in the
//! report): the record KEEPS the figure in `decode_tps` (so the raw data shows what the
//! engine claimed), gets an `above_roofline` flag with both numbers, and is marked
//! `ok = false` with the error "decode X tok/s above physical ceiling Y tok/s", so that no
//! summary, table or chart ever shows it as a result.

use crate::results::{Flag, RunRecord};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// Flag kind for a decode figure above the ceiling.
pub const ABOVE_ROOFLINE: &str = "above_roofline";

/// The largest safetensors header we accept (the format's own reference caps it at 100 MB).
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// Bytes read per decoded token and how they were counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelBytes {
    pub bytes_per_token: u64,
    /// All weight bytes in the file(s).
    pub weight_bytes: u64,
    /// "gguf" or "safetensors".
    pub format: String,
    /// Whether the embedding table is read in full each token (tied to the output).
    pub embeddings_tied: bool,
}

/// The decode ceiling of one model on one memory system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roofline {
    pub bytes_per_token: u64,
    pub bandwidth_gbps: f64,
    /// Where the bandwidth came from ("config", "probe", …).
    pub bandwidth_source: String,
    pub ceiling_tps: f64,
}

impl Roofline {
    pub fn new(bytes_per_token: u64, bandwidth_gbps: f64, bandwidth_source: &str) -> Self {
        Roofline {
            bytes_per_token,
            bandwidth_gbps,
            bandwidth_source: bandwidth_source.to_string(),
            ceiling_tps: ceiling_tps(bandwidth_gbps, bytes_per_token),
        }
    }

    /// A one-line description for logs and engine notes.
    pub fn describe(&self) -> String {
        format!(
            "roofline {:.1} tok/s = {:.1} GB/s ({}) / {:.1} MB read per token",
            self.ceiling_tps,
            self.bandwidth_gbps,
            self.bandwidth_source,
            self.bytes_per_token as f64 / 1e6
        )
    }
}

/// Batch-1 decode ceiling: bandwidth (GB/s) ÷ bytes per token. `inf` for 0 bytes.
pub fn ceiling_tps(bandwidth_gbps: f64, bytes_per_token: u64) -> f64 {
    if bytes_per_token == 0 {
        f64::INFINITY
    } else {
        bandwidth_gbps * 1e9 / bytes_per_token as f64
    }
}

/// The fraction of the ceiling a decode figure reaches, in percent.
pub fn pct_of_roofline(decode_tps: f64, ceiling: f64) -> Option<f64> {
    (ceiling.is_finite() && ceiling > 0.0 && decode_tps.is_finite())
        .then(|| decode_tps / ceiling * 100.0)
}

/// A flag when `decode_tps` is above the physical ceiling; `None` when it is possible.
pub fn check_decode(decode_tps: f64, ceiling: f64) -> Option<Flag> {
    (decode_tps.is_finite() && decode_tps > ceiling).then(|| Flag {
        kind: ABOVE_ROOFLINE.into(),
        message: above_message(decode_tps, ceiling),
    })
}

fn above_message(decode_tps: f64, ceiling: f64) -> String {
    format!(
        "decode {decode_tps:.1} tok/s above physical ceiling {ceiling:.1} tok/s \
         (memory bandwidth / bytes read per token): a measurement error, not a result"
    )
}

/// Apply the bound to a record: flag it, and fail it so no summary uses the figure.
/// Also checks the engine's own decode figure, which may differ from ours. Returns
/// whether the record was failed.
pub fn apply(record: &mut RunRecord, roofline: &Roofline) -> bool {
    let mut worst: Option<f64> = None;
    let engine_tps = record.engine_report.as_ref().and_then(|r| r.decode_tps);
    for tps in [record.decode_tps, engine_tps].into_iter().flatten() {
        if let Some(flag) = check_decode(tps, roofline.ceiling_tps) {
            if !record.flags.iter().any(|f| f.message == flag.message) {
                record.flags.push(flag);
            }
            worst = Some(worst.map_or(tps, |w: f64| w.max(tps)));
        }
    }
    match worst {
        Some(tps) => {
            record.fail(format!(
                "decode {tps:.1} tok/s above physical ceiling {:.1} tok/s",
                roofline.ceiling_tps
            ));
            true
        }
        None => false,
    }
}

/// Bytes per decoded token of a model: a `.gguf` file, a `.safetensors` file, or a
/// directory of `*.safetensors` (an HF or Uzu model directory).
pub fn model_bytes(path: &Path) -> anyhow::Result<ModelBytes> {
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading model directory {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            // An HF directory may hold a GGUF instead.
            let gguf: Vec<_> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
                .collect();
            if let [one] = gguf.as_slice() {
                return model_bytes(one);
            }
            anyhow::bail!(
                "{}: no .safetensors (or single .gguf) file to size the model from",
                path.display()
            );
        }
        let mut headers = Vec::new();
        for f in &files {
            headers.push(read_safetensors_header(f)?);
        }
        return safetensors_bytes(&headers);
    }
    match path.extension().and_then(|x| x.to_str()) {
        Some("gguf") => {
            let info = crate::gguf::GgufInfo::read(path)
                .with_context(|| format!("reading GGUF {}", path.display()))?;
            Ok(ModelBytes {
                bytes_per_token: info.decode_bytes_per_token()?,
                weight_bytes: info.weight_bytes()?,
                format: "gguf".into(),
                embeddings_tied: info.embeddings_tied(),
            })
        }
        Some("safetensors") => safetensors_bytes(&[read_safetensors_header(path)?]),
        _ => anyhow::bail!(
            "{}: cannot size this model (expected a .gguf, a .safetensors or a model directory)",
            path.display()
        ),
    }
}

/// Bytes per decoded token of a GGUF whose weights an engine DEQUANTIZES on load
/// (transformers with `gguf_file=`): every parameter at `bytes_per_param` (2 for
/// bf16/fp16, 4 for fp32), same embedding rule as [`crate::gguf::GgufInfo::decode_bytes_per_token`].
pub fn gguf_bytes_dequantized(path: &Path, bytes_per_param: u64) -> anyhow::Result<ModelBytes> {
    let info = crate::gguf::GgufInfo::read(path)
        .with_context(|| format!("reading GGUF {}", path.display()))?;
    let mut total = 0u64;
    for t in &info.tensors {
        let n = t
            .n_elements()
            .with_context(|| format!("tensor {}: element count overflows", t.name))?;
        total = n
            .checked_mul(bytes_per_param)
            .and_then(|b| total.checked_add(b))
            .context("weight byte total overflows")?;
    }
    let tied = info.embeddings_tied();
    let per_token = match info.tensors.iter().find(|t| t.name == "token_embd.weight") {
        Some(embd) if !tied => {
            let n = embd.n_elements().unwrap_or(0) * bytes_per_param;
            let row = embd.dims.first().copied().unwrap_or(0) * bytes_per_param;
            total - n + row
        }
        _ => total,
    };
    Ok(ModelBytes {
        bytes_per_token: per_token,
        weight_bytes: total,
        format: format!("gguf dequantized to {bytes_per_param} bytes/parameter"),
        embeddings_tied: tied,
    })
}

/// Bytes per parameter of a torch dtype name (`auto` on CPU is float32 in generate.py).
pub fn torch_dtype_bytes(dtype: &str, device: &str) -> u64 {
    match dtype {
        "float16" | "fp16" | "half" | "bfloat16" | "bf16" => 2,
        "float32" | "fp32" | "float" => 4,
        _ if device == "cpu" => 4,
        _ => 2,
    }
}

/// Read the JSON header of one safetensors file (not the tensor data).
pub fn read_safetensors_header(path: &Path) -> anyhow::Result<serde_json::Value> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .with_context(|| format!("{}: too short for a safetensors header", path.display()))?;
    let n = u64::from_le_bytes(len);
    anyhow::ensure!(
        n > 0 && n <= MAX_HEADER_BYTES,
        "{}: safetensors header length {n} is not plausible",
        path.display()
    );
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf)
        .with_context(|| format!("{}: truncated safetensors header", path.display()))?;
    serde_json::from_slice(&buf)
        .with_context(|| format!("{}: safetensors header is not JSON", path.display()))
}

/// One tensor's name, byte size and first dimension, from a header entry.
fn tensors(header: &serde_json::Value) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let obj = header
        .as_object()
        .context("safetensors header is not a JSON object")?;
    let mut out = Vec::new();
    for (name, t) in obj {
        if name == "__metadata__" {
            continue;
        }
        let offs = t
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .with_context(|| format!("tensor {name}: no data_offsets"))?;
        let (Some(start), Some(end)) = (
            offs.first().and_then(|v| v.as_u64()),
            offs.get(1).and_then(|v| v.as_u64()),
        ) else {
            anyhow::bail!("tensor {name}: data_offsets are not two integers");
        };
        anyhow::ensure!(end >= start, "tensor {name}: data_offsets end before start");
        let rows = t
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|s| s.first())
            .and_then(|d| d.as_u64())
            .unwrap_or(1);
        out.push((name.clone(), end - start, rows.max(1)));
    }
    Ok(out)
}

/// Bytes per token from parsed safetensors headers (pure).
pub fn safetensors_bytes(headers: &[serde_json::Value]) -> anyhow::Result<ModelBytes> {
    let mut all = Vec::new();
    for h in headers {
        all.extend(tensors(h)?);
    }
    let total = all
        .iter()
        .try_fold(0u64, |acc, (_, b, _)| acc.checked_add(*b))
        .context("weight byte total overflows")?;
    let has_lm_head = all
        .iter()
        .any(|(n, _, _)| n == "lm_head.weight" || n.ends_with(".lm_head.weight"));
    let embed = all
        .iter()
        .find(|(n, _, _)| n.ends_with("embed_tokens.weight"));
    let bytes_per_token = match embed {
        // Untied: the embedding is a lookup of one row per token.
        Some((_, bytes, rows)) if has_lm_head => total - bytes + bytes / rows,
        _ => total,
    };
    Ok(ModelBytes {
        bytes_per_token,
        weight_bytes: total,
        format: "safetensors".into(),
        embeddings_tied: !has_lm_head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Mode, RunRecord, Sampling};
    use serde_json::json;

    fn record(decode: Option<f64>) -> RunRecord {
        let mut r = RunRecord::new(
            "llamacpp",
            Mode::Cli,
            "llama-completion",
            "p1",
            "short",
            0,
            Sampling {
                max_tokens: 8,
                temperature: 0.0,
                seed: Some(1),
                top_p: None,
                top_k: None,
                ignore_eos: false,
            },
            "gemma3",
        );
        r.ok = true;
        r.decode_tps = decode;
        r
    }

    #[test]
    fn ceiling_math() {
        // 400 GB/s over 2 GB per token: 200 tok/s (the seed's M3 Max example).
        assert_eq!(ceiling_tps(400.0, 2_000_000_000), 200.0);
        assert_eq!(pct_of_roofline(50.0, 200.0), Some(25.0));
        assert_eq!(ceiling_tps(1.0, 0), f64::INFINITY);
        assert_eq!(pct_of_roofline(1.0, f64::INFINITY), None);
    }

    #[test]
    fn check_flags_only_above() {
        assert!(check_decode(199.9, 200.0).is_none());
        assert!(check_decode(200.0, 200.0).is_none());
        let f = check_decode(2337.3, 200.0).unwrap();
        assert_eq!(f.kind, ABOVE_ROOFLINE);
        assert!(
            f.message.contains("2337.3") && f.message.contains("200.0"),
            "{}",
            f.message
        );
        assert!(check_decode(f64::NAN, 200.0).is_none());
    }

    #[test]
    fn apply_fails_impossible_records_and_keeps_the_figure() {
        let roof = Roofline::new(2_000_000_000, 400.0, "config");
        let mut bad = record(Some(2337.3));
        assert!(apply(&mut bad, &roof));
        assert!(!bad.ok);
        assert_eq!(bad.decode_tps, Some(2337.3));
        assert_eq!(bad.flags.len(), 1);
        assert!(bad.error.unwrap().contains("above physical ceiling 200.0"));

        let mut good = record(Some(150.0));
        assert!(!apply(&mut good, &roof));
        assert!(good.ok && good.flags.is_empty());

        // Our figure is fine but the engine's own claim is impossible: still flagged.
        let mut claim = record(Some(150.0));
        claim.engine_report = Some(crate::results::EngineReport {
            decode_tps: Some(900.0),
            ..Default::default()
        });
        assert!(apply(&mut claim, &roof));
        assert!(!claim.ok);
    }

    #[test]
    fn safetensors_tied_and_untied() {
        // Tied (no lm_head): everything counts.
        let tied = json!({
            "__metadata__": {"format": "pt"},
            "model.embed_tokens.weight": {"dtype": "BF16", "shape": [1000, 64], "data_offsets": [0, 128000]},
            "model.layers.0.mlp.up_proj.weight": {"dtype": "BF16", "shape": [128, 64], "data_offsets": [128000, 144384]}
        });
        let m = safetensors_bytes(&[tied]).unwrap();
        assert_eq!(m.weight_bytes, 144_384);
        assert_eq!(m.bytes_per_token, 144_384);
        assert!(m.embeddings_tied);
        // Untied: one embedding row per token (128 bytes of 128,000).
        let untied = json!({
            "model.embed_tokens.weight": {"dtype": "BF16", "shape": [1000, 64], "data_offsets": [0, 128000]},
            "lm_head.weight": {"dtype": "BF16", "shape": [1000, 64], "data_offsets": [128000, 256000]}
        });
        let m = safetensors_bytes(&[untied]).unwrap();
        assert_eq!(m.bytes_per_token, 128_000 + 128);
        assert!(!m.embeddings_tied);
        assert!(safetensors_bytes(&[json!({"x": {"data_offsets": [5, 1]}})]).is_err());
        assert!(safetensors_bytes(&[json!([1, 2])]).is_err());
    }

    #[test]
    fn safetensors_file_header_read() {
        let dir = tempfile::tempdir().unwrap();
        let header = serde_json::to_vec(&json!({
            "w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}
        }))
        .unwrap();
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&[0u8; 64]);
        std::fs::write(dir.path().join("model.safetensors"), &bytes).unwrap();
        let m = model_bytes(dir.path()).unwrap();
        assert_eq!(m.bytes_per_token, 64);
        std::fs::write(dir.path().join("model.safetensors"), [0xffu8; 8]).unwrap();
        assert!(model_bytes(dir.path()).is_err());
    }
}
