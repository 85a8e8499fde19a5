//! Fragment and coalesce bytes for multi-key commands (twemproxy:
//! `redis_fragment_argx()` and the `redis_post_coalesce_*()` functions of
//! nc_redis.c).
//!
//! A multi-key request (MGET, DEL, UNLINK, TOUCH, EXISTS, MSET) with keys on
//! several servers becomes one sub-request per server: `frag_header()` then
//! `frag_key()` for each of that server's keys (MSET: each value bulk copied
//! after its key). The client's single reply is rebuilt with
//! `mget_header()` + the elements, `integer_reply()` or `reply::OK` (§REDIS.5).
//!
//! # Invariants
//! - every function only appends to `out` (a `Vec<u8>`, or the `BytesMut`
//!   fragments are cut from); nothing is allocated besides its growth;
//! - the lengths written always equal the bytes that follow them.

use super::commands::{Cmd, PAIRS};
use bytes::BufMut;

/// Writes the decimal form of `n` at the end of `buf` (20 bytes hold any
/// u64); returns where it starts.
fn put_u64(n: u64, buf: &mut [u8]) -> usize {
    let mut i = buf.len();
    let mut n = n;
    while let Some(slot) = i.checked_sub(1).and_then(|j| buf.get_mut(j)) {
        i -= 1;
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    i
}

/// Appends the decimal form of `n`.
pub fn push_u64(n: u64, out: &mut impl BufMut) {
    let mut buf = [0u8; 20];
    let at = put_u64(n, &mut buf);
    out.put_slice(&buf[at..]);
}

/// Appends the decimal form of `n`, with a `-` when negative.
pub fn push_i64(n: i64, out: &mut impl BufMut) {
    if n < 0 {
        out.put_u8(b'-');
    }
    push_u64(n.unsigned_abs(), out);
}

/// Appends `<tag><n>\r\n` (a RESP count or length line).
fn push_line(tag: u8, n: u64, out: &mut impl BufMut) {
    out.put_u8(tag);
    push_u64(n, out);
    out.put_slice(b"\r\n");
}

/// Decimal digits of `n`.
fn ndigits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Bytes of a bulk of `len` bytes: `$<len>\r\n<bytes>\r\n`.
pub fn bulk_len(len: u32) -> usize {
    ndigits(u64::from(len)) + 5 + len as usize
}

/// Appends `$<len>\r\n<bytes>\r\n`.
pub fn push_bulk(bytes: &[u8], out: &mut impl BufMut) {
    // the head in one copy: `$`, up to 20 digits, CRLF
    let mut head = [b'$'; 23];
    head[21..].copy_from_slice(b"\r\n");
    let at = put_u64(bytes.len() as u64, &mut head[1..21]);
    out.put_slice(&head[at..]);
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

/// Appends the head of a sub-request carrying `nkeys` keys:
/// `*<1+m>\r\n$<len>\r\n<cmd>\r\n` (MSET, `key value` pairs: `*<1+2m>`),
/// with the command name in lower case as 0.5.0 writes it.
pub fn frag_header(cmd: Cmd, nkeys: usize, out: &mut impl BufMut) {
    let per_key = if cmd.keys() == PAIRS { 2 } else { 1 };
    let narg = (nkeys as u64).saturating_mul(per_key).saturating_add(1);
    push_line(b'*', narg, out);
    let name = cmd.name().as_bytes();
    push_line(b'$', name.len() as u64, out);
    for b in name {
        out.put_u8(b.to_ascii_lowercase());
    }
    out.put_slice(b"\r\n");
}

/// Appends one key of a sub-request: `$<len>\r\n<key>\r\n`.
pub fn frag_key(key: &[u8], out: &mut impl BufMut) {
    push_bulk(key, out);
}

/// Appends the head of a coalesced MGET reply: `*<n>\r\n`; the n elements
/// follow, copied from the fragments' replies in the original key order.
pub fn mget_header(n: usize, out: &mut impl BufMut) {
    push_line(b'*', n as u64, out);
}

/// Appends a coalesced DEL/UNLINK/TOUCH/EXISTS reply: `:<sum>\r\n`.
pub fn integer_reply(sum: i64, out: &mut impl BufMut) {
    out.put_u8(b':');
    push_i64(sum, out);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_the_spec_examples() {
        let mut out = Vec::new();
        frag_header(Cmd::Mget, 2, &mut out);
        frag_key(b"a", &mut out);
        frag_key(b"c", &mut out);
        assert_eq!(out, b"*3\r\n$4\r\nmget\r\n$1\r\na\r\n$1\r\nc\r\n");
        let cases: &[(Cmd, usize, &[u8])] = &[
            (Cmd::Del, 1, b"*2\r\n$3\r\ndel\r\n"),
            (Cmd::Unlink, 3, b"*4\r\n$6\r\nunlink\r\n"),
            (Cmd::Touch, 10, b"*11\r\n$5\r\ntouch\r\n"),
            (Cmd::Exists, 2, b"*3\r\n$6\r\nexists\r\n"),
            (Cmd::Mset, 2, b"*5\r\n$4\r\nmset\r\n"),
        ];
        for &(cmd, n, want) in cases {
            out.clear();
            frag_header(cmd, n, &mut out);
            assert_eq!(out, want, "{cmd:?}");
        }
    }

    #[test]
    fn empty_key_and_binary_key() {
        let mut out = Vec::new();
        frag_key(b"", &mut out);
        frag_key(b"\r\n\0", &mut out);
        assert_eq!(out, b"$0\r\n\r\n$3\r\n\r\n\0\r\n");
    }

    #[test]
    fn bulk_len_counts_what_push_bulk_writes() {
        for len in [0usize, 1, 9, 10, 99, 100, 12_345] {
            let mut out = Vec::new();
            push_bulk(&vec![b'x'; len], &mut out);
            assert_eq!(bulk_len(len as u32), out.len(), "{len}");
            let head = format!("${len}\r\n");
            assert!(out.starts_with(head.as_bytes()) && out.ends_with(b"x\r\n") || len == 0);
        }
    }

    #[test]
    fn coalesced_replies() {
        let mut out = Vec::new();
        mget_header(10_000, &mut out);
        integer_reply(0, &mut out);
        integer_reply(-7, &mut out);
        integer_reply(i64::MIN, &mut out);
        integer_reply(i64::MAX, &mut out);
        assert_eq!(
            out,
            b"*10000\r\n:0\r\n:-7\r\n:-9223372036854775808\r\n:9223372036854775807\r\n".as_slice()
        );
    }
}
