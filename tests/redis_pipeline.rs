#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! 10,000 mixed commands pipelined on one connection (§CONN.7): forwarded
//! whole, fragmented over servers and answered locally, the replies must
//! come back in request order, equal to a direct redis's for the same
//! pipeline (the proxy's own error replies excepted, which are fixed bytes).
//! The proxy runs with 512-byte buffers and the pipeline arrives in writes
//! of odd sizes, so requests straddle reads and buffers everywhere.

mod common;

use common::{resp, resp_words, start_redis, start_redis_pool, wait_stats, RespConn};
use std::collections::BTreeMap;
use std::io::Write;

/// A request and, for the ones redis answers differently, the proxy's reply.
type Step = (Vec<u8>, Option<&'static [u8]>);

/// A deterministic mix of commands over 200 keys, so that replies depend
/// on the order the commands ran in.
fn mixed(n: usize, tag: &str) -> Vec<Step> {
    let mut out = Vec::with_capacity(n);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ tag.len() as u64;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = |j: u64| format!("{tag}k:{}", (x >> (j * 8)) % 200);
        let (a, b, c) = (k(1), k(2), k(3));
        let w = |s: &str| resp(&s.split(' ').map(str::as_bytes).collect::<Vec<_>>());
        let step: Step = match x % 16 {
            0 => (w(&format!("SET {a} v{i}")), None),
            1 | 2 => (w(&format!("GET {a}")), None),
            3 => (w(&format!("INCR n{tag}{}", x % 5)), None),
            4 => (w(&format!("MGET {a} {b} {c}")), None),
            5 => (w(&format!("DEL {a} {b}")), None),
            6 => (w(&format!("EXISTS {a} {b} {c} {a}")), None),
            7 => (w(&format!("MSET {a} m{i} {b} n{i}")), None),
            8 => (w("PING"), None),
            9 => (w(&format!("PING p{i}")), None),
            10 => (w(&format!("RPUSH l{tag}{} {i}", x % 3)), None),
            11 => (w(&format!("LRANGE l{tag}{} -3 -1", x % 3)), None),
            12 => (w(&format!("HINCRBY h{tag}{} f {i}", x % 4)), None),
            13 => (
                w(&format!("FLUSHALL {a}")),
                Some(b"-ERR unsupported command 'FLUSHALL'\r\n".as_slice()),
            ),
            14 => (
                w(&format!("GET {a} {b}")),
                Some(b"-ERR wrong number of arguments for 'get' command\r\n".as_slice()),
            ),
            _ => (w(&format!("TOUCH {a} {c}")), None),
        };
        out.push(step);
    }
    out
}

/// Writes every request (from a thread, so neither side blocks on full
/// socket buffers) in writes of `chunk(i)` bytes, and reads `n` replies in
/// order.
fn pipeline(port: u16, reqs: Vec<u8>, n: usize, chunk: fn(usize) -> usize) -> Vec<Vec<u8>> {
    let mut c = RespConn::connect(port);
    let mut w = c.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut at = 0;
        for i in 0.. {
            let end = (at + chunk(i)).min(reqs.len());
            w.write_all(&reqs[at..end]).unwrap();
            at = end;
            if at == reqs.len() {
                break;
            }
        }
    });
    let replies = (0..n).map(|_| c.read()).collect();
    writer.join().unwrap();
    replies
}

/// Runs `n` mixed commands tagged `tag` through the proxy on `port` and
/// directly on `direct`; asserts equal replies in order and returns how many
/// replies of each RESP type came back.
fn run_and_compare(port: u16, direct: u16, n: usize, tag: &str) -> BTreeMap<char, usize> {
    let steps = mixed(n, tag);
    let all: Vec<u8> = steps.iter().flat_map(|s| s.0.clone()).collect();
    let forwarded: Vec<u8> = steps
        .iter()
        .filter(|s| s.1.is_none())
        .flat_map(|s| s.0.clone())
        .collect();
    let nfwd = steps.iter().filter(|s| s.1.is_none()).count();
    // Odd write sizes, so requests straddle reads and the 512-byte buffers.
    let got = pipeline(port, all, steps.len(), |i| 1 + (i * 7919) % 1500);
    let want = pipeline(direct, forwarded, nfwd, |_| usize::MAX);
    check_replies(tag, &steps, &got, want)
}

/// Asserts that `got`, the proxy's replies to `steps` in order, are each
/// step's local reply or, for a forwarded step, the next of `direct` (the
/// replies of a direct redis to the forwarded steps); returns how many
/// replies of each RESP type came back.
fn check_replies(
    tag: &str,
    steps: &[Step],
    got: &[Vec<u8>],
    direct: Vec<Vec<u8>>,
) -> BTreeMap<char, usize> {
    let mut want = direct.into_iter();
    let mut kinds = BTreeMap::new();
    for (i, (step, reply)) in steps.iter().zip(got).enumerate() {
        let expected = match step.1 {
            Some(local) => local.to_vec(),
            None => want.next().unwrap(),
        };
        assert!(
            *reply == expected,
            "{tag} reply {i} to {:?}: {:?}, want {:?}",
            String::from_utf8_lossy(&step.0),
            String::from_utf8_lossy(reply),
            String::from_utf8_lossy(&expected)
        );
        *kinds.entry(reply[0] as char).or_insert(0) += 1;
    }
    kinds
}

#[test]
fn ten_thousand_mixed_commands_in_order() {
    let pool = start_redis_pool(3, "", &["-m", "512"]);
    let direct = start_redis();
    let kinds = run_and_compare(pool.port, direct.port, 10_000, "");
    // The mix really exercised every kind of reply.
    for k in ['+', '-', ':', '$', '*'] {
        assert!(kinds.get(&k).copied().unwrap_or(0) > 100, "{kinds:?}");
    }
    // Every backend took part.
    for b in &pool.backends {
        let n = RespConn::connect(b.port).call_words("DBSIZE");
        assert_ne!(n, b":0\r\n");
    }
}

/// Four clients pipelining at once share the backend connections; each
/// still gets its own replies, in its own order.
#[test]
fn concurrent_pipelines_keep_their_own_order() {
    let pool = start_redis_pool(3, "", &["-m", "512"]);
    let direct = start_redis();
    let (port, dport) = (pool.port, direct.port);
    let clients: Vec<_> = ["a", "bb", "ccc", "dddd"]
        .into_iter()
        .map(|tag| std::thread::spawn(move || run_and_compare(port, dport, 2_500, tag)))
        .collect();
    for c in clients {
        let kinds = c.join().unwrap();
        assert!(kinds.values().sum::<usize>() == 2_500, "{kinds:?}");
    }
}

/// Sends `steps` in bursts of 1, 2 or 3 requests, reading each burst's
/// replies before the next burst: single requests take the proxy's early
/// write paths (a client's only reply is written right after the server
/// read that completed it; a request to an idle backend goes out before
/// the rest of the batch is read), bursts spread over servers complete out
/// of order and must still be written in request order.
fn bursts(port: u16, steps: &[Step]) -> Vec<Vec<u8>> {
    let mut c = RespConn::connect(port);
    let mut got = Vec::with_capacity(steps.len());
    let mut at = 0;
    let mut i = 0;
    while at < steps.len() {
        let n = [1, 1, 2, 1, 3, 2][i % 6].min(steps.len() - at);
        let burst: Vec<u8> = steps[at..at + n].iter().flat_map(|s| s.0.clone()).collect();
        c.send(&burst);
        got.extend((0..n).map(|_| c.read()));
        at += n;
        i += 1;
    }
    got
}

/// Eight clients mix unpipelined requests with short bursts over three
/// backends at once; every reply matches a direct redis's, in order.
#[test]
fn early_writes_keep_each_clients_order() {
    let pool = start_redis_pool(3, "", &["-m", "512"]);
    let direct = start_redis();
    let (port, dport) = (pool.port, direct.port);
    let clients: Vec<_> = ["e1", "e22", "e333", "e4444", "e5", "e66", "e777", "e8888"]
        .into_iter()
        .map(|tag| {
            std::thread::spawn(move || {
                let steps = mixed(1_500, tag);
                let got = bursts(port, &steps);
                let fwd: Vec<Step> = steps.iter().filter(|s| s.1.is_none()).cloned().collect();
                check_replies(tag, &steps, &got, bursts(dport, &fwd));
                got.len()
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 1_500);
    }
}

/// With `server_connections: 4` each client still sees its own requests to
/// a server run in the order it sent them (0.5.0 spread them over the
/// connections, twemproxy #368), while the clients together use all four
/// connections of each server.
#[test]
fn server_connections_keep_each_clients_order() {
    let pool = start_redis_pool(1, "  server_connections: 4\n", &[]);
    let port = pool.port;
    let clients: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let key = format!("ctr:{c}");
                let one = resp(&[b"INCR", key.as_bytes()]);
                let reqs: Vec<u8> = (0..500).flat_map(|_| one.clone()).collect();
                let replies = pipeline(port, reqs, 500, |i| 1 + (i * 7919) % 3000);
                for (i, r) in replies.iter().enumerate() {
                    let want = format!(":{}\r\n", i + 1);
                    assert_eq!(String::from_utf8_lossy(r), want, "client {c} reply {i}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // Every connection of every server carried INCRs.
    for b in &pool.backends {
        let list = RespConn::connect(b.port).call_words("CLIENT LIST");
        let list = String::from_utf8_lossy(&list);
        let incr = list.lines().filter(|l| l.contains(" cmd=incr ")).count();
        assert_eq!(incr, 4, "{list}");
    }
}

/// A client's lane reconnects after its server connection is closed, and
/// its requests still run in order on the new connection.
#[test]
fn a_lane_reconnects_and_keeps_order() {
    let pool = start_redis_pool(1, "  server_connections: 3\n", &[]);
    let backend = pool.backends[0].port;
    let mut clients: Vec<RespConn> = (0..3).map(|_| RespConn::connect(pool.port)).collect();
    for (c, conn) in clients.iter_mut().enumerate() {
        assert_eq!(conn.call_words(&format!("INCR lane:{c}")), b":1\r\n");
    }
    // The backend closes every connection of the proxy.
    let mut admin = RespConn::connect(backend);
    let killed = admin.call_words("CLIENT KILL TYPE normal SKIPME yes");
    assert_eq!(killed, b":3\r\n");
    let (seen, st) = wait_stats(pool.proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/s0/server_eof") == Some(&3)
    });
    assert!(seen, "{:?}", st.get("alpha/s0/server_eof"));
    // Each lane opens a new connection on its next request, where the
    // client's pipeline runs in order.
    for (c, conn) in clients.iter_mut().enumerate() {
        let one = resp_words(&format!("INCR lane:{c}"));
        conn.send(&one.repeat(200));
        for i in 0..200 {
            let want = format!(":{}\r\n", i + 2);
            assert_eq!(conn.read(), want.as_bytes(), "client {c} reply {i}");
        }
    }
    let (_, st) = wait_stats(pool.proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/s0/server_connections") == Some(&3)
    });
    assert_eq!(st.get("alpha/s0/server_connections"), Some(&3));
}
