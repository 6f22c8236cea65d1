//! RESP, the Redis wire protocol: where bytes become commands and replies become bytes.
//!
//! * [`parser`] turns the bytes a client sent into argument vectors. It is pure: it
//!   reads a buffer, never a socket, and "not enough bytes yet" is a value
//!   ([`parser::Parsed::Incomplete`]), not an error.
//! * [`reply`] is the typed reply every command produces and its encoder for RESP2
//!   and RESP3 (after `HELLO 3`).
//!
//! Hot path: both run for every command. They allocate only the argument vector and
//! the reply itself, and never log.

pub mod parser;
pub mod reply;

pub use parser::{parse, parse_with, ParseState, Parsed, ProtocolError};
pub use reply::Reply;
