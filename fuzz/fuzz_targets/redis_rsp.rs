//! Fuzz target: redis replies; the invariants live in `nutcracker::testing::check_redis_rsp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nutcracker::testing::check_redis_rsp(data));
