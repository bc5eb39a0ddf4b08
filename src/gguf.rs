//! A reader of GGUF (v2/v3) model files: the header, the metadata key/values and the
//! tensor infos. It never reads tensor data.
//!
//! Why we own one: the chat template (`tokenizer.chat_template`), the special tokens and
//! the tensor sizes (for the physical decode bound, bytes read per decoded token) all live
//! in the header, and no crate reads just that.
//!
//! Defensive by construction: every length read from the file (string, array, tensor
//! count, dimension count) is checked against the bytes left in the file before anything
//! is allocated, so a truncated or corrupt file is an error, never a panic or a huge
//! allocation. Large arrays (e.g. `tokenizer.ggml.tokens`, 262,144 strings for Gemma 3)
//! are skipped and kept as [`GgufValue::LazyArray`] (element type, length, file offset);
//! [`GgufInfo::token_string`] re-reads one element on demand.
//!
//! Layout (little-endian): magic `GGUF`, version u32, tensor count u64, metadata count
//! u64; metadata: key (u64 length + UTF-8), value type u32, value; tensor infos: name,
//! n_dims u32, dims u64 × n_dims, ggml type u32, offset u64 (relative to the data
//! section, which starts at the next multiple of `general.alignment`, default 32).

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Arrays longer than this are not loaded; they become [`GgufValue::LazyArray`].
pub const INLINE_ARRAY_MAX: u64 = 1024;

/// ggml's maximum number of tensor dimensions.
const MAX_DIMS: u32 = 4;

/// How deep arrays of arrays may nest before the file is called corrupt.
const MAX_ARRAY_DEPTH: u32 = 4;

/// Default alignment of the tensor data section.
const DEFAULT_ALIGNMENT: u64 = 32;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    /// A short array, loaded.
    Array(Vec<GgufValue>),
    /// A long array, skipped: its element type code, length, and the file offset of its
    /// first element.
    LazyArray {
        elem_type: u32,
        len: u64,
        offset: u64,
    },
}

impl GgufValue {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => Some(v),
            GgufValue::I8(v) => u64::try_from(v).ok(),
            GgufValue::I16(v) => u64::try_from(v).ok(),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One tensor's description (its data is never read).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous (row) dimension.
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Offset of the tensor's data, relative to the start of the data section.
    pub offset: u64,
}

/// Block size (elements per block) and bytes per block of a ggml type, from ggml's
/// `type_traits`. `None` for a type code we do not know (never guessed).
pub fn ggml_type_layout(ggml_type: u32) -> Option<(&'static str, u64, u64)> {
    Some(match ggml_type {
        0 => ("F32", 1, 4),
        1 => ("F16", 1, 2),
        2 => ("Q4_0", 32, 18),
        3 => ("Q4_1", 32, 20),
        6 => ("Q5_0", 32, 22),
        7 => ("Q5_1", 32, 24),
        8 => ("Q8_0", 32, 34),
        // ggml's block_q8_1 is two f16 (d, s) + 32 int8 = 36 bytes (the Python gguf
        // package says 40, a leftover of f32 fields). It only appears as an
        // intermediate type, never in model files.
        9 => ("Q8_1", 32, 36),
        10 => ("Q2_K", 256, 84),
        11 => ("Q3_K", 256, 110),
        12 => ("Q4_K", 256, 144),
        13 => ("Q5_K", 256, 176),
        14 => ("Q6_K", 256, 210),
        15 => ("Q8_K", 256, 292),
        16 => ("IQ2_XXS", 256, 66),
        17 => ("IQ2_XS", 256, 74),
        18 => ("IQ3_XXS", 256, 98),
        19 => ("IQ1_S", 256, 50),
        20 => ("IQ4_NL", 32, 18),
        21 => ("IQ3_S", 256, 110),
        22 => ("IQ2_S", 256, 82),
        23 => ("IQ4_XS", 256, 136),
        24 => ("I8", 1, 1),
        25 => ("I16", 1, 2),
        26 => ("I32", 1, 4),
        27 => ("I64", 1, 8),
        28 => ("F64", 1, 8),
        29 => ("IQ1_M", 256, 56),
        30 => ("BF16", 1, 2),
        34 => ("TQ1_0", 256, 54),
        35 => ("TQ2_0", 256, 66),
        39 => ("MXFP4", 32, 17),
        _ => return None,
    })
}

impl TensorInfo {
    /// Number of elements (product of dims).
    pub fn n_elements(&self) -> Option<u64> {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// Bytes of this tensor's data: whole blocks of its ggml type. An unknown type, a row
    /// length that is not a multiple of the block size, or an overflow is an error.
    pub fn n_bytes(&self) -> anyhow::Result<u64> {
        let (type_name, block, size) = ggml_type_layout(self.ggml_type).with_context(|| {
            format!(
                "tensor {}: unknown ggml type {} (this reader knows F32, F16, BF16, Q4_0..Q8_1, \
                 Q2_K..Q8_K, IQ*, TQ*, MXFP4)",
                self.name, self.ggml_type
            )
        })?;
        let row = self.dims.first().copied().unwrap_or(1);
        if row % block != 0 {
            bail!(
                "tensor {}: row length {row} is not a multiple of the {type_name} block size {block}",
                self.name
            );
        }
        let n = self
            .n_elements()
            .with_context(|| format!("tensor {}: element count overflows", self.name))?;
        (n / block)
            .checked_mul(size)
            .with_context(|| format!("tensor {}: byte size overflows", self.name))
    }

    /// Bytes of one row (`dims[0]` elements), e.g. one token's embedding vector.
    pub fn row_bytes(&self) -> anyhow::Result<u64> {
        let rows = self
            .dims
            .iter()
            .skip(1)
            .try_fold(1u64, |a, &d| a.checked_mul(d));
        match rows {
            Some(0) | None => Ok(0),
            Some(r) => Ok(self.n_bytes()? / r),
        }
    }
}

/// Everything in a GGUF file except the tensor data.
#[derive(Debug, Clone)]
pub struct GgufInfo {
    pub version: u32,
    pub metadata: BTreeMap<String, GgufValue>,
    pub tensors: Vec<TensorInfo>,
    /// Start of the tensor data section (aligned).
    pub data_offset: u64,
    pub file_size: u64,
    /// The file read, when read from a path (needed by [`GgufInfo::token_string`]).
    pub path: Option<PathBuf>,
}

/// A reader that knows its position and the total length, so every length in the file
/// can be checked against the bytes that remain.
struct Src<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Src<R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn need(&self, n: u64, what: &str) -> anyhow::Result<()> {
        if n > self.remaining() {
            bail!(
                "truncated or corrupt GGUF: {what} needs {n} bytes at offset {} but only {} remain",
                self.pos,
                self.remaining()
            );
        }
        Ok(())
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> anyhow::Result<[u8; N]> {
        self.need(N as u64, what)?;
        let mut b = [0u8; N];
        self.inner
            .read_exact(&mut b)
            .with_context(|| format!("reading {what} at offset {}", self.pos))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u8(&mut self, what: &str) -> anyhow::Result<u8> {
        Ok(self.bytes::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> anyhow::Result<u16> {
        Ok(u16::from_le_bytes(self.bytes(what)?))
    }
    fn u32(&mut self, what: &str) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(what)?))
    }
    fn u64(&mut self, what: &str) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(what)?))
    }

    fn skip(&mut self, n: u64, what: &str) -> anyhow::Result<()> {
        self.need(n, what)?;
        if n <= 1 << 16 {
            // Read through short skips: a seek would throw away a BufReader's buffer,
            // and skipping 262,144 token strings one seek each is slow.
            let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
                .with_context(|| format!("skipping {what}"))?;
            if copied != n {
                bail!("truncated GGUF: {what} at offset {}", self.pos);
            }
        } else {
            let delta = i64::try_from(n).context("skip too large")?;
            self.inner
                .seek(SeekFrom::Current(delta))
                .with_context(|| format!("skipping {what}"))?;
        }
        self.pos += n;
        Ok(())
    }

    fn string(&mut self, what: &str) -> anyhow::Result<String> {
        let n = self.u64(what)?;
        self.need(n, what)?;
        let n = usize::try_from(n).context("string too long")?;
        let mut buf = vec![0u8; n];
        self.inner
            .read_exact(&mut buf)
            .with_context(|| format!("reading {what} at offset {}", self.pos))?;
        self.pos += n as u64;
        // Token strings may hold invalid UTF-8 (byte-fallback pieces): keep them readable.
        Ok(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
    }

    fn skip_string(&mut self, what: &str) -> anyhow::Result<()> {
        let n = self.u64(what)?;
        self.skip(n, what)
    }
}

/// Fixed size in bytes of a scalar value type; `None` for string and array.
fn scalar_size(t: u32) -> Option<u64> {
    match t {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// Smallest possible encoded size of one element of type `t` (for length checks).
fn min_size(t: u32) -> u64 {
    match t {
        8 => 8,
        9 => 12,
        _ => scalar_size(t).unwrap_or(1),
    }
}

fn read_value<R: Read + Seek>(
    src: &mut Src<R>,
    t: u32,
    key: &str,
    depth: u32,
) -> anyhow::Result<GgufValue> {
    Ok(match t {
        0 => GgufValue::U8(src.u8(key)?),
        1 => GgufValue::I8(src.u8(key)? as i8),
        2 => GgufValue::U16(src.u16(key)?),
        3 => GgufValue::I16(src.u16(key)? as i16),
        4 => GgufValue::U32(src.u32(key)?),
        5 => GgufValue::I32(src.u32(key)? as i32),
        6 => GgufValue::F32(f32::from_bits(src.u32(key)?)),
        7 => match src.u8(key)? {
            0 => GgufValue::Bool(false),
            1 => GgufValue::Bool(true),
            b => bail!("corrupt GGUF: key {key}: bool byte {b}"),
        },
        8 => GgufValue::String(src.string(key)?),
        9 => {
            if depth >= MAX_ARRAY_DEPTH {
                bail!("corrupt GGUF: key {key}: arrays nested deeper than {MAX_ARRAY_DEPTH}");
            }
            let elem_type = src.u32(key)?;
            let len = src.u64(key)?;
            let min = len
                .checked_mul(min_size(elem_type))
                .with_context(|| format!("corrupt GGUF: key {key}: array length {len}"))?;
            src.need(min, key)?;
            if len > INLINE_ARRAY_MAX {
                let offset = src.pos;
                skip_elements(src, elem_type, len, key, depth + 1)?;
                GgufValue::LazyArray {
                    elem_type,
                    len,
                    offset,
                }
            } else {
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(read_value(src, elem_type, key, depth + 1)?);
                }
                GgufValue::Array(items)
            }
        }
        10 => GgufValue::U64(src.u64(key)?),
        11 => GgufValue::I64(src.u64(key)? as i64),
        12 => GgufValue::F64(f64::from_bits(src.u64(key)?)),
        other => bail!("corrupt GGUF: key {key}: unknown value type {other}"),
    })
}

/// Skip `len` elements of type `t` without keeping them.
fn skip_elements<R: Read + Seek>(
    src: &mut Src<R>,
    t: u32,
    len: u64,
    key: &str,
    depth: u32,
) -> anyhow::Result<()> {
    if let Some(size) = scalar_size(t) {
        let n = len
            .checked_mul(size)
            .with_context(|| format!("corrupt GGUF: key {key}: array too long"))?;
        return src.skip(n, key);
    }
    for _ in 0..len {
        match t {
            8 => src.skip_string(key)?,
            9 => {
                read_value(src, 9, key, depth)?;
            }
            other => bail!("corrupt GGUF: key {key}: unknown array element type {other}"),
        }
    }
    Ok(())
}

impl GgufInfo {
    /// Read the header, metadata and tensor infos of a GGUF file.
    pub fn read(path: &Path) -> anyhow::Result<GgufInfo> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("cannot stat {}", path.display()))?
            .len();
        let mut info = Self::parse(BufReader::with_capacity(1 << 16, file), len)
            .with_context(|| format!("reading GGUF file {}", path.display()))?;
        info.path = Some(path.to_path_buf());
        Ok(info)
    }

    /// Parse from any seekable source of known total length `len`.
    pub fn parse<R: Read + Seek>(reader: R, len: u64) -> anyhow::Result<GgufInfo> {
        let mut src = Src {
            inner: reader,
            pos: 0,
            len,
        };
        let magic = src.bytes::<4>("magic")?;
        if &magic != b"GGUF" {
            bail!("not a GGUF file (magic {magic:02x?}, expected \"GGUF\")");
        }
        let version = src.u32("version")?;
        if !(2..=3).contains(&version) {
            bail!("unsupported GGUF version {version} (this reader handles 2 and 3)");
        }
        let n_tensors = src.u64("tensor count")?;
        let n_kv = src.u64("metadata count")?;
        // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info
        // at least 8 + 4 + 4 + 8.
        src.need(n_kv.saturating_mul(13), "metadata")?;
        src.need(n_tensors.saturating_mul(24), "tensor infos")?;

        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = src
                .string("metadata key")
                .with_context(|| format!("metadata entry {i}"))?;
            let t = src.u32(&key)?;
            let value = read_value(&mut src, t, &key, 0)?;
            metadata.insert(key, value);
        }

        let mut tensors = Vec::with_capacity(n_tensors.min(1 << 16) as usize);
        for i in 0..n_tensors {
            let name = src
                .string("tensor name")
                .with_context(|| format!("tensor info {i}"))?;
            let n_dims = src.u32(&name)?;
            if n_dims > MAX_DIMS {
                bail!("corrupt GGUF: tensor {name}: {n_dims} dimensions (ggml allows {MAX_DIMS})");
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(src.u64(&name)?);
            }
            let ggml_type = src.u32(&name)?;
            let offset = src.u64(&name)?;
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            });
        }

        let alignment = match metadata
            .get("general.alignment")
            .and_then(GgufValue::as_u64)
        {
            Some(a) if a > 0 && a.is_power_of_two() => a,
            Some(a) => bail!("corrupt GGUF: general.alignment {a} is not a power of two"),
            None => DEFAULT_ALIGNMENT,
        };
        let data_offset = src.pos.div_ceil(alignment) * alignment;
        Ok(GgufInfo {
            version,
            metadata,
            tensors,
            data_offset,
            file_size: len,
            path: None,
        })
    }

    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(GgufValue::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(GgufValue::as_u64)
    }

    /// `general.architecture`, e.g. `gemma3`, `llama`.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// An architecture-scoped integer, e.g. `arch_u64("block_count")` reads
    /// `gemma3.block_count`.
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        let arch = self.architecture()?;
        self.get_u64(&format!("{arch}.{suffix}"))
    }

    /// Number of transformer blocks (`{arch}.block_count`).
    pub fn block_count(&self) -> Option<u64> {
        self.arch_u64("block_count")
    }

    /// Trained context length (`{arch}.context_length`).
    pub fn context_length(&self) -> Option<u64> {
        self.arch_u64("context_length")
    }

    /// The model's own chat template (`tokenizer.chat_template`), if it has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.get_str("tokenizer.chat_template")
    }

    /// Sum of all tensors' data bytes.
    pub fn weight_bytes(&self) -> anyhow::Result<u64> {
        self.tensors.iter().try_fold(0u64, |acc, t| {
            acc.checked_add(t.n_bytes()?)
                .context("weight byte total overflows")
        })
    }

    /// Bytes of weights read from memory per decoded token at batch 1: the lower bound on
    /// memory traffic that sets the physical decode ceiling (bandwidth ÷ this).
    ///
    /// Every tensor is read once per token, with one exception: the input embedding
    /// (`token_embd.weight`) is a lookup, so only one row is read per token — unless it is
    /// tied to the output projection (the file has no separate `output.weight`), in which
    /// case the whole table is read by the logits matmul and counts in full. KV-cache
    /// traffic is not included (it grows with context; this is the weights-only bound).
    pub fn decode_bytes_per_token(&self) -> anyhow::Result<u64> {
        let total = self.weight_bytes()?;
        let has_output = self.tensors.iter().any(|t| t.name == "output.weight");
        match self.tensors.iter().find(|t| t.name == "token_embd.weight") {
            Some(embd) if has_output => Ok(total - embd.n_bytes()? + embd.row_bytes()?),
            _ => Ok(total),
        }
    }

    /// Whether the token embedding is tied to the output layer (no `output.weight`).
    pub fn embeddings_tied(&self) -> bool {
        !self.tensors.iter().any(|t| t.name == "output.weight")
    }

    /// The string of token `id` in `tokenizer.ggml.tokens`, re-read from the file when
    /// the array was skipped as large.
    pub fn token_string(&self, id: u64) -> anyhow::Result<String> {
        match self.get("tokenizer.ggml.tokens") {
            Some(GgufValue::Array(items)) => items
                .get(usize::try_from(id).unwrap_or(usize::MAX))
                .and_then(GgufValue::as_str)
                .map(str::to_string)
                .with_context(|| format!("token id {id} is not in tokenizer.ggml.tokens")),
            Some(GgufValue::LazyArray {
                elem_type: 8,
                len,
                offset,
            }) => {
                if id >= *len {
                    bail!("token id {id} is out of range (vocabulary has {len} tokens)");
                }
                let path = self
                    .path
                    .as_ref()
                    .context("GGUF was not read from a file; cannot look up tokens")?;
                let file =
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
                let mut src = Src {
                    inner: BufReader::with_capacity(1 << 16, file),
                    pos: 0,
                    len: self.file_size,
                };
                src.skip(*offset, "token array")?;
                for _ in 0..id {
                    src.skip_string("token")?;
                }
                src.string("token")
            }
            Some(_) => bail!("tokenizer.ggml.tokens is not an array of strings"),
            None => bail!("the GGUF has no tokenizer.ggml.tokens"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn gemma() -> String {
        crate::config::test_model("gemma-3-270m/gemma-3-270m-Q4_K_M.gguf")
    }

    fn smol() -> String {
        crate::config::test_model("smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    fn real(path: &str) -> GgufInfo {
        assert!(
            Path::new(path).exists(),
            "model file {path} is missing: run scripts/setup.sh to download it"
        );
        GgufInfo::read(Path::new(path)).unwrap()
    }

    /// A small GGUF built in memory.
    struct Builder(Vec<u8>);
    impl Builder {
        fn new(n_tensors: u64, n_kv: u64) -> Self {
            let mut b = Builder(b"GGUF".to_vec());
            b.u32(3);
            b.u64(n_tensors);
            b.u64(n_kv);
            b
        }
        fn u32(&mut self, v: u32) {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        fn u64(&mut self, v: u64) {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        fn str(&mut self, s: &str) {
            self.u64(s.len() as u64);
            self.0.extend_from_slice(s.as_bytes());
        }
        fn kv_str(&mut self, k: &str, v: &str) {
            self.str(k);
            self.u32(8);
            self.str(v);
        }
        fn tensor(&mut self, name: &str, dims: &[u64], t: u32, off: u64) {
            self.str(name);
            self.u32(dims.len() as u32);
            for &d in dims {
                self.u64(d);
            }
            self.u32(t);
            self.u64(off);
        }
        fn parse(&self) -> anyhow::Result<GgufInfo> {
            GgufInfo::parse(Cursor::new(&self.0), self.0.len() as u64)
        }
    }

    #[test]
    fn gemma_270m_header() {
        let g = real(&gemma());
        assert_eq!(g.version, 3);
        assert_eq!(g.architecture(), Some("gemma3"));
        assert_eq!(g.block_count(), Some(18));
        assert_eq!(g.context_length(), Some(32768));
        assert_eq!(
            g.chat_template(),
            None,
            "the base GGUF has no chat template"
        );
        assert_eq!(g.tensors.len(), 236);
        // The tensor data fills the file after the aligned header, to the byte.
        let w = g.weight_bytes().unwrap();
        assert_eq!(
            g.data_offset + w,
            g.file_size,
            "weights {w}, data at {}",
            g.data_offset
        );
        // Tied embeddings: everything is read per token.
        assert!(g.embeddings_tied());
        assert_eq!(g.decode_bytes_per_token().unwrap(), w);
        assert_eq!(g.token_string(2).unwrap(), "<bos>");
        assert_eq!(g.token_string(1).unwrap(), "<eos>");
        assert_eq!(
            g.get_u64("tokenizer.ggml.bos_token_id"),
            Some(2),
            "bos id from metadata"
        );
    }

    #[test]
    fn tensors_are_contiguous_in_real_files() {
        for path in [gemma(), smol()] {
            let g = real(&path);
            let mut ts: Vec<_> = g.tensors.iter().collect();
            ts.sort_by_key(|t| t.offset);
            for pair in ts.windows(2) {
                let end = pair[0].offset + pair[0].n_bytes().unwrap();
                assert!(
                    end <= pair[1].offset && pair[1].offset - end < 32,
                    "{path}: {} ends at {end}, {} starts at {}",
                    pair[0].name,
                    pair[1].name,
                    pair[1].offset
                );
            }
            let last = ts.last().unwrap();
            assert_eq!(
                g.data_offset + last.offset + last.n_bytes().unwrap(),
                g.file_size,
                "{path}"
            );
        }
    }

    #[test]
    fn smollm2_has_chatml_template_and_tokens() {
        let g = real(&smol());
        assert_eq!(g.architecture(), Some("llama"));
        assert_eq!(g.block_count(), Some(30));
        assert!(g.chat_template().unwrap().contains("<|im_start|>"));
        assert!(matches!(
            g.get("tokenizer.ggml.tokens"),
            Some(GgufValue::LazyArray { len: 49152, .. })
        ));
        let bos = g.get_u64("tokenizer.ggml.bos_token_id").unwrap();
        assert_eq!(g.token_string(bos).unwrap(), "<|im_start|>");
        assert!(g.token_string(49152).is_err());
    }

    #[test]
    fn untied_embedding_counts_one_row() {
        let mut b = Builder::new(3, 0);
        b.tensor("token_embd.weight", &[64, 100], 0, 0); // 100 rows × 256 B
        b.tensor("output.weight", &[64, 100], 8, 25_600); // Q8_0: 2 blocks × 34 × 100
        b.tensor("blk.0.ffn.weight", &[256, 4], 12, 32_448); // Q4_K: 1 block × 144 × 4
        let g = b.parse().unwrap();
        assert_eq!(g.weight_bytes().unwrap(), 25_600 + 6_800 + 576);
        assert!(!g.embeddings_tied());
        assert_eq!(g.decode_bytes_per_token().unwrap(), 256 + 6_800 + 576);
    }

    #[test]
    fn n_bytes_by_type() {
        let t = |dims: &[u64], ty| TensorInfo {
            name: "t".into(),
            dims: dims.to_vec(),
            ggml_type: ty,
            offset: 0,
        };
        assert_eq!(t(&[640], 0).n_bytes().unwrap(), 2560);
        assert_eq!(t(&[640, 2], 1).n_bytes().unwrap(), 2560);
        assert_eq!(t(&[640, 2], 30).n_bytes().unwrap(), 2560);
        assert_eq!(t(&[640, 2], 8).n_bytes().unwrap(), 40 * 34);
        assert_eq!(t(&[512, 3], 14).n_bytes().unwrap(), 6 * 210);
        assert!(
            t(&[640], 12).n_bytes().is_err(),
            "640 is not a multiple of 256"
        );
        let err = t(&[32], 99).n_bytes().unwrap_err().to_string();
        assert!(err.contains("unknown ggml type 99"), "{err}");
    }

    #[test]
    fn metadata_values_and_short_arrays() {
        let mut b = Builder::new(0, 3);
        b.kv_str("general.architecture", "llama");
        b.str("llama.block_count");
        b.u32(4);
        b.u32(30);
        b.str("a");
        b.u32(9);
        b.u32(4);
        b.u64(2);
        b.u32(7);
        b.u32(9);
        let g = b.parse().unwrap();
        assert_eq!(g.block_count(), Some(30));
        assert_eq!(
            g.get("a"),
            Some(&GgufValue::Array(vec![
                GgufValue::U32(7),
                GgufValue::U32(9)
            ]))
        );
        assert_eq!(g.data_offset % 32, 0);
    }

    #[test]
    fn corrupt_inputs_are_errors() {
        assert!(GgufInfo::parse(Cursor::new(b"GGML"), 4).is_err());
        // A string claiming 2^60 bytes is rejected before allocation.
        let mut b = Builder::new(0, 1);
        b.u64(1 << 60);
        let err = b.parse().unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        // An array claiming 2^62 elements.
        let mut b = Builder::new(0, 1);
        b.str("k");
        b.u32(9);
        b.u32(8);
        b.u64(1 << 62);
        assert!(b.parse().is_err());
        // Too many dimensions.
        let mut b = Builder::new(1, 0);
        b.tensor("t", &[1, 1, 1, 1, 1], 0, 0);
        assert!(b.parse().unwrap_err().to_string().contains("dimensions"));
        // Every truncation of a valid file is an error.
        let mut b = Builder::new(1, 1);
        b.kv_str("general.architecture", "llama");
        b.tensor("t", &[32, 2], 0, 0);
        assert!(b.parse().is_ok());
        for cut in 0..b.0.len() {
            assert!(
                GgufInfo::parse(Cursor::new(&b.0[..cut]), cut as u64).is_err(),
                "cut at {cut}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut data = b"GGUF\x03\x00\x00\x00".to_vec();
            data.extend_from_slice(&tail);
            let _ = GgufInfo::parse(Cursor::new(&data), data.len() as u64);
            let _ = GgufInfo::parse(Cursor::new(&tail), tail.len() as u64);
        }

        #[test]
        fn arbitrary_kv_bytes_never_panic(
            n_kv in 0u64..4, n_t in 0u64..4,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let mut data = b"GGUF\x03\x00\x00\x00".to_vec();
            data.extend_from_slice(&n_t.to_le_bytes());
            data.extend_from_slice(&n_kv.to_le_bytes());
            data.extend_from_slice(&body);
            if let Ok(g) = GgufInfo::parse(Cursor::new(&data), data.len() as u64) {
                let _ = g.weight_bytes();
                let _ = g.decode_bytes_per_token();
            }
        }
    }
}
