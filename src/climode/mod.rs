//! CLI mode: each engine's own command-line tool run as a subprocess, one process per
//! run, with parsers of what it prints that cannot mistake prefill for decode, and a second
//! clock on every figure.
//!
//! - [`parse`]: pure helpers (escape codes, log prefixes, numbers, Go durations).
//! - [`llamacpp`], [`ollama`], [`pytorch`], [`uzu`]: one file per engine: command line and
//!   pure parsers of its output into [`crate::results::EngineReport`].
//! - [`roofline`]: bytes read per decoded token (GGUF or safetensors) and the batch-1
//!   decode ceiling; flags figures above it.
//! - [`bandwidth`]: a small memory-bandwidth probe, cached.

pub mod bandwidth;
pub mod llamacpp;
pub mod ollama;
pub mod parse;
pub mod pytorch;
pub mod roofline;
pub mod uzu;
