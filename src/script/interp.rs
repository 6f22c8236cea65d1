//! One Lua state per thread: Redis 7.0's sandbox and `redis` table, the compiled
//! scripts and loaded functions, and the run of one call.
//!
//! * **Sandbox.** The base, table, string, math and coroutine libraries, plus
//!   `cjson`, `cmsgpack`, `bit`, `struct` and `redis`; no `os`, `io`, `debug`,
//!   `require`, `loadfile`, `dofile`, `print`. The globals table errors on reading a
//!   missing name and on any new name (`Script attempted to access nonexistent
//!   global variable`, `Attempt to modify a readonly table`); `loadstring` and
//!   `load` refuse bytecode.
//! * **Errors.** Each call runs under `xpcall` with a message handler that turns any
//!   error into Redis's error table, `{err=..., source=..., line=...}`: the reply
//!   is then `-<err> script: <name>, on <source>:<line>.`. `redis.call` raises the
//!   command's error table; `redis.pcall` returns it.
//! * **Per call.** `KEYS` and `ARGV` are set raw in the globals (EVAL) or passed as
//!   the function's two arguments (FCALL). `redis.call` is a closure scoped to the
//!   call, which borrows the call's [`Caller`]; what the hook and the commands share
//!   (start time, busy registration, RESP version, database) is the Lua state's app
//!   data for the duration of the call.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use bytes::Bytes;
use mlua::{
    ChunkMode, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, Variadic,
};

use super::convert::{error_text, from_lua, to_lua};
use super::{Call, Caller, Outcome, Stop, Target};
use crate::commands::table::Kind;
use crate::commands::{self, CommandError};
use crate::error::{script_text, text};
use crate::protocol::reply::format_g;
use crate::protocol::Reply;
use crate::state::scripts::{Busy, FunctionInfo, ScriptFlags};
use crate::state::Scripts;

/// Lua instructions between two checks of the clock, the kill flag and shutdown.
const HOOK_EVERY: u32 = 100_000;
/// How long a script runs on a storage thread before the thread's other work moves.
const HAND_OFF_AFTER: Duration = Duration::from_millis(20);
/// How long the hand-off waits for the thread that takes over.
const HAND_OFF_PAUSE: Duration = Duration::from_millis(5);
/// Most memory one Lua state may hold (a script past it fails with Lua's "not
/// enough memory"), so that a script cannot take the server's memory.
const LUA_MEMORY_LIMIT: usize = 512 << 20;
/// The version scripts see (`redis.REDIS_VERSION`), that of the oracle.
const REDIS_VERSION: &str = "7.0.15";
const REDIS_VERSION_NUM: i64 = 0x07000f;

/// Where the running call's raw command function is, in the Lua registry.
const RAW_CALL: &str = "shardis.call";

/// Chunk name of the interpreter's own Lua code; the error handler skips its frames.
const OWN_CHUNK: &str = "=shardis";

/// The interpreter's own Lua: wrappers that Redis's scripts expect around the raw
/// command function, and the sandbox's last touches.
const PRELUDE: &str = r#"
local S, redis = ...
local error, type = error, type
redis.pcall = function(...)
  return (S.call(...))
end
local loadstring_, load_ = loadstring, load
loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then
    return nil, 'loading binary chunks is not allowed'
  end
  return loadstring_(s, name)
end
load = function(f, name)
  local parts = {}
  while true do
    local piece = f()
    if piece == nil or piece == '' then break end
    parts[#parts + 1] = piece
  end
  return loadstring(table.concat(parts), name)
end
local invoke = function(f, handler)
  return xpcall(f, handler)
end
local invoke_with = function(f, handler, keys, args)
  return xpcall(function() return f(keys, args) end, handler)
end
return invoke, invoke_with
"#;

/// Makes the libraries read-only, as Redis's patched Lua does, so that one script
/// cannot change what later scripts on the same Lua state see: each library global
/// becomes an empty proxy that reads through to the library and refuses writes, and
/// `setmetatable` and `rawset` refuse protected tables. (Unlike Redis's, `pairs` over
/// a library sees the empty proxy.)
const READ_ONLY_LIBRARIES: &str = r#"
local error, setmetatable_, rawset_, rawget = error, setmetatable, rawset, rawget
local protected = setmetatable_({}, {__mode = 'k'})
local refuse = function() error('Attempt to modify a readonly table', 2) end
local libraries = {
  'string', 'table', 'math', 'coroutine', 'bit', 'cjson', 'cmsgpack', 'struct', 'redis',
}
for _, name in ipairs(libraries) do
  local proxy = setmetatable_({}, {
    __index = rawget(_G, name), __newindex = refuse, __metatable = false,
  })
  protected[proxy] = true
  rawset_(_G, name, proxy)
end
protected[_G] = true
getmetatable('').__metatable = false
setmetatable = function(t, m)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return setmetatable_(t, m)
end
rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 2) end
  return rawset_(t, k, v)
end
"#;

/// Globals Redis 7.0 does not give scripts.
const REMOVED_GLOBALS: &[&str] = &[
    "print", "dofile", "loadfile", "module", "require", "newproxy", "setfenv", "getfenv", "os",
    "io", "debug", "package",
];

thread_local! {
    static INTERP: RefCell<Option<Interp>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's interpreter, building it on first use.
pub(super) fn with<T>(f: impl FnOnce(&mut Interp) -> T) -> T {
    INTERP.with(|cell| {
        let mut slot = cell.borrow_mut();
        let interp = match slot.as_mut() {
            Some(i) => i,
            None => slot.insert(Interp::new().expect("the Lua sandbox builds")),
        };
        f(interp)
    })
}

/// What the commands and the hook of one running call share (the Lua state's app
/// data while the call lasts).
struct RunState {
    started: Instant,
    busy_ms: u64,
    handed_off: bool,
    busy: Option<Arc<Busy>>,
    scripts: Arc<Scripts>,
    shards: Vec<usize>,
    name: Arc<str>,
    function: bool,
    /// The call's [`Caller`], which `redis.call` runs commands through.
    caller: CallerPtr,
    stop: Option<Halt>,
    /// Whether it has run a write command.
    wrote: bool,
    /// Source and line where the hook stopped the script.
    stopped_at: Option<(String, i32)>,
    resp3: bool,
    db: u8,
    read_only: bool,
    pubsub: (
        Arc<crate::state::pubsub::PubSub>,
        crate::state::pubsub::Limits,
    ),
}

/// The running call's [`Caller`], lent to `redis.call` for the call's duration.
///
/// A raw pointer because the Lua state's app data must be `'static`: [`Interp::run`]
/// sets it from its `&mut dyn Caller` argument, removes it before it returns, and
/// `redis.call` (which runs only inside that call, on the same thread) is the only
/// one to dereference it. This spares a scoped Lua function per call.
#[derive(Clone, Copy)]
struct CallerPtr(*mut (dyn Caller + 'static));

/// Why a call stopped before its end.
enum Halt {
    Unheld,
    Fatal(CommandError),
    Killed,
    ShuttingDown,
}

impl RunState {
    /// The hook's check: hands the thread's other work off, registers as busy, and
    /// stops the script if it was killed or the server shuts down.
    fn check(&mut self) -> mlua::Result<()> {
        let elapsed = self.started.elapsed();
        if !self.handed_off && elapsed >= HAND_OFF_AFTER {
            self.handed_off = true;
            hand_off();
        }
        if self.busy.is_none() && elapsed >= Duration::from_millis(self.busy_ms) {
            let busy = Arc::new(Busy {
                shards: self.shards.clone(),
                function: self.function,
                name: self.name.to_string(),
                started: self.started,
                kill: Default::default(),
                wrote: self.wrote.into(),
            });
            self.scripts.register_busy(busy.clone());
            self.busy = Some(busy);
        }
        if self.stop.is_none() {
            if self
                .busy
                .as_ref()
                .is_some_and(|b| b.kill.load(Ordering::Acquire))
            {
                self.stop = Some(Halt::Killed);
            } else if self.scripts.shutting_down() {
                self.stop = Some(Halt::ShuttingDown);
            }
        }
        match self.stop {
            Some(_) => Err(halted()),
            None => Ok(()),
        }
    }
}

/// The Lua error that unwinds a stopped script (its reason is in [`RunState::stop`]).
fn halted() -> mlua::Error {
    mlua::Error::runtime("the script was stopped")
}

/// A script on a storage thread: let the runtime move this thread's other tasks to
/// another thread, so only the shards this script holds wait for it.
///
/// `block_in_place` hands the worker's core (its queue of tasks) to a new thread,
/// and takes it back when its closure returns if that thread has not started yet:
/// the pause lets it start, and the script goes on without the core.
fn hand_off() {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        tokio::task::block_in_place(|| std::thread::sleep(HAND_OFF_PAUSE));
    }
}

/// One thread's Lua state.
pub(super) struct Interp {
    lua: Lua,
    handler: Function,
    invoke: Function,
    invoke_with: Function,
    redis: Table,
    scripts: AHashMap<Arc<str>, Function>,
    cache_epoch: u64,
    functions: AHashMap<String, Function>,
    library_epoch: u64,
}

impl Interp {
    fn new() -> mlua::Result<Interp> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
        let globals = lua.globals();
        for name in REMOVED_GLOBALS {
            globals.raw_set(*name, Value::Nil)?;
        }
        super::libs::install(&lua)?;
        let redis = redis_table(&lua)?;
        globals.raw_set("redis", redis.clone())?;
        let hidden = lua.create_table()?;
        let (invoke, invoke_with): (Function, Function) = lua
            .load(PRELUDE)
            .set_name(OWN_CHUNK)
            .set_mode(ChunkMode::Text)
            .call((hidden.clone(), redis.clone()))?;
        let raw = lua.create_function(command)?;
        hidden.raw_set("call", raw.clone())?;
        lua.set_named_registry_value(RAW_CALL, raw)?;
        // SAFETY: `redis_call` follows the Lua C API (see its comment).
        let call = unsafe { lua.create_c_function(redis_call) }?;
        redis.raw_set("call", call)?;
        let handler = error_handler(&lua)?;
        lua.load(READ_ONLY_LIBRARIES)
            .set_name(OWN_CHUNK)
            .set_mode(ChunkMode::Text)
            .exec()?;
        let redis: Table = globals.raw_get("redis")?;
        protect_globals(&lua)?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |lua, debug| match lua.app_data_mut::<RunState>() {
                Some(mut st) => {
                    let checked = st.check();
                    if checked.is_err() {
                        // Where it stopped, for the error reply.
                        let source = debug.source().source.map(|s| s.into_owned());
                        st.stopped_at = source.map(|s| (s, debug.curr_line()));
                    }
                    checked.map(|()| mlua::VmState::Continue)
                }
                None => Ok(mlua::VmState::Continue),
            },
        );
        Ok(Interp {
            lua,
            handler,
            invoke,
            invoke_with,
            redis,
            scripts: AHashMap::new(),
            cache_epoch: u64::MAX,
            functions: AHashMap::new(),
            library_epoch: u64::MAX,
        })
    }

    /// Drops what SCRIPT FLUSH or a library change made stale.
    fn sync(&mut self, scripts: &Scripts) {
        let epoch = scripts.cache_epoch();
        if epoch != self.cache_epoch {
            self.scripts.clear();
            self.cache_epoch = epoch;
        }
        let epoch = scripts.library_epoch();
        if epoch != self.library_epoch {
            self.functions.clear();
            self.library_epoch = epoch;
        }
    }

    /// The Lua function a call runs, compiling or loading it if this state lacks it.
    fn resolve(&mut self, call: &Call) -> Result<Function, Reply> {
        match &call.target {
            Target::Eval { sha, body } => {
                if let Some(f) = self.scripts.get(sha) {
                    return Ok(f.clone());
                }
                let f =
                    compile(&self.lua, &without_shebang(body), "@user_script").map_err(|msg| {
                        Reply::Error(CommandError::other(script_text::compile_script(&msg)))
                    })?;
                self.scripts.insert(sha.clone(), f.clone());
                Ok(f)
            }
            Target::Function { name } => {
                if let Some(f) = self.functions.get(&**name) {
                    return Ok(f.clone());
                }
                let lib = call.scripts.libraries().function(name).map(|(lib, _)| lib);
                let Some(lib) = lib else {
                    return Err(Reply::error(text::FUNCTION_NOT_FOUND));
                };
                let loaded = self.load(&lib.code).map_err(Reply::error)?;
                for (info, f) in loaded {
                    self.functions.insert(info.name, f);
                }
                self.functions
                    .get(&**name)
                    .cloned()
                    .ok_or_else(|| Reply::error(text::FUNCTION_NOT_FOUND))
            }
        }
    }

    /// Runs one call to its end (or its stop).
    pub(super) fn run(&mut self, call: &Call, caller: &mut dyn Caller) -> Outcome {
        self.sync(&call.scripts);
        let f = match self.resolve(call) {
            Ok(f) => f,
            Err(reply) => return Outcome::Done(reply),
        };
        let keys = strings(&self.lua, &call.keys);
        let argv = strings(&self.lua, &call.argv);
        let (keys, argv) = match (keys, argv) {
            (Ok(k), Ok(a)) => (k, a),
            (Err(e), _) | (_, Err(e)) => {
                return Outcome::Done(Reply::Error(CommandError::other(script_text::with_err(
                    &e.to_string(),
                ))))
            }
        };
        let caller: *mut (dyn Caller + '_) = caller;
        // SAFETY: only the lifetime is erased; see `CallerPtr` for why the pointer
        // never outlives this call.
        let caller: *mut (dyn Caller + 'static) = unsafe { std::mem::transmute(caller) };
        self.lua.set_app_data(RunState {
            started: Instant::now(),
            busy_ms: call.busy_ms,
            handed_off: false,
            busy: None,
            scripts: call.scripts.clone(),
            shards: call.shards.clone(),
            name: match &call.target {
                Target::Eval { sha, .. } => sha.clone(),
                Target::Function { name } => name.clone(),
            },
            function: matches!(call.target, Target::Function { .. }),
            caller: CallerPtr(caller),
            stop: None,
            stopped_at: None,
            wrote: false,
            resp3: false,
            db: call.db,
            read_only: call.read_only,
            pubsub: call.pubsub.clone(),
        });
        let result = match call.target {
            Target::Eval { .. } => {
                let globals = self.lua.globals();
                globals
                    .raw_set("KEYS", keys)
                    .and_then(|()| globals.raw_set("ARGV", argv))
                    .and_then(|()| self.invoke.call::<MultiValue>((f, self.handler.clone())))
            }
            Target::Function { .. } => {
                self.invoke_with
                    .call::<MultiValue>((f, self.handler.clone(), keys, argv))
            }
        };
        let state = self.lua.remove_app_data::<RunState>();
        // A call that left the state near its memory limit (a script that failed
        // for memory leaves its garbage) must not fail the next one: collect now.
        if self.lua.used_memory() > LUA_MEMORY_LIMIT / 2 {
            let _ = self.lua.gc_collect();
        }
        if let Some(busy) = state.as_ref().and_then(|s| s.busy.as_ref()) {
            call.scripts.done(busy);
        }
        let function = matches!(call.target, Target::Function { .. });
        let (stop, stopped_at, resp3) =
            state.map_or((None, None, false), |s| (s.stop, s.stopped_at, s.resp3));
        match stop {
            Some(Halt::Unheld) => return Outcome::Undeclared,
            Some(Halt::Fatal(e)) => return Outcome::Aborted(e),
            Some(Halt::Killed) => {
                let why = if function {
                    text::FUNCTION_KILLED
                } else {
                    text::SCRIPT_KILLED
                };
                let at = stopped_at
                    .map(|(source, line)| script_text::located(why, call.name(), &source, line));
                return Outcome::Aborted(CommandError::other(at.unwrap_or_else(|| why.into())));
            }
            Some(Halt::ShuttingDown) => return Outcome::Aborted(CommandError::Unavailable),
            None => {}
        }
        match result {
            Ok(values) => {
                let mut values = values.into_iter();
                match values.next() {
                    Some(Value::Boolean(true)) => {
                        Outcome::Done(from_lua(&values.next().unwrap_or(Value::Nil), resp3))
                    }
                    _ => Outcome::Done(failure(values.next().unwrap_or(Value::Nil), call.name())),
                }
            }
            Err(e) => Outcome::Done(Reply::Error(CommandError::other(script_text::with_err(
                &e.to_string(),
            )))),
        }
    }

    /// Runs a library's code with a loading-time `redis` table and returns the
    /// functions it registered; `Err` is the full error text.
    fn load(&self, code: &str) -> Result<Vec<(FunctionInfo, Function)>, String> {
        let body = library_body(code);
        let chunk = compile(&self.lua, &body, "@user_function")
            .map_err(|msg| script_text::compile_function(&msg))?;
        let registered: RefCell<Vec<(FunctionInfo, Function)>> = RefCell::default();
        let globals = self.lua.globals();
        let outcome = self.lua.scope(|scope| {
            let register = scope.create_function(|lua, args: MultiValue| {
                let (info, f) = registration(lua, args)?;
                let mut list = registered.borrow_mut();
                if list.iter().any(|(i, _)| i.name == info.name) {
                    return Err(mlua::Error::runtime(text::FUNCTION_EXISTS_IN_LIBRARY));
                }
                list.push((info, f));
                Ok(())
            })?;
            let loader = loading_table(&self.lua, register)?;
            globals.raw_set("redis", loader)?;
            let out = self
                .invoke
                .call::<MultiValue>((chunk, self.handler.clone()));
            globals.raw_set("redis", self.redis.clone())?;
            out
        });
        let values = outcome.map_err(|e| script_text::registering(&e.to_string()))?;
        let mut values = values.into_iter();
        if !matches!(values.next(), Some(Value::Boolean(true))) {
            let why = match values.next() {
                Some(Value::Table(t)) => t.raw_get::<String>("err").unwrap_or_default(),
                Some(Value::Error(e)) => callback_message(&e),
                _ => String::new(),
            };
            return Err(script_text::registering(&why));
        }
        let registered = registered.into_inner();
        if registered.is_empty() {
            return Err(text::NO_FUNCTIONS_REGISTERED.into());
        }
        Ok(registered)
    }
}

/// Compiles `body` as text under `chunk` (`@user_script`, `@user_function`); `Err`
/// is Lua's message.
fn compile(lua: &Lua, body: &str, chunk: &str) -> Result<Function, String> {
    lua.load(body)
        .set_name(chunk)
        .set_mode(ChunkMode::Text)
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })
}

/// The message of an error a Rust callback raised, without mlua's wrapping.
fn callback_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => callback_message(cause),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::ExternalError(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// Lua strings from arguments.
fn strings(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, b) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(b)?)?;
    }
    Ok(t)
}

/// The reply of a script that raised an error (the handler's table).
fn failure(e: Value, name: &str) -> Reply {
    let msg = match e {
        Value::Table(t) => {
            let err: String = match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => String::from(text::SCRIPT_UNKNOWN_ERROR),
            };
            let source = t.raw_get::<Option<String>>("source").ok().flatten();
            let line = t.raw_get::<Option<i64>>("line").ok().flatten();
            match (source, line) {
                (Some(source), Some(line)) => script_text::located(&err, name, &source, line),
                _ => err,
            }
        }
        Value::Error(e) => script_text::with_err(&callback_message(&e)),
        _ => String::from(text::SCRIPT_UNKNOWN_ERROR),
    };
    Reply::Error(CommandError::other(error_text(&msg)))
}

/// `redis.call` / `redis.pcall`: runs one command; returns its reply as Lua and
/// whether it failed (the prelude raises it for `redis.call`).
fn command(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
    let err = |msg: &str| -> mlua::Result<(Value, bool)> {
        let t = lua.create_table_with_capacity(0, 1)?;
        t.raw_set("err", msg)?;
        Ok((Value::Table(t), true))
    };
    let (db, read_only, resp3, caller) = {
        let st = lua.app_data_ref::<RunState>().ok_or_else(halted)?;
        if st.stop.is_some() {
            return Err(halted());
        }
        (st.db, st.read_only, st.resp3, st.caller)
    };
    if args.is_empty() {
        return err(text::SCRIPT_NO_ARGUMENTS);
    }
    let mut argv = Vec::with_capacity(args.len());
    for v in args.iter() {
        argv.push(match v {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Integer(n) => Bytes::from(n.to_string()),
            Value::Number(n) => Bytes::from(format_g(*n, 17)),
            _ => return err(text::SCRIPT_ARGUMENT_TYPES),
        });
    }
    let Some(cmd) = commands::lookup(&argv[0]) else {
        return err(text::SCRIPT_UNKNOWN_COMMAND);
    };
    if !cmd.spec.arity_ok(argv.len()) {
        return err(text::SCRIPT_WRONG_ARITY);
    }
    if !cmd.pairs_complete(argv.len()) {
        return err(&CommandError::arity(cmd.spec.name).text());
    }
    if !cmd.flags.in_script {
        return err(text::SCRIPT_COMMAND_NOT_ALLOWED);
    }
    if cmd.flags.write && read_only {
        return err(text::SCRIPT_WRITE_IN_READ_ONLY);
    }
    let reply = match cmd.kind {
        Kind::Local(_) | Kind::Barrier(_) => match local(lua, cmd.spec.name, &argv) {
            Some(r) => r,
            None => return err(text::SCRIPT_COMMAND_NOT_ALLOWED),
        },
        // SAFETY: the pointer is the running call's caller (see `CallerPtr`), and no
        // other reference to it is in use while a command runs.
        _ => match unsafe { (*caller.0).call(db, cmd, argv) } {
            Ok(r) => r,
            Err(stop) => {
                if let Some(mut st) = lua.app_data_mut::<RunState>() {
                    st.stop = Some(match stop {
                        Stop::Unheld => Halt::Unheld,
                        Stop::Fatal(e) => Halt::Fatal(e),
                    });
                }
                return Err(halted());
            }
        },
    };
    if cmd.flags.write {
        if let Some(mut st) = lua.app_data_mut::<RunState>() {
            st.wrote = true;
            if let Some(busy) = &st.busy {
                busy.wrote.store(true, Ordering::Release);
            }
        }
    }
    let failed = reply.is_error();
    Ok((to_lua(lua, reply, resp3)?, failed))
}

/// `redis.call`: a C function, so that a script's `return redis.call(...)` keeps
/// the script's frame (Lua 5.1 replaces a frame only for a tail call to a Lua
/// function) and an error points at the script's line. It calls the running call's
/// raw command function (`RAW_CALL`, which answers `reply, failed`) and raises the
/// reply, Redis's error table, if the command failed.
///
/// # Safety
/// Called by Lua with its arguments on the stack. Nothing on this frame has a
/// destructor, so Lua's error unwinding (a longjmp) may pass through it.
unsafe extern "C-unwind" fn redis_call(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: plain Lua C API calls on the calling state's stack: push the raw
    // function, move it below the arguments, call it for two results.
    unsafe {
        let n = ffi::lua_gettop(state);
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, c"shardis.call".as_ptr());
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, n, 2);
        if ffi::lua_toboolean(state, -1) != 0 {
            ffi::lua_pop(state, 1);
            ffi::lua_error(state);
        }
        ffi::lua_pop(state, 1);
    }
    1
}

/// The network-side commands a script may call, answered here: PING, ECHO, TIME,
/// SELECT (which changes the script's database only) and PUBLISH / SPUBLISH.
fn local(lua: &Lua, name: &str, args: &[Bytes]) -> Option<Reply> {
    Some(match name {
        "ping" => match args.get(1) {
            Some(m) if args.len() == 2 => Reply::Bulk(m.clone()),
            None => Reply::Status("PONG".into()),
            _ => CommandError::arity("ping").into(),
        },
        "echo" => Reply::Bulk(args[1].clone()),
        "publish" | "spublish" => {
            use crate::state::pubsub::Kind;
            let kind = if name == "spublish" {
                Kind::Shard
            } else {
                Kind::Channel
            };
            let st = lua.app_data_ref::<RunState>()?;
            let (pubsub, limits) = &st.pubsub;
            Reply::Int(pubsub.publish(kind, &args[1], &args[2], *limits))
        }
        "time" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Reply::Array(vec![
                Reply::bulk_int(now.as_secs() as i64),
                Reply::bulk_int(now.subsec_micros() as i64),
            ])
        }
        "select" => match commands::arg_i64(&args[1]) {
            Ok(db) if (0..crate::storage::encoding::MAX_DATABASES as i64).contains(&db) => {
                if let Some(mut st) = lua.app_data_mut::<RunState>() {
                    st.db = db as u8;
                }
                Reply::Ok
            }
            Ok(_) => Reply::error(text::DB_OUT_OF_RANGE),
            Err(e) => e.into(),
        },
        _ => return None,
    })
}

/// The message handler of every call: any error becomes Redis's error table, with
/// the source and line of the innermost script frame.
fn error_handler(lua: &Lua) -> mlua::Result<Function> {
    let tostring: Function = lua.globals().raw_get("tostring")?;
    lua.create_function(move |lua, e: Value| {
        let stopped = lua
            .app_data_ref::<RunState>()
            .is_some_and(|s| s.stop.is_some());
        if matches!(e, Value::Error(_)) && stopped {
            // A stopped script unwinds with the error that stopped it.
            return Ok(e);
        }
        // The innermost frame of the script's own code: where the error happened.
        let mut at = None;
        for level in 1..200 {
            let Some(frame) = lua.inspect_stack(level) else {
                break;
            };
            let source = frame.source();
            let own = source.source.as_deref() == Some(OWN_CHUNK);
            if source.what != "C" && !own {
                at = Some((
                    source.source.unwrap_or_default().into_owned(),
                    frame.curr_line(),
                ));
                break;
            }
        }
        let t = match e {
            Value::Table(t) => t,
            Value::Error(e) => {
                // A library error names its place, as `luaL_error` does in Redis.
                let msg = callback_message(&e);
                let msg = match (&at, super::libs::is_library_error(&e)) {
                    (Some((source, line)), true) => {
                        format!("{}:{line}: {msg}", source.trim_start_matches('@'))
                    }
                    _ => msg,
                };
                let t = lua.create_table()?;
                t.raw_set("err", script_text::with_err(&msg))?;
                t
            }
            other => {
                let text: String = tostring.call(other)?;
                let t = lua.create_table()?;
                t.raw_set("err", script_text::with_err(&text))?;
                t
            }
        };
        if let Some((source, line)) = at {
            t.raw_set("source", source)?;
            t.raw_set("line", line)?;
        }
        Ok(Value::Table(t))
    })
}

/// The metamethods of a strict, read-only table, written in Lua so that their
/// errors point at the script's line (`error(..., 2)`), as Redis's do.
const STRICT: &str = r#"
local error, tostring = ...
local index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local newindex = function()
  error('Attempt to modify a readonly table', 2)
end
return index, newindex
"#;

/// A metatable that makes a table strict (`__index`) and, if `read_only`, closed
/// to new names (`__newindex`).
fn strict_meta(lua: &Lua, read_only: bool) -> mlua::Result<Table> {
    let globals = lua.globals();
    let (index, newindex): (Function, Function) = lua
        .load(STRICT)
        .set_name(OWN_CHUNK)
        .set_mode(ChunkMode::Text)
        .call((
            globals.raw_get::<Function>("error")?,
            globals.raw_get::<Function>("tostring")?,
        ))?;
    let meta = lua.create_table()?;
    meta.raw_set("__index", index)?;
    if read_only {
        meta.raw_set("__newindex", newindex)?;
        // Nor may a script reach the metatable to undo this.
        meta.raw_set("__metatable", false)?;
    }
    Ok(meta)
}

/// Makes the globals table strict and read-only (after the sandbox is built).
fn protect_globals(lua: &Lua) -> mlua::Result<()> {
    lua.globals().set_metatable(Some(strict_meta(lua, true)?));
    Ok(())
}

/// The run-time `redis` table, but for `call` and `pcall` (the prelude's).
fn redis_table(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, msg: Value| {
            let Value::String(msg) = msg else {
                return Err(mlua::Error::runtime(text::SCRIPT_WRONG_ARGUMENTS));
            };
            let t = lua.create_table()?;
            t.raw_set("err", error_table_text(&msg.to_string_lossy()))?;
            Ok(t)
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, msg: Value| {
            let Value::String(msg) = msg else {
                return Err(mlua::Error::runtime(text::SCRIPT_WRONG_ARGUMENTS));
            };
            let t = lua.create_table()?;
            t.raw_set("ok", msg)?;
            Ok(t)
        })?,
    )?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, args: Variadic<Value>| {
            let [Value::String(s)] = args.as_slice() else {
                return Err(mlua::Error::runtime(text::SCRIPT_WRONG_ARG_COUNT));
            };
            Ok(sha1_hex(&s.as_bytes()))
        })?,
    )?;
    redis.raw_set(
        "setresp",
        lua.create_function(|lua, args: Variadic<Value>| {
            let version = match args.as_slice() {
                [Value::Integer(n)] => *n,
                [Value::Number(n)] => *n as i64,
                _ => return Err(mlua::Error::runtime(text::SCRIPT_SETRESP_ARGS)),
            };
            if version != 2 && version != 3 {
                return Err(mlua::Error::runtime(text::SCRIPT_RESP_VERSION));
            }
            if let Some(mut st) = lua.app_data_mut::<RunState>() {
                st.resp3 = version == 3;
            }
            Ok(())
        })?,
    )?;
    install_common(lua, &redis)?;
    redis.raw_set(
        "set_repl",
        lua.create_function(|_, args: Variadic<Value>| match args.as_slice() {
            [Value::Integer(n)] if (0..=3).contains(n) => Ok(()),
            [Value::Number(n)] if (0.0..=3.0).contains(n) => Ok(()),
            [_] => Err(mlua::Error::runtime(text::SCRIPT_REPL_FLAGS)),
            _ => Err(mlua::Error::runtime(text::SCRIPT_SET_REPL_ARGS)),
        })?,
    )?;
    redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    for (name, v) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, v)?;
    }
    Ok(redis)
}

/// What both `redis` tables have: `log` and its levels, the version.
fn install_common(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.raw_set(
        "log",
        lua.create_function(|lua, args: MultiValue| {
            let mut args = args.into_iter();
            let level = match args.next() {
                Some(Value::Integer(n)) => n,
                Some(Value::Number(n)) => n as i64,
                _ => return Err(mlua::Error::runtime(text::SCRIPT_LOG_ARGS)),
            };
            if !(0..=3).contains(&level) {
                return Err(mlua::Error::runtime(text::SCRIPT_LOG_LEVEL));
            }
            let parts: Vec<String> = args
                .map(|v| {
                    lua.coerce_string(v)
                        .ok()
                        .flatten()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default()
                })
                .collect();
            if parts.is_empty() {
                return Err(mlua::Error::runtime(text::SCRIPT_LOG_ARGS));
            }
            let msg = parts.join(" ");
            match level {
                0 => tracing::debug!(target: "shardis::script", "{msg}"),
                1 | 2 => tracing::info!(target: "shardis::script", "{msg}"),
                _ => tracing::warn!(target: "shardis::script", "{msg}"),
            }
            Ok(())
        })?,
    )?;
    for (name, v) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, v)?;
    }
    redis.raw_set("REDIS_VERSION", REDIS_VERSION)?;
    redis.raw_set("REDIS_VERSION_NUM", REDIS_VERSION_NUM)?;
    Ok(())
}

/// The `redis` table a library's code sees while it loads: `register_function`,
/// `log`, the version; any other name is an error, as in Redis.
fn loading_table(lua: &Lua, register: Function) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    redis.raw_set("register_function", register)?;
    install_common(lua, &redis)?;
    redis.set_metatable(Some(strict_meta(lua, false)?));
    Ok(redis)
}

/// `redis.register_function(name, callback)` or `redis.register_function{...}`.
fn registration(lua: &Lua, args: MultiValue) -> mlua::Result<(FunctionInfo, Function)> {
    let fail = |m: &str| Err(mlua::Error::runtime(m.to_string()));
    let args: Vec<Value> = args.into_iter().collect();
    let (name, callback, flags, description) = match args.as_slice() {
        [name, callback] => {
            let Value::Function(f) = callback else {
                return fail(text::REGISTER_CALLBACK_NOT_FUNCTION);
            };
            (name.clone(), f.clone(), ScriptFlags::default(), None)
        }
        [Value::Table(t)] => {
            let mut name = None;
            let mut callback = None;
            let mut flags = ScriptFlags::default();
            let mut description = None;
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key = match &k {
                    Value::String(s) => s.to_string_lossy(),
                    _ => return fail(text::REGISTER_UNKNOWN_ARGUMENT),
                };
                match key.as_str() {
                    "function_name" => name = Some(v),
                    "callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return fail(text::REGISTER_CALLBACK_TYPE),
                    },
                    "flags" => {
                        let Value::Table(list) = v else {
                            return fail(text::REGISTER_FLAGS_TYPE);
                        };
                        for flag in list.sequence_values::<Value>() {
                            let ok = match flag? {
                                Value::String(s) => flags.set(&s.to_string_lossy()),
                                _ => false,
                            };
                            if !ok {
                                return fail(text::REGISTER_UNKNOWN_FLAG);
                            }
                        }
                    }
                    "description" => match lua.coerce_string(v)? {
                        Some(s) => description = Some(s.to_string_lossy()),
                        None => return fail(text::REGISTER_DESCRIPTION_TYPE),
                    },
                    _ => return fail(text::REGISTER_UNKNOWN_ARGUMENT),
                }
            }
            let Some(name) = name else {
                return fail(text::REGISTER_NAME_MISSING);
            };
            let Some(callback) = callback else {
                return fail(text::REGISTER_CALLBACK_MISSING);
            };
            (name, callback, flags, description)
        }
        _ => return fail(text::REGISTER_WRONG_ARGUMENTS),
    };
    let name = match name {
        Value::String(s) => s.to_string_lossy(),
        _ => return fail(text::REGISTER_NAME_TYPE),
    };
    if !valid_name(&name) {
        return fail(text::LIBRARY_NAME_INVALID);
    }
    Ok((
        FunctionInfo {
            name,
            description,
            flags,
        },
        callback,
    ))
}

/// Library and function names: letters, digits and underscores, at least one.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The text of `redis.error_reply(msg)`'s table: `-CODE rest` keeps its code, any
/// other text gets `ERR`.
fn error_table_text(msg: &str) -> String {
    let body = msg.strip_prefix('-').unwrap_or(msg);
    let text = if body.contains(' ') {
        body.to_string()
    } else {
        script_text::with_err(body)
    };
    text.trim_end_matches(['\r', '\n']).to_string()
}

/// SHA1 of a script body, lowercase hex (as `SCRIPT LOAD` answers).
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// A script's first line when it starts with `#!`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shebang {
    /// `name=` (libraries only).
    pub name: Option<String>,
    /// `flags=`.
    pub flags: ScriptFlags,
}

/// Parses an EVAL script's shebang (`#!lua flags=no-writes,...`); `Ok(None)` if it
/// has none. `Err` is the full error text.
pub fn parse_shebang(body: &str) -> Result<Option<Shebang>, String> {
    if !body.starts_with("#!") {
        return Ok(None);
    }
    let Some((line, _)) = body.split_once('\n') else {
        return Err(text::SCRIPT_SHEBANG_INVALID.into());
    };
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(script_text::shebang_engine(engine));
    }
    let mut shebang = Shebang::default();
    for part in parts {
        match part.strip_prefix("flags=") {
            Some(list) => {
                for flag in list.split(',').filter(|f| !f.is_empty()) {
                    if !shebang.flags.set(flag) {
                        return Err(script_text::shebang_flag(flag));
                    }
                }
            }
            None => return Err(script_text::shebang_option(part)),
        }
    }
    Ok(Some(shebang))
}

/// Parses a library's metadata line (`#!lua name=<name>`); `Err` is the full error.
pub(super) fn parse_library_header(code: &str) -> Result<String, String> {
    if !code.starts_with("#!") {
        return Err(text::LIBRARY_METADATA_MISSING.into());
    }
    let Some((line, _)) = code.split_once('\n') else {
        return Err(text::LIBRARY_METADATA_INVALID.into());
    };
    let mut parts = line[2..].split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(script_text::engine_not_found(engine));
    }
    let mut name = None;
    for part in parts {
        match part.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => return Err(script_text::metadata_value(part)),
        }
    }
    let Some(name) = name else {
        return Err(text::LIBRARY_NAME_MISSING.into());
    };
    if !valid_name(&name) {
        return Err(script_text::with_err(text::LIBRARY_NAME_INVALID));
    }
    Ok(name)
}

/// A script body with its shebang line blanked (line numbers stay).
fn without_shebang(body: &str) -> std::borrow::Cow<'_, str> {
    if !body.starts_with("#!") {
        return body.into();
    }
    match body.find('\n') {
        Some(i) => body[i..].to_string().into(),
        None => "".into(),
    }
}

/// A library's code as Lua compiles it: its metadata line blanked.
fn library_body(code: &str) -> String {
    without_shebang(code).into_owned()
}

/// Whether `body` compiles (SCRIPT LOAD, EVAL); `Err` is the full error text.
pub fn compile_check(body: &str) -> Result<(), String> {
    with(|i| {
        compile(&i.lua, &without_shebang(body), "@user_script")
            .map(|_| ())
            .map_err(|msg| script_text::compile_script(&msg))
    })
}

/// FUNCTION LOAD: runs the library's code and returns what it registered; `Err` is
/// the full error text.
pub fn load_library(code: &str) -> Result<(String, Vec<FunctionInfo>), String> {
    let name = parse_library_header(code)?;
    let functions = with(|i| i.load(code))?;
    Ok((name, functions.into_iter().map(|(info, _)| info).collect()))
}
