//! SORT and SORT_RO.
//!
//! SORT runs in phases so that the same code serves a sort on one shard and one whose
//! BY and GET patterns name keys on any shard:
//!
//! 1. [`parse`] the options; [`load`] the elements on the key's shard (a list or a
//!    sorted set in its own order, reversed for `BY nosort DESC`; a set in byte order);
//! 2. [`by_lookups`] names the keys (and hash fields) BY reads; they are fetched
//!    ([`fetch`]) on their shards, then [`order`] sorts and applies LIMIT;
//! 3. [`get_lookups`] names what GET reads for the chosen elements; after a second
//!    fetch [`output`] builds the reply, or the list STORE writes ([`store`]).
//!
//! On one shard (no pattern with `*`) every phase runs in the shard's transaction
//! ([`sort_here`]). Otherwise the command holds every shard
//! ([`crate::commands::Command::reads_any_key`]) and the coordinator fetches each
//! shard's keys in one call, so SORT sees all of them at one instant, as in Redis.

use std::cmp::Ordering;

use bytes::Bytes;

use super::{hashes, lists, sets, zsets};
use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, is, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::protocol::Reply;
use crate::storage::encoding::ValueType;

type Result<T> = std::result::Result<T, CommandError>;

/// A key (and hash field) that a BY or GET pattern names for one element.
pub type Lookup = (Bytes, Option<Bytes>);

/// SORT's options.
#[derive(Debug, Clone, Default)]
pub struct Sort {
    /// BY's pattern when it has a `*` (a pattern without one means: do not sort).
    by: Option<Bytes>,
    dont_sort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    /// STORE's destination.
    pub store: Option<Bytes>,
}

/// Parses SORT's (or, with `read_only`, SORT_RO's: no STORE) options.
pub fn parse(args: &[Bytes], read_only: bool) -> Result<Sort> {
    let mut s = Sort::default();
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let opt = &args[j];
        if is(opt, "asc") {
            s.desc = false;
        } else if is(opt, "desc") {
            s.desc = true;
        } else if is(opt, "alpha") {
            s.alpha = true;
        } else if is(opt, "limit") && left >= 2 {
            s.limit = Some((arg_i64(&args[j + 1])?, arg_i64(&args[j + 2])?));
            j += 2;
        } else if is(opt, "store") && left >= 1 && !read_only {
            s.store = Some(args[j + 1].clone());
            j += 1;
        } else if is(opt, "by") && left >= 1 {
            let pattern = &args[j + 1];
            if pattern.contains(&b'*') {
                s.by = Some(pattern.clone());
                s.dont_sort = false;
            } else {
                s.by = None;
                s.dont_sort = true;
            }
            j += 1;
        } else if is(opt, "get") && left >= 1 {
            s.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    Ok(s)
}

/// Whether SORT's arguments have a BY or GET pattern that names other keys (one with
/// a `*`): such a SORT may read any key, so it holds every shard.
pub fn reads_patterns(args: &[Bytes]) -> bool {
    args.windows(2)
        .skip(2)
        .any(|w| (is(&w[0], "by") || is(&w[0], "get")) && w[1].contains(&b'*'))
}

/// Where STORE's destination is among SORT's arguments, found as Redis's
/// `sortGetKeys` finds it: LIMIT's, GET's and BY's arguments are skipped, the last
/// STORE counts, and its argument is looked at as an option too (so in `STORE store
/// d` it is `d`; SORT itself then refuses the extra word).
pub fn store_position(args: &[Bytes]) -> Option<usize> {
    let mut found = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "limit") {
            i += 2;
        } else if is(a, "get") || is(a, "by") {
            i += 1;
        } else if is(a, "store") && i + 1 < args.len() {
            found = Some(i + 1);
        }
        i += 1;
    }
    found
}

/// STORE's destination among SORT's arguments ([`store_position`]).
pub fn store_key(args: &[Bytes]) -> Option<&Bytes> {
    store_position(args).map(|p| &args[p])
}

/// The elements to sort, as [`load`] reads them.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// In the order SORT starts from.
    pub items: Vec<Bytes>,
    /// The options, as the key's type settles them.
    pub sort: Sort,
}

/// Reads the elements of the list, set or sorted set at `key` (WRONGTYPE for other
/// types; a missing key sorts as an empty list).
pub fn load(tx: &mut Tx<'_>, key: &[u8], mut sort: Sort) -> Result<Loaded> {
    let kind = tx.get(key)?.map(|v| v.kind);
    let items = match kind {
        None => Vec::new(),
        Some(ValueType::List) => lists::elements(tx, key)?.unwrap_or_default(),
        Some(ValueType::ZSet) => zsets::ranked(tx, key)?.unwrap_or_default(),
        Some(ValueType::Set) => sets::member_list(tx, key)?.unwrap_or_default(),
        Some(_) => return Err(CommandError::WrongType),
    };
    let mut items = items;
    if kind == Some(ValueType::Set) && sort.dont_sort && sort.store.is_some() {
        // A set has no order of its own: what STORE writes is sorted, as in Redis.
        sort.dont_sort = false;
        sort.alpha = true;
        sort.by = None;
    }
    if sort.dont_sort && sort.desc && kind != Some(ValueType::Set) {
        items.reverse();
    }
    Ok(Loaded { items, sort })
}

/// The key, and hash field, that `pattern` names for `element`: the first `*` is
/// replaced by the element, and `->field` after it reads a hash field. `None` for a
/// pattern with no `*` (and for `#`, which is the element itself).
fn pattern_key(pattern: &[u8], element: &[u8]) -> Option<Lookup> {
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&at| at + 2 < after.len());
    let (suffix, field) = match arrow {
        Some(at) => (&after[..at], Some(Bytes::copy_from_slice(&after[at + 2..]))),
        None => (after, None),
    };
    let key = [&pattern[..star], element, suffix].concat();
    Some((Bytes::from(key), field))
}

/// What BY reads: one lookup per element (none when BY has no pattern).
pub fn by_lookups(l: &Loaded) -> Vec<Lookup> {
    match (&l.sort.by, l.sort.dont_sort) {
        (Some(by), false) => l.items.iter().filter_map(|e| pattern_key(by, e)).collect(),
        _ => Vec::new(),
    }
}

/// Reads `lookups` on this shard: a string's value, a hash field's value, or `None`
/// (missing, or another type).
pub fn fetch(tx: &mut Tx<'_>, lookups: &[Lookup]) -> Result<Vec<Option<Bytes>>> {
    let mut out = Vec::with_capacity(lookups.len());
    for (key, field) in lookups {
        out.push(match field {
            Some(f) => hashes::field_if_hash(tx, key, f)?,
            None => match tx.get_string(key) {
                Ok(v) => v.map(|v| v.payload),
                Err(CommandError::WrongType) => None,
                Err(e) => return Err(e),
            },
        });
    }
    Ok(out)
}

/// A weight as Redis's `strtod` reads it: leading spaces allowed, the whole rest a
/// number (an empty rest is 0); NaN and out-of-range values are errors.
fn weight(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    if s.is_empty() {
        return Some(0.0);
    }
    let v: f64 = s.parse().ok()?;
    let spelled_inf = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if v.is_nan() || (v.is_infinite() && !spelled_inf.starts_with("inf")) {
        return None;
    }
    Some(v)
}

/// The start and end (inclusive) of LIMIT over `len` elements; empty when end < start.
fn window(limit: Option<(i64, i64)>, len: usize) -> (i64, i64) {
    let len = len as i64;
    let (offset, count) = limit.unwrap_or((0, -1));
    let mut start = offset.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// Sorts (unless BY says not to) and applies LIMIT. `by_values` are the fetched
/// values of [`by_lookups`], in order.
pub fn order(l: Loaded, by_values: &[Option<Bytes>]) -> Result<(Sort, Vec<Bytes>)> {
    let Loaded { mut items, sort } = l;
    if !sort.dont_sort {
        let keyed: Vec<Option<Bytes>> = match &sort.by {
            Some(_) => by_values.to_vec(),
            None => items.iter().cloned().map(Some).collect(),
        };
        let mut rows: Vec<(Bytes, Option<Bytes>, f64)> = Vec::with_capacity(items.len());
        for (item, key) in items.into_iter().zip(keyed) {
            let score = match (&key, sort.alpha) {
                (_, true) | (None, false) => 0.0,
                (Some(k), false) => {
                    weight(k).ok_or_else(|| CommandError::other(text::SORT_NOT_DOUBLE))?
                }
            };
            rows.push((item, key, score));
        }
        let by_pattern = sort.by.is_some();
        rows.sort_by(|a, b| {
            let cmp = if !sort.alpha {
                a.2.partial_cmp(&b.2)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.0.cmp(&b.0))
            } else if by_pattern {
                // A missing BY value sorts first; equal values keep their order.
                a.1.cmp(&b.1)
            } else {
                a.0.cmp(&b.0)
            };
            if sort.desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
        items = rows.into_iter().map(|r| r.0).collect();
    }
    let (start, end) = window(sort.limit, items.len());
    let chosen = if start > end || items.is_empty() {
        Vec::new()
    } else {
        items[start as usize..=end as usize].to_vec()
    };
    Ok((sort, chosen))
}

/// What GET reads for the chosen elements: for each element, each GET pattern with a
/// `*`, in order.
pub fn get_lookups(sort: &Sort, chosen: &[Bytes]) -> Vec<Lookup> {
    chosen
        .iter()
        .flat_map(|e| sort.gets.iter().filter_map(|g| pattern_key(g, e)))
        .collect()
}

/// The values SORT returns (or stores): each element, or for each element each GET
/// pattern's value (`#` is the element, a missing value is `None`).
pub fn output(
    sort: &Sort,
    chosen: Vec<Bytes>,
    get_values: Vec<Option<Bytes>>,
) -> Vec<Option<Bytes>> {
    if sort.gets.is_empty() {
        return chosen.into_iter().map(Some).collect();
    }
    let mut fetched = get_values.into_iter();
    let mut out = Vec::with_capacity(chosen.len() * sort.gets.len());
    for e in &chosen {
        for g in &sort.gets {
            out.push(if g.as_ref() == b"#" {
                Some(e.clone())
            } else if g.contains(&b'*') {
                fetched.next().flatten()
            } else {
                None
            });
        }
    }
    out
}

/// SORT's reply when it does not store.
pub fn reply(values: Vec<Option<Bytes>>) -> Reply {
    Reply::Array(
        values
            .into_iter()
            .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
            .collect(),
    )
}

/// STORE: replaces `dest` with a list of `values` (a missing value is an empty
/// string), or deletes it when there are none. Returns the list's length.
pub fn store(tx: &mut Tx<'_>, dest: &[u8], values: Vec<Option<Bytes>>) -> Result<Reply> {
    let items: Vec<Bytes> = values.into_iter().map(Option::unwrap_or_default).collect();
    if items.is_empty() {
        if tx.delete(dest)? {
            tx.notify(notify::GENERIC, "del", dest);
        }
        return Ok(Reply::Int(0));
    }
    tx.remove(dest);
    lists::push_elements(tx, dest, &items, false)?;
    tx.notify(notify::LIST, "sortstore", dest);
    Ok(Reply::Int(items.len() as i64))
}

fn sort_on_shard(tx: &mut Tx<'_>, args: &[Bytes], read_only: bool) -> Result<Reply> {
    let loaded = load(tx, &args[1], parse(args, read_only)?)?;
    let by = fetch(tx, &by_lookups(&loaded))?;
    let (sort, chosen) = order(loaded, &by)?;
    let got = fetch(tx, &get_lookups(&sort, &chosen))?;
    let values = output(&sort, chosen, got);
    match &sort.store {
        Some(dest) => store(tx, dest, values),
        None => Ok(reply(values)),
    }
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination], when it reads no key by pattern and stores on this shard.
pub fn sort_here(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    sort_on_shard(tx, args, false)
}

/// SORT_RO: SORT without STORE.
pub fn sort_ro_here(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    sort_on_shard(tx, args, true)
}

/// The SORT commands and where each runs, for the command table.
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("sort", Kind::Coordinated(Coord::Sort, Some(sort_here))),
    (
        "sort_ro",
        Kind::Coordinated(Coord::Sort, Some(sort_ro_here)),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_keys_and_fields() {
        let k = |p: &str, e: &str| pattern_key(p.as_bytes(), e.as_bytes());
        assert_eq!(k("w_*", "3"), Some((Bytes::from("w_3"), None)));
        assert_eq!(
            k("h_*->f", "3"),
            Some((Bytes::from("h_3"), Some(Bytes::from("f"))))
        );
        assert_eq!(k("h_*->", "3"), Some((Bytes::from("h_3->"), None)));
        assert_eq!(k("a->b*c", "x"), Some((Bytes::from("a->bxc"), None)));
        assert_eq!(k("nostar", "x"), None);
    }

    #[test]
    fn weights_read_like_strtod() {
        assert_eq!(weight(b" 1.5"), Some(1.5));
        assert_eq!(weight(b""), Some(0.0));
        assert_eq!(weight(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(weight(b"1e400"), None);
        assert_eq!(weight(b"nan"), None);
        assert_eq!(weight(b"1x"), None);
    }

    #[test]
    fn limit_windows() {
        assert_eq!(window(None, 5), (0, 4));
        assert_eq!(window(Some((1, 2)), 5), (1, 2));
        assert_eq!(window(Some((-3, 2)), 5), (0, 1));
        assert_eq!(window(Some((7, 2)), 5), (4, 3));
        assert_eq!(window(Some((2, -1)), 5), (2, 4));
        assert_eq!(window(Some((0, 0)), 5), (0, -1));
        assert_eq!(window(None, 0), (-1, -2));
    }

    #[test]
    fn reads_patterns_only_with_a_star() {
        let a = |s: &str| {
            s.split(' ')
                .map(|w| Bytes::from(w.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(reads_patterns(&a("SORT k BY w_*")));
        assert!(reads_patterns(&a("SORT k GET # GET h_*->f")));
        assert!(!reads_patterns(&a("SORT k BY nosort GET #")));
        assert!(!reads_patterns(&a("SORT k LIMIT 0 1")));
    }
}
