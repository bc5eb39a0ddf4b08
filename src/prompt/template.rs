//! Chat-template rendering with minijinja. (Filled by the prompt work.)
