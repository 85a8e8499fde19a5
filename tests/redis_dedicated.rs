#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Dedicated server connections (issue 15): transactions (MULTI / EXEC /
//! DISCARD / WATCH / UNWATCH), blocking commands and Pub/Sub through the
//! proxy, against real redis-servers. Keys that share a hash tag live on one
//! server; a client that needs connection state on a server gets a server
//! connection of its own for as long as it needs it.

mod common;

use common::{start_redis, start_redis_pool, RedisPool, RespConn, WAIT};
use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::time::Instant;

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned()
}

/// The index of the backend holding `key` (written through the proxy first).
fn owner(pool: &RedisPool, key: &str) -> usize {
    let mut px = RespConn::connect(pool.port);
    assert_eq!(px.call_words(&format!("SET {key} probe")), b"+OK\r\n");
    let holders: Vec<usize> = (0..pool.backends.len())
        .filter(|&i| {
            RespConn::connect(pool.backends[i].port).call_words(&format!("EXISTS {key}"))
                == b":1\r\n"
        })
        .collect();
    assert_eq!(holders.len(), 1, "{key} held by {holders:?}");
    px.call_words(&format!("DEL {key}"));
    holders[0]
}

/// Two keys (no hash tag) that live on different backends.
fn keys_apart(pool: &RedisPool) -> (String, String) {
    let first = "apart:0".to_string();
    let home = owner(pool, &first);
    for i in 1..200 {
        let k = format!("apart:{i}");
        if owner(pool, &k) != home {
            return (first, k);
        }
    }
    panic!("no two keys on different servers");
}

/// One key per backend: `tag` names a hash tag living on backend `i`.
fn tag_per_backend(pool: &RedisPool) -> Vec<String> {
    let mut tags = vec![String::new(); pool.backends.len()];
    for i in 0..500 {
        let t = format!("t{i}");
        let o = owner(pool, &format!("{{{t}}}x"));
        if tags[o].is_empty() {
            tags[o] = t;
        }
        if tags.iter().all(|t| !t.is_empty()) {
            return tags;
        }
    }
    panic!("a backend owns no tag: {tags:?}");
}

/// Sends the same commands to the proxy and to a direct redis, one at a
/// time, and checks that every reply is byte-identical.
fn same_as_direct(px: &mut RespConn, dr: &mut RespConn, script: &[&str]) {
    for cmd in script {
        let a = px.call_words(cmd);
        let b = dr.call_words(cmd);
        assert_eq!(show(&a), show(&b), "reply to {cmd:?}");
    }
}

/// `CLIENT LIST` lines of every backend, minus the connection asking.
fn client_lists(pool: &RedisPool) -> Vec<String> {
    pool.backends
        .iter()
        .map(|b| {
            // Whole: `show` keeps 300 bytes, a line or two of CLIENT LIST.
            let r = RespConn::connect(b.port).call_words("CLIENT LIST");
            String::from_utf8_lossy(&r).into_owned()
        })
        .collect()
}

/// Whether no backend holds a connection in a transaction (`flags=x`), a
/// watch (`watch=` > 0), blocked (`flags=b`) or subscribed (`sub=`/`psub=` > 0).
fn backends_clean(pool: &RedisPool) -> Result<(), String> {
    for (i, list) in client_lists(pool).iter().enumerate() {
        for line in list.lines().filter(|l| l.contains("id=")) {
            let field = |name: &str| -> String {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or("")
                    .to_string()
            };
            let flags = field("flags=");
            let busy = flags.contains('x')
                || flags.contains('b')
                || field("sub=").parse::<u32>().unwrap_or(0) > 0
                || field("psub=").parse::<u32>().unwrap_or(0) > 0
                || field("watch=").parse::<u32>().unwrap_or(0) > 0;
            if busy {
                return Err(format!("backend {i}: {line}"));
            }
        }
    }
    Ok(())
}

#[test]
fn multi_exec_with_a_hash_tag_matches_direct_redis() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    same_as_direct(
        &mut px,
        &mut dr,
        &[
            "MULTI",
            "SET {t}a 1",
            "INCR {t}b",
            "PING",
            "ECHO hi",
            "LPUSH {t}l x y",
            "GET {t}a",
            "EXEC",
            "MULTI",
            "PING",
            "INCR {t}b",
            "EXEC",
            "MULTI",
            "SET {t}gone 1",
            "DISCARD",
            "GET {t}gone",
            "EXEC",
            "DISCARD",
            "MULTI",
            "MULTI",
            "DISCARD",
        ],
    );
    // A transaction of keyless commands only still runs somewhere.
    same_as_direct(&mut px, &mut dr, &["MULTI", "PING", "ECHO x", "EXEC"]);
    // And the connection is an ordinary one afterwards.
    same_as_direct(
        &mut px,
        &mut dr,
        &["SET plain 1", "GET plain", "MGET plain {t}a"],
    );
}

#[test]
fn watch_aborts_exec_when_another_client_writes() {
    let pool = start_redis_pool(2, "", &[]);
    let mut a = RespConn::connect(pool.port);
    let mut b = RespConn::connect(pool.port);
    assert_eq!(a.call_words("SET {w}k 0"), b"+OK\r\n");
    assert_eq!(a.call_words("WATCH {w}k"), b"+OK\r\n");
    assert_eq!(a.call_words("GET {w}k"), b"$1\r\n0\r\n");
    assert_eq!(a.call_words("MULTI"), b"+OK\r\n");
    assert_eq!(a.call_words("SET {w}k mine"), b"+QUEUED\r\n");
    assert_eq!(b.call_words("SET {w}k theirs"), b"+OK\r\n");
    assert_eq!(a.call_words("EXEC"), b"*-1\r\n", "WATCH must abort EXEC");
    assert_eq!(a.call_words("GET {w}k"), b"$6\r\ntheirs\r\n");
    // Without a concurrent write the same transaction runs.
    assert_eq!(a.call_words("WATCH {w}k"), b"+OK\r\n");
    assert_eq!(a.call_words("MULTI"), b"+OK\r\n");
    assert_eq!(a.call_words("SET {w}k mine"), b"+QUEUED\r\n");
    assert_eq!(a.call_words("EXEC"), b"*1\r\n+OK\r\n");
    // UNWATCH releases: a later write by another client aborts nothing.
    assert_eq!(a.call_words("WATCH {w}k"), b"+OK\r\n");
    assert_eq!(a.call_words("UNWATCH"), b"+OK\r\n");
    assert_eq!(b.call_words("SET {w}k again"), b"+OK\r\n");
    assert_eq!(a.call_words("MULTI"), b"+OK\r\n");
    assert_eq!(a.call_words("GET {w}k"), b"+QUEUED\r\n");
    assert_eq!(a.call_words("EXEC"), b"*1\r\n$5\r\nagain\r\n");
}

#[test]
fn cross_server_transaction_is_aborted_with_nothing_applied() {
    let pool = start_redis_pool(3, "", &[]);
    let (k1, k2) = keys_apart(&pool);
    let mut px = RespConn::connect(pool.port);
    assert_eq!(px.call_words("MULTI"), b"+OK\r\n");
    assert_eq!(px.call_words(&format!("SET {k1} 1")), b"+QUEUED\r\n");
    let err = px.call_words(&format!("SET {k2} 2"));
    assert!(
        err.starts_with(b"-"),
        "cross-server command queued: {}",
        show(&err)
    );
    let exec = px.call_words("EXEC");
    assert!(
        exec.starts_with(b"-EXECABORT"),
        "EXEC after a refused command: {}",
        show(&exec)
    );
    for b in &pool.backends {
        let mut d = RespConn::connect(b.port);
        assert_eq!(d.call_words(&format!("EXISTS {k1} {k2}")), b":0\r\n");
    }
    // WATCH on two servers is refused the same way, the connection stays.
    assert_eq!(px.call_words(&format!("WATCH {k1}")), b"+OK\r\n");
    let err = px.call_words(&format!("WATCH {k2}"));
    assert!(err.starts_with(b"-"), "cross-server WATCH: {}", show(&err));
    assert_eq!(px.call_words("UNWATCH"), b"+OK\r\n");
    assert_eq!(px.call_words("PING"), b"+PONG\r\n");
}

#[test]
fn redis_py_transaction_pipeline() {
    let pool = start_redis_pool(3, "", &[]);
    let script = format!(
        r#"
import redis
r = redis.Redis(host="127.0.0.1", port={port}, protocol=2)
p = r.pipeline(transaction=True)
p.set("{{u}}a", "1")
p.incr("{{u}}n")
p.incr("{{u}}n")
p.get("{{u}}a")
print(p.execute())
with r.pipeline(transaction=True) as p:
    p.watch("{{u}}n")
    v = int(p.get("{{u}}n"))
    p.multi()
    p.set("{{u}}n", v * 10)
    print(p.execute())
print(r.get("{{u}}n"))
"#,
        port = pool.port
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "redis-py failed: {}\n{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text, "[True, 1, 2, b'1']\n[True]\nb'20'\n");
}

#[test]
fn blpop_times_out_on_its_own_clock_while_others_are_served() {
    // One server: every client shares it. The pool timeout is shorter than
    // the blocks and must not cut them short.
    let pool = start_redis_pool(1, "  timeout: 300\n", &[]);
    // Held until pushed: a client queued behind it would hang past its
    // read timeout, so "served meanwhile" needs no clock.
    let mut forever = RespConn::connect(pool.port);
    forever.send(&common::resp_words("BLPOP {q}forever 0"));
    let ready = common::wait_until(WAIT, || client_lists(&pool)[0].contains("cmd=blpop"));
    assert!(ready, "BLPOP never reached the backend");
    let mut blocker = RespConn::connect(pool.port);
    blocker.send(&common::resp_words("BLPOP {q}empty 1"));
    let others: Vec<_> = (0..10)
        .map(|i| {
            let port = pool.port;
            std::thread::spawn(move || {
                let mut c = RespConn::connect(port);
                for n in 0..20 {
                    assert_eq!(c.call_words(&format!("SET o{i} {n}")), b"+OK\r\n");
                    assert_eq!(
                        c.call_words(&format!("GET o{i}")),
                        format!("${}\r\n{n}\r\n", n.to_string().len()).into_bytes()
                    );
                }
            })
        })
        .collect();
    for h in others {
        h.join().unwrap();
    }
    assert_eq!(
        blocker.read(),
        b"*-1\r\n",
        "BLPOP must time out with a nil array"
    );
    // A second has passed on redis's clock since the first block began,
    // and the pool's 300 ms timeout has not ended it either.
    assert!(
        common::unanswered(&forever.stream),
        "BLPOP 0 was answered before the push"
    );
    let mut pusher = RespConn::connect(pool.port);
    assert_eq!(pusher.call_words("RPUSH {q}forever v"), b":1\r\n");
    assert_eq!(forever.read(), b"*2\r\n$10\r\n{q}forever\r\n$1\r\nv\r\n");
    assert_eq!(blocker.call_words("PING"), b"+PONG\r\n");
    assert_eq!(forever.call_words("PING"), b"+PONG\r\n");
}

#[test]
fn blpop_is_woken_by_a_push_from_another_client() {
    let pool = start_redis_pool(2, "", &[]);
    let mut blocker = RespConn::connect(pool.port);
    let mut pusher = RespConn::connect(pool.port);
    blocker.send(&common::resp_words("BLPOP {q}list 0"));
    // The block must be in place on the backend before the push.
    let home = owner(&pool, "{q}probe");
    let ready = common::wait_until(WAIT, || {
        show(&RespConn::connect(pool.backends[home].port).call_words("CLIENT LIST"))
            .contains("cmd=blpop")
    });
    assert!(ready, "BLPOP never reached the backend");
    let t = Instant::now();
    assert_eq!(pusher.call_words("RPUSH {q}list v"), b":1\r\n");
    let reply = blocker.read();
    eprintln!("BLPOP woken {:?} after the RPUSH reply", t.elapsed());
    assert_eq!(reply, b"*2\r\n$7\r\n{q}list\r\n$1\r\nv\r\n");
    // Multi-key blocking commands on two servers are refused.
    let (k1, k2) = keys_apart(&pool);
    let err = blocker.call_words(&format!("BLPOP {k1} {k2} 0"));
    assert!(err.starts_with(b"-"), "cross-server BLPOP: {}", show(&err));
    assert_eq!(blocker.call_words("PING"), b"+PONG\r\n");
}

/// Reads one `*3 message <channel> <payload>` push; returns (channel, payload).
fn read_message(c: &mut RespConn) -> (String, String) {
    let m = show(&c.read());
    let parts: Vec<&str> = m.split("\r\n").collect();
    assert_eq!(parts.get(2), Some(&"message"), "not a message: {m:?}");
    (parts[4].to_string(), parts[6].to_string())
}

#[test]
fn pubsub_over_three_servers_delivers_each_message_once_in_order() {
    let pool = start_redis_pool(3, "", &[]);
    let channels: Vec<String> = (0..100).map(|i| format!("ch{i}")).collect();
    let mut subs: Vec<RespConn> = (0..2).map(|_| RespConn::connect(pool.port)).collect();
    for s in subs.iter_mut() {
        let mut cmd = vec![b"SUBSCRIBE".as_slice()];
        cmd.extend(channels.iter().map(|c| c.as_bytes()));
        s.send(&common::resp(&cmd));
        for (i, ch) in channels.iter().enumerate() {
            let want = format!(
                "*3\r\n$9\r\nsubscribe\r\n${}\r\n{ch}\r\n:{}\r\n",
                ch.len(),
                i + 1
            );
            assert_eq!(show(&s.read()), want, "confirmation {i}");
        }
    }
    // The channels really are spread over the servers.
    let homes: std::collections::HashSet<usize> =
        channels.iter().map(|c| owner(&pool, c)).collect();
    assert!(homes.len() > 1, "every channel on one server");
    let mut publisher = RespConn::connect(pool.port);
    for round in 0..5 {
        for ch in &channels {
            let r = publisher.call_words(&format!("PUBLISH {ch} {round}"));
            assert_eq!(r, b":2\r\n", "PUBLISH {ch} reached {}", show(&r));
        }
    }
    for s in subs.iter_mut() {
        let mut seen: HashMap<String, Vec<String>> = HashMap::new();
        for _ in 0..channels.len() * 5 {
            let (ch, v) = read_message(s);
            seen.entry(ch).or_default().push(v);
        }
        for ch in &channels {
            assert_eq!(seen[ch], ["0", "1", "2", "3", "4"], "{ch}");
        }
        // Nothing more: a PING answers next (subscribed-mode pong).
        assert_eq!(s.call_words("PING"), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    }
}

#[test]
fn subscribed_mode_matches_direct_redis() {
    let pool = start_redis_pool(2, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    for c in ["SUBSCRIBE a b", "SUBSCRIBE c"] {
        px.send(&common::resp_words(c));
        dr.send(&common::resp_words(c));
    }
    for _ in 0..3 {
        assert_eq!(show(&px.read()), show(&dr.read()));
    }
    same_as_direct(&mut px, &mut dr, &["GET a", "PING", "PING hello"]);
    px.send(&common::resp_words("UNSUBSCRIBE"));
    dr.send(&common::resp_words("UNSUBSCRIBE"));
    // Redis confirms in its dict's order, so only the channels (in any
    // order) and the counts (in order: 2, 1, 0) must agree.
    let split = |c: &mut RespConn| {
        let (mut names, mut counts) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let r = show(&c.read());
            let (head, count) = r.trim_end().rsplit_once('\n').unwrap();
            names.push(head.to_string());
            counts.push(count.to_string());
        }
        names.sort();
        (names, counts)
    };
    assert_eq!(split(&mut px), split(&mut dr), "unsubscribe confirmations");
    // Out of subscribed mode: ordinary commands again.
    same_as_direct(&mut px, &mut dr, &["SET x 1", "GET x"]);
}

#[test]
fn psubscribe_receives_from_every_server() {
    let pool = start_redis_pool(3, "", &[]);
    let tags = tag_per_backend(&pool);
    let mut sub = RespConn::connect(pool.port);
    sub.send(&common::resp_words("PSUBSCRIBE news.*"));
    assert_eq!(
        show(&sub.read()),
        "*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n",
        "one confirmation, not one per server"
    );
    let mut publisher = RespConn::connect(pool.port);
    for t in &tags {
        let ch = format!("news.{{{t}}}");
        assert_eq!(publisher.call_words(&format!("PUBLISH {ch} hi")), b":1\r\n");
        let m = show(&sub.read());
        assert_eq!(
            m,
            format!(
                "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n${}\r\n{ch}\r\n$2\r\nhi\r\n",
                ch.len()
            )
        );
    }
    sub.send(&common::resp_words("PUNSUBSCRIBE"));
    assert_eq!(
        show(&sub.read()),
        "*3\r\n$12\r\npunsubscribe\r\n$6\r\nnews.*\r\n:0\r\n"
    );
    assert_eq!(sub.call_words("PING"), b"+PONG\r\n");
}

#[test]
fn a_client_leaving_mid_transaction_or_block_leaves_no_server_connection_in_it() {
    let pool = start_redis_pool(2, "", &[]);
    {
        let mut txn = RespConn::connect(pool.port);
        assert_eq!(txn.call_words("WATCH {a}w"), b"+OK\r\n");
        assert_eq!(txn.call_words("MULTI"), b"+OK\r\n");
        assert_eq!(txn.call_words("SET {a}k 1"), b"+QUEUED\r\n");
        let mut block = RespConn::connect(pool.port);
        block.send(&common::resp_words("BLPOP {b}list 0"));
        let mut watch = RespConn::connect(pool.port);
        assert_eq!(watch.call_words("WATCH {c}w"), b"+OK\r\n");
        let busy = common::wait_until(WAIT, || {
            let lists = client_lists(&pool).concat();
            lists.contains("cmd=blpop") && lists.contains("flags=x")
        });
        assert!(busy, "the states never reached the backends");
        for c in [&txn, &block, &watch] {
            c.stream.shutdown(std::net::Shutdown::Both).unwrap();
        }
    }
    let clean = common::wait_until(WAIT, || backends_clean(&pool).is_ok());
    assert!(clean, "left behind: {:?}", backends_clean(&pool));
    let mut px = RespConn::connect(pool.port);
    assert_eq!(px.call_words("EXISTS {a}k"), b":0\r\n");
}

#[test]
fn a_client_leaving_while_subscribed_leaves_no_server_connection_subscribed() {
    let pool = start_redis_pool(2, "", &[]);
    {
        let mut sub = RespConn::connect(pool.port);
        sub.send(&common::resp_words("SUBSCRIBE c1 c2 c3"));
        for _ in 0..3 {
            sub.read();
        }
        let mut psub = RespConn::connect(pool.port);
        psub.send(&common::resp_words("PSUBSCRIBE p*"));
        psub.read();
        let busy = common::wait_until(WAIT, || backends_clean(&pool).is_err());
        assert!(busy, "the subscriptions never reached the backends");
        for c in [&sub, &psub] {
            c.stream.shutdown(std::net::Shutdown::Both).unwrap();
        }
    }
    let clean = common::wait_until(WAIT, || backends_clean(&pool).is_ok());
    assert!(clean, "left behind: {:?}", backends_clean(&pool));
}

#[test]
fn dedicated_connections_are_capped_per_server() {
    let pool = start_redis_pool(1, "  server_dedicated_connections: 2\n", &[]);
    let mut held = Vec::new();
    for i in 0..2 {
        let mut c = RespConn::connect(pool.port);
        c.send(&common::resp_words(&format!("BLPOP {{c}}l{i} 0")));
        held.push(c);
    }
    let home = 0;
    let ready = common::wait_until(WAIT, || {
        client_lists(&pool)[home].matches("cmd=blpop").count() == 2
    });
    assert!(ready, "two blocked clients expected");
    let gauge = "nutcracker_dedicated_connections{pool=\"alpha\",server=\"s0\"}";
    assert_eq!(
        common::wait_metric(pool.proxy.stats_port, gauge, 2),
        Some(2),
        "the per-server gauge counts the held connections"
    );
    let mut third = RespConn::connect(pool.port);
    let err = third.call_words("BLPOP {c}l9 0");
    assert!(err.starts_with(b"-"), "over the cap: {}", show(&err));
    assert_eq!(third.call_words("PING"), b"+PONG\r\n");
    // Shared traffic is unaffected by the cap.
    assert_eq!(third.call_words("SET {c}x 1"), b"+OK\r\n");
    // Freeing one makes room again.
    held.pop()
        .unwrap()
        .stream
        .shutdown(std::net::Shutdown::Both)
        .unwrap();
    let room = common::wait_until(WAIT, || {
        let mut c = RespConn::connect(pool.port);
        c.call_words("MULTI") == b"+OK\r\n"
            && c.call_words("SET {c}y 1") == b"+QUEUED\r\n"
            && c.call_words("EXEC") == b"*1\r\n+OK\r\n"
    });
    assert!(room, "a freed dedicated connection was not reusable");
    drop(held);
    assert_eq!(
        common::wait_metric(pool.proxy.stats_port, gauge, 0),
        Some(0),
        "closed clients give their connections back"
    );
    let _ = third.stream.flush();
}

/// PUBLISH is routed by its channel like a key (a subscriber straight on
/// that server hears it); sharded Pub/Sub is refused.
#[test]
fn publish_is_routed_by_channel_and_sharded_pubsub_refused() {
    let pool = start_redis_pool(2, "", &[]);
    let mut px = RespConn::connect(pool.port);
    for cmd in ["SSUBSCRIBE a", "SPUBLISH a x", "SUNSUBSCRIBE"] {
        let r = px.call_words(cmd);
        assert!(
            r.starts_with(b"-ERR unsupported command"),
            "{cmd}: {}",
            show(&r)
        );
    }
    let home = owner(&pool, "news");
    let mut sub = RespConn::connect(pool.backends[home].port);
    sub.send(&common::resp_words("SUBSCRIBE news"));
    sub.read();
    assert_eq!(px.call_words("PUBLISH news hi"), b":1\r\n");
    assert_eq!(
        show(&sub.read()),
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
    );
}

/// A dedicated connection the server drops loses what the server held for
/// it: a lost WATCH makes EXEC answer nil (the watched key may have
/// changed), a lost MULTI aborts the transaction; nothing runs.
#[test]
fn a_lost_dedicated_connection_fails_its_transaction_safely() {
    let pool = start_redis_pool(1, "", &[]);
    let gauge = "nutcracker_dedicated_connections{pool=\"alpha\",server=\"s0\"}";
    let kill_all = || {
        // The stats lag: see the connection counted before it goes.
        assert_eq!(
            common::wait_metric(pool.proxy.stats_port, gauge, 1),
            Some(1)
        );
        let mut d = RespConn::connect(pool.backends[0].port);
        let r = d.call_words("CLIENT KILL TYPE normal SKIPME yes");
        assert!(r.starts_with(b":"), "{}", show(&r));
        assert_eq!(
            common::wait_metric(pool.proxy.stats_port, gauge, 0),
            Some(0),
            "the proxy saw its dedicated connection go"
        );
    };
    let mut c = RespConn::connect(pool.port);
    assert_eq!(c.call_words("WATCH {w}k"), b"+OK\r\n");
    kill_all();
    assert_eq!(c.call_words("MULTI"), b"+OK\r\n");
    assert_eq!(c.call_words("SET {w}k 1"), b"+QUEUED\r\n");
    assert_eq!(c.call_words("EXEC"), b"*-1\r\n", "a lost WATCH aborts EXEC");

    assert_eq!(c.call_words("MULTI"), b"+OK\r\n");
    assert_eq!(c.call_words("SET {w}a 1"), b"+QUEUED\r\n");
    kill_all();
    assert_eq!(c.call_words("SET {w}b 2"), b"+QUEUED\r\n");
    let exec = c.call_words("EXEC");
    assert!(exec.starts_with(b"-EXECABORT"), "{}", show(&exec));
    assert_eq!(c.call_words("EXISTS {w}k {w}a {w}b"), b":0\r\n");
    // And the next transaction runs on a fresh connection.
    assert_eq!(c.call_words("MULTI"), b"+OK\r\n");
    assert_eq!(c.call_words("SET {w}a 1"), b"+QUEUED\r\n");
    assert_eq!(c.call_words("EXEC"), b"*1\r\n+OK\r\n");
}
