//! Multi-key get/gets/gat/gats sub-requests (twemproxy:
//! `memcache_fragment_retrieval` and `memcache_post_coalesce` in
//! proto/nc_memcache.c).
//!
//! A retrieval with ≥ 2 keys is split per server; each server receives the
//! command word (and gat's `<exptime>`), then each of its keys followed by
//! one SP, then `\r\n` (§MEMCACHE.5: `get k1 k3 \r\n`, the SP before CRLF
//! included).
//!
//! memcached reads get and gets lines of any length, but closes a
//! connection that sends more than 2048 bytes of any other line without a
//! newline; so a server's share of a gat/gats is sent as several
//! sub-requests, each line at most `GAT_MAX_LINE` bytes (`line_chunks`).

use super::commands::Cmd;
use bytes::BufMut;
use std::ops::Range;

/// Ends a re-assembled multi-get reply (each sub-reply's END is dropped).
pub const END: &[u8] = b"END\r\n";

/// Longest gat/gats sub-request line, CRLF included.
pub const GAT_MAX_LINE: usize = 2048;

/// Appends `<cmd> [<exptime>] ` to `out`.
// COPY: fragment rewriting; bounded by the request line (max_request_bytes).
pub fn frag_head(cmd: Cmd, exptime: &[u8], out: &mut impl BufMut) {
    debug_assert!(cmd.is_retrieval(), "only retrievals are fragmented");
    out.put_slice(cmd.name().as_bytes());
    out.put_u8(b' ');
    if cmd.syntax() == super::Syntax::Gat {
        out.put_slice(exptime);
        out.put_u8(b' ');
    }
}

/// Appends `<key> `.
pub fn frag_key(key: &[u8], out: &mut impl BufMut) {
    out.put_slice(key);
    out.put_u8(b' ');
}

/// Ends the sub-request line.
pub fn frag_end(out: &mut impl BufMut) {
    out.put_slice(b"\r\n");
}

/// How one server's keys (of lengths `key_lens`, in order) are cut into
/// sub-requests: fills `out` with ranges of `key_lens`, covering it in
/// order. At most `max_chunks` (≥ 1) of them: past it the remaining keys
/// share the last (long) line.
pub fn line_chunks(
    cmd: Cmd,
    exptime_len: usize,
    key_lens: &[usize],
    max_chunks: usize,
    out: &mut Vec<Range<usize>>,
) {
    out.clear();
    if cmd.syntax() != super::Syntax::Gat {
        out.push(0..key_lens.len());
        return;
    }
    let head = cmd.name().len() + exptime_len + 2;
    let (mut start, mut len) = (0, head);
    for (i, &k) in key_lens.iter().enumerate() {
        if i > start && len + k + 1 + 2 > GAT_MAX_LINE && out.len() + 1 < max_chunks {
            out.push(start..i);
            (start, len) = (i, head);
        }
        len += k + 1;
    }
    out.push(start..key_lens.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(cmd: Cmd, exptime: &[u8], keys: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        frag_head(cmd, exptime, &mut out);
        for k in keys {
            frag_key(k, &mut out);
        }
        frag_end(&mut out);
        out
    }

    #[test]
    fn sub_request_has_a_space_after_each_key() {
        assert_eq!(frag(Cmd::Get, b"", &[b"k1", b"k3"]), b"get k1 k3 \r\n");
        assert_eq!(frag(Cmd::Gets, b"", &[b"a"]), b"gets a \r\n");
        assert_eq!(frag(Cmd::Gat, b"-1", &[b"a", b"b"]), b"gat -1 a b \r\n");
        assert_eq!(frag(Cmd::Gats, b"10", &[b"a"]), b"gats 10 a \r\n");
    }

    fn cut(cmd: Cmd, exptime_len: usize, key_lens: &[usize], max: usize) -> Vec<Range<usize>> {
        let mut out = vec![7..9, 1..2]; // stale ranges are cleared
        line_chunks(cmd, exptime_len, key_lens, max, &mut out);
        out
    }

    #[test]
    fn gat_lines_stay_under_memcacheds_limit() {
        let whole = |c: Vec<Range<usize>>| (c.len(), c.first().cloned());
        assert_eq!(whole(cut(Cmd::Get, 0, &[250; 100], 9)), (1, Some(0..100)));
        assert_eq!(whole(cut(Cmd::Gat, 2, &[], 9)), (1, Some(0..0)));
        let capped = cut(Cmd::Gat, 2, &[250; 100], 1);
        assert_eq!(whole(capped), (1, Some(0..100)));
        assert_eq!(cut(Cmd::Gat, 2, &[250; 100], 3).len(), 3);
        let lens: Vec<usize> = (0..1000).map(|i| 1 + i % 250).collect();
        let chunks = cut(Cmd::Gats, 10, &lens, usize::MAX);
        let mut next = 0;
        for r in &chunks {
            assert_eq!(r.start, next);
            assert!(!r.is_empty());
            let line = 4 + 1 + 10 + 1 + lens[r.clone()].iter().map(|k| k + 1).sum::<usize>() + 2;
            assert!(line <= GAT_MAX_LINE, "{line}");
            next = r.end;
        }
        assert_eq!(next, lens.len());
        assert!(chunks.len() > 60, "{}", chunks.len());
        // exactly full
        let head = 3 + 1 + 1 + 1;
        let fit = (GAT_MAX_LINE - head - 2) / 10;
        assert_eq!(cut(Cmd::Gat, 1, &vec![9; fit], 9).len(), 1);
        assert_eq!(cut(Cmd::Gat, 1, &vec![9; fit + 1], 9).len(), 2);
    }
}
