//! Request bodies per wire protocol and decoding of event payloads. (Filled by the client work.)
