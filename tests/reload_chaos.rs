#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Chaos under live reload (issue 12): several clients pipeline mixed
//! traffic on persistent connections (redis GET/SET/MGET/DEL, memcache
//! set/get k1..kN/delete, and one that hangs up mid-pipeline) while the
//! proxy is reloaded with a seeded random sequence of generated configs
//! (pools added and removed, listen moved, servers added, removed,
//! re-addressed and re-weighted, directives changed (hash, distribution,
//! hash_tag, timeout, server_connections, auto_eject_hosts, server_probe,
//! retry and failure limit, preconnect, backlog, redis_db), a backend
//! killed and restarted). It checks that the proxy stays alive; that every reply
//! on a connection is well formed and belongs to its request (values are
//! unique per request and name their key), one reply per request, in
//! order; that clients of pools that stay are never closed; and that after
//! the chaos every pool of the final config answers and descriptors and
//! live messages are back to their baseline.
//!
//! `CHAOS_SEED=<n>` replays a seed (the seed is printed); `CHAOS_SECS=<s>`
//! runs longer than the default few seconds.

mod common;

use common::{memcached_on, metric, redis_on, resp, Proc, Proxy, TempDir, WAIT};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// splitmix64: small, seedable, good enough to pick configs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
}

/// A backend the test can kill and restart on the same port.
struct Backend {
    port: u16,
    redis: bool,
    proc: Option<Proc>,
    dir: TempDir,
    paused: bool, // SIGSTOPped
}

impl Backend {
    fn start(redis: bool) -> Backend {
        let mut b = Backend {
            port: common::free_port(),
            redis,
            proc: None,
            dir: TempDir::new("chaos"),
            paused: false,
        };
        b.restart();
        b
    }
    fn restart(&mut self) {
        if self.proc.is_none() {
            self.proc = Some(if self.redis {
                redis_on(self.port, &self.dir)
            } else {
                memcached_on(self.port, &[])
            });
        }
    }
    /// SIGSTOP: connections stay open, nothing is answered.
    fn pause(&mut self) {
        if let Some(p) = &self.proc {
            p.signal(libc::SIGSTOP);
            self.paused = true;
        }
    }
    fn resume(&mut self) {
        if let (Some(p), true) = (&self.proc, self.paused) {
            p.signal(libc::SIGCONT);
        }
        self.paused = false;
    }
    fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.signal(libc::SIGKILL);
            p.wait_exit(WAIT);
        }
    }
}

/// The four pools: two redis, two memcache; the first of each kind is in
/// every config (its clients must never be closed), the second comes and
/// goes.
const POOLS: [(&str, bool, bool); 4] = [
    ("ra", true, true), // (name, redis, always present)
    ("rb", true, false),
    ("ma", false, true),
    ("mb", false, false),
];

/// State shared by the clients and the reloader.
struct Shared {
    listen: Mutex<[Option<u16>; 4]>, // where each pool listens now (None: absent)
    stop: AtomicBool,
    failures: Mutex<Vec<String>>,
    requests: AtomicU64,      // requests answered
    error_replies: AtomicU64, // of which error replies
    closes: AtomicU64,        // connections of coming-and-going pools closed by the proxy
}

impl Shared {
    fn fail(&self, what: String) {
        eprintln!("CHAOS FAILURE: {what}");
        let mut f = self.failures.lock().unwrap();
        if f.len() < 50 {
            f.push(what);
        }
    }
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    /// A fresh connection to pool `i`, waiting while it is absent or its
    /// listener is not up yet; None once stopped.
    fn connect(&self, i: usize) -> Option<TcpStream> {
        while !self.stopped() {
            let port = self.listen.lock().unwrap()[i];
            if let Some(port) = port {
                if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
                    s.set_nodelay(true).unwrap();
                    return Some(s);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

// ---- generated configurations ----

/// Two candidate listen ports per pool.
type Ports = [[u16; 2]; 4];

/// A random valid config, and where each pool listens under it.
fn gen_conf(rng: &mut Rng, ports: &Ports, redis: &[u16], mc: &[u16]) -> (String, [Option<u16>; 4]) {
    let mut yaml = String::new();
    let mut listen = [None; 4];
    let mut order: Vec<usize> = (0..4).collect();
    rng.shuffle(&mut order);
    for i in order {
        let (name, is_redis, always) = POOLS[i];
        if !always && rng.chance(25) {
            continue;
        }
        let port = *rng.pick(&ports[i]);
        listen[i] = Some(port);
        yaml.push_str(&format!("{name}:\n  listen: 127.0.0.1:{port}\n"));
        if is_redis || rng.chance(50) {
            yaml.push_str(&format!("  redis: {is_redis}\n"));
        }
        let hash = rng.pick(&[
            "fnv1a_64",
            "murmur",
            "md5",
            "crc32a",
            "one_at_a_time",
            "jenkins",
        ]);
        yaml.push_str(&format!("  hash: {hash}\n"));
        let dist = rng.pick(&["ketama", "ketama", "modula", "random"]);
        yaml.push_str(&format!("  distribution: {dist}\n"));
        if rng.chance(30) {
            yaml.push_str("  hash_tag: \"{}\"\n");
        }
        if rng.chance(70) {
            let t = rng.pick(&[150, 400, 1000, 3000]);
            yaml.push_str(&format!("  timeout: {t}\n"));
        }
        let n = rng.below(3) + 1;
        yaml.push_str(&format!("  server_connections: {n}\n"));
        let eject = rng.chance(50);
        yaml.push_str(&format!("  auto_eject_hosts: {eject}\n"));
        if eject && rng.chance(50) {
            yaml.push_str("  server_probe: true\n");
        }
        if is_redis && rng.chance(20) {
            yaml.push_str("  redis_db: 1\n");
        }
        let retry = rng.pick(&[100, 300, 1000]);
        yaml.push_str(&format!("  server_retry_timeout: {retry}\n"));
        let limit = rng.below(3) + 1;
        yaml.push_str(&format!("  server_failure_limit: {limit}\n"));
        let pre = rng.chance(30);
        yaml.push_str(&format!("  preconnect: {pre}\n"));
        if rng.chance(20) {
            let b = rng.pick(&[64, 512]);
            yaml.push_str(&format!("  backlog: {b}\n"));
        }
        yaml.push_str("  servers:\n");
        let backends = if is_redis { redis } else { mc };
        let mut addrs = backends.to_vec();
        rng.shuffle(&mut addrs);
        let k = rng.below(addrs.len()) + 1;
        let mut names: Vec<usize> = (0..addrs.len()).collect();
        rng.shuffle(&mut names);
        for (j, port) in addrs.iter().take(k).enumerate() {
            let w = rng.below(3) + 1;
            yaml.push_str(&format!("   - 127.0.0.1:{port}:{w} n{}\n", names[j]));
        }
    }
    (yaml, listen)
}

/// The config in force after the chaos (and at the start): every pool on
/// its first port, every backend, one connection each, opened at once (so
/// the descriptors it takes do not depend on the keys used).
fn final_conf(ports: &Ports, redis: &[u16], mc: &[u16]) -> String {
    let mut yaml = String::new();
    for (i, (name, is_redis, _)) in POOLS.iter().enumerate() {
        let port = ports[i][0];
        yaml.push_str(&format!(
            "{name}:\n  listen: 127.0.0.1:{port}\n  redis: {is_redis}\n  timeout: 3000\n  preconnect: true\n  servers:\n"
        ));
        let backends = if *is_redis { redis } else { mc };
        for (j, p) in backends.iter().enumerate() {
            yaml.push_str(&format!("   - 127.0.0.1:{p}:1 n{j}\n"));
        }
    }
    yaml
}

// ---- redis clients ----

/// What a pipelined redis request expects.
enum RExp {
    Set,
    Get(String),
    Mget(Vec<String>),
    Del(usize),
}

/// A value that names its key and is unique per request.
fn value(key: &str, seq: u64) -> String {
    format!("{key}|{seq}")
}

/// Whether `v` is a value some request wrote to `key`.
fn value_of(key: &str, v: &[u8]) -> bool {
    let v = String::from_utf8_lossy(v);
    v.rsplit_once('|')
        .is_some_and(|(k, seq)| k == key && seq.parse::<u64>().is_ok())
}

/// One random redis request on keys of client `cid`.
fn redis_req(rng: &mut Rng, cid: usize, seq: &mut u64, out: &mut Vec<u8>) -> RExp {
    *seq += 1;
    let key = |rng: &mut Rng| format!("c{cid}:k{}", rng.below(300));
    match rng.below(10) {
        0..=3 => {
            let k = key(rng);
            let v = value(&k, *seq);
            out.extend(resp(&[b"SET", k.as_bytes(), v.as_bytes()]));
            RExp::Set
        }
        4..=6 => {
            let k = key(rng);
            out.extend(resp(&[b"GET", k.as_bytes()]));
            RExp::Get(k)
        }
        7..=8 => {
            let keys: Vec<String> = (0..rng.below(20) + 2).map(|_| key(rng)).collect();
            let mut args: Vec<&[u8]> = vec![b"MGET"];
            args.extend(keys.iter().map(|k| k.as_bytes()));
            out.extend(resp(&args));
            RExp::Mget(keys)
        }
        _ => {
            let keys: Vec<String> = (0..rng.below(6) + 1).map(|_| key(rng)).collect();
            let mut args: Vec<&[u8]> = vec![b"DEL"];
            args.extend(keys.iter().map(|k| k.as_bytes()));
            out.extend(resp(&args));
            RExp::Del(keys.len())
        }
    }
}

/// Why reading a reply stopped.
enum Stop {
    Closed(String), // EOF or reset: the proxy closed the connection
    Hang(String),   // no reply within the read timeout
    Bad(String),    // a malformed reply
}

fn io_stop(e: std::io::Error) -> Stop {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Stop::Hang(e.to_string()),
        _ => Stop::Closed(e.to_string()),
    }
}

/// Reads one RESP line (without its CRLF).
fn line(r: &mut impl BufRead) -> Result<Vec<u8>, Stop> {
    let mut l = Vec::new();
    let n = r.read_until(b'\n', &mut l).map_err(io_stop)?;
    if n == 0 {
        return Err(Stop::Closed("EOF".into()));
    }
    if !l.ends_with(b"\r\n") {
        return Err(Stop::Closed("EOF mid-line".into())); // cut mid-line: the connection closed
    }
    l.truncate(l.len() - 2);
    Ok(l)
}

fn bulk(r: &mut impl BufRead, len: usize) -> Result<Vec<u8>, Stop> {
    let mut b = vec![0; len + 2];
    r.read_exact(&mut b).map_err(io_stop)?;
    if !b.ends_with(b"\r\n") {
        return Err(Stop::Bad("bulk without CRLF".into()));
    }
    b.truncate(len);
    Ok(b)
}

fn num(l: &[u8]) -> Result<i64, Stop> {
    std::str::from_utf8(&l[1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Stop::Bad(format!("bad number line {:?}", String::from_utf8_lossy(l))))
}

/// An error reply the proxy may give when a server or pool leaves, fails
/// or times out; backend errors that mean a request reached the wrong
/// place or was garbled are not among them.
fn allowed_error(l: &[u8]) -> bool {
    let s = String::from_utf8_lossy(l);
    !(s.contains("WRONGTYPE") || s.contains("unknown command") || s.contains("wrong number"))
}

/// Reads the bulk string announced by `head` (`$n`), if not nil, and
/// checks that it is a value of `key`.
fn check_bulk(r: &mut impl BufRead, key: &str, head: &[u8]) -> Result<(), Stop> {
    let n = num(head)?;
    if n >= 0 {
        let v = bulk(r, n as usize)?;
        if !value_of(key, &v) {
            return Err(Stop::Bad(format!(
                "{key} answered {:?}",
                String::from_utf8_lossy(&v)
            )));
        }
    }
    Ok(())
}

/// Reads and checks the reply to `exp`. Ok(true) for an error reply.
fn check_redis(r: &mut impl BufRead, exp: &RExp) -> Result<bool, Stop> {
    let l = line(r)?;
    let bad = |what: &str| Stop::Bad(format!("{what}: {:?}", String::from_utf8_lossy(&l)));
    if l.first() == Some(&b'-') {
        return if allowed_error(&l) {
            Ok(true)
        } else {
            Err(bad("unexpected error"))
        };
    }
    match exp {
        RExp::Set if l == b"+OK" => Ok(false),
        RExp::Get(k) if l.first() == Some(&b'$') => {
            check_bulk(r, k, &l)?;
            Ok(false)
        }
        RExp::Mget(keys) if l.first() == Some(&b'*') => {
            if num(&l)? != keys.len() as i64 {
                return Err(bad(&format!("MGET of {} keys", keys.len())));
            }
            for k in keys {
                let e = line(r)?;
                if e.first() != Some(&b'$') {
                    return Err(Stop::Bad(format!(
                        "MGET element {:?}",
                        String::from_utf8_lossy(&e)
                    )));
                }
                check_bulk(r, k, &e)?;
            }
            Ok(false)
        }
        RExp::Del(n) if l.first() == Some(&b':') => {
            let got = num(&l)?;
            if got < 0 || got > *n as i64 {
                return Err(bad(&format!("DEL of {n} keys")));
            }
            Ok(false)
        }
        RExp::Set => Err(bad("SET answered")),
        RExp::Get(_) => Err(bad("GET answered")),
        RExp::Mget(_) => Err(bad("MGET answered")),
        RExp::Del(_) => Err(bad("DEL answered")),
    }
}

// ---- memcache clients ----

enum MExp {
    Set,
    Get(Vec<String>),
    Delete,
}

fn mc_req(rng: &mut Rng, cid: usize, seq: &mut u64, out: &mut Vec<u8>) -> MExp {
    *seq += 1;
    let key = |rng: &mut Rng| format!("c{cid}k{}", rng.below(300));
    match rng.below(10) {
        0..=3 => {
            let k = key(rng);
            let v = value(&k, *seq);
            out.extend(format!("set {k} 0 0 {}\r\n{v}\r\n", v.len()).as_bytes());
            MExp::Set
        }
        4..=8 => {
            let mut keys: Vec<String> = (0..rng.below(20) + 1).map(|_| key(rng)).collect();
            keys.dedup();
            out.extend(format!("get {}\r\n", keys.join(" ")).as_bytes());
            MExp::Get(keys)
        }
        _ => {
            out.extend(format!("delete {}\r\n", key(rng)).as_bytes());
            MExp::Delete
        }
    }
}

fn mc_error(l: &[u8]) -> bool {
    l.starts_with(b"SERVER_ERROR") || l.starts_with(b"CLIENT_ERROR") || l == b"ERROR"
}

fn check_mc(r: &mut impl BufRead, exp: &MExp) -> Result<bool, Stop> {
    let l = line(r)?;
    if mc_error(&l) {
        return Ok(true);
    }
    let bad = |what: &str, l: &[u8]| Stop::Bad(format!("{what}: {:?}", String::from_utf8_lossy(l)));
    match exp {
        MExp::Set if l == b"STORED" => Ok(false),
        MExp::Delete if l == b"DELETED" || l == b"NOT_FOUND" => Ok(false),
        MExp::Get(keys) => {
            let mut l = l;
            let mut next = 0; // values come in request order, each key at most once
            while l != b"END" {
                let s = String::from_utf8_lossy(&l).into_owned();
                let f: Vec<&str> = s.split(' ').collect();
                if f.len() != 4 || f[0] != "VALUE" {
                    return Err(bad("get answered", &l));
                }
                let Some(at) = keys[next..].iter().position(|k| k == f[1]) else {
                    return Err(bad(&format!("get {} answered", keys.join(" ")), &l));
                };
                next += at + 1;
                let len: usize = f[3].parse().map_err(|_| bad("VALUE length", &l))?;
                let v = bulk(r, len)?;
                if !value_of(f[1], &v) {
                    return Err(bad(&format!("value of {}", f[1]), &v));
                }
                l = line(r)?;
            }
            Ok(false)
        }
        MExp::Set => Err(bad("set answered", &l)),
        MExp::Delete => Err(bad("delete answered", &l)),
    }
}

// ---- client loops ----

/// A client of pool `pool` pipelining batches of random requests on one
/// connection for as long as the proxy keeps it; `hangup` clients send a
/// batch, read part of it and hang up.
fn client(sh: Arc<Shared>, pool: usize, cid: usize, seed: u64, hangup: bool) {
    let mut rng = Rng(seed ^ (cid as u64).wrapping_mul(0x1234_5678_9abc_def1));
    let redis = POOLS[pool].1;
    let mut seq = 0u64;
    'conn: while let Some(stream) = sh.connect(pool) {
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        while !sh.stopped() {
            let n = if hangup { 40 } else { rng.below(24) + 1 };
            let mut out = Vec::new();
            let mut rexp = Vec::new();
            let mut mexp = Vec::new();
            for _ in 0..n {
                if redis {
                    rexp.push(redis_req(&mut rng, cid, &mut seq, &mut out));
                } else {
                    mexp.push(mc_req(&mut rng, cid, &mut seq, &mut out));
                }
            }
            let read = if hangup { rng.below(n / 2) } else { n };
            let written = w.write_all(&out);
            for i in 0..read {
                let got = if redis {
                    check_redis(&mut r, &rexp[i])
                } else {
                    check_mc(&mut r, &mexp[i])
                };
                match got {
                    Ok(err) => {
                        sh.requests.fetch_add(1, Ordering::Relaxed);
                        if err {
                            sh.error_replies.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(Stop::Closed(e)) if POOLS[pool].2 => {
                        sh.fail(format!(
                            "client {cid} of pool {} closed by the proxy at reply {i} of {n} \
                             ({e}; write: {written:?})",
                            POOLS[pool].0
                        ));
                        continue 'conn;
                    }
                    Err(Stop::Closed(_)) => {
                        sh.closes.fetch_add(1, Ordering::Relaxed);
                        continue 'conn;
                    }
                    Err(Stop::Hang(e)) => {
                        sh.fail(format!(
                            "client {cid} of pool {}: no reply to request {i} of {n}: {e}",
                            POOLS[pool].0
                        ));
                        return;
                    }
                    Err(Stop::Bad(e)) => {
                        sh.fail(format!("client {cid} of pool {}: {e}", POOLS[pool].0));
                        return;
                    }
                }
            }
            if hangup {
                continue 'conn; // drops the connection mid-pipeline
            }
        }
        // The final check: nothing more arrives on this connection.
        let _ = w.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        if !rest.is_empty() {
            sh.fail(format!(
                "client {cid} of pool {}: {} bytes nobody asked for: {:?}",
                POOLS[pool].0,
                rest.len(),
                String::from_utf8_lossy(&rest[..rest.len().min(200)])
            ));
        }
        return;
    }
}

// ---- the proxy side ----

fn nfds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The proxy's descriptors and its TCP sockets (for failure messages).
fn sockets(pid: u32) -> String {
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|l| l.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    let out = std::process::Command::new("ss").args(["-tanp"]).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let me = format!("pid={pid},");
    let mine: Vec<&str> = text.lines().filter(|l| l.contains(&me)).collect();
    format!("{fds:?}\n{}", mine.join("\n"))
}

/// Counts the reload outcomes in the log so far: (applied, rejected).
fn reloads_logged(proxy: &Proxy) -> (usize, usize) {
    let log = proxy.log_text();
    (
        log.matches("reloaded '").count(),
        log.matches("reload rejected").count(),
    )
}

/// Sends SIGUSR1 and waits for the log to say the reload was applied
/// (true) or rejected (false).
fn reload(proxy: &Proxy, yaml: &str) -> bool {
    let tmp = format!("{}.tmp", proxy.conf);
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, &proxy.conf).unwrap(); // never a half-written file
    let before = reloads_logged(proxy);
    proxy.proc.signal(libc::SIGUSR1);
    let mut now = before;
    let seen = common::wait_until(WAIT, || {
        now = reloads_logged(proxy);
        now != before
    });
    assert!(seen, "no reload outcome logged:\n{}", tail(proxy));
    now.0 > before.0
}

/// Whether the last reload was rejected because a new listen address was
/// in use.
fn in_use(proxy: &Proxy) -> bool {
    let log = proxy.log_text();
    log.lines()
        .rev()
        .find(|l| l.contains("reload rejected"))
        .is_some_and(|l| l.contains("Address already in use"))
}

fn tail(proxy: &Proxy) -> String {
    let log = proxy.log_text();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A fresh request on every pool of the final config works: a SET and GET
/// of keys over every redis server, a set and get of keys over every
/// memcached.
fn fresh_requests(ports: &Ports) {
    for (i, (name, is_redis, _)) in POOLS.iter().enumerate() {
        assert!(common::wait_tcp(ports[i][0]), "pool {name} does not listen");
        let mut s = common::connect(ports[i][0]);
        let mut r = BufReader::new(s.try_clone().unwrap());
        for k in 0..40 {
            let key = format!("fresh:{k}");
            let v = value(&key, 0);
            if *is_redis {
                s.write_all(&resp(&[b"SET", key.as_bytes(), v.as_bytes()]))
                    .unwrap();
                s.write_all(&resp(&[b"GET", key.as_bytes()])).unwrap();
                let set = line(&mut r).ok().unwrap_or_default();
                let get = line(&mut r).ok().unwrap_or_default();
                let val = bulk(&mut r, v.len()).ok().unwrap_or_default();
                assert_eq!(
                    (set.as_slice(), get.as_slice(), val.as_slice()),
                    (
                        &b"+OK"[..],
                        format!("${}", v.len()).as_bytes(),
                        v.as_bytes()
                    ),
                    "pool {name}"
                );
            } else {
                s.write_all(
                    format!("set {key} 0 0 {}\r\n{v}\r\nget {key}\r\n", v.len()).as_bytes(),
                )
                .unwrap();
                let mut want = format!("STORED\r\nVALUE {key} 0 {}\r\n{v}\r\nEND\r\n", v.len());
                let mut got = vec![0; want.len()];
                r.read_exact(&mut got).unwrap();
                assert_eq!(String::from_utf8_lossy(&got), want.as_str(), "pool {name}");
                want.clear();
            }
        }
    }
}

#[test]
fn reloads_under_mixed_traffic_lose_nothing() {
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let secs: u64 = std::env::var("CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    eprintln!("reload chaos: CHAOS_SEED={seed} CHAOS_SECS={secs}");
    let mut rng = Rng(seed);

    let mut backends: Vec<Backend> = (0..4).map(|_| Backend::start(true)).collect();
    backends.extend((0..3).map(|_| Backend::start(false)));
    let redis: Vec<u16> = backends[..4].iter().map(|b| b.port).collect();
    let mc: Vec<u16> = backends[4..].iter().map(|b| b.port).collect();
    let ports: Ports = std::array::from_fn(|_| [common::free_port(), common::free_port()]);

    let start = final_conf(&ports, &redis, &mc);
    let proxy = Proxy::start(&start, &["-v", "5", "-i", "200"]);
    let pid = proxy.proc.pid();
    fresh_requests(&ports);
    // The baseline once the proxy has closed those clients (an event, not a
    // 300 ms sleep that a loaded machine outlasts): each pool counts the
    // EOFs of wait_tcp's probe and of the client (counters only grow, so a
    // late snapshot cannot pass early; the live counts are updated first).
    let (gone, v) = common::wait_stats(proxy.stats_port, WAIT, |v| {
        POOLS.iter().all(|(name, _, _)| {
            v.get(&format!("{name}/client_eof"))
                .is_some_and(|&n| n >= 2)
        })
    });
    assert!(
        gone,
        "the first clients never left: {v:?}\n{}",
        tail(&proxy)
    );
    let base_fds = nfds(pid);
    let base_conns = metric(proxy.stats_port, "nutcracker_curr_connections").unwrap();

    let sh = Arc::new(Shared {
        listen: Mutex::new(std::array::from_fn(|i| Some(ports[i][0]))),
        stop: AtomicBool::new(false),
        failures: Mutex::new(Vec::new()),
        requests: AtomicU64::new(0),
        error_replies: AtomicU64::new(0),
        closes: AtomicU64::new(0),
    });
    // (pool, hangup) per client: three on ra, two on ma, one on each of
    // rb and mb, two that hang up mid-pipeline.
    let roles = [
        (0, false),
        (0, false),
        (0, false),
        (2, false),
        (2, false),
        (1, false),
        (3, false),
        (0, true),
        (3, true),
    ];
    let threads: Vec<_> = roles
        .iter()
        .enumerate()
        .map(|(cid, &(pool, hangup))| {
            let sh = Arc::clone(&sh);
            std::thread::spawn(move || client(sh, pool, cid, seed, hangup))
        })
        .collect();

    let end = Instant::now() + Duration::from_secs(secs);
    let (mut applied, mut rejected, mut busy, mut kills, mut pauses) = (0, 0, 0, 0, 0);
    let mut step = 0u64;
    while Instant::now() < end && sh.failures.lock().unwrap().is_empty() {
        step += 1;
        // A backend dies now and then, or stops answering until the next
        // step (its requests time out or wait); a dead one comes back.
        for b in &mut backends {
            b.resume();
        }
        let b = rng.below(backends.len());
        if backends[b].proc.is_none() {
            backends[b].restart();
        } else if rng.chance(8) {
            backends[b].kill();
            kills += 1;
        } else if rng.chance(5) {
            backends[b].pause();
            pauses += 1;
        }
        let invalid = rng.chance(5);
        let (mut yaml, listen) = gen_conf(&mut rng, &ports, &redis, &mc);
        if invalid {
            yaml = yaml.replacen("hash: ", "hash: no_such_", 1);
        }
        let ok = reload(&proxy, &yaml);
        assert!(
            common::alive(pid),
            "proxy died at step {step} (CHAOS_SEED={seed}):\n{}",
            tail(&proxy)
        );
        if ok {
            assert!(!invalid, "an invalid config was applied:\n{yaml}");
            applied += 1;
            *sh.listen.lock().unwrap() = listen;
        } else if !invalid && in_use(&proxy) {
            // Our listen ports are ephemeral ones: an outgoing connection
            // may hold one for a while. The reload is rejected whole.
            busy += 1;
        } else {
            rejected += 1;
            assert!(
                invalid,
                "step {step} rejected (CHAOS_SEED={seed}):\n{yaml}\n{}",
                tail(&proxy)
            );
        }
        std::thread::sleep(Duration::from_millis(rng.below(150) as u64 + 20));
    }
    // Every backend answers again: a dead one comes back, and one the
    // last step paused resumes (restart alone left it stopped, so the
    // fresh requests below timed out on it now and then).
    for b in &mut backends {
        b.resume();
        b.restart();
    }
    assert!(
        reload(&proxy, &start),
        "final config rejected:\n{}",
        tail(&proxy)
    );
    *sh.listen.lock().unwrap() = std::array::from_fn(|i| Some(ports[i][0]));
    std::thread::sleep(Duration::from_millis(300));
    sh.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    eprintln!(
        "reload chaos: seed {seed}: {step} steps, {applied} reloads applied, {rejected} rejected, \
         {busy} rejected for a port in use, {kills} backends killed, {pauses} paused; {} replies checked ({} errors), {} closes of leaving pools",
        sh.requests.load(Ordering::Relaxed),
        sh.error_replies.load(Ordering::Relaxed),
        sh.closes.load(Ordering::Relaxed),
    );
    let failures = sh.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "CHAOS_SEED={seed}: {failures:#?}\n{}",
        tail(&proxy)
    );
    assert!(common::alive(pid), "proxy died (CHAOS_SEED={seed})");

    // After the chaos: every pool answers, descriptors and live messages
    // return to where they were before it.
    fresh_requests(&ports);
    let mut fds = 0;
    let settled = common::wait_until(WAIT, || {
        fds = nfds(pid);
        fds <= base_fds
    });
    assert!(
        settled,
        "{fds} descriptors, {base_fds} before the chaos (CHAOS_SEED={seed}):\n{}\n{}",
        sockets(pid),
        tail(&proxy)
    );
    let live = common::wait_metric(proxy.stats_port, "nutcracker_msgs_live", 0);
    assert_eq!(
        live,
        Some(0),
        "messages alive after the chaos (CHAOS_SEED={seed})"
    );
    // At most as many as before, like the descriptors, and the count is
    // true: every connection fewer is a descriptor fewer. The final reload
    // preconnects, but the fresh requests reopen only the connections
    // their keys use after one failed (seen once in CI: 17 against 18; the
    // same seed passed alone).
    let (mut conns, mut fds) = (None, 0);
    let settled = common::wait_until(WAIT, || {
        conns = metric(proxy.stats_port, "nutcracker_curr_connections");
        fds = nfds(pid);
        conns.is_some_and(|n| {
            let fewer = base_fds.checked_sub(fds);
            n <= base_conns && fewer.is_some_and(|d| base_conns - n == d as i64)
        })
    });
    assert!(
        settled,
        "{conns:?} connections and {fds} descriptors after the chaos, {base_conns} and \
         {base_fds} before (CHAOS_SEED={seed}):\n{}",
        sockets(pid)
    );
    assert!(common::alive(pid));
}

/// A re-addressed server starts fresh: a failure of a connection to its
/// old address, drained by the reload, does not count against it at the
/// new one (found by reading while auditing the reload: with
/// `server_failure_limit: 1` it ejected the healthy server).
#[test]
fn old_address_failure_does_not_eject_the_readdressed_server() {
    let mut old = Backend::start(true);
    let new = Backend::start(true);
    let listen = common::free_port();
    let conf = |port: u16| {
        format!(
            "alpha:\n  listen: 127.0.0.1:{listen}\n  redis: true\n  auto_eject_hosts: true\n  \
             server_failure_limit: 1\n  server_retry_timeout: 60000\n  servers:\n   \
             - 127.0.0.1:{port}:1 s1\n"
        )
    };
    let proxy = Proxy::start(&conf(old.port), &["-v", "5"]);
    assert!(common::wait_tcp(listen));
    let mut c = common::RespConn::connect(listen);
    assert_eq!(c.call_words("SET k v1"), b"+OK\r\n");
    // A request in flight on the old address while the reload moves s1.
    old.proc.as_ref().unwrap().signal(libc::SIGSTOP);
    // the GET is in flight on the old server (no sleep: SIGSTOP keeps it
    // there); the count is 0 first, as a reply just read can leave it stale
    let live = |n| common::wait_metric(proxy.stats_port, "nutcracker_msgs_live", n);
    assert_eq!(live(0), Some(0), "the SET is still live");
    c.send(&common::resp_words("GET k"));
    assert_eq!(live(1), Some(1), "the GET never reached the proxy");
    assert!(reload(&proxy, &conf(new.port)));
    old.kill(); // the drained connection fails with its request
    let r = c.read();
    assert!(
        r.starts_with(b"-"),
        "the in-flight GET fails: {}",
        String::from_utf8_lossy(&r)
    );
    assert_eq!(
        String::from_utf8_lossy(&c.call_words("SET k v2")),
        "+OK\r\n",
        "s1 at its new address is not ejected:\n{}",
        proxy.log_text()
    );
}
