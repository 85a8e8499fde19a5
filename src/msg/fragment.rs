//! Splitting a multi-key request into fragments (twemproxy:
//! redis_fragment, memcache_fragment): which keys go together (`plan`,
//! a pure function the core and the `fragment_coalesce` fuzz target both
//! call) and the bytes of each sub-request (`build_fragment`).

use crate::msg::Msg;
use crate::proto::{memcache, redis, span_bytes, Cmd};

/// Splits keys by target: `key_target[i]` is where key `i` goes. Fills
/// `order` with the distinct targets, increasing (one fragment each, sent
/// in that order), and `key_child` with each key's index into `order`.
pub fn groups<T: Ord + Copy>(key_target: &[T], order: &mut Vec<T>, key_child: &mut Vec<u16>) {
    order.clear();
    order.extend_from_slice(key_target);
    order.sort_unstable();
    order.dedup();
    key_child.clear();
    key_child.extend(
        key_target
            .iter()
            .map(|t| order.binary_search(t).unwrap_or(0) as u16),
    );
}

/// The fragments of `m`: `groups` by target, a target's share cut further
/// where its line would be too long for the server (memcache gat/gats,
/// `memcache::fragment::line_chunks`). Returns each fragment's target and
/// key indexes, in sending order, and fills `key_child` with each key's
/// fragment.
pub fn plan<T: Ord + Copy>(
    m: &Msg,
    key_target: &[T],
    key_child: &mut Vec<u16>,
) -> Vec<(T, Vec<usize>)> {
    let mut order = Vec::new();
    groups(key_target, &mut order, key_child);
    let mut parts = Vec::with_capacity(order.len());
    let mut lens = Vec::new();
    // key_child is a u16: every target gets an equal share of the chunks
    let budget = (usize::from(u16::MAX) / order.len().max(1)).max(1);
    for (g, t) in order.into_iter().enumerate() {
        let idx: Vec<usize> = (0..key_child.len())
            .filter(|&k| usize::from(key_child[k]) == g)
            .collect();
        let Cmd::Memcache(cmd) = m.meta.cmd else {
            parts.push((t, idx));
            continue;
        };
        lens.clear();
        lens.extend(idx.iter().map(|&i| m.meta.keys[i].len as usize));
        let exptime = m.meta.exptime.len as usize;
        for r in memcache::fragment::line_chunks(cmd, exptime, &lens, budget) {
            parts.push((t, idx[r].to_vec()));
        }
    }
    for (f, (_, idx)) in parts.iter().enumerate() {
        for &i in idx {
            key_child[i] = f as u16;
        }
    }
    parts
}

/// The bytes of one sub-request: the keys `idx` of the parent (in order).
// COPY: fragment rewriting copies the keys (and MSET values); bounded by
// the parent request's size.
pub fn build_fragment(m: &Msg, idx: &[usize], scratch: &mut Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    match m.meta.cmd {
        Cmd::Redis(cmd) => {
            redis::fragment::frag_header(cmd, idx.len(), &mut out);
            for &i in idx {
                redis::fragment::frag_key(span_bytes(&m.data, m.meta.keys[i], scratch), &mut out);
                if let Some(&v) = m.meta.vals.get(i) {
                    redis::fragment::frag_key(span_bytes(&m.data, v, scratch), &mut out);
                }
            }
        }
        Cmd::Memcache(cmd) => {
            let exptime = span_bytes(&m.data, m.meta.exptime, scratch);
            memcache::fragment::frag_head(cmd, exptime, &mut out);
            for &i in idx {
                memcache::fragment::frag_key(
                    span_bytes(&m.data, m.meta.keys[i], scratch),
                    &mut out,
                );
            }
            memcache::fragment::frag_end(&mut out);
        }
        Cmd::None => {}
    }
    out
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
}
