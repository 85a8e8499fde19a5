#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Failure handling end to end (§FAIL, §DIST.5, issue 7.1–3): real redis
//! backends that die and come back, and small fake backends written here
//! that stall, half-reply, send garbage, close at once or answer -LOADING.
//! Every request on a failing backend must complete exactly once with the
//! §FAIL.4 reply, the client connection must stay usable, and ejection,
//! re-admission and probing must follow the pool settings.

mod common;

use common::{free_port, wait_stats, wait_until, Proc, Proxy, Redis};
use nutcracker::hashkit::{Distribution, HashKind, Router};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A redis client speaking RESP, reading one whole reply at a time.
struct Client {
    r: BufReader<TcpStream>, // buffered reads
    w: TcpStream,            // the same socket, for writes
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    fn send(&mut self, args: &[&str]) {
        self.w.write_all(&encode(args)).unwrap();
    }

    /// Sends one command and returns its whole reply, raw.
    fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.reply()
    }

    /// One complete reply (nested arrays included), raw.
    fn reply(&mut self) -> String {
        let mut out = Vec::new();
        read_reply(&mut self.r, &mut out);
        String::from_utf8(out).unwrap()
    }
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn read_reply(r: &mut BufReader<TcpStream>, out: &mut Vec<u8>) {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).unwrap();
    assert!(line.ends_with(b"\r\n"), "truncated reply: {line:?}");
    out.extend_from_slice(&line);
    let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match line[0] {
        b'$' if n >= 0 => {
            let mut body = vec![0u8; n as usize + 2];
            r.read_exact(&mut body).unwrap();
            out.extend_from_slice(&body);
        }
        b'*' => {
            for _ in 0..n.max(0) {
                read_reply(r, out);
            }
        }
        _ => {}
    }
}

/// `cmd` sent straight to a backend (bypassing the proxy).
fn direct(port: u16, args: &[&str]) -> String {
    Client::connect(port).cmd(args)
}

/// Keys (prefix + number) owned by server `idx` of the two servers `aa`,
/// `bb` (ketama, fnv1a_64, equal weights, as in `yaml`).
fn keys_of(idx: usize, prefix: &str, n: usize) -> Vec<String> {
    let r = Router::new(
        HashKind::Fnv1a_64,
        None,
        Distribution::Ketama,
        &[(b"aa", 1), (b"bb", 1)],
    );
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|k| r.server_index(k.as_bytes()) == Some(idx))
        .take(n)
        .collect()
}

/// A two-server redis pool `alpha` (servers `aa`, `bb`) plus `extra` lines.
fn yaml(listen: u16, a: &str, b: &str, extra: &str) -> String {
    format!(
        "alpha:\n  listen: 127.0.0.1:{listen}\n  redis: true\n  hash: fnv1a_64\n  \
         distribution: ketama\n{extra}  servers:\n   - {a}:1 aa\n   - {b}:1 bb\n"
    )
}

/// Starts the proxy and waits until pool alpha listens on `listen`.
fn start_proxy(yaml: &str, listen: u16) -> Proxy {
    let p = Proxy::start(yaml, &["-i", "100"]);
    assert!(common::wait_tcp(listen), "pool alpha does not listen");
    p
}

/// A redis-server on a chosen port (to restart a killed backend in place).
fn redis_on(port: u16, dir: &common::TempDir) -> Proc {
    let p = Proc::spawn(
        "redis-server",
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", &dir.join("")]),
    );
    assert!(
        wait_until(common::WAIT, || common::probe(
            port,
            b"PING\r\n",
            b"+PONG\r\n"
        )),
        "redis on {port} did not start"
    );
    p
}

fn kill_redis(r: &mut Redis) {
    r.proc.signal(libc::SIGKILL);
    assert!(r.proc.wait_exit(common::WAIT).is_some());
}

/// How a fake backend behaves on each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fake {
    Stall,                    // accept, read, never answer (blackhole)
    Reply(&'static [u8]),     // answer every read with these bytes
    HalfClose(&'static [u8]), // answer the first read with these bytes, then close
    CloseNow,                 // close right after accept
    ReadClose,                // read once, then close (dies mid-request)
}

/// A fake backend on a free loopback port, served by one thread.
struct FakeServer {
    port: u16,                      // 127.0.0.1 port
    stop: Arc<AtomicBool>,          // asks the thread to end
    thread: Option<JoinHandle<()>>, // joined on drop
}

impl FakeServer {
    fn start(mode: Fake) -> FakeServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || fake_loop(l, mode, &flag));
        FakeServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn fake_loop(l: TcpListener, mode: Fake, stop: &AtomicBool) {
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        while let Ok((c, _)) = l.accept() {
            if mode != Fake::CloseNow {
                c.set_nonblocking(true).unwrap();
                conns.push(c);
            }
        }
        conns.retain_mut(|c| match c.read(&mut buf) {
            Ok(0) => false,
            Ok(_) => match mode {
                Fake::Stall => true,
                Fake::Reply(r) => c.write_all(r).is_ok(),
                Fake::HalfClose(r) => {
                    let _ = c.write_all(r);
                    false
                }
                Fake::CloseNow | Fake::ReadClose => false,
            },
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        });
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Stats key of server `name` of pool alpha.
fn sk(name: &str, metric: &str) -> String {
    format!("alpha/{name}/{metric}")
}

fn is_err(reply: &str) -> bool {
    reply.starts_with("-ERR ")
}

// ---------------------------------------------------------------- real redis

#[test]
fn dead_backend_is_ejected_its_keys_remap_then_it_comes_back() {
    let mut a = common::start_redis();
    let b = common::start_redis();
    let listen = free_port();
    let extra = "  auto_eject_hosts: true\n  server_failure_limit: 2\n  \
                 server_retry_timeout: 1500\n  timeout: 2000\n";
    let addr_a = format!("127.0.0.1:{}", a.port);
    let addr_b = format!("127.0.0.1:{}", b.port);
    let proxy = start_proxy(&yaml(listen, &addr_a, &addr_b, extra), listen);
    let mut c = Client::connect(listen);
    let (ka, kb) = (keys_of(0, "a", 10), keys_of(1, "b", 10));
    for k in ka.iter().chain(&kb) {
        assert_eq!(c.cmd(&["SET", k, k]), "+OK\r\n");
    }
    assert_eq!(
        direct(b.port, &["GET", &kb[0]]),
        format!("${}\r\n{}\r\n", kb[0].len(), kb[0])
    );
    assert_eq!(
        direct(a.port, &["GET", &ka[0]]),
        format!("${}\r\n{}\r\n", ka[0].len(), ka[0])
    );

    kill_redis(&mut a);
    let killed = Instant::now();
    // Its keys error until the failure limit ejects it (the EOF of the
    // open connection already counts as one failure).
    let mut errors = 0;
    let mut remapped = false;
    for _ in 0..6 {
        let r = c.cmd(&["GET", &ka[1]]);
        if is_err(&r) {
            assert!(
                r == "-ERR Connection refused\r\n" || r == "-ERR unknown\r\n",
                "{r:?}"
            );
            errors += 1;
        } else {
            assert_eq!(r, "$-1\r\n", "remapped to bb, which lacks the key");
            remapped = true;
            break;
        }
    }
    assert!((1..=2).contains(&errors), "{errors} errors");
    assert!(remapped, "never ejected");
    // Ejected: aa's keys are written to bb; bb's keys stay where they were.
    assert_eq!(c.cmd(&["SET", &ka[2], "moved"]), "+OK\r\n");
    assert_eq!(direct(b.port, &["GET", &ka[2]]), "$5\r\nmoved\r\n");
    for k in &kb {
        assert_eq!(c.cmd(&["GET", k]), format!("${}\r\n{k}\r\n", k.len()));
    }
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/server_ejects") == Some(&1)
    });
    assert!(ok, "server_ejects: {:?}", st.get("alpha/server_ejects"));
    let at = st[&sk("aa", "server_ejected_at")];
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!(at > now_us - 30_000_000 && at <= now_us, "ejected_at {at}");
    assert_eq!(st[&sk("bb", "server_ejected_at")], 0);
    assert!(st[&sk("aa", "server_err")] + st[&sk("aa", "server_eof")] >= 2);

    // Back on the same port: re-admitted lazily after the retry timeout.
    let dir = common::TempDir::new("redis-again");
    let _a2 = redis_on(a.port, &dir);
    let mut back = Duration::ZERO;
    let readmitted = wait_until(common::WAIT, || {
        let r = c.cmd(&["SET", &ka[3], "home"]);
        back = killed.elapsed();
        r == "+OK\r\n" && direct(a.port, &["GET", &ka[3]]) == "$4\r\nhome\r\n"
    });
    assert!(readmitted, "aa never re-admitted");
    // A lower bound: the ejection came after `killed`, and aa may only be
    // tried again server_retry_timeout (1500 ms) after it.
    assert!(
        back >= Duration::from_millis(1500),
        "re-admitted after {back:?}"
    );
    for k in &kb {
        assert_eq!(c.cmd(&["GET", k]), format!("${}\r\n{k}\r\n", k.len()));
    }
}

#[test]
fn probe_keeps_a_dead_server_out_until_it_answers() {
    let mut a = common::start_redis();
    let b = common::start_redis();
    let listen = free_port();
    let extra = "  auto_eject_hosts: true\n  server_failure_limit: 1\n  \
                 server_retry_timeout: 300\n  server_probe: true\n";
    let proxy = start_proxy(
        &yaml(
            listen,
            &format!("127.0.0.1:{}", a.port),
            &format!("127.0.0.1:{}", b.port),
            extra,
        ),
        listen,
    );
    let mut c = Client::connect(listen);
    let ka = keys_of(0, "p", 5);
    assert_eq!(c.cmd(&["SET", &ka[0], "v"]), "+OK\r\n");
    let (_, before) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("aa", "responses")) == Some(&1)
    });
    assert_eq!(before[&sk("aa", "responses")], 1);

    kill_redis(&mut a);
    let ejected = wait_until(common::WAIT, || c.cmd(&["GET", &ka[1]]) == "$-1\r\n");
    assert!(ejected, "aa not ejected");
    // Retry periods pass with aa still dead until two probes have failed:
    // no client request ever goes to aa again (blind re-admission would
    // produce a fresh error each period).
    assert_probes_fail_while(&proxy, 2, || {
        assert_eq!(c.cmd(&["GET", &ka[1]]), "$-1\r\n");
    });

    let dir = common::TempDir::new("redis-again");
    let _a2 = redis_on(a.port, &dir);
    let answered = wait_until(common::WAIT, || {
        proxy.log_text().contains("answered its probe")
    });
    assert!(answered, "no successful probe:\n{}", proxy.log_text());
    // The probe's PONG is not a client response, and left no queue behind.
    std::thread::sleep(Duration::from_millis(300));
    let (_, st) = wait_stats(proxy.stats_port, common::WAIT, |_| true);
    assert_eq!(st[&sk("aa", "responses")], 1, "probe counted as a response");
    assert_eq!(st[&sk("aa", "in_queue")], 0);
    assert_eq!(st[&sk("aa", "out_queue")], 0);
    // aa takes its keys again.
    assert_eq!(c.cmd(&["SET", &ka[2], "home"]), "+OK\r\n");
    assert_eq!(direct(a.port, &["GET", &ka[2]]), "$4\r\nhome\r\n");
}

#[test]
fn without_auto_eject_a_dead_server_fails_fast_and_stays() {
    let b = common::start_redis();
    let dead = free_port(); // nothing listens there
    let listen = free_port();
    let extra = "  auto_eject_hosts: false\n  server_failure_limit: 1\n";
    let proxy = start_proxy(
        &yaml(
            listen,
            &format!("127.0.0.1:{dead}"),
            &format!("127.0.0.1:{}", b.port),
            extra,
        ),
        listen,
    );
    let mut c = Client::connect(listen);
    let (ka, kb) = (keys_of(0, "x", 8), keys_of(1, "y", 8));
    // Fails fast: each request is answered with the refused connect of its
    // own attempt (server_err and forward_error count one per request below),
    // not held for a retry or a timeout; a hang trips the client's read timeout.
    for (k, other) in ka.iter().zip(&kb) {
        assert_eq!(c.cmd(&["GET", k]), "-ERR Connection refused\r\n");
        assert_eq!(c.cmd(&["SET", other, "v"]), "+OK\r\n");
    }
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("aa", "server_err")) == Some(&8)
            && m.get("alpha/forward_error") == Some(&8)
            && m.get(&sk("bb", "responses")) == Some(&8)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st["alpha/server_ejects"], 0);
    assert_eq!(st[&sk("aa", "server_ejected_at")], 0);
    assert_eq!(st[&sk("aa", "requests")], 8, "failed requests still count");
    assert_eq!(st[&sk("aa", "responses")], 0);
    assert_eq!(st[&sk("bb", "responses")], 8);
}

#[test]
fn all_hosts_ejected_errors_without_hanging() {
    let listen = free_port();
    let dead = free_port();
    let yaml = format!(
        "alpha:\n  listen: 127.0.0.1:{listen}\n  redis: true\n  auto_eject_hosts: true\n  \
         server_failure_limit: 1\n  server_retry_timeout: 30000\n  servers:\n   - 127.0.0.1:{dead}:1\n"
    );
    let proxy = start_proxy(&yaml, listen);
    let mut c = Client::connect(listen);
    // Not held until the retry timeout (30 s, beyond the client's 10 s read
    // timeout): each request gets the ejection's error at once.
    for _ in 0..5 {
        assert_eq!(c.cmd(&["GET", "k"]), "-ERR Connection refused\r\n");
    }
    // Multi-key commands: one error reply each, connection stays usable.
    assert_eq!(
        c.cmd(&["MGET", "a", "b", "c"]),
        "-ERR Connection refused\r\n"
    );
    assert_eq!(c.cmd(&["DEL", "a", "b"]), "-ERR Connection refused\r\n");
    assert_eq!(
        c.cmd(&["MSET", "a", "1", "b", "2"]),
        "-ERR Connection refused\r\n"
    );
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/forward_error") == Some(&8)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st["alpha/server_ejects"], 1);
    // one connect attempt; after the ejection no backend is tried at all
    assert_eq!(st[&format!("alpha/127.0.0.1:{dead}/server_err")], 1);
}

#[test]
fn unresolvable_backend_is_host_down_quickly() {
    let b = common::start_redis();
    let listen = free_port();
    let proxy = start_proxy(
        &yaml(
            listen,
            "nonexistent.invalid:6379",
            &format!("127.0.0.1:{}", b.port),
            "",
        ),
        listen,
    );
    let mut c = Client::connect(listen);
    let (ka, kb) = (keys_of(0, "d", 3), keys_of(1, "e", 3));
    let t = Instant::now();
    assert_eq!(c.cmd(&["GET", &ka[0]]), "-ERR Host is down\r\n");
    let took = t.elapsed();
    // fragments of a multi-key request on the unresolvable host (#596):
    // the parent completes once, the connection stays usable.
    let mget = c.cmd(&["MGET", &ka[1], &kb[0], &ka[2], &kb[1]]);
    assert_eq!(mget, "-ERR Host is down\r\n");
    assert_eq!(c.cmd(&["SET", &kb[2], "v"]), "+OK\r\n");
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/forward_error") == Some(&2)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st[&sk("aa", "server_err")], 2);
    eprintln!("DNS failure answered in {took:?}");
}

#[test]
fn mset_mget_of_1000_keys_while_a_backend_dies() {
    let mut a = common::start_redis();
    let b = common::start_redis();
    let listen = free_port();
    let proxy = start_proxy(
        &yaml(
            listen,
            &format!("127.0.0.1:{}", a.port),
            &format!("127.0.0.1:{}", b.port),
            "  timeout: 3000\n",
        ),
        listen,
    );
    let mut c = Client::connect(listen);
    let keys: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
    let mut mset = vec!["MSET"];
    for k in &keys {
        mset.push(k);
        mset.push(k);
    }
    assert_eq!(c.cmd(&mset), "+OK\r\n");
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    let all = c.cmd(&mget);
    assert!(
        all.starts_with("*1000\r\n$5\r\nkey:0\r\n"),
        "{}",
        &all[..40]
    );

    // Kill aa while a pipeline of big multi-key requests is in flight.
    c.w.write_all(&encode(&mget)).unwrap();
    c.w.write_all(&encode(&mset)).unwrap();
    kill_redis(&mut a);
    c.w.write_all(&encode(&mget)).unwrap();
    c.send(&["PING"]);
    let mut errors = 0;
    for _ in 0..3 {
        let r = c.reply();
        if is_err(&r) {
            errors += 1;
        } else {
            assert!(
                r == "+OK\r\n" || r.starts_with("*1000\r\n"),
                "{}",
                &r[..20.min(r.len())]
            );
        }
    }
    assert!(errors >= 1, "the last MGET must fail");
    // exactly one reply per request: the PING is next, nothing in between
    assert_eq!(c.reply(), "+PONG\r\n");
    // ... and the connection is still usable for everything
    assert!(is_err(&c.cmd(&mset)));
    assert!(is_err(&c.cmd(&mget)));
    let kb = keys_of(1, "alive", 1);
    assert_eq!(c.cmd(&["SET", &kb[0], "v"]), "+OK\r\n");
    assert_eq!(c.cmd(&["GET", &kb[0]]), "$1\r\nv\r\n");
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/client_connections") == Some(&1)
            && m.get(&sk("aa", "in_queue")) == Some(&0)
            && m.get(&sk("aa", "out_queue")) == Some(&0)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st["alpha/client_err"], 0, "the client was never closed");
}

/// Runs `check` (a request whose reply shows the server is still out)
/// every 20 ms until the proxy has logged `n` failed probes, or `WAIT`
/// passes: the checks span at least `n` retry periods, however slow the
/// machine, and the test takes no longer than the probes do.
fn assert_probes_fail_while(proxy: &Proxy, n: usize, mut check: impl FnMut()) {
    let failed = || proxy.log_text().matches("failed its probe").count();
    let probed = wait_until(common::WAIT, || {
        check();
        failed() >= n
    });
    assert!(probed, "{} failed probes:\n{}", failed(), proxy.log_text());
    check();
}

// ------------------------------------------------------------ fake backends

/// Pool with `aa` = the fake and `bb` = a real redis.
fn fake_pool(fake: &FakeServer, b: &Redis, extra: &str) -> (Proxy, u16) {
    let listen = free_port();
    let y = yaml(
        listen,
        &fake.addr(),
        &format!("127.0.0.1:{}", b.port),
        extra,
    );
    (start_proxy(&y, listen), listen)
}

/// Each request to a silent backend gets the timeout error, no earlier
/// than `timeout` after it was sent (a lower bound: load only delays it).
#[test]
fn stalled_backend_times_out_no_earlier_than_its_timeout() {
    let fake = FakeServer::start(Fake::Stall);
    let b = common::start_redis();
    let (proxy, listen) = fake_pool(&fake, &b, "  timeout: 300\n");
    let ka = keys_of(0, "s", 4);
    let mut c = Client::connect(listen);
    let mut took = Vec::new();
    for k in &ka[..3] {
        let t = Instant::now();
        assert_eq!(c.cmd(&["GET", k]), "-ERR Connection timed out\r\n");
        took.push(t.elapsed());
    }
    // two pipelined requests time out together, one error each
    let t = Instant::now();
    c.send(&["GET", &ka[3]]);
    c.send(&["GET", &ka[0]]);
    assert_eq!(c.reply(), "-ERR Connection timed out\r\n");
    assert_eq!(c.reply(), "-ERR Connection timed out\r\n");
    took.push(t.elapsed());
    eprintln!("timeout 300 ms: replies after {took:?}");
    for d in &took {
        assert!(*d >= Duration::from_millis(300), "early: {d:?}");
    }
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("aa", "server_timedout")) == Some(&4)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st["alpha/forward_error"], 5);
    assert_eq!(st[&sk("aa", "out_queue")], 0);
}

/// While a request waits on a silent backend, another client's requests to
/// the live one are all answered: its `timeout` (60 s) lies beyond the
/// clients' 10 s read timeout, so anything held behind the stalled request
/// fails, and the stalled one is provably still unanswered afterwards.
#[test]
fn other_keys_flow_while_a_backend_stalls() {
    let fake = FakeServer::start(Fake::Stall);
    let b = common::start_redis();
    let (proxy, listen) = fake_pool(&fake, &b, "  timeout: 60000\n");
    let (ka, kb) = (keys_of(0, "s", 1), keys_of(1, "f", 50));
    let mut c = Client::connect(listen);
    c.send(&["GET", &ka[0]]);
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("aa", "out_queue")) == Some(&1)
    });
    assert!(ok, "the request never reached the silent backend: {st:?}");
    let mut other = Client::connect(listen);
    for k in &kb {
        assert_eq!(other.cmd(&["SET", k, "v"]), "+OK\r\n");
    }
    assert!(common::unanswered(&c.w), "the stalled request was answered");
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("bb", "responses")) == Some(&50)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st[&sk("aa", "out_queue")], 1);
    assert_eq!(st[&sk("aa", "server_timedout")], 0);
}

/// A pipelining client's ready replies wait for the rest of its pipeline
/// only briefly (`Core::hold_client`): with a SET for the live backend and
/// a GET for the silent one in one write, the `+OK` comes back while the
/// GET is still unanswered (a hold until the pipeline completes would
/// leave it unread past the client's 10 s read timeout). With
/// `--batch-wait=0` too, where no reply is held at all.
#[test]
fn ready_reply_is_not_held_behind_a_stalled_one() {
    let fake = FakeServer::start(Fake::Stall);
    let b = common::start_redis();
    for args in [&[][..], &["--batch-wait=0"][..]] {
        let listen = free_port();
        let y = yaml(
            listen,
            &fake.addr(),
            &format!("127.0.0.1:{}", b.port),
            "  timeout: 60000\n",
        );
        let proxy = Proxy::start(&y, &[&["-i", "100"][..], args].concat());
        assert!(common::wait_tcp(listen), "pool alpha does not listen");
        let (ka, kb) = (keys_of(0, "h", 1), keys_of(1, "r", 3));
        let mut c = Client::connect(listen);
        let mut pipe = Vec::new();
        for k in &kb {
            pipe.extend(encode(&["SET", k, "v"]));
        }
        pipe.extend(encode(&["GET", &ka[0]]));
        c.w.write_all(&pipe).unwrap();
        for _ in &kb {
            assert_eq!(c.reply(), "+OK\r\n", "{args:?}");
        }
        assert!(common::unanswered(&c.w), "the stalled request was answered");
        let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
            m.get(&sk("aa", "out_queue")) == Some(&1)
        });
        assert!(ok, "{args:?}: {st:?}");
    }
}

#[test]
fn stalled_fragment_completes_its_parent_once() {
    let fake = FakeServer::start(Fake::Stall);
    let b = common::start_redis();
    let (_proxy, listen) = fake_pool(&fake, &b, "  timeout: 200\n");
    let (ka, kb) = (keys_of(0, "m", 2), keys_of(1, "n", 2));
    let mut c = Client::connect(listen);
    c.send(&["MGET", &kb[0], &ka[0], &kb[1], &ka[1]]);
    c.send(&["DEL", &ka[0], &kb[0]]);
    c.send(&["PING"]);
    assert_eq!(c.reply(), "-ERR Connection timed out\r\n");
    assert_eq!(c.reply(), "-ERR Connection timed out\r\n");
    assert_eq!(c.reply(), "+PONG\r\n");
}

#[test]
fn mset_of_1000_keys_to_a_backend_dying_mid_request() {
    let fake = FakeServer::start(Fake::ReadClose);
    let b = common::start_redis();
    let (proxy, listen) = fake_pool(&fake, &b, "");
    let mut c = Client::connect(listen);
    let keys: Vec<String> = (0..1000).map(|i| format!("big:{i}")).collect();
    let mut mset = vec!["MSET"];
    for k in &keys {
        mset.push(k);
        mset.push("0123456789");
    }
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    for cmd in [&mset, &mget, &mset] {
        c.send(cmd);
    }
    c.send(&["PING"]);
    for _ in 0..3 {
        let r = c.reply();
        assert!(
            [
                "-ERR unknown\r\n",
                "-ERR Connection reset by peer\r\n",
                "-ERR Broken pipe\r\n"
            ]
            .contains(&r.as_str()),
            "{r:?}"
        );
    }
    assert_eq!(c.reply(), "+PONG\r\n", "one reply per request");
    let kb = keys_of(1, "after", 1);
    assert_eq!(c.cmd(&["SET", &kb[0], "v"]), "+OK\r\n");
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/forward_error") == Some(&3)
            && m.get(&sk("aa", "in_queue")) == Some(&0)
            && m.get(&sk("aa", "out_queue")) == Some(&0)
            && m.get(&sk("bb", "out_queue")) == Some(&0)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st["alpha/fragments"], 6, "two per multi-key request");
    assert_eq!(st["alpha/client_err"], 0);
}

/// One request to a key of the fake server and the reply the client gets.
fn fake_reply(mode: Fake, extra: &str) -> (String, Proxy) {
    let fake = FakeServer::start(mode);
    let b = common::start_redis();
    let (proxy, listen) = fake_pool(&fake, &b, extra);
    let ka = keys_of(0, "g", 1);
    let kb = keys_of(1, "h", 1);
    let mut c = Client::connect(listen);
    let r = c.cmd(&["GET", &ka[0]]);
    // the client connection is unaffected
    assert_eq!(c.cmd(&["SET", &kb[0], "ok"]), "+OK\r\n");
    assert_eq!(c.cmd(&["GET", &kb[0]]), "$2\r\nok\r\n");
    (r, proxy)
}

#[test]
fn backend_closing_mid_reply_is_unknown() {
    let (r, proxy) = fake_reply(Fake::HalfClose(b"$10\r\nabc"), "");
    assert_eq!(r, "-ERR unknown\r\n");
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("aa", "server_eof")) == Some(&1)
    });
    assert!(ok, "{st:?}");
}

#[test]
fn backend_closing_at_once_fails_the_request() {
    let (r, _proxy) = fake_reply(Fake::CloseNow, "");
    assert!(
        r == "-ERR unknown\r\n" || r == "-ERR Connection reset by peer\r\n",
        "{r:?}"
    );
}

#[test]
fn garbage_reply_is_invalid_argument() {
    let (r, proxy) = fake_reply(Fake::Reply(b"?what is this\r\n"), "");
    assert_eq!(r, "-ERR Invalid argument\r\n");
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("aa", "server_err")) == Some(&1)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st[&sk("aa", "responses")], 0);
}

#[test]
fn loading_and_busy_replies_are_server_failures() {
    for reply in [
        &b"-LOADING Redis is loading the dataset in memory\r\n"[..],
        &b"-BUSY Redis is busy running a script\r\n"[..],
    ] {
        let (r, proxy) = fake_reply(Fake::Reply(reply), "");
        assert_eq!(r, "-ERR Invalid argument\r\n");
        let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
            m.get(&sk("aa", "server_err")) == Some(&1)
        });
        assert!(ok, "{st:?}");
        assert_eq!(st[&sk("aa", "responses")], 0);
        assert_eq!(st["alpha/forward_error"], 1);
    }
}

#[test]
fn probe_of_a_loading_server_keeps_it_ejected() {
    // aa answers everything with -LOADING: ejected at its first failure,
    // and every probe fails, so its keys keep going to bb.
    let fake = FakeServer::start(Fake::Reply(b"-LOADING Redis is loading\r\n"));
    let b = common::start_redis();
    let extra = "  auto_eject_hosts: true\n  server_failure_limit: 1\n  \
                 server_retry_timeout: 200\n  server_probe: true\n";
    let (proxy, listen) = fake_pool(&fake, &b, extra);
    let ka = keys_of(0, "l", 1);
    let mut c = Client::connect(listen);
    assert_eq!(c.cmd(&["GET", &ka[0]]), "-ERR Invalid argument\r\n");
    assert_probes_fail_while(&proxy, 2, || {
        assert_eq!(c.cmd(&["GET", &ka[0]]), "$-1\r\n");
    });
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("aa", "in_queue")) == Some(&0) && m.get(&sk("aa", "out_queue")) == Some(&0)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st[&sk("aa", "requests")], 1, "probes are not requests");
    assert_eq!(st["alpha/forward_error"], 1);
}

#[test]
fn probe_of_a_silent_server_times_out_and_keeps_it_ejected() {
    let fake = FakeServer::start(Fake::Stall);
    let b = common::start_redis();
    let extra = "  auto_eject_hosts: true\n  server_failure_limit: 1\n  \
                 server_retry_timeout: 150\n  server_probe: true\n  timeout: 150\n";
    let (proxy, listen) = fake_pool(&fake, &b, extra);
    let ka = keys_of(0, "q", 1);
    let mut c = Client::connect(listen);
    assert_eq!(c.cmd(&["GET", &ka[0]]), "-ERR Connection timed out\r\n");
    assert_probes_fail_while(&proxy, 2, || {
        // Answered by the live server: never held for the probe.
        assert_eq!(c.cmd(&["GET", &ka[0]]), "$-1\r\n");
    });
    let (ok, st) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get(&sk("aa", "server_timedout")).is_some_and(|&n| n >= 3)
    });
    assert!(ok, "{st:?}");
    assert_eq!(st[&sk("aa", "requests")], 1, "probes are not requests");
}
