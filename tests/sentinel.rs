//! Following Redis Sentinel failovers (issue 13), with real Sentinel processes: two
//! shards (`m1`, `m2`), each a master and a replica, one sentinel with quorum 1 and
//! `down-after-milliseconds 1000` (twemproxy: none; its PR #324 never merged).
//!
//! Timing is measured and printed (`--nocapture`), never asserted beyond generous bounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a failover may take here, kill to first good write (it is ~3-4 s idle).
const FAILOVER_BOUND: Duration = Duration::from_secs(30);

/// Two shards, their sentinel, and a proxy whose pool `p` names them `m1` and `m2`.
struct Env {
    shards: Vec<Shard>,
    sentinel: Sentinel,
    proxy: Proxy,
    port: u16,         // the pool's listen port
    keys: [String; 2], // a key routed to each shard
}

/// The pool: `sentinels` as given, servers at `file_ports` (the file's addresses).
fn yaml(port: u16, sentinels: &[String], file_ports: [u16; 2]) -> String {
    let mut y = format!(
        "p:\n  listen: 127.0.0.1:{port}\n  redis: true\n  hash_tag: \"{{}}\"\n  timeout: 2000\n  \
         server_retry_timeout: 1000\n  sentinels:\n"
    );
    for s in sentinels {
        y.push_str(&format!("    - {s}\n"));
    }
    y.push_str(&format!(
        "  servers:\n    - 127.0.0.1:{}:1 m1\n    - 127.0.0.1:{}:1 m2\n",
        file_ports[0], file_ports[1]
    ));
    y
}

/// Starts everything; `file_m1` overrides m1's address in the file (the real master's
/// otherwise), `before` lists sentinels ahead of the real one.
fn env_with(file_m1: Option<u16>, before: &[String]) -> Env {
    let shards = vec![start_shard(), start_shard()];
    let masters = [shards[0].master.port, shards[1].master.port];
    let sentinel = Sentinel::start(&[("m1", masters[0]), ("m2", masters[1])]);
    let mut list: Vec<String> = before.to_vec();
    list.push(format!("127.0.0.1:{}", sentinel.port));
    let port = free_port();
    let file = [file_m1.unwrap_or(masters[0]), masters[1]];
    let proxy = Proxy::start(&yaml(port, &list, file), &["-i", "100"]);
    assert!(wait_tcp(port), "pool did not listen:\n{}", proxy.log_text());
    let ready = wait_until(WAIT, || proxy.log_text().contains("watching 2 masters"));
    assert!(ready, "no sentinel session:\n{}", proxy.log_text());
    let keys = keys_per_shard(port, &shards);
    Env {
        shards,
        sentinel,
        proxy,
        port,
        keys,
    }
}

fn env() -> Env {
    env_with(None, &[])
}

/// A key the proxy routes to each shard (found by writing through it).
fn keys_per_shard(port: u16, shards: &[Shard]) -> [String; 2] {
    let mut c = RespConn::connect(port);
    let mut out = [String::new(), String::new()];
    for i in 0..200 {
        let k = format!("key{i}");
        assert_eq!(c.call_words(&format!("SET {k} v")), b"+OK\r\n");
        for (s, shard) in shards.iter().enumerate() {
            if get(shard.master.port, &k).is_some() && out[s].is_empty() {
                out[s] = k.clone();
            }
        }
        if out.iter().all(|k| !k.is_empty()) {
            return out;
        }
    }
    panic!("no key for each shard: {out:?}");
}

/// GET `key` straight from the redis-server on `port`.
fn get(port: u16, key: &str) -> Option<Vec<u8>> {
    let reply = RespConn::connect(port).call_words(&format!("GET {key}"));
    reply.strip_prefix(b"$").and_then(|r| {
        let (_, rest) = r.split_at(r.iter().position(|&b| b == b'\n')? + 1);
        Some(rest.strip_suffix(b"\r\n")?.to_vec())
    })
}

/// The subscriber side: the first `+switch-master` after this returns, and when it came.
fn watch_switch(sentinel: &Sentinel) -> std::sync::mpsc::Receiver<(Instant, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", sentinel.port)).unwrap();
    s.write_all(&resp_words("SUBSCRIBE +switch-master"))
        .unwrap();
    let mut r = std::io::BufReader::new(s);
    let ok = read_reply(&mut r).unwrap();
    assert!(ok.starts_with(b"*3\r\n$9\r\nsubscribe"), "{ok:?}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(msg) = read_reply(&mut r) {
            let _ = tx.send((Instant::now(), String::from_utf8_lossy(&msg).into_owned()));
        }
    });
    rx
}

/// Writes `key` through the proxy until it succeeds; when it first did.
fn write_until_ok(port: u16, key: &str, value: &str) -> Instant {
    let end = Instant::now() + FAILOVER_BOUND;
    loop {
        let mut c = RespConn::connect(port);
        if c.call_words(&format!("SET {key} {value}")) == b"+OK\r\n" {
            return Instant::now();
        }
        assert!(
            Instant::now() < end,
            "no successful write after {FAILOVER_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes to `key` over one connection until stopped; counts the writes
/// and the replies other than +OK.
fn steady_writer(
    port: u16,
    key: String,
) -> (
    Arc<AtomicBool>,
    [Arc<AtomicU64>; 2], // writes, errors
    std::thread::JoinHandle<u64>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let counts = [(); 2].map(|_| Arc::new(AtomicU64::new(0)));
    let (s, [w, e]) = (stop.clone(), counts.clone());
    let h = std::thread::spawn(move || {
        let mut c = RespConn::connect(port);
        let mut n = 0u64;
        while !s.load(Ordering::Relaxed) {
            if c.call_words(&format!("SET {key} w{n}")) != b"+OK\r\n" {
                e.fetch_add(1, Ordering::Relaxed);
            }
            n += 1;
            w.store(n, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        }
        n
    });
    (stop, counts, h)
}

/// The proxy's sentinel_switches counter of a server.
fn switches(proxy: &Proxy, server: &str, want: i64) -> i64 {
    let key = format!("p/{server}/sentinel_switches");
    let (_, v) = wait_stats(proxy.stats_port, WAIT, |v| v.get(&key) == Some(&want));
    v.get(&key).copied().unwrap_or(-1)
}

#[test]
fn file_names_a_dead_master_sentinel_wins_from_the_start() {
    let dead = free_port();
    let e = env_with(Some(dead), &[]);
    let (m1, m2) = (e.shards[0].master.port, e.shards[1].master.port);
    let log = e.proxy.log_text();
    let line = format!("pool 'p' server 'm1' switched from 127.0.0.1:{dead} to 127.0.0.1:{m1}");
    assert!(log.contains(&line), "{log}");
    assert!(!log.contains("server 'm2' switched"), "{log}");
    // every write to m1's key lands on the master Sentinel names
    let mut c = RespConn::connect(e.port);
    assert_eq!(
        c.call_words(&format!("SET {} first", e.keys[0])),
        b"+OK\r\n"
    );
    assert_eq!(get(m1, &e.keys[0]).as_deref(), Some(&b"first"[..]));
    assert_eq!(get(m2, &e.keys[0]), None);
    assert_eq!(switches(&e.proxy, "m1", 1), 1);
    assert_eq!(switches(&e.proxy, "m2", 0), 0);
    let series = "nutcracker_sentinel_switches{pool=\"p\",server=\"m1\"}";
    assert_eq!(metric(e.proxy.stats_port, series), Some(1));
}

#[test]
fn sigkill_master_writes_follow_the_promoted_replica() {
    let e = env();
    let (old, new) = (e.shards[0].master.port, e.shards[0].replica.port);
    let (stop, [writes, errors], writer) = steady_writer(e.port, e.keys[1].clone());
    let written = |n: u64| wait_until(WAIT, || writes.load(Ordering::Relaxed) >= n);
    assert!(written(1), "the steady writer never wrote");
    let announced = watch_switch(&e.sentinel);
    let killed = Instant::now();
    e.shards[0].master.proc.signal(libc::SIGKILL);
    let wrote = write_until_ok(e.port, &e.keys[0], "after");
    let (at, msg) = announced
        .recv_timeout(FAILOVER_BOUND)
        .expect("no +switch-master");
    assert!(
        msg.contains(&format!("m1 127.0.0.1 {old} 127.0.0.1 {new}")),
        "{msg}"
    );
    eprintln!(
        "SIGKILL: kill to +switch-master {:?}; +switch-master to first good write {:?}",
        at - killed,
        wrote.saturating_duration_since(at)
    );
    assert_eq!(get(new, &e.keys[0]).as_deref(), Some(&b"after"[..]));
    // the other shard never noticed: written before the kill, throughout,
    // and still after the switch
    let later = writes.load(Ordering::Relaxed) + 10;
    assert!(written(later), "the steady writer stopped after the switch");
    stop.store(true, Ordering::Relaxed);
    let n = writer.join().unwrap();
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "shard m2 saw errors in {n} writes"
    );
    let log = e.proxy.log_text();
    let line = format!("pool 'p' server 'm1' switched from 127.0.0.1:{old} to 127.0.0.1:{new}");
    assert!(log.contains(&line), "{log}");
    assert_eq!(switches(&e.proxy, "m1", 1), 1);
}

/// `SENTINEL FAILOVER m1` and waits for the proxy to log the switch to `to`.
fn failover(e: &Env, to: u16) -> Duration {
    let announced = watch_switch(&e.sentinel);
    let asked = Instant::now();
    // Sentinel refuses (NOGOODSLAVE) while its last INFO of the replica is over 5 s old;
    // it refreshes it every 10 s
    let mut reply = Vec::new();
    let accepted = wait_until(Duration::from_secs(15), || {
        reply = e.sentinel.call("SENTINEL FAILOVER m1");
        reply == b"+OK\r\n"
    });
    assert!(accepted, "{}", String::from_utf8_lossy(&reply));
    let (at, msg) = announced
        .recv_timeout(FAILOVER_BOUND)
        .expect("no +switch-master");
    assert!(msg.contains(&format!("127.0.0.1 {to}")), "{msg}");
    let wrote = write_until_ok(e.port, &e.keys[0], &format!("at{to}"));
    assert_eq!(get(to, &e.keys[0]), Some(format!("at{to}").into_bytes()));
    let took = wrote.saturating_duration_since(at);
    eprintln!(
        "FAILOVER: ask to announcement {:?}; announcement to first good write {took:?}",
        at - asked
    );
    took
}

/// Waits until the redis on `port` is a replica in sync (after a failover demoted it).
fn wait_synced_replica(port: u16) {
    let ok = wait_until(Duration::from_secs(20), || {
        info_field(port, "role").as_deref() == Some("slave")
            && info_field(port, "master_link_status").as_deref() == Some("up")
    });
    assert!(ok, "redis {port} did not become a synced replica");
}

/// Pipelines batches of `SET key` over one connection until stopped: every request gets
/// exactly one reply (a hang fails the read); returns (replies, +OK, -ERR, other).
fn pipelined_writer(
    port: u16,
    key: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<[u64; 4]> {
    std::thread::spawn(move || {
        let mut c = RespConn::connect(port);
        let mut n = [0u64; 4];
        while !stop.load(Ordering::Relaxed) {
            let batch: Vec<u8> = (0..20)
                .flat_map(|i| resp_words(&format!("SET {key} p{i}")))
                .collect();
            c.send(&batch);
            for _ in 0..20 {
                let r = c.read();
                n[0] += 1;
                match r.first() {
                    Some(b'+') => n[1] += 1,
                    Some(b'-') if r.starts_with(b"-ERR") => n[2] += 1,
                    _ => n[3] += 1,
                }
            }
        }
        n
    })
}

#[test]
fn manual_failover_with_both_alive() {
    let e = env();
    let (old, new) = (e.shards[0].master.port, e.shards[0].replica.port);
    let mut c = RespConn::connect(e.port);
    assert_eq!(
        c.call_words(&format!("SET {} before", e.keys[0])),
        b"+OK\r\n"
    );
    let stop = Arc::new(AtomicBool::new(false));
    // the same shard as keys[0] (hash tag), another key
    let writer = pipelined_writer(e.port, format!("{{{}}}pipe", e.keys[0]), stop.clone());
    failover(&e, new);
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let Ok([replies, ok, err, other]) = writer.join() else {
        panic!("a pipelined request failed:\n{}", e.proxy.log_text());
    };
    eprintln!(
        "pipelined across the failover: {replies} replies, {ok} +OK, {err} -ERR, {other} other"
    );
    assert!(ok > 0 && ok + err + other == replies && replies % 20 == 0);
    // the old master turned replica and refuses writes; the proxy no longer sends it any
    wait_synced_replica(old);
    let direct = RespConn::connect(old).call_words("SET x y");
    assert!(
        direct.starts_with(b"-READONLY"),
        "{}",
        String::from_utf8_lossy(&direct)
    );
    for i in 0..20 {
        let r = RespConn::connect(e.port).call_words(&format!("SET {} v{i}", e.keys[0]));
        assert_eq!(r, b"+OK\r\n", "{}", String::from_utf8_lossy(&r));
    }
    assert_eq!(get(new, &e.keys[0]).as_deref(), Some(&b"v19"[..]));
    // the connection opened before the switch: closed with the old master, or answering
    // from the new one; never READONLY, never hanging
    let r = c.call_words(&format!("SET {} again", e.keys[0]));
    assert!(
        r == b"+OK\r\n" || r.starts_with(b"-ERR"),
        "{}",
        String::from_utf8_lossy(&r)
    );
}

#[test]
fn sentinel_restarted_between_two_failovers() {
    let mut e = env();
    let (a, b) = (e.shards[0].master.port, e.shards[0].replica.port);
    failover(&e, b);
    wait_synced_replica(a);
    e.sentinel.restart();
    let back = wait_until(WAIT, || {
        e.proxy.log_text().matches("watching 2 masters").count() >= 2
    });
    assert!(
        back,
        "no new session after the restart:\n{}",
        e.proxy.log_text()
    );
    assert!(e.sentinel.wait_replicas("m1", 1));
    failover(&e, a);
    let log = e.proxy.log_text();
    assert!(
        log.contains(&format!(
            "server 'm1' switched from 127.0.0.1:{b} to 127.0.0.1:{a}"
        )),
        "{log}"
    );
    assert_eq!(switches(&e.proxy, "m1", 2), 2);
}

/// A fake sentinel on a free port: each connection gets `reply` (then silence).
fn fake_sentinel(reply: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 64];
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply);
            held.push(s); // never closed by us: the proxy must leave
        }
    });
    port
}

#[test]
fn dead_garbage_and_silent_sentinels_are_skipped() {
    let dead = free_port();
    let garbage = fake_sentinel(b"%3\r\n\x00\xffnot redis at all\r\n");
    let silent = fake_sentinel(b"");
    let before = [
        format!("127.0.0.1:{dead}"),
        format!("127.0.0.1:{garbage}:1"),
        format!("127.0.0.1:{silent}"),
    ];
    let started = Instant::now();
    let e = env_with(None, &before);
    eprintln!("three bad sentinels skipped in {:?}", started.elapsed());
    let log = e.proxy.log_text();
    for (port, why) in [
        (dead, "Connection refused"),
        (garbage, "protocol error"),
        (silent, "no answer in time"),
    ] {
        let line = format!("sentinel 127.0.0.1:{port} of pool 'p': {why}");
        assert!(log.contains(&line), "missing {line:?}:\n{log}");
    }
    // still serving, and following a failover through the good sentinel
    failover(&e, e.shards[0].replica.port);
    // the loop never blocked: the stats port answered throughout
    assert!(!stats_text(e.proxy.stats_port).is_empty());
}

#[test]
fn a_sentinel_gone_silent_is_left_for_the_next() {
    let shards = [start_shard(), start_shard()];
    let masters = [("m1", shards[0].master.port), ("m2", shards[1].master.port)];
    let (first, second) = (Sentinel::start(&masters), Sentinel::start(&masters));
    let port = free_port();
    let list = [first.port, second.port].map(|p| format!("127.0.0.1:{p}"));
    let file = [masters[0].1, masters[1].1];
    let proxy = Proxy::start(&yaml(port, &list, file), &["-i", "100"]);
    let watching = |n: usize| {
        wait_until(WAIT, || {
            proxy.log_text().matches("watching 2 masters").count() >= n
        })
    };
    assert!(watching(1), "{}", proxy.log_text());
    // frozen, not dead: the connection stays open, only the keep-alive PING notices
    first.proc.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    assert!(watching(2), "{}", proxy.log_text());
    eprintln!("silent sentinel left after {:?}", stopped.elapsed());
    first.proc.signal(libc::SIGCONT);
    let log = proxy.log_text();
    let line = format!(
        "sentinel 127.0.0.1:{} of pool 'p': no answer in time",
        first.port
    );
    assert!(log.contains(&line), "{log}");
    let ready = format!("sentinel 127.0.0.1:{} of pool 'p': watching", second.port);
    assert!(log.contains(&ready), "{log}");
    let mut c = RespConn::connect(port);
    assert_eq!(c.call_words("SET k v"), b"+OK\r\n");
}

/// Writes `yaml` as the proxy's configuration, sends SIGUSR1 (issue 12) and waits for
/// the outcome line, which must be a success.
fn reload(proxy: &Proxy, yaml: &str) {
    let before = proxy.log_text().matches("reloaded '").count();
    std::fs::write(&proxy.conf, yaml).unwrap();
    proxy.proc.signal(libc::SIGUSR1);
    let done = wait_until(WAIT, || {
        let log = proxy.log_text();
        log.matches("reloaded '").count() > before || log.contains("reload rejected")
    });
    let log = proxy.log_text();
    assert!(done && !log.contains("reload rejected"), "{log}");
}

#[test]
fn reload_keeps_sentinel_addresses_of_names_that_stay() {
    let e = env_with(Some(free_port()), &[]);
    let (m1, m2) = (e.shards[0].master.port, e.shards[1].master.port);
    let real = format!("127.0.0.1:{}", e.sentinel.port);
    let sessions = || e.proxy.log_text().matches("watching 2 masters").count();
    // another (dead) file address for m1 and a new timeout: Sentinel's address stays,
    // and so does the session
    let text = yaml(e.port, std::slice::from_ref(&real), [free_port(), m2]);
    reload(&e.proxy, &text.replace("timeout: 2000", "timeout: 1500"));
    let mut c = RespConn::connect(e.port);
    assert_eq!(c.call_words(&format!("SET {} r1", e.keys[0])), b"+OK\r\n");
    assert_eq!(get(m1, &e.keys[0]).as_deref(), Some(&b"r1"[..]));
    assert_eq!(sessions(), 1);
    // a new sentinel list (a dead one first): a new session, which asks again
    let list = [format!("127.0.0.1:{}", free_port()), real];
    reload(&e.proxy, &yaml(e.port, &list, [free_port(), m2]));
    assert!(
        wait_until(WAIT, || sessions() == 2),
        "{}",
        e.proxy.log_text()
    );
    assert_eq!(c.call_words(&format!("SET {} r2", e.keys[0])), b"+OK\r\n");
    assert_eq!(get(m1, &e.keys[0]).as_deref(), Some(&b"r2"[..]));
    // and the failover that follows is still followed
    failover(&e, e.shards[0].replica.port);
}
