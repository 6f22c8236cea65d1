//! What every thread knows of scripts: the EVAL script cache, the function
//! libraries, and the scripts that have run past `busy-reply-threshold`.
//!
//! Plain data behind locks and atomics; the Lua interpreters (`crate::script`, one
//! per storage thread and per script worker) compile from here and register here.
//!
//! * **Cache.** `SCRIPT LOAD` and `EVAL` put a body under its SHA1; `EVALSHA` finds
//!   it. `SCRIPT FLUSH` empties it and bumps [`Scripts::cache_epoch`], so every
//!   interpreter drops what it compiled. The cache is not persisted (as in Redis).
//! * **Libraries.** `FUNCTION LOAD` adds a library (the storage layer keeps its code
//!   in RocksDB, see `network::scripting`); any change bumps
//!   [`Scripts::library_epoch`], and interpreters reload the libraries they use.
//! * **Footprint.** What a script (by SHA1 or function name) was seen to touch:
//!   only its declared keys' shards (it may then run pipelined on one shard), or
//!   keys on other shards too (from then on it holds every shard at once). A script
//!   never seen runs on a worker first, so that its first run can be redone without
//!   reordering the commands pipelined after it.
//! * **Busy.** A script that has run past the threshold registers itself
//!   ([`Scripts::busy`]): from then on commands that need one of its shards are
//!   answered `-BUSY`, and `SCRIPT KILL` / `FUNCTION KILL` find it here. A quick
//!   script never takes a lock here.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use ahash::AHashMap;

/// The flags a script's shebang or a function's registration may carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// `no-writes`: the script may only read.
    pub no_writes: bool,
    /// `allow-oom`.
    pub allow_oom: bool,
    /// `allow-stale`.
    pub allow_stale: bool,
    /// `no-cluster`.
    pub no_cluster: bool,
    /// `allow-cross-slot-keys`.
    pub allow_cross_slot_keys: bool,
}

impl ScriptFlags {
    /// Every flag's name, in Redis's order.
    pub const NAMES: [&'static str; 5] = [
        "no-writes",
        "allow-oom",
        "allow-stale",
        "no-cluster",
        "allow-cross-slot-keys",
    ];

    /// Sets the flag called `name`; false if there is no such flag.
    pub fn set(&mut self, name: &str) -> bool {
        let slot = match name {
            "no-writes" => &mut self.no_writes,
            "allow-oom" => &mut self.allow_oom,
            "allow-stale" => &mut self.allow_stale,
            "no-cluster" => &mut self.no_cluster,
            "allow-cross-slot-keys" => &mut self.allow_cross_slot_keys,
            _ => return false,
        };
        *slot = true;
        true
    }

    /// The names of the flags that are set, in Redis's order.
    pub fn names(&self) -> Vec<&'static str> {
        let on = [
            self.no_writes,
            self.allow_oom,
            self.allow_stale,
            self.no_cluster,
            self.allow_cross_slot_keys,
        ];
        Self::NAMES
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// One function of a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Its name, unique across libraries.
    pub name: String,
    /// `description=` of its registration.
    pub description: Option<String>,
    /// `flags=` of its registration.
    pub flags: ScriptFlags,
}

/// A function library: its code and the functions its code registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// `name=` of its metadata line.
    pub name: String,
    /// Its source, metadata line included.
    pub code: Arc<str>,
    /// What its code registered.
    pub functions: Vec<FunctionInfo>,
}

/// Every library, and every function by name.
#[derive(Debug, Default)]
pub struct Libraries {
    /// Libraries by name.
    pub by_name: BTreeMap<String, Arc<Library>>,
    /// Each function's library, by function name.
    pub functions: AHashMap<String, Arc<Library>>,
}

impl Libraries {
    /// Adds `lib` (replacing a library of the same name); the caller checked names.
    pub fn insert(&mut self, lib: Library) {
        self.remove(&lib.name);
        let lib = Arc::new(lib);
        for f in &lib.functions {
            self.functions.insert(f.name.clone(), lib.clone());
        }
        self.by_name.insert(lib.name.clone(), lib);
    }

    /// Removes the library called `name` and its functions.
    pub fn remove(&mut self, name: &str) -> Option<Arc<Library>> {
        let lib = self.by_name.remove(name)?;
        for f in &lib.functions {
            self.functions.remove(&f.name);
        }
        Some(lib)
    }

    /// The function called `name`, with its library.
    pub fn function(&self, name: &str) -> Option<(Arc<Library>, FunctionInfo)> {
        let lib = self.functions.get(name)?;
        let f = lib.functions.iter().find(|f| f.name == name)?.clone();
        Some((lib.clone(), f))
    }
}

/// What a script was seen to touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Footprint {
    /// Only keys on its declared keys' shards.
    Declared,
    /// Keys on other shards too.
    Undeclared,
}

/// A script that ran past the busy threshold.
#[derive(Debug)]
pub struct Busy {
    /// The shards it holds.
    pub shards: Vec<usize>,
    /// A function (FCALL), not an EVAL script.
    pub function: bool,
    /// Its SHA1 or function name.
    pub name: String,
    /// When it began.
    pub started: Instant,
    /// Set by SCRIPT KILL / FUNCTION KILL; the script stops at its next check.
    pub kill: AtomicBool,
    /// Whether it has run a write command (then it cannot be killed).
    pub wrote: AtomicBool,
}

/// A script in the EVAL cache.
#[derive(Debug, Clone)]
pub struct Cached {
    /// Its SHA1, lowercase hex.
    pub sha: Arc<str>,
    /// Its source.
    pub body: Arc<str>,
    /// Its shebang's flags.
    pub flags: ScriptFlags,
}

/// The shared script state of one server.
pub struct Scripts {
    cache: RwLock<AHashMap<Arc<str>, Cached>>,
    cache_epoch: AtomicU64,
    libraries: RwLock<Libraries>,
    library_epoch: AtomicU64,
    footprints: RwLock<AHashMap<Arc<str>, Footprint>>,
    busy: Mutex<Vec<Arc<Busy>>>,
    busy_shards: Vec<AtomicU32>,
    any_busy: AtomicU32,
    shutting_down: AtomicBool,
}

impl Scripts {
    /// Empty state for a server of `shards` shards.
    pub fn new(shards: usize) -> Scripts {
        Scripts {
            cache: RwLock::default(),
            cache_epoch: AtomicU64::new(0),
            libraries: RwLock::default(),
            library_epoch: AtomicU64::new(0),
            footprints: RwLock::default(),
            busy: Mutex::default(),
            busy_shards: (0..shards).map(|_| AtomicU32::new(0)).collect(),
            any_busy: AtomicU32::new(0),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// The script cached under `sha` (lowercase hex).
    pub fn script(&self, sha: &str) -> Option<Cached> {
        read(&self.cache).get(sha).cloned()
    }

    /// Caches a script under its SHA1.
    pub fn cache(&self, script: Cached) {
        write(&self.cache).insert(script.sha.clone(), script);
    }

    /// SCRIPT FLUSH.
    pub fn flush_cache(&self) {
        write(&self.cache).clear();
        write(&self.footprints).clear();
        self.cache_epoch.fetch_add(1, Ordering::Release);
    }

    /// Changes whenever the cache is flushed.
    pub fn cache_epoch(&self) -> u64 {
        self.cache_epoch.load(Ordering::Acquire)
    }

    /// Reads the libraries.
    pub fn libraries(&self) -> std::sync::RwLockReadGuard<'_, Libraries> {
        read(&self.libraries)
    }

    /// Changes the libraries; interpreters notice through [`Scripts::library_epoch`].
    pub fn change_libraries<T>(&self, f: impl FnOnce(&mut Libraries) -> T) -> T {
        let out = f(&mut write(&self.libraries));
        // A replaced function may touch other keys: learn its footprint again.
        write(&self.footprints).clear();
        self.library_epoch.fetch_add(1, Ordering::Release);
        out
    }

    /// Changes whenever a library is added, replaced or removed.
    pub fn library_epoch(&self) -> u64 {
        self.library_epoch.load(Ordering::Acquire)
    }

    /// What the script called `name` was seen to touch, if it ran before.
    pub fn footprint(&self, name: &str) -> Option<Footprint> {
        read(&self.footprints).get(name).copied()
    }

    /// Remembers what the script called `name` touched; `Undeclared` is final.
    pub fn set_footprint(&self, name: &str, footprint: Footprint) {
        let mut map = write(&self.footprints);
        let slot = map.entry(name.into()).or_insert(footprint);
        if footprint == Footprint::Undeclared {
            *slot = footprint;
        }
    }

    /// Registers a script that has run past the threshold; its shards are busy until
    /// [`Scripts::done`].
    pub fn register_busy(&self, busy: Arc<Busy>) {
        for &s in &busy.shards {
            if let Some(n) = self.busy_shards.get(s) {
                n.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.any_busy.fetch_add(1, Ordering::AcqRel);
        lock(&self.busy).push(busy);
    }

    /// Ends a busy script's registration.
    pub fn done(&self, busy: &Arc<Busy>) {
        let mut list = lock(&self.busy);
        let Some(i) = list.iter().position(|b| Arc::ptr_eq(b, busy)) else {
            return;
        };
        list.swap_remove(i);
        for &s in &busy.shards {
            if let Some(n) = self.busy_shards.get(s) {
                n.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.any_busy.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether any script is busy (one relaxed load: the hot path's check).
    pub fn any_busy(&self) -> bool {
        self.any_busy.load(Ordering::Relaxed) != 0
    }

    /// The busy script holding `shard`, if any.
    pub fn busy_on(&self, shard: usize) -> Option<Arc<Busy>> {
        if self.busy_shards.get(shard)?.load(Ordering::Acquire) == 0 {
            return None;
        }
        lock(&self.busy)
            .iter()
            .find(|b| b.shards.contains(&shard))
            .cloned()
    }

    /// The busy scripts, oldest first.
    pub fn busy_scripts(&self) -> Vec<Arc<Busy>> {
        let mut list = lock(&self.busy).clone();
        list.sort_by_key(|b| b.started);
        list
    }

    /// SHUTDOWN: running scripts stop at their next check.
    pub fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Whether the server is shutting down.
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_index_their_functions() {
        let mut libs = Libraries::default();
        let f = |n: &str| FunctionInfo {
            name: n.into(),
            description: None,
            flags: ScriptFlags::default(),
        };
        libs.insert(Library {
            name: "a".into(),
            code: "x".into(),
            functions: vec![f("f1"), f("f2")],
        });
        assert_eq!(libs.function("f2").unwrap().0.name, "a");
        libs.insert(Library {
            name: "a".into(),
            code: "y".into(),
            functions: vec![f("f3")],
        });
        assert!(libs.function("f1").is_none());
        assert!(libs.remove("a").is_some());
        assert!(libs.functions.is_empty() && libs.by_name.is_empty());
    }

    #[test]
    fn busy_shards_are_counted() {
        let scripts = Scripts::new(4);
        let busy = Arc::new(Busy {
            shards: vec![1, 3],
            function: false,
            name: "x".into(),
            started: Instant::now(),
            kill: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
        });
        assert!(!scripts.any_busy());
        scripts.register_busy(busy.clone());
        assert!(scripts.any_busy());
        assert!(scripts.busy_on(1).is_some() && scripts.busy_on(0).is_none());
        scripts.done(&busy);
        assert!(!scripts.any_busy() && scripts.busy_on(3).is_none());
    }

    #[test]
    fn flags_by_name() {
        let mut f = ScriptFlags::default();
        assert!(f.set("no-writes") && f.set("allow-stale") && !f.set("nope"));
        assert_eq!(f.names(), vec!["no-writes", "allow-stale"]);
    }
}
