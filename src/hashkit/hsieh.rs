//! Paul Hsieh's SuperFastHash, seeded with 0 (twemproxy: hashkit/nc_hsieh.c).
//!
//! 16-bit reads are unsigned little-endian; only the third byte of a trailing
//! 3-byte group enters sign-extended (§HASH.2).

use super::sx32;

/// Little-endian 16-bit read at `i` (twemproxy: get16bits).
fn get16bits(key: &[u8], i: usize) -> u32 {
    u32::from(key[i]) | u32::from(key[i + 1]) << 8
}

/// `hsieh` (§HASH.3).
pub fn hash_hsieh(key: &[u8]) -> u32 {
    if key.is_empty() {
        return 0;
    }
    let mut h: u32 = 0;
    let mut blocks = key.chunks_exact(4);
    for blk in &mut blocks {
        h = h.wrapping_add(get16bits(blk, 0));
        let t = (get16bits(blk, 2) << 11) ^ h;
        h = (h << 16) ^ t;
        h = h.wrapping_add(h >> 11);
    }
    let tail = blocks.remainder();
    match tail.len() {
        3 => {
            h = h.wrapping_add(get16bits(tail, 0));
            h ^= h << 16;
            h ^= sx32(tail[2]) << 18;
            h = h.wrapping_add(h >> 11);
        }
        2 => {
            h = h.wrapping_add(get16bits(tail, 0));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        1 => {
            h = h.wrapping_add(u32::from(tail[0]));
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => {}
    }
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h.wrapping_add(h >> 6)
}
