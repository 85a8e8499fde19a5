//! Bob Jenkins' one-at-a-time hash (twemproxy: hashkit/nc_one_at_a_time.c).
//!
//! Key bytes enter sign-extended (§HASH.2), as C `char` does on x86-64.

use super::sx32;

/// `one_at_a_time` (§HASH.3).
pub fn hash_one_at_a_time(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &b in key {
        h = h.wrapping_add(sx32(b));
        h = h.wrapping_add(h << 10);
        h ^= h >> 6;
    }
    h = h.wrapping_add(h << 3);
    h ^= h >> 11;
    h.wrapping_add(h << 15)
}
