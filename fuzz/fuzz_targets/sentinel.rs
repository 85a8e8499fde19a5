//! Fuzz target: a Sentinel's replies to the proxy's session; the invariants live in
//! `nutcracker::testing::check_sentinel`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nutcracker::testing::check_sentinel(data));
