//! The RESP request parser: multibulk (`*N\r\n$len\r\narg\r\n...`) and inline
//! (`SET a "b c"\n`) requests, with Redis 7's limits and error texts.
//!
//! [`parse`] looks at the front of the read buffer. When a whole command is there it
//! splits those bytes off, freezes them and hands out the arguments as [`Bytes`]
//! slices of that one allocation (no copy per argument). When the command is not
//! complete yet it leaves the buffer alone and says [`Parsed::Incomplete`]; the
//! connection reads more and calls again. A [`ProtocolError`] means the stream can no
//! longer be framed: the connection replies `-ERR Protocol error: ...` and closes, as
//! Redis does.
//!
//! Hot path: no logging, no allocation besides the argument vector.

use bytes::{Bytes, BytesMut};

/// Longest inline request, and longest length line, Redis accepts (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk count Redis accepts (`INT_MAX`).
pub const MULTIBULK_MAX: i64 = i32::MAX as i64;

/// What the front of the buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command; its bytes were taken from the buffer.
    Command(Vec<Bytes>),
    /// A request with no arguments (`*0\r\n`, a blank inline line): consumed, no reply.
    Empty,
    /// Not a whole command yet: read more and call again.
    Incomplete,
}

/// The stream cannot be framed any more. The text follows `Protocol error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(text: &str) -> Self {
        ProtocolError(text.to_owned())
    }

    /// The error reply Redis sends before closing the connection.
    pub fn reply_text(&self) -> String {
        crate::error::CommandError::protocol(&self.0)
            .text()
            .into_owned()
    }
}

/// Parses one command from the front of `buf`. `max_bulk` is `proto-max-bulk-len`.
pub fn parse(buf: &mut BytesMut, max_bulk: u64) -> Result<Parsed, ProtocolError> {
    parse_with(buf, max_bulk, true, &mut ParseState::default())
}

/// How far an incomplete multibulk request has been read, so that the next call goes
/// on from there instead of reading the arguments it already framed again (which would
/// make a request arriving in many pieces cost quadratic time). One per connection;
/// it stays valid as long as the buffer's front is not consumed by anyone else.
#[derive(Debug, Default)]
pub struct ParseState {
    remaining: i64,
    pos: usize,
    spans: Vec<(usize, usize)>,
}

/// Most arguments, and longest argument, a client that has not authenticated yet may
/// send (Redis's limits: a password needs no more).
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// See [`UNAUTH_MAX_ARGS`].
pub const UNAUTH_MAX_BULK: u64 = 16384;

/// [`parse`] for a client that may not have authenticated yet: until it has, the
/// multibulk count and bulk lengths are held to Redis's small pre-auth limits, so an
/// anonymous client cannot make the server buffer much.
/// `st` carries the progress of an incomplete request from one call to the next.
pub fn parse_with(
    buf: &mut BytesMut,
    max_bulk: u64,
    authed: bool,
    st: &mut ParseState,
) -> Result<Parsed, ProtocolError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete);
    }
    if st.remaining > 0 || buf[0] == b'*' {
        parse_multibulk(buf, max_bulk, authed, st)
    } else {
        parse_inline(buf)
    }
}

/// Finds `\r` from `from` and checks that `\n` follows. `Ok(None)`: need more bytes.
fn line_end(buf: &[u8], from: usize, too_big: &str) -> Result<Option<usize>, ProtocolError> {
    match memchr(b'\r', &buf[from..]) {
        None => {
            if buf.len() - from > INLINE_MAX {
                return Err(ProtocolError::new(too_big));
            }
            Ok(None)
        }
        Some(off) => {
            let cr = from + off;
            if cr + 1 >= buf.len() {
                Ok(None)
            } else {
                Ok(Some(cr))
            }
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Parses a decimal like Redis's `string2ll`: optional `-`, digits, no spaces, no `+`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

fn parse_multibulk(
    buf: &mut BytesMut,
    max_bulk: u64,
    authed: bool,
    st: &mut ParseState,
) -> Result<Parsed, ProtocolError> {
    if st.remaining == 0 {
        let Some(cr) = line_end(buf, 0, "too big mbulk count string")? else {
            return Ok(Parsed::Incomplete);
        };
        let count = match parse_i64(&buf[1..cr]) {
            Some(n) if n <= MULTIBULK_MAX => n,
            _ => return Err(ProtocolError::new("invalid multibulk length")),
        };
        if !authed && count > UNAUTH_MAX_ARGS {
            return Err(ProtocolError::new("unauthenticated multibulk length"));
        }
        if count <= 0 {
            let _ = buf.split_to(cr + 2);
            return Ok(Parsed::Empty);
        }
        st.remaining = count;
        st.pos = cr + 2;
        st.spans.clear();
        // Bounds memory: never trust the declared count for the allocation.
        st.spans.reserve((count as usize).min(64));
    }
    while st.remaining > 0 {
        let pos = st.pos;
        let Some(cr) = line_end(buf, pos, "too big bulk count string")? else {
            return Ok(Parsed::Incomplete);
        };
        if buf[pos] != b'$' {
            return Err(ProtocolError(format!(
                "expected '$', got '{}'",
                buf[pos] as char
            )));
        }
        let len = match parse_i64(&buf[pos + 1..cr]) {
            Some(n) if n >= 0 && (n as u64) <= max_bulk => n as usize,
            _ => return Err(ProtocolError::new("invalid bulk length")),
        };
        if !authed && len as u64 > UNAUTH_MAX_BULK {
            return Err(ProtocolError::new("unauthenticated bulk length"));
        }
        let start = cr + 2;
        // Like Redis, the two bytes after the payload are skipped, not checked.
        if buf.len() < start + len + 2 {
            let wanted = start + len + 2;
            if buf.capacity() < wanted {
                buf.reserve(wanted - buf.len());
            }
            return Ok(Parsed::Incomplete);
        }
        st.spans.push((start, len));
        st.pos = start + len + 2;
        st.remaining -= 1;
    }
    let frame = buf.split_to(st.pos).freeze();
    st.pos = 0;
    Ok(Parsed::Command(
        st.spans
            .drain(..)
            .map(|(s, l)| frame.slice(s..s + l))
            .collect(),
    ))
}

fn parse_inline(buf: &mut BytesMut) -> Result<Parsed, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(Parsed::Incomplete);
    };
    let mut end = nl;
    if end > 0 && buf[end - 1] == b'\r' {
        end -= 1;
    }
    let args = split_args(&buf[..end])
        .ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
    let _ = buf.split_to(nl + 1);
    if args.is_empty() {
        return Ok(Parsed::Empty);
    }
    Ok(Parsed::Command(args.into_iter().map(Bytes::from).collect()))
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits an inline request the way Redis's `sdssplitargs` does: blanks separate
/// arguments, `"..."` takes C escapes (`\n`, `\xHH`, ...), `'...'` takes `\'`, and a
/// closing quote must be followed by a blank or the end. `None`: unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut p = 0;
    let n = line.len();
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p >= n || line[p] == 0 {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = line.get(p).copied();
            if in_dq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(p + 1) == Some(&b'x') => {
                        let hi = line.get(p + 2).and_then(|&c| hex_val(c));
                        let lo = line.get(p + 3).and_then(|&c| hex_val(c));
                        if let (Some(hi), Some(lo)) = (hi, lo) {
                            cur.push(hi * 16 + lo);
                            p += 3;
                        } else {
                            p += 1;
                            cur.push(b'x');
                        }
                    }
                    Some(b'\\') if p + 1 < n => {
                        p += 1;
                        cur.push(match line[p] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if p + 1 < n && !is_space(line[p + 1]) {
                            return None;
                        }
                        p += 1;
                        break;
                    }
                    Some(c) => cur.push(c),
                }
            } else if in_sq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(p + 1) == Some(&b'\'') => {
                        p += 1;
                        cur.push(b'\'');
                    }
                    Some(b'\'') => {
                        if p + 1 < n && !is_space(line[p + 1]) {
                            return None;
                        }
                        p += 1;
                        break;
                    }
                    Some(c) => cur.push(c),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t' | 0) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(c) => cur.push(c),
                }
            }
            p += 1;
        }
        args.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 512 * 1024 * 1024;

    fn one(input: &[u8]) -> Result<Parsed, ProtocolError> {
        let mut buf = BytesMut::from(input);
        parse(&mut buf, MAX)
    }

    fn cmd(args: &[&str]) -> Parsed {
        Parsed::Command(
            args.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        )
    }

    #[test]
    fn multibulk_and_leftover() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"[..]);
        assert_eq!(parse(&mut buf, MAX).unwrap(), cmd(&["GET", "k"]));
        assert_eq!(parse(&mut buf, MAX).unwrap(), cmd(&["PING"]));
        assert_eq!(parse(&mut buf, MAX).unwrap(), Parsed::Incomplete);
        assert!(buf.is_empty());
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let full = b"*3\r\n$3\r\nSET\r\n$3\r\nk\x00y\r\n$0\r\n\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(
                parse(&mut buf, MAX).unwrap(),
                Parsed::Incomplete,
                "cut {cut}"
            );
            assert_eq!(buf.len(), cut, "an incomplete parse must not consume");
        }
        assert_eq!(
            one(full).unwrap(),
            Parsed::Command(vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k\x00y"),
                Bytes::new()
            ])
        );
    }

    #[test]
    fn empty_multibulk_is_skipped() {
        assert_eq!(one(b"*0\r\n").unwrap(), Parsed::Empty);
        assert_eq!(one(b"*-1\r\n").unwrap(), Parsed::Empty);
        assert_eq!(one(b"\r\n").unwrap(), Parsed::Empty);
    }

    #[test]
    fn protocol_errors_match_redis() {
        let err = |i: &[u8]| one(i).unwrap_err().0;
        assert_eq!(err(b"*x\r\n"), "invalid multibulk length");
        assert_eq!(err(b"*2147483648\r\n"), "invalid multibulk length");
        assert_eq!(err(b"*1\r\nx\r\n"), "expected '$', got 'x'");
        assert_eq!(err(b"*1\r\n$-1\r\n"), "invalid bulk length");
        assert_eq!(err(b"*1\r\n$536870913\r\n"), "invalid bulk length");
        assert_eq!(err(b"set \"a b\r\n"), "unbalanced quotes in request");
        assert_eq!(err(b"set \"a\"b\r\n"), "unbalanced quotes in request");
        let long = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(err(&long), "too big inline request");
        let mut mb = b"*".to_vec();
        mb.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(err(&mb), "too big mbulk count string");
    }

    #[test]
    fn bulk_limit_follows_config() {
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\nhello world\r\n"[..]);
        assert!(parse(&mut buf, 10).is_err());
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\nhello world\r\n"[..]);
        assert_eq!(parse(&mut buf, 11).unwrap(), cmd(&["hello world"]));
    }

    #[test]
    fn pre_auth_limits() {
        let err = |input: &[u8]| {
            let mut buf = BytesMut::from(input);
            parse_with(&mut buf, MAX, false, &mut ParseState::default())
                .unwrap_err()
                .0
        };
        assert_eq!(err(b"*11\r\n"), "unauthenticated multibulk length");
        assert_eq!(
            err(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"),
            "unauthenticated bulk length"
        );
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"[..]);
        let st = &mut ParseState::default();
        assert!(matches!(
            parse_with(&mut buf, MAX, false, st).unwrap(),
            Parsed::Command(_)
        ));
    }

    #[test]
    fn resumes_where_it_stopped() {
        // Fed one byte at a time through one state, then a second command after it.
        let full = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*1\r\n$4\r\nPING\r\n";
        let mut st = ParseState::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in full.iter() {
            buf.extend_from_slice(&[b]);
            while let Parsed::Command(args) = parse_with(&mut buf, MAX, true, &mut st).unwrap() {
                got.push(args);
            }
        }
        assert_eq!(got.len(), 2);
        let set: Vec<Bytes> = ["SET", "k", "value"]
            .iter()
            .map(|a| Bytes::from(*a))
            .collect();
        assert_eq!(got[0], set);
        assert_eq!(got[1], vec![Bytes::from_static(b"PING")]);
        assert!(buf.is_empty());
    }

    /// A poor man's fuzzer: random mixes of RESP fragments and junk, fed whole and in
    /// random pieces through one state. The parser must never panic, must consume
    /// bytes for every command or empty request, and must agree with itself.
    #[test]
    fn random_input_never_panics() {
        let pieces: [&[u8]; 16] = [
            b"*",
            b"$",
            b"\r\n",
            b"\r",
            b"\n",
            b"2",
            b"-1",
            b"0",
            b"3",
            b"SET",
            b"\"",
            b"'",
            b" ",
            b"\\x4",
            b"\x00",
            b"99999999999999999999",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut input = Vec::new();
            for _ in 0..(next() % 24) {
                input.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
            let whole = drain(&input, input.len().max(1), 1000);
            let chunk = 1 + (next() % 7) as usize;
            let pieces_result = drain(&input, chunk, 1000);
            assert_eq!(
                whole,
                pieces_result,
                "input {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    /// Feeds `input` `chunk` bytes at a time; returns the commands and the outcome.
    fn drain(input: &[u8], chunk: usize, max_bulk: u64) -> (Vec<Vec<Bytes>>, Option<String>) {
        let mut st = ParseState::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            buf.extend_from_slice(part);
            loop {
                let before = buf.len();
                match parse_with(&mut buf, max_bulk, true, &mut st) {
                    Ok(Parsed::Command(args)) => {
                        assert!(buf.len() < before);
                        out.push(args);
                    }
                    Ok(Parsed::Empty) => assert!(buf.len() < before),
                    Ok(Parsed::Incomplete) => break,
                    Err(e) => return (out, Some(e.0)),
                }
            }
        }
        (out, None)
    }

    #[test]
    fn huge_declared_count_does_not_allocate_it() {
        assert_eq!(
            one(b"*2000000000\r\n$1\r\na\r\n").unwrap(),
            Parsed::Incomplete
        );
    }

    #[test]
    fn inline_quoting() {
        assert_eq!(one(b"set a b\n").unwrap(), cmd(&["set", "a", "b"]));
        assert_eq!(
            one(b"  set   'a b'  \"c\\x41\\n\" \r\n").unwrap(),
            cmd(&["set", "a b", "cA\n"])
        );
        assert_eq!(one(b"echo 'it\\'s'\r\n").unwrap(), cmd(&["echo", "it's"]));
        assert_eq!(one(b"echo \"\"\r\n").unwrap(), cmd(&["echo", ""]));
        assert_eq!(one(b"ping").unwrap(), Parsed::Incomplete);
    }

    #[test]
    fn integers_like_string2ll() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b"9223372036854775808"[..],
            b"",
            b"-",
            b"+1",
            b" 1",
            b"01",
            b"-0",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_i64(b"0"), Some(0));
    }
}
