#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Abuse: slowloris (issue 8.5). 1,000 connections each send one byte of a
//! request every 100 ms; 10 clean clients beside them are answered all the
//! while (their latency with and without the load is printed, not judged:
//! that is the benchmarks' job), and afterwards memory and live messages
//! return to baseline.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALPHA: &str = "{pool=\"alpha\"}";
const SLOW: usize = 1000;

/// Round trips each clean client makes per call of [`clean_latencies`].
const ROUNDS: usize = 100;

/// Latencies of `ROUNDS` GET round trips by each of 10 clients; a reply
/// missing past the read timeout (`WAIT`) fails the test.
fn clean_latencies(listen: u16) -> Vec<Duration> {
    let clients: Vec<_> = (0..10)
        .map(|id| {
            std::thread::spawn(move || {
                let mut s = connect(listen);
                s.set_nodelay(true).unwrap();
                let get = resp(&[b"GET", b"clean"]);
                let want = b"$5\r\nvalue\r\n";
                let mut lat = Vec::new();
                for _ in 0..ROUNDS {
                    let t = Instant::now();
                    s.write_all(&get).unwrap();
                    assert_eq!(read_n(&mut s, want.len()), want, "client {id}");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    clients
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

fn pct(lat: &[Duration], p: usize) -> Duration {
    lat[(lat.len() * p / 100).min(lat.len() - 1)]
}

/// Dribbles a valid request into each of `conns`, one byte per connection
/// every 100 ms, until `stop`; counts the rounds of bytes in `ticks`.
fn slowloris(mut conns: Vec<TcpStream>, stop: &AtomicBool, ticks: &AtomicUsize) -> usize {
    let req = resp(&[b"GET", b"slow"]);
    let mut sent = 0;
    let mut at = 0;
    while !stop.load(Ordering::Relaxed) {
        let tick = Instant::now();
        for c in &mut conns {
            c.write_all(&req[at..at + 1]).unwrap();
            sent += 1;
        }
        at = (at + 1) % req.len();
        ticks.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(100).saturating_sub(tick.elapsed()));
    }
    // Read the replies to the requests completed so far, then close
    // cleanly (a close with unread bytes would be a reset, a client_err).
    std::thread::sleep(Duration::from_millis(200));
    let mut sink = [0u8; 1024];
    for c in &mut conns {
        c.set_nonblocking(true).unwrap();
        while matches!(c.read(&mut sink), Ok(n) if n > 0) {}
    }
    sent
}

#[test]
fn clean_clients_are_served_throughout_a_slowloris() {
    let nofile = raise_nofile(4096);
    if nofile < SLOW as u64 + 256 {
        eprintln!("SKIP: RLIMIT_NOFILE is {nofile}, need {}", SLOW + 256);
        return;
    }
    let redis = start_redis();
    let listen = free_port();
    let yaml = redis_pool_yaml(listen, redis.port, "  backlog: 2048\n");
    let proxy = Proxy::start(&yaml, &["-i", "100", "-v", "4"]);
    assert!(wait_tcp(listen));
    let mut s = connect(listen);
    s.write_all(&resp(&[b"SET", b"clean", b"value"])).unwrap();
    assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
    drop(s);
    let pid = proxy.proc.pid();
    let base_rss = rss_kb(pid);

    let mut quiet = clean_latencies(listen);
    quiet.sort();
    let conns: Vec<TcpStream> = (0..SLOW).map(|_| connect(listen)).collect();
    let series = format!("nutcracker_client_connections{ALPHA}");
    assert_eq!(
        wait_metric(proxy.stats_port, &series, SLOW as i64),
        Some(SLOW as i64)
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicUsize::new(0));
    let loris = {
        let (stop, ticks) = (stop.clone(), ticks.clone());
        std::thread::spawn(move || slowloris(conns, &stop, &ticks))
    };
    // Every slow connection holds a partial request before the clean
    // clients start, and keeps dribbling until they are done: rounds of
    // clean GETs go on until the slowloris has sent three more bytes into
    // each of its connections, however slow the machine.
    let at = |n: usize| wait_until(WAIT, || ticks.load(Ordering::Relaxed) >= n);
    assert!(at(2), "the slowloris never started");
    let until = ticks.load(Ordering::Relaxed) + 3;
    let mut loaded = clean_latencies(listen);
    while ticks.load(Ordering::Relaxed) < until {
        loaded.extend(clean_latencies(listen));
    }
    loaded.sort();
    let peak_rss = rss_kb(pid);
    stop.store(true, Ordering::Relaxed);
    let bytes = loris.join().unwrap();

    eprintln!(
        "slowloris: {SLOW} connections, {bytes} single bytes sent; clean GETs: \
         quiet n={} p50={:?} p99={:?} max={:?}; under slowloris n={} p50={:?} p99={:?} max={:?}",
        quiet.len(),
        pct(&quiet, 50),
        pct(&quiet, 99),
        quiet[quiet.len() - 1],
        loaded.len(),
        pct(&loaded, 50),
        pct(&loaded, 99),
        loaded[loaded.len() - 1],
    );
    assert_eq!(wait_metric(proxy.stats_port, &series, 0), Some(0));
    assert_eq!(
        wait_metric(proxy.stats_port, "nutcracker_msgs_live", 0),
        Some(0)
    );
    let err = metric(proxy.stats_port, &format!("nutcracker_client_err{ALPHA}"));
    assert_eq!(err, Some(0));
    let after = rss_settle(pid, base_rss);
    eprintln!("slowloris: RSS base {base_rss} KiB, under load {peak_rss} KiB, after {after} KiB");
    assert!(
        after <= (base_rss + base_rss / 5).max(base_rss + 8192),
        "RSS {after} KiB"
    );
}
