#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `--batch-wait` (issue 18): under unpipelined load the loop naps before
//! it blocks in epoll_wait. Nothing may be lost, answered twice or out of
//! order however long it naps or holds requests for an idle server: many
//! clients, one request at a time each, through two real redis-servers,
//! with the default budget, a budget far above every deadline, and napping
//! off. The stats count the naps (`batch_waits`, `batch_wait_naps`,
//! `batch_wait_misses`): some under this load whenever napping is on (every
//! probe of whether batching pays starts with epochs that nap), none when
//! it is off; and the probes (`batch_probes`, `batch_probes_on`), none
//! when napping is off.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{BufReader, Write};

const CLIENTS: usize = 24;
const ROUNDS: usize = 150;

/// Each client SETs and GETs its own keys, one request at a time, and
/// checks every reply; then the stats must count every request. Returns
/// the `--batch-wait` counters from the JSON once they are.
fn every_reply_arrives(args: &[&str]) -> BatchWaits {
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
    let bw = BatchWaits::from_json(&v);
    // The same running totals in Prometheus, read later: never lower.
    let prom = |name: &str| metric(pool.proxy.stats_port, name).unwrap();
    assert!(prom("nutcracker_batch_waits") >= bw.waits, "{bw:?}");
    assert!(prom("nutcracker_batch_wait_naps") >= bw.naps, "{bw:?}");
    assert!(prom("nutcracker_batch_wait_misses") >= bw.misses, "{bw:?}");
    bw
}

/// The three header counters of `--batch-wait`.
#[derive(Debug, PartialEq, Eq)]
struct BatchWaits {
    waits: i64,     // batch_waits
    naps: i64,      // batch_wait_naps
    misses: i64,    // batch_wait_misses
    probes: i64,    // batch_probes
    probes_on: i64, // batch_probes_on
}

impl BatchWaits {
    fn from_json(v: &HashMap<String, i64>) -> BatchWaits {
        let get = |k: &str| *v.get(k).unwrap_or_else(|| panic!("no {k} in {v:?}"));
        BatchWaits {
            waits: get("batch_waits"),
            naps: get("batch_wait_naps"),
            misses: get("batch_wait_misses"),
            probes: get("batch_probes"),
            probes_on: get("batch_probes_on"),
        }
    }

    /// The relations every nap path keeps: a miss slept its whole budget
    /// (at least one nap, at most `max_naps`) and then blocked; a hit
    /// slept at most the budget.
    fn check(&self, max_naps: i64) {
        assert!(self.waits > 0, "no nap under unpipelined load: {self:?}");
        assert!(self.misses <= self.waits, "{self:?}");
        assert!(self.misses <= self.naps, "{self:?}");
        assert!(self.naps <= self.waits * max_naps, "{self:?}");
        assert!(self.probes_on <= self.probes, "{self:?}");
    }
}

#[test]
fn unpipelined_clients_with_default_batch_wait() {
    every_reply_arrives(&[]).check(4); // 400 us in naps of 100
}

#[test]
fn unpipelined_clients_with_a_budget_beyond_every_deadline() {
    // the loop never sleeps past its 1 s deadline: 10,000 naps at most
    every_reply_arrives(&["--batch-wait=5000000"]).check(10_000);
}

#[test]
fn unpipelined_clients_without_batch_wait() {
    // no naps, no held writes, and no probe of whether they would pay
    let none = BatchWaits {
        waits: 0,
        naps: 0,
        misses: 0,
        probes: 0,
        probes_on: 0,
    };
    assert_eq!(every_reply_arrives(&["--batch-wait=0"]), none);
}
