//! Fuzz target: configuration text (src/conf.rs); the invariants live in `nutcracker::testing::check_conf`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nutcracker::testing::check_conf(data));
