//! Uzu: `cli server` in API mode ([`server`]), `cli bench` (or the 0.4.x `cli run`) in CLI
//! mode ([`cli`]).

pub mod cli;
pub mod doctor;
pub mod server;

/// The programs CLI mode runs, in the order they are looked for (Uzu's `cli`, else its older names).
pub const CLI_PROGRAMS: &[&str] = &["cli", "uzu_cli", "uzu"];
