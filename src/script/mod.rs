//! Lua scripts and functions (EVAL, FCALL): the interpreter, its sandbox, Redis's
//! conversions and libraries. Runs on storage threads and script workers, never on a
//! network thread.
//!
//! ## Where a script runs
//! The connection (`network::scripting`) decides which shards a script holds from
//! the keys it declares, and runs it one of two ways:
//!
//! * **One shard**: the whole script is one isolated request in that shard's part of
//!   the connection's batch (`Shard::run_isolated`), on the storage thread, against
//!   the shard's [`Tx`] ([`OnShard`]): pipelined and group-committed like any other
//!   command, and `redis.call` is a plain function call. (A script runs this way once
//!   it is known to touch only its declared keys' shards; before that, on a worker.)
//! * **Several shards, or none declared**: a script worker thread holds the shards
//!   (`Backend::hold`, ascending) and each `redis.call` is a typed step on its
//!   shard; the hold commits once.
//!
//! Either way the script is atomic: nobody sees its intermediate state and its
//! writes are one RocksDB write batch. A `redis.call` on a key whose shard the
//! script does not hold stops it ([`Stop::Unheld`]); nothing of that run is written,
//! the script is remembered as one that touches undeclared keys, and it runs again
//! holding every shard (scripts are deterministic functions of the data they read,
//! and the first run left no trace).
//!
//! ## The interpreter
//! One Lua 5.1 state per thread (mlua, Lua compiled from source), built on first use
//! and reused ([`run`]): compiled
//! scripts are kept by SHA1 and loaded libraries by name until `SCRIPT FLUSH` or a
//! library change (the epochs in [`crate::state::scripts`]). The sandbox and the
//! `redis` table are Redis 7.0's (`interp`); `cjson`, `cmsgpack`, `bit` and
//! `struct` are written here (`libs`).
//!
//! ## Long scripts
//! A count hook runs every 100 000 Lua instructions. Past 20 ms on a storage thread
//! it hands the thread's other shards to another thread (`block_in_place`), so a
//! long script blocks only the shards it holds. Past `busy-reply-threshold` it
//! registers as busy: commands for its shards get `-BUSY`, and SCRIPT KILL /
//! FUNCTION KILL can stop it if it has not written. SHUTDOWN stops it too.

mod convert;
mod interp;
mod libs;

use std::sync::Arc;

use bytes::Bytes;

use crate::commands::table::Kind;
use crate::commands::{keys, Command, CommandError, Tx};
use crate::protocol::Reply;
use crate::state::Scripts;
use crate::storage::encoding::{key_hash, shard_of};

pub use interp::{compile_check, load_library, parse_shebang, sha1_hex, Shebang};

/// What to run.
#[derive(Debug, Clone)]
pub enum Target {
    /// An EVAL script: its SHA1 and body.
    Eval {
        /// Lowercase hex SHA1 of the body.
        sha: Arc<str>,
        /// The script's source.
        body: Arc<str>,
    },
    /// A function of a loaded library.
    Function {
        /// The function's name.
        name: Arc<str>,
    },
}

/// One script call.
#[derive(Clone)]
pub struct Call {
    /// The script or function.
    pub target: Target,
    /// `KEYS`: the keys it declares.
    pub keys: Vec<Bytes>,
    /// `ARGV`: its other arguments.
    pub argv: Vec<Bytes>,
    /// The database it starts in.
    pub db: u8,
    /// EVAL_RO / FCALL_RO, or the `no-writes` flag: write commands fail.
    pub read_only: bool,
    /// The shards the script holds (for the busy registry).
    pub shards: Vec<usize>,
    /// The server's script state (busy registry, libraries).
    pub scripts: Arc<Scripts>,
    /// `busy-reply-threshold`, ms.
    pub busy_ms: u64,
    /// Where PUBLISH from the script goes, and the subscribers' output limits.
    pub pubsub: (
        Arc<crate::state::pubsub::PubSub>,
        crate::state::pubsub::Limits,
    ),
}

impl Call {
    /// The name the script goes by in errors and the undeclared-key registry.
    pub fn name(&self) -> &str {
        match &self.target {
            Target::Eval { sha, .. } => sha,
            Target::Function { name } => name,
        }
    }
}

/// How a script call ended.
#[derive(Debug)]
pub enum Outcome {
    /// It ran to the end (its reply may be an error): its writes commit.
    Done(Reply),
    /// It needed a shard it does not hold: nothing of it may be written.
    Undeclared,
    /// It was stopped (SCRIPT KILL, SHUTDOWN) or a shard failed: nothing of it may be
    /// written; the error is the reply.
    Aborted(CommandError),
}

/// Why a `redis.call` could not run.
#[derive(Debug)]
pub enum Stop {
    /// A key lives on a shard the script does not hold.
    Unheld,
    /// A shard failed (timeout, restart, storage error): the script stops.
    Fatal(CommandError),
}

/// Runs the commands a script calls, on the shards it holds.
pub trait Caller {
    /// Runs `cmd` (checked: it exists, its arity is right, scripts may call it).
    fn call(&mut self, db: u8, cmd: &'static Command, args: Vec<Bytes>) -> Result<Reply, Stop>;
}

/// Runs `call` on this thread's interpreter.
pub fn run(call: &Call, caller: &mut dyn Caller) -> Outcome {
    interp::with(|i| i.run(call, caller))
}

/// The shards a command's keys live on, or `None` if it needs every shard.
pub fn shards_of(cmd: &Command, args: &[Bytes], shards: usize) -> Option<Vec<usize>> {
    let mut out: Vec<usize> = match cmd.kind {
        Kind::Local(_) | Kind::Barrier(_) => Vec::new(),
        Kind::All(..) => return None,
        _ if cmd.reads_any_key(args) => return None,
        Kind::Scan(_) => vec![shard_of(keys::parse_cursor(&args[1]).unwrap_or(0), shards)],
        _ => cmd
            .keys(args)
            .into_iter()
            .map(|k| shard_of(key_hash(k), shards))
            .collect(),
    };
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// The [`Caller`] of a script that runs whole on one shard's thread.
pub struct OnShard<'a, 'b> {
    /// The shard's transaction.
    pub tx: &'a mut Tx<'b>,
    /// The shard it runs on.
    pub shard: usize,
    /// How many shards the server has.
    pub shards: usize,
}

impl Caller for OnShard<'_, '_> {
    fn call(&mut self, db: u8, cmd: &'static Command, args: Vec<Bytes>) -> Result<Reply, Stop> {
        match shards_of(cmd, &args, self.shards) {
            Some(s) if s.iter().all(|&s| s == self.shard) => {}
            None if self.shards == 1 => {}
            _ => return Err(Stop::Unheld),
        }
        let exec = match cmd.kind {
            Kind::Single(e) | Kind::Scan(e) | Kind::Multi(e, _) | Kind::All(e, _) => e,
            Kind::Coordinated(_, Some(e)) => e,
            // A command with steps of its own (or a network-side one): the held way.
            _ => return Err(Stop::Unheld),
        };
        self.tx.db = db;
        Ok(exec(self.tx, &args).unwrap_or_else(Reply::from))
    }
}
