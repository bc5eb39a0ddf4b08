//! Pure incremental Server-Sent-Events parser. (Filled by the client work.)
