//! Multi-key get/gets sub-requests (twemproxy: `memcache_fragment_retrieval`
//! and `memcache_post_coalesce` in proto/nc_memcache.c).
//!
//! A get/gets with ≥ 2 keys is split per server; each server receives the
//! command word, then each of its keys followed by one SP, then `\r\n`
//! (§MEMCACHE.5: `get k1 k3 \r\n`, the SP before CRLF included).

use super::commands::Cmd;

/// Ends a re-assembled multi-get reply (each sub-reply's END is dropped).
pub const END: &[u8] = b"END\r\n";

/// Appends the sub-request `<cmd> <key> <key> ... \r\n` to `out`.
// COPY: fragment rewriting; bounded by the request line (max_line).
pub fn frag_req<'a>(cmd: Cmd, keys: impl Iterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    debug_assert!(cmd.is_retrieval(), "only get/gets are fragmented");
    out.extend_from_slice(cmd.name().as_bytes());
    out.push(b' ');
    for key in keys {
        out.extend_from_slice(key);
        out.push(b' ');
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_request_has_a_space_after_each_key() {
        let mut out = Vec::new();
        frag_req(Cmd::Get, [&b"k1"[..], b"k3"].into_iter(), &mut out);
        assert_eq!(out, b"get k1 k3 \r\n");
        out.clear();
        frag_req(Cmd::Gets, [&b"a"[..]].into_iter(), &mut out);
        assert_eq!(out, b"gets a \r\n");
    }
}
