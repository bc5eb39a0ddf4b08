//! Pure incremental NDJSON splitter for Ollama streams. (Filled by the client work.)
