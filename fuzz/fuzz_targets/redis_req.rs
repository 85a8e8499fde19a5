//! Fuzz target: redis requests; the invariants live in `nutcracker::testing::check_redis_req`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nutcracker::testing::check_redis_req(data));
