#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Every supported redis command through the proxy (issue 5, §REDIS.2-5):
//! for each command of `Cmd::ALL` that the proxy serves, a small scenario runs
//! against a 3-backend pool and against one direct redis-server holding the
//! same data, and the raw RESP replies must be equal byte for byte.
//! Also: binary and empty keys, EVAL/EVALSHA routed by their first key (the
//! request sent one byte per write, and with numkeys across a 512-byte
//! buffer boundary), ZUNION/ZINTER/ZDIFF routed by their first key.

mod common;

use common::{resp, start_redis, start_redis_pool, RespConn};
use nutcracker::proto::redis::Cmd;
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

/// One scenario per line: `;`-separated statements, each run on the proxy
/// and on the direct redis. A statement prefixed `~` compares only the reply
/// type (first byte), `^` only the first line (array length): replies that
/// are random (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, LOLWUT), depend on
/// the clock (TTL, PTTL) or on the server's hash seed (COMMAND's order).
/// A `!` prefix marks a statement whose reply must be an error (from
/// both); any other statement must not get an error.
/// Words are split on spaces; `"..."` quotes a word with `\xHH` escapes;
/// `@dump` is the bulk payload of the direct redis's previous reply.
/// Multi-key commands use one hash tag so their keys share a server.
const SCENARIOS: &str = r#"
LPUSH {q}l a b ; BLPOP {q}l 1 ; BRPOP {q}l 1 ; BLPOP {q}l 0.01 ; BRPOP {q}l {q}k 0.01
RPUSH {q}m x ; BRPOPLPUSH {q}m {q}n 1 ; BLMOVE {q}n {q}m LEFT RIGHT 1 ; ZADD {q}z 1 a 2 b ; BZPOPMIN {q}z 1 ; BZPOPMAX {q}z 1
XREAD COUNT 1 STREAMS {q}s 0 ; XREAD BLOCK 10 STREAMS {q}s {q}t $ $
RPUSH {q}o a b ; BLMPOP 1 2 {q}p {q}o LEFT COUNT 2 ; ZADD {q}y 1 a ; BZMPOP 1 1 {q}y MIN ; BZMPOP 0.01 1 {q}y MAX
XADD {q}x 1-1 f v ; XGROUP CREATE {q}x g 0 ; XREADGROUP GROUP g c COUNT 1 STREAMS {q}x > ; ~XREADGROUP GROUP g c BLOCK 10 STREAMS {q}x >
ECHO hi ; MULTI ; SET {t}x 1 ; ECHO e ; EXEC ; WATCH {t}x ; WAIT 0 0 ; UNWATCH ; MULTI ; DISCARD ; PUBLISH nobody hi
SET s:1 hello ; APPEND s:1 " world" ; GET s:1 ; STRLEN s:1 ; GETRANGE s:1 0 4 ; SETRANGE s:1 6 WORLD ; GET s:1
SET bits "\xff\xf0\x00" ; BITCOUNT bits ; BITCOUNT bits 1 1 ; BITPOS bits 0 ; BITPOS bits 1 2 ; GETBIT bits 3 ; SETBIT bits 20 1 ; GETBIT bits 20
BITFIELD bf INCRBY i5 100 1 GET u4 0 ; BITFIELD bf SET u8 0 255 GET u8 0
^COMMAND
SET {c}a 1 ; COPY {c}a {c}b ; GET {c}b ; COPY {c}a {c}b ; COPY {c}a {c}b REPLACE
SET n 10 ; DECR n ; DECRBY n 7 ; INCR n ; INCRBY n 100 ; INCRBYFLOAT n 0.5 ; GET n ; !INCR s:1
SET d1 v ; DEL d1 ; DEL d1 ; SET {d}a 1 ; SET {d}b 2 ; DEL {d}a {d}b {d}c
SET dump:k "va\r\nlue" ; DUMP dump:k ; RESTORE dump:r 0 @dump ; GET dump:r ; !RESTORE dump:r 0 @dump
EVAL "return {KEYS[1],ARGV[1]}" 1 ev:k argv1 ; EVALSHA bfbf458525d6a0b19200bfd6db3af481156b367b 1 ev:k argv2 ; !EVALSHA 0000000000000000000000000000000000000000 1 ev:k x ; EVAL "return redis.call('incr', KEYS[1])" 1 ev:n
SET {e}a 1 ; SET {e}b 2 ; EXISTS {e}a ; EXISTS {e}a {e}b {e}c {e}a
SET ex v ; EXPIRE ex 1000 ; ~TTL ex ; PERSIST ex ; TTL ex ; EXPIREAT ex 4000000000 ; PEXPIRE ex 1000000 ; ~PTTL ex ; PEXPIREAT ex 4000000000000 ; PERSIST ex ; PTTL ex ; TTL nosuch
GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania ; GEODIST geo Palermo Catania km ; GEOHASH geo Palermo Catania ; GEOPOS geo Palermo nosuch
GEOADD geo2 13.361389 38.115556 Palermo 15.087269 37.502669 Catania ; GEORADIUS geo2 15 37 200 km WITHDIST ASC ; GEORADIUSBYMEMBER geo2 Palermo 200 km ASC ; GEOSEARCH geo2 FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD
GEOADD {g}src 13.361389 38.115556 Palermo 15.087269 37.502669 Catania ; GEOSEARCHSTORE {g}dst {g}src FROMLONLAT 15 37 BYRADIUS 200 km ; ZRANGE {g}dst 0 -1
SET gs old ; GETSET gs new ; GETDEL gs ; GETDEL gs ; SET gx v ; GETEX gx EX 100 ; GETEX gx PERSIST ; TTL gx ; GET nosuch:key
HSET h f1 v1 f2 v2 ; HSETNX h f1 x ; HSETNX h f3 v3 ; HGET h f1 ; HEXISTS h f2 ; HDEL h f2 nosuch ; HGETALL h ; HKEYS h ; HVALS h ; HLEN h ; HMGET h f1 f2 f3 ; HSTRLEN h f1 ; HSCAN h 0
HMSET h2 a 1 b 2 ; HINCRBY h2 a 5 ; HINCRBYFLOAT h2 b 1.5 ; ~HRANDFIELD h2 ; ^HRANDFIELD h2 -5 ; HINCRBY h2 nosuch 1
RPUSH l a b c d ; LPUSH l z ; LPUSHX l y ; RPUSHX l e ; RPUSHX nolist e ; LRANGE l 0 -1 ; LLEN l ; LINDEX l 2 ; LINSERT l BEFORE c bb ; LPOS l c ; LSET l 0 Z ; LREM l 1 bb ; LTRIM l 0 4 ; LPOP l ; RPOP l 2 ; LRANGE l 0 -1
RPUSH {lm}a 1 2 3 ; LMOVE {lm}a {lm}b LEFT RIGHT ; RPOPLPUSH {lm}a {lm}b ; LRANGE {lm}b 0 -1
~LOLWUT ; ~LOLWUT VERSION 5
SET {m}a 1 ; MSET {m}a 10 {m}b 20 ; MGET {m}a {m}b {m}c ; MGET {m}a
PFADD {hll}a x y z ; PFADD {hll}b z w ; PFCOUNT {hll}a ; PFCOUNT {hll}a {hll}b ; PFMERGE {hll}c {hll}a {hll}b ; PFCOUNT {hll}c
PING ; PING hello ; ECHO hello ; ECHO "" ; SELECT 0 ; !SELECT x ; !SELECT -1
PSETEX ps 100000 v ; ~PTTL ps ; SETEX se 100 v ; ~TTL se ; SETNX sn 1 ; SETNX sn 2 ; GET sn ; SET sx v NX ; SET sx w XX GET ; TYPE sx ; TYPE h ; TYPE l ; TYPE nosuch
SADD {s}a 1 2 3 4 ; SADD {s}b 3 4 5 ; SCARD {s}a ; SISMEMBER {s}a 2 ; SMISMEMBER {s}a 1 9 ; SMEMBERS {s}a ; SDIFF {s}a {s}b ; SINTER {s}a {s}b ; SUNION {s}a {s}b ; SDIFFSTORE {s}d {s}a {s}b ; SINTERSTORE {s}i {s}a {s}b ; SUNIONSTORE {s}u {s}a {s}b ; SMEMBERS {s}u ; SMOVE {s}a {s}b 1 ; SREM {s}a 2 9 ; SSCAN {s}b 0 ; ~SRANDMEMBER {s}b ; ^SRANDMEMBER {s}b 3 ; ~SPOP {s}b ; ^SPOP {s}b 2 ; SCARD {s}b
RPUSH sort 3 1 2 ; SORT sort ; SORT sort DESC LIMIT 0 2
SET t1 v ; TOUCH t1 ; TOUCH t1 nosuch ; SET {t}a 1 ; TOUCH {t}a {t}b {t}a ; UNLINK t1 ; SET {u}a 1 ; SET {u}b 2 ; UNLINK {u}a {u}b {u}c
ZADD {z}a 1 one 2 two 3 three ; ZADD {z}b 2 two 4 four ; ZCARD {z}a ; ZCOUNT {z}a 1 2 ; ZSCORE {z}a two ; ZMSCORE {z}a one nosuch ; ZINCRBY {z}a 5 one ; ZRANK {z}a one ; ZREVRANK {z}a one ; ZRANGE {z}a 0 -1 WITHSCORES ; ZREVRANGE {z}a 0 1 ; ZRANGEBYSCORE {z}a 2 +inf ; ZREVRANGEBYSCORE {z}a +inf 2 LIMIT 0 1 ; ZSCAN {z}a 0
ZUNION 2 {z}a {z}b WITHSCORES ; ZINTER 2 {z}a {z}b ; ZDIFF 2 {z}a {z}b ; ZUNIONSTORE {z}u 2 {z}a {z}b ; ZINTERSTORE {z}i 2 {z}a {z}b ; ZDIFFSTORE {z}d 2 {z}a {z}b ; ZRANGESTORE {z}r {z}a 0 1 ; ZRANGE {z}u 0 -1 WITHSCORES
ZADD zl 0 a 0 b 0 c 0 d ; ZLEXCOUNT zl - + ; ZRANGEBYLEX zl [b (d ; ZREVRANGEBYLEX zl + - LIMIT 1 2 ; ZREMRANGEBYLEX zl [a [a ; ZREMRANGEBYRANK zl 0 0 ; ZADD zl 5 e ; ZREMRANGEBYSCORE zl 5 5 ; ZREM zl c nosuch ; ZRANGE zl 0 -1
ZADD zp 1 a 2 b 3 c 4 d ; ZPOPMAX zp ; ZPOPMIN zp 2 ; ~ZRANDMEMBER zp ; ^ZRANDMEMBER zp 1 WITHSCORES
GET "" ; SET "" empty ; GET "" ; STRLEN ""
SET sk v EXAT 4000000000 ; SET sk w KEEPTTL GET ; ~TTL sk ; SET sk x PXAT 4000000000000 GET ; GET sk ; SET sk y GET ; TTL sk ; !SET sk z KEEPTTL EX 10
SET ex2 v ; EXPIRE ex2 100 XX ; EXPIRE ex2 100 NX ; EXPIRE ex2 200 NX ; EXPIRE ex2 300 GT ; EXPIRE ex2 50 LT ; PEXPIRE ex2 1000000 GT ; EXPIREAT ex2 4000000000 ; EXPIRETIME ex2 ; PEXPIRETIME ex2 ; EXPIRETIME nosuch ; PEXPIREAT ex2 4000000001000 LT ; PEXPIREAT ex2 4000000000000 LT ; PEXPIRETIME ex2 ; EXPIREAT ex2 4000000002 GT ; EXPIRETIME ex2 ; !EXPIRE ex2 10 NX XX
RPUSH lp a b c a b c ; LPOS lp b RANK 2 ; LPOS lp c COUNT 0 MAXLEN 10 ; LPOS lp z
RPUSH {lm2}a 1 2 3 ; LMPOP 2 {lm2}x {lm2}a LEFT COUNT 2 ; LMPOP 1 {lm2}x RIGHT ; LMPOP 1 {lm2}a RIGHT
ZADD {zm}a 1 x 2 y 3 z ; ZMPOP 2 {zm}n {zm}a MIN COUNT 2 ; ZMPOP 1 {zm}a MAX ; ZMPOP 1 {zm}a MAX
SADD {sc}a 1 2 3 ; SADD {sc}b 2 3 4 ; SINTERCARD 2 {sc}a {sc}b ; SINTERCARD 2 {sc}a {sc}b LIMIT 1 ; SINTERCARD 1 {sc}nosuch
ZADD {zc}a 1 x 2 y ; ZADD {zc}b 1 y ; ZINTERCARD 2 {zc}a {zc}b ; ZINTERCARD 2 {zc}a {zc}b LIMIT 5
SET ob 12345 ; OBJECT ENCODING ob ; RPUSH obl a ; OBJECT ENCODING obl ; OBJECT REFCOUNT ob ; ~OBJECT IDLETIME ob ; !OBJECT FREQ ob ; ^OBJECT HELP ; OBJECT ENCODING nosuch
XADD xs 1-1 f v ; XADD xs 2-1 f w ; XADD xs MAXLEN 10 3-1 g x ; !XADD xs 1-1 f v ; XLEN xs ; XRANGE xs - + ; XREVRANGE xs + - COUNT 1 ; XDEL xs 2-1 ; XTRIM xs MAXLEN 1 ; XLEN xs ; XSETID xs 10-1 ; XADD xs 11-1 a b ; XGROUP CREATE xs g 0 ; XGROUP CREATECONSUMER xs g c1 ; XPENDING xs g ; XPENDING xs g - + 10 ; XCLAIM xs g c1 0 11-1 ; XAUTOCLAIM xs g c1 0 0-0 ; XACK xs g 11-1 ; XINFO STREAM xs ; XINFO GROUPS xs ; ^XINFO CONSUMERS xs g ; ^XINFO HELP ; XGROUP SETID xs g 0 ; XGROUP DELCONSUMER xs g c1 ; XGROUP DESTROY xs g ; XLEN nosuch ; !XGROUP CREATE nosuch g 0 ; XGROUP CREATE xnew g $ MKSTREAM ; TYPE xnew ; ^XGROUP HELP
SET bfr "\x0f" ; BITFIELD_RO bfr GET u4 0 GET u8 0
RPUSH sr 3 1 2 ; SORT_RO sr DESC ; SORT_RO sr LIMIT 0 1
RPUSH {so}a 3 1 2 ; SORT {so}a STORE {so}b ; LRANGE {so}b 0 -1 ; SORT {so}a DESC LIMIT 0 2 STORE {so}c ; LRANGE {so}c 0 -1
SET {lcs}a ohmytext ; SET {lcs}b mynewtext ; LCS {lcs}a {lcs}b ; LCS {lcs}a {lcs}b LEN ; LCS {lcs}a {lcs}b IDX MINMATCHLEN 2 WITHMATCHLEN
SET evr 42 ; EVAL_RO "return redis.call('GET', KEYS[1])" 1 evr ; EVALSHA_RO d3c21d0c2b9ca22f82737626a27bcaf5d288f99f 1 evr ; !EVAL_RO "return redis.call('SET', KEYS[1], 1)" 1 evr
!FCALL nosuchfunction 1 fk ; !FCALL_RO nosuchfunction 1 fk
GEOADD geo3 13.361389 38.115556 Palermo 15.087269 37.502669 Catania ; GEORADIUS_RO geo3 15 37 200 km ASC ; GEORADIUSBYMEMBER_RO geo3 Palermo 200 km WITHDIST ASC
GEOADD {gr}s 13.361389 38.115556 Palermo 15.087269 37.502669 Catania ; GEORADIUS {gr}s 15 37 200 km STORE {gr}d ; ZRANGE {gr}d 0 -1 ; GEORADIUSBYMEMBER {gr}s Palermo 200 km STOREDIST {gr}e ; ZRANGE {gr}e 0 -1 WITHSCORES
SET sub hello ; SUBSTR sub 1 3
SET {rn}a 1 ; RENAME {rn}a {rn}b ; !RENAME {rn}a {rn}c ; SET {rn}c 3 ; RENAMENX {rn}b {rn}c ; RENAMENX {rn}b {rn}d ; GET {rn}d
MSETNX {mn}a 1 {mn}b 2 ; MSETNX {mn}b 3 {mn}c 4 ; MGET {mn}a {mn}b {mn}c ; !MSETNX {mn}a 1 {mn}b
SET {bo}a "\xff" ; SET {bo}b "\x0f" ; BITOP AND {bo}d {bo}a {bo}b ; GET {bo}d ; BITOP NOT {bo}e {bo}a ; GET {bo}e ; BITOP OR {bo}f {bo}a
COMMAND COUNT ; COMMAND GETKEYS SORT k STORE d
SET wt:1 v ; !GET wt:1 extra ; !HSET h ; !LINSERT l BEFORE c ; !GET
"#;

/// Commands the sweep checks elsewhere: AUTH (its one-argument replies are
/// 0.5.0's, §REDIS.6, and it changes the connection: redis_auth.rs), QUIT (below: +OK, then close), and
/// HELLO, CLIENT, RESET (they change the connection, or report its id and
/// the proxy's version: redis_resp3.rs). (The subscribe family changes the
/// connection's mode: tests/redis_dedicated.rs.)
const SEPARATE: &[Cmd] = &[
    Cmd::Auth,
    Cmd::Quit,
    Cmd::Hello,
    Cmd::Client,
    Cmd::Reset,
    Cmd::Subscribe,
    Cmd::Unsubscribe,
    Cmd::Psubscribe,
    Cmd::Punsubscribe,
];

/// How a statement's replies are compared.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Cmp {
    Exact,
    Type,
    Header,
}

/// Splits a statement into words, honouring quotes and `\xHH`, `\r`, `\n`.
fn words(stmt: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let b = stmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let mut w = Vec::new();
        if b[i] == b'"' {
            i += 1;
            while b[i] != b'"' {
                if b[i] == b'\\' {
                    match b[i + 1] {
                        b'x' => {
                            let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                            w.push(u8::from_str_radix(hex, 16).unwrap());
                            i += 4;
                        }
                        b'r' => (w.push(b'\r'), i += 2).1,
                        b'n' => (w.push(b'\n'), i += 2).1,
                        c => panic!("bad escape {c}"),
                    }
                } else {
                    w.push(b[i]);
                    i += 1;
                }
            }
            i += 1;
        } else {
            while i < b.len() && b[i] != b' ' {
                w.push(b[i]);
                i += 1;
            }
        }
        out.push(w);
    }
    out
}

/// The payload of a bulk reply.
fn bulk_payload(reply: &[u8]) -> Vec<u8> {
    assert_eq!(reply[0], b'$', "{}", String::from_utf8_lossy(reply));
    let nl = reply.iter().position(|&c| c == b'\n').unwrap();
    reply[nl + 1..reply.len() - 2].to_vec()
}

fn first_line(reply: &[u8]) -> &[u8] {
    let nl = reply.iter().position(|&c| c == b'\n').unwrap();
    &reply[..=nl]
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned()
}

/// Sum of the keys held by the backends equals the direct redis's count.
fn dbsize(port: u16) -> i64 {
    let r = RespConn::connect(port).call_words("DBSIZE");
    std::str::from_utf8(&r[1..r.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn every_supported_command_matches_a_direct_redis() {
    sweep(Proto::Resp2);
}

/// The same sweep with both connections switched to RESP3 by HELLO 3
/// (issue 14.2): maps, sets, doubles, nulls as redis 7 writes them.
#[test]
fn every_supported_command_matches_a_direct_redis_in_resp3() {
    sweep(Proto::Resp3);
}

/// The protocol both sides of a sweep speak.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Proto {
    Resp2,
    Resp3,
}

fn sweep(proto: Proto) {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    if proto == Proto::Resp3 {
        for c in [&mut px, &mut dr] {
            let r = c.call_words("HELLO 3");
            assert!(
                r.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
                "{}",
                show(&r)
            );
        }
    }
    let mut covered: BTreeSet<&'static str> = BTreeSet::new();
    let mut last_direct = Vec::new();
    let mut nstmt = 0;
    let mut types = BTreeSet::new(); // first bytes of the proxy's replies
    for line in SCENARIOS.lines().filter(|l| !l.trim().is_empty()) {
        for stmt in line.split(" ; ") {
            let stmt = stmt.trim();
            let (fails, stmt) = match stmt.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, stmt),
            };
            let (cmp, stmt) = match stmt.as_bytes()[0] {
                b'~' => (Cmp::Type, &stmt[1..]),
                b'^' => (Cmp::Header, &stmt[1..]),
                _ => (Cmp::Exact, stmt),
            };
            let mut args = words(stmt);
            for a in &mut args {
                if a == b"@dump" {
                    *a = bulk_payload(&last_direct);
                }
            }
            let name = String::from_utf8(args[0].clone()).unwrap();
            let cmd = Cmd::lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name}?"));
            covered.insert(cmd.name());
            let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let want = dr.call(&argv);
            let got = px.call(&argv);
            let ok = match cmp {
                Cmp::Exact => got == want,
                Cmp::Type => got[0] == want[0],
                Cmp::Header => first_line(&got) == first_line(&want),
            };
            assert!(
                ok,
                "{stmt}: proxy {:?} direct {:?} ({cmp:?})",
                show(&got),
                show(&want)
            );
            assert_eq!(got[0] == b'-', fails, "{stmt}: {}", show(&got));
            types.insert(got[0]);
            last_direct = want;
            nstmt += 1;
        }
    }
    // RESP3 types appeared only when asked for (map, set, double, null)
    let resp3 = [b'%', b'~', b',', b'_'].map(|t| types.contains(&t));
    assert_eq!(resp3, [proto == Proto::Resp3; 4], "reply types {types:?}");
    let missing: Vec<&str> = Cmd::ALL
        .iter()
        .filter(|c| c.supported() && !SEPARATE.contains(c))
        .map(|c| c.name())
        .filter(|n| !covered.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "commands without a scenario: {missing:?}"
    );
    // Every key written through the proxy lives on exactly one backend.
    let held: i64 = pool.backends.iter().map(|b| dbsize(b.port)).sum();
    assert_eq!(held, dbsize(direct.port), "keys lost or duplicated");
    for b in &pool.backends {
        assert!(dbsize(b.port) > 0, "backend {} got no key", b.port);
    }
    // QUIT: +OK, then the connection closes, as redis does.
    assert_eq!(px.call_words("QUIT"), b"+OK\r\n");
    assert!(px.closed(), "QUIT did not close the connection");
    assert_eq!(dr.call_words("QUIT"), b"+OK\r\n");
    eprintln!("{nstmt} statements, {} commands", covered.len());
}

/// Binary keys: every byte value, CR/LF inside, a key that looks like a
/// request, 256 one-byte keys and the empty key, through single-key and
/// fragmented commands.
#[test]
fn binary_and_empty_keys() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    let mut keys: Vec<Vec<u8>> = vec![
        (0..=255u8).collect(),
        (0..=255u8).rev().collect(),
        b"a\r\nb".to_vec(),
        b"\r\n".to_vec(),
        b"\r".to_vec(),
        b"*1\r\n$4\r\nPING\r\n".to_vec(),
        b"$-1\r\n".to_vec(),
        Vec::new(),
    ];
    keys.extend((0..=255u8).map(|b| vec![b]));
    let val = |k: &[u8]| -> Vec<u8> { [b"v\r\n\0".as_slice(), k].concat() };
    // Single-key commands.
    for k in &keys {
        let v = val(k);
        for args in [
            vec![b"SET".as_slice(), k, &v],
            vec![b"GET", k],
            vec![b"STRLEN", k],
            vec![b"APPEND", k, b"\xff"],
            vec![b"GET", k],
        ] {
            assert_eq!(
                px.call(&args),
                dr.call(&args),
                "{:?} {:?}",
                show(args[0]),
                show(k)
            );
        }
        pool.holder(k);
    }
    // Fragmented commands over all of them.
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(keys.iter().map(Vec::as_slice));
    let got = px.call(&mget);
    assert_eq!(got, dr.call(&mget));
    assert!(got.starts_with(format!("*{}\r\n", keys.len()).as_bytes()));
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    let vals: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| [k.as_slice(), b"\n"].concat())
        .collect();
    for (k, v) in keys.iter().zip(&vals) {
        mset.push(k);
        mset.push(v);
    }
    assert_eq!(px.call(&mset), b"+OK\r\n");
    assert_eq!(dr.call(&mset), b"+OK\r\n");
    assert_eq!(px.call(&mget), dr.call(&mget));
    for verb in [b"EXISTS".as_slice(), b"TOUCH", b"DEL", b"EXISTS"] {
        mget[0] = verb;
        let got = px.call(&mget);
        assert_eq!(got, dr.call(&mget), "{}", show(verb));
    }
    mget[0] = b"MGET";
    assert_eq!(px.call(&mget), dr.call(&mget));
    let held: usize = pool
        .backends
        .iter()
        .map(|b| RespConn::connect(b.port).call_words("DBSIZE"))
        .filter(|r| r != b":0\r\n")
        .count();
    assert_eq!(held, 0, "DEL left keys behind");
}

/// Sends `req` one byte per write, then reads the reply.
fn call_bytewise(c: &mut RespConn, req: &[u8]) -> Vec<u8> {
    for b in req {
        c.stream.write_all(std::slice::from_ref(b)).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    c.read()
}

/// EVAL/EVALSHA route on their first key (not on the script or numkeys),
/// also when the request arrives one byte per read and when numkeys
/// straddles a 512-byte buffer (§0.2 item 3).
#[test]
fn eval_routes_on_the_first_key() {
    let pool = start_redis_pool(3, "", &["-m", "512"]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    let set = "return redis.call('SET', KEYS[1], ARGV[1])";
    // One byte per write.
    for i in 0..6 {
        let key = format!("evb:{i}");
        let req = resp(&[b"EVAL", set.as_bytes(), b"1", key.as_bytes(), b"v"]);
        assert_eq!(call_bytewise(&mut px, &req), b"+OK\r\n", "{key}");
        assert_eq!(px.call(&[b"GET", key.as_bytes()]), b"$1\r\nv\r\n", "{key}");
        pool.holder(key.as_bytes());
    }
    // numkeys (two digits) at every position around the 512-byte mark.
    for pad in 420..540 {
        let script = format!("{set} --{}", "x".repeat(pad));
        let keys: Vec<String> = (0..12).map(|k| format!("{{evp:{pad}}}{k}")).collect();
        let key = &keys[0];
        let mut args: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), b"12"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        args.extend([b"p".as_slice(), b"q"]);
        let got = px.call(&args);
        assert_eq!(got, b"+OK\r\n", "pad {pad}");
        assert_eq!(got, dr.call(&args), "pad {pad}");
        assert_eq!(
            px.call(&[b"GET", key.as_bytes()]),
            b"$1\r\np\r\n",
            "pad {pad}"
        );
        pool.holder(key.as_bytes());
    }
    // EVALSHA: each script is loaded (by EVAL) only on its key's backend, so
    // EVALSHA finds it only if routed by that key.
    for i in 0..8 {
        let script = format!("return 'script {i} ' .. KEYS[1]");
        let key = format!("evs:{i}");
        let sha = dr.call(&[b"SCRIPT", b"LOAD", script.as_bytes()]);
        let sha = bulk_payload(&sha);
        let eval: [&[u8]; 4] = [b"EVAL", script.as_bytes(), b"1", key.as_bytes()];
        assert_eq!(px.call(&eval), dr.call(&eval));
        let req = resp(&[b"EVALSHA", &sha, b"1", key.as_bytes(), b"extra"]);
        let want = format!("$14\r\nscript {i} evs:{i}\r\n");
        assert_eq!(show(&call_bytewise(&mut px, &req)), want);
    }
}

/// ZUNION/ZINTER/ZDIFF route on their first key; 0.5.0 routed them on the
/// numkeys argument. The tag is chosen so the two routes differ.
#[test]
fn zunion_zinter_zdiff_route_on_the_first_key() {
    let pool = start_redis_pool(3, "", &[]);
    let direct = start_redis();
    let mut px = RespConn::connect(pool.port);
    let mut dr = RespConn::connect(direct.port);
    let numkeys_route = pool.route_of(&mut px, b"2");
    let tag = (0..100)
        .map(|i| format!("{{zt{i}}}"))
        .find(|t| pool.route_of(&mut px, t.as_bytes()) != numkeys_route)
        .unwrap();
    let (a, b) = (format!("{tag}a"), format!("{tag}b"));
    for c in [&mut px, &mut dr] {
        assert_eq!(c.call_words(&format!("ZADD {a} 1 x 2 y 3 z")), b":3\r\n");
        assert_eq!(c.call_words(&format!("ZADD {b} 5 y 6 w")), b":2\r\n");
    }
    for verb in ["ZUNION", "ZINTER", "ZDIFF"] {
        let cmd = format!("{verb} 2 {a} {b} WITHSCORES");
        let got = px.call_words(&cmd);
        assert_eq!(show(&got), show(&dr.call_words(&cmd)), "{cmd}");
        assert_ne!(got, b"*0\r\n", "{cmd}: routed away from the keys");
    }
}
