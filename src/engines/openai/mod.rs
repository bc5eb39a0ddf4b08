//! Any OpenAI-compatible server (vLLM, SGLang, TGI, …) started from `command`, and
//! inferbench's synthetic engine: API mode only ([`server`]).

pub mod server;
