//! One streaming request → [`super::Trace`]. (Filled by the client work.)
