#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! RESP3 and the connection handshake (issue 14.1-3, 14.6): HELLO answered
//! by the proxy in the requested protocol, RESP3 replies relayed exactly as
//! redis 7 writes them while RESP2 clients of the same pool get RESP2, the
//! multi-key merges in the client's protocol, CLIENT / SELECT / ECHO /
//! RESET answered locally with redis's bytes, HELLO AUTH against
//! `redis_auth`, redis-py's default client and its `protocol=3` /
//! `client_name` options, and a push message from a backend dropped.

mod common;

use common::{python, start_redis, start_redis_pool, RespConn};

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(400)]).into_owned()
}

/// The HELLO map (or array) with the fields that differ between the proxy
/// and a redis-server (version, connection id) blanked.
fn blank_hello(r: &[u8]) -> String {
    let text = String::from_utf8_lossy(r).into_owned();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    for (i, l) in lines.clone().iter().enumerate() {
        if l == "version" {
            lines[i + 1] = "<version>".into();
            lines[i + 2] = "<version>".into();
        }
        if l == "id" {
            lines[i + 1] = "<id>".into();
        }
    }
    lines.join("\r\n")
}

/// The connections of a redis-server that speak RESP3 (from CLIENT LIST).
fn resp3_conns(port: u16) -> usize {
    resp3_conns_auth(port, None)
}

/// `resp3_conns` of a server that needs `AUTH <password>` first.
fn resp3_conns_auth(port: u16, password: Option<&str>) -> usize {
    let mut c = RespConn::connect(port);
    if let Some(pw) = password {
        assert_eq!(c.call_words(&format!("AUTH {pw}")), b"+OK\r\n");
    }
    let list = c.call_words("CLIENT LIST");
    String::from_utf8_lossy(&list).matches("resp=3").count()
}

/// Handshake commands: the same bytes as redis 7 in both protocols, except
/// HELLO's version and id (the proxy's own) and CLIENT SETINFO (redis 7.2's,
/// which the 7.0 server of the tests lacks).
#[test]
fn handshake_commands_match_redis_in_both_protocols() {
    let pool = start_redis_pool(2, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    let script: &[&str] = &[
        "HELLO",
        "HELLO 2",
        "HELLO 4",
        "HELLO 1",
        "HELLO -1",
        "HELLO x",
        "HELLO 3 FOO",
        "HELLO 3 AUTH default",
        "HELLO 3 SETNAME",
        "HELLO 2 SETNAME zz",
        "CLIENT GETNAME",
        "HELLO 3",
        "CLIENT GETNAME",
        "CLIENT SETNAME",
        "CLIENT SETNAME nm",
        "CLIENT GETNAME",
        "CLIENT SETNAME \"\"",
        "CLIENT GETNAME",
        "CLIENT GETNAME x",
        "CLIENT ID x",
        "CLIENT",
        "HELLO 3 AUTH default anything SETNAME app",
        "CLIENT GETNAME",
        "SELECT 0",
        "SELECT x",
        "SELECT -1",
        "SELECT",
        "ECHO hi",
        "ECHO",
        "ECHO a b",
        "PING",
        "PING hi",
        "PING a b",
        "RESET",
        "CLIENT GETNAME",
        "GET nosuch",
        "HELLO 3",
        "GET nosuch",
        "RESET x",
        "RESET",
        "GET nosuch",
    ];
    for line in script {
        let args: Vec<&[u8]> = line
            .split(' ')
            .map(|w| if w == "\"\"" { &b""[..] } else { w.as_bytes() })
            .collect();
        let (got, want) = (px.call(&args), dr.call(&args));
        if line.starts_with("HELLO") && !want.starts_with(b"-") {
            assert_eq!(blank_hello(&got), blank_hello(&want), "{line}");
        } else {
            assert_eq!(show(&got), show(&want), "{line}");
        }
    }
    // CLIENT ID is the id HELLO reports
    let id = px.call_words("CLIENT ID");
    let hello = String::from_utf8_lossy(&px.call_words("HELLO")).into_owned();
    let id = String::from_utf8_lossy(&id[1..id.len() - 2]).into_owned();
    assert!(hello.contains(&format!("$2\r\nid\r\n:{id}\r\n")), "{hello}");
    assert!(
        hello.contains("$7\r\nversion\r\n$5\r\n7.2.0\r\n"),
        "{hello}"
    );
    // CLIENT SETINFO as redis 7.2 answers it; other subcommands refused
    let mut c = RespConn::connect(pool.port);
    assert_eq!(c.call_words("CLIENT SETINFO LIB-NAME redis-py"), b"+OK\r\n");
    assert_eq!(c.call_words("CLIENT setinfo lib-ver 8.1.0"), b"+OK\r\n");
    assert_eq!(
        c.call_words("CLIENT SETINFO color red"),
        b"-ERR Unrecognized option 'color'\r\n"
    );
    assert_eq!(
        c.call(&[b"CLIENT", b"SETINFO", b"lib-name", b"a b"]),
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
    );
    let list = c.call_words("CLIENT LIST");
    assert!(
        list.starts_with(b"-ERR unsupported subcommand CLIENT 'LIST'"),
        "{}",
        show(&list)
    );
    assert_eq!(c.call_words("PING"), b"+PONG\r\n", "the connection stays");
    // SELECT of another db than the pool's is refused, the connection stays
    let db = start_redis_pool(1, "  redis_db: 2\n", &[]);
    let mut c = RespConn::connect(db.port);
    assert_eq!(c.call_words("SELECT 2"), b"+OK\r\n");
    assert_eq!(
        c.call_words("SELECT 0"),
        b"-ERR SELECT 0 refused: the proxy serves db 2 only (redis_db)\r\n"
    );
    assert_eq!(c.call_words("SET k v"), b"+OK\r\n");
    let mut b = RespConn::connect(db.backends[0].port);
    assert_eq!(b.call_words("SELECT 2"), b"+OK\r\n");
    assert_eq!(b.call_words("GET k"), b"$1\r\nv\r\n");
    // inline HELLO works too
    c.send(b"HELLO 3\r\n");
    assert!(c.read().starts_with(b"%7\r\n"));
    assert_eq!(c.call_words("GET nosuch"), b"_\r\n");
}

/// Keys on every backend, MGET / DEL / EXISTS / TOUCH / UNLINK / MSET split
/// over them, merged in the client's protocol: the bytes a single redis
/// gives, in RESP2 and RESP3.
#[test]
fn multi_key_merges_in_the_client_protocol() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    for hello in ["HELLO 2", "HELLO 3"] {
        let mut px = RespConn::connect(pool.port);
        let mut dr = RespConn::connect(direct.port);
        px.call_words(hello);
        dr.call_words(hello);
        let keys: Vec<String> = (0..90).map(|i| format!("k{i}")).collect();
        let some: Vec<&str> = keys.iter().step_by(3).map(String::as_str).collect();
        let mut mset = vec!["MSET"];
        for k in &some {
            mset.extend([k, "v"]);
        }
        let all: Vec<&str> = keys.iter().map(String::as_str).collect();
        let line = |verb: &str, ks: &[&str]| format!("{verb} {}", ks.join(" "));
        for stmt in [
            mset.join(" "),
            line("MGET", &all),
            line("EXISTS", &all),
            line("TOUCH", &all),
            line("UNLINK", &all[..6]),
            line("DEL", &all),
            line("MGET", &all),
        ] {
            let (got, want) = (px.call_words(&stmt), dr.call_words(&stmt));
            assert_eq!(show(&got), show(&want), "{hello}: {stmt}");
            for b in &pool.backends {
                eprintln!(
                    "{stmt:.10} {} {}",
                    b.port,
                    show(&RespConn::connect(b.port).call_words("DBSIZE"))
                );
            }
        }
        let nulls = px.call_words("MGET k1 k2 k3");
        let want: &[u8] = if hello == "HELLO 3" {
            b"*3\r\n_\r\n_\r\n_\r\n"
        } else {
            b"*3\r\n$-1\r\n$-1\r\n$-1\r\n"
        };
        assert_eq!(nulls, want);
    }
    // per server: one connection per protocol (server_connections: 1),
    // and the keys were split over several servers
    let mut split = 0;
    for b in &pool.backends {
        let list = RespConn::connect(b.port).call_words("CLIENT LIST");
        let list = String::from_utf8_lossy(&list).into_owned();
        // the CLIENT LIST connection itself is a RESP2 one
        let n2 = list.matches("resp=2").count() - 1;
        let n3 = list.matches("resp=3").count();
        assert_eq!((n2, n3), (n3, n2.min(1)), "backend {}: {list}", b.port);
        split += n3;
    }
    assert!(split >= 2, "MGET was not split");
}

/// RESP2 and RESP3 clients interleaved on one pool, pipelined, and one
/// client switching protocol in the middle of a pipeline: each reply in
/// the protocol its request was sent in.
#[test]
fn resp2_and_resp3_clients_interleaved_on_one_pool() {
    let pool = start_redis_pool(2, "", &[]);
    let mut setup = RespConn::connect(pool.port);
    assert_eq!(setup.call_words("HSET h f v"), b":1\r\n");
    assert_eq!(setup.call_words("SADD s m"), b":1\r\n");
    assert_eq!(setup.call_words("SET a 1"), b"+OK\r\n");
    let batch: Vec<u8> = [
        "HGETALL h",
        "SMEMBERS s",
        "GET nosuch",
        "MGET a nosuch",
        "INCRBYFLOAT f 1.5",
    ]
    .iter()
    .flat_map(|w| common::resp_words(w))
    .collect();
    let r2: &[&[u8]] = &[
        b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
        b"*1\r\n$1\r\nm\r\n",
        b"$-1\r\n",
        b"*2\r\n$1\r\n1\r\n$-1\r\n",
    ];
    let r3: &[&[u8]] = &[
        b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n",
        b"~1\r\n$1\r\nm\r\n",
        b"_\r\n",
        b"*2\r\n$1\r\n1\r\n_\r\n",
    ];
    let mut v2: Vec<RespConn> = (0..3).map(|_| RespConn::connect(pool.port)).collect();
    let mut v3: Vec<RespConn> = (0..3).map(|_| RespConn::connect(pool.port)).collect();
    for c in &mut v3 {
        assert!(c.call_words("HELLO 3").starts_with(b"%7\r\n"));
    }
    for round in 0..50 {
        for (a, b) in v2.iter_mut().zip(v3.iter_mut()) {
            a.send(&batch);
            b.send(&batch);
        }
        for (a, b) in v2.iter_mut().zip(v3.iter_mut()) {
            for (i, want) in r2.iter().enumerate() {
                assert_eq!(show(&a.read()), show(want), "resp2 round {round} #{i}");
            }
            for (i, want) in r3.iter().enumerate() {
                assert_eq!(show(&b.read()), show(want), "resp3 round {round} #{i}");
            }
            // INCRBYFLOAT: a bulk in RESP2, a bulk in RESP3 too (redis 7.0)
            assert_eq!(a.read()[0], b'$');
            assert_eq!(b.read()[0], b'$');
        }
    }
    // switching in one pipeline: replies follow the request's protocol
    let mut c = RespConn::connect(pool.port);
    let mut req = common::resp_words("GET nosuch");
    req.extend(common::resp_words("HELLO 3"));
    req.extend(common::resp_words("GET nosuch"));
    req.extend(common::resp_words("HGETALL h"));
    req.extend(common::resp_words("HELLO 2"));
    req.extend(common::resp_words("GET nosuch"));
    req.extend(common::resp_words("RESET"));
    req.extend(common::resp_words("HELLO 3"));
    req.extend(common::resp_words("RESET"));
    req.extend(common::resp_words("GET nosuch"));
    c.send(&req);
    assert_eq!(c.read(), b"$-1\r\n");
    assert!(c.read().starts_with(b"%7\r\n"));
    assert_eq!(c.read(), b"_\r\n");
    assert_eq!(c.read(), b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert!(c.read().starts_with(b"*14\r\n"));
    assert_eq!(c.read(), b"$-1\r\n");
    assert_eq!(c.read(), b"+RESET\r\n");
    assert!(c.read().starts_with(b"%7\r\n"));
    assert_eq!(c.read(), b"+RESET\r\n");
    assert_eq!(c.read(), b"$-1\r\n", "RESET goes back to RESP2");
}

/// HELLO with AUTH against `redis_auth`, in front of backends that need
/// the password too (so a RESP3 backend connection sends AUTH, then HELLO 3).
#[test]
fn hello_with_redis_auth() {
    let pool = start_redis_pool(2, "  redis_auth: s3cret\n", &[]);
    for b in &pool.backends {
        let mut d = RespConn::connect(b.port);
        assert_eq!(d.call_words("CONFIG SET requirepass s3cret"), b"+OK\r\n");
    }
    let mut c = RespConn::connect(pool.port);
    let noauth: &[u8] = b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n";
    let wrongpass: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    assert_eq!(c.call_words("HELLO 3"), noauth);
    assert_eq!(c.call_words("HELLO"), noauth);
    assert_eq!(c.call_words("HELLO 3 AUTH default nope"), wrongpass);
    assert_eq!(c.call_words("HELLO 3 AUTH admin s3cret"), wrongpass);
    assert_eq!(
        c.call_words("GET k"),
        b"-NOAUTH Authentication required\r\n"
    );
    let r = c.call_words("HELLO 3 AUTH default s3cret SETNAME app");
    assert!(r.starts_with(b"%7\r\n"), "{}", show(&r));
    assert_eq!(c.call_words("CLIENT GETNAME"), b"$3\r\napp\r\n");
    assert_eq!(c.call_words("SET k v"), b"+OK\r\n");
    assert_eq!(c.call_words("HGETALL nosuch"), b"%0\r\n");
    assert_eq!(c.call_words("GET nosuch"), b"_\r\n");
    // a failed HELLO AUTH keeps the session (as redis)
    assert_eq!(c.call_words("HELLO 2 AUTH default bad"), wrongpass);
    assert_eq!(c.call_words("GET nosuch"), b"_\r\n");
    // RESET forgets the authentication
    assert_eq!(c.call_words("RESET"), b"+RESET\r\n");
    assert_eq!(
        c.call_words("GET k"),
        b"-NOAUTH Authentication required\r\n"
    );
    assert!(c
        .call_words("HELLO 2 AUTH default s3cret")
        .starts_with(b"*14\r\n"));
    assert_eq!(c.call_words("GET k"), b"$1\r\nv\r\n");
    // redis-py with a password, default protocol and protocol=3
    let out = python(
        "import redis,sys\n\
         p=int(sys.argv[1])\n\
         for kw in ({}, {'protocol': 3}, {'protocol': 2}):\n\
         \x20   r=redis.Redis(port=p, password='s3cret', **kw)\n\
         \x20   r.set('py', 'x')\n\
         \x20   print(r.get('py'), r.hgetall('nosuch'))\n\
         try:\n\
         \x20   redis.Redis(port=p, password='bad', protocol=3).ping()\n\
         except redis.exceptions.AuthenticationError as e:\n\
         \x20   print('refused')\n",
        &[&pool.port.to_string()],
    );
    assert_eq!(out, "b'x' {}\nb'x' {}\nb'x' {}\nrefused\n");
    let n: usize = pool
        .backends
        .iter()
        .map(|b| resp3_conns_auth(b.port, Some("s3cret")))
        .sum();
    assert!(n >= 1, "no RESP3 backend connection");
}

/// Runs `script` (a redis-py program taking the port as `sys.argv[1]`)
/// against the proxy and against a direct redis-server holding nothing:
/// the outputs must be equal. Returns the output.
fn same_as_direct(pool_port: u16, script: &str) -> String {
    let direct = start_redis();
    let got = python(script, &[&pool_port.to_string()]);
    let want = python(script, &[&direct.port.to_string()]);
    assert_eq!(got, want, "proxy (left) and direct redis (right) differ");
    got
}

/// The current redis-py with its defaults (no `protocol=`) through a
/// two-server pool: the handshake it sends (HELLO 3, CLIENT SETINFO) is
/// answered, and every command gives what a direct redis gives.
#[test]
fn redis_py_default_client_end_to_end() {
    let pool = start_redis_pool(2, "", &[]);
    let out = same_as_direct(
        pool.port,
        "import redis,sys\n\
         r=redis.Redis(port=int(sys.argv[1]))\n\
         print(r.set('a','1'), r.get('a'), r.ping(), r.echo('hi'))\n\
         r.mset({'k%d'%i: str(i) for i in range(20)})\n\
         print(r.mget(['k%d'%i for i in range(22)]))\n\
         print(r.exists(*['k%d'%i for i in range(22)]), r.delete(*['k%d'%i for i in range(5)]))\n\
         print(r.hset('h', mapping={'f':'v','g':'w'}), sorted(r.hgetall('h').items()))\n\
         print(r.sadd('s','x','y'), sorted(r.smembers('s')), r.zadd('z',{'m':1.5}), r.zscore('z','m'))\n\
         print(r.zrange('z', 0, -1, withscores=True), r.hrandfield('h', 2, withvalues=True) is not None)\n\
         print(r.incr('n'), r.expire('n', 100), r.ttl('n') > 0, r.get('nosuch'), r.hgetall('nosuch'))\n\
         p=r.pipeline(transaction=False)\n\
         for i in range(100): p.incr('ctr')\n\
         print(p.execute()[-1])\n\
         print(r.client_setname('web'), r.client_getname(), r.client_id() > 0)\n",
    );
    assert!(
        out.starts_with("True b'1' True b'hi'\n[b'0', b'1'"),
        "{out}"
    );
    let n: usize = pool.backends.iter().map(|b| resp3_conns(b.port)).sum();
    assert!(n >= 1, "redis-py's default client did not get RESP3");
}

/// redis-py with `protocol=3` and `client_name` (sent as HELLO 3 SETNAME),
/// and with `protocol=2`: native types as from a direct redis.
#[test]
fn redis_py_protocol_3_and_client_name() {
    let pool = start_redis_pool(2, "", &[]);
    let out = same_as_direct(
        pool.port,
        "import redis,sys\n\
         p=int(sys.argv[1])\n\
         r=redis.Redis(port=p, protocol=3, client_name='app-3')\n\
         print(r.client_getname(), r.set('a','1'), r.get('a'), r.get('nosuch'))\n\
         r.hset('h', mapping={'f':'v'}); r.sadd('s','x'); r.zadd('z',{'m':2.5})\n\
         print(r.hgetall('h'), r.smembers('s'), r.zscore('z','m'), r.zrange('z',0,-1,withscores=True))\n\
         print(r.mget('a','nosuch','a'), r.delete('a','nosuch'), r.exists('h','s','z','no'))\n\
         r2=redis.Redis(port=p, protocol=2, client_name='app-2')\n\
         print(r2.client_getname(), r2.hgetall('h'), r2.zscore('z','m'), r2.mget('h', 'nosuch'))\n\
         print(r.connection_pool.get_connection().protocol, r2.connection_pool.get_connection().protocol)\n",
    );
    assert!(
        out.starts_with("b'app-3' True b'1' None\n{b'f': b'v'} {b'x'} 2.5"),
        "{out}"
    );
    assert!(out.ends_with("\n3 2\n"), "{out}");
}

/// A push message on a RESP3 backend connection (here: key-tracking
/// invalidations redirected to it by another client) answers no request:
/// it is dropped and the requests around it keep their replies.
#[test]
fn push_from_a_backend_is_dropped() {
    let pool = start_redis_pool(1, "", &[]);
    let port = pool.backends[0].port;
    let mut c = RespConn::connect(pool.port);
    assert!(c.call_words("HELLO 3").starts_with(b"%7\r\n"));
    assert_eq!(c.call_words("SET tracked 1"), b"+OK\r\n");
    // the proxy's RESP3 connection, seen from the backend
    let list =
        String::from_utf8_lossy(&RespConn::connect(port).call_words("CLIENT LIST")).into_owned();
    let line = list
        .lines()
        .find(|l| l.contains("resp=3"))
        .expect("a RESP3 connection");
    let id = line
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("id=");
    let mut spy = RespConn::connect(port);
    assert!(spy.call_words("HELLO 3").starts_with(b"%7"));
    assert_eq!(
        spy.call_words(&format!(
            "CLIENT TRACKING on REDIRECT {id} BCAST PREFIX tracked"
        )),
        b"+OK\r\n"
    );
    for i in 0..20 {
        // each write sends an invalidation push to the proxy's connection
        assert_eq!(
            spy.call(&[b"SET", b"tracked", i.to_string().as_bytes()]),
            b"+OK\r\n"
        );
        let want = format!("${}\r\n{i}\r\n", i.to_string().len());
        assert_eq!(show(&c.call_words("GET tracked")), want, "round {i}");
    }
    assert!(pool
        .proxy
        .log_text()
        .contains("sent a push message: dropped"));
    // the connection was not closed for it
    let list =
        String::from_utf8_lossy(&RespConn::connect(port).call_words("CLIENT LIST")).into_owned();
    assert!(
        list.contains(&format!("id={id} ")),
        "the RESP3 connection was replaced"
    );
}

/// Sends each command to both connections and checks the replies are
/// byte-identical (`n` replies per command: the subscribe family answers
/// once per channel).
fn both_same(px: &mut RespConn, dr: &mut RespConn, script: &[(&str, usize)]) {
    for &(cmd, n) in script {
        px.send(&common::resp_words(cmd));
        dr.send(&common::resp_words(cmd));
        for i in 0..n {
            assert_eq!(show(&px.read()), show(&dr.read()), "reply {i} to {cmd:?}");
        }
    }
}

/// A RESP3 client's transaction on its dedicated connection (opened with
/// HELLO 3): EXEC's reply is redis's RESP3 array of RESP3 replies, and
/// ECHO/PING inside MULTI are queued as redis queues them.
#[test]
fn resp3_multi_exec_matches_direct_redis() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    assert!(px.call_words("HELLO 3").starts_with(b"%7\r\n"));
    assert!(dr.call_words("HELLO 3").starts_with(b"%7\r\n"));
    let one = |c: &'static str| (c, 1);
    let script: Vec<(&str, usize)> = [
        "MULTI",
        "HSET {t}h f v g w",
        "HGETALL {t}h",
        "PING",
        "ECHO hi",
        "SADD {t}s x",
        "SMEMBERS {t}s",
        "ZADD {t}z 1.5 m",
        "ZSCORE {t}z m",
        "GET {t}missing",
        "EXEC",
        "PING",
        "ECHO out",
        "WATCH {t}h",
        "MULTI",
        "HGET {t}h f",
        "EXEC",
        "MULTI",
        "SET {t}gone 1",
        "DISCARD",
        "GET {t}gone",
    ]
    .into_iter()
    .map(one)
    .collect();
    both_same(&mut px, &mut dr, &script);
    // the dedicated connection speaks RESP3 too
    let n: usize = pool.backends.iter().map(|b| resp3_conns(b.port)).sum();
    assert!(n >= 2, "no RESP3 dedicated connection: {n}");
}

/// A RESP3 client's Pub/Sub: confirmations are `>3` pushes built by the
/// proxy, messages are relayed pushes, ordinary commands are served while
/// subscribed and PING answers +PONG, all as from a direct redis.
#[test]
fn resp3_subscribe_messages_unsubscribe_match_direct_redis() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    assert!(px.call_words("HELLO 3").starts_with(b"%7\r\n"));
    assert!(dr.call_words("HELLO 3").starts_with(b"%7\r\n"));
    both_same(
        &mut px,
        &mut dr,
        &[
            ("SUBSCRIBE a b", 2),
            ("SUBSCRIBE c", 1),
            ("PSUBSCRIBE p*", 1),
            ("PING", 1),
            ("PING hello", 1),
            ("SET k 1", 1),
            ("GET k", 1),
        ],
    );
    let (mut pub_px, mut pub_dr) = (RespConn::connect(pool.port), RespConn::connect(direct.port));
    for ch in ["a", "b", "c", "pq"] {
        assert_eq!(
            pub_px.call_words(&format!("PUBLISH {ch} m-{ch}")),
            b":1\r\n"
        );
        assert_eq!(
            pub_dr.call_words(&format!("PUBLISH {ch} m-{ch}")),
            b":1\r\n"
        );
        let got = show(&px.read());
        assert!(got.starts_with(">"), "not a push: {got}");
        assert_eq!(got, show(&dr.read()), "message on {ch}");
    }
    both_same(
        &mut px,
        &mut dr,
        &[
            ("UNSUBSCRIBE c", 1),
            ("PUNSUBSCRIBE p*", 1),
            ("UNSUBSCRIBE b", 1),
            ("UNSUBSCRIBE a", 1),
            ("UNSUBSCRIBE", 1),
            ("PING", 1),
            ("GET k", 1),
        ],
    );
}

/// redis-py's default client (HELLO 3) through the proxy: a transaction
/// pipeline and a pubsub() get_message round trip, as with a direct redis.
#[test]
fn redis_py_default_client_transaction_and_pubsub() {
    let pool = start_redis_pool(3, "", &[]);
    let out = same_as_direct(
        pool.port,
        "import redis,sys,time\n\
         r=redis.Redis(port=int(sys.argv[1]))\n\
         p=r.pipeline(transaction=True)\n\
         p.set('{u}a','1'); p.incr('{u}n'); p.hset('{u}h', mapping={'f':'v'}); p.hgetall('{u}h'); p.get('{u}a')\n\
         print(p.execute())\n\
         ps=r.pubsub()\n\
         ps.subscribe('news', 'sport')\n\
         got=[]\n\
         def wait():\n\
         \x20   for _ in range(500):\n\
         \x20       m=ps.get_message(timeout=0.1)\n\
         \x20       if m: return m\n\
         print(wait(), wait())\n\
         print(r.publish('news','hello'), r.publish('sport','goal'))\n\
         print(wait(), wait())\n\
         ps.unsubscribe('news')\n\
         print(wait())\n\
         ps.close()\n",
    );
    assert!(
        out.starts_with("[True, 1, 1, {b'f': b'v'}, b'1']\n"),
        "{out}"
    );
    assert!(out.contains("'data': b'hello'"), "{out}");
}

/// RESET leaves the transaction and the subscriptions too, as redis does
/// (+RESET, back to RESP2, nothing of the transaction applied).
#[test]
fn reset_leaves_transaction_and_subscriptions_like_redis() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    assert!(px.call_words("HELLO 3").starts_with(b"%7\r\n"));
    assert!(dr.call_words("HELLO 3").starts_with(b"%7\r\n"));
    both_same(
        &mut px,
        &mut dr,
        &[
            ("WATCH {t}w", 1),
            ("MULTI", 1),
            ("SET {t}r 1", 1),
            ("RESET", 1),
            ("GET {t}r", 1),
            ("EXEC", 1),
            ("SUBSCRIBE x y", 2),
            ("RESET", 1),
            ("PING", 1),
            ("GET {t}r", 1),
            ("SUBSCRIBE z", 1),
            ("RESET", 1),
            ("SET {t}r 2", 1),
        ],
    );
    // no backend keeps a subscription of the client (its connections
    // close asynchronously: wait, bounded, for the servers to see it)
    let mut publisher = RespConn::connect(pool.port);
    for ch in ["x", "y", "z"] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let cmd = format!("PUBLISH {ch} m");
        while publisher.call_words(&cmd) != b":0\r\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "{ch} still subscribed"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
