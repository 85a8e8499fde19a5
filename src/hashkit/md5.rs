//! MD5 based hashes (twemproxy: hashkit/nc_md5.c and `ketama_hash` in nc_ketama.c).
//!
//! Both read 4 digest bytes little-endian: `md5` the first word, `ketama_hash`
//! the word selected by `alignment` (0..=3).

use md5::{Digest, Md5};

/// The 16-byte MD5 digest of `key` (twemproxy: md5_signature).
fn md5_signature(key: &[u8]) -> [u8; 16] {
    Md5::digest(key).into()
}

/// Little-endian word `i` (0..=3) of a digest.
fn digest_word(d: &[u8; 16], i: usize) -> u32 {
    let w = i * 4;
    u32::from_le_bytes([d[w], d[w + 1], d[w + 2], d[w + 3]])
}

/// `md5` (§HASH.3): the first digest word.
pub fn hash_md5(key: &[u8]) -> u32 {
    digest_word(&md5_signature(key), 0)
}

/// The four continuum point values of one ketama host string (§HASH.3
/// `ketama_hash(s, 0..3)`), from a single digest.
pub fn ketama_hashes(host: &[u8]) -> [u32; 4] {
    let d = md5_signature(host);
    [
        digest_word(&d, 0),
        digest_word(&d, 1),
        digest_word(&d, 2),
        digest_word(&d, 3),
    ]
}
