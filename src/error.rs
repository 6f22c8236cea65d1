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
    /// A script touched a key on a shard it did not hold; it runs again holding
    /// every shard (never sent: the connection retries).
    Undeclared,
    /// Any other error, full text including the code.
    Other(Cow<'static, str>),
}

impl CommandError {
    /// The error text as sent to the client (after the `-`).
    pub fn text(&self) -> Cow<'_, str> {
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
            CommandError::Undeclared => {
                "ERR the script touched a key on a shard it did not declare".into()
            }
            CommandError::Other(text) => Cow::Borrowed(text),
        }
    }

    /// The error code, the first word of the text, as INFO errorstats counts it. A
    /// static string, so that counting allocates nothing; a code shardis never sends
    /// counts as `ERR`.
    pub fn code(&self) -> &'static str {
        const CODES: [&str; 15] = [
            "ERR",
            "BUSYKEY",
            "INVALIDOBJ",
            "UNBLOCKED",
            "WRONGTYPE",
            "NOAUTH",
            "WRONGPASS",
            "NOPROTO",
            "EXECABORT",
            "BUSY",
            "LOADING",
            "NOSCRIPT",
            "NOTBUSY",
            "UNKILLABLE",
            "OOM",
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

/// The texts of error replies that have no variant of their own, by name: every one
/// shardis sends is here or built below (the generated tables aside), so that a reader
/// can check them against Redis in one sitting. Handlers send them as
/// `CommandError::other(text::NAME)`.
#[allow(missing_docs)] // each constant is the text it names
pub mod text {
    pub const AUTH_NO_PASSWORD: &str =
        "ERR AUTH <password> called without any password configured for the \
         default user. Are you sure your configuration is correct?";
    pub const BGSAVE_RUNNING: &str = "ERR Background save already in progress";
    pub const CLIENT_NAME: &str = "ERR Client names cannot contain spaces, newlines or special \
         characters.";
    pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
    pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
    pub const BITPOS_BIT: &str = "ERR The bit argument must be 1 or 0.";
    pub const BITOP_NOT_ONE_KEY: &str = "ERR BITOP NOT must be called with a single source key.";
    pub const BITFIELD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. \
                                     Note that u64 is not supported but i64 is.";
    pub const BITFIELD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
    pub const BITFIELD_RO_GET: &str = "ERR BITFIELD_RO only supports the GET subcommand";
    pub const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
    pub const LCS_LEN_AND_IDX: &str =
        "ERR If you want both the length and indexes, please just use IDX.";
    pub const LCS_TOO_BIG: &str =
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
    pub const GEO_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
    pub const GEO_NEED_RADIUS: &str = "ERR need numeric radius";
    pub const GEO_RADIUS_NEGATIVE: &str = "ERR radius cannot be negative";
    pub const GEO_NEED_WIDTH: &str = "ERR need numeric width";
    pub const GEO_NEED_HEIGHT: &str = "ERR need numeric height";
    pub const GEO_BOX_NEGATIVE: &str = "ERR height or width cannot be negative";
    pub const GEO_COUNT: &str = "ERR COUNT must be > 0";
    pub const GEO_ANY_NEEDS_COUNT: &str = "ERR the ANY argument requires COUNT argument";
    pub const GEO_MEMBER_UNKNOWN: &str = "ERR could not decode requested zset member";
    pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
    pub const RESTORE_TTL_NEGATIVE: &str = "ERR Invalid TTL value, must be >= 0";
    pub const RESTORE_BAD_FORMAT: &str = "ERR Bad data format";
    pub const RESTORE_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
    pub const RESTORE_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
    pub const HLL_NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    pub const HLL_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
    pub const PFDEBUG_NO_KEY: &str = "ERR The specified key does not exist";
    pub const PFDEBUG_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";
    pub const SWAPDB_FIRST: &str = "ERR invalid first DB index";
    pub const SWAPDB_SECOND: &str = "ERR invalid second DB index";
    pub const INVALID_ARGUMENTS: &str = "ERR Invalid arguments specified for command";
    pub const SORT_NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";
    pub const CORRUPT_LIST: &str = "ERR corrupt list in storage";
    pub const CORRUPT_META: &str = "ERR corrupt collection metadata";
    pub const CORRUPT_VALUE: &str = "ERR corrupt value in storage";
    pub const COUNT_BELOW_MINUS_ONE: &str = "ERR count should be greater than or equal to -1";
    pub const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
    pub const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";
    pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
    pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
    pub const MONITOR_KEYSPACE: &str = "ERR Replica can't interact with the keyspace";
    pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
    pub const UNBLOCK_REASON: &str = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR";
    pub const NO_SUCH_CLIENT: &str = "ERR No such client";
    pub const OBJECT_FREQ_NO_LFU: &str = "ERR An LFU maxmemory policy is not selected, \
         access frequency not tracked. Please note that when switching between policies at \
         runtime LRU and LFU data will take some time to adjust.";
    pub const TRACKING_PREFIX_NEEDS_BCAST: &str =
        "ERR PREFIX option requires BCAST mode to be enabled";
    pub const TRACKING_BCAST_SWITCH: &str = "ERR You can't switch BCAST mode on/off before \
         disabling tracking for this client, and then re-enabling it with a different mode.";
    pub const TRACKING_BCAST_OPTIN: &str = "ERR OPTIN and OPTOUT are not compatible with BCAST";
    pub const TRACKING_OPTIN_OPTOUT: &str = "ERR You can't specify both OPTIN mode and OPTOUT mode";
    pub const TRACKING_OPT_SWITCH: &str = "ERR You can't switch OPTIN/OPTOUT mode before \
         disabling tracking for this client, and then re-enabling it with a different mode.";
    pub const TRACKING_ONE_REDIRECT: &str =
        "ERR A client can only redirect to a single other client";
    pub const TRACKING_NO_REDIRECT_TARGET: &str =
        "ERR The client ID you want redirect to does not exist";
    pub const CACHING_NOT_TRACKING: &str = "ERR CLIENT CACHING can be called only when the \
         client is in tracking mode with OPTIN or OPTOUT mode enabled";
    pub const CACHING_YES_NOT_OPTIN: &str =
        "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.";
    pub const CACHING_NO_NOT_OPTOUT: &str =
        "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.";
    pub const CLIENT_ID_NOT_POSITIVE: &str = "ERR client-id should be greater than 0";
    pub const PAUSE_TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
    pub const PAUSE_MODE: &str = "ERR CLIENT PAUSE mode must be WRITE or ALL";
    pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
    pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
    pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
    pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
    pub const MULTI_TOO_LARGE: &str =
        "ERR transaction too large: the queued commands exceed the client query buffer limit";
    pub const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
    pub const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";

    // Scripts and functions (Redis 7.0's texts; the pcall forms carry no suffix).
    pub const SCRIPT_UNKNOWN_COMMAND: &str = "ERR Unknown Redis command called from script";
    pub const SCRIPT_WRONG_ARITY: &str =
        "ERR Wrong number of args calling Redis command from script";
    pub const SCRIPT_COMMAND_NOT_ALLOWED: &str =
        "ERR This Redis command is not allowed from script";
    pub const SCRIPT_WRITE_IN_READ_ONLY: &str =
        "ERR Write commands are not allowed from read-only scripts.";
    pub const SCRIPT_NO_ARGUMENTS: &str =
        "ERR Please specify at least one argument for this redis lib call";
    pub const SCRIPT_ARGUMENT_TYPES: &str =
        "ERR Lua redis lib command arguments must be strings or integers";
    pub const SCRIPT_READONLY_TABLE: &str = "Attempt to modify a readonly table";
    pub const SCRIPT_WRONG_ARGUMENTS: &str = "wrong number or type of arguments";
    pub const SCRIPT_WRONG_ARG_COUNT: &str = "wrong number of arguments";
    pub const SCRIPT_SHEBANG_INVALID: &str = "ERR Invalid script shebang";
    pub const SCRIPT_SETRESP_ARGS: &str = "redis.setresp() requires one argument.";
    pub const SCRIPT_RESP_VERSION: &str = "RESP version must be 2 or 3.";
    pub const SCRIPT_SET_REPL_ARGS: &str = "redis.set_repl() requires one argument.";
    pub const SCRIPT_REPL_FLAGS: &str =
        "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.";
    pub const SCRIPT_LOG_ARGS: &str = "redis.log() requires two arguments or more.";
    pub const SCRIPT_LOG_LEVEL: &str = "Invalid debug level.";
    pub const SCRIPT_REPLY_TOO_DEEP: &str = "ERR reached lua stack limit";
    pub const SCRIPT_UNKNOWN_ERROR: &str = "ERR unknown error";
    pub const SCRIPT_KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
    pub const FUNCTION_KILLED: &str = "ERR Script killed by user with FUNCTION KILL...";
    pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
    pub const NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
    pub const NOT_BUSY: &str = "NOTBUSY No scripts in execution right now.";
    pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands \
         against the dataset. You can either wait the script termination or kill the server in \
         a hard way using the SHUTDOWN NOSAVE command.";
    pub const BUSY_SCRIPT: &str = "BUSY Redis is busy running a script. You can only call \
         SCRIPT KILL or SHUTDOWN NOSAVE.";
    pub const BUSY_FUNCTION: &str = "BUSY Redis is busy running a script. You can only call \
         FUNCTION KILL or SHUTDOWN NOSAVE.";
    pub const SCRIPT_FLUSH_OPTION: &str = "ERR SCRIPT FLUSH only support SYNC|ASYNC option";
    pub const FUNCTION_FLUSH_OPTION: &str = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option";
    pub const FUNCTION_NOT_FOUND: &str = "ERR Function not found";
    pub const FUNCTION_RO_WITH_WRITES: &str =
        "ERR Can not execute a script with write flag using *_ro command.";
    pub const FUNCTION_EXISTS_IN_LIBRARY: &str = "Function already exists in the library";
    pub const NO_FUNCTIONS_REGISTERED: &str = "ERR No functions registered";
    pub const LIBRARY_NOT_FOUND: &str = "ERR Library not found";
    pub const LIBRARY_METADATA_MISSING: &str = "ERR Missing library metadata";
    pub const LIBRARY_METADATA_INVALID: &str = "ERR Invalid library metadata";
    pub const LIBRARY_NAME_MISSING: &str = "ERR Library name was not given";
    pub const LIBRARY_NAME_INVALID: &str = "Library names can only contain letters, numbers, \
         or underscores(_) and must be at least one character long";
    pub const REGISTER_WRONG_ARGUMENTS: &str =
        "wrong number of arguments to redis.register_function";
    pub const REGISTER_CALLBACK_NOT_FUNCTION: &str =
        "second argument to redis.register_function must be a function";
    pub const REGISTER_UNKNOWN_ARGUMENT: &str = "unknown argument given to redis.register_function";
    pub const REGISTER_CALLBACK_TYPE: &str =
        "callback argument given to redis.register_function must be a function";
    pub const REGISTER_FLAGS_TYPE: &str = "flags argument to redis.register_function must be a \
         table representing function flags";
    pub const REGISTER_UNKNOWN_FLAG: &str = "unknown flag given";
    pub const REGISTER_DESCRIPTION_TYPE: &str =
        "description argument given to redis.register_function must be a string";
    pub const REGISTER_NAME_MISSING: &str =
        "redis.register_function must get a function name argument";
    pub const REGISTER_CALLBACK_MISSING: &str =
        "redis.register_function must get a callback argument";
    pub const REGISTER_NAME_TYPE: &str =
        "function_name argument given to redis.register_function must be a string";
    pub const FUNCTION_RESTORE_POLICY: &str =
        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.";
    pub const FUNCTION_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
    pub const FUNCTION_PAYLOAD_TYPE: &str = "ERR given type is not a function";
    pub const FUNCTION_PRE_GA_FORMAT: &str = "ERR Pre-GA function format not supported";
    pub const DEBUG_NOT_ALLOWED: &str =
        "ERR DEBUG command not allowed. If the enable-debug-command option is \
         set to \"local\", you can run it from a local connection, otherwise you \
         need to set this option in the configuration file, and then restart \
         the server.";
    pub const DECR_OVERFLOW: &str = "ERR decrement would overflow";
    pub const GT_AND_LT: &str = "ERR GT and LT options at the same time are not compatible";
    pub const GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
    pub const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
    pub const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
    pub const HELLO_NOAUTH: &str =
        "NOAUTH HELLO must be called with the client already authenticated, \
         otherwise the HELLO <proto> AUTH <user> <pass> option can be used to \
         authenticate the client and select the RESP protocol version at the \
         same time";
    pub const INCR_NAN: &str = "ERR increment would produce NaN or Infinity";
    pub const INCR_ONE_PAIR: &str = "ERR INCR option supports a single increment-element pair";
    pub const INCR_OUT_OF_RANGE: &str =
        "ERR value is out of range, value must between -9223372036854775807 and \
         9223372036854775807";
    pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
    pub const INVALID_ARG_COUNT: &str = "ERR Invalid number of arguments specified for command";
    pub const INVALID_COMMAND: &str = "ERR Invalid command specified";
    pub const INVALID_CURSOR: &str = "ERR invalid cursor";
    pub const LIMIT_NEEDS_BY: &str =
        "ERR syntax error, LIMIT is only supported in combination with either \
         BYSCORE or BYLEX";
    pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
    pub const LIST_EXHAUSTED: &str = "ERR list position space exhausted";
    pub const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
    pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
    pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
    pub const NOT_A_BARRIER: &str = "ERR internal error: not a barrier command";
    pub const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
    pub const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";
    pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
    pub const NO_CONFIG_FILE: &str = "ERR The server is running without a config file";
    pub const NO_KEY_ARGUMENTS: &str = "ERR The command has no key arguments";
    pub const NO_SHUTDOWN: &str = "ERR No shutdown in progress.";
    pub const NO_SUCH_SHARD: &str = "ERR no such shard";
    pub const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
    pub const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
    pub const NX_XX_GT_LT: &str =
        "ERR NX and XX, GT or LT options at the same time are not compatible";
    pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
    pub const OUT_OF_RANGE: &str = "ERR value is out of range";
    pub const PANIC_NEEDS_DUAL: &str =
        "ERR DEBUG STORAGE-PANIC needs --runtime dual (shards have no task of \
         their own here)";
    pub const PROTOCOL_VERSION: &str = "ERR Protocol version is not an integer or out of range";
    pub const RANK_ZERO: &str =
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from \
         the second ... or use negative to start from the end of the list";
    pub const SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
    pub const SHARD_FAILED: &str = "ERR storage shard failed; the command was not applied";
    pub const SHARD_NOT_HELD: &str = "ERR internal error: shard not held";
    pub const STRING_TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    pub const VALUE_NAN: &str = "ERR value is NaN or Infinity";
    pub const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
    pub const WITHSCORES_BYLEX: &str =
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
    pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
    pub const XX_AND_NX: &str = "ERR XX and NX options at the same time are not compatible";
}

impl CommandError {
    /// EXEC refused before it ran (`EXECABORT ... because of: <why>`); the
    /// transaction is discarded. Redis quotes the refusal without an `ERR ` code
    /// (its own formatted refusals have none) and with any other code kept.
    pub fn exec_abort(why: &CommandError) -> CommandError {
        let why = why.text();
        let why = why.strip_prefix("ERR ").unwrap_or(&why);
        CommandError::Other(format!("EXECABORT Transaction discarded because of: {why}").into())
    }

    /// CLIENT TRACKING BCAST prefixes that overlap: `new` with one the client has
    /// (`existing`) or with another one given (`given`).
    pub fn prefix_overlap(new: &[u8], other: &[u8], existing: bool) -> CommandError {
        let (new, other) = (String::from_utf8_lossy(new), String::from_utf8_lossy(other));
        let what = if existing {
            "an existing"
        } else {
            "another provided"
        };
        CommandError::Other(
            format!(
                "ERR Prefix '{new}' overlaps with {what} prefix '{other}'. Prefixes for a \
                 single client must not overlap."
            )
            .into(),
        )
    }

    /// PFSELFTEST's failure.
    pub fn hll_selftest(same: bool, count: i64, of: i64) -> CommandError {
        CommandError::Other(
            format!("ERR TESTFAILED HLL self test: sparse and dense agree: {same}, count {count} of {of}")
                .into(),
        )
    }

    /// `ERR Unknown PFDEBUG subcommand '<sub>'`.
    pub fn pfdebug_subcommand(sub: &str) -> CommandError {
        CommandError::Other(format!("ERR Unknown PFDEBUG subcommand '{sub}'").into())
    }

    /// `ERR Wrong number of arguments for the '<sub>' subcommand` (PFDEBUG).
    pub fn pfdebug_arity(sub: &str) -> CommandError {
        CommandError::Other(
            format!("ERR Wrong number of arguments for the '{sub}' subcommand").into(),
        )
    }

    /// GEOADD's and GEOSEARCH's out-of-range position (printed as C's `%f`).
    pub fn geo_pair(lon: f64, lat: f64) -> CommandError {
        CommandError::Other(format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}").into())
    }

    /// A geo STORE with WITHDIST/WITHHASH/WITHCOORD (`what`: `GEOSEARCHSTORE` or
    /// `STORE option in GEORADIUS`).
    pub fn geo_store_with(what: &str) -> CommandError {
        CommandError::Other(
            format!("ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
                .into(),
        )
    }

    /// GEOSEARCH without exactly one centre (`name` as the client spelled it).
    pub fn geo_one_center(name: &str) -> CommandError {
        let text =
            format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}");
        CommandError::Other(text.into())
    }

    /// GEOSEARCH without exactly one shape.
    pub fn geo_one_shape(name: &str) -> CommandError {
        let text = format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}");
        CommandError::Other(text.into())
    }

    /// `ERR wrong number of arguments for '<name>' command` (`name` lowercase).
    pub fn arity(name: &str) -> CommandError {
        CommandError::Other(format!("ERR wrong number of arguments for '{name}' command").into())
    }

    /// `ERR unknown command '<name>', with args beginning with: <quoted args>`.
    pub fn unknown_command(name: &str, args_quoted: &str) -> CommandError {
        let text = format!("ERR unknown command '{name}', with args beginning with: {args_quoted}");
        CommandError::Other(text.into())
    }

    /// `ERR unknown subcommand '<sub>'. Try <COMMAND> HELP.`
    pub fn unknown_subcommand(sub: &str, command: &str) -> CommandError {
        CommandError::Other(format!("ERR unknown subcommand '{sub}'. Try {command} HELP.").into())
    }

    /// DEBUG's: `ERR unknown subcommand or wrong number of arguments for '<sub>'. ...`
    pub fn debug_subcommand(sub: &str) -> CommandError {
        CommandError::subcommand_arguments(sub, "DEBUG")
    }

    /// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try <COMMAND> HELP.`
    pub fn subcommand_arguments(sub: &str, command: &str) -> CommandError {
        let text = format!(
            "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {command} HELP."
        );
        CommandError::Other(text.into())
    }

    /// A RESP2 client in subscribed mode ran `name`.
    pub fn subscribed_context(name: &str) -> CommandError {
        CommandError::Other(
            format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            )
            .into(),
        )
    }

    /// `ERR Unknown client type '<name>'` (CLIENT KILL TYPE).
    pub fn unknown_client_type(name: &str) -> CommandError {
        CommandError::Other(format!("ERR Unknown client type '{name}'").into())
    }

    /// `ERR No such user '<name>'` (CLIENT KILL USER).
    pub fn no_such_user(name: &str) -> CommandError {
        CommandError::Other(format!("ERR No such user '{name}'").into())
    }

    /// `ERR <what> is not supported by shardis`.
    pub fn unsupported(what: &str) -> CommandError {
        CommandError::Other(format!("ERR {what} is not supported by shardis").into())
    }

    /// `ERR Unsupported option <opt>` (EXPIRE's options).
    pub fn unsupported_option(opt: &str) -> CommandError {
        CommandError::Other(format!("ERR Unsupported option {opt}").into())
    }

    /// `ERR Syntax error in HELLO option '<opt>'`.
    pub fn hello_option(opt: &str) -> CommandError {
        CommandError::Other(format!("ERR Syntax error in HELLO option '{opt}'").into())
    }

    /// `ERR Protocol error: <detail>` (the connection closes after it).
    pub fn protocol(detail: &str) -> CommandError {
        CommandError::Other(format!("ERR Protocol error: {detail}").into())
    }

    /// `ERR value is out of range, value must between <lo> and <hi>`.
    pub fn out_of_range_between(lo: i64, hi: i64) -> CommandError {
        let text = format!("ERR value is out of range, value must between {lo} and {hi}");
        CommandError::Other(text.into())
    }

    /// `ERR at least 1 input key is needed for '<cmd>' command`.
    pub fn no_input_keys(cmd: &str) -> CommandError {
        let text = format!("ERR at least 1 input key is needed for '{cmd}' command");
        CommandError::Other(text.into())
    }

    /// A commit (or WAL sync) failed: `ERR <what failed>`.
    pub fn commit_failed(what: &str) -> CommandError {
        CommandError::Other(format!("ERR {what}").into())
    }

    /// SAVE's checkpoint failed.
    pub fn checkpoint_failed(why: &str) -> CommandError {
        CommandError::Other(format!("ERR checkpoint failed: {why}").into())
    }

    /// CONFIG SET refused `name`'s value: `why`.
    pub fn config_set_failed(name: &str, why: &str) -> CommandError {
        let text = format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}");
        CommandError::Other(text.into())
    }

    /// CONFIG SET of a parameter that does not exist.
    pub fn config_unknown(name: &str) -> CommandError {
        let text = format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'");
        CommandError::Other(text.into())
    }

    /// CONFIG REWRITE could not write the file.
    pub fn rewrite_failed(why: &str) -> CommandError {
        CommandError::Other(format!("ERR Rewriting config file: {why}").into())
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

/// Script and function error texts built from parts (Redis 7.0's wording).
pub mod script_text {
    /// Any message that lacks an error code gets `ERR`.
    pub fn with_err(msg: &str) -> String {
        format!("ERR {msg}")
    }
    /// A script's error with where it happened, as Redis 7.0 reports it.
    pub fn located(err: &str, script: &str, source: &str, line: impl std::fmt::Display) -> String {
        format!("{err} script: {script}, on {source}:{line}.")
    }
    /// A script that does not compile.
    pub fn compile_script(msg: &str) -> String {
        format!("ERR Error compiling script (new function): {msg}")
    }
    /// A library that does not compile.
    pub fn compile_function(msg: &str) -> String {
        format!("ERR Error compiling function: {msg}")
    }
    /// A library whose code failed while it registered its functions.
    pub fn registering(why: &str) -> String {
        format!("ERR Error registering functions: {why}")
    }
    /// A shebang naming another engine.
    pub fn shebang_engine(engine: &str) -> String {
        format!("ERR Unexpected engine in script shebang: {engine}")
    }
    /// A shebang flag that does not exist.
    pub fn shebang_flag(flag: &str) -> String {
        format!("ERR Unexpected flag in script shebang: {flag}")
    }
    /// A shebang option other than `flags=`.
    pub fn shebang_option(option: &str) -> String {
        format!("ERR Unknown lua shebang option: {option}")
    }
    /// A library for an engine other than Lua.
    pub fn engine_not_found(engine: &str) -> String {
        format!("ERR Engine '{engine}' not found")
    }
    /// A library metadata field other than `name=`.
    pub fn metadata_value(value: &str) -> String {
        format!("ERR Invalid metadata value given: {value}")
    }
    /// FUNCTION LOAD of an existing library without REPLACE.
    pub fn library_exists(name: &str) -> String {
        format!("ERR Library '{name}' already exists")
    }
    /// FUNCTION RESTORE of a library that exists (Redis words it without quotes).
    pub fn restored_library_exists(name: &str) -> String {
        format!("ERR Library {name} already exists")
    }
    /// FUNCTION LOAD of a function another library has.
    pub fn function_exists(name: &str) -> String {
        format!("ERR Function {name} already exists")
    }
    /// FUNCTION LIST with an argument it does not know.
    pub fn unknown_argument(arg: &str) -> String {
        format!("ERR Unknown argument {arg}")
    }
}
