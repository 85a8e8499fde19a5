//! scratch
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn harness_failover() {
    let shard = start_shard();
    let sentinel = Sentinel::start(&[("m1", shard.master.port)]);
    let t = Instant::now();
    assert!(sentinel.wait_replicas("m1", 1));
    eprintln!("replica known after {:?}", t.elapsed());
    let mut sub = RespConn::connect(sentinel.port);
    eprintln!(
        "{:?}",
        String::from_utf8_lossy(&sub.call_words("SUBSCRIBE +switch-master"))
    );
    shard.master.proc.signal(libc::SIGKILL);
    let t = Instant::now();
    let msg = sub.read();
    eprintln!(
        "switch after {:?}: {:?}",
        t.elapsed(),
        String::from_utf8_lossy(&msg)
    );
    assert_eq!(sentinel.master_port("m1"), Some(shard.replica.port));
    let _ = Duration::ZERO;
}
