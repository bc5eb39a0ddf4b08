//! llama.cpp: `llama-server` in API mode ([`server`]), `llama-completion` (or the older
//! `llama-cli`) in CLI mode ([`cli`]).

pub mod cli;
pub mod doctor;
pub mod server;

/// The programs CLI mode runs, in the order they are looked for (llama.cpp's one-shot tool, else the older `llama-cli`).
pub const CLI_PROGRAMS: &[&str] = &["llama-completion", "llama-cli"];
