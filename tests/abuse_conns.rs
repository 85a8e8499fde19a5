#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Abuse: many connections (issue 8.5). 10,000 concurrent clients are all
//! served through a real redis-server, and `client_connections` caps a pool;
//! afterwards the proxy's memory and live messages return to baseline. A
//! client that is idle after a request holds no heap memory.

mod common;

use common::*;
use std::io::Write;
use std::time::Instant;

const ALPHA: &str = "{pool=\"alpha\"}";

/// A proxy (with `args`) in front of a real redis-server, ready for `n`
/// clients at once, and its listen port; None (the test skips) when
/// RLIMIT_NOFILE cannot be raised that far.
fn start_for(n: usize, args: &[&str]) -> Option<(Redis, Proxy, u16)> {
    let nofile = raise_nofile(n as u64 + 1024);
    if nofile < n as u64 + 512 {
        eprintln!(
            "SKIP: RLIMIT_NOFILE is {nofile}, need {} for {n} connections",
            n + 512
        );
        return None;
    }
    let redis = start_redis();
    let listen = free_port();
    let yaml = redis_pool_yaml(listen, redis.port, "  backlog: 4096\n");
    let proxy = Proxy::start(&yaml, args);
    assert!(wait_tcp(listen));
    Some((redis, proxy, listen))
}

#[test]
fn ten_thousand_concurrent_connections_all_served() {
    const N: usize = 10_000;
    let Some((_redis, proxy, listen)) = start_for(N, &["-i", "100", "-v", "4"]) else {
        return;
    };
    let pid = proxy.proc.pid();
    let mut s = connect(listen);
    s.write_all(&resp(&[b"SET", b"k", b"hello"])).unwrap();
    assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
    drop(s);
    let base = rss_kb(pid);

    let t0 = Instant::now();
    let mut conns: Vec<_> = (0..N).map(|_| connect(listen)).collect();
    let connected = t0.elapsed();
    let get = resp(&[b"GET", b"k"]);
    for c in &mut conns {
        c.write_all(&get).unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(read_n(c, 11), b"$5\r\nhello\r\n", "connection {i}");
    }
    let served = t0.elapsed();
    let series = format!("nutcracker_client_connections{ALPHA}");
    assert_eq!(
        wait_metric(proxy.stats_port, &series, N as i64),
        Some(N as i64)
    );
    let peak = rss_kb(pid);
    drop(conns);
    assert_eq!(wait_metric(proxy.stats_port, &series, 0), Some(0));
    assert_eq!(
        wait_metric(proxy.stats_port, "nutcracker_msgs_live", 0),
        Some(0)
    );
    let err = metric(proxy.stats_port, &format!("nutcracker_client_err{ALPHA}"));
    assert_eq!(err, Some(0));
    let after = rss_settle(pid, base);
    eprintln!(
        "{N} connections: connected in {connected:?}, all served in {served:?}; \
         RSS base {base} KiB, peak {peak} KiB, after {after} KiB"
    );
    assert!(
        after <= (base + base / 5).max(base + 8192),
        "RSS {after} KiB vs base {base} KiB"
    );
}

/// Clients idle after one GET each hold no heap memory: N idle clients
/// are connected (their slab slots in the base), then each sends a GET and
/// reads the reply, so the proxy's RSS may grow only by what the clients
/// kept allocated, which must be nothing (a reply queue kept after its
/// request was 48 bytes each: 188 KiB here).
#[test]
fn clients_idle_after_a_request_hold_no_heap() {
    const N: usize = 4_000;
    let Some((_redis, proxy, listen)) = start_for(N, &["-i", "100"]) else {
        return;
    };
    let pid = proxy.proc.pid();
    let series = format!("nutcracker_client_connections{ALPHA}");
    let get = resp(&[b"GET", b"k"]);
    let mut s = connect(listen);
    s.write_all(&resp(&[b"SET", b"k", b"hello"])).unwrap();
    assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
    s.write_all(&get).unwrap();
    assert_eq!(read_n(&mut s, 11), b"$5\r\nhello\r\n");
    let mut conns: Vec<_> = (0..N).map(|_| connect(listen)).collect();
    let n = N as i64 + 1;
    assert_eq!(wait_metric(proxy.stats_port, &series, n), Some(n));
    let base = rss_kb(pid);
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(&get).unwrap();
        assert_eq!(read_n(c, 11), b"$5\r\nhello\r\n", "connection {i}");
    }
    // every reply is written, so every reply queue is empty again
    let grown = rss_kb(pid).saturating_sub(base);
    eprintln!("{N} clients idle after a GET: RSS base {base} KiB, grown {grown} KiB");
    // a few pages of slack for the allocator, far below 16 bytes a client
    assert!(
        grown * 1024 < 16 * N as u64,
        "RSS grew {grown} KiB for {N} idle clients"
    );
}

#[test]
fn client_connections_caps_the_pool() {
    let redis = start_redis();
    let listen = free_port();
    let yaml = redis_pool_yaml(listen, redis.port, "  client_connections: 3\n");
    let proxy = Proxy::start(&yaml, &["-i", "100"]);
    assert!(wait_tcp(listen));
    // The readiness probe's connection must be gone before counting.
    let eof = format!("nutcracker_client_eof{ALPHA}");
    assert_eq!(wait_metric(proxy.stats_port, &eof, 1), Some(1));
    let series = format!("nutcracker_client_connections{ALPHA}");
    let ping = resp(&[b"PING"]);
    let mut kept: Vec<_> = (0..3).map(|_| connect(listen)).collect();
    for c in &mut kept {
        c.write_all(&ping).unwrap();
        assert_eq!(read_n(c, 7), b"+PONG\r\n");
    }
    let mut over = connect(listen);
    assert_eq!(
        read_to_close(&mut over),
        b"-ERR max number of clients reached\r\n"
    );
    // The three admitted clients are unaffected, and a slot freed is reusable.
    kept[2].write_all(&resp(&[b"GET", b"nokey"])).unwrap();
    assert_eq!(read_n(&mut kept[2], 5), b"$-1\r\n");
    kept.pop();
    assert_eq!(wait_metric(proxy.stats_port, &series, 2), Some(2));
    let mut again = connect(listen);
    again.write_all(&ping).unwrap();
    assert_eq!(read_n(&mut again, 7), b"+PONG\r\n");
    let err = metric(proxy.stats_port, &format!("nutcracker_client_err{ALPHA}"));
    assert_eq!(err, Some(0), "a refused client is not a client error");
}
