//! Why a command failed, as the error reply Redis gives (the bottom layer: it imports
//! nothing from the rest of shardis).
//!
//! Every variant maps to exactly one reply text; [`CommandError::code`] is the word
//! before the first space (`ERR`, `WRONGTYPE`, ...), which INFO errorstats counts.

use std::borrow::Cow;

/// Why a command failed; each variant is exactly the error reply Redis gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The key holds another type.
    WrongType,
    /// An argument or value is not a 64-bit integer.
    NotInteger,
    /// An argument or value is not a float.
    NotFloat,
    /// Options that do not parse.
    Syntax,
    /// INCR-family overflow.
    Overflow,
    /// RENAME of a missing key.
    NoSuchKey,
    /// A bad expire time in the named command.
    InvalidExpire(&'static str),
    /// RocksDB failed (a read, or the commit of the command's writes).
    Storage(String),
    /// The shard's task is gone (the server is shutting down or the shard restarts).
    Unavailable,
    /// The shard did not answer within storage-timeout-ms.
    Timeout,
    /// Any other error, full text including the code.
    Other(Cow<'static, str>),
}

impl CommandError {
    /// The error text as sent to the client (after the `-`).
    pub fn text(&self) -> Cow<'static, str> {
        match self {
            CommandError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CommandError::NotInteger => "ERR value is not an integer or out of range".into(),
            CommandError::NotFloat => "ERR value is not a valid float".into(),
            CommandError::Syntax => "ERR syntax error".into(),
            CommandError::Overflow => "ERR increment or decrement would overflow".into(),
            CommandError::NoSuchKey => "ERR no such key".into(),
            CommandError::InvalidExpire(cmd) => {
                format!("ERR invalid expire time in '{cmd}' command").into()
            }
            CommandError::Storage(e) => format!("ERR storage error: {e}").into(),
            CommandError::Unavailable => "ERR storage unavailable".into(),
            CommandError::Timeout => {
                "ERR storage timeout: the shard did not answer in time (storage-timeout-ms)".into()
            }
            CommandError::Other(text) => text.clone(),
        }
    }

    /// The error code, the first word of the text, as INFO errorstats counts it. A
    /// static string, so that counting allocates nothing; a code shardis never sends
    /// counts as `ERR`.
    pub fn code(&self) -> &'static str {
        const CODES: [&str; 9] = [
            "ERR",
            "WRONGTYPE",
            "NOAUTH",
            "WRONGPASS",
            "NOPROTO",
            "EXECABORT",
            "BUSY",
            "LOADING",
            "NOSCRIPT",
        ];
        match self {
            CommandError::WrongType => "WRONGTYPE",
            CommandError::Other(text) => {
                let code = text.split(' ').next().unwrap_or("ERR");
                CODES.iter().find(|c| **c == code).copied().unwrap_or("ERR")
            }
            _ => "ERR",
        }
    }

    /// An error with a full text.
    pub fn other(text: impl Into<Cow<'static, str>>) -> Self {
        CommandError::Other(text.into())
    }
}

/// A failed RocksDB operation; becomes an `-ERR` reply, never a dropped connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError(pub String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage error: {}", self.0)
    }
}

impl std::error::Error for StorageError {}

impl From<StorageError> for CommandError {
    fn from(e: StorageError) -> Self {
        CommandError::Storage(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_the_first_word_of_the_text() {
        for e in [
            CommandError::WrongType,
            CommandError::Syntax,
            CommandError::Timeout,
            CommandError::Storage("disk".into()),
            CommandError::other("NOSCRIPT No matching script"),
        ] {
            assert_eq!(e.text().split(' ').next().unwrap(), e.code());
        }
    }

    #[test]
    fn a_commit_failure_reads_like_a_storage_error() {
        let e: CommandError = StorageError("IO error".into()).into();
        assert_eq!(e.text(), "ERR storage error: IO error");
    }
}
