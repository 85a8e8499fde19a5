#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Abuse: a client that pipelines GETs of a large value and does not read
//! the replies (issue 8.4-8.5). `client_max_pending_bytes` pauses reading
//! from it, closes it at twice the limit or after `PENDING_STALL`, and the
//! proxy's memory stays bounded and returns to baseline.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const ALPHA: &str = "{pool=\"alpha\"}";
const MIB: usize = 1024 * 1024;

/// A redis holding `big` (a 1 MiB value) and a proxy in front of it whose
/// pool has `client_max_pending_bytes: <limit>`.
struct Setup {
    _redis: Redis,
    proxy: Proxy,
    listen: u16,
    value: Vec<u8>,
    base_rss: u64, // KiB, after one GET of the value
}

fn setup(limit: usize) -> Setup {
    let redis = start_redis();
    let listen = free_port();
    let extra = format!("  client_max_pending_bytes: {limit}\n");
    let proxy = Proxy::start(&redis_pool_yaml(listen, redis.port, &extra), &["-i", "100"]);
    assert!(wait_tcp(listen));
    let value: Vec<u8> = (0..MIB).map(|i| b'a' + (i % 26) as u8).collect();
    let mut s = connect(listen);
    s.write_all(&resp(&[b"SET", b"big", &value])).unwrap();
    assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
    s.write_all(&resp(&[b"GET", b"big"])).unwrap();
    let want = bulk(&value);
    assert_eq!(read_n(&mut s, want.len()), want);
    drop(s);
    assert_eq!(
        wait_metric(proxy.stats_port, "nutcracker_msgs_live", 0),
        Some(0)
    );
    let base_rss = rss_kb(proxy.proc.pid());
    Setup {
        _redis: redis,
        proxy,
        listen,
        value,
        base_rss,
    }
}

fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

/// Sends `n` pipelined `GET big` without reading anything.
fn pipeline_gets(listen: u16, n: usize) -> TcpStream {
    let mut s = connect(listen);
    let reqs = resp(&[b"GET", b"big"]).repeat(n);
    s.write_all(&reqs).unwrap();
    s
}

/// Polls the proxy's RSS until `done` holds (or 30 s pass); returns the peak in KiB.
fn peak_rss_until(pid: u32, mut done: impl FnMut() -> bool) -> u64 {
    let mut peak = 0;
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        peak = peak.max(rss_kb(pid));
        if done() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    peak.max(rss_kb(pid))
}

fn counter(st: &Setup, name: &str) -> Option<i64> {
    metric(st.proxy.stats_port, &format!("nutcracker_{name}{ALPHA}"))
}

/// Memory and messages are back to baseline once every swallowed reply is in.
fn assert_back_to_baseline(st: &Setup, what: &str, peak: u64) {
    let live = wait_metric(st.proxy.stats_port, "nutcracker_msgs_live", 0);
    assert_eq!(live, Some(0), "{what}: messages still live");
    let series = format!("nutcracker_client_connections{ALPHA}");
    assert_eq!(wait_metric(st.proxy.stats_port, &series, 0), Some(0));
    let after = rss_settle(st.proxy.proc.pid(), st.base_rss);
    eprintln!(
        "{what}: RSS base {} KiB, peak {peak} KiB, after {after} KiB",
        st.base_rss
    );
    let base = st.base_rss;
    assert!(
        after <= (base + base / 5).max(base + 8192),
        "{what}: RSS {after} KiB vs base {base} KiB"
    );
}

#[test]
fn hard_cap_closes_a_client_that_never_reads() {
    let limit = 4 * MIB;
    let st = setup(limit);
    let pid = st.proxy.proc.pid();
    let t0 = Instant::now();
    let _s = pipeline_gets(st.listen, 500); // 500 MiB of replies
    let peak = peak_rss_until(pid, || counter(&st, "client_pending_closed") == Some(1));
    assert_eq!(
        counter(&st, "client_pending_closed"),
        Some(1),
        "closed after {:?}",
        t0.elapsed()
    );
    assert_eq!(counter(&st, "client_err"), Some(1));
    // Twice the limit, plus a read budget of slack.
    assert!(
        peak <= st.base_rss + (2 * limit / 1024) as u64 + 16 * 1024,
        "peak RSS {peak} KiB for a {limit}-byte limit (base {} KiB)",
        st.base_rss
    );
    assert_back_to_baseline(&st, "hard cap (4 MiB limit, 500 x 1 MiB unread)", peak);
}

/// 28 MiB of replies against a 16 MiB limit: over the limit once the
/// kernel's socket buffers (a few MiB) are full, under the 32 MiB hard cap.
const OVER_SOFT: usize = 28;

#[test]
fn backpressure_pauses_reading_and_resumes_once_read() {
    let limit = 16 * MIB;
    let st = setup(limit);
    let pid = st.proxy.proc.pid();
    let mut s = pipeline_gets(st.listen, OVER_SOFT);
    let peak = peak_rss_until(pid, || counter(&st, "client_throttled") == Some(1));
    assert_eq!(counter(&st, "client_throttled"), Some(1));
    // A request sent while paused waits in the kernel: not yet executed.
    s.write_all(&resp(&[b"SET", b"paused", b"1"])).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut other = connect(st.listen);
    other.write_all(&resp(&[b"GET", b"paused"])).unwrap();
    assert_eq!(read_n(&mut other, 5), b"$-1\r\n", "read while paused");
    assert_eq!(counter(&st, "client_pending_closed"), Some(0));
    // Reading the replies resumes it; everything is served in order.
    let want = bulk(&st.value);
    for i in 0..OVER_SOFT {
        assert!(read_n(&mut s, want.len()) == want, "reply {i}");
    }
    assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
    other.write_all(&resp(&[b"GET", b"paused"])).unwrap();
    assert_eq!(read_n(&mut other, 7), b"$1\r\n1\r\n");
    drop(other);
    s.write_all(&resp(&[b"GET", b"big"])).unwrap();
    assert!(read_n(&mut s, want.len()) == want);
    assert_eq!(counter(&st, "client_err"), Some(0));
    assert!(
        peak <= st.base_rss + (2 * limit / 1024) as u64 + 16 * 1024,
        "peak {peak} KiB"
    );
    drop(s);
    assert_back_to_baseline(
        &st,
        "back-pressure (16 MiB limit, 28 x 1 MiB read late)",
        peak,
    );
}

#[test]
fn a_reader_stalled_over_the_limit_is_closed() {
    let limit = 16 * MIB;
    let st = setup(limit);
    let pid = st.proxy.proc.pid();
    let t0 = Instant::now();
    let _s = pipeline_gets(st.listen, OVER_SOFT);
    assert!(wait_until(WAIT, || counter(&st, "client_throttled") == Some(1)));
    let throttled = t0.elapsed();
    let peak = peak_rss_until(pid, || counter(&st, "client_pending_closed") == Some(1));
    let closed = t0.elapsed();
    assert_eq!(counter(&st, "client_pending_closed"), Some(1));
    assert_eq!(counter(&st, "client_err"), Some(1));
    eprintln!("stalled reader: paused after {throttled:?}, closed after {closed:?}");
    // A lower bound from before the requests were sent: the pause begins
    // after t0, and the close PENDING_STALL (10 s) after the pause. Seeing
    // the counters only ever comes later than what they count.
    assert!(
        closed >= Duration::from_secs(10),
        "closed too early: {closed:?}"
    );
    assert_back_to_baseline(&st, "stall (16 MiB limit, 28 x 1 MiB unread)", peak);
}
