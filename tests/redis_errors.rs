#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Errors instead of disconnects (issue 5 point 6): a request the proxy will
//! not forward gets an `-ERR` reply in its place and the connection stays
//! usable, with earlier pipelined replies delivered in order; only lost
//! framing closes, after `-ERR Protocol error: <reason>`. A bystander
//! connection is never affected. Also inline commands, `PING msg`, QUIT
//! and the empty request.

mod common;

use common::{resp, resp_words, start_redis, start_redis_pool, RespConn};

/// The bystander still works and sees its own counter advance.
fn bystander_ok(b: &mut RespConn, n: &mut u64) {
    *n += 1;
    assert_eq!(
        b.call_words("INCR bystander"),
        format!(":{n}\r\n").as_bytes()
    );
    assert_eq!(b.call_words("GET k"), b"$2\r\nv0\r\n");
}

#[test]
fn in_frame_errors_keep_the_connection() {
    let pool = start_redis_pool(3, "", &[]);
    let mut by = RespConn::connect(pool.port);
    let mut n = 0;
    assert_eq!(by.call_words("SET k v0"), b"+OK\r\n");
    bystander_ok(&mut by, &mut n);
    let unsupported: &[(&[&[u8]], &[u8])] = &[
        (&[b"FOO", b"a"], b"-ERR unsupported command 'FOO'\r\n"),
        (&[b"fOo"], b"-ERR unsupported command 'fOo'\r\n"),
        (
            &[b"SELECT", b"1"],
            b"-ERR SELECT 1 refused: the proxy serves db 0 only (redis_db)\r\n",
        ),
        (
            &[b"CLIENT", b"KILL", b"x"],
            b"-ERR unsupported subcommand CLIENT 'KILL': the proxy answers only CLIENT ID, GETNAME, SETNAME and SETINFO\r\n",
        ),
        (&[b"HELLO", b"4"], b"-NOPROTO unsupported protocol version\r\n"),
        (
            &[b"MOVE", b"k", b"1"],
            b"-ERR unsupported command 'MOVE'\r\n",
        ),
        (
            &[b"SSUBSCRIBE", b"k"],
            b"-ERR unsupported command 'SSUBSCRIBE'\r\n",
        ),
        (&[b"MONITOR"], b"-ERR unsupported command 'MONITOR'\r\n"),
        (&[b"a\r\nb"], b"-ERR unsupported command 'a  b'\r\n"),
        (
            &[b"GET"],
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            &[b"get", b"a", b"b"],
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            &[b"MSET", b"a", b"1", b"b"],
            b"-ERR wrong number of arguments for 'mset' command\r\n",
        ),
        (
            &[b"MGET"],
            b"-ERR wrong number of arguments for 'mget' command\r\n",
        ),
        (
            &[b"LINSERT", b"l", b"BEFORE", b"x"],
            b"-ERR wrong number of arguments for 'linsert' command\r\n",
        ),
        (
            &[b"EVAL", b"return 1", b"0"],
            b"-ERR wrong number of arguments for 'eval' command\r\n",
        ),
        (
            &[b"ZUNION", b"x", b"k"],
            b"-ERR wrong number of arguments for 'zunion' command\r\n",
        ),
        (
            &[b"AUTH"],
            b"-ERR wrong number of arguments for 'auth' command\r\n",
        ),
        (
            &[b"AUTH", b"user", b"pass", b"x"],
            b"-ERR syntax error\r\n",
        ),
        (
            &[b"PING", b"a", b"b"],
            b"-ERR wrong number of arguments for 'ping' command\r\n",
        ),
    ];
    let mut c = RespConn::connect(pool.port);
    for (args, want) in unsupported {
        assert_eq!(
            String::from_utf8_lossy(&c.call(args)),
            String::from_utf8_lossy(want)
        );
        assert_eq!(c.call_words("GET k"), b"$2\r\nv0\r\n", "after {args:?}");
        bystander_ok(&mut by, &mut n);
    }
    // All of them in one pipeline, between forwarded requests: every reply
    // in its place.
    let mut req = Vec::new();
    let mut want = Vec::new();
    for (i, (args, reply)) in unsupported.iter().enumerate() {
        req.extend(resp_words(&format!("SET p{i} {i}")));
        want.extend_from_slice(b"+OK\r\n");
        req.extend(resp(args));
        want.extend_from_slice(reply);
        req.extend(resp_words(&format!("MGET p{i} k")));
        want.extend(format!("*2\r\n${}\r\n{i}\r\n$2\r\nv0\r\n", i.to_string().len()).bytes());
    }
    c.send(&req);
    let mut got = Vec::new();
    for _ in 0..3 * unsupported.len() {
        got.extend(c.read());
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
    bystander_ok(&mut by, &mut n);
}

#[test]
fn lost_framing_replies_then_closes() {
    let pool = start_redis_pool(3, "", &[]);
    let mut by = RespConn::connect(pool.port);
    let mut n = 0;
    assert_eq!(by.call_words("SET k v0"), b"+OK\r\n");
    let broken: &[&[u8]] = &[
        b"*2\r\n$3\r\nGET\r\n+k\r\n",
        b"*x\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\n$3\r\nGETxx\r\n",
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\n\n",
        b"*1\r\r",
        b"*-1\r\n",
        b"*99999999999999999999999\r\n",
        b"*1\r\n$99999999999999\r\n",
    ];
    for bad in broken {
        let mut c = RespConn::connect(pool.port);
        // Earlier pipelined requests, in the same write as the broken one.
        let mut req = resp_words("SET a 1");
        req.extend(resp_words("MGET a k nosuch"));
        req.extend(resp_words("PING"));
        req.extend_from_slice(bad);
        c.send(&req);
        assert_eq!(c.read(), b"+OK\r\n");
        assert_eq!(c.read(), b"*3\r\n$1\r\n1\r\n$2\r\nv0\r\n$-1\r\n");
        assert_eq!(c.read(), b"+PONG\r\n");
        let err = c.read();
        let text = String::from_utf8_lossy(&err);
        assert!(
            text.starts_with("-ERR Protocol error: ") && text.len() > 23,
            "{:?}: {text:?}",
            String::from_utf8_lossy(bad)
        );
        assert!(c.closed(), "{:?}: still open", String::from_utf8_lossy(bad));
        bystander_ok(&mut by, &mut n);
    }
}

#[test]
fn inline_ping_msg_quit_and_empty_requests() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut by = RespConn::connect(pool.port);
    let mut n = 0;
    assert_eq!(by.call_words("SET k v0"), b"+OK\r\n");
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    // Inline commands and PING msg, as redis answers them.
    let same: &[&[u8]] = &[
        b"PING\r\n",
        b"SET ik hello\r\n",
        b"GET ik\r\n",
        b"  GET \t ik  \r\n",
        b"get ik\n",
        b"MGET ik k nosuch\r\n",
        b"EXISTS ik k ik\r\n",
        b"PING hi\r\n",
        b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n",
        b"*2\r\n$4\r\nPING\r\n$0\r\n\r\n",
        b"*0\r\n*1\r\n$4\r\nPING\r\n",
        b"\r\nPING\r\n",
        b"DEL ik\r\n",
    ];
    assert_eq!(dr.call_words("SET k v0"), b"+OK\r\n");
    for req in same {
        px.send(req);
        dr.send(req);
        let (got, want) = (px.read(), dr.read());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{:?}",
            String::from_utf8_lossy(req)
        );
        bystander_ok(&mut by, &mut n);
    }
    // Inline and multibulk mixed in one write.
    px.send(b"SET x 1\r\n*2\r\n$4\r\nINCR\r\n$1\r\nx\r\nINCR x\r\nGET x\r\n");
    for want in [&b"+OK\r\n"[..], b":2\r\n", b":3\r\n", b"$1\r\n3\r\n"] {
        assert_eq!(px.read(), want);
    }
    // Inline unknown command and wrong arity: in-frame errors too.
    px.send(b"FOO bar\r\nGET\r\nGET x\r\n");
    assert_eq!(px.read(), b"-ERR unsupported command 'FOO'\r\n");
    assert_eq!(
        px.read(),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(px.read(), b"$1\r\n3\r\n");
    // QUIT: replies owed first, then +OK, then close; later requests dropped.
    px.send(b"GET x\r\nPING\r\nQUIT\r\nPING\r\nSET x 9\r\n");
    assert_eq!(px.read(), b"$1\r\n3\r\n");
    assert_eq!(px.read(), b"+PONG\r\n");
    assert_eq!(px.read(), b"+OK\r\n");
    assert!(px.closed(), "QUIT did not close");
    let mut c = RespConn::connect(pool.port);
    assert_eq!(
        c.call_words("GET x"),
        b"$1\r\n3\r\n",
        "request after QUIT ran"
    );
    c.send(&resp_words("QUIT"));
    assert_eq!(c.read(), b"+OK\r\n");
    assert!(c.closed());
    bystander_ok(&mut by, &mut n);
}

/// Rejected requests far larger than a buffer (-m 512) are consumed to
/// their end: the stream stays in frame.
#[test]
fn large_rejected_requests_stay_in_frame() {
    let pool = start_redis_pool(3, "", &["-m", "512"]);
    let mut c = RespConn::connect(pool.port);
    let big = vec![b'z'; 1 << 20];
    let mut req = resp(&[b"FOO", &big, b"x"]);
    req.extend(resp(&[b"SET", b"k", &big]));
    req.extend(resp(&[b"GET", b"k", &big]));
    let mut keys: Vec<Vec<u8>> = (0..4999).map(|i| format!("{i}:m").into_bytes()).collect();
    keys.insert(0, b"MSET".to_vec());
    let args: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    req.extend(resp(&args)); // even argument count
    req.extend(resp_words("STRLEN k"));
    let mut w = c.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut w, &req).unwrap());
    assert_eq!(c.read(), b"-ERR unsupported command 'FOO'\r\n");
    assert_eq!(c.read(), b"+OK\r\n");
    assert_eq!(
        c.read(),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        c.read(),
        b"-ERR wrong number of arguments for 'mset' command\r\n"
    );
    assert_eq!(c.read(), b":1048576\r\n");
    writer.join().unwrap();
}

/// A backend failure reply (-OOM, §REDIS.8) is not relayed: the request
/// gets `-ERR Invalid argument` and the client connection stays usable.
#[test]
fn backend_oom_becomes_invalid_argument() {
    let pool = start_redis_pool(3, "", &[]);
    let mut c = RespConn::connect(pool.port);
    assert_eq!(c.call_words("SET k v0"), b"+OK\r\n");
    for b in &pool.backends {
        let mut d = RespConn::connect(b.port);
        assert_eq!(d.call_words("CONFIG SET maxmemory 1"), b"+OK\r\n");
    }
    assert_eq!(c.call_words("SET k v1"), b"-ERR Invalid argument\r\n");
    assert_eq!(
        c.call_words("MSET 1:a 1 2:a 2 3:a 3 4:a 4"),
        b"-ERR Invalid argument\r\n"
    );
    for b in &pool.backends {
        let mut d = RespConn::connect(b.port);
        assert_eq!(d.call_words("CONFIG SET maxmemory 0"), b"+OK\r\n");
    }
    assert_eq!(c.call_words("GET k"), b"$2\r\nv0\r\n");
    assert_eq!(c.call_words("SET k v2"), b"+OK\r\n");
    assert_eq!(c.call_words("GET k"), b"$2\r\nv2\r\n");
}
