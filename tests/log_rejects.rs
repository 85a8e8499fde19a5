#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! What operators grep the log for (issue 17.2): every rejected request is
//! logged, naming its command and the client's address, at the level 0.5.0
//! uses (§SIG.2): an unsupported redis command, an over-long memcache key and
//! a request cut short by EOF at the error level (shown from `-v 1`), the
//! other rejects at NOTICE/INFO (shown from the default `-v 5`); `-v 0` logs
//! none. The error replies and the kept connection do not change.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// A redis and a memcache pool behind one proxy started with `-v <level>`.
struct Setup {
    proxy: Proxy,
    redis_port: u16,
    mc_port: u16,
    _redis: Redis,
    _mc: Memcached,
}

fn setup(level: &str) -> Setup {
    let redis = start_redis();
    let mc = start_memcached();
    let (redis_port, mc_port) = (free_port(), free_port());
    let yaml = format!(
        "r:\n  listen: 127.0.0.1:{redis_port}\n  redis: true\n  servers:\n   - 127.0.0.1:{}:1\n\
         m:\n  listen: 127.0.0.1:{mc_port}\n  servers:\n   - 127.0.0.1:{}:1\n",
        redis.port, mc.port
    );
    let proxy = Proxy::start(&yaml, &["-v", level]);
    assert!(wait_tcp(redis_port) && wait_tcp(mc_port));
    Setup {
        proxy,
        redis_port,
        mc_port,
        _redis: redis,
        _mc: mc,
    }
}

/// Sends rejected requests to both pools and checks the replies (written
/// after the log line, so the log is complete once they are read); returns
/// the `ip:port` of the redis and the memcache client.
fn send_rejects(s: &Setup) -> (String, String) {
    let mut r = RespConn::connect(s.redis_port);
    let raddr = r.stream.local_addr().unwrap().to_string();
    r.send(&resp_words("FOO bar"));
    r.send(&resp_words("GET"));
    r.send(&resp_words("SET k v"));
    assert_eq!(r.read(), b"-ERR unsupported command 'FOO'\r\n");
    assert_eq!(
        r.read(),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(r.read(), b"+OK\r\n", "the connection is kept");

    let mut m = TcpStream::connect(("127.0.0.1", s.mc_port)).unwrap();
    let maddr = m.local_addr().unwrap().to_string();
    let long = "k".repeat(300);
    write!(m, "bogus x\r\nget {long}\r\nset k 0 0 1\r\nv\r\n").unwrap();
    let mut lines = BufReader::new(m.try_clone().unwrap());
    for want in ["ERROR", "CLIENT_ERROR bad command line format", "STORED"] {
        let mut l = String::new();
        lines.read_line(&mut l).unwrap();
        assert_eq!(l, format!("{want}\r\n"));
    }

    // A request cut short by the client's EOF.
    let mut e = RespConn::connect(s.redis_port);
    let eaddr = e.stream.local_addr().unwrap().to_string();
    e.send(b"*2\r\n$3\r\nGET\r\n");
    e.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(e.closed());
    (raddr, format!("{maddr} {eaddr}"))
}

fn wants(raddr: &str, addrs: &str) -> [(bool, String); 5] {
    let (maddr, eaddr) = addrs.split_once(' ').unwrap();
    [
        (
            true, // error level
            format!("parsed unsupported command 'FOO' from client {raddr} in pool 'r'\n"),
        ),
        (
            false,
            format!("parsed bad req 'GET' (wrong number of arguments) from client {raddr} in pool 'r'\n"),
        ),
        (
            false,
            format!("parsed unsupported command 'bogus' from client {maddr} in pool 'm'\n"),
        ),
        (
            true,
            format!("parsed bad req 'get' (key over the maximum key length) from client {maddr} in pool 'm'\n"),
        ),
        (
            true,
            format!("eof c {eaddr} discarding incomplete req len 13 in pool 'r'\n"),
        ),
    ]
}

#[test]
fn default_level_logs_every_rejected_request_with_its_client() {
    let s = setup("5");
    let (raddr, addrs) = send_rejects(&s);
    let want = wants(&raddr, &addrs);
    // The EOF line is written when the proxy reads the EOF, just before it
    // closes: wait for it.
    assert!(wait_until(WAIT, || s.proxy.log_text().contains(&want[4].1)));
    let log = s.proxy.log_text();
    for (_, line) in &want {
        assert!(log.contains(line.as_str()), "missing {line:?} in\n{log}");
    }
}

#[test]
fn error_level_logs_what_0_5_0_logs_and_level_0_nothing() {
    let s = setup("1");
    let (raddr, addrs) = send_rejects(&s);
    let want = wants(&raddr, &addrs);
    assert!(wait_until(WAIT, || s.proxy.log_text().contains(&want[4].1)));
    let log = s.proxy.log_text();
    for (error, line) in &want {
        assert_eq!(log.contains(line.as_str()), *error, "{line:?} in\n{log}");
    }

    let s = setup("0");
    send_rejects(&s);
    let log = s.proxy.log_text();
    assert!(!log.contains("parsed "), "{log}");
    assert!(!log.contains("discarding"), "{log}");
}

/// A pipelined flood of bad requests: every one is answered and logged,
/// each line whole (the loop writes its lines in batches).
#[test]
fn a_flood_of_bad_requests_is_answered_and_logged_line_by_line() {
    let s = setup("5");
    let mut r = RespConn::connect(s.redis_port);
    let addr = r.stream.local_addr().unwrap().to_string();
    let n = 20_000;
    let one = resp_words("FOO");
    let all: Vec<u8> = (0..n).flat_map(|_| one.clone()).collect();
    let mut w = r.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&all).unwrap());
    for _ in 0..n {
        assert_eq!(r.read(), b"-ERR unsupported command 'FOO'\r\n");
    }
    writer.join().unwrap();
    assert_eq!(r.call_words("PING"), b"+PONG\r\n");
    let line = format!(" parsed unsupported command 'FOO' from client {addr} in pool 'r'");
    let log = s.proxy.log_text();
    let ours: Vec<&str> = log.lines().filter(|l| l.contains(&line)).collect();
    assert_eq!(ours.len(), n);
    assert!(ours
        .iter()
        .all(|l| l.starts_with('[') && l.ends_with(&line)));
}
