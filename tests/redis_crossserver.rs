#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Commands with several keys that are forwarded whole (issue 14 item 5):
//! with keys on two servers the proxy answers `-CROSSSLOT ...` and the
//! connection stays; with one hash tag the reply is byte for byte a direct
//! redis-server's. Also the key positions of the command table against
//! redis-server's own `COMMAND GETKEYS`, and its arities against `COMMAND
//! INFO` (issue 14 item 4).

mod common;

use common::{start_redis, start_redis_pool, RespConn};
use nutcracker::proto::redis::{key_positions, Cmd};

const CROSS: &[u8] = b"-CROSSSLOT Keys in request don't hash to the same server\r\n";

/// One case per line: `setup ; ... => request`, `A` and `B` standing for
/// two keys. Every command of issue 14 item 5 is here.
const MATRIX: &str = r#"
SADD A 1 2 3 ; SADD B 2 3 4 => SINTER A B
SADD A 1 2 3 ; SADD B 2 3 4 => SUNION A B
SADD A 1 2 3 ; SADD B 2 3 4 => SDIFF A B
SADD B 2 3 4 => SINTERSTORE A B
SADD B 2 3 4 => SUNIONSTORE A B
SADD B 2 3 4 => SDIFFSTORE A B
SADD A 1 2 3 => SMOVE A B 1
SADD A 1 2 3 ; SADD B 2 3 4 => SINTERCARD 2 A B
SET A 1 => RENAME A B
SET A 1 => RENAMENX A B
RPUSH A 1 2 => RPOPLPUSH A B
RPUSH A 1 2 => LMOVE A B LEFT RIGHT
RPUSH B 1 2 => LMPOP 2 A B LEFT COUNT 5
SET A 1 => COPY A B
ZADD B 1 x 2 y => ZUNIONSTORE A 1 B
ZADD B 1 x 2 y => ZINTERSTORE A 1 B
ZADD B 1 x 2 y => ZDIFFSTORE A 1 B
ZADD B 1 x 2 y => ZRANGESTORE A B 0 -1
ZADD A 1 x 2 y ; ZADD B 3 y => ZUNION 2 A B WITHSCORES
ZADD A 1 x 2 y ; ZADD B 3 y => ZINTER 2 A B WITHSCORES
ZADD A 1 x 2 y ; ZADD B 3 y => ZDIFF 2 A B
ZADD A 1 x 2 y ; ZADD B 3 y => ZINTERCARD 2 A B
ZADD B 1 x 2 y => ZMPOP 2 A B MAX
PFADD A x y ; PFADD B y z => PFMERGE A B
PFADD A x y ; PFADD B y z => PFCOUNT A B
SET A "\xff" ; SET B "\x0f" => BITOP AND A A B
SET B x => MSETNX A 1 B 2
SET A 1 ; SET B 2 => EVAL "return {KEYS[1],KEYS[2],redis.call('GET',KEYS[2])}" 2 A B x
SET A 1 ; SET B 2 => EVAL "return {KEYS[1],KEYS[2]}" 2 A B ; EVALSHA 3905aac1828a8f75707b48e446988eaaeb173f13 2 A B
SET A 1 ; SET B 2 => EVAL_RO "return redis.call('GET',KEYS[2])" 2 A B
SET A 1 ; SET B 2 => EVAL "return {KEYS[1],KEYS[2]}" 2 A B ; EVALSHA_RO 3905aac1828a8f75707b48e446988eaaeb173f13 2 A B
SET A 1 ; SET B 2 => FCALL keys 2 A B
SET A 1 ; SET B 2 => FCALL_RO keys_ro 2 A B
RPUSH A 3 1 2 => SORT A STORE B
RPUSH A 3 1 2 => SORT A DESC LIMIT 0 2 STORE B
GEOADD A 13.361389 38.115556 Palermo 15.087269 37.502669 Catania => GEORADIUS A 15 37 200 km STORE B
GEOADD A 13.361389 38.115556 Palermo 15.087269 37.502669 Catania => GEORADIUS A 15 37 200 km STOREDIST B
GEOADD A 13.361389 38.115556 Palermo 15.087269 37.502669 Catania => GEORADIUSBYMEMBER A Palermo 200 km STORE B
GEOADD A 13.361389 38.115556 Palermo 15.087269 37.502669 Catania => GEORADIUSBYMEMBER A Palermo 200 km STOREDIST B
GEOADD A 13.361389 38.115556 Palermo 15.087269 37.502669 Catania => GEOSEARCHSTORE B A FROMLONLAT 15 37 BYRADIUS 200 km
SET A ohmytext ; SET B mynewtext => LCS A B
"#;

/// A function library with `keys` and `keys_ro`, loaded on every server.
const LIBRARY: &str = "#!lua name=crosslib
redis.register_function('keys', function(keys, args) return keys end)
redis.register_function{function_name='keys_ro', callback=function(keys, args) return keys end, flags={'no-writes'}}";

/// Splits a statement into words: spaces separate, `"..."` quotes a word
/// with `\xHH` escapes.
fn words(stmt: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = stmt.trim();
    while !rest.is_empty() {
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap();
            let mut w = Vec::new();
            let mut b = &q.as_bytes()[..end];
            while let Some((&c, tail)) = b.split_first() {
                if c == b'\\' && tail.first() == Some(&b'x') {
                    let hex = std::str::from_utf8(&tail[1..3]).unwrap();
                    w.push(u8::from_str_radix(hex, 16).unwrap());
                    b = &tail[3..];
                } else {
                    w.push(c);
                    b = tail;
                }
            }
            out.push(w);
            rest = q[end + 1..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            out.push(rest.as_bytes()[..end].to_vec());
            rest = rest[end..].trim_start();
        }
    }
    out
}

/// `stmt`'s words with `A` and `B` replaced by `a` and `b`.
fn bind(stmt: &str, a: &str, b: &str) -> Vec<Vec<u8>> {
    words(stmt)
        .into_iter()
        .map(|w| match w.as_slice() {
            b"A" => a.as_bytes().to_vec(),
            b"B" => b.as_bytes().to_vec(),
            _ => w,
        })
        .collect()
}

fn call(c: &mut RespConn, args: &[Vec<u8>]) -> Vec<u8> {
    let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    c.call(&argv)
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned()
}

/// The cases of `MATRIX`: (setup statements, requests).
fn cases() -> Vec<(Vec<&'static str>, Vec<&'static str>)> {
    MATRIX
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (setup, reqs) = l.split_once(" => ").unwrap();
            (setup.split(" ; ").collect(), reqs.split(" ; ").collect())
        })
        .collect()
}

#[test]
fn keys_on_two_servers_get_crossslot_and_the_connection_stays() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    for port in pool.backends.iter().map(|b| b.port).chain([direct.port]) {
        let mut c = RespConn::connect(port);
        assert_eq!(
            c.call(&[b"FUNCTION", b"LOAD", LIBRARY.as_bytes()]),
            b"$8\r\ncrosslib\r\n"
        );
    }
    // Two tags on different servers (fnv1a_64 puts similar tags together:
    // try several).
    let tags: Vec<String> = (0..40).map(|i| format!("{{zt{i}}}")).collect();
    let at = |t: &String, px: &mut RespConn| pool.route_of(px, t.as_bytes());
    let t0 = &tags[0];
    let s0 = at(t0, &mut px);
    let t1 = tags.iter().find(|t| at(t, &mut px) != s0).unwrap();
    let (far_a, far_b) = (format!("{t0}a"), format!("{t1}b"));
    let (near_a, near_b) = (format!("{t0}na"), format!("{t0}nb"));
    let mut commands = std::collections::BTreeSet::new();
    let mut same = 0;
    for (setup, reqs) in cases() {
        let flush = |c: &mut RespConn| assert_eq!(c.call(&[b"FLUSHALL"]), b"+OK\r\n");
        pool.backends
            .iter()
            .for_each(|b| flush(&mut RespConn::connect(b.port)));
        flush(&mut dr);
        // Keys on two servers: every request is refused, nothing runs.
        for stmt in &setup {
            let args = bind(stmt, &far_a, &far_b);
            assert_ne!(call(&mut px, &args)[0], b'-', "{stmt}");
        }
        let before: Vec<Vec<u8>> = [&far_a, &far_b]
            .iter()
            .map(|k| px.call(&[b"DUMP", k.as_bytes()]))
            .collect();
        for stmt in &reqs {
            let args = bind(stmt, &far_a, &far_b);
            let name = String::from_utf8(args[0].clone()).unwrap().to_uppercase();
            let got = call(&mut px, &args);
            assert_eq!(show(&got), show(CROSS), "{stmt}");
            assert_eq!(px.call(&[b"PING"]), b"+PONG\r\n", "{stmt}: connection");
            commands.insert(name);
        }
        let after: Vec<Vec<u8>> = [&far_a, &far_b]
            .iter()
            .map(|k| px.call(&[b"DUMP", k.as_bytes()]))
            .collect();
        assert_eq!(after, before, "{reqs:?}: a refused request changed a key");
        // One hash tag: the same bytes as a direct redis.
        for stmt in setup.iter().chain(&reqs) {
            let args = bind(stmt, &near_a, &near_b);
            let want = call(&mut dr, &args);
            let got = call(&mut px, &args);
            assert_eq!(show(&got), show(&want), "{stmt}");
            assert_ne!(got[0], b'-', "{stmt}: {}", show(&got));
            same += 1;
        }
        let want: Vec<Vec<u8>> = [&near_a, &near_b]
            .iter()
            .map(|k| dr.call(&[b"DUMP", k.as_bytes()]))
            .collect();
        let got: Vec<Vec<u8>> = [&near_a, &near_b]
            .iter()
            .map(|k| px.call(&[b"DUMP", k.as_bytes()]))
            .collect();
        assert_eq!(got, want, "{reqs:?}: keys differ from a direct redis");
    }
    // Every command of item 5 was refused at least once.
    for name in [
        "SINTER",
        "SUNION",
        "SDIFF",
        "SINTERSTORE",
        "SUNIONSTORE",
        "SDIFFSTORE",
        "SMOVE",
        "RENAME",
        "RENAMENX",
        "RPOPLPUSH",
        "LMOVE",
        "COPY",
        "ZUNIONSTORE",
        "ZINTERSTORE",
        "ZDIFFSTORE",
        "ZRANGESTORE",
        "ZUNION",
        "ZINTER",
        "ZDIFF",
        "PFMERGE",
        "PFCOUNT",
        "BITOP",
        "SINTERCARD",
        "ZINTERCARD",
        "LMPOP",
        "ZMPOP",
        "MSETNX",
        "EVAL",
        "EVALSHA",
        "EVAL_RO",
        "EVALSHA_RO",
        "FCALL",
        "FCALL_RO",
        "SORT",
        "GEORADIUS",
        "GEORADIUSBYMEMBER",
        "GEOSEARCHSTORE",
        "LCS",
    ] {
        assert!(commands.contains(name), "{name} not in the matrix");
    }
    eprintln!(
        "{} commands refused, {same} statements matched",
        commands.len()
    );
}

/// Single-key forms of the same commands are not refused, and fragmented
/// commands (MGET, DEL, MSET, ...) still split over servers.
#[test]
fn one_key_and_fragmented_commands_are_not_refused() {
    let pool = start_redis_pool(3, "", &[]);
    let mut px = RespConn::connect(pool.port);
    let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
    let servers: std::collections::BTreeSet<usize> = keys
        .iter()
        .map(|k| pool.route_of(&mut px, k.as_bytes()))
        .collect();
    assert!(servers.len() >= 2, "keys all on one server");
    assert_eq!(px.call_words("SADD k0 1 2"), b":2\r\n");
    assert_eq!(px.call_words("SINTER k0"), px.call_words("SMEMBERS k0"));
    assert_eq!(px.call_words("PFCOUNT k5"), b":0\r\n");
    let mset = keys
        .iter()
        .map(|k| format!("{k} v"))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(px.call_words(&format!("MSET {mset}")), b"+OK\r\n");
    let del = px.call_words(&format!("DEL {}", keys.join(" ")));
    assert_eq!(del, b":12\r\n");
}

/// With `distribution: random` a key has no home server: a request with
/// several keys goes whole to one server, as in 0.5.0.
#[test]
fn random_distribution_forwards_several_keys() {
    let pool = start_redis_pool(2, "  distribution: random\n", &[]);
    let mut px = RespConn::connect(pool.port);
    for _ in 0..20 {
        assert_eq!(px.call_words("SINTER a b"), b"*0\r\n");
    }
}

/// Requests covering every served command that has keys, with distinct
/// key names: the keys the proxy's table finds equal redis's own
/// `COMMAND GETKEYS` (`-` marks a request redis says has no key).
const GETKEYS: &str = r#"
APPEND k v ; BITCOUNT k ; BITFIELD k GET u8 0 ; BITFIELD_RO k GET u8 0 ; BITPOS k 1
BITOP AND d a b c ; COPY s d REPLACE ; DECR k ; DECRBY k 1 ; DEL a b c ; DUMP k
EVAL s 2 a b x ; EVALSHA s 1 a x ; EVAL_RO s 3 a b c ; EVALSHA_RO s 1 a ; FCALL f 2 a b ; FCALL_RO f 1 a x
EXISTS a b ; EXPIRE k 1 NX ; EXPIREAT k 1 ; EXPIRETIME k ; PEXPIRE k 1 GT ; PEXPIREAT k 1 ; PEXPIRETIME k
GEOADD k 1 2 m ; GEODIST k a b ; GEOHASH k m ; GEOPOS k m ; GEORADIUS_RO k 1 2 3 km ; GEORADIUSBYMEMBER_RO k m 3 km
GEORADIUS k 1 2 3 km ; GEORADIUS k 1 2 3 km STORE d ; GEORADIUS k 1 2 3 km ASC STOREDIST d COUNT 3
GEORADIUSBYMEMBER k m 3 km STORE d ; GEOSEARCH k FROMMEMBER m BYRADIUS 1 km ; GEOSEARCHSTORE d k FROMMEMBER m BYRADIUS 1 km
GET k ; GETBIT k 1 ; GETDEL k ; GETEX k PERSIST ; GETRANGE k 0 1 ; GETSET k v ; SUBSTR k 0 1
HDEL k f ; HEXISTS k f ; HGET k f ; HGETALL k ; HINCRBY k f 1 ; HINCRBYFLOAT k f 1 ; HKEYS k ; HLEN k ; HMGET k f g
HMSET k f v ; HRANDFIELD k 2 ; HSCAN k 0 ; HSET k f v ; HSETNX k f v ; HSTRLEN k f ; HVALS k
INCR k ; INCRBY k 1 ; INCRBYFLOAT k 1 ; LCS a b LEN ; LINDEX k 0 ; LINSERT k BEFORE a b ; LLEN k
LMOVE s d LEFT RIGHT ; LMPOP 2 a b LEFT ; LPOP k ; LPOS k v RANK 1 ; LPUSH k v ; LPUSHX k v ; LRANGE k 0 1
LREM k 0 v ; LSET k 0 v ; LTRIM k 0 1 ; MGET a b ; MSET a 1 b 2 ; MSETNX a 1 b 2 ; OBJECT ENCODING k ; OBJECT FREQ k
PERSIST k ; PFADD k x ; PFCOUNT a b ; PFMERGE d a b ; PSETEX k 1 v ; PTTL k ; RENAME a b ; RENAMENX a b
RESTORE k 0 x ; RPOP k ; RPOPLPUSH s d ; RPUSH k v ; RPUSHX k v ; SADD k m ; SCARD k ; SDIFF a b ; SDIFFSTORE d a b
SET k v GET EXAT 1 ; SETBIT k 1 1 ; SETEX k 1 v ; SETNX k v ; SETRANGE k 0 v ; SINTER a b c ; SINTERCARD 2 a b LIMIT 1
SINTERSTORE d a b ; SISMEMBER k m ; SMEMBERS k ; SMISMEMBER k a b ; SMOVE s d m ; SPOP k ; SRANDMEMBER k 2 ; SREM k m ; SSCAN k 0
SORT k ; SORT k BY w GET g LIMIT 0 1 STORE d ; SORT k STORE x STORE d ; SORT_RO k BY w ; STRLEN k ; SUNION a b ; SUNIONSTORE d a b
TOUCH a b ; TTL k ; TYPE k ; UNLINK a b
XACK k g 1-1 ; XADD k * f v ; XAUTOCLAIM k g c 0 0 ; XCLAIM k g c 0 1-1 ; XDEL k 1-1 ; XGROUP CREATE k g $ ; XGROUP DESTROY k g
XGROUP CREATECONSUMER k g c ; XGROUP DELCONSUMER k g c ; XGROUP SETID k g $ ; XINFO STREAM k ; XINFO GROUPS k ; XINFO CONSUMERS k g
XLEN k ; XPENDING k g ; XRANGE k - + ; XREVRANGE k + - ; XSETID k 1-1 ; XTRIM k MAXLEN 1
ZADD k 1 m ; ZCARD k ; ZCOUNT k 0 1 ; ZDIFF 2 a b ; ZDIFFSTORE d 2 a b ; ZINCRBY k 1 m ; ZINTER 2 a b ; ZINTERCARD 2 a b
ZINTERSTORE d 2 a b WEIGHTS 1 2 ; ZLEXCOUNT k - + ; ZMPOP 2 a b MIN ; ZMSCORE k a b ; ZPOPMAX k ; ZPOPMIN k ; ZRANDMEMBER k
ZRANGE k 0 1 ; ZRANGEBYLEX k - + ; ZRANGEBYSCORE k 0 1 ; ZRANGESTORE d s 0 1 ; ZRANK k m ; ZREM k m ; ZREMRANGEBYLEX k - +
ZREMRANGEBYRANK k 0 1 ; ZREMRANGEBYSCORE k 0 1 ; ZREVRANGE k 0 1 ; ZREVRANGEBYLEX k + - ; ZREVRANGEBYSCORE k 1 0
ZREVRANK k m ; ZSCAN k 0 ; ZSCORE k m ; ZUNION 3 a b c ; ZUNIONSTORE d 1 a
BLPOP a b 0 ; BRPOP a 1 ; BZPOPMIN a b c 0.5 ; BZPOPMAX a 1 ; BRPOPLPUSH s d 0 ; BLMOVE s d LEFT RIGHT 0
BLMPOP 0 2 a b LEFT ; BZMPOP 1 1 a MIN COUNT 2 ; WATCH a b c
XREAD STREAMS a b 0 0 ; XREAD COUNT 2 BLOCK 10 STREAMS a 0 ; XREADGROUP GROUP g c BLOCK 1 NOACK STREAMS a b > >
"#;

/// The key names of a `COMMAND GETKEYS` reply (an array of bulks).
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let text = reply.split(|&b| b == b'\n').collect::<Vec<_>>();
    let mut out = Vec::new();
    for (i, line) in text.iter().enumerate() {
        if line.first() == Some(&b'$') {
            out.push(text[i + 1].strip_suffix(b"\r").unwrap().to_vec());
        }
    }
    out
}

#[test]
fn key_positions_equal_redis_command_getkeys() {
    let direct = start_redis();
    let mut dr = RespConn::connect(direct.port);
    let mut covered = std::collections::BTreeSet::new();
    for stmt in GETKEYS
        .split([';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let args = words(stmt);
        let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let cmd = Cmd::lookup(argv[0]).unwrap_or_else(|| panic!("{stmt}: unknown"));
        assert!(cmd.supported(), "{stmt}: not served");
        assert!(cmd.arity_ok(argv.len() as u32), "{stmt}: arity");
        covered.insert(cmd.name());
        let ours: Vec<&[u8]> = key_positions(cmd.keys(), &argv)
            .into_iter()
            .map(|i| argv[i])
            .collect();
        let mut req: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
        req.extend(&argv);
        let reply = dr.call(&req);
        assert_eq!(reply[0], b'*', "{stmt}: {}", show(&reply));
        let theirs = bulks(&reply);
        assert_eq!(ours, theirs, "{stmt}");
    }
    let missing: Vec<&str> = Cmd::ALL
        .iter()
        .filter(|c| c.supported() && c.keys() != nutcracker::proto::redis::Keys::None)
        .map(|c| c.name())
        // Pub/Sub routes on channels, which redis does not call keys.
        .filter(|n| !covered.contains(n))
        .filter(|n| !n.contains("SUBSCRIBE") && *n != "PUBLISH")
        .collect();
    assert!(missing.is_empty(), "no GETKEYS case for {missing:?}");
}

/// The arity of every served command is redis's (`COMMAND INFO`), except
/// QUIT's, which 0.5.0 keeps (answered locally, no argument; PING's one
/// message at most is checked apart from the arity).
#[test]
fn arities_equal_redis_command_info() {
    let direct = start_redis();
    let mut dr = RespConn::connect(direct.port);
    for &c in Cmd::ALL.iter().filter(|c| c.supported()) {
        if matches!(c, Cmd::Quit) {
            continue;
        }
        let reply = dr.call(&[b"COMMAND", b"INFO", c.name().as_bytes()]);
        // *1 *N $len name :arity ...
        let text = String::from_utf8_lossy(&reply);
        let arity: i64 = text
            .lines()
            .find_map(|l| l.strip_prefix(':'))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: {}", c.name(), show(&reply)));
        assert_eq!(i64::from(c.arity()), arity, "{}", c.name());
    }
}
