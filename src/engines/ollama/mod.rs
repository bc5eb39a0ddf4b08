//! Ollama: `ollama serve` in API mode ([`server`]), `ollama run` in CLI mode ([`cli`]).

pub mod cli;
pub mod doctor;
pub mod server;

/// The programs CLI mode runs, in the order they are looked for.
pub const CLI_PROGRAMS: &[&str] = &["ollama"];
