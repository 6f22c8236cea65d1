//! shardis: a Redis-compatible key-value server that keeps its data in RocksDB,
//! built as a sharded thread-per-core server with two runtimes that never block
//! each other.
//!
//! # Layout: how a request travels
//!
//! ```text
//! client ─TCP─▶ network thread (current-thread runtime, pinned, own SO_REUSEPORT listener)
//!                 │  protocol::parser     bytes → argument vectors
//!                 │  commands::table      name → arity, key positions, where it runs
//!                 │  commands::connection PING, HELLO, CLIENT ... answered right here
//!                 ▼
//!               storage::outbox       one message per shard per event-loop turn
//!               shard channel (flume, bounded, ordered)
//!                 ▼
//!               storage runtime (multi-thread, pinned to the storage cores)
//!                 │  storage::shard       drain queued requests, execute in order,
//!                 │                       commit the group's writes in one WriteBatch
//!                 │  storage::engine      the only module that imports rocksdb
//!                 │  (appendfsync always: the sync stage syncs the WAL once for the
//!                 │   groups of every shard, then releases their replies)
//!                 ▼
//!               replies back over the connection's channel, written in request order
//! ```
//!
//! * [`protocol`]: RESP parsing and reply encoding (pure).
//! * [`network`]: listeners, connections, the per-connection pipeline.
//! * [`commands`]: the command table and every command's handler.
//! * [`storage`]: shards, group commit, key/value encodings, the RocksDB engine.
//! * [`runtime`]: thread placement and runtime construction.
//! * [`config`]: the typed configuration and the live (CONFIG SET) part.
//! * [`metrics`]: per-thread command statistics, merged when read, and the typed
//!   snapshot of every figure that INFO prints and /metrics encodes for Prometheus.
//! * [`server`]: start-up, shutdown and server-wide state.
//! * [`admin`]: the HTTP server on hyper (`--admin-port`, its own thread): health
//!   checks and Prometheus metrics.
//!
//! Two crossings per keyed command: connection → owning shard → connection. Handlers
//! never touch the socket; the network side never touches RocksDB.

#![warn(missing_docs)]

pub mod admin;
pub mod commands;
pub mod config;
pub mod glob;
pub mod metrics;
pub mod network;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod storage;
