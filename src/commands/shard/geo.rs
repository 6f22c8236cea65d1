//! Geo commands on sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS, GEORADIUS,
//! GEORADIUSBYMEMBER (and their `_RO` forms), GEOSEARCH and GEOSEARCHSTORE.
//! Storage side: each runs on the shard of its source key; a STORE destination on
//! another shard is written by the coordinator with the results ([`Found::Store`]).
//!
//! A position is a sorted-set member whose score is the 52-bit interleaved geohash
//! ([`crate::geo::encode`]). A search asks [`crate::geo::search_ranges`] for the score
//! ranges of the nine cells around the centre, scans each in (score, member) order,
//! keeps the points [`crate::geo::contains`] accepts, then sorts by distance if asked
//! (stably, so equal distances keep the scan order Redis's merge sort keeps).

use bytes::Bytes;

use super::zsets;
use crate::commands::table::{Coord, Kind};
use crate::commands::{arg_i64, is, parse_float, CommandError, Tx};
use crate::config::notify;
use crate::error::text;
use crate::geo::{self, Shape};
use crate::protocol::Reply;

type Result<T> = std::result::Result<T, CommandError>;

fn float_or(arg: &[u8], message: &'static str) -> Result<f64> {
    parse_float(arg).ok_or_else(|| CommandError::other(message))
}

fn unit(arg: &[u8]) -> Result<f64> {
    geo::unit_factor(arg).ok_or_else(|| CommandError::other(text::GEO_UNIT))
}

/// A longitude and latitude argument pair, checked against the geohash limits.
fn lon_lat(args: &[Bytes]) -> Result<(f64, f64)> {
    let lon = parse_float(&args[0]).ok_or(CommandError::NotFloat)?;
    let lat = parse_float(&args[1]).ok_or(CommandError::NotFloat)?;
    if !geo::is_valid(lon, lat) {
        return Err(CommandError::geo_pair(lon, lat));
    }
    Ok((lon, lat))
}

/// `radius unit`.
fn radius(args: &[Bytes]) -> Result<Shape> {
    let r = float_or(&args[0], text::GEO_NEED_RADIUS)?;
    if r < 0.0 {
        return Err(CommandError::other(text::GEO_RADIUS_NEGATIVE));
    }
    Ok(Shape::Radius {
        radius: r,
        unit: unit(&args[1])?,
    })
}

/// `width height unit`.
fn bybox(args: &[Bytes]) -> Result<Shape> {
    let width = float_or(&args[0], text::GEO_NEED_WIDTH)?;
    let height = float_or(&args[1], text::GEO_NEED_HEIGHT)?;
    if width < 0.0 || height < 0.0 {
        return Err(CommandError::other(text::GEO_BOX_NEGATIVE));
    }
    Ok(Shape::Box {
        width,
        height,
        unit: unit(&args[2])?,
    })
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: a ZADD of geohash scores.
pub fn geoadd(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut at = 2;
    let (mut nx, mut xx) = (false, false);
    while at < args.len() {
        let opt = &args[at];
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if !is(opt, "ch") {
            break;
        }
        at += 1;
    }
    if !(args.len() - at).is_multiple_of(3) || (nx && xx) {
        return Err(CommandError::Syntax);
    }
    let mut zadd: Vec<Bytes> = Vec::with_capacity(at + (args.len() - at) / 3 * 2);
    zadd.push(Bytes::from_static(b"zadd"));
    zadd.extend_from_slice(&args[1..at]);
    for triple in args[at..].chunks_exact(3) {
        let (lon, lat) = lon_lat(triple)?;
        let bits = geo::encode(lon, lat).unwrap_or(0);
        zadd.push(Bytes::from(bits.to_string()));
        zadd.push(triple[2].clone());
    }
    zsets::zadd(tx, &zadd)
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
pub fn geodist(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let factor = match args.len() {
        4 => 1.0,
        5 => unit(&args[4])?,
        _ => return Err(CommandError::Syntax),
    };
    let key = &args[1];
    let a = zsets::member_score(tx, key, &args[2])?;
    let b = zsets::member_score(tx, key, &args[3])?;
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(Reply::Nil);
    };
    let ((lon1, lat1), (lon2, lat2)) = (geo::decode(a), geo::decode(b));
    let d = geo::distance(lon1, lat1, lon2, lat2) / factor;
    Ok(Reply::Bulk(Bytes::from(geo::format_distance(d))))
}

/// GEOHASH key [member ...]
pub fn geohash(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut out = Vec::with_capacity(args.len() - 2);
    for member in &args[2..] {
        out.push(match zsets::member_score(tx, &args[1], member)? {
            Some(score) => Reply::bulk(&geo::score_hash_string(score)),
            None => Reply::Nil,
        });
    }
    // A missing key still gets its type checked, as in Redis.
    if args.len() == 2 {
        zsets::member_score(tx, &args[1], b"")?;
    }
    Ok(Reply::Array(out))
}

fn coords(lon: f64, lat: f64) -> Reply {
    Reply::Array(vec![
        Reply::DoubleText(geo::format_coord(lon)),
        Reply::DoubleText(geo::format_coord(lat)),
    ])
}

/// GEOPOS key [member ...]
pub fn geopos(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    let mut out = Vec::with_capacity(args.len() - 2);
    for member in &args[2..] {
        out.push(match zsets::member_score(tx, &args[1], member)? {
            Some(score) => {
                let (lon, lat) = geo::decode(score);
                coords(lon, lat)
            }
            None => Reply::NilArray,
        });
    }
    if args.len() == 2 {
        zsets::member_score(tx, &args[1], b"")?;
    }
    Ok(Reply::Array(out))
}

/// Which search command runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS[_RO] key lon lat radius unit ...
    ByCoords { store: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    ByMember { store: bool },
    /// GEOSEARCH key ... / GEOSEARCHSTORE dest key ...
    Search { store: bool },
}

impl Form {
    fn of(name: &[u8]) -> Form {
        let ro = name.len() > 3 && is(&name[name.len() - 3..], "_ro");
        if is(name, "geosearch") {
            Form::Search { store: false }
        } else if is(name, "geosearchstore") {
            Form::Search { store: true }
        } else if name.len() >= 17 && is(&name[..17], "georadiusbymember") {
            Form::ByMember { store: !ro }
        } else {
            Form::ByCoords { store: !ro }
        }
    }
}

/// A found point.
struct Point {
    dist: f64,
    score: f64,
    member: Bytes,
    lon: f64,
    lat: f64,
}

/// What a search gives: a reply, or the entries its STORE writes.
pub enum Found {
    /// The reply to send.
    Reply(Reply),
    /// STORE / STOREDIST / GEOSEARCHSTORE: replace `dest` with these entries.
    Store {
        /// The destination key.
        dest: Bytes,
        /// `(score, member)`: the geohash, or the distance with STOREDIST.
        entries: Vec<(f64, Bytes)>,
        /// The event a non-empty store records.
        event: &'static str,
    },
}

/// The STORE destination of GEORADIUS / GEORADIUSBYMEMBER, for routing (the last
/// STORE or STOREDIST with an argument, skipping COUNT's).
pub fn store_key(args: &[Bytes]) -> Option<&Bytes> {
    let base = if Form::of(&args[0]) == (Form::ByMember { store: true }) {
        5
    } else {
        6
    };
    let mut found = None;
    let mut i = base;
    while i < args.len() {
        let a = &args[i];
        if is(a, "count") {
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && i + 1 < args.len() {
            found = Some(&args[i + 1]);
            i += 1;
        }
        i += 1;
    }
    found
}

/// Parses and runs a search on the source key's shard (Redis's `georadiusGeneric`,
/// with its order of checks and errors).
pub fn search(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Found> {
    let form = Form::of(&args[0]);
    let src_at = if form == (Form::Search { store: true }) {
        2
    } else {
        1
    };
    let key = &args[src_at];
    // The type is checked first.
    zsets::member_score(tx, key, b"")?;
    let exists = tx.get(key)?.is_some();
    let mut center = None;
    let mut shape = None;
    let mut store: Option<(Bytes, bool)> = None;
    let base = match form {
        Form::ByCoords { .. } => {
            center = Some(lon_lat(&args[2..4])?);
            shape = Some(radius(&args[4..6])?);
            6
        }
        Form::ByMember { .. } if !exists => 5,
        Form::ByMember { .. } => {
            center = Some(member_position(tx, key, &args[2])?);
            shape = Some(radius(&args[3..5])?);
            5
        }
        Form::Search { store: s } => {
            if s {
                store = Some((args[1].clone(), false));
            }
            src_at + 1
        }
    };
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let mut sort: Option<bool> = None; // Some(true): descending
    let mut count: i64 = 0;
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let searching = matches!(form, Form::Search { .. });
    let may_store = matches!(
        form,
        Form::ByCoords { store: true } | Form::ByMember { store: true }
    );
    let mut i = base;
    while i < args.len() {
        let left = args.len() - i - 1;
        let a = &args[i];
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Some(false);
        } else if is(a, "desc") {
            sort = Some(true);
        } else if is(a, "count") && left >= 1 {
            count = arg_i64(&args[i + 1])?;
            if count <= 0 {
                return Err(CommandError::other(text::GEO_COUNT));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && may_store {
            store = Some((args[i + 1].clone(), is(a, "storedist")));
            i += 1;
        } else if is(a, "storedist") && form == (Form::Search { store: true }) {
            store = store.map(|(k, _)| (k, true));
        } else if is(a, "frommember") && left >= 1 && searching && !from_lonlat {
            if exists {
                center = Some(member_position(tx, key, &args[i + 1])?);
            }
            from_member = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && searching && !from_member {
            center = Some(lon_lat(&args[i + 1..i + 3])?);
            from_lonlat = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && searching && !by_box {
            shape = Some(radius(&args[i + 1..i + 3])?);
            by_radius = true;
            i += 2;
        } else if is(a, "bybox") && left >= 3 && searching && !by_radius {
            shape = Some(bybox(&args[i + 1..i + 4])?);
            by_box = true;
            i += 3;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    let name = String::from_utf8_lossy(&args[0]);
    if store.is_some() && (withdist || withhash || withcoord) {
        let what = if form == (Form::Search { store: true }) {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CommandError::geo_store_with(what));
    }
    if searching && !(from_member || from_lonlat) {
        return Err(CommandError::geo_one_center(&name));
    }
    if searching && !(by_radius || by_box) {
        return Err(CommandError::geo_one_shape(&name));
    }
    if any && count == 0 {
        return Err(CommandError::other(text::GEO_ANY_NEEDS_COUNT));
    }
    let event = if searching {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let (Some((clon, clat)), Some(shape), true) = (center, shape, exists) else {
        return Ok(match store {
            Some((dest, _)) => Found::Store {
                dest,
                entries: Vec::new(),
                event,
            },
            None => Found::Reply(Reply::Array(Vec::new())),
        });
    };
    if count != 0 && sort.is_none() && !any {
        sort = Some(false);
    }
    let limit = if any { count as usize } else { 0 };
    let mut points: Vec<Point> = Vec::new();
    for (min, max) in geo::search_ranges(&shape, clon, clat) {
        if limit > 0 && points.len() >= limit {
            break;
        }
        zsets::scan_scores(tx, key, min as f64, max as f64, |score, member| {
            let (lon, lat) = geo::decode(score);
            if let Some(dist) = geo::contains(&shape, clon, clat, lon, lat) {
                points.push(Point {
                    dist,
                    score,
                    member: Bytes::copy_from_slice(member),
                    lon,
                    lat,
                });
            }
            !(limit > 0 && points.len() >= limit)
        })?;
    }
    if let Some(desc) = sort {
        points.sort_by(|a, b| {
            let o = a
                .dist
                .partial_cmp(&b.dist)
                .unwrap_or(std::cmp::Ordering::Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    if count > 0 {
        points.truncate(count as usize);
    }
    let factor = shape.unit();
    if let Some((dest, storedist)) = store {
        let entries = points
            .into_iter()
            .map(|p| {
                let score = if storedist { p.dist / factor } else { p.score };
                (score, p.member)
            })
            .collect();
        return Ok(Found::Store {
            dest,
            entries,
            event,
        });
    }
    let options = withdist || withhash || withcoord;
    let items = points
        .into_iter()
        .map(|p| {
            if !options {
                return Reply::Bulk(p.member);
            }
            let mut item = vec![Reply::Bulk(p.member)];
            if withdist {
                item.push(Reply::Bulk(Bytes::from(geo::format_distance(
                    p.dist / factor,
                ))));
            }
            if withhash {
                item.push(Reply::Int(p.score as i64));
            }
            if withcoord {
                item.push(coords(p.lon, p.lat));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Found::Reply(Reply::Array(items)))
}

/// The position of `member` as a search centre.
fn member_position(tx: &mut Tx<'_>, key: &[u8], member: &[u8]) -> Result<(f64, f64)> {
    match zsets::member_score(tx, key, member)? {
        Some(score) => Ok(geo::decode(score)),
        None => Err(CommandError::other(text::GEO_MEMBER_UNKNOWN)),
    }
}

/// Writes a search's STORE: a sorted set of the entries (none: deletes `dest`).
pub fn store(
    tx: &mut Tx<'_>,
    dest: &[u8],
    entries: &[(f64, Bytes)],
    event: &'static str,
) -> Result<Reply> {
    let n = zsets::store_entries(tx, dest, entries)?;
    if n > 0 {
        tx.notify(notify::ZSET, event, dest);
    }
    Ok(Reply::Int(n))
}

/// A search with its STORE on the same shard (or none).
pub fn search_here(tx: &mut Tx<'_>, args: &[Bytes]) -> Result<Reply> {
    match search(tx, args)? {
        Found::Reply(r) => Ok(r),
        Found::Store {
            dest,
            entries,
            event,
        } => store(tx, &dest, &entries, event),
    }
}

/// The geo commands and where each runs, for the command table.
pub(crate) const COMMANDS: &[(&str, Kind)] = &[
    ("geoadd", Kind::Single(geoadd)),
    ("geodist", Kind::Single(geodist)),
    ("geohash", Kind::Single(geohash)),
    ("geopos", Kind::Single(geopos)),
    (
        "georadius",
        Kind::Coordinated(Coord::GeoStore, Some(search_here)),
    ),
    (
        "georadiusbymember",
        Kind::Coordinated(Coord::GeoStore, Some(search_here)),
    ),
    ("georadius_ro", Kind::Single(search_here)),
    ("georadiusbymember_ro", Kind::Single(search_here)),
    ("geosearch", Kind::Single(search_here)),
    (
        "geosearchstore",
        Kind::Coordinated(Coord::GeoStore, Some(search_here)),
    ),
];
