#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `--batch-wait` (issue 18): under unpipelined load the loop naps before
//! it blocks in epoll_wait. Nothing may be lost, answered twice or out of
//! order however long it naps: many clients, one request at a time each,
//! through two real redis-servers, with the default budget, a budget far
//! above every deadline, and napping off.

mod common;

use common::*;
use std::io::{BufReader, Write};

const CLIENTS: usize = 24;
const ROUNDS: usize = 150;

/// Each client SETs and GETs its own keys, one request at a time, and
/// checks every reply; then the stats must count every request.
fn every_reply_arrives(args: &[&str]) {
    let pool = start_redis_pool(2, "", args);
    let port = pool.port;
    std::thread::scope(|s| {
        for c in 0..CLIENTS {
            s.spawn(move || {
                let conn = connect(port);
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                for i in 0..ROUNDS {
                    let key = format!("bw:{c}:{i}");
                    let val = format!("v{c}-{i}");
                    w.write_all(&resp(&[b"SET", key.as_bytes(), val.as_bytes()]))
                        .unwrap();
                    assert_eq!(read_reply(&mut r).unwrap(), b"+OK\r\n", "{key}");
                    w.write_all(&resp(&[b"GET", key.as_bytes()])).unwrap();
                    let want = format!("${}\r\n{val}\r\n", val.len());
                    assert_eq!(read_reply(&mut r).unwrap(), want.as_bytes(), "{key}");
                }
            });
        }
    });
    let total = (2 * CLIENTS * ROUNDS) as i64;
    let (ok, v) = wait_stats(pool.proxy.stats_port, WAIT, |m| {
        m.get("alpha/s0/requests").unwrap_or(&0) + m.get("alpha/s1/requests").unwrap_or(&0) == total
    });
    assert!(ok, "stats never counted {total} requests: {v:?}");
    assert_eq!(
        wait_metric(pool.proxy.stats_port, "nutcracker_msgs_live", 0),
        Some(0)
    );
}

#[test]
fn unpipelined_clients_with_default_batch_wait() {
    every_reply_arrives(&[]);
}

#[test]
fn unpipelined_clients_with_a_budget_beyond_every_deadline() {
    every_reply_arrives(&["--batch-wait=5000000"]);
}

#[test]
fn unpipelined_clients_without_batch_wait() {
    every_reply_arrives(&["--batch-wait=0"]);
}
