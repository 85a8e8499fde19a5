//! Fowler/Noll/Vo hashes (twemproxy: hashkit/nc_fnv.c).
//!
//! All four read key bytes sign-extended (§HASH.2). `fnv1_64` runs in 64 bits
//! and returns the low word; `fnv1a_64` uses the 64-bit basis and prime
//! truncated to 32 bits, as the C code does.

use super::{sx32, sx64};

/// 64-bit FNV offset basis.
const FNV_64_INIT: u64 = 0xcbf2_9ce4_8422_2325;
/// 64-bit FNV prime.
const FNV_64_PRIME: u64 = 0x0000_0100_0000_01b3;
/// 32-bit FNV offset basis.
const FNV_32_INIT: u32 = 0x811c_9dc5;
/// 32-bit FNV prime.
const FNV_32_PRIME: u32 = 0x0100_0193;

/// `fnv1_64` (§HASH.3).
pub fn hash_fnv1_64(key: &[u8]) -> u32 {
    let h = key
        .iter()
        .fold(FNV_64_INIT, |h, &b| h.wrapping_mul(FNV_64_PRIME) ^ sx64(b));
    h as u32
}

/// `fnv1a_64` (§HASH.3): 32-bit arithmetic with the truncated 64-bit constants.
pub fn hash_fnv1a_64(key: &[u8]) -> u32 {
    key.iter().fold(FNV_64_INIT as u32, |h, &b| {
        (h ^ sx32(b)).wrapping_mul(FNV_64_PRIME as u32)
    })
}

/// `fnv1_32` (§HASH.3).
pub fn hash_fnv1_32(key: &[u8]) -> u32 {
    key.iter()
        .fold(FNV_32_INIT, |h, &b| h.wrapping_mul(FNV_32_PRIME) ^ sx32(b))
}

/// `fnv1a_32` (§HASH.3).
pub fn hash_fnv1a_32(key: &[u8]) -> u32 {
    key.iter().fold(FNV_32_INIT, |h, &b| {
        (h ^ sx32(b)).wrapping_mul(FNV_32_PRIME)
    })
}
