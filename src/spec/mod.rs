//! Redis's own metadata of every command shardis implements, as `COMMAND INFO` and
//! `COMMAND DOCS` give it: generated data ([`redis_spec`]) and how to read it.

pub mod redis_spec;

use crate::protocol::Reply;

/// One command's (or subcommand's) Redis metadata. Generated into [`redis_spec`].
#[derive(Debug)]
pub struct RedisSpec {
    /// Lowercase name (`client|setname` for a subcommand).
    pub name: &'static str,
    /// Argument count including the name; negative means "at least".
    pub arity: i32,
    /// Command flags (`write`, `readonly`, `fast`, ...).
    pub flags: &'static [&'static str],
    /// Position of the first key, 0 if none.
    pub first_key: i32,
    /// Position of the last key; -1 is the last argument.
    pub last_key: i32,
    /// Distance between keys.
    pub step: i32,
    /// ACL categories.
    pub acl: &'static [&'static str],
    /// One-line summary.
    pub summary: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    /// Command group.
    pub group: &'static str,
    /// Time complexity.
    pub complexity: &'static str,
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub tips: &'static [&'static str],
    /// Key specifications, in Redis's order.
    pub key_specs: &'static [KeySpec],
    /// Subcommands of a container command.
    pub subcommands: &'static [RedisSpec],
}

/// A key found in a command's arguments, with the flags Redis reports for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAt {
    /// Argument index (the command name is 0).
    pub pos: usize,
    /// Key flags (`RW`, `access`, ...); empty where Redis's procedure gives none.
    pub flags: &'static [&'static str],
}

/// One key specification of a command, as `COMMAND INFO` gives it: where the search
/// for keys starts and how the keys are found from there.
#[derive(Debug)]
pub struct KeySpec {
    /// Redis's explanatory note, if the spec has one.
    pub notes: Option<&'static str>,
    /// Key flags (`RW`, `RO`, `OW`, `RM`, `access`, `update`, `insert`, `delete`, ...).
    pub flags: &'static [&'static str],
    /// Where the search starts.
    pub begin_search: BeginSearch,
    /// How keys are found from the start.
    pub find_keys: FindKeys,
}

/// The `begin_search` part of a key spec.
#[derive(Debug)]
pub enum BeginSearch {
    /// The keys start at this argument index.
    Index(i32),
    /// The keys start after `keyword`, searched from `startfrom` (negative: backwards
    /// from the end).
    Keyword {
        /// The keyword (`STORE`, `STREAMS`, ...), matched in any case.
        keyword: &'static str,
        /// Index where the search starts; negative counts from the end, backwards.
        startfrom: i32,
    },
    /// Not describable; Redis uses the command's getkeys procedure.
    Unknown,
}

/// The `find_keys` part of a key spec.
#[derive(Debug)]
pub enum FindKeys {
    /// Keys from the start up to `lastkey` (relative; negative counts from the end).
    Range {
        /// Index of the last key relative to the start; negative from the end.
        lastkey: i32,
        /// Distance between keys.
        keystep: i32,
        /// With `lastkey` -1: only the first 1/limit of the remaining arguments.
        limit: i32,
    },
    /// A count argument announces the number of keys.
    Keynum {
        /// Index of the count, relative to the start.
        keynumidx: i32,
        /// Index of the first key, relative to the start.
        firstkey: i32,
        /// Distance between keys.
        keystep: i32,
    },
    /// Not describable; Redis uses the command's getkeys procedure.
    Unknown,
}

/// A RESP3 map (RESP2 flat array) of bulk-string names to replies.
fn named(fields: Vec<(&'static str, Reply)>) -> Reply {
    Reply::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Reply::bulk_static(k), v))
            .collect(),
    )
}

/// A set of status replies, the way Redis replies with command and key flags.
pub fn status_set(items: &[&'static str]) -> Reply {
    Reply::Set(items.iter().map(|s| Reply::Status((*s).into())).collect())
}

impl KeySpec {
    /// The key spec's entry in `COMMAND INFO` (Redis's `addReplyCommandKeySpecs`).
    pub fn info_reply(&self) -> Reply {
        let int = |n: i32| Reply::Int(n as i64);
        let (bs_type, bs_spec) = match self.begin_search {
            BeginSearch::Index(pos) => ("index", vec![("index", int(pos))]),
            BeginSearch::Keyword { keyword, startfrom } => (
                "keyword",
                vec![
                    ("keyword", Reply::bulk_static(keyword)),
                    ("startfrom", int(startfrom)),
                ],
            ),
            BeginSearch::Unknown => ("unknown", Vec::new()),
        };
        let (fk_type, fk_spec) = match self.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => (
                "range",
                vec![
                    ("lastkey", int(lastkey)),
                    ("keystep", int(keystep)),
                    ("limit", int(limit)),
                ],
            ),
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => (
                "keynum",
                vec![
                    ("keynumidx", int(keynumidx)),
                    ("firstkey", int(firstkey)),
                    ("keystep", int(keystep)),
                ],
            ),
            FindKeys::Unknown => ("unknown", Vec::new()),
        };
        let mut fields = Vec::with_capacity(4);
        if let Some(notes) = self.notes {
            fields.push(("notes", Reply::bulk_static(notes)));
        }
        fields.push(("flags", status_set(self.flags)));
        fields.push((
            "begin_search",
            named(vec![
                ("type", Reply::bulk_static(bs_type)),
                ("spec", named(bs_spec)),
            ]),
        ));
        fields.push((
            "find_keys",
            named(vec![
                ("type", Reply::bulk_static(fk_type)),
                ("spec", named(fk_spec)),
            ]),
        ));
        named(fields)
    }
}

impl RedisSpec {
    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a >= 0 && argc == a as usize) || (a < 0 && argc >= a.unsigned_abs() as usize)
    }

    /// The subcommand spec for `name` (any case).
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static RedisSpec> {
        self.subcommands.iter().find(|s| {
            s.name
                .split_once('|')
                .is_some_and(|(_, sub)| sub.as_bytes().eq_ignore_ascii_case(name))
        })
    }

    /// Positions of the keys in an argument vector of length `argc`.
    pub fn key_positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let first = self.first_key.max(0) as usize;
        let last = if self.last_key < 0 {
            argc as i64 + self.last_key as i64
        } else {
            self.last_key as i64
        };
        let step = self.step.max(1) as usize;
        let end = if first == 0 {
            0
        } else {
            (last.max(0) as usize + 1).min(argc)
        };
        (first..end).step_by(step)
    }

    /// The `COMMAND INFO` entry (Redis's `addReplyCommandInfo`): name, arity, flags,
    /// first/last/step, ACL categories, tips, key specs, subcommands.
    pub fn info_reply(&self) -> Reply {
        Reply::Array(vec![
            Reply::bulk_static(self.name),
            Reply::Int(self.arity as i64),
            status_set(self.flags),
            Reply::Int(self.first_key as i64),
            Reply::Int(self.last_key as i64),
            Reply::Int(self.step as i64),
            status_set(self.acl),
            Reply::Set(self.tips.iter().map(|t| Reply::bulk_static(t)).collect()),
            Reply::Set(self.key_specs.iter().map(KeySpec::info_reply).collect()),
            // Redis answers an empty set for a command without subcommands, an array
            // otherwise.
            if self.subcommands.is_empty() {
                Reply::Set(Vec::new())
            } else {
                Reply::Array(self.subcommands.iter().map(RedisSpec::info_reply).collect())
            },
        ])
    }

    /// The keys its key specs find in `args` (name included), as Redis's
    /// `getKeysUsingKeySpecs` finds them: `(position, flags of the spec that found
    /// it)`, spec after spec. Specs flagged `not_key` are skipped. `None` when a spec
    /// cannot be applied (type unknown, a bad key count, keys out of bounds): Redis then
    /// falls back to the command's getkeys procedure.
    pub fn keys_from_specs(&self, args: &[bytes::Bytes]) -> Option<Vec<KeyAt>> {
        let argc = args.len() as i64;
        let mut found = Vec::new();
        for spec in self.key_specs {
            if spec.flags.contains(&"not_key") {
                continue;
            }
            let mut first = match spec.begin_search {
                BeginSearch::Index(pos) => pos as i64,
                BeginSearch::Keyword { keyword, startfrom } => {
                    let startfrom = startfrom as i64;
                    let (start, end) = if startfrom > 0 {
                        (startfrom, argc - 1)
                    } else {
                        (argc + startfrom, 1)
                    };
                    let mut at = 0;
                    let mut i = start;
                    while i != end {
                        if i >= argc || i < 1 {
                            break;
                        }
                        if args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                            at = i + 1;
                            break;
                        }
                        i = if start <= end { i + 1 } else { i - 1 };
                    }
                    if at == 0 {
                        // Keyword absent: this spec finds nothing.
                        continue;
                    }
                    at
                }
                BeginSearch::Unknown => return None,
            };
            let (last, step) = match spec.find_keys {
                FindKeys::Range {
                    lastkey,
                    keystep,
                    limit,
                } => {
                    let (lastkey, limit) = (lastkey as i64, limit as i64);
                    let last = if lastkey >= 0 {
                        first + lastkey
                    } else if limit == 0 {
                        argc + lastkey
                    } else {
                        first + ((argc - first) / limit + lastkey)
                    };
                    (last, keystep as i64)
                }
                FindKeys::Keynum {
                    keynumidx,
                    firstkey,
                    keystep,
                } => {
                    if keynumidx as i64 >= argc - first {
                        return None;
                    }
                    let count = &args[(first + keynumidx as i64) as usize];
                    let n = crate::protocol::parser::parse_i64(count).filter(|n| *n >= 0)?;
                    first += firstkey as i64;
                    // Redis adds the count as a C int.
                    (first + (n as i32) as i64 - 1, keystep as i64)
                }
                FindKeys::Unknown => return None,
            };
            if last >= argc || last < first || first >= argc {
                return None;
            }
            let mut i = first;
            while i <= last {
                found.push(KeyAt {
                    pos: i as usize,
                    flags: spec.flags,
                });
                i += step.max(1);
            }
        }
        Some(found)
    }

    /// Whether the command has the `flag` command flag (`movablekeys`, ...).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// The `COMMAND DOCS` entry (the value of the map; the key is the name).
    pub fn docs_reply(&self) -> Reply {
        let s = |t: &str| Reply::bulk(t.as_bytes());
        let mut doc = vec![
            (s("summary"), s(self.summary)),
            (s("since"), s(self.since)),
            (s("group"), s(self.group)),
            (s("complexity"), s(self.complexity)),
        ];
        if !self.subcommands.is_empty() {
            doc.push((
                s("subcommands"),
                Reply::Map(
                    self.subcommands
                        .iter()
                        .map(|sub| (s(sub.name), sub.docs_reply()))
                        .collect(),
                ),
            ));
        }
        Reply::Map(doc)
    }
}
