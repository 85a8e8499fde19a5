#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `redis_auth` and `redis_db` (§REDIS.6, §REDIS.7, issue 5 point 5): clients
//! must AUTH first, a wrong password de-authenticates, AUTH on a pool
//! without a password is refused; on every new backend connection the
//! proxy sends AUTH before SELECT, so on password-protected backends the
//! keys land in db N (0.5.0 sent SELECT first and wrote to db 0: its #491).
//!
//! Redis 6's `AUTH user pass` (0.5.0 closed the connection): the user
//! `default` with the `redis_auth` password, answered with redis 7's bytes
//! (compared with a real redis-server), as redis-py and redis-cli send it.

mod common;

use common::{
    python, redis_pool_yaml, resp, start_redis, start_redis_pool, wait_tcp, Proxy, Redis,
    RedisPool, RespConn,
};

const NOAUTH: &[u8] = b"-NOAUTH Authentication required\r\n";

fn dbsize(port: u16, auth: Option<&str>, db: u32) -> String {
    let mut c = RespConn::connect(port);
    if let Some(pw) = auth {
        assert_eq!(c.call_words(&format!("AUTH {pw}")), b"+OK\r\n");
    }
    assert_eq!(c.call_words(&format!("SELECT {db}")), b"+OK\r\n");
    String::from_utf8(c.call_words("DBSIZE")).unwrap()
}

fn total_keys(pool: &RedisPool, auth: Option<&str>, db: u32) -> u64 {
    pool.backends
        .iter()
        .map(|b| {
            let r = dbsize(b.port, auth, db);
            r[1..r.len() - 2].parse::<u64>().unwrap()
        })
        .sum()
}

#[test]
fn clients_must_auth_first() {
    let pool = start_redis_pool(3, "  redis_auth: s3cret\n", &[]);
    let mut c = RespConn::connect(pool.port);
    for cmd in [
        "GET k",
        "SET k v",
        "PING",
        "MGET a b c",
        "DEL a b",
        "COMMAND",
    ] {
        assert_eq!(c.call_words(cmd), NOAUTH, "{cmd}");
    }
    // As in redis, a command the proxy does not serve is refused as such
    // before authentication is considered.
    assert_eq!(
        c.call_words("KEYS *"),
        b"-ERR unsupported command 'KEYS'\r\n"
    );
    for cmd in ["SELECT 0", "ECHO x", "CLIENT ID", "CLIENT SETNAME n"] {
        assert_eq!(c.call_words(cmd), NOAUTH, "{cmd}");
    }
    assert_eq!(total_keys(&pool, None, 0), 0, "an unauthenticated SET ran");
    assert_eq!(c.call_words("AUTH wrong"), b"-ERR invalid password\r\n");
    assert_eq!(c.call_words("AUTH s3cre"), b"-ERR invalid password\r\n");
    assert_eq!(c.call_words("GET k"), NOAUTH);
    assert_eq!(c.call_words("AUTH s3cret"), b"+OK\r\n");
    assert_eq!(c.call_words("SET k v"), b"+OK\r\n");
    assert_eq!(c.call_words("MSET a 1 b 2 c 3"), b"+OK\r\n");
    assert_eq!(
        c.call_words("MGET a b c k"),
        b"*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\nv\r\n"
    );
    assert_eq!(c.call_words("PING"), b"+PONG\r\n");
    // A second client is not authenticated by the first one's AUTH.
    let mut other = RespConn::connect(pool.port);
    assert_eq!(other.call_words("GET k"), NOAUTH);
    // A wrong password de-authenticates.
    assert_eq!(c.call_words("AUTH nope"), b"-ERR invalid password\r\n");
    assert_eq!(c.call_words("GET k"), NOAUTH);
    assert_eq!(c.call_words("AUTH s3cret"), b"+OK\r\n");
    assert_eq!(c.call_words("GET k"), b"$1\r\nv\r\n");
    // Pipelined: AUTH takes effect in order.
    let mut p = RespConn::connect(pool.port);
    let mut req = common::resp_words("GET k");
    req.extend(common::resp_words("AUTH s3cret"));
    req.extend(common::resp_words("GET k"));
    req.extend(common::resp_words("AUTH bad"));
    req.extend(common::resp_words("GET k"));
    p.send(&req);
    for want in [
        NOAUTH,
        b"+OK\r\n",
        b"$1\r\nv\r\n",
        b"-ERR invalid password\r\n",
        NOAUTH,
    ] {
        assert_eq!(
            String::from_utf8_lossy(&p.read()),
            String::from_utf8_lossy(want)
        );
    }
    // QUIT needs no AUTH.
    assert_eq!(other.call_words("QUIT"), b"+OK\r\n");
    assert!(other.closed());
}

#[test]
fn auth_without_redis_auth_is_refused() {
    let pool = start_redis_pool(3, "", &[]);
    let mut c = RespConn::connect(pool.port);
    assert_eq!(
        c.call_words("AUTH whatever"),
        b"-ERR Client sent AUTH, but no password is set\r\n"
    );
    assert_eq!(c.call_words("SET k v"), b"+OK\r\n");
    assert_eq!(c.call_words("GET k"), b"$1\r\nv\r\n");
}

#[test]
fn protected_backends_get_auth_then_select() {
    let pool = start_redis_pool(3, "  redis_auth: pw0\n  redis_db: 3\n", &[]);
    for b in &pool.backends {
        let mut d = RespConn::connect(b.port);
        assert_eq!(d.call_words("CONFIG SET requirepass pw0"), b"+OK\r\n");
    }
    let mut c = RespConn::connect(pool.port);
    assert_eq!(c.call_words("AUTH pw0"), b"+OK\r\n");
    let keys: Vec<String> = (0..200).map(|i| format!("{i}:db")).collect();
    for k in &keys[..100] {
        assert_eq!(c.call_words(&format!("SET {k} x")), b"+OK\r\n");
    }
    let mset: Vec<String> = keys[100..].iter().map(|k| format!("{k} y")).collect();
    assert_eq!(
        c.call_words(&format!("MSET {}", mset.join(" "))),
        b"+OK\r\n"
    );
    let mget = c.call_words(&format!("MGET {}", keys.join(" ")));
    assert!(mget.starts_with(b"*200\r\n$1\r\nx\r\n"));
    assert_eq!(mget.iter().filter(|&&b| b == b'y').count(), 100);
    // Directly on the backends: every key in db 3, none in db 0.
    assert_eq!(total_keys(&pool, Some("pw0"), 3), 200);
    assert_eq!(total_keys(&pool, Some("pw0"), 0), 0);
    for b in &pool.backends {
        let r = dbsize(b.port, Some("pw0"), 3);
        assert_ne!(r, ":0\r\n", "backend {} got no key", b.port);
    }
    // A second client's requests share the set-up backend connections.
    let mut d = RespConn::connect(pool.port);
    assert_eq!(d.call_words("AUTH pw0"), b"+OK\r\n");
    assert_eq!(d.call_words("GET 7:db"), b"$1\r\nx\r\n");
}

/// `redis_db` alone (no password): keys land in that db too.
#[test]
fn redis_db_without_auth() {
    let pool = start_redis_pool(3, "  redis_db: 2\n", &[]);
    let mut c = RespConn::connect(pool.port);
    let pairs: Vec<String> = (0..100).map(|i| format!("{i}:r {i}")).collect();
    assert_eq!(
        c.call_words(&format!("MSET {}", pairs.join(" "))),
        b"+OK\r\n"
    );
    assert_eq!(c.call_words("GET 42:r"), b"$2\r\n42\r\n");
    assert_eq!(total_keys(&pool, None, 2), 100);
    assert_eq!(total_keys(&pool, None, 0), 0);
}

const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";

/// Sends `reqs` pipelined on a new connection to `port` and reads a reply
/// to each.
fn exchange(port: u16, reqs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut c = RespConn::connect(port);
    c.send(&reqs.concat());
    reqs.iter().map(|_| c.read()).collect()
}

fn show(replies: &[Vec<u8>]) -> String {
    replies.iter().map(|r| String::from_utf8_lossy(r)).collect()
}

/// A redis-server, with `requirepass` when `password` is given, and a proxy
/// whose one pool has it as its server and the same password as
/// `redis_auth`: the redis-server is both the backend and the reference.
fn server_and_pool(password: Option<&str>) -> (Redis, Proxy, u16) {
    let redis = start_redis();
    let mut extra = String::new();
    if let Some(pw) = password {
        let set =
            RespConn::connect(redis.port).call(&[b"CONFIG", b"SET", b"requirepass", pw.as_bytes()]);
        assert_eq!(set, b"+OK\r\n");
        extra = format!("  redis_auth: {pw}\n");
    }
    let listen = common::free_port();
    let proxy = Proxy::start(&redis_pool_yaml(listen, redis.port, &extra), &[]);
    assert!(
        wait_tcp(listen),
        "pool did not listen:\n{}",
        proxy.log_text()
    );
    (redis, proxy, listen)
}

/// AUTH with no, two or three arguments, alone and followed by a GET, gets
/// the bytes a redis-server 7 with the same password (or none) sends.
#[test]
fn auth_user_pass_answers_as_redis() {
    for password in [Some("s3cret"), None] {
        let (redis, _proxy, listen) = server_and_pool(password);
        let cases: Vec<Vec<Vec<u8>>> = vec![
            vec![resp(&[b"AUTH"])],
            vec![
                resp(&[b"AUTH", b"default", b"s3cret"]),
                resp(&[b"GET", b"k"]),
            ],
            vec![
                resp(&[b"auth", b"default", b"s3cret"]),
                resp(&[b"SET", b"k", b"v"]),
            ],
            vec![resp(&[b"AUTH", b"default", b"wrong"])],
            vec![resp(&[b"AUTH", b"default", b""])],
            vec![resp(&[b"AUTH", b"DEFAULT", b"s3cret"])],
            vec![resp(&[b"AUTH", b"bob", b"s3cret"])],
            vec![resp(&[b"AUTH", b"bob", b"x"])],
            vec![resp(&[b"AUTH", b"default", b"s3cret", b"x"])],
            vec![resp(&[b"AUTH", b"a", b"b", b"c", b"d"])],
            // a syntax error changes nothing: still logged in
            vec![
                resp(&[b"AUTH", b"default", b"s3cret"]),
                resp(&[b"AUTH", b"a", b"b", b"c"]),
                resp(&[b"AUTH"]),
                resp(&[b"GET", b"k"]),
            ],
            vec![b"AUTH default s3cret\r\n".to_vec(), b"GET k\r\n".to_vec()],
        ];
        for reqs in &cases {
            let want = exchange(redis.port, reqs);
            let got = exchange(listen, reqs);
            assert_eq!(
                show(&got),
                show(&want),
                "{password:?}: {} (proxy left, redis right)",
                show(reqs)
            );
        }
        // The user-pass pairs of each pool, so the comparisons above had
        // something to compare.
        let one = |words: &str| exchange(listen, &[common::resp_words(words)]).concat();
        assert_eq!(one("AUTH default s3cret"), b"+OK\r\n");
        let other = if password.is_some() {
            WRONGPASS
        } else {
            b"+OK\r\n"
        };
        assert_eq!(one("AUTH default other"), other);
        assert_eq!(one("AUTH bob s3cret"), WRONGPASS);
        assert_eq!(one("AUTH a b c"), b"-ERR syntax error\r\n");
    }
}

/// Where the proxy keeps 0.5.0's ways: the one-argument form's replies, and
/// a refused AUTH (either form) de-authenticates (redis keeps the login).
#[test]
fn auth_forms_share_one_login() {
    let pool = start_redis_pool(2, "  redis_auth: s3cret\n", &[]);
    let mut c = RespConn::connect(pool.port);
    assert_eq!(c.call_words("AUTH default s3cret"), b"+OK\r\n");
    assert_eq!(c.call_words("SET k v"), b"+OK\r\n");
    assert_eq!(c.call_words("AUTH default nope"), WRONGPASS);
    assert_eq!(c.call_words("GET k"), NOAUTH);
    assert_eq!(c.call_words("AUTH s3cret"), b"+OK\r\n");
    assert_eq!(c.call_words("GET k"), b"$1\r\nv\r\n");
    assert_eq!(c.call_words("AUTH bob s3cret"), WRONGPASS);
    assert_eq!(c.call_words("GET k"), NOAUTH);
    assert_eq!(c.call_words("AUTH default s3cret"), b"+OK\r\n");
    assert_eq!(c.call_words("AUTH nope"), b"-ERR invalid password\r\n");
    assert_eq!(c.call_words("GET k"), NOAUTH);
    // pipelined, in order, the two forms mixed
    let words = [
        "AUTH default s3cret",
        "GET k",
        "AUTH x y",
        "GET k",
        "AUTH s3cret",
        "GET k",
    ];
    let reqs: Vec<Vec<u8>> = words.iter().map(|w| common::resp_words(w)).collect();
    let want: &[&[u8]] = &[
        b"+OK\r\n",
        b"$1\r\nv\r\n",
        WRONGPASS,
        NOAUTH,
        b"+OK\r\n",
        b"$1\r\nv\r\n",
    ];
    assert_eq!(
        String::from_utf8_lossy(&exchange(pool.port, &reqs).concat()),
        String::from_utf8_lossy(&want.concat())
    );
    // without redis_auth: `default` takes any password, other users none
    let open = start_redis_pool(1, "", &[]);
    let mut o = RespConn::connect(open.port);
    assert_eq!(o.call_words("AUTH default anything"), b"+OK\r\n");
    assert_eq!(o.call_words("AUTH bob anything"), WRONGPASS);
    assert_eq!(
        o.call_words("SET k v"),
        b"+OK\r\n",
        "an auth-less pool lets everyone in"
    );
}

/// redis-py with `username="default"` logs in through `AUTH default pw`
/// (protocol=2) and `HELLO 3 AUTH default pw` (its default), and a wrong
/// user or password is its AuthenticationError, as against redis itself.
#[test]
fn redis_py_with_username() {
    let (redis, _proxy, listen) = server_and_pool(Some("s3cret"));
    // `once`: redis-py retries a refused login with backoff (seconds) by default
    let script = "import redis,redis.retry,redis.backoff,sys\n\
         p=int(sys.argv[1])\n\
         once=redis.retry.Retry(redis.backoff.NoBackoff(), 0)\n\
         for kw in ({'protocol': 2}, {}):\n\
         \x20   r=redis.Redis(port=p, username='default', password='s3cret', **kw)\n\
         \x20   print(r.set('py', 'x'), r.get('py'), r.hgetall('nosuch'), r.delete('py'))\n\
         \x20   for user, pw in (('bob', 's3cret'), ('default', 'bad'), ('DEFAULT', 's3cret')):\n\
         \x20       try:\n\
         \x20           redis.Redis(port=p, username=user, password=pw, retry=once, **kw).ping()\n\
         \x20           print(user, 'accepted')\n\
         \x20       except redis.exceptions.AuthenticationError as e:\n\
         \x20           print(user, 'refused:', e)\n";
    let got = python(script, &[&listen.to_string()]);
    let want = python(script, &[&redis.port.to_string()]);
    assert_eq!(got, want, "proxy (left) and direct redis (right) differ");
    assert!(got.starts_with("True b'x' {} 1\nbob refused: "), "{got}");
    assert_eq!(got.matches("refused").count(), 6, "{got}");
}

/// `redis-cli --user default --pass pw` sends `AUTH default pw`.
#[test]
fn redis_cli_with_user() {
    let (redis, _proxy, listen) = server_and_pool(Some("s3cret"));
    let cli = |port: u16, user: &str, cmd: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["--user", user, "--pass", "s3cret", "--no-auth-warning"])
            .args(cmd)
            .output()
            .expect("redis-cli");
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        text.into_owned()
    };
    for port in [listen, redis.port] {
        assert_eq!(
            cli(port, "default", &["SET", "cli", "1"]),
            "OK\n",
            "port {port}"
        );
        assert_eq!(cli(port, "default", &["GET", "cli"]), "1\n", "port {port}");
    }
    // refused as by redis; the GET's NOAUTH is 0.5.0's (no final period)
    let failed = |out: String| {
        out.lines()
            .find(|l| l.starts_with("AUTH failed"))
            .map(str::to_owned)
    };
    let got = failed(cli(listen, "bob", &["GET", "cli"]));
    assert_eq!(got, failed(cli(redis.port, "bob", &["GET", "cli"])));
    assert!(got.is_some_and(|l| l.contains("WRONGPASS")));
}
