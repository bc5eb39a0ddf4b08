//! The built-in prompt suite and loading of custom suites. (Filled by the prompt work.)
