//! Splitting a multi-key request into fragments (twemproxy:
//! redis_fragment, memcache_fragment): which keys go together (`groups`)
//! and the bytes of each sub-request (`fragments`, a pure function the
//! core and the `fragment_coalesce` fuzz target both call).

use crate::msg::Msg;
use crate::proto::{memcache, redis, ChainCursor, Cmd, Span};

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
    pub bytes: Vec<u8>,
    pub nkeys: u32,
}

/// The fragments of `m`, whose key `i` goes to `key_target[i]`, in sending
/// order (`groups`; memcache gat/gats cut a target's share further where
/// its line would be too long for the server,
/// `memcache::fragment::line_chunks`); fills `key_child` with each key's
/// fragment.
pub fn fragments<T: Ord + Copy>(
    m: &Msg,
    key_target: &[T],
    key_child: &mut Vec<u16>,
    scratch: &mut Vec<u8>,
) -> Vec<Fragment<T>> {
    let mut order = Vec::new();
    groups(key_target, &mut order, key_child);
    match m.meta.cmd {
        Cmd::Redis(cmd) => redis_fragments(m, cmd, &order, key_child, scratch),
        Cmd::Memcache(cmd) => memcache_fragments(m, cmd, &order, key_child, scratch),
        Cmd::None => Vec::new(),
    }
}

/// Redis: one sub-request per target, each sized exactly first, then
/// filled in one pass over the keys (and MSET values).
// COPY: fragment rewriting copies the keys (and MSET values); bounded by
// the parent request's size.
fn redis_fragments<T: Copy>(
    m: &Msg,
    cmd: redis::Cmd,
    order: &[T],
    key_child: &[u16],
    scratch: &mut Vec<u8>,
) -> Vec<Fragment<T>> {
    let (keys, vals) = (&m.meta.keys, &m.meta.vals);
    let mut frags: Vec<Fragment<T>> = order
        .iter()
        .map(|&target| Fragment {
            target,
            bytes: Vec::new(),
            nkeys: 0,
        })
        .collect();
    let mut size = vec![0usize; frags.len()];
    for (i, &c) in key_child.iter().enumerate() {
        let c = usize::from(c);
        let val = vals.get(i).map_or(0, |&v| redis::fragment::bulk_len(v.len));
        if let (Some(f), Some(n), Some(k)) = (frags.get_mut(c), size.get_mut(c), keys.get(i)) {
            f.nkeys += 1;
            *n += redis::fragment::bulk_len(k.len) + val;
        }
    }
    for (f, n) in frags.iter_mut().zip(size) {
        f.bytes.reserve_exact(n + 32);
        redis::fragment::frag_header(cmd, f.nkeys as usize, &mut f.bytes);
    }
    let mut cur = ChainCursor::new(&m.data);
    let mut bulk = |span: Span, out: &mut Vec<u8>| {
        redis::fragment::frag_key(cur.bytes(span, scratch), out);
    };
    for (i, &c) in key_child.iter().enumerate() {
        let (Some(f), Some(&k)) = (frags.get_mut(usize::from(c)), keys.get(i)) else {
            continue;
        };
        bulk(k, &mut f.bytes);
        if let Some(&v) = vals.get(i) {
            bulk(v, &mut f.bytes);
        }
    }
    frags
}

/// Memcache: a target's keys on one line (`get k1 k2`), cut further where
/// the line would be too long (`memcache::fragment::line_chunks`).
// COPY: fragment rewriting copies the keys; bounded by the parent
// request's size.
fn memcache_fragments<T: Copy>(
    m: &Msg,
    cmd: memcache::Cmd,
    order: &[T],
    key_child: &mut [u16],
    scratch: &mut Vec<u8>,
) -> Vec<Fragment<T>> {
    let mut parts: Vec<(T, Vec<usize>)> = Vec::with_capacity(order.len());
    let mut lens = Vec::new();
    let mut s2 = Vec::new();
    let exptime = ChainCursor::new(&m.data).bytes(m.meta.exptime, &mut s2);
    // key_child is a u16: every target gets an equal share of the chunks
    let budget = (usize::from(u16::MAX) / order.len().max(1)).max(1);
    for (g, &t) in order.iter().enumerate() {
        let idx: Vec<usize> = (0..key_child.len())
            .filter(|&k| usize::from(key_child[k]) == g)
            .collect();
        lens.clear();
        lens.extend(idx.iter().map(|&i| m.meta.keys[i].len as usize));
        for r in memcache::fragment::line_chunks(cmd, m.meta.exptime.len as usize, &lens, budget) {
            parts.push((t, idx[r].to_vec()));
        }
    }
    let mut frags = Vec::with_capacity(parts.len());
    for (f, (target, idx)) in parts.into_iter().enumerate() {
        let mut out = Vec::new();
        memcache::fragment::frag_head(cmd, exptime, &mut out);
        let mut cur = ChainCursor::new(&m.data);
        for &i in &idx {
            key_child[i] = f as u16;
            memcache::fragment::frag_key(cur.bytes(m.meta.keys[i], scratch), &mut out);
        }
        memcache::fragment::frag_end(&mut out);
        frags.push(Fragment {
            target,
            bytes: out,
            nkeys: idx.len() as u32,
        });
    }
    frags
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
}
