#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `redis_auth` and `redis_db` (§REDIS.6, §REDIS.7, issue 5 point 5): clients
//! must AUTH first, a wrong password de-authenticates, AUTH on a pool
//! without a password is refused; on every new backend connection the
//! proxy sends AUTH before SELECT, so on password-protected backends the
//! keys land in db N (0.5.0 sent SELECT first and wrote to db 0: its #491).

mod common;

use common::{start_redis_pool, RedisPool, RespConn};

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
