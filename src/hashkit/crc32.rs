//! CRC-32 hashes (twemproxy: hashkit/nc_crc32.c), computed with crc32fast.
//!
//! `crc32a` is the standard IEEE CRC-32; `crc32` is libmemcached's variant,
//! which keeps only 15 bits (always < 32768).

/// `crc32a` (§HASH.3): standard CRC-32 (zlib).
pub fn hash_crc32a(key: &[u8]) -> u32 {
    crc32fast::hash(key)
}

/// `crc32` (§HASH.3): bits 16..31 of the CRC-32, top bit cleared.
pub fn hash_crc32(key: &[u8]) -> u32 {
    (hash_crc32a(key) >> 16) & 0x7FFF
}
