#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The memcache ASCII protocol end to end (issue 6, §MEMCACHE): the real
//! proxy in front of three real memcached, spoken to over TCP.
//!
//! Covers every command (also as noreply pipelines), multi-key get/gets
//! reassembly in request key order, gets/cas, 1 MiB values through 512-byte
//! mbufs, the 250-byte key limit, malformed lines (replies instead of
//! closes while framing holds), quit, and routing against `--locate`.

mod common;

use common::{Memcached, Proxy};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Three memcached behind one proxy pool `mc` (servers named s0, s1, s2).
struct Cluster {
    mcs: Vec<Memcached>, // backend i is server `s{i}`
    proxy: Proxy,        // the proxy under test
    port: u16,           // the pool's listen port
}

impl Cluster {
    fn start(mc_args: &[&str], proxy_args: &[&str]) -> Cluster {
        Cluster::with_pool("hash: md5\n", mc_args, proxy_args)
    }

    /// `pool` holds extra YAML lines of the pool (each indented by the
    /// caller's two spaces, e.g. `"hash: md5\n"`).
    fn with_pool(pool: &str, mc_args: &[&str], proxy_args: &[&str]) -> Cluster {
        let mcs: Vec<Memcached> = (0..3)
            .map(|_| common::start_memcached_args(mc_args))
            .collect();
        let port = common::free_port();
        let mut yaml =
            format!("mc:\n  listen: 127.0.0.1:{port}\n  redis: false\n  distribution: ketama\n");
        for l in pool.lines() {
            yaml.push_str(&format!("  {l}\n"));
        }
        yaml.push_str("  servers:\n");
        for (i, m) in mcs.iter().enumerate() {
            yaml.push_str(&format!("   - 127.0.0.1:{}:1 s{i}\n", m.port));
        }
        let mut args = vec!["-i", "100"];
        args.extend_from_slice(proxy_args);
        let proxy = Proxy::start(&yaml, &args);
        assert!(common::wait_tcp(port), "proxy does not listen on {port}");
        Cluster { mcs, proxy, port }
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// A direct connection to backend `i`.
    fn backend(&self, i: usize) -> Client {
        Client::connect(self.mcs[i].port)
    }

    /// `nutcracker_msgs_live` from the Prometheus exposition.
    fn msgs_live(&self) -> Option<i64> {
        let mut s = TcpStream::connect(("127.0.0.1", self.proxy.stats_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with("nutcracker_msgs_live "))?;
        line.rsplit(' ').next()?.parse().ok()
    }

    /// Every request the proxy held is freed once the clients are gone.
    fn assert_drained(&self) {
        let mut last = None;
        let ok = common::wait_until(common::WAIT, || {
            last = self.msgs_live();
            last == Some(0)
        });
        assert!(ok, "nutcracker_msgs_live stays at {last:?}");
    }

    /// The backend index `--locate` names for each key.
    fn locate(&self, keys: &[String]) -> Vec<usize> {
        let mut child = Command::new(common::bin())
            .args(["-c", self.proxy.conf.as_str(), "--locate", "mc"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut stdin = child.stdin.take().unwrap();
            for k in keys {
                writeln!(stdin, "{k}").unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let got: Vec<usize> = text
            .lines()
            .zip(keys)
            .map(|(l, k)| {
                let (key, srv) = l.rsplit_once('\t').unwrap();
                assert_eq!(key, k);
                srv.strip_prefix('s').unwrap().parse().unwrap()
            })
            .collect();
        assert_eq!(got.len(), keys.len());
        got
    }
}

/// One TCP connection, read with a generous timeout.
struct Client {
    r: BufReader<TcpStream>, // reads
    w: TcpStream,            // writes (same socket)
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    fn send(&mut self, b: &[u8]) {
        self.w.write_all(b).unwrap();
    }

    /// Reads exactly `want.len()` bytes and compares them.
    fn expect(&mut self, want: &[u8]) {
        let mut got = vec![0u8; want.len()];
        if let Err(e) = self.r.read_exact(&mut got) {
            panic!("reading {:?}: {e}", show(want));
        }
        assert!(got == want, "got {:?}\nwant {:?}", show(&got), show(want));
    }

    /// Sends `req`, expects `want`.
    fn call(&mut self, req: &[u8], want: &[u8]) {
        self.send(req);
        self.expect(want);
    }

    /// `call` for each (request, reply) pair in turn.
    fn script(&mut self, steps: &[(&[u8], &[u8])]) {
        for (req, want) in steps {
            self.call(req, want);
        }
    }

    fn line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).unwrap();
        assert!(l.ends_with(b"\r\n"), "bad line {:?}", show(&l));
        l
    }

    /// Reads a get/gets reply: (key, flags, data, cas) per VALUE block, up
    /// to and including END.
    fn values(&mut self) -> Vec<(String, u32, Vec<u8>, Option<u64>)> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            if l == b"END\r\n" {
                return out;
            }
            let text = String::from_utf8(l[..l.len() - 2].to_vec()).unwrap();
            let f: Vec<&str> = text.split(' ').collect();
            assert!(
                f[0] == "VALUE" && (f.len() == 4 || f.len() == 5),
                "{text:?}"
            );
            let n: usize = f[3].parse().unwrap();
            let mut data = vec![0u8; n + 2];
            self.r.read_exact(&mut data).unwrap();
            assert_eq!(&data[n..], b"\r\n");
            data.truncate(n);
            let cas = f.get(4).map(|c| c.parse().unwrap());
            out.push((f[1].to_string(), f[2].parse().unwrap(), data, cas));
        }
    }

    /// The peer closes: EOF (or a reset) with no further bytes.
    fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.r.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "extra bytes {:?}", show(&rest)),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
    if b.len() > 300 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}

fn value_block(key: &str, flags: u32, data: &[u8]) -> Vec<u8> {
    let mut v = format!("VALUE {key} {flags} {}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

fn set_req(cmd: &str, key: &str, flags: u32, data: &[u8], tail: &str) -> Vec<u8> {
    let mut v = format!("{cmd} {key} {flags} 0 {}{tail}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

/// The cas unique of `key` (via gets).
fn cas_of(c: &mut Client, key: &str) -> u64 {
    c.send(format!("gets {key}\r\n").as_bytes());
    let v = c.values();
    assert_eq!(v.len(), 1, "{key} should exist");
    v[0].3.unwrap()
}

/// Keys that land on three different backends (by `--locate`).
fn one_key_per_server(cl: &Cluster, prefix: &str) -> Vec<String> {
    let cands: Vec<String> = (0..200).map(|i| format!("{prefix}{i}")).collect();
    let srv = cl.locate(&cands);
    (0..3)
        .map(|s| {
            let i = srv.iter().position(|&x| x == s).unwrap();
            cands[i].clone()
        })
        .collect()
}

#[test]
fn every_command_through_the_proxy() {
    let cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    c.script(&[
        (b"set a 0 0 1\r\n1\r\n", b"STORED\r\n"),
        (b"get a\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n"),
        (b"get nope\r\n", b"END\r\n"),
        (b"add a 0 0 1\r\n2\r\n", b"NOT_STORED\r\n"),
        (b"add b 3 0 2\r\nbb\r\n", b"STORED\r\n"),
        (b"replace nope 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        (b"replace b 4 0 3\r\nBBB\r\n", b"STORED\r\n"),
        (b"append b 0 0 2\r\n>>\r\n", b"STORED\r\n"),
        (b"prepend b 0 0 2\r\n<<\r\n", b"STORED\r\n"),
        (b"append nope 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        (b"get b\r\n", b"VALUE b 4 7\r\n<<BBB>>\r\nEND\r\n"),
        (b"cas nope 0 0 1 1\r\nz\r\n", b"NOT_FOUND\r\n"),
        (b"set n 0 0 2\r\n10\r\n", b"STORED\r\n"),
        (b"incr n 5\r\n", b"15\r\n"),
        (b"decr n 20\r\n", b"0\r\n"),
        (b"incr nope 1\r\n", b"NOT_FOUND\r\n"),
        (
            b"incr a -1\r\n",
            b"CLIENT_ERROR invalid numeric delta argument\r\n",
        ),
        (
            b"incr b 1\r\n",
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
        ),
        (b"touch a 100\r\n", b"TOUCHED\r\n"),
        (b"touch nope 100\r\n", b"NOT_FOUND\r\n"),
        (b"delete a\r\n", b"DELETED\r\n"),
        (b"delete a\r\n", b"NOT_FOUND\r\n"),
        (b"get a\r\n", b"END\r\n"),
    ]);
    // gets: the cas unique is there
    c.send(b"gets b\r\n");
    let v = c.values();
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0].0.as_str(), v[0].1, &v[0].2[..]),
        ("b", 4, &b"<<BBB>>"[..])
    );
    let unique = v[0].3.unwrap();
    c.call(
        format!("cas b 5 0 1 {unique}\r\nz\r\n").as_bytes(),
        b"STORED\r\n",
    );
    c.call(b"get b\r\n", b"VALUE b 5 1\r\nz\r\nEND\r\n");
    c.send(b"version\r\n");
    let l = c.line();
    assert!(l.starts_with(b"VERSION 1."), "{:?}", show(&l));
    // multi-key get and gets over three servers, with a miss and a duplicate
    let keys = one_key_per_server(&cl, "mk");
    for (i, k) in keys.iter().enumerate() {
        c.call(
            &set_req("set", k, i as u32, k.as_bytes(), ""),
            b"STORED\r\n",
        );
    }
    let mut want = Vec::new();
    for (i, k) in [2usize, 0, 1, 0].iter().map(|&i| (i, &keys[i])) {
        want.extend(value_block(k, i as u32, k.as_bytes()));
    }
    want.extend_from_slice(b"END\r\n");
    c.call(
        format!(
            "get {} {} miss {} {}\r\n",
            keys[2], keys[0], keys[1], keys[0]
        )
        .as_bytes(),
        &want,
    );
    c.send(format!("gets {} miss {} {}\r\n", keys[1], keys[2], keys[0]).as_bytes());
    let v = c.values();
    let got: Vec<&str> = v.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(got, [&keys[1], &keys[2], &keys[0]]);
    assert!(v.iter().all(|x| x.3.is_some()));
    // quit: no reply, the proxy closes
    c.send(b"quit\r\n");
    c.expect_closed();
    drop(c);
    cl.assert_drained();
}

#[test]
fn noreply_pipelines_take_effect() {
    let cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    // seed b and read its cas unique for the noreply cas below
    c.call(b"set c 0 0 1\r\nc\r\n", b"STORED\r\n");
    let unique = cas_of(&mut c, "c");
    let mut p = Vec::new();
    p.extend(set_req("set", "a", 1, b"A", " noreply"));
    p.extend(set_req("add", "b", 2, b"B", " noreply"));
    p.extend(set_req("add", "a", 9, b"X", " noreply")); // not stored
    p.extend(set_req("replace", "a", 3, b"AA", " noreply"));
    p.extend(set_req("append", "a", 0, b">", " noreply"));
    p.extend(set_req("prepend", "a", 0, b"<", " noreply"));
    p.extend(format!("cas c 7 0 2 {unique} noreply\r\nCC\r\n").as_bytes());
    p.extend(set_req("set", "n", 0, b"100", " noreply"));
    p.extend(b"incr n 23 noreply\r\n");
    p.extend(b"decr n 3 noreply\r\n");
    p.extend(b"touch b 1000 noreply\r\n");
    p.extend(set_req("set", "d", 0, b"gone", " noreply"));
    p.extend(b"delete d noreply\r\n");
    p.extend(b"get a b c n d\r\n");
    c.send(&p);
    let mut want = value_block("a", 3, b"<AA>");
    want.extend(value_block("b", 2, b"B"));
    want.extend(value_block("c", 7, b"CC"));
    want.extend(value_block("n", 0, b"120"));
    want.extend_from_slice(b"END\r\n");
    c.expect(&want);
    // the same proof by single-key gets, straight after another pipeline
    c.send(b"set e 0 0 1 noreply\r\n1\r\nincr e 1 noreply\r\nget e\r\nget d\r\n");
    c.expect(b"VALUE e 0 1\r\n2\r\nEND\r\nEND\r\n");
    drop(c);
    cl.assert_drained();
}

#[test]
fn thousand_key_get_keeps_key_order_with_scattered_misses() {
    let cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    let n = 1000usize;
    let keys: Vec<String> = (0..n).map(|i| format!("key:{i}")).collect();
    let hit = |i: usize| i % 5 != 2 && !i.is_multiple_of(11);
    let data = |i: usize| format!("v{i}-{}", "x".repeat(i % 13)).into_bytes();
    // store the hits (pipelined), every one acknowledged
    let mut p = Vec::new();
    let mut stored = 0;
    for i in (0..n).filter(|&i| hit(i)) {
        p.extend(set_req("set", &keys[i], i as u32, &data(i), ""));
        stored += 1;
    }
    c.send(&p);
    c.expect(&b"STORED\r\n".repeat(stored));
    // ask in a scrambled order
    let order: Vec<usize> = (0..n).map(|j| (j * 337 + 11) % n).collect();
    let srv = cl.locate(&keys);
    // the 0.5.0 reordering needs a miss between two hits of one server
    for s in 0..3 {
        let on_s: Vec<bool> = order
            .iter()
            .filter(|&&i| srv[i] == s)
            .map(|&i| hit(i))
            .collect();
        assert!(
            on_s.windows(3).any(|w| w[0] && !w[1] && w[2]),
            "server {s} lacks a hit-miss-hit run"
        );
    }
    let mut req = b"get".to_vec();
    for &i in &order {
        req.push(b' ');
        req.extend_from_slice(keys[i].as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let mut want = Vec::new();
    for &i in order.iter().filter(|&&i| hit(i)) {
        want.extend(value_block(&keys[i], i as u32, &data(i)));
    }
    want.extend_from_slice(b"END\r\n");
    c.call(&req, &want);
    // gets: same order, every block with its cas unique
    req.insert(3, b's');
    c.send(&req);
    let v = c.values();
    let got: Vec<&str> = v.iter().map(|x| x.0.as_str()).collect();
    let expect: Vec<&str> = order
        .iter()
        .filter(|&&i| hit(i))
        .map(|&i| keys[i].as_str())
        .collect();
    assert_eq!(got, expect);
    for (k, flags, d, cas) in &v {
        let i: usize = k[4..].parse().unwrap();
        assert_eq!((*flags as usize, d), (i, &data(i)));
        assert!(cas.is_some());
    }
    // the connection is still in step
    c.call(
        b"get key:1\r\n",
        &[value_block("key:1", 1, &data(1)), b"END\r\n".to_vec()].concat(),
    );
    drop(c);
    cl.assert_drained();
}

#[test]
fn gets_cas_round_trip() {
    let cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    for k in one_key_per_server(&cl, "cas") {
        c.call(&set_req("set", &k, 0, b"one", ""), b"STORED\r\n");
        let stale = cas_of(&mut c, &k);
        c.call(&set_req("set", &k, 0, b"two", ""), b"STORED\r\n");
        c.call(
            format!("cas {k} 0 0 5 {stale}\r\nthree\r\n").as_bytes(),
            b"EXISTS\r\n",
        );
        let fresh = cas_of(&mut c, &k);
        assert_ne!(fresh, stale);
        c.call(
            format!("cas {k} 1 0 4 {fresh}\r\nfour\r\n").as_bytes(),
            b"STORED\r\n",
        );
        c.call(
            format!("cas {k} 1 0 4 {fresh}\r\nfive\r\n").as_bytes(),
            b"EXISTS\r\n",
        );
        let mut want = value_block(&k, 1, b"four");
        want.extend_from_slice(b"END\r\n");
        c.call(format!("get {k}\r\n").as_bytes(), &want);
    }
}

#[test]
fn one_mib_values_through_small_mbufs() {
    let cl = Cluster::start(&["-I", "2m"], &["-m", "512"]);
    let mut c = cl.client();
    let keys = one_key_per_server(&cl, "big");
    let big = |s: usize| -> Vec<u8> {
        // binary, with CR LF pairs and "END\r\n" inside the data
        (0..1 << 20)
            .map(|i: usize| match i % 1000 {
                0 => b'\r',
                1 => b'\n',
                2..=6 => b"END\r\n"[i % 1000 - 2],
                _ => (i.wrapping_mul(31) ^ s) as u8,
            })
            .collect()
    };
    let vals: Vec<Vec<u8>> = (0..3).map(big).collect();
    let mut p = Vec::new();
    for (k, v) in keys.iter().zip(&vals) {
        p.extend(set_req("set", k, 0, v, ""));
    }
    // write and read concurrently: 3 MiB does not fit in socket buffers
    let mut w = c.w.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&p).unwrap());
    c.expect(b"STORED\r\nSTORED\r\nSTORED\r\n");
    writer.join().unwrap();
    c.send(format!("get {}\r\n", keys[1]).as_bytes());
    let mut want = value_block(&keys[1], 0, &vals[1]);
    want.extend_from_slice(b"END\r\n");
    c.expect(&want);
    c.send(format!("get {} {} {}\r\n", keys[2], keys[0], keys[1]).as_bytes());
    let mut want = Vec::new();
    for i in [2, 0, 1] {
        want.extend(value_block(&keys[i], 0, &vals[i]));
    }
    want.extend_from_slice(b"END\r\n");
    c.expect(&want);
    drop(c);
    cl.assert_drained();
}

#[test]
fn key_length_limit_is_250_bytes() {
    let cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    let k250 = "k".repeat(250);
    let k251 = "k".repeat(251);
    c.call(&set_req("set", &k250, 0, b"ok", ""), b"STORED\r\n");
    let mut hit = value_block(&k250, 0, b"ok");
    hit.extend_from_slice(b"END\r\n");
    c.call(format!("get {k250}\r\n").as_bytes(), &hit);
    const BAD: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
    c.call(format!("get {k251}\r\n").as_bytes(), BAD);
    c.call(format!("get {k250}\r\n").as_bytes(), &hit);
    // storage: the data block is skipped, the next request is answered
    c.send(&set_req("set", &k251, 0, b"no", ""));
    c.send(format!("get {k250} {k251}\r\ndelete {k251}\r\nget {k250}\r\n").as_bytes());
    c.expect(&[BAD, BAD, BAD, &hit].concat());
    drop(c);
    cl.assert_drained();
}

#[test]
fn malformed_lines_get_replies_and_a_bystander_is_unaffected() {
    let cl = Cluster::start(&[], &[]);
    let mut by = cl.client();
    by.call(b"set by 0 0 3\r\nyes\r\n", b"STORED\r\n");
    let by_hit = b"VALUE by 0 3\r\nyes\r\nEND\r\n";
    let mut c = cl.client();
    const BAD: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
    c.call(b"set a 0 0 1\r\n1\r\n", b"STORED\r\n");
    let a_hit = b"VALUE a 0 1\r\n1\r\nEND\r\n";
    // in-frame errors, pipelined between good requests
    let mut p = Vec::new();
    p.extend(b"get a\r\n");
    p.extend(b"foo bar\r\n"); // unknown command
    p.extend(b"GET a\r\n"); // commands are lowercase
    p.extend(b"get a\r\n");
    p.extend(b"set b x 0 1\r\nz\r\n"); // bad flags: the block is skipped
    p.extend(b"set b 0 -1 1\r\nz\r\n"); // negative exptime: stored, expired at once
    p.extend(b"incr a x\r\n"); // bad delta
    p.extend(b"touch a\r\n"); // missing exptime
    p.extend(b"delete a 1\r\n"); // legacy time: only 0 is accepted
    p.extend(b"version extra\r\n");
    p.extend(b"get b\r\n");
    p.extend(b"get a\r\n");
    c.send(&p);
    c.expect(a_hit);
    c.expect(b"ERROR\r\nERROR\r\n");
    c.expect(a_hit);
    c.expect(BAD);
    c.expect(b"STORED\r\n");
    let l = c.line();
    assert!(l.starts_with(b"CLIENT_ERROR "), "incr a x: {:?}", show(&l));
    c.expect(b"ERROR\r\n"); // touch with a missing field: too few tokens
    let l = c.line();
    assert!(
        l.starts_with(b"CLIENT_ERROR "),
        "delete a 1: {:?}",
        show(&l)
    );
    let l = c.line();
    assert!(
        l.starts_with(b"CLIENT_ERROR ") || l == b"ERROR\r\n",
        "version extra: {:?}",
        show(&l)
    );
    c.expect(b"END\r\n"); // b: never stored, then expired at once
    c.expect(a_hit);
    // the legacy `delete <key> 0` is forwarded, as memcached accepts it
    c.call(b"delete nothere 0\r\n", b"NOT_FOUND\r\n");
    // the bystander saw nothing of it
    by.call(b"get by\r\n", by_hit);
    // framing lost: earlier replies in order, then CLIENT_ERROR, then close
    c.send(b"get a\r\nget by a\r\nfoo\r\nset k 0 0 1\r\nxyz\r\nget a\r\n");
    c.expect(a_hit);
    c.expect(b"VALUE by 0 3\r\nyes\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
    c.expect(b"ERROR\r\n");
    let l = c.line();
    assert!(l.starts_with(b"CLIENT_ERROR "), "{:?}", show(&l));
    c.expect_closed();
    by.call(b"get by\r\n", by_hit);
    // the key k was never stored
    by.call(b"get k\r\n", b"END\r\n");
    drop(c);
    drop(by);
    cl.assert_drained();
}

#[test]
fn quit_after_pipelined_gets_delivers_earlier_replies() {
    let cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    let keys = one_key_per_server(&cl, "q");
    for k in &keys {
        c.call(&set_req("set", k, 0, k.as_bytes(), ""), b"STORED\r\n");
    }
    let mut p = Vec::new();
    for k in &keys {
        p.extend(format!("get {k}\r\n").as_bytes());
    }
    p.extend(format!("get {} {} {}\r\n", keys[2], keys[1], keys[0]).as_bytes());
    p.extend(format!("quit\r\nget {}\r\n", keys[0]).as_bytes());
    c.send(&p);
    for k in &keys {
        c.expect(&[value_block(k, 0, k.as_bytes()), b"END\r\n".to_vec()].concat());
    }
    let mut want = Vec::new();
    for i in [2, 1, 0] {
        want.extend(value_block(&keys[i], 0, keys[i].as_bytes()));
    }
    want.extend_from_slice(b"END\r\n");
    c.expect(&want);
    c.expect_closed();
    drop(c);
    cl.assert_drained();
}

#[test]
fn each_key_lives_on_the_server_locate_names() {
    for hash in ["md5", "fnv1a_64", "murmur"] {
        keys_live_where_locate_says(hash);
    }
}

fn keys_live_where_locate_says(hash: &str) {
    let cl = Cluster::with_pool(&format!("hash: {hash}\n"), &[], &[]);
    let mut c = cl.client();
    let keys: Vec<String> = (0..300).map(|i| format!("{i}:route")).collect();
    let mut p = Vec::new();
    for k in &keys {
        p.extend(set_req("set", k, 0, k.as_bytes(), " noreply"));
    }
    // one get over every key proves the writes landed (one connection per
    // server keeps them ordered)
    p.extend(b"get");
    let mut want = Vec::new();
    for k in &keys {
        p.extend(format!(" {k}").as_bytes());
        want.extend(value_block(k, 0, k.as_bytes()));
    }
    p.extend(b"\r\n");
    want.extend_from_slice(b"END\r\n");
    c.call(&p, &want);
    let srv = cl.locate(&keys);
    let mut per: HashMap<usize, usize> = HashMap::new();
    for &s in &srv {
        *per.entry(s).or_default() += 1;
    }
    assert_eq!(per.len(), 3, "{hash}: all servers get keys: {per:?}");
    let mut direct: Vec<Client> = (0..3).map(|i| cl.backend(i)).collect();
    for (k, &s) in keys.iter().zip(&srv) {
        for (i, b) in direct.iter_mut().enumerate() {
            b.send(format!("get {k}\r\n").as_bytes());
            let v = b.values();
            if i == s {
                assert_eq!(v.len(), 1, "{k} missing on s{i}");
                assert_eq!(v[0].2, k.as_bytes());
            } else {
                assert!(v.is_empty(), "{k} also on s{i} (expected s{s})");
            }
        }
    }
}

#[test]
fn odd_lines_answer_like_memcached() {
    let cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    c.call(b"set a 0 0 1\r\n1\r\n", b"STORED\r\n");
    let a_hit: &[u8] = b"VALUE a 0 1\r\n1\r\nEND\r\n";
    // an empty key list and a bare get: too few tokens
    c.call(b"get \r\n", b"ERROR\r\n");
    c.call(b"get\r\n", b"ERROR\r\n");
    // cas without its unique: the block is skipped, one ERROR
    c.call(
        b"cas a 0 0 1\r\n9\r\nget a\r\n",
        &[b"ERROR\r\n", a_hit].concat(),
    );
    // a rejected noreply request stays silent, as in memcached
    c.call(b"set a x 0 1 noreply\r\n9\r\nget a\r\n", a_hit);
    // extra spaces are fine
    c.call(b"get  a   a \r\n", &[&a_hit[..16], a_hit].concat());
    // LF alone does not end the line: nothing yet, then the CR LF ends
    // it; memcached would read it as two commands, so it is refused
    c.send(b"get a\n");
    std::thread::sleep(Duration::from_millis(200));
    c.call(b" a\r\n", b"CLIENT_ERROR bad command line format\r\n");
    c.call(b"get a\r\n", a_hit);
    drop(c);
    cl.assert_drained();
}

#[test]
fn requests_split_at_every_byte() {
    let cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    let keys = one_key_per_server(&cl, "split");
    let mut p = Vec::new();
    let mut want = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        p.extend(set_req("set", k, i as u32, b"a\r\nb", ""));
        want.extend_from_slice(b"STORED\r\n");
    }
    p.extend(format!("get {} nope {} {}\r\n", keys[2], keys[1], keys[0]).as_bytes());
    for i in [2usize, 1, 0] {
        want.extend(value_block(&keys[i], i as u32, b"a\r\nb"));
    }
    want.extend_from_slice(b"END\r\n");
    p.extend(format!("incr {} 1\r\n", keys[0]).as_bytes());
    want.extend_from_slice(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    p.extend(b"version\r\n");
    for b in p.chunks(1) {
        c.send(b);
    }
    c.expect(&want);
    assert!(c.line().starts_with(b"VERSION "));
    drop(c);
    cl.assert_drained();
}

#[test]
fn a_dead_backend_fails_only_its_requests() {
    let mut cl = Cluster::start(&[], &[]);
    let mut c = cl.client();
    let keys = one_key_per_server(&cl, "dead");
    for k in &keys {
        c.call(&set_req("set", k, 0, b"v", ""), b"STORED\r\n");
    }
    let hit = |k: &str| [value_block(k, 0, b"v"), b"END\r\n".to_vec()].concat();
    // backend 1 goes away
    let m = &mut cl.mcs[1];
    m.proc.signal(libc::SIGKILL);
    assert!(m.proc.wait_exit(common::WAIT).is_some());
    // a single-key request to it fails in place; the others still work
    c.send(format!("get {}\r\nget {}\r\n", keys[1], keys[0]).as_bytes());
    let l = c.line();
    assert!(l.starts_with(b"SERVER_ERROR "), "{:?}", show(&l));
    c.expect(&hit(&keys[0]));
    // noreply to it vanishes silently
    c.send(&set_req("set", &keys[1], 0, b"w", " noreply"));
    c.call(format!("get {}\r\n", keys[2]).as_bytes(), &hit(&keys[2]));
    // a multi-get touching it: SERVER_ERROR, and (beyond 0.5.0, which
    // closed here) the connection stays usable
    c.send(format!("get {} {}\r\nget {}\r\n", keys[0], keys[1], keys[0]).as_bytes());
    let l = c.line();
    assert!(l.starts_with(b"SERVER_ERROR "), "{:?}", show(&l));
    c.expect(&hit(&keys[0]));
    drop(c);
    // a multi-get that avoids it is fine on a new connection
    let mut d = cl.client();
    let mut want = value_block(&keys[2], 0, b"v");
    want.extend(value_block(&keys[0], 0, b"v"));
    want.extend_from_slice(b"END\r\n");
    d.call(format!("get {} {}\r\n", keys[2], keys[0]).as_bytes(), &want);
    drop(d);
    cl.assert_drained();
}

#[test]
fn a_client_leaving_mid_request_leaks_nothing() {
    let cl = Cluster::start(&[], &[]);
    let keys: Vec<String> = (0..300).map(|i| format!("{i}:leave")).collect();
    let mut c = cl.client();
    let mut p = Vec::new();
    for k in &keys {
        p.extend(set_req("set", k, 0, &[b'x'; 4000], ""));
    }
    c.send(&p);
    c.expect(&b"STORED\r\n".repeat(keys.len()));
    for _ in 0..5 {
        let mut c = cl.client();
        let mut p = Vec::new();
        for _ in 0..20 {
            p.extend(format!("get {}\r\n", keys.join(" ")).as_bytes());
            p.extend(b"set z 0 0 1 noreply\r\nz\r\n");
        }
        c.send(&p);
        drop(c); // gone before the replies
    }
    drop(c);
    cl.assert_drained();
}

#[test]
fn a_stalled_backend_times_out_and_recovers() {
    let cl = Cluster::with_pool("hash: md5\ntimeout: 400\n", &[], &[]);
    let mut c = cl.client();
    let keys = one_key_per_server(&cl, "slow");
    for k in &keys {
        c.call(&set_req("set", k, 0, b"v", ""), b"STORED\r\n");
    }
    let hit = |k: &str| [value_block(k, 0, b"v"), b"END\r\n".to_vec()].concat();
    cl.mcs[1].proc.signal(libc::SIGSTOP);
    let pid = cl.mcs[1].proc.pid();
    let stopped = common::wait_until(common::WAIT, || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(") ")
            .is_some_and(|(_, r)| r.starts_with('T'))
    });
    assert!(stopped, "memcached {pid} did not stop");
    // a single-key get times out in place; the next request is answered in order
    c.send(format!("get {}\r\nget {}\r\n", keys[1], keys[2]).as_bytes());
    c.expect(b"SERVER_ERROR Connection timed out\r\n");
    c.expect(&hit(&keys[2]));
    // a multi-get that needs it: the error, and (beyond 0.5.0, which
    // closed here) the connection stays usable
    c.send(format!("get {} {}\r\nget {}\r\n", keys[0], keys[1], keys[2]).as_bytes());
    c.expect(b"SERVER_ERROR Connection timed out\r\n");
    c.expect(&hit(&keys[2]));
    drop(c);
    cl.mcs[1].proc.signal(libc::SIGCONT);
    // once it answers again (its late replies are stray and reset the
    // connection), requests to it succeed
    let mut d = cl.client();
    let back = common::wait_until(common::WAIT, || {
        d.send(format!("get {}\r\n", keys[1]).as_bytes());
        d.line() == format!("VALUE {} 0 1\r\n", keys[1]).as_bytes()
            && d.line() == b"v\r\n"
            && d.line() == b"END\r\n"
    });
    assert!(back, "backend 1 never served again");
    let mut want = Vec::new();
    for k in &keys {
        want.extend(value_block(k, 0, b"v"));
    }
    want.extend_from_slice(b"END\r\n");
    d.call(format!("get {}\r\n", keys.join(" ")).as_bytes(), &want);
    drop(d);
    cl.assert_drained();
}
