//! shardis: a Redis-compatible key-value server that keeps its data in RocksDB,
//! built as a sharded thread-per-core server with two runtimes that never block
//! each other.
//!
//! # Layout: how a request travels
//!
//! ```text
//! client ─TCP─▶ network thread (current-thread runtime, pinned, own SO_REUSEPORT listener)
//!                 │  protocol::parser     bytes → argument vectors
//!                 │  commands::table      name → arity, flags, key positions, where it runs
//!                 │  commands::local      PING, HELLO, CLIENT, CONFIG ... answered here
//!                 │  network::coordinator cross-shard commands: hold the shards, run
//!                 │                       typed steps on them (storage::Held), one commit
//!                 │  network::transaction MULTI/EXEC/WATCH: one shard in one trip,
//!                 │                       several shards held (or via the linked
//!                 │                       sequencer), one commit
//!                 │  network::scripting   EVAL/FCALL: one shard's script in that
//!                 │                       shard's queue (a storage thread runs the
//!                 │                       Lua); several shards' on a script worker
//!                 │                       thread that holds them; one commit
//!                 │  network::blocking    BLPOP ...: try and register in the shard's
//!                 │                       queue, then wait in the connection's task;
//!                 │                       the shard serves waiters after the commit
//!                 │                       that fed their key (storage::blocked)
//!                 │  state::pubsub        PUBLISH: into subscribers' mailboxes, never
//!                 │                       through storage
//!                 │  (storage::linked     MSET/MGET/DEL ... across shards: rounds under
//!                 │                       one hold of their shards, one commit)
//!                 ▼
//!               storage::outbox       one message per shard per event-loop turn
//!               shard channel (flume, bounded, ordered)
//!                 ▼
//!               storage runtime (multi-thread, pinned to the storage cores)
//!                 │  storage::shard       drain queued requests, execute in order
//!                 │                       (commands::shard handlers), commit the
//!                 │                       group's writes in one WriteBatch
//!                 │  storage::engine      the only module that imports rocksdb
//!                 │  (appendfsync always: the sync stage syncs the WAL once for the
//!                 │   groups of every shard, then releases their replies)
//!                 ▼
//!               replies back over the connection's channel, written in request order
//! ```
//!
//! ## Layers
//!
//! Each module imports only from the modules listed before it (`tests/layering.rs`
//! reads this list and fails on an import from a module listed after):
//!
//! Layers (bottom to top):
//! * [`clock`], [`error`], [`rng`], [`glob`]: pure helpers; every error reply's text.
//! * [`protocol`]: RESP parsing and reply encoding (pure).
//! * [`rdb`]: Redis's RDB string and payload encodings, for DUMP-style payloads (pure).
//! * [`hll`], [`geo`]: HyperLogLog registers and geohash arithmetic, in Redis's exact
//!   representation and rounding (pure).
//! * [`spec`]: Redis's own metadata of each command (generated, pure).
//! * [`config`]: the typed configuration and the live (CONFIG SET) part.
//! * [`runtime`]: thread placement and runtime construction.
//! * [`metrics`]: per-thread command statistics, merged when read, the slow log, and
//!   the typed snapshot of every figure that INFO prints and /metrics encodes.
//! * [`storage`]: shards, group commit, holds, key/value encodings, the RocksDB
//!   engine. Runs on storage threads.
//! * [`state`]: server-wide and per-connection state that network-side commands use.
//! * [`commands`]: the command table and every command's handler: `commands::shard`
//!   runs on storage threads, `commands::local` on network threads.
//! * [`script`]: Lua scripts and functions (EVAL, FCALL): the interpreter, its
//!   sandbox, conversions and libraries. Runs on storage threads and script workers.
//! * [`network`]: listeners, connections, the per-connection pipeline, coordinators.
//!   Runs on network threads.
//! * [`admin`]: the HTTP server on hyper (`--admin-port`, its own thread): health
//!   checks and Prometheus metrics.
//! * [`server`]: start-up and shutdown.
//!
//! Two crossings per keyed command: connection → owning shard → connection. Handlers
//! never touch the socket; the network side never touches RocksDB.

#![warn(missing_docs)]

pub mod admin;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod geo;
pub mod glob;
pub mod hll;
pub mod metrics;
pub mod network;
pub mod protocol;
pub mod rdb;
pub mod rng;
pub mod runtime;
pub mod script;
pub mod server;
pub mod spec;
pub mod state;
pub mod storage;
