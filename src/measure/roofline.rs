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
//! report): the figure is a measurement error, but the run's other numbers are not, so
//! the run stays `ok` with its TTFT and E2E. The record gets an `above_roofline` flag
//! with both numbers, and the impossible figure leaves `decode_tps`/`tpot_ms` (or the
//! engine report's `decode_tps`, when that is the impossible one) for
//! `RunRecord::rejected_decode`, which no summary, table or chart reads.
//!
//! A server inferbench did not start (`api --url`) gets a bound from [`for_external`]:
//! `--model-file` sized by [`model_bytes`] (as stored: right for llama.cpp, Ollama, and
//! any engine that reads the file's own tensors), or `--bytes-per-token` given outright.
//!
//! Transformers engines load weights at a torch dtype, whatever the file holds:
//! [`transformers_bytes_per_param`] is the one rule for that (both of our Python
//! scripts, per device), and [`transformers_bytes`] sizes a GGUF or safetensors model at
//! it.

use crate::measure::bandwidth::Bandwidth;
use crate::results::{Flag, RejectedDecode, RunRecord};
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
    /// How the bytes per token were counted ("model file PATH (gguf)", "--bytes-per-token").
    #[serde(default)]
    pub bytes_source: String,
}

impl Roofline {
    pub fn new(bytes_per_token: u64, bandwidth_gbps: f64, bandwidth_source: &str) -> Self {
        Roofline {
            bytes_per_token,
            bandwidth_gbps,
            bandwidth_source: bandwidth_source.to_string(),
            ceiling_tps: ceiling_tps(bandwidth_gbps, bytes_per_token),
            bytes_source: String::new(),
        }
    }

    /// The ceiling from a resolved [`Bandwidth`], naming its provenance.
    pub fn from_bandwidth(bytes_per_token: u64, bw: &Bandwidth) -> Self {
        Roofline::new(bytes_per_token, bw.gbps, &bw.describe())
    }

    /// Say how the bytes per token were counted (shown by [`Roofline::describe`]).
    pub fn with_bytes_source(mut self, source: impl Into<String>) -> Self {
        self.bytes_source = source.into();
        self
    }

    /// A one-line description for logs and engine notes.
    pub fn describe(&self) -> String {
        let bytes_from = if self.bytes_source.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.bytes_source)
        };
        format!(
            "roofline {:.1} tok/s = {:.1} GB/s ({}) / {:.1} MB read per token{bytes_from}",
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

/// Apply the bound to a record: a decode figure above the ceiling is flagged and moved
/// to `rejected_decode` (with its TPOT), so no summary uses it; the run keeps `ok` and
/// every other number. Checks the record's `decode_tps` (whichever clock it came from)
/// and the engine report's own figure, which may differ from ours. Returns whether a
/// figure was removed.
pub fn apply(record: &mut RunRecord, roofline: &Roofline) -> bool {
    let ceiling = roofline.ceiling_tps;
    let mut removed = false;
    if let Some(tps) = record.decode_tps
        && let Some(flag) = check_decode(tps, ceiling)
    {
        push_flag(record, flag);
        let source = record
            .decode_tps_source
            .take()
            .unwrap_or_else(|| "client_clock".into());
        let tpot_ms = record.tpot_ms.take();
        record.decode_tps = None;
        record.rejected_decode.push(RejectedDecode {
            reason: ABOVE_ROOFLINE.into(),
            source,
            decode_tps: Some(tps),
            tpot_ms,
        });
        removed = true;
    }
    if let Some(report) = record.engine_report.as_mut()
        && let Some(tps) = report.decode_tps
        && let Some(flag) = check_decode(tps, ceiling)
    {
        report.decode_tps = None;
        push_flag(record, flag);
        // Already moved above when the record's figure was this same engine claim.
        let moved = record
            .rejected_decode
            .iter()
            .any(|x| x.source == "engine_clock" && x.decode_tps == Some(tps));
        if !moved {
            record.rejected_decode.push(RejectedDecode {
                reason: ABOVE_ROOFLINE.into(),
                source: "engine_clock".into(),
                decode_tps: Some(tps),
                tpot_ms: per_token_ms(tps),
            });
        }
        removed = true;
    }
    removed
}

fn push_flag(record: &mut RunRecord, flag: Flag) {
    if !record.flags.iter().any(|f| f.message == flag.message) {
        record.flags.push(flag);
    }
}

fn per_token_ms(tps: f64) -> Option<f64> {
    (tps.is_finite() && tps > 0.0).then(|| 1000.0 / tps)
}

/// The bound for a server inferbench did not start (`api --url`): bytes per token from
/// `bytes_per_token` (given outright, e.g. `--bytes-per-token`) or else from the model
/// file the server serves (`--model-file`, sized by [`model_bytes`] as stored), over
/// `bandwidth`. `Ok(None)` when neither is given. A bandwidth that is not finite and
/// positive, or a count of 0 bytes, is an error (it would make no bound, or an infinite
/// one).
///
/// The bandwidth must be that of the memory the server's weights sit in: the host probe
/// measures this machine's RAM, right only for a CPU server on this host; for a GPU or a
/// remote server, the caller should pass the configured `memory_bandwidth_gbps`.
pub fn for_external(
    model_file: Option<&Path>,
    bytes_per_token: Option<u64>,
    bandwidth: &Bandwidth,
) -> anyhow::Result<Option<Roofline>> {
    let (bytes, source) = match (bytes_per_token, model_file) {
        (Some(b), _) => (b, "--bytes-per-token".to_string()),
        (None, Some(path)) => {
            let m = model_bytes(path)
                .with_context(|| format!("sizing --model-file {}", path.display()))?;
            (
                m.bytes_per_token,
                format!("model file {} ({})", path.display(), m.format),
            )
        }
        (None, None) => return Ok(None),
    };
    anyhow::ensure!(
        bytes > 0,
        "0 bytes per token gives no bound; give the model's bytes read per token"
    );
    anyhow::ensure!(
        bandwidth.gbps.is_finite() && bandwidth.gbps > 0.0,
        "memory bandwidth {} GB/s gives no bound",
        bandwidth.gbps
    );
    Ok(Some(
        Roofline::from_bandwidth(bytes, bandwidth).with_bytes_source(source),
    ))
}

/// Bytes per decoded token of a model: a `.gguf` file, a `.safetensors` file, or a
/// directory of `*.safetensors` (an HF or Uzu model directory).
pub fn model_bytes(path: &Path) -> anyhow::Result<ModelBytes> {
    if path.is_dir() {
        let files = safetensors_files(path)?;
        if files.is_empty() {
            // An HF directory may hold a GGUF instead.
            return model_bytes(&single_gguf(path)?);
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

/// Bytes per parameter a transformers engine reads per token for a configured
/// `torch_dtype` (`None` = not configured, which both scripts take as `auto`). `None`
/// for a dtype name the scripts reject (they exit before loading, so there is no run to
/// bound).
///
/// What the scripts really do (both take `python/torch_knobs.py`'s `pick_dtype`, on every
/// device alike):
/// - explicit `float32` → 4; `float16`, `bfloat16` → 2; no other name is accepted.
/// - `auto`: bf16 (or fp16) on CUDA, fp16 on MPS, **bf16 on CPU** → 2 on every device.
pub fn transformers_bytes_per_param(dtype: Option<&str>) -> Option<u64> {
    match dtype.unwrap_or("auto") {
        "float32" => Some(4),
        "float16" | "bfloat16" | "auto" => Some(2),
        _ => None,
    }
}

/// Bytes per decoded token of a model a transformers engine loads at `bytes_per_param`:
/// a GGUF is dequantized ([`gguf_bytes_dequantized`]); safetensors floating-point
/// tensors (F64/F32/F16/BF16) are cast to the dtype, so they count elements ×
/// `bytes_per_param`, while integer or 8-bit tensors (packed quantized weights) keep
/// their stored size. Same embedding rule as [`model_bytes`].
pub fn transformers_bytes(path: &Path, bytes_per_param: u64) -> anyhow::Result<ModelBytes> {
    if path.extension().is_some_and(|e| e == "gguf") {
        return gguf_bytes_dequantized(path, bytes_per_param);
    }
    let files = safetensors_files(path)?;
    if files.is_empty() {
        // A directory holding one GGUF, as model_bytes accepts.
        let gguf = single_gguf(path)?;
        return gguf_bytes_dequantized(&gguf, bytes_per_param);
    }
    let mut headers = Vec::new();
    for f in &files {
        headers.push(read_safetensors_header(f)?);
    }
    safetensors_bytes_at(&headers, Some(bytes_per_param))
}

/// [`transformers_bytes`] at the dtype [`transformers_bytes_per_param`] gives.
pub fn transformers_model_bytes(path: &Path, dtype: Option<&str>) -> anyhow::Result<ModelBytes> {
    let bpp = transformers_bytes_per_param(dtype).with_context(|| {
        format!(
            "torch_dtype {:?} is not one the PyTorch scripts load",
            dtype.unwrap_or("auto")
        )
    })?;
    transformers_bytes(path, bpp)
}

/// The `*.safetensors` files of a model: the file itself, or a directory's, sorted.
fn safetensors_files(path: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    if !path.is_dir() {
        return match path.extension().and_then(|x| x.to_str()) {
            Some("safetensors") => Ok(vec![path.to_path_buf()]),
            _ => anyhow::bail!(
                "{}: cannot size this model (expected a .gguf, a .safetensors or a model directory)",
                path.display()
            ),
        };
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .with_context(|| format!("reading model directory {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    Ok(files)
}

/// The one `.gguf` in a directory.
fn single_gguf(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let gguf: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading model directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    match gguf.as_slice() {
        [one] => Ok(one.clone()),
        _ => anyhow::bail!(
            "{}: no .safetensors (or single .gguf) file to size the model from",
            dir.display()
        ),
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

/// One tensor of a safetensors header.
struct TensorEntry {
    name: String,
    /// Stored bytes (the `data_offsets` span).
    bytes: u64,
    /// First dimension (rows), at least 1.
    rows: u64,
    /// Element count (product of the shape), when the shape is given.
    elements: Option<u64>,
    /// Whether the stored dtype is floating point (F64/F32/F16/BF16), which a torch
    /// dtype casts.
    castable: bool,
}

impl TensorEntry {
    /// Bytes read per token at `bytes_per_param` (None = as stored).
    fn bytes_at(&self, bytes_per_param: Option<u64>) -> anyhow::Result<u64> {
        match (bytes_per_param, self.elements) {
            (Some(bpp), Some(n)) if self.castable => n
                .checked_mul(bpp)
                .with_context(|| format!("tensor {}: byte count overflows", self.name)),
            _ => Ok(self.bytes),
        }
    }
}

/// Each tensor of a header entry.
fn tensors(header: &serde_json::Value) -> anyhow::Result<Vec<TensorEntry>> {
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
        let shape = t.get("shape").and_then(|s| s.as_array());
        let rows = shape
            .and_then(|s| s.first())
            .and_then(|d| d.as_u64())
            .unwrap_or(1);
        let elements = shape.and_then(|s| {
            s.iter()
                .try_fold(1u64, |acc, d| d.as_u64().and_then(|d| acc.checked_mul(d)))
        });
        let castable = matches!(
            t.get("dtype").and_then(|d| d.as_str()),
            Some("F64" | "F32" | "F16" | "BF16")
        );
        out.push(TensorEntry {
            name: name.clone(),
            bytes: end - start,
            rows: rows.max(1),
            elements,
            castable,
        });
    }
    Ok(out)
}

/// Bytes per token from parsed safetensors headers, as stored (pure).
pub fn safetensors_bytes(headers: &[serde_json::Value]) -> anyhow::Result<ModelBytes> {
    safetensors_bytes_at(headers, None)
}

/// Bytes per token from parsed safetensors headers with floating-point tensors at
/// `bytes_per_param` (a transformers dtype), or as stored for `None` (pure).
pub fn safetensors_bytes_at(
    headers: &[serde_json::Value],
    bytes_per_param: Option<u64>,
) -> anyhow::Result<ModelBytes> {
    let mut all = Vec::new();
    for h in headers {
        all.extend(tensors(h)?);
    }
    let mut sized = Vec::with_capacity(all.len());
    for t in &all {
        sized.push(t.bytes_at(bytes_per_param)?);
    }
    let total = sized
        .iter()
        .try_fold(0u64, |acc, b| acc.checked_add(*b))
        .context("weight byte total overflows")?;
    let has_lm_head = all
        .iter()
        .any(|t| t.name == "lm_head.weight" || t.name.ends_with(".lm_head.weight"));
    let embed = all
        .iter()
        .zip(&sized)
        .find(|(t, _)| t.name.ends_with("embed_tokens.weight"));
    let bytes_per_token = match embed {
        // Untied: the embedding is a lookup of one row per token.
        Some((t, bytes)) if has_lm_head => total - bytes + bytes / t.rows,
        _ => total,
    };
    Ok(ModelBytes {
        bytes_per_token,
        weight_bytes: total,
        format: match bytes_per_param {
            None => "safetensors".into(),
            Some(b) => format!("safetensors at {b} bytes/parameter"),
        },
        embeddings_tied: !has_lm_head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Mode, RejectedDecode, RunRecord, Sampling};
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
    fn apply_removes_impossible_figures_and_keeps_the_run() {
        let roof = Roofline::new(2_000_000_000, 400.0, "config");
        let mut bad = record(Some(2337.3));
        bad.tpot_ms = Some(1000.0 / 2337.3);
        bad.decode_tps_source = Some("engine_clock".into());
        bad.ttft_ms = Some(12.0);
        bad.e2e_ms = Some(80.0);
        assert!(apply(&mut bad, &roof));
        assert!(bad.ok && bad.error.is_none(), "the run stays");
        assert_eq!((bad.ttft_ms, bad.e2e_ms), (Some(12.0), Some(80.0)));
        assert_eq!(
            (bad.decode_tps, bad.tpot_ms, bad.decode_tps_source.clone()),
            (None, None, None)
        );
        assert_eq!(bad.flags.len(), 1);
        assert!(
            bad.flags[0]
                .message
                .contains("above physical ceiling 200.0")
        );
        assert_eq!(
            bad.rejected_decode,
            vec![RejectedDecode {
                reason: ABOVE_ROOFLINE.into(),
                source: "engine_clock".into(),
                decode_tps: Some(2337.3),
                tpot_ms: Some(1000.0 / 2337.3),
            }]
        );

        let mut good = record(Some(150.0));
        assert!(!apply(&mut good, &roof));
        assert!(good.ok && good.flags.is_empty() && good.rejected_decode.is_empty());
        assert_eq!(good.decode_tps, Some(150.0));

        // Our figure is fine but the engine's own claim is impossible: that one goes.
        let mut claim = record(Some(150.0));
        claim.engine_report = Some(crate::results::EngineReport {
            decode_tps: Some(900.0),
            ..Default::default()
        });
        assert!(apply(&mut claim, &roof));
        assert!(claim.ok);
        assert_eq!(claim.decode_tps, Some(150.0));
        assert_eq!(claim.engine_report.as_ref().unwrap().decode_tps, None);
        assert_eq!(claim.rejected_decode.len(), 1);
        assert_eq!(claim.rejected_decode[0].decode_tps, Some(900.0));
        assert_eq!(claim.flags.len(), 1);

        // The record's figure IS the engine's claim (CLI mode): moved once, flagged once.
        let mut same = record(Some(900.0));
        same.decode_tps_source = Some("engine_clock".into());
        same.engine_report = Some(crate::results::EngineReport {
            decode_tps: Some(900.0),
            ..Default::default()
        });
        assert!(apply(&mut same, &roof));
        assert_eq!((same.rejected_decode.len(), same.flags.len()), (1, 1));
    }

    fn bw(gbps: f64) -> Bandwidth {
        let mut b = Bandwidth::configured(gbps);
        b.host_key = "h".into();
        b
    }

    #[test]
    fn external_bound_from_bytes_or_model_file() {
        assert_eq!(for_external(None, None, &bw(80.0)).unwrap(), None);
        let r = for_external(None, Some(1_000_000_000), &bw(80.0))
            .unwrap()
            .unwrap();
        assert_eq!(r.ceiling_tps, 80.0);
        assert!(
            r.describe().contains("--bytes-per-token"),
            "{}",
            r.describe()
        );
        assert!(r.describe().contains("config"), "{}", r.describe());
        // A model file: sized as stored.
        let dir = tempfile::tempdir().unwrap();
        let f = write_safetensors(
            dir.path(),
            &json!({"w": {"dtype": "BF16", "shape": [1000, 1000], "data_offsets": [0, 2_000_000]}}),
        );
        let r = for_external(Some(&f), None, &bw(80.0)).unwrap().unwrap();
        assert_eq!(r.bytes_per_token, 2_000_000);
        assert_eq!(r.ceiling_tps, 40_000.0);
        assert!(r.describe().contains("safetensors"), "{}", r.describe());
        // The explicit count wins over the file.
        let r = for_external(Some(&f), Some(4_000_000), &bw(80.0))
            .unwrap()
            .unwrap();
        assert_eq!(r.bytes_per_token, 4_000_000);
        // No bound from nonsense.
        assert!(for_external(None, Some(0), &bw(80.0)).is_err());
        assert!(for_external(None, Some(1), &bw(0.0)).is_err());
        assert!(for_external(None, Some(1), &bw(f64::NAN)).is_err());
        let missing = dir.path().join("nope.gguf");
        let e = for_external(Some(&missing), None, &bw(80.0)).unwrap_err();
        assert!(format!("{e:#}").contains("--model-file"), "{e:#}");
    }

    #[test]
    fn dtype_rule_follows_what_each_script_loads() {
        let b = transformers_bytes_per_param;
        // Both scripts (torch_knobs.pick_dtype), on every device: auto is 2 bytes (bf16 on
        // CPU and CUDA, fp16 on MPS).
        assert_eq!(b(None), Some(2));
        assert_eq!(b(Some("auto")), Some(2));
        // Explicit names.
        assert_eq!(b(Some("float32")), Some(4));
        assert_eq!(b(Some("bfloat16")), Some(2));
        assert_eq!(b(Some("float16")), Some(2));
        assert_eq!(b(Some("int3")), None);
        // Short aliases are taken by neither script (the config rejects them).
        assert_eq!(b(Some("bf16")), None);
        assert_eq!(b(Some("fp32")), None);
    }

    fn write_safetensors(dir: &Path, header: &serde_json::Value) -> std::path::PathBuf {
        let header = serde_json::to_vec(header).unwrap();
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&header);
        let path = dir.join("model.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        path
    }

    #[test]
    fn transformers_size_safetensors_at_the_loaded_dtype() {
        let dir = tempfile::tempdir().unwrap();
        // An fp32 checkpoint loaded as bf16 reads half its file size; packed integer
        // weights keep their size; the untied embedding is one row per token.
        write_safetensors(
            dir.path(),
            &json!({
                "model.embed_tokens.weight": {"dtype": "F32", "shape": [100, 10], "data_offsets": [0, 4000]},
                "lm_head.weight": {"dtype": "F32", "shape": [100, 10], "data_offsets": [4000, 8000]},
                "q.qweight": {"dtype": "I32", "shape": [10, 10], "data_offsets": [8000, 8400]}
            }),
        );
        let stored = model_bytes(dir.path()).unwrap();
        assert_eq!(stored.bytes_per_token, 4000 + 40 + 400);
        let bf16 = transformers_bytes(dir.path(), 2).unwrap();
        assert_eq!(bf16.weight_bytes, 2000 + 2000 + 400);
        assert_eq!(bf16.bytes_per_token, 2000 + 20 + 400);
        let via_rule = transformers_model_bytes(dir.path(), None).unwrap();
        assert_eq!(via_rule, bf16);
        let f32 = transformers_model_bytes(dir.path(), Some("float32")).unwrap();
        assert_eq!(f32.bytes_per_token, stored.bytes_per_token);
        assert!(transformers_model_bytes(dir.path(), Some("int3")).is_err());
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
