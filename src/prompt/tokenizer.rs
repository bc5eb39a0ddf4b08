//! Token counting with a `tokenizer.json`. (Filled by the prompt work.)
