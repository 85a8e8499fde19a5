//! Fuzz target: any chunking parses as one shot; the invariants live in `nutcracker::testing::check_split`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nutcracker::testing::check_split(data));
