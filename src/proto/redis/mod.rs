//! The redis protocol (twemproxy: proto/nc_redis.c).
//!
//! Pure functions over bytes, split by concern as nc_redis.c is not:
//! - `commands`: the command table (name, arity, keys, fragmentation);
//! - `keys`: which arguments are keys, from Redis's key specs;
//! - `parse_req`: client requests (RESP multibulk and inline commands);
//! - `parse_rsp`: backend replies (RESP2 and RESP3);
//! - `fragment`: sub-request and coalesced-reply bytes for multi-key commands;
//! - `reply`: the replies the proxy writes itself;
//! - `local`: the handshake commands answered by the proxy (HELLO, CLIENT,
//!   SELECT, ECHO, RESET) and the client's protocol version (`Resp`).
//!
//! The event loop owns the I/O; this module only reads and writes bytes.
//!
//! # What a parsed request tells the core
//! - `narg == 0`: empty request (`*0`, blank inline line): drop, no reply;
//! - `reject`: answer `reply::err_reject(reject, name bytes)`, do not forward;
//! - `keys` holds every key; `keys[0]` routes (COMMAND and LOLWUT have none:
//!   route on `placeholder`); `cmd.fragmented()` with `keys.len() >= 2`
//!   splits per server, any other request with `keys.len() >= 2` is
//!   forwarded only when all its keys live on one server; MSET's values are
//!   `vals[i]`;
//! - locally answered: PING (`vals[0]` is the optional message, answer with
//!   `reply::ping_msg`), QUIT, and the `Cmd::local` commands, AUTH among
//!   them (`vals` are all their arguments, answer with `local::answer`).

pub mod commands;
pub mod fragment;
pub mod keys;
pub mod local;
pub mod parse_req;
pub mod parse_rsp;
pub mod reply;

pub use commands::{Cmd, NAME_MAX};
pub use keys::{key_positions, Keys};
pub use local::Resp;
pub use parse_req::{parse_req, ReqState};
pub use parse_rsp::{parse_rsp, RspState};

/// Digits accepted in one count or length (leading zeros included).
/// (both parsers).
pub const MAX_DIGITS: u32 = 20;

/// A bulk `$<len>\r\n<data>\r\n` lying whole at the start of `b`, its
/// length at most `max` in at most `MAX_DIGITS` digits: the offset of its
/// data and its length (the bulk ends `len + 2` bytes after its data).
/// Both parsers' fast path (the arguments of a 1,000-key MGET, the
/// elements of its reply); anything else (partial, malformed, over the
/// limit) is `None` and left to their byte-at-a-time phases, which then
/// give the same result or error.
#[inline]
pub fn whole_bulk(b: &[u8], max: u64) -> Option<(usize, u64)> {
    let digit = |d: u8| u64::from(d.wrapping_sub(b'0'));
    let (data, num) = match *b {
        // most lengths have one or two digits
        [b'$', d, b'\r', b'\n', ..] if d.is_ascii_digit() => (4, digit(d)),
        [b'$', d1, d2, b'\r', b'\n', ..] if d1.is_ascii_digit() && d2.is_ascii_digit() => {
            (5, digit(d1) * 10 + digit(d2))
        }
        _ => bulk_head(b, max)?,
    };
    let end = data.checked_add(usize::try_from(num).ok()?)?; // the data's CR
    match b.get(end..end.checked_add(2)?) {
        Some([b'\r', b'\n']) if num <= max => Some((data, num)),
        _ => None,
    }
}

/// The `$<len>\r\n` head of a bulk of any length (`whole_bulk`): the
/// offset of its data and its length, at most `max`.
fn bulk_head(b: &[u8], max: u64) -> Option<(usize, u64)> {
    let digits = b.strip_prefix(b"$")?;
    let (mut num, mut j) = (0u64, 0usize);
    while let Some(&d) = digits.get(j).filter(|d| d.is_ascii_digit()) {
        if j == MAX_DIGITS as usize {
            return None;
        }
        num = num * 10 + u64::from(d - b'0');
        if num > max {
            return None;
        }
        j += 1;
    }
    let data = j + 3; // after `$`, the digits and CRLF
    match b.get(data - 2..data) {
        Some([b'\r', b'\n']) if j > 0 => Some((data, num)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_bulk_only_when_whole_and_well_formed() {
        let max = 100;
        type Case<'a> = (&'a [u8], Option<(usize, u64)>);
        let cases: &[Case<'_>] = &[
            (b"$3\r\nabc\r\n", Some((4, 3))),
            (b"$12\r\nabcdefghijkl\r\n", Some((5, 12))),
            (b"$12\r\nabcdefghijkl\r", None),
            (b"$1a\r\nabc\r\n", None),
            (b"$0\r\n\r\nrest", Some((4, 0))),
            (b"$003\r\nabc\r\n", Some((6, 3))),
            (b"$100\r\n", None),                          // data not here yet
            (b"$101\r\n", None),                          // over max
            (b"$3\r\nabc\r", None),                       // partial
            (b"$3\r\nabcd\r\n", None),                    // data too long
            (b"$\r\n\r\n", None),                         // no digits
            (b"$-1\r\n", None),                           // null
            (b"*3\r\nabc\r\n", None),                     // not a bulk
            (b"$3\nabc\r\n", None),                       // LF without CR
            (b"$000000000000000000003\r\nabc\r\n", None), // 21 digits
            (b"$00000000000000000003\r\nabc\r\n", Some((23, 3))), // 20 digits
            (b"", None),
        ];
        for &(b, want) in cases {
            assert_eq!(whole_bulk(b, max), want, "{:?}", String::from_utf8_lossy(b));
        }
    }
}
