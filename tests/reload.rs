#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Live reconfiguration on SIGUSR1 (issue 12), against real redis-servers
//! and memcacheds: routing after a reload equals a fresh start on the new
//! file, client connections survive, invalid files change nothing, pools
//! come and go, listen addresses move, traffic under reloads sees no error,
//! and a thousand reloads leak neither memory nor descriptors.

mod common;

use common::{
    connect, free_port, rss_kb, run_nutcracker, start_memcached, start_redis, wait_tcp, wait_until,
    Memcached, Proxy, Redis, RespConn, WAIT,
};
use nutcracker::hashkit::{Distribution, HashKind, Router};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Backends shared by a test: redis r0..r3 and memcached m0..m2.
struct Rig {
    redis: Vec<Redis>,
    mc: Vec<Memcached>,
}

impl Rig {
    fn new(nredis: usize, nmc: usize) -> Rig {
        Rig {
            redis: (0..nredis).map(|_| start_redis()).collect(),
            mc: (0..nmc).map(|_| start_memcached()).collect(),
        }
    }

    /// A redis pool named `name` on `listen` with servers `s<i>` for each
    /// index in `servers`, plus directive lines `extra`.
    fn redis_pool(&self, name: &str, listen: u16, servers: &[usize], extra: &str) -> String {
        let mut y =
            format!("{name}:\n  listen: 127.0.0.1:{listen}\n  redis: true\n{extra}  servers:\n");
        for &i in servers {
            y.push_str(&format!("   - 127.0.0.1:{}:1 s{i}\n", self.redis[i].port));
        }
        y
    }

    /// A memcache pool with servers `m<i>`.
    fn mc_pool(&self, name: &str, listen: u16, servers: &[usize], extra: &str) -> String {
        let mut y = format!("{name}:\n  listen: 127.0.0.1:{listen}\n{extra}  servers:\n");
        for &i in servers {
            y.push_str(&format!("   - 127.0.0.1:{}:1 m{i}\n", self.mc[i].port));
        }
        y
    }
}

/// Follows the proxy's log from where it was last read.
struct LogTail {
    file: std::fs::File,
    partial: String,
}

impl LogTail {
    fn new(proxy: &Proxy) -> LogTail {
        let mut file = std::fs::File::open(&proxy.log).unwrap();
        file.seek(SeekFrom::End(0)).unwrap();
        LogTail {
            file,
            partial: String::new(),
        }
    }

    /// Waits for the next line containing one of `marks`.
    fn next(&mut self, marks: &[&str]) -> Option<String> {
        let mut found = None;
        wait_until(WAIT, || {
            let mut more = String::new();
            let _ = self.file.read_to_string(&mut more);
            self.partial.push_str(&more);
            while let Some(at) = self.partial.find('\n') {
                let line: String = self.partial.drain(..=at).collect();
                if found.is_none() && marks.iter().any(|m| line.contains(m)) {
                    found = Some(line);
                }
            }
            found.is_some()
        });
        found
    }
}

const DONE: &[&str] = &["reloaded '", "reload rejected"];

/// Writes `yaml` as the proxy's configuration, sends SIGUSR1 and returns
/// the log line that reports the outcome.
fn reload(proxy: &Proxy, tail: &mut LogTail, yaml: &str) -> String {
    std::fs::write(&proxy.conf, yaml).unwrap();
    proxy.proc.signal(libc::SIGUSR1);
    tail.next(DONE)
        .unwrap_or_else(|| panic!("no reload outcome logged:\n{}", proxy.log_text()))
}

fn reload_ok(proxy: &Proxy, tail: &mut LogTail, yaml: &str) -> String {
    let line = reload(proxy, tail, yaml);
    assert!(line.contains("reloaded '"), "reload failed: {line}");
    line
}

/// A memcache text-protocol client.
struct McConn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl McConn {
    fn connect(port: u16) -> McConn {
        let stream = connect(port);
        stream.set_nodelay(true).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        McConn { stream, reader }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).unwrap();
        l
    }

    fn set(&mut self, key: &str, val: &str) {
        let req = format!("set {key} 0 0 {}\r\n{val}\r\n", val.len());
        self.stream.write_all(req.as_bytes()).unwrap();
        assert_eq!(self.line(), "STORED\r\n", "set {key}");
    }

    /// The value of `key`, or None.
    fn get(&mut self, key: &str) -> Option<String> {
        self.stream
            .write_all(format!("get {key}\r\n").as_bytes())
            .unwrap();
        let first = self.line();
        if first == "END\r\n" {
            return None;
        }
        assert!(first.starts_with("VALUE "), "get {key}: {first:?}");
        let val = self.line().trim_end().to_owned();
        assert_eq!(self.line(), "END\r\n");
        Some(val)
    }
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

/// For each key, the backend (an entry of `ports`) whose connection
/// `holds` it: at most one may.
fn owners<C>(
    ports: &[usize],
    keys: &[String],
    connect: impl Fn(usize) -> C,
    mut holds: impl FnMut(&mut C, &str) -> bool,
) -> Vec<Option<usize>> {
    let mut conns: Vec<C> = ports.iter().map(|&i| connect(i)).collect();
    keys.iter()
        .map(|k| {
            let has: Vec<usize> = conns
                .iter_mut()
                .enumerate()
                .filter_map(|(i, c)| holds(c, k).then_some(ports[i]))
                .collect();
            assert!(has.len() <= 1, "{k} on {has:?}");
            has.first().copied()
        })
        .collect()
}

/// For each key, the index (into `ports`) of the redis backend holding it.
fn redis_owners(rig: &Rig, ports: &[usize], keys: &[String]) -> Vec<Option<usize>> {
    owners(
        ports,
        keys,
        |i| RespConn::connect(rig.redis[i].port),
        |c, k| c.call(&[b"EXISTS", k.as_bytes()]) == b":1\r\n",
    )
}

/// For each key, the index (into `ports`) of the memcached holding it.
fn mc_owners(rig: &Rig, ports: &[usize], keys: &[String]) -> Vec<Option<usize>> {
    owners(
        ports,
        keys,
        |i| McConn::connect(rig.mc[i].port),
        |c, k| c.get(k).is_some(),
    )
}

fn flush_all(rig: &Rig) {
    for r in &rig.redis {
        assert_eq!(RespConn::connect(r.port).call(&[b"FLUSHALL"]), b"+OK\r\n");
    }
    for m in &rig.mc {
        let mut c = McConn::connect(m.port);
        write!(c.stream, "flush_all\r\n").unwrap();
        assert_eq!(c.line(), "OK\r\n");
    }
}

/// Sets every key through redis pool port `rp` and memcache pool port `mp`
/// (pipelined), checking each reply.
fn set_through(rp: u16, mp: u16, keys: &[String]) {
    let mut r = RespConn::connect(rp);
    for k in keys {
        r.send(&common::resp(&[b"SET", k.as_bytes(), b"v"]));
    }
    for k in keys {
        assert_eq!(r.read(), b"+OK\r\n", "SET {k}");
    }
    let mut m = McConn::connect(mp);
    for k in keys {
        m.set(k, "v");
    }
}

/// Runs `send` once the proxy holds no live message, then waits until it
/// holds `n`: the requests sent are in flight, with no sleep that a slow
/// machine outlasts. (The 0 first: the count is published after a batch's
/// replies are written, so a reply just read can leave a stale count.)
fn in_flight(proxy: &Proxy, n: i64, send: impl FnOnce()) {
    let live = || common::metric(proxy.stats_port, "nutcracker_msgs_live").unwrap_or(-1);
    assert!(wait_until(WAIT, || live() == 0), "msgs_live {}", live());
    send();
    assert!(
        wait_until(WAIT, || live() >= n),
        "msgs_live {} < {n}",
        live()
    );
}

#[test]
fn routing_after_reload_equals_a_fresh_start() {
    let rig = Rig::new(4, 3);
    let (rp, mp) = (free_port(), free_port());
    let a = rig.redis_pool("alpha", rp, &[0, 1, 2], "") + &rig.mc_pool("beta", mp, &[0, 1], "");
    let b = |rp, mp| {
        rig.redis_pool("alpha", rp, &[0, 2, 3], "") + &rig.mc_pool("beta", mp, &[1, 2], "")
    };
    let proxy = Proxy::start(&a, &["-i", "100"]);
    assert!(wait_tcp(rp) && wait_tcp(mp));
    let mut tail = LogTail::new(&proxy);
    let ks = keys("route", 600);
    set_through(rp, mp, &ks[..50]); // connections to the kept servers exist
    let line = reload_ok(&proxy, &mut tail, &b(rp, mp));
    assert!(line.contains("servers added s3, removed s1"), "{line}");
    flush_all(&rig);
    set_through(rp, mp, &ks);
    let reloaded = (
        redis_owners(&rig, &[0, 1, 2, 3], &ks),
        mc_owners(&rig, &[0, 1, 2], &ks),
    );
    assert!(reloaded.0.iter().all(|o| matches!(o, Some(0 | 2 | 3))));
    assert!(reloaded.1.iter().all(|o| matches!(o, Some(1 | 2))));
    assert!(reloaded.0.contains(&Some(3)) && reloaded.1.contains(&Some(2)));

    flush_all(&rig);
    let (rp2, mp2) = (free_port(), free_port());
    let fresh = Proxy::start(&b(rp2, mp2), &["-i", "100"]);
    assert!(wait_tcp(rp2) && wait_tcp(mp2), "{}", fresh.log_text());
    set_through(rp2, mp2, &ks);
    assert_eq!(redis_owners(&rig, &[0, 1, 2, 3], &ks), reloaded.0);
    assert_eq!(mc_owners(&rig, &[0, 1, 2], &ks), reloaded.1);
}

/// SET then GET of a unique value on `c`, checking both replies.
fn set_get(c: &mut RespConn, key: &str, n: usize) {
    let v = format!("v{n}");
    assert_eq!(c.call(&[b"SET", key.as_bytes(), v.as_bytes()]), b"+OK\r\n");
    let want = format!("${}\r\n{v}\r\n", v.len());
    assert_eq!(c.call(&[b"GET", key.as_bytes()]), want.as_bytes());
}

#[test]
fn one_client_connection_survives_twenty_reloads() {
    let rig = Rig::new(3, 0);
    let rp = free_port();
    let a = rig.redis_pool("alpha", rp, &[0, 1], "");
    let b = rig.redis_pool("alpha", rp, &[0, 1, 2], "  timeout: 3000\n");
    let proxy = Proxy::start(&a, &["-i", "100"]);
    assert!(wait_tcp(rp));
    let mut tail = LogTail::new(&proxy);
    let mut c = RespConn::connect(rp);
    let local = c.stream.local_addr().unwrap();
    set_get(&mut c, "before", 0);
    for i in 1..=20 {
        reload_ok(&proxy, &mut tail, if i % 2 == 1 { &b } else { &a });
        for k in 0..10 {
            set_get(&mut c, &format!("k{i}:{k}"), i);
        }
    }
    assert_eq!(c.stream.local_addr().unwrap(), local);
    let (ok, vals) = common::wait_stats(proxy.stats_port, WAIT, |v| v.get("reloads") == Some(&20));
    assert!(ok, "{vals:?}");
    assert_eq!(
        vals.get("alpha/client_eof"),
        Some(&1),
        "wait_tcp's probe only"
    );
    assert_eq!(vals.get("alpha/client_connections"), Some(&1));
    assert_eq!(vals.get("reloads_failed"), Some(&0));
}

/// The first line `nutcracker -t` prints for `yaml`: its reason text.
fn t_reason(proxy: &Proxy, yaml: &str) -> String {
    let path = proxy.dir.write("check.yml", yaml);
    let out = run_nutcracker(&["-t", "-c", &path]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let first = text.lines().next().unwrap_or_default();
    first.replace(&path, &proxy.conf)
}

#[test]
fn invalid_file_changes_nothing() {
    let rig = Rig::new(3, 0);
    let rp = free_port();
    let a = rig.redis_pool("alpha", rp, &[0, 1], "");
    let proxy = Proxy::start(&a, &["-i", "100"]);
    assert!(wait_tcp(rp));
    let mut tail = LogTail::new(&proxy);
    let ks = keys("inv", 200);
    let mut c = RespConn::connect(rp);
    for k in &ks {
        assert_eq!(c.call(&[b"SET", k.as_bytes(), b"1"]), b"+OK\r\n");
    }
    let owners = redis_owners(&rig, &[0, 1, 2], &ks);
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let bad = [
        (
            "hash",
            rig.redis_pool("alpha", rp, &[0, 1, 2], "  hash: nope\n"),
        ),
        (
            "yaml",
            format!("{}  - : : [\n", rig.redis_pool("alpha", rp, &[0, 1, 2], "")),
        ),
        ("bind", rig.redis_pool("alpha", busy, &[0, 1, 2], "")),
    ];
    for (what, yaml) in &bad {
        let line = reload(&proxy, &mut tail, yaml);
        assert!(line.contains("reload rejected"), "{what}: {line}");
        if *what != "bind" {
            // the same reason text as -t (the log line may be cut at 256 bytes)
            let reason = t_reason(&proxy, yaml);
            let logged = line.split_once("reload rejected: ").unwrap().1.trim_end();
            assert!(
                reason.starts_with(logged) && logged.len() > 40,
                "{what}: {line} vs {reason}"
            );
        } else {
            assert!(line.contains("failed"), "{line}");
        }
        // same socket, same routing: nothing of s2 is used
        flush_all(&rig);
        for k in &ks {
            assert_eq!(c.call(&[b"SET", k.as_bytes(), b"1"]), b"+OK\r\n", "{what}");
        }
        assert_eq!(redis_owners(&rig, &[0, 1, 2], &ks), owners, "{what}");
        assert!(TcpStream::connect(("127.0.0.1", rp)).is_ok());
    }
    // wait_tcp's probe and the three of the loop closed; `c` did not
    let (ok, vals) = common::wait_stats(proxy.stats_port, WAIT, |v| {
        v.get("reloads_failed") == Some(&3)
            && v.get("alpha/client_eof") == Some(&4)
            && v.get("alpha/client_connections") == Some(&1)
    });
    assert!(ok, "{vals:?}");
    assert_eq!(vals.get("reloads"), Some(&0));
    drop(held);
}

/// A Lua script that keeps redis busy for about `ms` milliseconds, so its
/// request is in flight while the test reloads.
fn busy_eval(key: &str, ms: u32) -> Vec<u8> {
    let script = format!(
        "local t=redis.call('TIME') local s=t[1]*1000000+t[2] \
         repeat local n=redis.call('TIME') until n[1]*1000000+n[2]-s>{} return 7",
        ms * 1000
    );
    common::resp(&[b"EVAL", script.as_bytes(), b"1", key.as_bytes()])
}

#[test]
fn pools_added_removed_and_moved_redis_and_memcache() {
    let rig = Rig::new(2, 2);
    let [ra, rb, rc, ma, mb, mc, ra2, ma2] = [0; 8].map(|_| free_port());
    let a = rig.redis_pool("alpha", ra, &[0], "")
        + &rig.redis_pool("beta", rb, &[1], "")
        + &rig.mc_pool("mca", ma, &[0], "")
        + &rig.mc_pool("mcb", mb, &[1], "");
    // alpha and mca move, beta and mcb go, gamma and mcc arrive
    let b = rig.redis_pool("alpha", ra2, &[0], "")
        + &rig.mc_pool("mca", ma2, &[0], "")
        + &rig.redis_pool("gamma", rc, &[1], "")
        + &rig.mc_pool("mcc", mc, &[1], "");
    let proxy = Proxy::start(&a, &["-i", "100"]);
    for p in [ra, rb, ma, mb] {
        assert!(wait_tcp(p), "{}", proxy.log_text());
    }
    let mut tail = LogTail::new(&proxy);
    let mut alpha = RespConn::connect(ra);
    set_get(&mut alpha, "a", 1);
    let mut mca = McConn::connect(ma);
    mca.set("m", "1");
    let mut mcb = McConn::connect(mb);
    mcb.set("m", "2");
    let mut beta = RespConn::connect(rb);
    set_get(&mut beta, "b", 1);
    in_flight(&proxy, 1, || beta.send(&busy_eval("b", 1500)));
    let line = reload_ok(&proxy, &mut tail, &b);
    assert!(line.contains("4 changes follow"), "{line}");
    let log = proxy.log_text();
    for part in [
        "reload: pools added: mcc, gamma\n",
        "reload: pools removed: mcb, beta\n",
        "reload: pool 'mca': listen 127.0.0.1:",
        "reload: pool 'alpha': listen 127.0.0.1:",
    ] {
        assert!(log.contains(part), "{part}\n{log}");
    }
    // the removed pool answers what it had received, then closes
    assert_eq!(beta.read(), b":7\r\n");
    assert!(beta.closed(), "beta client still open");
    assert!(wait_until(WAIT, || TcpStream::connect(("127.0.0.1", rb)).is_err()));
    let mut buf = [0u8; 1];
    assert_eq!(
        mcb.stream.read(&mut buf).unwrap_or(0),
        0,
        "mcb client still open"
    );
    assert!(TcpStream::connect(("127.0.0.1", mb)).is_err());
    // moved: the old address stops accepting, its clients are still served
    assert!(TcpStream::connect(("127.0.0.1", ra)).is_err());
    assert!(TcpStream::connect(("127.0.0.1", ma)).is_err());
    set_get(&mut alpha, "a", 2);
    assert_eq!(mca.get("m").as_deref(), Some("1"));
    set_get(&mut RespConn::connect(ra2), "a", 3);
    assert_eq!(McConn::connect(ma2).get("m").as_deref(), Some("1"));
    // added: listening at once
    set_get(&mut RespConn::connect(rc), "c", 1);
    let mut mcc = McConn::connect(mc);
    mcc.set("n", "3");
    assert_eq!(mcc.get("n").as_deref(), Some("3"));
    // stats: the new layout, kept pools keep their counters
    let (ok, vals) = common::wait_stats(proxy.stats_port, WAIT, |v| {
        v.contains_key("gamma/client_eof")
            && v.contains_key("mcc/client_eof")
            && v.get("alpha/s0/requests") == Some(&6)
            && v.get("mca/m0/requests") == Some(&3)
    });
    // (both counts waited for: one snapshot can hold the last alpha request
    // and not yet the mca one that followed it)
    assert!(ok, "{vals:?}");
    assert!(!vals.contains_key("beta/client_eof") && !vals.contains_key("mcb/client_eof"));
}

/// Keys `<prefix>:<i>` that stay on the same server when `s3` joins
/// `s0,s1,s2`.
fn stable_keys(prefix: &str, n: usize) -> Vec<String> {
    let three = Router::new(
        HashKind::Fnv1a_64,
        None,
        Distribution::Ketama,
        &[(b"s0", 1), (b"s1", 1), (b"s2", 1)],
    );
    let four = Router::new(
        HashKind::Fnv1a_64,
        None,
        Distribution::Ketama,
        &[(b"s0", 1), (b"s1", 1), (b"s2", 1), (b"s3", 1)],
    );
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| three.server_index(k.as_bytes()) == four.server_index(k.as_bytes()))
        .take(n)
        .collect()
}

#[test]
fn traffic_under_twenty_reloads_sees_no_error() {
    let rig = Rig::new(4, 0);
    let rp = free_port();
    let a = rig.redis_pool("alpha", rp, &[0, 1, 2], "");
    let b = rig.redis_pool("alpha", rp, &[0, 1, 2, 3], "  timeout: 5000\n");
    let proxy = Proxy::start(&a, &["-i", "100"]);
    assert!(wait_tcp(rp));
    let mut tail = LogTail::new(&proxy);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let ks = stable_keys(&format!("load{w}"), 64);
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = RespConn::connect(rp);
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    set_get(&mut c, &ks[n % ks.len()], n);
                    n += 1;
                }
                assert!(!c.closed_now(), "worker {w} connection closed");
                n
            })
        })
        .collect();
    for i in 1..=20 {
        reload_ok(&proxy, &mut tail, if i % 2 == 1 { &b } else { &a });
        std::thread::sleep(Duration::from_millis(20)); // let traffic flow between reloads
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let done: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(done.iter().all(|&n| n > 0), "{done:?}");
    let (ok, vals) = common::wait_stats(proxy.stats_port, WAIT, |v| {
        v.get("alpha/client_connections") == Some(&0)
    });
    assert!(ok, "{vals:?}");
    assert_eq!(vals.get("alpha/client_err"), Some(&0));
    assert_eq!(vals.get("alpha/forward_error"), Some(&0));
}

trait ClosedNow {
    fn closed_now(&mut self) -> bool;
}

impl ClosedNow for RespConn {
    /// Whether the peer has closed, without waiting for it.
    fn closed_now(&mut self) -> bool {
        self.stream.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let r = self.stream.peek(&mut b);
        self.stream.set_nonblocking(false).unwrap();
        matches!(r, Ok(0)) || r.is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock)
    }
}

fn nfds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn a_thousand_reloads_leak_nothing() {
    let rig = Rig::new(4, 2);
    let (rp, mp) = (free_port(), free_port());
    let a = rig.redis_pool("alpha", rp, &[0, 1, 2], "") + &rig.mc_pool("beta", mp, &[0], "");
    let b = rig.redis_pool("alpha", rp, &[0, 1, 2, 3], "  timeout: 5000\n")
        + &rig.mc_pool("beta", mp, &[0, 1], "  server_connections: 2\n");
    let proxy = Proxy::start(&a, &["-i", "100", "-v", "5"]);
    assert!(wait_tcp(rp));
    let mut tail = LogTail::new(&proxy);
    let pid = proxy.proc.pid();
    let mut c = RespConn::connect(rp);
    let ks = stable_keys("thousand", 16);
    let (mut rss0, mut fds0) = (0, 0);
    for i in 1..=1000 {
        reload_ok(&proxy, &mut tail, if i % 2 == 1 { &b } else { &a });
        set_get(&mut c, &ks[i % ks.len()], i);
        if i == 1 {
            rss0 = rss_kb(pid);
        }
        if i == 100 {
            // every key has been used: every server connection is open
            fds0 = nfds(pid);
        }
    }
    let (rss, fds) = (rss_kb(pid), nfds(pid));
    eprintln!("1000 reloads: rss {rss0} -> {rss} KiB, fds {fds0} -> {fds}");
    assert!(rss <= rss0 + rss0 / 10, "rss {rss0} -> {rss} KiB");
    assert!(fds <= fds0, "fds {fds0} -> {fds}");
}

/// Clients connected to a redis-server, not counting the asking one.
fn redis_clients(port: u16) -> usize {
    let reply = RespConn::connect(port).call(&[b"CLIENT", b"LIST"]);
    String::from_utf8_lossy(&reply).matches("id=").count() - 1
}

#[test]
fn removed_server_answers_its_in_flight_request_then_closes() {
    let rig = Rig::new(2, 0);
    let rp = free_port();
    let a = rig.redis_pool("alpha", rp, &[0, 1], "  timeout: 5000\n");
    let b = rig.redis_pool("alpha", rp, &[0], "  timeout: 5000\n");
    let proxy = Proxy::start(&a, &["-i", "100"]);
    assert!(wait_tcp(rp));
    let mut tail = LogTail::new(&proxy);
    let two = Router::new(
        HashKind::Fnv1a_64,
        None,
        Distribution::Ketama,
        &[(b"s0", 1), (b"s1", 1)],
    );
    let on_s1 = (0..)
        .map(|i| format!("gone:{i}"))
        .find(|k| two.server_index(k.as_bytes()) == Some(1))
        .unwrap();
    let mut c = RespConn::connect(rp);
    set_get(&mut c, &on_s1, 0);
    assert_eq!(
        redis_clients(rig.redis[1].port),
        1,
        "the proxy's connection"
    );
    // a RESP3 client has its own connection to s1 (issue 14.2): drained too
    let mut c3 = RespConn::connect(rp);
    assert!(c3.call(&[b"HELLO", b"3"]).starts_with(b"%7\r\n"));
    assert_eq!(c3.call(&[b"GET", on_s1.as_bytes()]), b"$2\r\nv0\r\n");
    assert_eq!(redis_clients(rig.redis[1].port), 2, "and the RESP3 one");
    in_flight(&proxy, 2, || {
        c.send(&busy_eval(&on_s1, 1500));
        c.send(&common::resp(&[b"GET", on_s1.as_bytes()])); // pipelined behind it
    });
    let line = reload_ok(&proxy, &mut tail, &b);
    assert!(line.contains("servers removed s1"), "{line}");
    assert_eq!(c.read(), b":7\r\n", "the in-flight request is answered");
    assert_eq!(c.read(), b"$2\r\nv0\r\n", "and the one behind it, in order");
    // new requests for the key go to s0 now
    set_get(&mut c, &on_s1, 1);
    let s0 = RespConn::connect(rig.redis[0].port).call(&[b"GET", on_s1.as_bytes()]);
    assert_eq!(s0, b"$2\r\nv1\r\n");
    // the drained connection to s1 closes; s1 leaves the stats
    assert!(wait_until(WAIT, || redis_clients(rig.redis[1].port) == 0));
    let (ok, vals) = common::wait_stats(proxy.stats_port, WAIT, |v| {
        v.contains_key("alpha/s0/requests") && !v.contains_key("alpha/s1/requests")
    });
    assert!(ok, "{vals:?}");
    assert_eq!(vals.get("alpha/forward_error"), Some(&0));
    assert_eq!(vals.get("alpha/client_err"), Some(&0));
}

/// A new redis_auth password applies to every client of the pool, even one
/// that authenticated under the old one (man page, RELOAD).
#[test]
fn new_redis_auth_makes_every_client_authenticate_again() {
    let rig = Rig::new(1, 0);
    let rp = free_port();
    let a = rig.redis_pool("alpha", rp, &[0], "  redis_auth: old\n");
    let b = rig.redis_pool("alpha", rp, &[0], "  redis_auth: new\n");
    let proxy = Proxy::start(&a, &["-i", "100"]);
    assert!(wait_tcp(rp));
    let mut tail = LogTail::new(&proxy);
    let mut c = RespConn::connect(rp);
    assert_eq!(c.call(&[b"AUTH", b"old"]), b"+OK\r\n");
    set_get(&mut c, "auth", 1);
    // and one logged in with redis 6's `AUTH user pass`
    let mut u = RespConn::connect(rp);
    assert_eq!(u.call(&[b"AUTH", b"default", b"old"]), b"+OK\r\n");
    set_get(&mut u, "auth", 1);
    let line = reload_ok(&proxy, &mut tail, &b);
    assert!(line.contains("settings changed (redis_auth)"), "{line}");
    for c in [&mut c, &mut u] {
        let refused = c.call(&[b"GET", b"auth"]);
        assert!(
            refused.starts_with(b"-NOAUTH"),
            "{}",
            String::from_utf8_lossy(&refused)
        );
    }
    assert!(c.call(&[b"AUTH", b"old"]).starts_with(b"-ERR"));
    assert_eq!(c.call(&[b"AUTH", b"new"]), b"+OK\r\n");
    set_get(&mut c, "auth", 2);
    assert!(u
        .call(&[b"AUTH", b"default", b"old"])
        .starts_with(b"-WRONGPASS"));
    assert_eq!(u.call(&[b"AUTH", b"default", b"new"]), b"+OK\r\n");
    set_get(&mut u, "auth", 2);
    // without redis_auth every client is in
    reload_ok(&proxy, &mut tail, &rig.redis_pool("alpha", rp, &[0], ""));
    set_get(&mut RespConn::connect(rp), "auth", 3);
}
