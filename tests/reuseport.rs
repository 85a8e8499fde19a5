#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `reuseport: true`: several instances (one per core) share one listen
//! port, and the kernel spreads the clients over them; without it the
//! second instance cannot bind and exits 1.

mod common;

use common::{start_redis, wait_tcp, Proxy};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn yaml(listen: u16, backend: u16, reuseport: bool) -> String {
    format!(
        "alpha:\n  listen: 127.0.0.1:{listen}\n  redis: true\n  reuseport: {reuseport}\n  servers:\n   - 127.0.0.1:{backend}:1\n"
    )
}

fn ping(port: u16) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < b"+PONG\r\n$-1\r\n".len() {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn two_instances_share_a_port() {
    let redis = start_redis();
    let port = common::free_port();
    let a = Proxy::start(&yaml(port, redis.port, true), &[]);
    assert!(wait_tcp(port));
    let b = Proxy::start(&yaml(port, redis.port, true), &[]);
    assert!(common::wait_until(Duration::from_secs(10), || b.log_text().contains("listening on")));
    for _ in 0..64 {
        assert_eq!(ping(port), b"+PONG\r\n$-1\r\n");
    }
    assert!(a.log_text().contains("listening on"), "{}", a.log_text());
    assert!(!b.log_text().contains("failed"), "{}", b.log_text());
}

#[test]
fn without_reuseport_the_second_instance_fails() {
    let redis = start_redis();
    let port = common::free_port();
    let _a = Proxy::start(&yaml(port, redis.port, false), &[]);
    assert!(wait_tcp(port));
    let mut b = Proxy::start(&yaml(port, redis.port, false), &[]);
    let status = b.proc.wait_exit(Duration::from_secs(10)).expect("second instance exits");
    assert_eq!(status.code(), Some(1));
    assert!(b.log_text().contains("Address already in use"), "{}", b.log_text());
    assert_eq!(ping(port), b"+PONG\r\n$-1\r\n");
}
