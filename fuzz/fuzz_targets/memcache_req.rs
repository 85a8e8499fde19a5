//! Fuzz target: memcache requests; the invariants live in `nutcracker::testing::check_memcache_req`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nutcracker::testing::check_memcache_req(data));
