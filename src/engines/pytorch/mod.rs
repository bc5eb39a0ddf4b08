//! PyTorch / transformers: `python/pytorch_server.py` in API mode ([`server`]),
//! `python/generate.py` in CLI mode ([`cli`]), both run by the configured Python.

pub mod cli;
pub mod doctor;
pub mod server;
