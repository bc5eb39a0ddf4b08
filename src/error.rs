//! Errors a caller branches on that belong to no one module. Which errors mean which exit
//! code is decided in [`crate::exit`].

/// Bad input detected outside the config file: the message names what is wrong and how
/// to fix it. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

impl UserError {
    pub fn new(msg: impl Into<String>) -> Self {
        UserError(msg.into())
    }
}
