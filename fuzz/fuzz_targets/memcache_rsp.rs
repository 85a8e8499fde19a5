//! Fuzz target: memcache replies; the invariants live in `nutcracker::testing::check_memcache_rsp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nutcracker::testing::check_memcache_rsp(data));
