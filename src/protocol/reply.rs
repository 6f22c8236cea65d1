//! The typed reply of a command and its encoding for RESP2 and RESP3.
//!
//! Commands build a [`Reply`] wherever they run (storage shard or network thread); the
//! connection encodes it with the protocol version the client chose with `HELLO`.
//! Shapes that RESP3 has and RESP2 lacks (maps, sets, doubles, a single null) are
//! lowered the way Redis lowers them.

use std::borrow::Cow;

use bytes::Bytes;

use crate::error::CommandError;

/// A reply to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A simple string, `+text`.
    Status(Cow<'static, str>),
    /// An error; the text starts with its code (`ERR ...`, `WRONGTYPE ...`).
    Error(CommandError),
    /// `:n`.
    Int(i64),
    /// `$len\r\nbytes`.
    Bulk(Bytes),
    /// The null bulk string (`$-1`; `_` in RESP3).
    Nil,
    /// The null array (`*-1`; `_` in RESP3).
    NilArray,
    /// `*n` followed by the elements.
    Array(Vec<Reply>),
    /// A map in RESP3 (`%n`), a flat array of key, value, ... in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set in RESP3 (`~n`), an array in RESP2.
    Set(Vec<Reply>),
    /// Pairs such as (member, score): an array of 2-element arrays in RESP3, one flat
    /// array in RESP2 (ZRANGE ... WITHSCORES, HRANDFIELD ... WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// A double in RESP3 (`,x`), a bulk string in RESP2.
    Double(f64),
    /// A double formatted by the command (GEOPOS's coordinates, printed as Redis
    /// prints them): `,text` in RESP3, a bulk string in RESP2.
    DoubleText(String),
    /// Verbatim text in RESP3 (`=n\r\ntxt:...`), a bulk string in RESP2.
    Verbatim(String),
    /// A boolean in RESP3 (`#t`, `#f`), `:1` / `:0` in RESP2 (a script's RESP3 reply).
    Bool(bool),
    /// A big number in RESP3 (`(digits`), a bulk string in RESP2.
    BigNumber(String),
    /// Out-of-band data in RESP3 (`>n`: pub/sub messages, SUBSCRIBE's
    /// confirmations), an array in RESP2.
    Push(Vec<Reply>),
    /// Several replies one after the other, for a command that answers more than once
    /// (SUBSCRIBE a b: one confirmation per channel).
    Many(Vec<Reply>),
}

impl Reply {
    /// An error reply from any text; the caller includes the code.
    pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(CommandError::Other(text.into()))
    }

    /// A bulk reply copied from a byte slice.
    pub fn bulk(bytes: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(bytes))
    }

    /// A bulk reply from a static string.
    pub fn bulk_static(text: &'static str) -> Reply {
        Reply::Bulk(Bytes::from_static(text.as_bytes()))
    }

    /// A bulk reply holding the decimal form of `n`.
    pub fn bulk_int(n: i64) -> Reply {
        let mut buf = itoa::Buffer::new();
        Reply::bulk(buf.format(n).as_bytes())
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding of this reply to `out`; `resp3` after `HELLO 3`.
    pub fn encode(&self, out: &mut Vec<u8>, resp3: bool) {
        match self {
            Reply::Ok => out.extend_from_slice(b"+OK\r\n"),
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(e) => {
                // An error text must stay on one line.
                out.push(b'-');
                out.extend(
                    e.text()
                        .bytes()
                        .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
                );
                out.extend_from_slice(b"\r\n");
            }
            Reply::Int(n) => {
                let mut buf = itoa::Buffer::new();
                line(out, b':', buf.format(*n).as_bytes());
            }
            Reply::Bulk(b) => bulk(out, b),
            Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                header(out, b'*', items.len());
                items.iter().for_each(|r| r.encode(out, resp3));
            }
            Reply::Push(items) => {
                header(out, if resp3 { b'>' } else { b'*' }, items.len());
                items.iter().for_each(|r| r.encode(out, resp3));
            }
            Reply::Many(replies) => replies.iter().for_each(|r| r.encode(out, resp3)),
            Reply::Set(items) => {
                header(out, if resp3 { b'~' } else { b'*' }, items.len());
                items.iter().for_each(|r| r.encode(out, resp3));
            }
            Reply::Pairs(pairs) => {
                header(out, b'*', if resp3 { pairs.len() } else { pairs.len() * 2 });
                for (a, b) in pairs {
                    if resp3 {
                        out.extend_from_slice(b"*2\r\n");
                    }
                    a.encode(out, resp3);
                    b.encode(out, resp3);
                }
            }
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::Double(d) => {
                let text = format_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Verbatim(text) => {
                if resp3 {
                    header(out, b'=', text.len() + 4);
                    out.extend_from_slice(b"txt:");
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Bool(b) if resp3 => {
                out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" })
            }
            Reply::Bool(b) => out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
            Reply::DoubleText(t) if resp3 => line(out, b',', t.as_bytes()),
            Reply::DoubleText(t) => bulk(out, t.as_bytes()),
            Reply::BigNumber(n) if resp3 => line(out, b'(', n.as_bytes()),
            Reply::BigNumber(n) => bulk(out, n.as_bytes()),
        }
    }
}

impl From<CommandError> for Reply {
    fn from(e: CommandError) -> Reply {
        Reply::Error(e)
    }
}

fn line(out: &mut Vec<u8>, prefix: u8, body: &[u8]) {
    out.push(prefix);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut Vec<u8>, prefix: u8, len: usize) {
    let mut buf = itoa::Buffer::new();
    line(out, prefix, buf.format(len).as_bytes());
}

fn bulk(out: &mut Vec<u8>, body: &[u8]) {
    header(out, b'$', body.len());
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

/// Formats a double as Redis 7.0 does in replies: C's `%.17g` (17 significant
/// digits, exponent form below 1e-4 and from 1e17), and `inf`, `-inf`, `nan`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    format_g(d, 17)
}

/// C's `printf("%.<precision>g", x)`: what Redis's Lua uses to turn a number into a
/// command argument (17 digits) and cjson to write one (14 digits).
pub fn format_g(x: f64, precision: usize) -> String {
    let p = precision.max(1);
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // The exponent after rounding to `p` significant digits decides the style.
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{x:.*}", (p as i32 - 1 - exp) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, resp3: bool) -> String {
        let mut out = Vec::new();
        r.encode(&mut out, resp3);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn format_g_matches_c_printf() {
        assert_eq!(format_g(1.0, 17), "1");
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(1e-5, 14), "1e-05");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(99999999999999.0, 14), "99999999999999");
        assert_eq!(format_g(1e14, 14), "1e+14");
    }

    #[test]
    fn resp2_vectors() {
        assert_eq!(enc(&Reply::Ok, false), "+OK\r\n");
        assert_eq!(enc(&Reply::Int(-42), false), ":-42\r\n");
        assert_eq!(enc(&Reply::bulk(b"hi"), false), "$2\r\nhi\r\n");
        assert_eq!(enc(&Reply::Nil, false), "$-1\r\n");
        assert_eq!(enc(&Reply::NilArray, false), "*-1\r\n");
        assert_eq!(enc(&Reply::error("ERR a\r\nb"), false), "-ERR a  b\r\n");
        let map = Reply::Map(vec![(Reply::bulk(b"k"), Reply::Int(1))]);
        assert_eq!(enc(&map, false), "*2\r\n$1\r\nk\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), false), "$3\r\n1.5\r\n");
    }

    #[test]
    fn doubles_like_printf_17g() {
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(0.30000000000000004), "0.30000000000000004");
        assert_eq!(format_double(123456789.0), "123456789");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn pairs_flatten_in_resp2_only() {
        let p = Reply::Pairs(vec![(Reply::bulk(b"m"), Reply::Double(1.5))]);
        assert_eq!(enc(&p, false), "*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n");
        assert_eq!(enc(&p, true), "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n");
    }

    #[test]
    fn resp3_vectors() {
        assert_eq!(enc(&Reply::Nil, true), "_\r\n");
        let map = Reply::Map(vec![(Reply::bulk(b"k"), Reply::Int(1))]);
        assert_eq!(enc(&map, true), "%1\r\n$1\r\nk\r\n:1\r\n");
        assert_eq!(enc(&Reply::Set(vec![Reply::Int(1)]), true), "~1\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(-2.0), true), ",-2\r\n");
        assert_eq!(enc(&Reply::Double(f64::INFINITY), true), ",inf\r\n");
    }
}
