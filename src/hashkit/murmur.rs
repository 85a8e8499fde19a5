//! MurmurHash2, 32-bit (twemproxy: hashkit/nc_murmur.c).
//!
//! Seed is `0xdeadbeef * len`; bytes are unsigned and words little-endian.

/// MurmurHash2 multiplier.
const M: u32 = 0x5bd1_e995;
/// MurmurHash2 shift.
const R: u32 = 24;

/// `murmur` (§HASH.3).
pub fn hash_murmur(key: &[u8]) -> u32 {
    // the C code works in 32 bits: the length wraps like a uint32_t cast
    let len = key.len() as u32;
    let seed = 0xdead_beef_u32.wrapping_mul(len);
    let mut h = seed ^ len;
    let mut words = key.chunks_exact(4);
    for w in &mut words {
        let mut k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = words.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&b0) = tail.first() {
        h ^= u32::from(b0);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}
