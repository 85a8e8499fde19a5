//! Fuzz target: fragmented multi-key requests coalesce to the whole reply; the invariants live in `nutcracker::testing::check_fragment`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nutcracker::testing::check_fragment(data));
