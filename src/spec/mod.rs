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
    /// Subcommands of a container command.
    pub subcommands: &'static [RedisSpec],
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

    /// The `COMMAND INFO` entry.
    pub fn info_reply(&self) -> Reply {
        let strs = |v: &[&str]| {
            Reply::Set(
                v.iter()
                    .map(|s| Reply::Status((*s).to_string().into()))
                    .collect(),
            )
        };
        Reply::Array(vec![
            Reply::bulk(self.name.as_bytes()),
            Reply::Int(self.arity as i64),
            strs(self.flags),
            Reply::Int(self.first_key as i64),
            Reply::Int(self.last_key as i64),
            Reply::Int(self.step as i64),
            strs(self.acl),
            Reply::Array(Vec::new()),
            Reply::Array(Vec::new()),
            Reply::Array(self.subcommands.iter().map(RedisSpec::info_reply).collect()),
        ])
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
