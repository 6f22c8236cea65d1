//! Geohash arithmetic as Redis 7.0 computes it (pure, std only).
//!
//! # The scheme
//!
//! A geo set is an ordinary sorted set whose scores are 52-bit geohashes.
//! The world is the rectangle of longitudes `[-180, 180]` and latitudes
//! `[-85.05112878, 85.05112878]` (the Web-Mercator limits; the poles are not
//! representable). Each axis is cut into `2^26` equal slices: a coordinate
//! becomes the index of its slice, computed as `(x - min) / (max - min) * 2^26`
//! in double precision and truncated. The two 26-bit indexes are interleaved
//! bit by bit, latitude on the even bit positions and longitude on the odd
//! ones, giving the score. Because of the interleaving, every prefix of a score
//! names a coarser cell: the first `2 * step` bits name a cell of the grid cut
//! `2^step` times on each axis, and all points inside that cell have scores in
//! one contiguous range.
//!
//! Decoding takes the cell a score names and answers its centre (clamped to the
//! world), which is why `GEOPOS` does not give back exactly what `GEOADD` got.
//!
//! A radius or box search picks a grid level (`step`) whose cells are about as
//! large as the search area, takes the cell holding the centre and its eight
//! neighbours, drops the neighbours that lie wholly outside the area's
//! bounding box, and scans each remaining cell's score range in a fixed order
//! (centre, N, S, E, W, NE, NW, SE, SW), keeping the points whose exact
//! distance passes the shape test. Without `ASC`/`DESC`, Redis replies in
//! that scan order, so [`search_ranges`] gives the ranges in that order.
//!
//! Distances are great-circle distances on a sphere of radius 6372797.560856
//! m, by the haversine formula, or by the plain meridian arc when the two
//! longitudes are equal (a shortcut Redis 7.0.15 takes, visible in the last
//! bit of `STOREDIST` scores).
//!
//! Every function here reproduces Redis's floating-point operations in the same
//! order, so that the bits (and therefore the printed digits and the edge
//! decisions) are the same. The reply formatting helpers ([`format_distance`],
//! [`format_coord`]) give Redis's bytes. Argument parsing and error replies
//! are the callers'; the functions here are total and never panic, whatever
//! the input (NaN, infinities, negative or huge sizes).

/// Smallest accepted longitude.
pub const LON_MIN: f64 = -180.0;
/// Largest accepted longitude.
pub const LON_MAX: f64 = 180.0;
/// Smallest accepted latitude (the Web-Mercator limit).
pub const LAT_MIN: f64 = -85.05112878;
/// Largest accepted latitude (the Web-Mercator limit).
pub const LAT_MAX: f64 = 85.05112878;
/// The precision of stored scores: 26 bits per axis, 52 bits in all.
pub const STEP_MAX: u8 = 26;
/// The earth radius Redis's distances use, in metres.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;

/// Half the equator's length in Web-Mercator metres, the bound the step
/// estimation doubles the radius up to.
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians, as Redis's `M_PI / 180.0`.
const DEG_TO_RAD: f64 = std::f64::consts::PI / 180.0;
/// Base-32 alphabet of standard geohash strings.
const GEOHASH_ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// Whether a longitude/latitude pair is inside the range Redis accepts
/// (`GEOADD`, `GEORADIUS`, `GEOSEARCH ... FROMLONLAT`). Bounds are inclusive.
/// NaN is rejected here; Redis never sees it because its number parser refuses
/// it first.
pub fn is_valid(lon: f64, lat: f64) -> bool {
    (LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// A closed interval of one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Interval {
    min: f64,
    max: f64,
}

/// The world's longitude axis, as Redis stores it.
const WORLD_LON: Interval = Interval {
    min: LON_MIN,
    max: LON_MAX,
};
/// The world's latitude axis, as Redis stores it.
const WORLD_LAT: Interval = Interval {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell of the grid at some level: the interleaved cell index and the
/// level (bits per axis). `bits == 0 && step == 0` marks an excluded cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cell {
    bits: u64,
    step: u8,
}

impl Cell {
    const NONE: Cell = Cell { bits: 0, step: 0 };

    fn is_none(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The 52-bit score range `[min, max)` of the points inside this cell.
    fn score_range(self) -> (u64, u64) {
        let shift = 52 - 2 * u32::from(self.step);
        (self.bits << shift, self.bits.wrapping_add(1) << shift)
    }
}

/// The rectangle a cell covers.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CellArea {
    lon: Interval,
    lat: Interval,
}

/// Spreads the 32 bits of `v` onto the even bit positions of a `u64`.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bit positions of `v` into a `u32` (inverse of [`spread`]).
fn gather(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Latitude index on the even bits, longitude index on the odd bits.
fn interleave(lat_index: u32, lon_index: u32) -> u64 {
    spread(lat_index) | (spread(lon_index) << 1)
}

/// Splits a score back into `(lat_index, lon_index)`.
fn deinterleave(bits: u64) -> (u32, u32) {
    (gather(bits), gather(bits >> 1))
}

/// C's `(uint32_t)` of a double on x86-64 (truncate to 64 bits, keep the low
/// 32). Only ever called with values in `[0, 2^26]`, but total anyway.
fn c_double_to_u32(x: f64) -> u32 {
    c_double_to_u64(x) as u32
}

/// C's `(uint64_t)` of a double as gcc compiles it on x86-64: values from
/// `2^63` up are reduced by `2^63` before the signed conversion and get the top
/// bit flipped back; whatever the signed conversion cannot represent (NaN, out
/// of range) becomes `0x8000_0000_0000_0000`. Negative values wrap.
fn c_double_to_u64(x: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    fn cvttsd2si(v: f64) -> u64 {
        if v.is_nan() || !(-TWO_63..TWO_63).contains(&v) {
            1 << 63
        } else {
            (v as i64) as u64
        }
    }
    if x >= TWO_63 {
        cvttsd2si(x - TWO_63) ^ (1 << 63)
    } else {
        cvttsd2si(x)
    }
}

/// Redis's `geohashEncode`: the cell at `step` holding the point, in a world
/// of the given axes. `None` when the point is outside the accepted range or
/// the axes, or the step is not in `1..=32`.
fn encode_in(lon_axis: Interval, lat_axis: Interval, lon: f64, lat: f64, step: u8) -> Option<Cell> {
    if step == 0 || step > 32 {
        return None;
    }
    if !is_valid(lon, lat) {
        return None;
    }
    if lat < lat_axis.min || lat > lat_axis.max || lon < lon_axis.min || lon > lon_axis.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_axis.min) / (lat_axis.max - lat_axis.min) * scale;
    let lon_offset = (lon - lon_axis.min) / (lon_axis.max - lon_axis.min) * scale;
    Some(Cell {
        bits: interleave(c_double_to_u32(lat_offset), c_double_to_u32(lon_offset)),
        step,
    })
}

/// Redis's `geohashDecode` in the stored world: the rectangle of a cell.
/// `None` for the excluded-cell marker.
fn decode_cell(cell: Cell) -> Option<CellArea> {
    if cell.is_none() {
        return None;
    }
    let (lat_index, lon_index) = deinterleave(cell.bits);
    let lat_scale = WORLD_LAT.max - WORLD_LAT.min;
    let lon_scale = WORLD_LON.max - WORLD_LON.min;
    // A step above 63 cannot be shifted; Redis never builds one (our steps
    // are at most 26), so any value will do.
    let cells = 1u64.checked_shl(u32::from(cell.step)).unwrap_or(0) as f64;
    let edge =
        |index: u32, axis: Interval, scale: f64| axis.min + (f64::from(index) / cells) * scale;
    Some(CellArea {
        lat: Interval {
            min: edge(lat_index, WORLD_LAT, lat_scale),
            max: edge(lat_index.wrapping_add(1), WORLD_LAT, lat_scale),
        },
        lon: Interval {
            min: edge(lon_index, WORLD_LON, lon_scale),
            max: edge(lon_index.wrapping_add(1), WORLD_LON, lon_scale),
        },
    })
}

/// The score `GEOADD` stores for a point: the 52-bit interleaved geohash at
/// step 26. `None` when the pair is not [`is_valid`] (the caller replies with
/// Redis's `ERR invalid longitude,latitude pair %f,%f` error before getting
/// here).
///
/// The points on the maximum longitude or latitude get an index of `2^26`,
/// one past the last cell, exactly as in Redis, so their scores exceed
/// `2^52` (for example `(180, 85.05112878)` is `3 * 2^52`). Redis hands the
/// integer to `ZADD` as text, so the sorted set holds `score as f64`, which
/// is rounded for the scores above `2^53` (longitude 180 only).
pub fn encode(lon: f64, lat: f64) -> Option<u64> {
    encode_in(WORLD_LON, WORLD_LAT, lon, lat, STEP_MAX).map(|cell| cell.bits)
}

/// The `(longitude, latitude)` a stored score stands for, as `GEOPOS`,
/// `WITHCOORD` and the distance computations use it: the centre of the score's
/// step-26 cell, clamped to the accepted range.
///
/// Takes the sorted-set score as the double it is, and converts it to an
/// integer the way Redis's C cast does on x86-64, so any score (negative,
/// fractional, huge, infinite) decodes to the same pair as in Redis.
pub fn decode(score: f64) -> (f64, f64) {
    let cell = Cell {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    // The step is non-zero, so this is never the excluded-cell marker.
    let area = decode_cell(cell).unwrap_or(CellArea {
        lon: WORLD_LON,
        lat: WORLD_LAT,
    });
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The 11-character standard geohash `GEOHASH` replies for a decoded position
/// (the output of [`decode`]): the point re-encoded at step 26 with the
/// standard latitude range `[-90, 90]`, written five bits a character; the
/// 11th character would need bits the score does not have and is always `'0'`.
/// `None` when the pair is not [`is_valid`] (never the case for a decoded
/// position).
pub fn hash_string(lon: f64, lat: f64) -> Option<[u8; 11]> {
    let lon_axis = Interval {
        min: -180.0,
        max: 180.0,
    };
    let lat_axis = Interval {
        min: -90.0,
        max: 90.0,
    };
    let cell = encode_in(lon_axis, lat_axis, lon, lat, STEP_MAX)?;
    let mut out = [b'0'; 11];
    for (i, byte) in out.iter_mut().take(10).enumerate() {
        let shift = 52 - (i as u32 + 1) * 5;
        *byte = GEOHASH_ALPHABET[((cell.bits >> shift) & 0x1f) as usize];
    }
    Some(out)
}

/// `GEOHASH`'s string for a stored score: [`decode`] then [`hash_string`].
pub fn score_hash_string(score: f64) -> [u8; 11] {
    let (lon, lat) = decode(score);
    // A decoded position is always valid; the fallback is unreachable.
    hash_string(lon, lat).unwrap_or([b'0'; 11])
}

fn deg_rad(deg: f64) -> f64 {
    deg * DEG_TO_RAD
}

fn rad_deg(rad: f64) -> f64 {
    rad / DEG_TO_RAD
}

/// The great-circle distance in metres between two points, by Redis's
/// haversine (`geohashGetDistance`), as `GEODIST` and `WITHDIST` report it.
///
/// When the two longitudes are the same (the haversine's longitude term is
/// zero) Redis takes the shortcut of the arc length along the meridian,
/// which can differ from the full formula in the last bit; so does this.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return meridian_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The distance in metres between two latitudes along a meridian (Redis's
/// `geohashGetLatDistance`).
fn meridian_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// The factor converting a distance in `unit` to metres (divide metres by it
/// to convert back): `m` 1, `km` 1000, `ft` 0.3048, `mi` 1609.34, compared
/// ASCII case-insensitively. Like Redis's C string comparison, the argument
/// ends at its first NUL byte. `None` for any other unit (Redis 7.0 then
/// replies `ERR unsupported unit provided. please use M, KM, FT, MI`).
pub fn unit_factor(unit: &[u8]) -> Option<f64> {
    let end = unit.iter().position(|&b| b == 0).unwrap_or(unit.len());
    let unit = &unit[..end];
    if unit.eq_ignore_ascii_case(b"m") {
        Some(1.0)
    } else if unit.eq_ignore_ascii_case(b"km") {
        Some(1000.0)
    } else if unit.eq_ignore_ascii_case(b"ft") {
        Some(0.3048)
    } else if unit.eq_ignore_ascii_case(b"mi") {
        Some(1609.34)
    } else {
        None
    }
}

/// The area of a radius or box search, in the unit the user gave with that
/// unit's factor to metres (see [`unit_factor`]). Redis keeps the two apart
/// and multiplies them at several places in different orders, so they are
/// kept apart here too for bit-exact results.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// `BYRADIUS radius unit` (and `GEORADIUS*`): a circle around the centre.
    Radius {
        /// The radius, in the user's unit.
        radius: f64,
        /// The unit's factor to metres.
        unit: f64,
    },
    /// `BYBOX width height unit`: an axis-aligned rectangle centred on the
    /// centre.
    Box {
        /// The full width (east-west), in the user's unit.
        width: f64,
        /// The full height (north-south), in the user's unit.
        height: f64,
        /// The unit's factor to metres.
        unit: f64,
    },
}

impl Shape {
    /// A circle of `m` metres.
    pub fn radius_m(m: f64) -> Shape {
        Shape::Radius {
            radius: m,
            unit: 1.0,
        }
    }

    /// A box of `w_m` by `h_m` metres.
    pub fn box_m(w_m: f64, h_m: f64) -> Shape {
        Shape::Box {
            width: w_m,
            height: h_m,
            unit: 1.0,
        }
    }

    /// The unit's factor to metres: divide a distance in metres (as
    /// [`contains`] gives it) by this before formatting `WITHDIST` or storing
    /// `STOREDIST`.
    pub fn unit(&self) -> f64 {
        match *self {
            Shape::Radius { unit, .. } | Shape::Box { unit, .. } => unit,
        }
    }
}

/// Redis's `geohashEstimateStepsByRadius`: the grid level whose cells are
/// roughly as large as the search radius, coarser near the poles.
fn estimate_step(radius_m: f64, lat: f64) -> u8 {
    if radius_m == 0.0 {
        return STEP_MAX;
    }
    let mut range = radius_m;
    let mut step: i32 = 1;
    // Redis loops until the doubled radius reaches the bound; a negative
    // radius (which Redis rejects earlier) would loop forever. Past step 30
    // the result is clamped to 26 whatever follows, so stopping there is the
    // same answer.
    while range < MERCATOR_MAX && step <= 30 {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if lat.abs() > 66.0 {
        step -= 1;
        if lat.abs() > 80.0 {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// Redis's `geohashBoundingBox`: `(min_lon, min_lat, max_lon, max_lat)` of
/// the search area around the centre.
fn bounding_box(shape: &Shape, lon: f64, lat: f64) -> (f64, f64, f64, f64) {
    let (half_height, half_width) = match *shape {
        Shape::Radius { radius, unit } => (unit * radius, unit * radius),
        Shape::Box {
            width,
            height,
            unit,
        } => (unit * (height / 2.0), unit * (width / 2.0)),
    };
    let lat_delta = rad_deg(half_height / EARTH_RADIUS_M);
    let lon_delta_top = rad_deg(half_width / EARTH_RADIUS_M / deg_rad(lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(half_width / EARTH_RADIUS_M / deg_rad(lat - lat_delta).cos());
    // The box's widest edge is the one nearer the equator.
    let lon_delta = if lat < 0.0 {
        lon_delta_bottom
    } else {
        lon_delta_top
    };
    (
        lon - lon_delta,
        lat - lat_delta,
        lon + lon_delta,
        lat + lat_delta,
    )
}

/// Redis's `geohashNeighbors` moves: shift a cell by `dx` columns (odd,
/// longitude bits) and `dy` rows (even, latitude bits), wrapping around.
fn move_cell(cell: Cell, dx: i8, dy: i8) -> Cell {
    let width = 64 - 2 * u32::from(cell.step);
    let lon_mask = 0xAAAA_AAAA_AAAA_AAAAu64 >> width;
    let lat_mask = 0x5555_5555_5555_5555u64 >> width;
    let mut lon = cell.bits & 0xAAAA_AAAA_AAAA_AAAA;
    let mut lat = cell.bits & 0x5555_5555_5555_5555;
    // Adding through the other axis's bits (all set to 1) carries from one
    // bit of this axis to the next.
    let shift = |v: u64, other: u64, d: i8| -> u64 {
        match d.signum() {
            1 => v.wrapping_add(other.wrapping_add(1)),
            -1 => (v | other).wrapping_sub(other.wrapping_add(1)),
            _ => v,
        }
    };
    if dx != 0 {
        lon = shift(lon, lat_mask, dx) & lon_mask;
    }
    if dy != 0 {
        lat = shift(lat, lon_mask, dy) & lat_mask;
    }
    Cell {
        bits: lon | lat,
        step: cell.step,
    }
}

/// Redis's `geohashCalculateAreasByShapeWGS84`: the centre cell followed by
/// its neighbours in scan order (N, S, E, W, NE, NW, SE, SW), useless ones
/// replaced by [`Cell::NONE`].
fn search_cells(shape: &Shape, lon: f64, lat: f64) -> Option<[Cell; 9]> {
    let (min_lon, min_lat, max_lon, max_lat) = bounding_box(shape, lon, lat);
    let radius_m = match *shape {
        Shape::Radius { radius, unit } => radius * unit,
        Shape::Box {
            width,
            height,
            unit,
        } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt() * unit,
    };
    let mut step = estimate_step(radius_m, lat);
    let mut center = encode_in(WORLD_LON, WORLD_LAT, lon, lat, step)?;

    // One step coarser when a side neighbour does not reach the bounding box.
    let reach = |cell: Cell, dx: i8, dy: i8| decode_cell(move_cell(cell, dx, dy));
    let north = reach(center, 0, 1)?;
    let south = reach(center, 0, -1)?;
    let east = reach(center, 1, 0)?;
    let west = reach(center, -1, 0)?;
    let too_small = north.lat.max < max_lat
        || south.lat.min > min_lat
        || east.lon.max < max_lon
        || west.lon.min > min_lon;
    if step > 1 && too_small {
        step -= 1;
        center = encode_in(WORLD_LON, WORLD_LAT, lon, lat, step)?;
    }
    let area = decode_cell(center)?;

    const MOVES: [(i8, i8); 8] = [
        (0, 1),   // north
        (0, -1),  // south
        (1, 0),   // east
        (-1, 0),  // west
        (1, 1),   // north-east
        (-1, 1),  // north-west
        (1, -1),  // south-east
        (-1, -1), // south-west
    ];
    let mut cells = [center; 9];
    for (slot, &(dx, dy)) in cells[1..].iter_mut().zip(MOVES.iter()) {
        *slot = move_cell(center, dx, dy);
    }
    if step >= 2 {
        let drop_south = area.lat.min < min_lat;
        let drop_north = area.lat.max > max_lat;
        let drop_west = area.lon.min < min_lon;
        let drop_east = area.lon.max > max_lon;
        for (slot, &(dx, dy)) in cells[1..].iter_mut().zip(MOVES.iter()) {
            let dropped = (dy < 0 && drop_south)
                || (dy > 0 && drop_north)
                || (dx < 0 && drop_west)
                || (dx > 0 && drop_east);
            if dropped {
                *slot = Cell::NONE;
            }
        }
    }
    Some(cells)
}

/// The sorted-set score ranges `[min, max)` a radius or box search around
/// `(center_lon, center_lat)` scans, in the order Redis scans them (Redis's
/// `membersOfAllNeighbors`): the centre cell, then the neighbours N, S, E, W,
/// NE, NW, SE, SW, leaving out those that cannot hold a match and each
/// neighbour equal to the neighbour scanned just before it (the repeats of
/// very coarse grids; like Redis, a neighbour is never compared with the
/// centre cell).
///
/// Scanning every range in this order, each in (score, member) order, and
/// keeping the members [`contains`] accepts gives the points of Redis's
/// unsorted reply in Redis's order. Redis's `COUNT n ANY` stops before
/// scanning a range, or inside one, as soon as `n` points were kept.
///
/// Empty when the centre is not [`is_valid`] (Redis validates it before).
pub fn search_ranges(shape: &Shape, center_lon: f64, center_lat: f64) -> Vec<(u64, u64)> {
    let Some(cells) = search_cells(shape, center_lon, center_lat) else {
        return Vec::new();
    };
    let mut ranges = Vec::with_capacity(cells.len());
    let mut last: Option<Cell> = None;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.is_none() {
            continue;
        }
        if last == Some(cell) {
            continue;
        }
        ranges.push(cell.score_range());
        // Redis tracks the last scanned slot by index and treats index 0 as
        // "nothing scanned yet", so the centre never counts as a previous one.
        if i != 0 {
            last = Some(cell);
        }
    }
    ranges
}

/// Redis's shape test for a decoded point (`geoWithinShape`): the distance in
/// metres from the centre when the point `(lon, lat)` is inside the shape,
/// `None` when it is not. For a radius, inside means a distance of at most the
/// radius; for a box, an east-west distance (measured along the point's
/// latitude) of at most half the width and a north-south distance of at most
/// half the height.
pub fn contains(
    shape: &Shape,
    center_lon: f64,
    center_lat: f64,
    lon: f64,
    lat: f64,
) -> Option<f64> {
    match *shape {
        Shape::Radius { radius, unit } => {
            let d = distance(center_lon, center_lat, lon, lat);
            // Written so NaN is outside, like Redis's `d > radius` reject.
            if d > radius * unit {
                None
            } else {
                Some(d)
            }
        }
        Shape::Box {
            width,
            height,
            unit,
        } => {
            let width_m = width * unit;
            let height_m = height * unit;
            if meridian_distance(lat, center_lat) > height_m / 2.0 {
                return None;
            }
            if distance(lon, lat, center_lon, lat) > width_m / 2.0 {
                return None;
            }
            Some(distance(center_lon, center_lat, lon, lat))
        }
    }
}

/// Formats like C's `printf("%.*f")` with glibc: exact decimal expansion,
/// round half to even, `inf`, `-inf`, `nan`, `-nan`.
fn c_fixed(x: f64, precision: usize) -> String {
    if x.is_nan() {
        if x.is_sign_negative() {
            "-nan".to_owned()
        } else {
            "nan".to_owned()
        }
    } else if x.is_infinite() {
        if x > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        }
    } else {
        // Rust's fixed-precision float formatting is exact and rounds ties
        // to even, the same as glibc's.
        format!("{x:.precision$}")
    }
}

/// A distance as `GEODIST` and `WITHDIST` reply it (Redis's
/// `addReplyDoubleDistance`): `%.4f`. Pass the distance already divided by
/// the unit factor.
pub fn format_distance(d: f64) -> String {
    c_fixed(d, 4)
}

/// A coordinate as `GEOPOS` and `WITHCOORD` reply it (Redis's
/// `addReplyHumanLongDouble`, in RESP2 a bulk string, in RESP3 the same text
/// as a double): `%.17Lf` of the value as a long double, then the trailing
/// zeros of the fraction and a bare trailing point removed, and `-0` turned
/// into `0`. Widening a double to a long double is exact, so this is the
/// exact decimal expansion of the double rounded to 17 decimals.
pub fn format_coord(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let mut s = c_fixed(x, 17);
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').len();
        s.truncate(trimmed);
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s
}

#[cfg(test)]
mod tests {
    //! Every expected value below was produced by redis-server 7.0.15
    //! (`redis-cli` / RESP2 replies, `ZSCORE` for stored scores).

    use super::*;

    #[test]
    fn validity_limits() {
        assert!(is_valid(180.0, 85.05112878));
        assert!(is_valid(-180.0, -85.05112878));
        assert!(!is_valid(180.000001, 0.0));
        assert!(!is_valid(0.0, 85.051129));
        assert!(!is_valid(0.0, -85.0511288));
        assert!(!is_valid(f64::NAN, 0.0));
        assert!(!is_valid(0.0, f64::INFINITY));
        assert_eq!(encode(181.0, 0.0), None);
        assert_eq!(encode(f64::NAN, f64::NAN), None);
        assert_eq!(hash_string(0.0, 86.0), None);
    }

    #[test]
    fn scores_positions_and_hashes() {
        // (lon, lat given to GEOADD, ZSCORE, GEOPOS lon, GEOPOS lat, GEOHASH)
        #[rustfmt::skip]
        let cases: &[(f64, f64, u64, &str, &str, &str)] = &[
            (13.361389, 38.115556, 3479099956230698, "13.36138933897018433", "38.11555639549629859", "sqc8b49rny0"),
            (15.087269, 37.502669, 3479447370796909, "15.08726745843887329", "37.50266842333162032", "sqdtr74hyu0"),
            (180.0, 85.05112878, 13510798882111488, "180", "85.0511287799999991", "bp05b5048p0"),
            (-180.0, -85.05112878, 0, "-179.99999731779098511", "-85.05112751263942528", "00bh0hbj200"),
            (0.0, 0.0, 3377699720527872, "0.00000268220901489", "0.00000126736058093", "s0000000000"),
            (-179.661263, 0.546137, 1125924509174934, "-179.66126114130020142", "0.54613735779407335", "8005peqtmp0"),
            (29.276733, 85.039, 3790426556963036, "29.27673250436782837", "85.03899887189197671", "uxhgf0ysj60"),
        ];
        for &(lon, lat, score, plon, plat, hash) in cases {
            assert_eq!(encode(lon, lat), Some(score), "{lon} {lat}");
            let (dlon, dlat) = decode(score as f64);
            assert_eq!(format_coord(dlon), plon, "{lon} {lat}");
            assert_eq!(format_coord(dlat), plat, "{lon} {lat}");
            assert_eq!(
                &score_hash_string(score as f64),
                hash.as_bytes(),
                "{lon} {lat}"
            );
        }
    }

    #[test]
    fn scores_above_2_pow_53_round_when_stored() {
        // GEOADD 180 -10.458662438661122: the score is 9376639461098753, which
        // the sorted set stores as the double 9376639461098752.
        assert_eq!(encode(180.0, -10.458662438661122), Some(9376639461098753));
        assert_eq!(
            encode(180.0, -10.458662438661122).map(|s| s as f64),
            Some(9376639461098752.0)
        );
    }

    #[test]
    fn decode_of_arbitrary_scores() {
        // ZADD w <score> x; GEOPOS w x; GEOHASH w x
        #[rustfmt::skip]
        let cases: &[(f64, &str, &str, &str)] = &[
            (-1.0, "180", "85.0511287799999991", "bp05b5048p0"),
            (-5.0, "180", "85.0511287799999991", "bp05b5048p0"),
            (1.0, "-179.99999731779098511", "-85.05112497791824921", "00bh0hbj210"),
            (0.5, "-179.99999731779098511", "-85.05112751263942528", "00bh0hbj200"),
            (-0.5, "-179.99999731779098511", "-85.05112751263942528", "00bh0hbj200"),
            (3.5, "-179.99999195337295532", "-85.05112497791824921", "00bh0hbj210"),
            (123456789.75, "-179.97304648160934448", "-85.01108145304303321", "00bh2s5ws10"),
            (4503599627370495.0, "179.99999731779098511", "85.05112751263942528", "zzpgzgpfxz0"),
            (4503599627370496.0, "-179.99999731779098511", "85.0511287799999991", "bp05b5048p0"),
            (9007199254740993.0, "180", "-85.05112751263942528", "00bh0hbj200"),
            (1e17, "180", "85.0511287799999991", "bp05b5048p0"),
            (9.223372036854776e18, "180", "-85.05112751263942528", "00bh0hbj200"),
            (9.3e18, "180", "85.0511287799999991", "bp05b5048p0"),
            (1e19, "180", "85.0511287799999991", "bp05b5048p0"),
            (1.8446744073709552e19, "-179.99999731779098511", "-85.05112751263942528", "00bh0hbj200"),
            (1e20, "-179.99999731779098511", "-85.05112751263942528", "00bh0hbj200"),
            (1e300, "-179.99999731779098511", "-85.05112751263942528", "00bh0hbj200"),
            (f64::INFINITY, "-179.99999731779098511", "-85.05112751263942528", "00bh0hbj200"),
            (f64::NEG_INFINITY, "180", "-85.05112751263942528", "00bh0hbj200"),
            (-1e19, "180", "-85.05112751263942528", "00bh0hbj200"),
            (-9.3e18, "180", "-85.05112751263942528", "00bh0hbj200"),
        ];
        for &(score, plon, plat, hash) in cases {
            let (lon, lat) = decode(score);
            assert_eq!(
                (format_coord(lon).as_str(), format_coord(lat).as_str()),
                (plon, plat),
                "{score}"
            );
            assert_eq!(&score_hash_string(score), hash.as_bytes(), "{score}");
        }
        // Not a possible sorted-set score, but must not panic.
        let (lon, lat) = decode(f64::NAN);
        assert!(is_valid(lon, lat));
    }

    type LonLat = (f64, f64);

    #[test]
    fn geodist_in_every_unit() {
        // GEODIST t a b <unit>, for the pairs below, in m, km, ft, mi.
        #[rustfmt::skip]
        let pairs: &[(LonLat, LonLat, [&str; 4])] = &[
            ((13.361389, 38.115556), (15.087269, 37.502669), ["166274.1516", "166.2742", "545518.8700", "103.3182"]),
            ((180.0, 85.05112878), (-180.0, -85.05112878), ["18919844.5891", "18919.8446", "62072980.9353", "11756.2756"]),
            ((-179.661263, 0.546137), (179.277974, 0.271369), ["121875.8950", "121.8759", "399855.2987", "75.7304"]),
            ((29.276733, 85.039), (143.216238, -17.101914), ["12130010.6149", "12130.0106", "39796622.7524", "7537.2579"]),
            ((13.361389, 38.115556), (13.361389, 38.115556), ["0.0000", "0.0000", "0.0000", "0.0000"]),
        ];
        for &(a, b, expected) in pairs {
            let (alon, alat) = decode(encode(a.0, a.1).unwrap() as f64);
            let (blon, blat) = decode(encode(b.0, b.1).unwrap() as f64);
            let d = distance(alon, alat, blon, blat);
            for (unit, want) in ["m", "km", "ft", "mi"].iter().zip(expected) {
                let factor = unit_factor(unit.as_bytes()).unwrap();
                assert_eq!(format_distance(d / factor), want, "{a:?} {b:?} {unit}");
            }
        }
    }

    #[test]
    fn exact_distances() {
        // GEOADD ml 10 10 a 10 54.0 b 10 59.64 c 12.5 54.0 d, then
        // GEOSEARCHSTORE mlo ml FROMMEMBER a BYRADIUS 20000000 m STOREDIST and
        // ZSCORE, which shows every bit. On one meridian (b, c) Redis uses the
        // arc length, which here differs from the haversine in the last bit.
        let at = |lon: f64, lat: f64| decode(encode(lon, lat).unwrap() as f64);
        let (alon, alat) = at(10.0, 10.0);
        let cases = [
            (at(10.0, 54.0), 4893957.090417849),
            (at(10.0, 59.64), 5521273.472189579),
            (at(12.5, 54.0), 4899009.344912603),
            (at(10.0, 10.0), 0.0),
        ];
        for ((lon, lat), want) in cases {
            assert_eq!(distance(alon, alat, lon, lat), want, "{lon} {lat}");
            let shape = Shape::radius_m(20000000.0);
            assert_eq!(contains(&shape, alon, alat, lon, lat), Some(want));
        }
    }

    #[test]
    fn units() {
        assert_eq!(unit_factor(b"m"), Some(1.0));
        assert_eq!(unit_factor(b"KM"), Some(1000.0));
        assert_eq!(unit_factor(b"Ft"), Some(0.3048));
        assert_eq!(unit_factor(b"mI"), Some(1609.34));
        // Redis compares C strings: the argument ends at a NUL byte.
        assert_eq!(unit_factor(b"km\0zz"), Some(1000.0));
        assert_eq!(unit_factor(b"\0"), None);
        assert_eq!(unit_factor(b"k"), None);
        assert_eq!(unit_factor(b"meters"), None);
        assert_eq!(unit_factor(b""), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_distance(166.27415156960038), "166.2742");
        assert_eq!(format_distance(0.0), "0.0000");
        // Exact ties round to even, as glibc's printf.
        assert_eq!(format_distance(1.03125), "1.0312");
        assert_eq!(format_distance(1.09375), "1.0938");
        assert_eq!(format_distance(f64::INFINITY), "inf");
        assert_eq!(format_distance(f64::NAN), "nan");
        assert_eq!(format_distance(-f64::NAN), "-nan");
        assert_eq!(format_coord(180.0), "180");
        assert_eq!(format_coord(-0.0), "0");
        assert_eq!(format_coord(-1e-20), "0");
        assert_eq!(format_coord(0.5), "0.5");
        assert_eq!(format_coord(3.814697265625e-06), "0.00000381469726562");
        assert_eq!(format_coord(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_coord(1e20), "100000000000000000000");
    }

    #[rustfmt::skip]
    const POINTS: &[(&str, f64, f64)] = &[
    ("Palermo", 13.361389, 38.115556),
    ("Catania", 15.087269, 37.502669),
    ("pa0", 13.528701, 37.735565),
    ("pa1", 13.091424, 37.894125),
    ("pa2", 13.645154, 38.256916),
    ("pa3", 13.832004, 37.785107),
    ("pa4", 13.267695, 37.739394),
    ("pa5", 13.023755, 38.11984),
    ("pa6", 12.793232, 37.874626),
    ("pa7", 13.54125, 38.151509),
    ("pa8", 13.025918, 38.186969),
    ("pa9", 13.732706, 37.720755),
    ("pa10", 13.728372, 38.274068),
    ("pa11", 13.16969, 37.83994),
    ("pa12", 13.910045, 37.984832),
    ("pa13", 12.872684, 37.792929),
    ("am0", 179.603726, 0.614257),
    ("am1", 179.536228, 0.946232),
    ("am2", 179.0788, -0.413643),
    ("am3", 179.577352, 0.409144),
    ("am4", -179.661263, 0.546137),
    ("am5", -179.855318, 0.732967),
    ("am6", 179.277974, 0.271369),
    ("am7", 179.162654, -0.289459),
    ("am8", 179.70182, 0.367095),
    ("am9", -179.609131, -0.657723),
    ("np0", 31.374761, 84.171573),
    ("np1", 29.276733, 85.039),
    ("np2", 30.839999, 84.584797),
    ("np3", 31.107686, 84.884995),
    ("np4", 31.655999, 84.2405),
    ("np5", 27.192601, 84.331226),
    ("np6", 28.606445, 84.221532),
    ("np7", 32.657458, 84.920186),
    ("gl0", -66.715963, 26.424573),
    ("gl1", -37.572516, 70.47309),
    ("gl2", -14.813333, -39.970372),
    ("gl3", -91.214097, 10.432583),
    ("gl4", -85.413021, 14.379618),
    ("gl5", 143.216238, -17.101914),
    ("gl6", -101.044527, 84.581393),
    ("gl7", 3.429466, -69.5454),
    ("edge_ne", 180.0, 85.05112878),
    ("edge_sw", -180.0, -85.05112878),
    ("origin", 0.0, 0.0),
];

    enum Center {
        LonLat(f64, f64),
        Member(&'static str),
    }

    struct Search {
        args: &'static str,
        shape: Shape,
        center: Center,
        members: &'static [&'static str],
        dists: &'static [&'static str],
    }

    // GEOSEARCH t <args> WITHDIST, without ASC/DESC: Redis's scan order.
    #[rustfmt::skip]
    const SEARCHES: &[Search] = &[
    Search {
        args: "FROMLONLAT 13.361389 38.115556 BYRADIUS 50 km",
        shape: Shape::Radius { radius: 50.0, unit: 1000.0 },
        center: Center::LonLat(13.361389, 38.115556),
        members: &["pa1", "pa5", "pa8", "Palermo", "pa7", "pa2", "pa10", "pa11", "pa4", "pa0"],
        dists: &["34.1523", "29.5492", "30.3984", "0.0001", "16.2356", "29.3710", "36.6053", "34.9605", "42.6390", "44.7414"],
    },
    Search {
        args: "FROMLONLAT 13.361389 38.115556 BYRADIUS 1 m",
        shape: Shape::Radius { radius: 1.0, unit: 1.0 },
        center: Center::LonLat(13.361389, 38.115556),
        members: &["Palermo"],
        dists: &["0.0531"],
    },
    Search {
        args: "FROMMEMBER Palermo BYRADIUS 200 km",
        shape: Shape::Radius { radius: 200.0, unit: 1000.0 },
        center: Center::Member("Palermo"),
        members: &["pa13", "pa11", "pa4", "pa0", "pa9", "pa3", "pa6", "pa1", "pa5", "pa8", "Palermo", "pa7", "pa12", "pa2", "pa10", "Catania"],
        dists: &["55.8990", "34.9606", "42.6391", "44.7415", "54.6790", "55.2685", "56.5529", "34.1524", "29.5493", "30.3984", "0.0000", "16.2355", "50.2068", "29.3709", "36.6052", "166.2742"],
    },
    Search {
        args: "FROMLONLAT 0 0 BYRADIUS 5000 km",
        shape: Shape::Radius { radius: 5000.0, unit: 1000.0 },
        center: Center::LonLat(0.0, 0.0),
        members: &["origin", "pa13", "pa11", "pa4", "pa0", "pa9", "pa3", "pa6", "pa1", "pa5", "pa8", "Palermo", "pa7", "pa12", "pa2", "pa10", "Catania", "gl2"],
        dists: &["0.0003", "4405.9916", "4420.0937", "4412.7345", "4420.6644", "4425.7447", "4435.6366", "4412.0799", "4423.2861", "4444.6897", "4451.7486", "4454.7332", "4464.1456", "4458.8033", "4478.3717", "4482.8066", "4449.6961", "4692.7937"],
    },
    Search {
        args: "FROMLONLAT 179.9 0 BYRADIUS 100 km",
        shape: Shape::Radius { radius: 100.0, unit: 1000.0 },
        center: Center::LonLat(179.9, 0.0),
        members: &["am6", "am3", "am0", "am8", "am7", "am4", "am5", "am9"],
        dists: &["75.4828", "57.9551", "75.8533", "46.4005", "88.1050", "77.9181", "85.9475", "91.2831"],
    },
    Search {
        args: "FROMLONLAT -179.95 0.2 BYRADIUS 80 mi",
        shape: Shape::Radius { radius: 80.0, unit: 1609.34 },
        center: Center::LonLat(-179.95, 0.2),
        members: &["am4", "am5", "am9", "am6", "am3", "am0", "am8", "am1", "am2", "am7"],
        dists: &["31.1528", "37.4116", "63.7894", "53.5841", "35.7209", "42.0828", "26.6910", "62.6148", "79.3981", "70.0380"],
    },
    Search {
        args: "FROMLONLAT 30 85 BYBOX 400 200 km",
        shape: Shape::Box { width: 400.0, height: 200.0, unit: 1000.0 },
        center: Center::LonLat(30.0, 85.0),
        members: &["np5", "np6", "np1", "np2", "np0", "np4", "np3", "np7"],
        dists: &["79.8275", "87.7952", "8.2214", "46.9524", "93.2589", "86.2146", "16.7801", "27.4391"],
    },
    Search {
        args: "FROMLONLAT 13.5 38 BYBOX 100 60 km",
        shape: Shape::Box { width: 100.0, height: 60.0, unit: 1000.0 },
        center: Center::LonLat(13.5, 38.0),
        members: &["pa1", "pa5", "pa8", "Palermo", "pa7", "pa12", "pa2", "pa11", "pa4", "pa0", "pa3"],
        dists: &["37.7216", "43.7859", "46.4179", "17.6794", "17.2344", "35.9828", "31.2709", "34.0133", "35.4436", "29.5198", "37.6901"],
    },
    Search {
        args: "FROMLONLAT 180 0 BYBOX 3000000 2000000 ft",
        shape: Shape::Box { width: 3000000.0, height: 2000000.0, unit: 0.3048 },
        center: Center::LonLat(180.0, 0.0),
        members: &["am6", "am3", "am0", "am8", "am1", "am2", "am7"],
        dists: &["281472.6154", "214658.3552", "266747.7604", "172581.5029", "384535.6691", "368492.2888", "323301.2491"],
    },
    Search {
        args: "FROMLONLAT 0 0 BYRADIUS 20000 km",
        shape: Shape::Radius { radius: 20000.0, unit: 1000.0 },
        center: Center::LonLat(0.0, 0.0),
        members: &["origin", "pa13", "pa11", "pa4", "pa0", "pa9", "pa3", "pa6", "pa1", "pa5", "pa8", "Palermo", "pa7", "pa12", "pa2", "pa10", "Catania", "np5", "np6", "np1", "np2", "np0", "np4", "np3", "np7", "am6", "am3", "am0", "am8", "am1", "gl7", "gl5", "am2", "am7", "am4", "am5", "gl3", "gl6", "gl4", "gl0", "gl1", "edge_sw", "am9", "gl2"],
        dists: &["0.0003", "4405.9916", "4420.0937", "4412.7345", "4420.6644", "4425.7447", "4435.6366", "4412.0799", "4423.2861", "4444.6897", "4451.7486", "4454.7332", "4464.1456", "4458.8033", "4478.3717", "4482.8066", "4449.6961", "9449.7295", "9446.3263", "9529.1991", "9493.4226", "9457.1428", "9465.3261", "9523.4293", "9534.8613", "19934.9411", "19955.3061", "19939.4293", "19968.1312", "19903.5275", "7739.5335", "15566.1661", "19908.4176", "19922.1918", "19949.2538", "19937.6359", "10143.1740", "10125.6600", "9516.1907", "7704.4716", "8301.6847", "10560.8118", "19935.6351", "4692.7937"],
    },
    Search {
        args: "FROMLONLAT 10 40 BYBOX 40000 20000 km",
        shape: Shape::Box { width: 40000.0, height: 20000.0, unit: 1000.0 },
        center: Center::LonLat(10.0, 40.0),
        members: &["origin", "pa13", "pa11", "pa4", "pa0", "pa9", "pa3", "pa6", "pa1", "pa5", "pa8", "Palermo", "pa7", "pa12", "pa2", "pa10", "Catania", "np5", "np6", "np1", "np2", "np0", "np4", "np3", "np7", "am6", "am3", "am0", "am8", "am1", "gl5", "am2", "am7", "am4", "am5", "gl3", "gl6", "gl4", "gl0", "gl1", "am9", "gl2"],
        dists: &["4563.2213", "349.3912", "364.5907", "378.4940", "395.9439", "410.7648", "413.1385", "338.0208", "355.4513", "334.5247", "329.9602", "358.0284", "368.4203", "405.5139", "369.4176", "374.5321", "521.2898", "4961.5566", "4955.3242", "5042.8843", "5001.7945", "4961.7860", "4970.0756", "5033.6397", "5043.3756", "15411.2108", "15403.3017", "15381.6000", "15410.7557", "15343.9217", "14866.5620", "15480.7138", "15469.3037", "15405.4470", "15380.8474", "10202.3400", "5797.6872", "9438.3880", "7080.7650", "4323.4536", "15537.8905", "9244.0521"],
    },
    Search {
        args: "FROMMEMBER edge_ne BYRADIUS 1000 km",
        shape: Shape::Radius { radius: 1000.0, unit: 1000.0 },
        center: Center::Member("edge_ne"),
        members: &["edge_ne"],
        dists: &["0.0000"],
    },
];

    /// The geo set `t` as Redis holds it: (score, member), ordered.
    fn geo_set() -> Vec<(f64, &'static str)> {
        let mut set: Vec<(f64, &str)> = POINTS
            .iter()
            .map(|&(name, lon, lat)| (encode(lon, lat).unwrap() as f64, name))
            .collect();
        set.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        set
    }

    #[test]
    fn unsorted_search_order_matches_redis() {
        let set = geo_set();
        for search in SEARCHES {
            let (lon, lat) = match search.center {
                Center::LonLat(lon, lat) => (lon, lat),
                Center::Member(name) => decode(set.iter().find(|p| p.1 == name).unwrap().0),
            };
            let mut members = Vec::new();
            let mut dists = Vec::new();
            for (min, max) in search_ranges(&search.shape, lon, lat) {
                for &(score, name) in &set {
                    if score < min as f64 || score >= max as f64 {
                        continue;
                    }
                    let (plon, plat) = decode(score);
                    if let Some(d) = contains(&search.shape, lon, lat, plon, plat) {
                        members.push(name);
                        dists.push(format_distance(d / search.shape.unit()));
                    }
                }
            }
            assert_eq!(members, search.members, "{}", search.args);
            assert_eq!(dists, search.dists, "{}", search.args);
        }
    }

    #[test]
    fn ranges_of_known_searches() {
        // 1 m doubled 25 times passes 20037726.37 m, so Redis estimates step
        // 26 - 2 = 24: cells of 16 scores, the centre's and the neighbours the
        // bounding box reaches.
        let tiny = search_ranges(&Shape::radius_m(1.0), 13.361389, 38.115556);
        assert!(!tiny.is_empty() && tiny.len() <= 9);
        let centre = encode(13.361389, 38.115556).unwrap();
        assert_eq!(tiny[0], (centre & !15, (centre & !15) + 16));
        for &(min, max) in &tiny {
            assert_eq!(max - min, 16, "{tiny:?}");
        }
        // A whole-world radius is searched at step 1 (four quadrants): the
        // neighbours repeat (N = S, E = W, the diagonals are one cell) and the
        // repeats are skipped.
        let world = search_ranges(&Shape::radius_m(2e7), 0.0, 0.0);
        let quarter = 1u64 << 50;
        assert_eq!(
            world,
            vec![
                (3 * quarter, 4 * quarter),
                (2 * quarter, 3 * quarter),
                (quarter, 2 * quarter),
                (0, quarter),
            ]
        );
    }

    #[test]
    fn no_panic_on_odd_input() {
        let odd = [
            0.0,
            -0.0,
            1e-320,
            -1.0,
            1.0,
            1e300,
            -1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let centers = [
            (0.0, 0.0),
            (180.0, 85.05112878),
            (-180.0, -85.05112878),
            (f64::NAN, 0.0),
            (1e9, 1e9),
        ];
        for &a in &odd {
            for &b in &odd {
                for &(lon, lat) in &centers {
                    for shape in [
                        Shape::Radius { radius: a, unit: b },
                        Shape::Box {
                            width: a,
                            height: b,
                            unit: 1.0,
                        },
                        Shape::Box {
                            width: a,
                            height: a,
                            unit: b,
                        },
                    ] {
                        let ranges = search_ranges(&shape, lon, lat);
                        assert!(ranges.len() <= 9);
                        let _ = contains(&shape, lon, lat, a, b);
                        let _ = shape.unit();
                    }
                }
                let _ = distance(a, b, b, a);
                let _ = encode(a, b);
                let _ = hash_string(a, b);
                let _ = format_distance(a);
                let _ = format_coord(a);
            }
            let _ = decode(a);
            let _ = score_hash_string(a);
        }
        assert!(search_ranges(&Shape::radius_m(1.0), f64::NAN, 0.0).is_empty());
    }
}
