#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Unix sockets on both sides (§CONF.5, §CONF.6, §CONN.1): a pool that
//! listens on a unix path with a mode, backends reached through their unix
//! sockets (redis-server `unixsocket`, memcached `-s`), and the `/path:`
//! stats name 0.5.0 gives an unnamed unix server.

mod common;

use common::{free_port, wait_until, Proc, Proxy, TempDir, WAIT};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

fn roundtrip(s: &mut impl ReadWrite, req: &[u8], want: &[u8]) {
    s.write_all(req).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < want.len() {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn unix_listen_and_unix_backends() {
    let dir = TempDir::new("unix");
    let rsock = dir.join("redis.sock");
    let msock = dir.join("mc.sock");
    let psock = dir.join("proxy.sock");
    let _redis = Proc::spawn(
        "redis-server",
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--unixsocket",
                &rsock,
                "--unixsocketperm",
                "700",
            ])
            .args(["--save", "", "--appendonly", "no", "--dir", &dir.join("")]),
    );
    let mut mc = Command::new("memcached");
    mc.args(["-s", &msock, "-U", "0"]);
    if unsafe_is_root() {
        mc.args(["-u", "root"]);
    }
    let _mc = Proc::spawn("memcached", &mut mc);
    assert!(wait_until(WAIT, || UnixStream::connect(&rsock).is_ok()
        && UnixStream::connect(&msock).is_ok()));

    let mc_port = free_port();
    let yaml = format!(
        "r:\n  listen: {psock} 0666\n  redis: true\n  servers:\n   - {rsock}:1\n\
         m:\n  listen: 127.0.0.1:{mc_port}\n  servers:\n   - {msock}:1 mc\n"
    );
    let proxy = Proxy::start(&yaml, &["-i", "100"]);
    assert!(
        wait_until(WAIT, || UnixStream::connect(&psock).is_ok()),
        "{}",
        proxy.log_text()
    );
    let mode = std::fs::metadata(&psock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);

    let mut c = UnixStream::connect(&psock).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    roundtrip(&mut c, b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
    roundtrip(
        &mut c,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n",
        b"+OK\r\n",
    );
    roundtrip(&mut c, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"$2\r\nv1\r\n");
    // the value really is in the redis behind the unix socket
    let mut direct = UnixStream::connect(&rsock).unwrap();
    direct
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    roundtrip(&mut direct, b"GET k\r\n", b"$2\r\nv1\r\n");

    assert!(common::wait_tcp(mc_port));
    let mut m = std::net::TcpStream::connect(("127.0.0.1", mc_port)).unwrap();
    m.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    roundtrip(&mut m, b"set a 0 0 2\r\nhi\r\n", b"STORED\r\n");
    roundtrip(&mut m, b"get a\r\n", b"VALUE a 0 2\r\nhi\r\nEND\r\n");

    // the unnamed unix server is known as "<path>:" in the stats (§CONF.6)
    let key = format!("r/{rsock}:/requests");
    let (ok, vals) = common::wait_stats(proxy.stats_port, WAIT, |v| {
        v.get(&key).is_some_and(|n| *n >= 2) && v.get("m/mc/requests").is_some_and(|n| *n >= 2)
    });
    assert!(ok, "no {key} in {vals:?}");
    assert!(
        vals.get("m/mc/requests").is_some_and(|n| *n >= 2),
        "{vals:?}"
    );
}

#[allow(unsafe_code)]
fn unsafe_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
