//! Splitting a multi-key request into fragments (twemproxy:
//! redis_fragment, memcache_fragment): which keys go together (`groups`,
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
            let mut keys: Vec<Vec<u8>> = Vec::with_capacity(idx.len());
            for &i in idx {
                keys.push(span_bytes(&m.data, m.meta.keys[i], scratch).to_vec());
            }
            memcache::fragment::frag_req(cmd, keys.iter().map(|k| k.as_slice()), &mut out);
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
