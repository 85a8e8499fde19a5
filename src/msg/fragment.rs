//! Splitting a multi-key request into fragments (twemproxy:
//! redis_fragment, memcache_fragment): which keys go together (`groups`)
//! and the bytes of each sub-request (`fragments`, a pure function the
//! core and the `fragment_coalesce` fuzz target both call).

use crate::msg::Msg;
use crate::proto::{memcache, redis, ChainCursor, Cmd, Span};
use bytes::{Bytes, BytesMut};
use std::ops::Range;

/// Distinct targets up to which `groups` dedupes by a linear scan (a
/// pool's few servers) rather than by sorting every key's target.
const FEW_TARGETS: usize = 16;

/// Splits keys by target: `key_target[i]` is where key `i` goes. Fills
/// `order` with the distinct targets, increasing (one fragment each, sent
/// in that order), and `key_child` with each key's index into `order`.
pub fn groups<T: Ord + Copy>(key_target: &[T], order: &mut Vec<T>, key_child: &mut Vec<u16>) {
    order.clear();
    for t in key_target {
        if !order.contains(t) {
            order.push(*t);
            if order.len() > FEW_TARGETS {
                break;
            }
        }
    }
    if order.len() > FEW_TARGETS {
        order.clear();
        order.extend_from_slice(key_target);
    }
    order.sort_unstable();
    order.dedup();
    key_child.clear();
    key_child.extend(key_target.iter().map(|t| {
        let at = if order.len() <= FEW_TARGETS {
            order.iter().position(|o| o == t)
        } else {
            order.binary_search(t).ok()
        };
        at.unwrap_or(0) as u16
    }));
}

/// One sub-request: where it goes, its bytes and its key count.
#[derive(Debug)]
pub struct Fragment<T> {
    pub target: T,
    pub bytes: Bytes,
    pub nkeys: u32,
}

/// Fragments up to this size are cut from one shared chunk
/// (`FragBufs::out`), like the small requests of many clients share a read
/// chunk; a larger one (a big MSET) gets a buffer of its own, so no chunk
/// outlives a spike at its size.
const OUT_CHUNK: usize = 16 * 1024;

/// The chunk the proxy's own small messages (fragments, merged MGET
/// replies) are cut from: one allocation serves many requests, and it is
/// reclaimed in place once nothing references it.
#[derive(Debug, Default)]
pub struct OutChunk {
    buf: BytesMut,
}

impl OutChunk {
    /// Where a message of at most `need` bytes is written: this chunk
    /// (reclaimed once nothing references it, else replaced), or `own`, a
    /// buffer of its own past `OUT_CHUNK`. Cut the message off with
    /// `split().freeze()`.
    pub fn room<'a>(&'a mut self, own: &'a mut BytesMut, need: usize) -> &'a mut BytesMut {
        if need > OUT_CHUNK {
            *own = BytesMut::with_capacity(need);
            return own;
        }
        let buf = &mut self.buf;
        if buf.capacity() < need && !buf.try_reclaim(need) {
            *buf = BytesMut::with_capacity(OUT_CHUNK);
        }
        buf
    }
}

/// What `fragments` reuses from one request to the next: a warm proxy
/// allocates nothing per fragmented request (twemproxy: an mbuf per
/// fragment from its free list).
#[derive(Debug)]
pub struct FragBufs<T> {
    pub key_target: Vec<T>,      // where each key goes: filled by the caller
    pub frags: Vec<Fragment<T>>, // the result, in sending order
    order: Vec<T>,               // the distinct targets (`groups`)
    by_frag: Vec<u32>,           // key indices grouped by fragment, in key order
    ends: Vec<usize>,            // where each fragment's keys end in `by_frag`
    lens: Vec<usize>,            // memcache: key lengths of one target
    ranges: Vec<Range<usize>>,   // memcache: its lines (`line_chunks`)
    scratch: Vec<u8>,            // key bytes straddling chunks
    pub out: OutChunk,           // the chunk small fragments are cut from
}

impl<T> Default for FragBufs<T> {
    fn default() -> Self {
        FragBufs {
            key_target: Vec::new(),
            frags: Vec::new(),
            order: Vec::new(),
            by_frag: Vec::new(),
            ends: Vec::new(),
            lens: Vec::new(),
            ranges: Vec::new(),
            scratch: Vec::new(),
            out: OutChunk::default(),
        }
    }
}

/// Fills `ends` and `by_frag` with the key indices of each of `nfrag`
/// fragments, in key order (a counting sort of `key_child`): fragment `f`'s
/// keys are `by_frag[ends[f - 1]..ends[f]]` (from 0 for the first).
fn keys_by_fragment(
    key_child: &[u16],
    nfrag: usize,
    ends: &mut Vec<usize>,
    by_frag: &mut Vec<u32>,
) {
    ends.clear();
    ends.resize(nfrag + 1, 0);
    for &c in key_child {
        if let Some(n) = ends.get_mut(usize::from(c) + 1) {
            *n += 1;
        }
    }
    for f in 1..ends.len() {
        ends[f] += ends[f - 1];
    }
    // ends[f] is where fragment f starts; filling moves it to its end
    by_frag.clear();
    by_frag.resize(key_child.len(), 0);
    for (i, &c) in key_child.iter().enumerate() {
        if let Some(at) = ends.get_mut(usize::from(c)) {
            if let Some(slot) = by_frag.get_mut(*at) {
                *slot = i as u32;
            }
            *at += 1;
        }
    }
    ends.pop();
}

/// The fragments of `m`, whose key `i` goes to `bufs.key_target[i]`, into
/// `bufs.frags` in sending order (`groups`; memcache gat/gats cut a
/// target's share further where its line would be too long for the
/// server, `memcache::fragment::line_chunks`); fills `key_child` with each
/// key's fragment.
pub fn fragments<T: Ord + Copy>(m: &Msg, key_child: &mut Vec<u16>, bufs: &mut FragBufs<T>) {
    bufs.frags.clear();
    groups(&bufs.key_target, &mut bufs.order, key_child);
    keys_by_fragment(
        key_child,
        bufs.order.len(),
        &mut bufs.ends,
        &mut bufs.by_frag,
    );
    match m.meta.cmd {
        Cmd::Redis(cmd) => redis_fragments(m, cmd, bufs),
        Cmd::Memcache(cmd) => memcache_fragments(m, cmd, key_child, bufs),
        Cmd::None => {}
    }
}

/// Redis: one sub-request per target, its keys (and MSET values) in key
/// order.
// COPY: fragment rewriting copies the keys (and MSET values); bounded by
// the parent request's size.
fn redis_fragments<T: Copy>(m: &Msg, cmd: redis::Cmd, bufs: &mut FragBufs<T>) {
    let (keys, vals) = (&m.meta.keys, &m.meta.vals);
    let FragBufs {
        frags,
        order,
        by_frag,
        ends,
        scratch,
        out,
        ..
    } = bufs;
    let bulk = |s: Option<&Span>| s.map_or(0, |s| redis::fragment::bulk_len(s.len));
    let mut own = BytesMut::new();
    let mut from = 0;
    for (&target, &to) in order.iter().zip(ends.iter()) {
        let idx = by_frag.get(from..to).unwrap_or(&[]);
        from = to;
        // the head is `*<n>\r\n$<len>\r\n<name>\r\n`: 48 bytes hold its numbers
        let need = 48
            + cmd.name().len()
            + idx
                .iter()
                .map(|&i| bulk(keys.get(i as usize)) + bulk(vals.get(i as usize)))
                .sum::<usize>();
        let buf = out.room(&mut own, need);
        redis::fragment::frag_header(cmd, idx.len(), buf);
        let mut cur = ChainCursor::new(&m.data);
        for &i in idx {
            if let Some(&k) = keys.get(i as usize) {
                redis::fragment::frag_key(cur.bytes(k, scratch), buf);
            }
            if let Some(&v) = vals.get(i as usize) {
                redis::fragment::frag_key(cur.bytes(v, scratch), buf);
            }
        }
        frags.push(Fragment {
            target,
            bytes: buf.split().freeze(),
            nkeys: idx.len() as u32,
        });
    }
}

/// Memcache: a target's keys on one line (`get k1 k2`), cut further where
/// the line would be too long (`memcache::fragment::line_chunks`).
// COPY: fragment rewriting copies the keys; bounded by the parent
// request's size.
fn memcache_fragments<T: Copy>(
    m: &Msg,
    cmd: memcache::Cmd,
    key_child: &mut [u16],
    bufs: &mut FragBufs<T>,
) {
    let keys = &m.meta.keys;
    let FragBufs {
        frags,
        order,
        by_frag,
        ends,
        lens,
        ranges,
        scratch,
        out,
        ..
    } = bufs;
    let mut s2 = Vec::new();
    let exptime = ChainCursor::new(&m.data).bytes(m.meta.exptime, &mut s2);
    // key_child is a u16: every target gets an equal share of the chunks
    let budget = (usize::from(u16::MAX) / order.len().max(1)).max(1);
    let mut own = BytesMut::new();
    let mut from = 0;
    for (&target, &to) in order.iter().zip(ends.iter()) {
        let idx = by_frag.get(from..to).unwrap_or(&[]);
        from = to;
        lens.clear();
        lens.extend(
            idx.iter()
                .map(|&i| keys.get(i as usize).map_or(0, |k| k.len as usize)),
        );
        memcache::fragment::line_chunks(cmd, m.meta.exptime.len as usize, lens, budget, ranges);
        for r in ranges.iter() {
            let (Some(part), Some(plens)) = (idx.get(r.clone()), lens.get(r.clone())) else {
                continue;
            };
            let need =
                cmd.name().len() + exptime.len() + 4 + plens.iter().map(|l| l + 1).sum::<usize>();
            let buf = out.room(&mut own, need);
            memcache::fragment::frag_head(cmd, exptime, buf);
            let mut cur = ChainCursor::new(&m.data);
            let f = frags.len() as u16;
            for &i in part {
                if let (Some(c), Some(&k)) = (key_child.get_mut(i as usize), keys.get(i as usize)) {
                    *c = f;
                    memcache::fragment::frag_key(cur.bytes(k, scratch), buf);
                }
            }
            memcache::fragment::frag_end(buf);
            frags.push(Fragment {
                target,
                bytes: buf.split().freeze(),
                nkeys: part.len() as u32,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_target_in_increasing_order() {
        let (mut order, mut key_child) = (Vec::new(), Vec::new());
        groups(&[7, 3, 7, 9, 3], &mut order, &mut key_child);
        assert_eq!(order, [3, 7, 9]);
        assert_eq!(key_child, [1, 0, 1, 2, 0]);
        groups::<u8>(&[], &mut order, &mut key_child);
        assert!(order.is_empty() && key_child.is_empty());
    }

    /// Past `FEW_TARGETS` distinct targets the sorted path gives the same
    /// grouping as the linear one.
    #[test]
    fn groups_many_targets() {
        let (mut order, mut key_child) = (Vec::new(), Vec::new());
        for n in [FEW_TARGETS - 1, FEW_TARGETS, FEW_TARGETS + 1, 100] {
            let targets: Vec<u32> = (0..3 * n as u32).map(|i| (i * 7919) % n as u32).collect();
            groups(&targets, &mut order, &mut key_child);
            assert_eq!(order, (0..n as u32).collect::<Vec<_>>());
            let back: Vec<u32> = key_child.iter().map(|&c| order[usize::from(c)]).collect();
            assert_eq!(back, targets);
        }
    }

    #[test]
    fn keys_grouped_by_fragment_in_key_order() {
        let (mut ends, mut by_frag) = (vec![9], vec![9]);
        keys_by_fragment(&[2, 0, 2, 1, 0], 3, &mut ends, &mut by_frag);
        assert_eq!(ends, [2, 3, 5]);
        assert_eq!(by_frag, [1, 4, 3, 0, 2]);
        keys_by_fragment(&[], 0, &mut ends, &mut by_frag);
        assert!(ends.is_empty() && by_frag.is_empty());
    }

    /// An MGET of `keys`, parsed as the core parses it.
    fn mget(keys: &[&[u8]]) -> Msg {
        let mut req = format!("*{}\r\n$4\r\nMGET\r\n", keys.len() + 1).into_bytes();
        for k in keys {
            redis::fragment::push_bulk(k, &mut req);
        }
        let mut m = Msg::default();
        let lim = crate::proto::Limits::default();
        let r = redis::parse_req(&mut redis::ReqState::default(), &req, &lim, &mut m.meta);
        assert!(matches!(r, Ok(crate::proto::Progress::Complete { .. })));
        m.data = vec![Bytes::from(req)];
        m
    }

    /// Small fragments are cut from one chunk, one after the other, and the
    /// chunk is used again once they are gone; a fragment past `OUT_CHUNK`
    /// gets a buffer of its own.
    #[test]
    fn small_fragments_share_a_chunk_reused_when_free() {
        let m = mget(&[b"a", b"b", b"c"]);
        let mut bufs = FragBufs::default();
        bufs.key_target.extend([1u8, 0, 1]);
        let mut key_child = Vec::new();
        fragments(&m, &mut key_child, &mut bufs);
        assert_eq!(key_child, [1, 0, 1]);
        let (f0, f1) = (&bufs.frags[0], &bufs.frags[1]);
        assert_eq!((f0.target, f0.nkeys), (0, 1));
        assert_eq!(&f0.bytes[..], b"*2\r\n$4\r\nmget\r\n$1\r\nb\r\n");
        assert_eq!(&f1.bytes[..], b"*3\r\n$4\r\nmget\r\n$1\r\na\r\n$1\r\nc\r\n");
        let first = f0.bytes.as_ptr();
        assert_eq!(f1.bytes.as_ptr(), first.wrapping_add(f0.bytes.len()));
        // still referenced: the next request's fragments follow them
        let held: Vec<Bytes> = bufs.frags.drain(..).map(|f| f.bytes).collect();
        fragments(&m, &mut key_child, &mut bufs);
        let after = held[1].as_ptr().wrapping_add(held[1].len());
        assert_eq!(bufs.frags[0].bytes.as_ptr(), after);
        // once they are all gone, the used-up chunk is reclaimed: the first
        // fragment that does not follow the one before starts where the
        // first did (a new chunk would be allocated while the old one is
        // still held, so it could not lie there); one fragment per request
        // here, as the one fragment written before the chunk ran out holds
        // it (it is replaced then, and freed with its last fragment)
        drop(held);
        bufs.frags.clear();
        bufs.key_target.fill(0);
        let end = |b: &Bytes| b.as_ptr().wrapping_add(b.len());
        fragments(&m, &mut key_child, &mut bufs);
        let mut next = end(&bufs.frags[0].bytes);
        let jumped = loop {
            bufs.frags.clear();
            fragments(&m, &mut key_child, &mut bufs);
            let a = &bufs.frags[0].bytes;
            if a.as_ptr() != next {
                break a.as_ptr();
            }
            next = end(a);
        };
        assert_eq!(jumped, first, "the used-up chunk is reclaimed");
        // a big one is not
        let big = vec![b'k'; OUT_CHUNK];
        let m = mget(&[&big, b"x"]);
        bufs.key_target.clear();
        bufs.key_target.extend([0u8, 1]);
        fragments(&m, &mut key_child, &mut bufs);
        assert!(bufs.frags[0].bytes.len() > OUT_CHUNK);
        assert_eq!(&bufs.frags[1].bytes[..], b"*2\r\n$4\r\nmget\r\n$1\r\nx\r\n");
    }
}
