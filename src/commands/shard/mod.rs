//! Storage-side handlers: each runs on the shard that owns its key, on a storage
//! thread, reads through a [`crate::storage::Tx`] and puts its writes into the shard's
//! group-commit batch. They never see a socket or the network side's state.

pub mod algebra;
pub mod bitmaps;
pub mod blocking;
pub mod dump;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod sets;
pub mod sort;
pub mod strings;
pub mod zsets;
