//! Set and sorted-set algebra over whole collections: SINTER, SUNION, SDIFF,
//! SINTERCARD, ZUNION, ZINTER, ZDIFF, ZINTERCARD and their STORE forms.
//!
//! Their keys may live on several shards, so the connection's coordinator holds those
//! shards, reads every source with [`read_source`] (storage side), computes here with
//! pure functions, and writes a STORE destination through the type's `store`.

use ahash::{AHashMap, AHashSet};
use bytes::Bytes;

use crate::commands::{arg_i64, parse_float, CommandError, Tx};
use crate::error::text;
use crate::storage::encoding::{score_from_bytes, Space, ValueType};

type Result<T> = std::result::Result<T, CommandError>;

/// What a source key holds, as far as set algebra cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The key does not exist.
    Missing,
    /// A set's members.
    Set(Vec<Bytes>),
    /// A sorted set's members and scores.
    ZSet(Vec<(Bytes, f64)>),
    /// Another type.
    Other,
}

/// Storage side: what the key holds, as far as set algebra cares.
pub fn read_source(tx: &mut Tx<'_>, key: &[u8]) -> Result<Source> {
    let Some(v) = tx.get(key)? else {
        return Ok(Source::Missing);
    };
    if v.kind != ValueType::Set && v.kind != ValueType::ZSet {
        return Ok(Source::Other);
    }
    let Some((meta, _)) = tx.meta(key, v.kind)? else {
        return Ok(Source::Missing);
    };
    let records = tx.all_records(Space::Member, key, meta.version)?;
    Ok(if v.kind == ValueType::Set {
        Source::Set(records.into_iter().map(|(m, _)| m).collect())
    } else {
        let score = |s: &[u8]| {
            if s.len() == 8 {
                score_from_bytes(s)
            } else {
                0.0
            }
        };
        Source::ZSet(records.into_iter().map(|(m, s)| (m, score(&s))).collect())
    })
}

/// SINTER / SUNION / SDIFF over sources already checked to be sets or missing.
pub fn set_op(op: &str, sources: &[Source]) -> Vec<Bytes> {
    let members = |s: &Source| -> Vec<Bytes> {
        match s {
            Source::Set(m) => m.clone(),
            _ => Vec::new(),
        }
    };
    match op {
        "inter" => {
            if sources.contains(&Source::Missing) {
                return Vec::new();
            }
            let mut sets: Vec<Vec<Bytes>> = sources.iter().map(members).collect();
            sets.sort_by_key(|s| s.len());
            let Some((first, rest)) = sets.split_first() else {
                return Vec::new();
            };
            let rest: Vec<AHashSet<&Bytes>> = rest.iter().map(|s| s.iter().collect()).collect();
            first
                .iter()
                .filter(|m| rest.iter().all(|r| r.contains(m)))
                .cloned()
                .collect()
        }
        "union" => {
            let mut seen = AHashSet::new();
            let mut out = Vec::new();
            for s in sources {
                for m in members(s) {
                    if seen.insert(m.clone()) {
                        out.push(m);
                    }
                }
            }
            out
        }
        _ => {
            let Some((first, rest)) = sources.split_first() else {
                return Vec::new();
            };
            let rest: AHashSet<Bytes> = rest.iter().flat_map(members).collect();
            members(first)
                .into_iter()
                .filter(|m| !rest.contains(m))
                .collect()
        }
    }
}

/// How ZUNION and ZINTER combine the scores of a member found in several inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Add them (the default).
    Sum,
    /// Keep the smallest.
    Min,
    /// Keep the largest.
    Max,
}

/// Options of the sorted-set algebra commands.
#[derive(Debug, Clone)]
pub struct ZOptions {
    /// One weight per input key.
    pub weights: Vec<f64>,
    /// How scores combine.
    pub aggregate: Aggregate,
    /// Reply with scores.
    pub withscores: bool,
}

/// Parses `[WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]` for `numkeys` inputs.
/// ZDIFF takes only WITHSCORES; the STORE forms take no WITHSCORES.
pub fn parse_zoptions(opts: &[Bytes], numkeys: usize, diff: bool, store: bool) -> Result<ZOptions> {
    let mut o = ZOptions {
        weights: vec![1.0; numkeys],
        aggregate: Aggregate::Sum,
        withscores: false,
    };
    let mut i = 0;
    while i < opts.len() {
        let a = &opts[i];
        if !diff && crate::commands::is(a, "weights") && opts.len() - i > numkeys {
            for k in 0..numkeys {
                o.weights[k] = parse_float(&opts[i + 1 + k])
                    .ok_or_else(|| CommandError::other(text::WEIGHT_NOT_FLOAT))?;
            }
            i += numkeys + 1;
        } else if !diff && crate::commands::is(a, "aggregate") && i + 1 < opts.len() {
            let v = &opts[i + 1];
            o.aggregate = if crate::commands::is(v, "sum") {
                Aggregate::Sum
            } else if crate::commands::is(v, "min") {
                Aggregate::Min
            } else if crate::commands::is(v, "max") {
                Aggregate::Max
            } else {
                return Err(CommandError::Syntax);
            };
            i += 2;
        } else if !store && crate::commands::is(a, "withscores") {
            o.withscores = true;
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(o)
}

fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn combine(a: f64, b: f64, how: Aggregate) -> f64 {
    match how {
        Aggregate::Sum => {
            let s = a + b;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    }
}

fn scored(s: &Source) -> Vec<(Bytes, f64)> {
    match s {
        Source::Set(m) => m.iter().map(|m| (m.clone(), 1.0)).collect(),
        Source::ZSet(p) => p.clone(),
        _ => Vec::new(),
    }
}

/// ZUNION / ZINTER / ZDIFF: the result sorted by (score, member).
pub fn zset_op(op: &str, sources: &[Source], o: &ZOptions) -> Vec<(Bytes, f64)> {
    let mut out: Vec<(Bytes, f64)> = match op {
        "union" => {
            let mut acc: AHashMap<Bytes, f64> = AHashMap::new();
            for (i, s) in sources.iter().enumerate() {
                for (m, sc) in scored(s) {
                    let v = weighted(sc, o.weights[i]);
                    acc.entry(m)
                        .and_modify(|cur| *cur = combine(*cur, v, o.aggregate))
                        .or_insert(v);
                }
            }
            acc.into_iter().collect()
        }
        "inter" => {
            if sources.contains(&Source::Missing) {
                return Vec::new();
            }
            let maps: Vec<AHashMap<Bytes, f64>> = sources
                .iter()
                .map(|s| scored(s).into_iter().collect())
                .collect();
            let Some(first) = maps.first() else {
                return Vec::new();
            };
            first
                .iter()
                .filter_map(|(m, &sc)| {
                    let mut v = weighted(sc, o.weights[0]);
                    for (i, other) in maps.iter().enumerate().skip(1) {
                        v = combine(v, weighted(*other.get(m)?, o.weights[i]), o.aggregate);
                    }
                    Some((m.clone(), v))
                })
                .collect()
        }
        _ => {
            let Some((first, rest)) = sources.split_first() else {
                return Vec::new();
            };
            let rest: AHashSet<Bytes> = rest
                .iter()
                .flat_map(|s| scored(s).into_iter().map(|p| p.0))
                .collect();
            scored(first)
                .into_iter()
                .filter(|(m, _)| !rest.contains(m))
                .collect()
        }
    };
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Parses a `numkeys` argument the way each command family words its errors.
pub fn parse_numkeys(arg: &[u8], cmd: &str, available: usize) -> Result<usize> {
    let zfamily = matches!(
        cmd,
        "zunion" | "zinter" | "zdiff" | "zunionstore" | "zinterstore" | "zdiffstore"
    );
    let n = match arg_i64(arg) {
        Ok(n) => n,
        Err(_) if zfamily => return Err(CommandError::NotInteger),
        Err(_) => return Err(CommandError::other(text::NUMKEYS_NOT_POSITIVE)),
    };
    if n <= 0 {
        return Err(if zfamily {
            CommandError::no_input_keys(cmd)
        } else {
            CommandError::other(text::NUMKEYS_NOT_POSITIVE)
        });
    }
    if n as usize > available {
        return Err(if cmd == "sintercard" {
            CommandError::other(text::NUMKEYS_TOO_MANY)
        } else {
            CommandError::Syntax
        });
    }
    Ok(n as usize)
}

/// Parses `[LIMIT limit]` (SINTERCARD, ZINTERCARD); 0 means no limit.
pub fn parse_limit(opts: &[Bytes]) -> Result<usize> {
    let mut limit = 0;
    let mut i = 0;
    while i < opts.len() {
        if crate::commands::is(&opts[i], "limit") && i + 1 < opts.len() {
            limit = match arg_i64(&opts[i + 1]) {
                Ok(n) if n >= 0 => n as usize,
                _ => return Err(CommandError::other(text::LIMIT_NEGATIVE)),
            };
            i += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn set(items: &[&str]) -> Source {
        Source::Set(items.iter().map(|s| b(s)).collect())
    }

    #[test]
    fn set_operations() {
        let a = set(&["a", "b", "c"]);
        let c = set(&["b", "c", "d"]);
        let mut inter = set_op("inter", &[a.clone(), c.clone()]);
        inter.sort();
        assert_eq!(inter, vec![b("b"), b("c")]);
        assert!(set_op("inter", &[a.clone(), Source::Missing]).is_empty());
        assert_eq!(set_op("union", &[a.clone(), c.clone()]).len(), 4);
        assert_eq!(set_op("diff", &[a, c]), vec![b("a")]);
    }

    #[test]
    fn zset_operations_weights_and_aggregates() {
        let x = Source::ZSet(vec![(b("a"), 1.0), (b("b"), 2.0)]);
        let y = Source::ZSet(vec![(b("b"), 3.0), (b("c"), 4.0)]);
        let mut o = parse_zoptions(&[], 2, false, false).unwrap();
        assert_eq!(
            zset_op("union", &[x.clone(), y.clone()], &o),
            vec![(b("a"), 1.0), (b("c"), 4.0), (b("b"), 5.0)]
        );
        o.aggregate = Aggregate::Max;
        assert_eq!(
            zset_op("inter", &[x.clone(), y.clone()], &o),
            vec![(b("b"), 3.0)]
        );
        o.weights = vec![2.0, 0.0];
        o.aggregate = Aggregate::Sum;
        assert_eq!(
            zset_op("inter", &[x.clone(), y.clone()], &o),
            vec![(b("b"), 4.0)]
        );
        assert_eq!(zset_op("diff", &[x, y], &o), vec![(b("a"), 1.0)]);
        let inf = Source::ZSet(vec![(b("a"), f64::INFINITY)]);
        let ninf = Source::ZSet(vec![(b("a"), f64::NEG_INFINITY)]);
        let o = parse_zoptions(&[], 2, false, false).unwrap();
        assert_eq!(
            zset_op("union", &[inf, ninf], &o),
            vec![(b("a"), 0.0)],
            "inf + -inf is 0"
        );
    }

    #[test]
    fn option_errors() {
        assert!(parse_zoptions(&[b("weights"), b("1")], 2, false, false).is_err());
        assert!(parse_zoptions(&[b("weights"), b("1")], 1, true, false).is_err());
        assert!(parse_zoptions(&[b("withscores")], 1, false, true).is_err());
        assert_eq!(
            parse_numkeys(b"0", "zunion", 3).unwrap_err().text(),
            "ERR at least 1 input key is needed for 'zunion' command"
        );
        assert_eq!(
            parse_numkeys(b"5", "sintercard", 1).unwrap_err().text(),
            "ERR Number of keys can't be greater than number of args"
        );
        assert_eq!(
            parse_limit(&[b("limit"), b("-1")]).unwrap_err().text(),
            "ERR LIMIT can't be negative"
        );
    }
}
