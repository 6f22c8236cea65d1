//! Network-side handlers: each answers on the network thread from connection and
//! server state ([`crate::state`]), and never touches storage.

pub mod connection;
pub mod pubsub;
pub mod server;
pub mod tracking;
