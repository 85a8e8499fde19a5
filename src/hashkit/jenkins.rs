//! Bob Jenkins' lookup3 `hashlittle`, initval 13 (twemproxy: hashkit/nc_jenkins.c).
//!
//! Words are read little-endian from unsigned bytes; the last 1..=12 bytes
//! are zero-padded. An empty key returns the initial `c` without mixing.

/// lookup3 initval used by twemproxy.
const JENKINS_INITVAL: u32 = 13;

/// Little-endian word `i` of a 12-byte block.
fn word(blk: &[u8; 12], i: usize) -> u32 {
    u32::from_le_bytes([blk[4 * i], blk[4 * i + 1], blk[4 * i + 2], blk[4 * i + 3]])
}

/// One lookup3 mixing step: `x -= z; x ^= rot(z, k); z += y`.
fn step(x: &mut u32, y: u32, z: &mut u32, k: u32) {
    *x = x.wrapping_sub(*z) ^ z.rotate_left(k);
    *z = z.wrapping_add(y);
}

/// lookup3 `mix()`: reversible mixing of three words.
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    step(a, *b, c, 4);
    step(b, *c, a, 6);
    step(c, *a, b, 8);
    step(a, *b, c, 16);
    step(b, *c, a, 19);
    step(c, *a, b, 4);
}

/// lookup3 `final()`: last avalanche of three words; returns `c`.
fn final_mix(mut a: u32, mut b: u32, mut c: u32) -> u32 {
    c = (c ^ b).wrapping_sub(b.rotate_left(14));
    a = (a ^ c).wrapping_sub(c.rotate_left(11));
    b = (b ^ a).wrapping_sub(a.rotate_left(25));
    c = (c ^ b).wrapping_sub(b.rotate_left(16));
    a = (a ^ c).wrapping_sub(c.rotate_left(4));
    b = (b ^ a).wrapping_sub(a.rotate_left(14));
    (c ^ b).wrapping_sub(b.rotate_left(24))
}

/// `jenkins` (§HASH.3).
pub fn hash_jenkins(key: &[u8]) -> u32 {
    let init = 0xdead_beef_u32
        .wrapping_add(key.len() as u32)
        .wrapping_add(JENKINS_INITVAL);
    let (mut a, mut b, mut c) = (init, init, init);
    if key.is_empty() {
        return c;
    }
    // every full block except the last one is mixed; the last 1..=12 bytes go to final()
    let nfull = (key.len() - 1) / 12;
    let (body, tail) = key.split_at(nfull * 12);
    for chunk in body.chunks_exact(12) {
        let mut blk = [0u8; 12];
        blk.copy_from_slice(chunk);
        a = a.wrapping_add(word(&blk, 0));
        b = b.wrapping_add(word(&blk, 1));
        c = c.wrapping_add(word(&blk, 2));
        mix(&mut a, &mut b, &mut c);
    }
    let mut blk = [0u8; 12];
    blk[..tail.len()].copy_from_slice(tail);
    a = a.wrapping_add(word(&blk, 0));
    b = b.wrapping_add(word(&blk, 1));
    c = c.wrapping_add(word(&blk, 2));
    final_mix(a, b, c)
}
