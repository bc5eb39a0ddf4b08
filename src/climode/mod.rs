//! CLI mode (to be written)
