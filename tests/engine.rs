#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The proxy engine under load and failure, as a black box (issue 4; twemproxy:
//! tests/test_redis/test_pipeline.py, test_memcache/test_gets.py and
//! test_system/test_reload.py exercise the same paths).
//!
//! Real `redis-server` and `memcached` on loopback, the debug `nutcracker`
//! built by cargo in front. Every check compares each reply byte for byte
//! with the reply the backend would have sent, in request order (§CONN.7):
//! - many pipelining clients multiplexed over one server connection;
//! - values across the mbuf boundaries (0 B .. 16 MiB, `-m 512` and default);
//! - 5,000 client connections at once;
//! - a backend restarted mid-run (error replies, then a lazy reconnect);
//! - a client that leaves with 1,000 requests in flight (§CONN.6): the
//!   message count returns to 0 and the proxy keeps serving;
//! - a slow (or silent) server among fast ones: replies stay in order.
//!
//! # Invariants
//! - every process is owned by a guard and stopped by pid, also on panic;
//! - every read has a timeout, so a hang fails the test instead of stalling it.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Longest wait for any single reply (the machine is shared and noisy).
const IO_WAIT: Duration = Duration::from_secs(20);

/// The two wire protocols a pool can speak.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    Redis,
    Memcache,
}

// ---------------------------------------------------------------- requests

/// A RESP request: an array of bulk strings.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `SET key val` in `proto`, and the backend's reply to it.
fn set(proto: Proto, key: &str, val: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match proto {
        Proto::Redis => (resp(&[b"SET", key.as_bytes(), val]), b"+OK\r\n".to_vec()),
        Proto::Memcache => {
            let mut req = format!("set {key} 0 0 {}\r\n", val.len()).into_bytes();
            req.extend_from_slice(val);
            req.extend_from_slice(b"\r\n");
            (req, b"STORED\r\n".to_vec())
        }
    }
}

/// `GET key` in `proto`, and the reply when the key holds `val`.
fn get(proto: Proto, key: &str, val: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match proto {
        Proto::Redis => {
            let mut rsp = format!("${}\r\n", val.len()).into_bytes();
            rsp.extend_from_slice(val);
            rsp.extend_from_slice(b"\r\n");
            (resp(&[b"GET", key.as_bytes()]), rsp)
        }
        Proto::Memcache => {
            let mut rsp = format!("VALUE {key} 0 {}\r\n", val.len()).into_bytes();
            rsp.extend_from_slice(val);
            rsp.extend_from_slice(b"\r\nEND\r\n");
            (format!("get {key}\r\n").into_bytes(), rsp)
        }
    }
}

/// The proxy's synthesised error reply with `text` (§ERR.2).
fn proxy_error(proto: Proto, text: &str) -> Vec<u8> {
    match proto {
        Proto::Redis => format!("-ERR {text}\r\n").into_bytes(),
        Proto::Memcache => format!("SERVER_ERROR {text}\r\n").into_bytes(),
    }
}

/// `len` deterministic bytes that differ per `tag` and include CR, LF,
/// NUL and protocol keywords' letters (xorshift64).
fn value(tag: u64, len: usize) -> Vec<u8> {
    let mut x = tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

// ---------------------------------------------------------------- sockets

/// A client connection to 127.0.0.1:`port` with generous timeouts.
fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(IO_WAIT)).unwrap();
    s.set_write_timeout(Some(IO_WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads until `n` bytes arrived, EOF, or the read timeout.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    let mut have = 0;
    while have < n {
        match s.read(&mut got[have..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => have += k,
        }
    }
    got.truncate(have);
    got
}

/// Panics with the first differing byte and the text around it.
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let window = |b: &[u8]| {
        let lo = at.saturating_sub(40);
        String::from_utf8_lossy(&b[lo.min(b.len())..(at + 60).min(b.len())]).into_owned()
    };
    panic!(
        "{what}: {} bytes received, {} expected, first difference at byte {at}\n got: {:?}\nwant: {:?}",
        got.len(),
        want.len(),
        window(got),
        window(want)
    );
}

/// Reads exactly the bytes of `want` and checks them.
fn expect(s: &mut TcpStream, want: &[u8], what: &str) {
    let got = read_n(s, want.len());
    assert_same(&got, want, what);
}

/// Sends `req` and checks that the reply is exactly `want`.
fn roundtrip(s: &mut TcpStream, req: &[u8], want: &[u8], what: &str) {
    s.write_all(req).expect("write request");
    expect(s, want, what);
}

/// Requests to pipeline and the exact replies they must get, in order.
#[derive(Default)]
struct Script {
    req: Vec<u8>,  // every request, back to back
    want: Vec<u8>, // every reply, back to back
}

impl Script {
    fn push(&mut self, (req, want): (Vec<u8>, Vec<u8>)) {
        self.req.extend_from_slice(&req);
        self.want.extend_from_slice(&want);
    }

    /// Sends the whole script on `s` and checks every reply byte.
    fn run(self, s: &mut TcpStream, what: &str) {
        pipeline(s, self.req, &self.want, what);
    }
}

/// Reads one CRLF-terminated line (an error or status reply).
fn read_line(s: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match s.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            r => panic!("{what}: {r:?} after {:?}", String::from_utf8_lossy(&line)),
        }
    }
    line
}

/// Writes `req` from a second thread while this one reads and checks
/// `want`, so that neither side's socket buffer can deadlock the other.
fn pipeline(s: &mut TcpStream, req: Vec<u8>, want: &[u8], what: &str) {
    let mut w = s.try_clone().expect("clone socket");
    let writer = thread::spawn(move || w.write_all(&req));
    expect(s, want, what);
    writer.join().unwrap().expect("write pipeline");
}

// ---------------------------------------------------------------- processes

/// A backend of either protocol on a free port.
struct Backend {
    port: u16,
    proc: Proc, // stopped by pid on drop
    _dir: TempDir,
}

fn backend(proto: Proto) -> Backend {
    let port = free_port();
    let dir = TempDir::new("backend");
    let proc = match proto {
        Proto::Redis => redis_on(port, &dir),
        Proto::Memcache => memcached_on(port, &[]),
    };
    Backend {
        port,
        proc,
        _dir: dir,
    }
}

/// One pool's YAML: `servers` are loopback ports; `extra` are more
/// `key: value` lines.
fn pool_yaml(name: &str, listen: u16, proto: Proto, servers: &[u16], extra: &[&str]) -> String {
    let mut y = format!(
        "{name}:\n  listen: 127.0.0.1:{listen}\n  redis: {}\n",
        proto == Proto::Redis
    );
    for e in extra {
        y.push_str(&format!("  {e}\n"));
    }
    y.push_str("  servers:\n");
    for p in servers {
        y.push_str(&format!("   - 127.0.0.1:{p}:1\n"));
    }
    y
}

/// Starts the proxy with a short stats interval and `extra` options, and
/// waits until every pool's listener accepts (the start-up banner is
/// logged before the listeners are bound, as in twemproxy).
fn proxy(yaml: &str, extra: &[&str]) -> Proxy {
    let mut args = vec!["-i", "100"];
    args.extend_from_slice(extra);
    let p = Proxy::start(yaml, &args);
    for line in yaml.lines() {
        if let Some(addr) = line.trim().strip_prefix("listen: 127.0.0.1:") {
            let port = addr.parse().unwrap();
            assert!(
                wait_tcp(port),
                "pool listener {port} never accepted:\n{}",
                p.log_text()
            );
        }
    }
    p
}

/// `GET /metrics` on the stats port: the value of sample `name`.
fn metric(stats_port: u16, name: &str) -> Option<i64> {
    let mut s = TcpStream::connect(("127.0.0.1", stats_port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The stats JSON document.
fn stats_json(stats_port: u16) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", stats_port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// Which server (`127.0.0.1:<port>`) each key goes to, from `--locate`.
fn locate(conf: &str, pool: &str, keys: &[String]) -> Vec<u16> {
    let mut args = vec!["-c", conf, "--locate", pool];
    args.extend(keys.iter().map(String::as_str));
    let out = run_nutcracker(&args);
    assert!(out.status.success(), "--locate failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let ports: Vec<u16> = text
        .lines()
        .map(|l| {
            let server = l.rsplit('\t').next().unwrap();
            server.rsplit(':').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(ports.len(), keys.len(), "--locate output:\n{text}");
    ports
}

// ---------------------------------------------------------------- tests

/// 50 clients × 2,000 pipelined SET/GET with per-client values over one
/// connection per server; every reply byte checked in order.
fn many_pipelines_one_server_connection(proto: Proto) {
    const CLIENTS: usize = 50;
    const REQS: usize = 2_000;
    let b0 = backend(proto);
    let b1 = backend(proto);
    let listen = free_port();
    let yaml = pool_yaml(
        "pipe",
        listen,
        proto,
        &[b0.port, b1.port],
        &["server_connections: 1", "timeout: 30000"],
    );
    let _p = proxy(&yaml, &[]);
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let mut script = Script::default();
                for j in 0..REQS / 2 {
                    let key = format!("pipe:{c}:{}", j % 97);
                    let val = value((c * REQS + j) as u64, 1 + (c * 31 + j * 7) % 300);
                    for step in [set(proto, &key, &val), get(proto, &key, &val)] {
                        script.push(step);
                    }
                }
                let mut s = connect(listen);
                script.run(&mut s, &format!("{proto:?} client {c}"));
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread");
    }
    eprintln!(
        "{proto:?}: {} pipelined requests in {:?}",
        CLIENTS * REQS,
        started.elapsed()
    );
    if proto == Proto::Redis {
        // server_connections: 1 — each backend sees exactly one proxy
        // connection besides the one asking.
        for b in [&b0, &b1] {
            let mut s = connect(b.port);
            s.write_all(&resp(&[b"CLIENT", b"LIST"])).unwrap();
            let head = read_n(&mut s, 1);
            assert_eq!(head, b"$");
            let mut list = Vec::new();
            let mut byte = [0u8; 1];
            while s.read(&mut byte).unwrap() == 1 {
                list.push(byte[0]);
                if list.ends_with(b"\n\r\n") {
                    break;
                }
            }
            let clients = String::from_utf8_lossy(&list).matches("id=").count();
            assert_eq!(
                clients,
                2,
                "CLIENT LIST on {}:\n{}",
                b.port,
                String::from_utf8_lossy(&list)
            );
        }
    }
}

#[test]
fn redis_50_pipelined_clients_share_one_server_connection() {
    many_pipelines_one_server_connection(Proto::Redis);
}

#[test]
fn memcache_50_pipelined_clients_share_one_server_connection() {
    many_pipelines_one_server_connection(Proto::Memcache);
}

/// Value sizes around the default mbuf size (16 KiB) and far beyond it.
const SIZES: [usize; 7] = [
    0,
    1,
    16 * 1024 - 1,
    16 * 1024,
    16 * 1024 + 1,
    1024 * 1024,
    16 * 1024 * 1024,
];

/// SET then GET of every size in `SIZES`, through a proxy with `-m 512`
/// and one with the default mbuf size, for both protocols.
#[test]
fn values_from_0_bytes_to_16_mib_cross_mbuf_boundaries() {
    let redis = backend(Proto::Redis);
    let mc_port = free_port();
    let _mc = memcached_on(mc_port, &["-I", "32m", "-m", "256"]);
    for mbuf in [Some("512"), None] {
        let (rport, mport) = (free_port(), free_port());
        let yaml = pool_yaml("r", rport, Proto::Redis, &[redis.port], &[])
            + &pool_yaml("m", mport, Proto::Memcache, &[mc_port], &[]);
        let extra: Vec<&str> = mbuf.map(|m| vec!["-m", m]).unwrap_or_default();
        let _p = proxy(&yaml, &extra);
        for (proto, port) in [(Proto::Redis, rport), (Proto::Memcache, mport)] {
            let mut s = connect(port);
            for (i, &len) in SIZES.iter().enumerate() {
                let key = format!("size:{len}:{}", mbuf.unwrap_or("default"));
                let val = value(len as u64 + i as u64, len);
                let what = format!("{proto:?} -m {mbuf:?} value of {len} bytes");
                let (q, r) = set(proto, &key, &val);
                pipeline(&mut s, q, &r, &format!("{what}: set"));
                let (q, r) = get(proto, &key, &val);
                roundtrip(&mut s, &q, &r, &format!("{what}: get"));
            }
            // All sizes again, pipelined back to back on one connection.
            let mut script = Script::default();
            for &len in &SIZES[..6] {
                let key = format!("again:{len}");
                let val = value(len as u64 ^ 0xff, len);
                for step in [set(proto, &key, &val), get(proto, &key, &val)] {
                    script.push(step);
                }
            }
            script.run(&mut s, &format!("{proto:?} -m {mbuf:?} pipelined sizes"));
        }
    }
}

/// Raises this process's open-file limit toward `want` (the proxy, a child,
/// inherits it); returns false when the hard limit is too low.
#[allow(unsafe_code)]
fn raise_nofile(want: u64) -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return false;
        }
        if lim.rlim_cur >= want as libc::rlim_t {
            return true;
        }
        if lim.rlim_max < want as libc::rlim_t {
            return false;
        }
        lim.rlim_cur = want as libc::rlim_t;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
    }
}

/// 5,000 client connections open at once, half on a redis pool and half on
/// a memcache pool; each sends one GET and gets its value.
#[test]
fn five_thousand_concurrent_clients_are_all_answered() {
    const CONNS: usize = 5_000;
    // ours + the proxy's (both inherit the limit) + backends and slack
    if !raise_nofile(CONNS as u64 + 1_000) {
        eprintln!(
            "SKIPPED five_thousand_concurrent_clients: RLIMIT_NOFILE hard limit below {}",
            CONNS + 1_000
        );
        return;
    }
    let redis = backend(Proto::Redis);
    let mc = backend(Proto::Memcache);
    let (rport, mport) = (free_port(), free_port());
    let yaml = pool_yaml("r", rport, Proto::Redis, &[redis.port], &["backlog: 1024"])
        + &pool_yaml("m", mport, Proto::Memcache, &[mc.port], &["backlog: 1024"]);
    let p = proxy(&yaml, &[]);
    let protos = [(Proto::Redis, rport), (Proto::Memcache, mport)];
    let keyval = |i: usize| {
        (
            format!("conn:{}", i % 100),
            value(i as u64 % 100, 20 + i % 100),
        )
    };
    for (proto, port) in protos {
        let mut s = connect(port);
        for i in 0..100 {
            let (k, v) = keyval(i);
            let (q, r) = set(proto, &k, &v);
            roundtrip(&mut s, &q, &r, "prefill");
        }
    }
    let started = Instant::now();
    let conns: Vec<TcpStream> = (0..CONNS)
        .map(|i| {
            let port = protos[i % 2].1;
            TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("connection {i} of {CONNS}: {e}"))
        })
        .collect();
    let json_has = |want: &str| wait_until(WAIT, || stats_json(p.stats_port).contains(want));
    let all = format!("\"client_connections\":{}, ", CONNS / 2);
    assert!(
        json_has(&all),
        "the pools never showed {CONNS} clients at once:\n{}",
        stats_json(p.stats_port)
    );
    let mut conns: Vec<(usize, TcpStream)> = conns.into_iter().enumerate().collect();
    for (i, s) in conns.iter_mut() {
        let (k, v) = keyval(*i);
        s.set_read_timeout(Some(IO_WAIT)).unwrap();
        s.write_all(&get(protos[*i % 2].0, &k, &v).0).unwrap();
    }
    for (i, s) in conns.iter_mut() {
        let (k, v) = keyval(*i);
        let want = get(protos[*i % 2].0, &k, &v).1;
        expect(s, &want, &format!("connection {i}"));
    }
    eprintln!("{CONNS} connections answered in {:?}", started.elapsed());
    drop(conns);
    let none = "\"client_connections\":0, ";
    assert!(
        json_has(none),
        "clients not released:\n{}",
        stats_json(p.stats_port)
    );
}

/// Kills the only backend of a pool and starts it again on the same port:
/// meanwhile requests get an error reply (never a hang); afterwards the
/// proxy connects again on its own and requests succeed.
fn backend_restart(proto: Proto) {
    let port = free_port();
    let dir = TempDir::new("restart");
    let start = || match proto {
        Proto::Redis => redis_on(port, &dir),
        Proto::Memcache => memcached_on(port, &[]),
    };
    let mut server = start();
    let listen = free_port();
    let yaml = pool_yaml(
        "restart",
        listen,
        proto,
        &[port],
        &[
            "server_connections: 1",
            "timeout: 2000",
            "auto_eject_hosts: false",
        ],
    );
    let p = proxy(&yaml, &[]);
    let mut s = connect(listen);
    let burst = |s: &mut TcpStream, round: u64, what: &str| {
        let mut script = Script::default();
        for j in 0..100 {
            let key = format!("restart:{j}");
            let val = value(round * 1000 + j, 64);
            for step in [set(proto, &key, &val), get(proto, &key, &val)] {
                script.push(step);
            }
        }
        script.run(s, what);
    };
    burst(&mut s, 1, "before the restart");
    let refused = proxy_error(proto, "Connection refused");
    let transient = [
        refused.clone(),
        proxy_error(proto, "unknown"),
        proxy_error(proto, "Connection reset by peer"),
        proxy_error(proto, "Broken pipe"),
    ];
    let (q, _) = get(proto, "restart:1", b"");

    // redis: 50 requests are in flight on the backend when it dies; each
    // gets an error reply, in order.
    let in_flight = if proto == Proto::Redis {
        let _pause = pause_redis(port, 60_000);
        // 0 first: the count is published after a batch's replies are
        // written, so the burst just read can leave a stale count
        let live = || metric(p.stats_port, "nutcracker_msgs_live").unwrap_or(-1);
        assert!(wait_until(WAIT, || live() == 0), "msgs_live {}", live());
        s.write_all(&q.repeat(50)).unwrap();
        assert!(wait_until(WAIT, || live() >= 50), "msgs_live {}", live());
        50
    } else {
        0
    };
    server.signal(libc::SIGKILL);
    assert!(server.wait_exit(WAIT).is_some(), "backend did not die");
    for i in 0..in_flight {
        let line = read_line(
            &mut s,
            &format!("in-flight request {i} when the backend died"),
        );
        assert!(
            transient[1..].contains(&line),
            "in-flight request {i} got {:?}",
            String::from_utf8_lossy(&line)
        );
    }

    // Never a hang: each reply is one of the immediate connection errors,
    // not the "Connection timed out" of the pool's 2 s timeout.
    let mut last = Vec::new();
    for i in 0..5 {
        s.write_all(&q).unwrap();
        let line = read_line(
            &mut s,
            &format!("{proto:?}: request {i} while the backend is down"),
        );
        assert!(
            transient.contains(&line),
            "{proto:?}: request {i} while down got {:?}",
            String::from_utf8_lossy(&line)
        );
        last = line;
    }
    // Once the dead connection is gone, every attempt is a refused connect.
    assert_same(&last, &refused, "steady state while the backend is down");

    let _server = start();
    burst(&mut s, 2, "after the restart (lazy reconnect)");
}

#[test]
fn redis_backend_restart_gives_errors_then_recovers() {
    backend_restart(Proto::Redis);
}

#[test]
fn memcache_backend_restart_gives_errors_then_recovers() {
    backend_restart(Proto::Memcache);
}

/// `CLIENT PAUSE ms` on a direct connection: redis holds every other
/// client's commands (the proxy's) for that long.
fn pause_redis(port: u16, ms: u64) -> TcpStream {
    let mut d = connect(port);
    roundtrip(
        &mut d,
        &resp(&[b"CLIENT", b"PAUSE", ms.to_string().as_bytes()]),
        b"+OK\r\n",
        "CLIENT PAUSE",
    );
    d
}

/// A client pipelines 1,000 GETs to a paused redis and disconnects before
/// any reply: the replies are swallowed, the live message count drops back
/// to 0, the free buffers shrink back to baseline, and other clients are
/// served normally.
#[test]
fn client_gone_with_1000_requests_in_flight_leaves_nothing_behind() {
    const INFLIGHT: i64 = 1_000;
    let redis = backend(Proto::Redis);
    let listen = free_port();
    let yaml = pool_yaml(
        "gone",
        listen,
        Proto::Redis,
        &[redis.port],
        &["server_connections: 1"],
    );
    let p = proxy(&yaml, &[]);
    let live = || metric(p.stats_port, "nutcracker_msgs_live");
    let mut other = connect(listen);
    let (q, r) = set(Proto::Redis, "gone:k", b"still here");
    roundtrip(&mut other, &q, &r, "warm-up");
    assert!(
        wait_until(WAIT, || live() == Some(0)),
        "baseline: msgs_live = {:?}",
        live()
    );

    // Stopped until SIGCONT below (redis 7.0 holds even CLIENT UNPAUSE
    // during a pause), so the requests stay in flight for as long as the
    // test needs, however slow the machine.
    redis.proc.signal(libc::SIGSTOP);
    let mut c = connect(listen);
    let mut req = Vec::new();
    for j in 0..INFLIGHT {
        req.extend_from_slice(&resp(&[b"GET", format!("gone:{j}").as_bytes()]));
    }
    c.write_all(&req).unwrap();
    assert!(
        wait_until(WAIT, || live().unwrap_or(0) >= INFLIGHT),
        "the requests never showed as in flight: msgs_live = {:?}",
        live()
    );
    drop(c);
    // Usually the proxy sees the EOF before the replies; either order must
    // end with nothing live, so the pause only gives the EOF a head start.
    thread::sleep(Duration::from_millis(200));
    redis.proc.signal(libc::SIGCONT);
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(15), || live() == Some(0)),
        "msgs_live stuck at {:?} after the client left",
        live()
    );
    eprintln!(
        "in-flight requests released {:?} after the client left",
        t.elapsed()
    );
    let free = || metric(p.stats_port, "nutcracker_mbufs_free").unwrap_or(i64::MAX);
    assert!(
        wait_until(WAIT, || free() <= 64),
        "mbufs_free stays at {}",
        free()
    );

    let (q, r) = get(Proto::Redis, "gone:k", b"still here");
    roundtrip(&mut other, &q, &r, "an older client after the disconnect");
    let mut fresh = connect(listen);
    roundtrip(&mut fresh, &q, &r, "a new client after the disconnect");
}

/// Keys 0..n, split by the server each maps to.
fn keys_by_server(conf: &str, pool: &str, n: usize, slow: u16) -> (Vec<String>, Vec<String>) {
    let keys: Vec<String> = (0..n).map(|i| format!("order:{i}")).collect();
    let ports = locate(conf, pool, &keys);
    let (mut on_slow, mut on_fast) = (Vec::new(), Vec::new());
    for (k, port) in keys.into_iter().zip(ports) {
        if port == slow {
            on_slow.push(k);
        } else {
            on_fast.push(k);
        }
    }
    assert!(
        on_slow.len() >= 10 && on_fast.len() >= 10,
        "keys too unevenly spread"
    );
    (on_slow, on_fast)
}

/// One client pipelines GETs alternating between a paused redis and a
/// live one: the fast server's replies wait for the slow ones before them.
#[test]
fn redis_replies_stay_in_order_when_one_server_is_slow() {
    let slow = backend(Proto::Redis);
    let fast = backend(Proto::Redis);
    let listen = free_port();
    // murmur spreads the similar "order:N" keys evenly over two servers
    let yaml = pool_yaml(
        "order",
        listen,
        Proto::Redis,
        &[slow.port, fast.port],
        &["hash: murmur"],
    );
    let p = proxy(&yaml, &[]);
    let (on_slow, on_fast) = keys_by_server(&p.conf, "order", 200, slow.port);
    let mut s = connect(listen);
    let val = |k: &str| value(k.len() as u64 * 7919 + k.as_bytes()[6] as u64, 10 + k.len());
    for k in on_slow.iter().chain(&on_fast) {
        let (q, r) = set(Proto::Redis, k, &val(k));
        roundtrip(&mut s, &q, &r, "prefill");
    }
    let mut script = Script::default();
    for round in 0..20 {
        for k in [
            &on_slow[round % on_slow.len()],
            &on_fast[round % on_fast.len()],
        ] {
            script.push(get(Proto::Redis, k, &val(k)));
        }
    }
    // A lower bound, taken before the pause starts; the margin is for
    // redis's own millisecond clock, cached between commands.
    let t = Instant::now();
    let _pause = pause_redis(slow.port, 1_000);
    script.run(&mut s, "pipelined GETs over a slow and a fast server");
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "the slow server was not slow ({:?}): the test proves nothing",
        t.elapsed()
    );
}

/// A memcache pool with a live memcached and a server that accepts but
/// never answers: with `timeout`, the silent server's requests get
/// `SERVER_ERROR Connection timed out` and every reply keeps its place.
#[test]
fn memcache_replies_stay_in_order_when_one_server_never_answers() {
    let fast = backend(Proto::Memcache);
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    // Accepts and reads forever, never writes.
    thread::spawn(move || {
        for conn in hole.incoming().flatten() {
            thread::spawn(move || {
                let mut conn = conn;
                let mut sink = [0u8; 4096];
                while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    let listen = free_port();
    let yaml = pool_yaml(
        "order",
        listen,
        Proto::Memcache,
        &[hole_port, fast.port],
        &["hash: murmur", "timeout: 400", "auto_eject_hosts: false"],
    );
    let p = proxy(&yaml, &[]);
    let (on_slow, on_fast) = keys_by_server(&p.conf, "order", 200, hole_port);
    let mut s = connect(listen);
    for k in &on_fast {
        let (q, r) = set(Proto::Memcache, k, k.as_bytes());
        roundtrip(&mut s, &q, &r, "prefill");
    }
    let timed_out = proxy_error(Proto::Memcache, "Connection timed out");
    let mut script = Script::default();
    for round in 0..10 {
        let f = &on_fast[round % on_fast.len()];
        script.push(get(Proto::Memcache, f, f.as_bytes()));
        let (q, _) = get(Proto::Memcache, &on_slow[round % on_slow.len()], b"");
        script.push((q, timed_out.clone()));
        script.push(get(Proto::Memcache, f, f.as_bytes()));
    }
    // A lower bound: `t` is taken before the first request leaves.
    let t = Instant::now();
    script.run(&mut s, "pipelined gets over a silent and a live server");
    assert!(
        t.elapsed() >= Duration::from_millis(350),
        "no timeout happened: {:?}",
        t.elapsed()
    );
}
