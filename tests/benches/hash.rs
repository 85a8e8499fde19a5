#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Micro-benchmark of key hashing and continuum lookup (twemproxy:
//! `server_pool_idx` per key). Hand-rolled: `cargo bench --bench hash`.
//!
//! For every hash and for 16-byte and 200-byte keys, prints ns/key for the
//! hash alone and for hash + ketama lookup over 4 servers (`Router::server_index`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use nutcracker::hashkit::{Distribution, HashKind, Router};

/// Distinct keys per run, so lookups do not hit one continuum point.
const NKEYS: usize = 1024;
/// Wall time of one measurement; each row reports the fastest of `NRUNS`
/// (the machine is shared, so the minimum is the least disturbed run).
const BUDGET: Duration = Duration::from_millis(40);
/// Measurements per row.
const NRUNS: usize = 7;

/// `NKEYS` keys of `len` printable bytes, each distinct.
fn make_keys(len: usize) -> Vec<Vec<u8>> {
    let mut x: u32 = 0x9e37_79b9;
    (0..NKEYS)
        .map(|_| {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    b'!' + (x % 94) as u8
                })
                .collect()
        })
        .collect()
}

/// The fastest of `NRUNS` measurements of `f`, in ns per key.
fn ns_per_key(keys: &[Vec<u8>], mut f: impl FnMut(&[u8]) -> u64) -> f64 {
    (0..NRUNS)
        .map(|_| measure(keys, &mut f))
        .fold(f64::INFINITY, f64::min)
}

/// Runs `f` over all keys until the budget is spent; returns ns per key.
fn measure(keys: &[Vec<u8>], f: &mut impl FnMut(&[u8]) -> u64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    let mut sink = 0u64;
    while start.elapsed() < BUDGET {
        for k in keys {
            sink = sink.wrapping_add(f(black_box(k)));
        }
        n += keys.len() as u64;
    }
    black_box(sink);
    start.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let names: [&[u8]; 4] = [
        b"127.0.0.1:21001",
        b"127.0.0.1:21002",
        b"127.0.0.1:21003",
        b"127.0.0.1:21004",
    ];
    let servers: Vec<(&[u8], u32)> = names.iter().map(|&n| (n, 1)).collect();
    println!(
        "{:<14} {:>6} {:>10} {:>16}",
        "hash", "keylen", "hash ns", "hash+ketama ns"
    );
    for len in [16, 200] {
        let keys = make_keys(len);
        for kind in HashKind::ALL {
            let router = Router::new(kind, None, Distribution::Ketama, &servers);
            let hash = ns_per_key(&keys, |k| u64::from(kind.hash(k)));
            let route = ns_per_key(&keys, |k| router.server_index(k).map_or(0, |i| i as u64));
            println!(
                "{:<14} {:>6} {:>10.1} {:>16.1}",
                kind.name(),
                len,
                hash,
                route
            );
        }
    }
}
