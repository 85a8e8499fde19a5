#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Abuse: hostile request bytes (issue 8.4-8.5). Oversized bulk headers,
//! requests over `max_request_bytes` / `max_request_args`, and random
//! garbage get a clear error and a counter; clean clients beside them see
//! no error, and memory and live messages return to baseline.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALPHA: &str = "{pool=\"alpha\"}";

fn counter(proxy: &Proxy, name: &str) -> Option<i64> {
    metric(proxy.stats_port, &format!("nutcracker_{name}{ALPHA}"))
}

/// A proxy for one pool `alpha` (redis or memcache) with `extra` directives.
fn proxy_for(redis: bool, server: u16, extra: &str) -> (Proxy, u16) {
    let listen = free_port();
    let yaml = if redis {
        redis_pool_yaml(listen, server, extra)
    } else {
        format!(
            "alpha:\n  listen: 127.0.0.1:{listen}\n{extra}  servers:\n   - 127.0.0.1:{server}:1\n"
        )
    };
    let proxy = Proxy::start(&yaml, &["-i", "100"]);
    assert!(wait_tcp(listen));
    // The readiness probe's connection is closed and counted.
    let eof = format!("nutcracker_client_eof{ALPHA}");
    assert_eq!(wait_metric(proxy.stats_port, &eof, 1), Some(1));
    (proxy, listen)
}

/// Sends `req` on a new connection and returns everything up to the close.
fn refused(listen: u16, req: &[u8]) -> Vec<u8> {
    let mut s = connect(listen);
    s.write_all(req).unwrap();
    read_to_close(&mut s)
}

fn assert_back_to_baseline(proxy: &Proxy, what: &str, base: u64) {
    let live = wait_metric(proxy.stats_port, "nutcracker_msgs_live", 0);
    assert_eq!(live, Some(0), "{what}: messages still live");
    let after = rss_settle(proxy.proc.pid(), base);
    eprintln!("{what}: RSS base {base} KiB, after {after} KiB");
    assert!(
        after <= (base + base / 5).max(base + 8192),
        "{what}: RSS {after} KiB vs base {base} KiB"
    );
}

#[test]
fn a_gigabyte_bulk_header_is_refused_without_allocating() {
    let redis = start_redis();
    let (proxy, listen) = proxy_for(true, redis.port, "");
    let pid = proxy.proc.pid();
    let base = rss_kb(pid);
    let header = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n";
    // The earlier request is answered first, then the refusal, then the close.
    let mut req = resp(&[b"PING"]);
    req.extend_from_slice(header);
    assert_eq!(
        refused(listen, &req),
        b"+PONG\r\n-ERR Protocol error: bulk length larger than 536870912\r\n"
    );
    for _ in 0..99 {
        let reply = refused(listen, header);
        assert_eq!(
            reply,
            b"-ERR Protocol error: bulk length larger than 536870912\r\n"
        );
    }
    let peak = rss_kb(pid);
    assert_eq!(
        wait_metric(
            proxy.stats_port,
            &format!("nutcracker_requests_too_large{ALPHA}"),
            100
        ),
        Some(100)
    );
    assert_eq!(counter(&proxy, "client_err"), Some(100));
    eprintln!("100 x $1073741824: RSS base {base} KiB, after the refusals {peak} KiB");
    assert!(peak <= base + 8192, "RSS grew from {base} to {peak} KiB");
    assert_back_to_baseline(&proxy, "gigabyte bulk headers", base);
}

#[test]
fn memcache_huge_data_block_and_too_many_keys() {
    let mc = start_memcached();
    let (proxy, listen) = proxy_for(false, mc.port, "  max_request_args: 4\n");
    let base = rss_kb(proxy.proc.pid());
    assert_eq!(
        refused(listen, b"set k 0 0 1073741824\r\n"),
        b"CLIENT_ERROR data block larger than 536870912\r\n"
    );
    // A get over max_request_args: its line is whole, the connection stays.
    let mut s = connect(listen);
    s.write_all(b"get a b c d e\r\n").unwrap();
    assert_eq!(read_n(&mut s, 32), b"CLIENT_ERROR request too large\r\n");
    s.write_all(b"get a b c d\r\n").unwrap();
    assert_eq!(read_n(&mut s, 5), b"END\r\n");
    drop(s);
    assert_eq!(
        wait_metric(
            proxy.stats_port,
            &format!("nutcracker_requests_too_many_args{ALPHA}"),
            1
        ),
        Some(1)
    );
    assert_eq!(counter(&proxy, "requests_too_large"), Some(1));
    assert_back_to_baseline(&proxy, "memcache limits", base);
}

#[test]
fn configured_request_limits_refuse_and_count() {
    let redis = start_redis();
    let extra = "  max_request_bytes: 1024\n  max_request_args: 8\n";
    let (proxy, listen) = proxy_for(true, redis.port, extra);
    let base = rss_kb(proxy.proc.pid());
    let err = |why: &str| format!("-ERR Protocol error: {why}\r\n").into_bytes();
    let v900 = vec![b'v'; 900];
    let v1000 = vec![b'v'; 1000];
    let v2000 = vec![b'v'; 2000];
    let many: Vec<&[u8]> = std::iter::once(&b"MGET"[..])
        .chain([&b"k"[..]; 8])
        .collect();
    let cases: [(Vec<u8>, Vec<u8>); 5] = [
        (resp(&many), err("multibulk count larger than 8")),
        (
            b"MGET a b c d e f g h\r\n".to_vec(),
            err("inline arguments larger than 8"),
        ),
        (
            resp(&[b"SET", b"k", &v2000]),
            err("bulk length larger than 1024"),
        ),
        (
            resp(&[b"SET", b"k", &v1000]),
            err("request larger than 1024"),
        ),
        (
            [&b"GET "[..], &v2000, b"\r\n"].concat(),
            err("line longer than 1024 bytes"),
        ),
    ];
    for (req, want) in &cases {
        assert_eq!(
            &refused(listen, req),
            want,
            "{:?}",
            String::from_utf8_lossy(&req[..20])
        );
    }
    // Just under both limits: forwarded as usual.
    let mut s = connect(listen);
    let seven: Vec<&[u8]> = std::iter::once(&b"MGET"[..])
        .chain([&b"k"[..]; 7])
        .collect();
    s.write_all(&resp(&[b"SET", b"k", &v900])).unwrap();
    s.write_all(&resp(&seven)).unwrap();
    assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
    let mut item = b"$900\r\n".to_vec();
    item.extend_from_slice(&v900);
    item.extend_from_slice(b"\r\n");
    let mut want = b"*7\r\n".to_vec();
    for _ in 0..7 {
        want.extend_from_slice(&item);
    }
    assert_eq!(read_n(&mut s, want.len()), want);
    drop(s);
    assert_eq!(
        wait_metric(
            proxy.stats_port,
            &format!("nutcracker_client_err{ALPHA}"),
            5
        ),
        Some(5)
    );
    assert_eq!(counter(&proxy, "requests_too_large"), Some(3));
    assert_eq!(counter(&proxy, "requests_too_many_args"), Some(2));
    assert_back_to_baseline(&proxy, "configured limits", base);
}

/// xorshift64*: reproducible garbage without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Random bytes, raw or dressed as a redis request to reach deeper states.
    fn garbage(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.below(4) {
            0 => out.extend_from_slice(format!("*{}\r\n", self.next() % 100_000).as_bytes()),
            1 => out.extend_from_slice(
                format!("*2\r\n${}\r\n", self.next() % 1_000_000_000).as_bytes(),
            ),
            _ => {}
        }
        let n = 1 + self.below(512);
        out.extend((0..n).map(|_| self.next() as u8));
        out
    }
}

/// One clean client: SET then GET its own keys until `stop`, counting the
/// round trips in `done`; panics on any unexpected byte, or when a reply
/// takes longer than the read timeout (`WAIT`): starved.
fn clean_client(listen: u16, id: usize, stop: &AtomicBool, done: &AtomicUsize) -> usize {
    let mut s = connect(listen);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("clean:{id}:{}", n % 50);
        let val = format!("value-{id}-{n}");
        s.write_all(&resp(&[b"SET", key.as_bytes(), val.as_bytes()]))
            .unwrap();
        assert_eq!(read_n(&mut s, 5), b"+OK\r\n", "client {id} SET {n}");
        s.write_all(&resp(&[b"GET", key.as_bytes()])).unwrap();
        let want = format!("${}\r\n{val}\r\n", val.len());
        assert_eq!(
            read_n(&mut s, want.len()),
            want.as_bytes(),
            "client {id} GET {n}"
        );
        n += 1;
        done.store(n, Ordering::Relaxed);
    }
    n
}

/// Round trips each clean client makes while the garbage flows.
const CLEAN_ROUNDS: usize = 20;
/// Framing errors the garbage must cause while the clean clients run.
const GARBAGE_ERRS: i64 = 50;

/// Keeps `n` connections spewing garbage (reconnecting as the proxy closes
/// them) until `stop`; returns how many connections were used.
fn garbage_clients(listen: u16, n: usize, stop: &AtomicBool) -> usize {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let open = || {
        let s = TcpStream::connect(("127.0.0.1", listen)).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    };
    let mut conns: Vec<TcpStream> = (0..n).map(|_| open()).collect();
    let mut used = n;
    let mut sink = [0u8; 4096];
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        if round % n == 0 {
            // A flood, not a busy loop that starves the test's other threads.
            std::thread::sleep(Duration::from_millis(2));
        }
        let i = rng.below(n);
        let bytes = rng.garbage();
        let mut dead = conns[i].write(&bytes).is_err();
        loop {
            match conns[i].read(&mut sink) {
                Ok(0) => dead = true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => dead = true,
            }
            break;
        }
        if dead {
            conns[i] = open();
            used += 1;
        }
    }
    used
}

#[test]
fn garbage_on_100_connections_leaves_10_clean_clients_untouched() {
    let redis = start_redis();
    let (proxy, listen) = proxy_for(true, redis.port, "");
    let mut warm = connect(listen);
    warm.write_all(&resp(&[b"PING"])).unwrap();
    assert_eq!(read_n(&mut warm, 7), b"+PONG\r\n");
    drop(warm);
    let base = rss_kb(proxy.proc.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let garbage = {
        let stop = stop.clone();
        std::thread::spawn(move || garbage_clients(listen, 100, &stop))
    };
    let errs = || counter(&proxy, "client_err").unwrap_or(0);
    assert!(
        wait_until(WAIT, || errs() > 0),
        "garbage never hit a framing error"
    );
    // Events, not a time window: the clean clients run until each has made
    // CLEAN_ROUNDS round trips and the garbage has caused GARBAGE_ERRS more
    // framing errors meanwhile, so the two provably overlap.
    let errs_before = errs();
    let done: Arc<Vec<AtomicUsize>> = Arc::new((0..10).map(|_| AtomicUsize::new(0)).collect());
    let clean: Vec<_> = (0..10)
        .map(|id| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || clean_client(listen, id, &stop, &done[id]))
        })
        .collect();
    let rounds = || -> Vec<usize> { done.iter().map(|n| n.load(Ordering::Relaxed)).collect() };
    let overlapped = wait_until(WAIT, || {
        rounds().iter().all(|&n| n >= CLEAN_ROUNDS) && errs() >= errs_before + GARBAGE_ERRS
    });
    stop.store(true, Ordering::Relaxed);
    let ops: Vec<usize> = clean.into_iter().map(|t| t.join().unwrap()).collect();
    let used = garbage.join().unwrap();
    let elapsed = t0.elapsed();
    assert!(
        overlapped,
        "clean clients starved or garbage stalled: round trips {:?}, client_err {} -> {}",
        rounds(),
        errs_before,
        errs()
    );
    let mut s = connect(listen);
    s.write_all(&resp(&[b"PING"])).unwrap();
    assert_eq!(read_n(&mut s, 7), b"+PONG\r\n", "proxy still serves");
    drop(s);
    eprintln!(
        "garbage: {used} garbage connections, {} closed on errors; clean round trips per client {ops:?} in {elapsed:?}",
        errs()
    );
    let series = format!("nutcracker_client_connections{ALPHA}");
    assert_eq!(wait_metric(proxy.stats_port, &series, 0), Some(0));
    assert_back_to_baseline(&proxy, "garbage", base);
}

/// A client that closes right after part of a request (its FIN arriving
/// with the last bytes) is reaped, not left half-closed holding a message.
#[test]
fn a_client_closing_mid_request_is_reaped() {
    let redis = start_redis();
    let (proxy, listen) = proxy_for(true, redis.port, "");
    let mut req = b"*2\r\n$100000\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 50_000));
    for _ in 0..20 {
        let mut s = connect(listen);
        s.write_all(&req).unwrap();
    }
    // 20, plus the readiness probe's connection (stats lag: poll).
    let reaped = common::wait_until(common::WAIT, || {
        counter(&proxy, "client_eof").is_some_and(|n| n >= 20)
    });
    assert!(reaped, "client_eof: {:?}", counter(&proxy, "client_eof"));
    let series = format!("nutcracker_client_connections{ALPHA}");
    assert_eq!(wait_metric(proxy.stats_port, &series, 0), Some(0));
    assert_eq!(
        wait_metric(proxy.stats_port, "nutcracker_msgs_live", 0),
        Some(0)
    );
    assert_eq!(counter(&proxy, "client_err"), Some(0));
}
