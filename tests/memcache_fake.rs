#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! A multi-key get against a fake memcache backend whose VALUE lines use
//! runs of spaces between fields (legal for the reply parser): the
//! coalesced reply must keep every value, in request key order.

mod common;

use common::{free_port, wait_tcp, Proxy};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Answers every `get k1 k2 ... \r\n` line with a double-spaced VALUE block
/// per key (value = the key reversed), then END.
fn fake_backend() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    let mut out = String::new();
                    for k in line.trim_end().split(' ').skip(1).filter(|k| !k.is_empty()) {
                        let v: String = k.chars().rev().collect();
                        out.push_str(&format!("VALUE  {k}  0  {}\r\n{v}\r\n", v.len()));
                    }
                    out.push_str("END\r\n");
                    if w.write_all(out.as_bytes()).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    port
}

#[test]
fn values_with_spaced_fields_survive_coalescing() {
    let (b0, b1) = (fake_backend(), fake_backend());
    let listen = free_port();
    let yaml = format!(
        "m:\n  listen: 127.0.0.1:{listen}\n  hash: md5\n  servers:\n   - 127.0.0.1:{b0}:1 one\n   - 127.0.0.1:{b1}:1 two\n"
    );
    let proxy = Proxy::start(&yaml, &[]);
    assert!(wait_tcp(listen), "{}", proxy.log_text());
    let keys: Vec<String> = (0..40).map(|i| format!("key{i}x")).collect();
    let mut c = TcpStream::connect(("127.0.0.1", listen)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(format!("get {}\r\n", keys.join(" ")).as_bytes())
        .unwrap();
    let mut want = String::new();
    for k in &keys {
        let v: String = k.chars().rev().collect();
        want.push_str(&format!("VALUE  {k}  0  {}\r\n{v}\r\n", v.len()));
    }
    want.push_str("END\r\n");
    let mut got = vec![0u8; want.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
}
