//! The meta protocol's two proxy-visible flags (memcached 1.6
//! doc/protocol.txt, "Meta Get" ... "Meta No-Op"; no twemproxy counterpart:
//! 0.5.0 refuses meta commands, issue 16).
//!
//! Every other flag is memcached's business and passes through untouched.
//!
//! - `b`: the key is base64. Routing hashes the decoded key, so `set foo`
//!   and `mg Zm9v b v` reach the same server; the bytes forwarded keep the
//!   encoded key. The decoder is memcached's (`base64.c`): bytes outside
//!   the alphabet are skipped, the rest must come in groups of four.
//! - `q` (quiet, mg/ms/md/ma): memcached leaves out the replies that only
//!   say "as expected". A proxy cannot pair replies with requests when some
//!   never come, so the request is forwarded without its `q` token (the
//!   parser marks it in `ReqMeta::quiet` with the SP before it; it is cut
//!   out zero-copy) and the proxy drops the reply memcached 1.6 would have
//!   suppressed (`suppressed`). The client reads the same bytes as from
//!   one memcached holding every key, and `mn` (answered by the proxy,
//!   in its place in the reply order) still comes after every earlier
//!   reply. Errors are never suppressed.
//!
//! The parser keeps `q` when memcached would refuse the line with it (two
//! `q` flags: `CLIENT_ERROR duplicate flag`; 20 tokens or more: options
//! too long), so memcached's error reaches the client unchanged.
//!
//! One case cannot be told apart from the reply alone: `ma` with `q` and
//! `N` (autovivify) on a missing key, where memcached 1.6.18 shows the
//! `HD`/`VA` of the created item but hides the one of an incremented item.
//! The proxy hides both.

use super::commands::Cmd;
use crate::proto::{Cmd as AnyCmd, ReqMeta, RspKind};

/// The reply to `mn`.
pub const MN: &[u8] = b"MN\r\n";

/// Longest base64 key memcached accepts decodes to at most this many bytes
/// (250 * 3 / 4).
pub const MAX_DECODED: usize = 188;

/// Decodes a base64 key as memcached does; `None` where memcached fails
/// (then it answers an error, and any server will do).
pub fn decode_key(src: &[u8], out: &mut [u8; MAX_DECODED]) -> Option<usize> {
    let (mut block, mut n, mut len, mut pad) = ([0u8; 4], 0usize, 0usize, 0usize);
    let count = src.iter().filter(|&&c| sextet(c).is_some()).count();
    if count == 0 || count % 4 != 0 || count / 4 * 3 > out.len() {
        return None;
    }
    for &c in src {
        let Some(v) = sextet(c) else { continue };
        pad += usize::from(c == b'=');
        block[n] = v;
        n += 1;
        if n < 4 {
            continue;
        }
        let bytes = [
            (block[0] << 2) | (block[1] >> 4),
            (block[1] << 4) | (block[2] >> 2),
            (block[2] << 6) | block[3],
        ];
        out.get_mut(len..len + 3)?.copy_from_slice(&bytes);
        len += 3;
        n = 0;
        if pad > 0 {
            len = len.checked_sub(pad).filter(|_| pad <= 2)?;
            break;
        }
    }
    Some(len)
}

/// A base64 character's value (`=` counts as 0), as memcached's table.
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    }
}

/// The key a request is routed by: `raw`, or its base64 decoding under `b`.
pub fn route_key<'a>(meta: &ReqMeta, raw: &'a [u8], buf: &'a mut [u8; MAX_DECODED]) -> &'a [u8] {
    if !meta.key_b64 {
        return raw;
    }
    match decode_key(raw, buf) {
        Some(n) => &buf[..n],
        None => raw,
    }
}

/// Did memcached 1.6 leave this reply out, had the request kept its `q`?
pub fn suppressed(meta: &ReqMeta, kind: RspKind) -> bool {
    let AnyCmd::Memcache(cmd) = meta.cmd else {
        return false;
    };
    if meta.quiet.is_none() {
        return false;
    }
    match cmd {
        Cmd::Mg => kind == RspKind::En,
        Cmd::Ms | Cmd::Md => kind == RspKind::Hd,
        Cmd::Ma => matches!(kind, RspKind::Hd | RspKind::Va),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Span;

    fn dec(s: &[u8]) -> Option<Vec<u8>> {
        let mut out = [0u8; MAX_DECODED];
        decode_key(s, &mut out).map(|n| out[..n].to_vec())
    }

    #[test]
    fn decodes_like_memcached() {
        assert_eq!(dec(b"Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(dec(b"Zm9vYg==").as_deref(), Some(&b"foob"[..]));
        assert_eq!(dec(b"Zm9vYmE=").as_deref(), Some(&b"fooba"[..]));
        assert_eq!(dec(b"AAEC/w==").as_deref(), Some(&[0u8, 1, 2, 255][..]));
        // bytes outside the alphabet are skipped, as memcached's table does
        assert_eq!(dec(b"Zm-9v").as_deref(), Some(&b"foo"[..]));
        // data after the padded block is ignored
        assert_eq!(dec(b"Zg==Zm9v").as_deref(), Some(&b"f"[..]));
        assert_eq!(dec(b"Zm9"), None);
        assert_eq!(dec(b""), None);
        assert_eq!(dec(b"-_-_"), None);
        assert_eq!(dec(b"Z==="), None);
        let long = vec![b'A'; 252];
        assert_eq!(dec(&long), None, "decodes past the buffer");
        assert_eq!(dec(&long[..248]).map(|v| v.len()), Some(186));
    }

    #[test]
    fn routes_by_the_decoded_key() {
        let mut m = ReqMeta::default();
        let mut buf = [0u8; MAX_DECODED];
        assert_eq!(route_key(&m, b"Zm9v", &mut buf), b"Zm9v");
        m.key_b64 = true;
        assert_eq!(route_key(&m, b"Zm9v", &mut buf), b"foo");
        assert_eq!(route_key(&m, b"Zm9", &mut buf), b"Zm9");
    }

    #[test]
    fn quiet_suppresses_what_memcached_does() {
        let mut m = ReqMeta {
            cmd: AnyCmd::Memcache(Cmd::Mg),
            ..ReqMeta::default()
        };
        assert!(!suppressed(&m, RspKind::En), "not quiet");
        m.quiet = Some(Span::new(6, 2));
        assert!(suppressed(&m, RspKind::En));
        assert!(!suppressed(&m, RspKind::Hd));
        assert!(!suppressed(&m, RspKind::Va));
        assert!(!suppressed(&m, RspKind::ClientError));
        m.cmd = AnyCmd::Memcache(Cmd::Ms);
        assert!(suppressed(&m, RspKind::Hd));
        assert!(!suppressed(&m, RspKind::NotStored));
        m.cmd = AnyCmd::Memcache(Cmd::Md);
        assert!(suppressed(&m, RspKind::Hd));
        assert!(!suppressed(&m, RspKind::NotFound));
        m.cmd = AnyCmd::Memcache(Cmd::Ma);
        assert!(suppressed(&m, RspKind::Va));
        assert!(!suppressed(&m, RspKind::NotFound));
        m.cmd = AnyCmd::Memcache(Cmd::Me);
        assert!(!suppressed(&m, RspKind::En));
    }
}
