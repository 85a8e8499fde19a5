//! The redis command table (twemproxy: the `MSG_REQ_REDIS_*` X-macro in
//! nc_message.h and the nine `redis_arg*()` switches of nc_redis.c).
//!
//! Every command the proxy knows is one row of `redis_commands!`: its wire
//! name, whether the proxy serves it, its arity, where its keys are and
//! whether a multi-key request is split per server. For a served command
//! the arity and the keys are Redis 7.0's own (`COMMAND INFO`, the key specs
//! of redis/redis `src/commands/*.json`): arity as redis writes it (`n`:
//! exactly n arguments, `-n`: at least n, the name counted), keys as a
//! `Keys` (see `keys`). The exceptions, kept from twemproxy 0.5.0
//! (`shared/spec/redis-commands.tsv`): QUIT takes no argument, PING at
//! most one (a message).
//!
//! Beyond 0.5.0 (issues 5 and 14): AUTH takes redis 6's `AUTH user pass`
//! too (0.5.0: only `AUTH password`, closing on anything else); AUTH,
//! HELLO, CLIENT, ECHO, SELECT and RESET
//! are answered by the proxy (`local`; ECHO and PING only outside
//! MULTI, issue 15 queues them); EXISTS is split per server like DEL;
//! ZUNION/ZINTER/ZDIFF route on their keys, not on numkeys; every key of a
//! command that is not split (SINTER, RENAME, EVAL, ...) is recorded, and
//! the request is forwarded only when they all live on one server
//! (`msg::request`); the Redis 6-7 commands with keys are served (GETEX,
//! LMPOP, the stream commands, ...); issue 15: transactions, blocking
//! commands and pub/sub (`conn::dedicated`). Not served: commands without
//! keys that act on a whole server.
//!
//! # Invariants
//! - names are upper-case ASCII, unique, at most `NAME_MAX` bytes;
//! - `Cmd::lookup(c.name()) == Some(c)` for every `c` in `Cmd::ALL`;
//! - a served command with keys has its first key inside its minimum
//!   argument count (OBJECT, XINFO, XGROUP: unless the subcommand has no
//!   key), so a request that passes the arity check has a key to route on;
//!   numkeys commands have one when numkeys >= 1 and a key follows, which
//!   the parser checks.

pub use super::keys::{
    Keys, ALL, ALL_BUT_FIRST, DEST_NUMKEYS, NUMKEYS, ONE, PAIRS, SCRIPT, SUB, TWO,
};

/// No key (PING, COMMAND; every unserved command).
const NONE: Keys = Keys::None;
/// Keys then a timeout (BLPOP, BZPOPMIN).
const BLOCKING: Keys = Keys::AllButTimeout;
/// Keys and ids after STREAMS (XREAD, XREADGROUP).
const STREAMS: Keys = Keys::Streams;

/// The key at 1, then the one after STORE/STOREDIST from argument `from`.
const fn geo_store(from: u8) -> Keys {
    Keys::GeoStore { from }
}

macro_rules! redis_commands {
    ($( $var:ident $name:literal, $sup:ident, $arity:literal, $keys:expr, $frag:ident; )*) => {
        /// A redis command: one variant per row of the command table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Cmd { $( $var, )* }

        impl Cmd {
            /// Every command, in table order.
            pub const ALL: &'static [Cmd] = &[ $( Cmd::$var, )* ];

            /// The wire name, upper case.
            pub fn name(self) -> &'static str {
                match self { $( Cmd::$var => $name, )* }
            }

            /// Whether the proxy serves the command (else: unsupported reply).
            pub fn supported(self) -> bool {
                match self { $( Cmd::$var => redis_commands!(@flag $sup), )* }
            }

            /// The argument count, name included, as redis writes it: `n`
            /// exactly n, `-n` at least n (0 for unserved commands).
            pub fn arity(self) -> i8 {
                match self { $( Cmd::$var => $arity, )* }
            }

            /// Where the keys are.
            pub fn keys(self) -> Keys {
                match self { $( Cmd::$var => $keys, )* }
            }

            /// Whether the proxy answers the command itself, with every
            /// argument recorded in `vals` (issue 14.3: `local`).
            pub fn local(self) -> bool {
                matches!(
                    self,
                    Cmd::Auth | Cmd::Hello | Cmd::Client | Cmd::Echo | Cmd::Select | Cmd::Reset
                )
            }

            /// Whether a request with >= 2 keys is split per server (§REDIS.5).
            pub fn fragmented(self) -> bool {
                match self { $( Cmd::$var => redis_commands!(@flag $frag), )* }
            }

            /// Whether `narg` arguments (name included) fit the command's
            /// arity; also PING takes at most one message, and `key value`
            /// pairs come whole (as redis checks MSET, and a split MSET
            /// needs a value for every key).
            pub fn arity_ok(self, narg: u32) -> bool {
                let arity = i64::from(self.arity());
                let narg = i64::from(narg);
                match self {
                    Cmd::Ping => narg == 1 || narg == 2,
                    _ if self.keys() == PAIRS && narg % 2 == 0 => false,
                    _ if arity > 0 => narg == arity,
                    _ => arity < 0 && narg >= -arity,
                }
            }

            /// The command named `name`, ASCII case-insensitive; no allocation.
            pub fn lookup(name: &[u8]) -> Option<Cmd> {
                let mut buf = [0u8; NAME_MAX];
                let upper = buf.get_mut(..name.len())?;
                for (u, b) in upper.iter_mut().zip(name) {
                    *u = b.to_ascii_uppercase();
                }
                // On bytes: no UTF-8 validation per request.
                match &*upper {
                    $( wire::$var => Some(Cmd::$var), )*
                    _ => None,
                }
            }
        }

        /// The wire names as byte strings (a `&[u8]` constant can be a
        /// pattern, so `lookup` matches bytes), one per variant.
        #[allow(non_upper_case_globals)] // named after their variants
        mod wire {
            $( pub const $var: &[u8] = $name.as_bytes(); )*
        }

        /// Bytes of the longest command name.
        pub const NAME_MAX: usize = {
            let names: &[&str] = &[ $( $name, )* ];
            let (mut i, mut max) = (0, 0);
            while i < names.len() {
                if names[i].len() > max {
                    max = names[i].len();
                }
                i += 1;
            }
            max
        };
    };
    (@flag yes) => { true };
    (@flag no) => { false };
    (@flag frag) => { true };
    (@flag whole) => { false };
}

redis_commands! {
//  variant              wire name                serve arity keys          split
    Append               "APPEND",                yes, 3,   ONE,           whole;
    Auth                 "AUTH",                  yes, -2,  NONE,          whole; // answered by the proxy; `AUTH user pass` beyond 0.5.0
    Bitcount             "BITCOUNT",              yes, -2,  ONE,           whole;
    Bitfield             "BITFIELD",              yes, -2,  ONE,           whole;
    BitfieldRo           "BITFIELD_RO",           yes, -2,  ONE,           whole;
    Bitop                "BITOP",                 yes, -4,  ALL_BUT_FIRST, whole;
    Bitpos               "BITPOS",                yes, -3,  ONE,           whole;
    Command              "COMMAND",               yes, -1,  NONE,          whole;
    Copy                 "COPY",                  yes, -3,  TWO,           whole;
    Decr                 "DECR",                  yes, 2,   ONE,           whole;
    Decrby               "DECRBY",                yes, 3,   ONE,           whole;
    Del                  "DEL",                   yes, -2,  ALL,           frag;
    Dump                 "DUMP",                  yes, 2,   ONE,           whole;
    Eval                 "EVAL",                  yes, -3,  SCRIPT,        whole;
    Evalsha              "EVALSHA",               yes, -3,  SCRIPT,        whole;
    EvalshaRo            "EVALSHA_RO",            yes, -3,  SCRIPT,        whole;
    EvalRo               "EVAL_RO",               yes, -3,  SCRIPT,        whole;
    Exists               "EXISTS",                yes, -2,  ALL,           frag; // issue 5: split per server, counts summed (0.5.0: argn)
    Expire               "EXPIRE",                yes, -3,  ONE,           whole;
    Expireat             "EXPIREAT",              yes, -3,  ONE,           whole;
    Expiretime           "EXPIRETIME",            yes, 2,   ONE,           whole;
    Fcall                "FCALL",                 yes, -3,  SCRIPT,        whole;
    FcallRo              "FCALL_RO",              yes, -3,  SCRIPT,        whole;
    Geoadd               "GEOADD",                yes, -5,  ONE,           whole;
    Geodist              "GEODIST",               yes, -4,  ONE,           whole;
    Geohash              "GEOHASH",               yes, -2,  ONE,           whole;
    Geopos               "GEOPOS",                yes, -2,  ONE,           whole;
    Georadius            "GEORADIUS",             yes, -6,  geo_store(6),  whole;
    Georadiusbymember    "GEORADIUSBYMEMBER",     yes, -5,  geo_store(5),  whole;
    GeoradiusbymemberRo  "GEORADIUSBYMEMBER_RO",  yes, -5,  ONE,           whole;
    GeoradiusRo          "GEORADIUS_RO",          yes, -6,  ONE,           whole;
    Geosearch            "GEOSEARCH",             yes, -7,  ONE,           whole;
    Geosearchstore       "GEOSEARCHSTORE",        yes, -8,  TWO,           whole;
    Get                  "GET",                   yes, 2,   ONE,           whole;
    Getbit               "GETBIT",                yes, 3,   ONE,           whole;
    Getdel               "GETDEL",                yes, 2,   ONE,           whole;
    Getex                "GETEX",                 yes, -2,  ONE,           whole;
    Getrange             "GETRANGE",              yes, 4,   ONE,           whole;
    Getset               "GETSET",                yes, 3,   ONE,           whole;
    Hdel                 "HDEL",                  yes, -3,  ONE,           whole;
    Hexists              "HEXISTS",               yes, 3,   ONE,           whole;
    Hget                 "HGET",                  yes, 3,   ONE,           whole;
    Hgetall              "HGETALL",               yes, 2,   ONE,           whole;
    Hincrby              "HINCRBY",               yes, 4,   ONE,           whole;
    Hincrbyfloat         "HINCRBYFLOAT",          yes, 4,   ONE,           whole;
    Hkeys                "HKEYS",                 yes, 2,   ONE,           whole;
    Hlen                 "HLEN",                  yes, 2,   ONE,           whole;
    Hmget                "HMGET",                 yes, -3,  ONE,           whole;
    Hmset                "HMSET",                 yes, -4,  ONE,           whole;
    Hrandfield           "HRANDFIELD",            yes, -2,  ONE,           whole;
    Hscan                "HSCAN",                 yes, -3,  ONE,           whole;
    Hset                 "HSET",                  yes, -4,  ONE,           whole;
    Hsetnx               "HSETNX",                yes, 4,   ONE,           whole;
    Hstrlen              "HSTRLEN",               yes, 3,   ONE,           whole;
    Hvals                "HVALS",                 yes, 2,   ONE,           whole;
    Incr                 "INCR",                  yes, 2,   ONE,           whole;
    Incrby               "INCRBY",                yes, 3,   ONE,           whole;
    Incrbyfloat          "INCRBYFLOAT",           yes, 3,   ONE,           whole;
    Lcs                  "LCS",                   yes, -3,  TWO,           whole;
    Lindex               "LINDEX",                yes, 3,   ONE,           whole;
    Linsert              "LINSERT",               yes, 5,   ONE,           whole;
    Llen                 "LLEN",                  yes, 2,   ONE,           whole;
    Lmove                "LMOVE",                 yes, 5,   TWO,           whole;
    Lmpop                "LMPOP",                 yes, -4,  NUMKEYS,       whole;
    Lolwut               "LOLWUT",                yes, -1,  NONE,          whole;
    Lpop                 "LPOP",                  yes, -2,  ONE,           whole;
    Lpos                 "LPOS",                  yes, -3,  ONE,           whole;
    Lpush                "LPUSH",                 yes, -3,  ONE,           whole;
    Lpushx               "LPUSHX",                yes, -3,  ONE,           whole;
    Lrange               "LRANGE",                yes, 4,   ONE,           whole;
    Lrem                 "LREM",                  yes, 4,   ONE,           whole;
    Lset                 "LSET",                  yes, 4,   ONE,           whole;
    Ltrim                "LTRIM",                 yes, 4,   ONE,           whole;
    Mget                 "MGET",                  yes, -2,  ALL,           frag;
    Mset                 "MSET",                  yes, -3,  PAIRS,         frag;
    Msetnx               "MSETNX",                yes, -3,  PAIRS,         whole;
    Object               "OBJECT",                yes, -2,  SUB,           whole;
    Persist              "PERSIST",               yes, 2,   ONE,           whole;
    Pexpire              "PEXPIRE",               yes, -3,  ONE,           whole;
    Pexpireat            "PEXPIREAT",             yes, -3,  ONE,           whole;
    Pexpiretime          "PEXPIRETIME",           yes, 2,   ONE,           whole;
    Pfadd                "PFADD",                 yes, -2,  ONE,           whole;
    Pfcount              "PFCOUNT",               yes, -2,  ALL,           whole;
    Pfmerge              "PFMERGE",               yes, -2,  ALL,           whole;
    Ping                 "PING",                  yes, -1,  NONE,          whole;
    Psetex               "PSETEX",                yes, 4,   ONE,           whole;
    Pttl                 "PTTL",                  yes, 2,   ONE,           whole;
    Quit                 "QUIT",                  yes, 1,   NONE,          whole;
    Reset                "RESET",                 yes, 1,   NONE,          whole; // issue 14.3: answered by the proxy
    Rename               "RENAME",                yes, 3,   TWO,           whole;
    Renamenx             "RENAMENX",              yes, 3,   TWO,           whole;
    Restore              "RESTORE",               yes, -4,  ONE,           whole;
    Rpop                 "RPOP",                  yes, -2,  ONE,           whole;
    Rpoplpush            "RPOPLPUSH",             yes, 3,   TWO,           whole;
    Rpush                "RPUSH",                 yes, -3,  ONE,           whole;
    Rpushx               "RPUSHX",                yes, -3,  ONE,           whole;
    Sadd                 "SADD",                  yes, -3,  ONE,           whole;
    Scard                "SCARD",                 yes, 2,   ONE,           whole;
    Sdiff                "SDIFF",                 yes, -2,  ALL,           whole;
    Sdiffstore           "SDIFFSTORE",            yes, -3,  ALL,           whole;
    Set                  "SET",                   yes, -3,  ONE,           whole;
    Setbit               "SETBIT",                yes, 4,   ONE,           whole;
    Setex                "SETEX",                 yes, 4,   ONE,           whole;
    Setnx                "SETNX",                 yes, 3,   ONE,           whole;
    Setrange             "SETRANGE",              yes, 4,   ONE,           whole;
    Sinter               "SINTER",                yes, -2,  ALL,           whole;
    Sintercard           "SINTERCARD",            yes, -3,  NUMKEYS,       whole;
    Sinterstore          "SINTERSTORE",           yes, -3,  ALL,           whole;
    Sismember            "SISMEMBER",             yes, 3,   ONE,           whole;
    Smembers             "SMEMBERS",              yes, 2,   ONE,           whole;
    Smismember           "SMISMEMBER",            yes, -3,  ONE,           whole;
    Smove                "SMOVE",                 yes, 4,   TWO,           whole;
    Sort                 "SORT",                  yes, -2,  Keys::Sort,    whole;
    SortRo               "SORT_RO",               yes, -2,  ONE,           whole;
    Spop                 "SPOP",                  yes, -2,  ONE,           whole;
    Srandmember          "SRANDMEMBER",           yes, -2,  ONE,           whole;
    Srem                 "SREM",                  yes, -3,  ONE,           whole;
    Sscan                "SSCAN",                 yes, -3,  ONE,           whole;
    Strlen               "STRLEN",                yes, 2,   ONE,           whole;
    Substr               "SUBSTR",                yes, 4,   ONE,           whole;
    Sunion               "SUNION",                yes, -2,  ALL,           whole;
    Sunionstore          "SUNIONSTORE",           yes, -3,  ALL,           whole;
    Touch                "TOUCH",                 yes, -2,  ALL,           frag;
    Ttl                  "TTL",                   yes, 2,   ONE,           whole;
    Type                 "TYPE",                  yes, 2,   ONE,           whole;
    Unlink               "UNLINK",                yes, -2,  ALL,           frag;
    Xack                 "XACK",                  yes, -4,  ONE,           whole;
    Xadd                 "XADD",                  yes, -5,  ONE,           whole;
    Xautoclaim           "XAUTOCLAIM",            yes, -6,  ONE,           whole;
    Xclaim               "XCLAIM",                yes, -6,  ONE,           whole;
    Xdel                 "XDEL",                  yes, -3,  ONE,           whole;
    Xgroup               "XGROUP",                yes, -2,  SUB,           whole;
    Xinfo                "XINFO",                 yes, -2,  SUB,           whole;
    Xlen                 "XLEN",                  yes, 2,   ONE,           whole;
    Xpending             "XPENDING",              yes, -3,  ONE,           whole;
    Xrange               "XRANGE",                yes, -4,  ONE,           whole;
    Xrevrange            "XREVRANGE",             yes, -4,  ONE,           whole;
    Xsetid               "XSETID",                yes, -3,  ONE,           whole;
    Xtrim                "XTRIM",                 yes, -4,  ONE,           whole;
    Zadd                 "ZADD",                  yes, -4,  ONE,           whole;
    Zcard                "ZCARD",                 yes, 2,   ONE,           whole;
    Zcount               "ZCOUNT",                yes, 4,   ONE,           whole;
    Zdiff                "ZDIFF",                 yes, -3,  NUMKEYS,       whole;
    Zdiffstore           "ZDIFFSTORE",            yes, -4,  DEST_NUMKEYS,  whole;
    Zincrby              "ZINCRBY",               yes, 4,   ONE,           whole;
    Zinter               "ZINTER",                yes, -3,  NUMKEYS,       whole;
    Zintercard           "ZINTERCARD",            yes, -3,  NUMKEYS,       whole;
    Zinterstore          "ZINTERSTORE",           yes, -4,  DEST_NUMKEYS,  whole;
    Zlexcount            "ZLEXCOUNT",             yes, 4,   ONE,           whole;
    Zmpop                "ZMPOP",                 yes, -4,  NUMKEYS,       whole;
    Zmscore              "ZMSCORE",               yes, -3,  ONE,           whole;
    Zpopmax              "ZPOPMAX",               yes, -2,  ONE,           whole;
    Zpopmin              "ZPOPMIN",               yes, -2,  ONE,           whole;
    Zrandmember          "ZRANDMEMBER",           yes, -2,  ONE,           whole;
    Zrange               "ZRANGE",                yes, -4,  ONE,           whole;
    Zrangebylex          "ZRANGEBYLEX",           yes, -4,  ONE,           whole;
    Zrangebyscore        "ZRANGEBYSCORE",         yes, -4,  ONE,           whole;
    Zrangestore          "ZRANGESTORE",           yes, -5,  TWO,           whole;
    Zrank                "ZRANK",                 yes, 3,   ONE,           whole;
    Zrem                 "ZREM",                  yes, -3,  ONE,           whole;
    Zremrangebylex       "ZREMRANGEBYLEX",        yes, 4,   ONE,           whole;
    Zremrangebyrank      "ZREMRANGEBYRANK",       yes, 4,   ONE,           whole;
    Zremrangebyscore     "ZREMRANGEBYSCORE",      yes, 4,   ONE,           whole;
    Zrevrange            "ZREVRANGE",             yes, -4,  ONE,           whole;
    Zrevrangebylex       "ZREVRANGEBYLEX",        yes, -4,  ONE,           whole;
    Zrevrangebyscore     "ZREVRANGEBYSCORE",      yes, -4,  ONE,           whole;
    Zrevrank             "ZREVRANK",              yes, 3,   ONE,           whole;
    Zscan                "ZSCAN",                 yes, -3,  ONE,           whole;
    Zscore               "ZSCORE",                yes, 3,   ONE,           whole;
    Zunion               "ZUNION",                yes, -3,  NUMKEYS,       whole;
    Zunionstore          "ZUNIONSTORE",           yes, -4,  DEST_NUMKEYS,  whole;
    Bgrewriteaof         "BGREWRITEAOF",          no,  0,   NONE,          whole;
    Bgsave               "BGSAVE",                no,  0,   NONE,          whole;
    Blmove               "BLMOVE",                yes, 6,   TWO,           whole; // issue 15
    Blmpop               "BLMPOP",                yes, -5,  SCRIPT,        whole; // issue 15
    Blpop                "BLPOP",                 yes, -3,  BLOCKING,      whole; // issue 15
    Brpop                "BRPOP",                 yes, -3,  BLOCKING,      whole; // issue 15
    Brpoplpush           "BRPOPLPUSH",            yes, 4,   TWO,           whole; // issue 15
    Bzmpop               "BZMPOP",                yes, -5,  SCRIPT,        whole; // issue 15
    Bzpopmax             "BZPOPMAX",              yes, -3,  BLOCKING,      whole; // issue 15
    Bzpopmin             "BZPOPMIN",              yes, -3,  BLOCKING,      whole; // issue 15
    Client               "CLIENT",                yes, -2,  NONE,          whole; // issue 14.3: answered by the proxy
    Cluster              "CLUSTER",               no,  0,   NONE,          whole;
    Config               "CONFIG",                no,  0,   NONE,          whole;
    Dbsize               "DBSIZE",                no,  0,   NONE,          whole;
    Debug                "DEBUG",                 no,  0,   NONE,          whole;
    Discard              "DISCARD",               yes, 1,   NONE,          whole; // issue 15
    Echo                 "ECHO",                  yes, 2,   NONE,          whole; // issue 14.3: answered by the proxy outside MULTI
    Exec                 "EXEC",                  yes, 1,   NONE,          whole; // issue 15
    Flushall             "FLUSHALL",              no,  0,   NONE,          whole;
    Flushdb              "FLUSHDB",               no,  0,   NONE,          whole;
    Function             "FUNCTION",              no,  0,   NONE,          whole;
    Hello                "HELLO",                 yes, -1,  NONE,          whole; // issue 14.3: answered by the proxy
    Info                 "INFO",                  no,  0,   NONE,          whole;
    Keys                 "KEYS",                  no,  0,   NONE,          whole;
    Lastsave             "LASTSAVE",              no,  0,   NONE,          whole;
    Memory               "MEMORY",                no,  0,   NONE,          whole;
    Migrate              "MIGRATE",               no,  0,   NONE,          whole;
    Monitor              "MONITOR",               no,  0,   NONE,          whole;
    Move                 "MOVE",                  no,  0,   NONE,          whole;
    Multi                "MULTI",                 yes, 1,   NONE,          whole; // issue 15
    Psubscribe           "PSUBSCRIBE",            yes, -2,  ALL,           whole; // issue 15: channels, patterns
    Publish              "PUBLISH",               yes, 3,   ONE,           whole; // issue 15
    Pubsub               "PUBSUB",                no,  0,   NONE,          whole;
    Punsubscribe         "PUNSUBSCRIBE",          yes, -1,  ALL,           whole; // issue 15: channels, patterns
    Randomkey            "RANDOMKEY",             no,  0,   NONE,          whole;
    Readonly             "READONLY",              no,  0,   NONE,          whole;
    Replicaof            "REPLICAOF",             no,  0,   NONE,          whole;
    Save                 "SAVE",                  no,  0,   NONE,          whole;
    Scan                 "SCAN",                  no,  0,   NONE,          whole;
    Script               "SCRIPT",                no,  0,   NONE,          whole;
    Select               "SELECT",                yes, 2,   NONE,          whole; // issue 14.3: answered by the proxy
    Shutdown             "SHUTDOWN",              no,  0,   NONE,          whole;
    Slaveof              "SLAVEOF",               no,  0,   NONE,          whole;
    Slowlog              "SLOWLOG",               no,  0,   NONE,          whole;
    Spublish             "SPUBLISH",              no,  0,   NONE,          whole;
    Ssubscribe           "SSUBSCRIBE",            no,  0,   NONE,          whole;
    Stralgo              "STRALGO",               no,  0,   NONE,          whole;
    Subscribe            "SUBSCRIBE",             yes, -2,  ALL,           whole; // issue 15: channels, patterns
    Sunsubscribe         "SUNSUBSCRIBE",          no,  0,   NONE,          whole;
    Swapdb               "SWAPDB",                no,  0,   NONE,          whole;
    Sync                 "SYNC",                  no,  0,   NONE,          whole;
    Time                 "TIME",                  no,  0,   NONE,          whole;
    Unsubscribe          "UNSUBSCRIBE",           yes, -1,  ALL,           whole; // issue 15: channels, patterns
    Unwatch              "UNWATCH",               yes, 1,   NONE,          whole; // issue 15
    Wait                 "WAIT",                  yes, 3,   NONE,          whole; // issue 15
    Watch                "WATCH",                 yes, -2,  ALL,           whole; // issue 15
    Xread                "XREAD",                 yes, -4,  STREAMS,       whole; // issue 15
    Xreadgroup           "XREADGROUP",            yes, -7,  STREAMS,       whole; // issue 15
}

#[cfg(test)]
mod tests {
    use super::super::keys::{KeyScan, Role};
    use super::*;

    /// The spec table, beside the repository (CI) or two levels up (worktrees).
    const TSV: [&str; 2] = [
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/spec/redis-commands.tsv"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/spec/redis-commands.tsv"
        ),
    ];

    /// The rows changed on purpose since 0.5.0 (issue 5; AUTH: `AUTH user
    /// pass`): (name, key class, fragmented).
    const BEYOND_0_5_0: &[(&str, &str, bool)] = &[
        ("EXISTS", "argx", true),
        ("ZUNION", "numkeys_first", false),
        ("ZINTER", "numkeys_first", false),
        ("ZDIFF", "numkeys_first", false),
        ("AUTH", "nokey", false), // the password is an argument, not a key
    ];

    /// Every command of 0.5.0 is in the table; what 0.5.0 serves is still
    /// served, split the same way, routed on the same first key, and takes
    /// the argument count 0.5.0 required when that was fixed.
    #[test]
    fn table_extends_the_spec_tsv() {
        let Some(text) = TSV.iter().find_map(|p| std::fs::read_to_string(p).ok()) else {
            eprintln!("skipped: redis-commands.tsv not found at {TSV:?}");
            return;
        };
        let mut rows = 0;
        for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            let (name, sup, mut class, mut frag) = (f[0], f[1] == "yes", f[2], f[3] == "yes");
            if let Some(&(_, c, fr)) = BEYOND_0_5_0.iter().find(|r| r.0 == name) {
                (class, frag) = (c, fr);
            }
            let cmd = Cmd::lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(cmd.name(), name);
            rows += 1;
            if !sup {
                continue;
            }
            assert!(cmd.supported(), "{name} no longer served");
            assert_eq!(cmd.fragmented(), frag, "{name} fragmented");
            let first_key = match class {
                "argz" | "nokey" => None,
                "eval" => Some(3),
                "numkeys_first" => Some(2),
                _ => Some(1),
            };
            let keys = cmd.keys();
            let mut scan = KeyScan::default();
            scan.numkeys = 1;
            let first = (1..4).find(|&i| keys.role(i, &scan) == Role::Key);
            assert_eq!(first, first_key, "{name} first key");
            let fixed = match class {
                "arg0" => Some(2),
                "arg1" => Some(3),
                "arg2" => Some(4),
                "arg3" => Some(5),
                _ => None,
            };
            if let Some(n) = fixed {
                assert!(cmd.arity_ok(n), "{name} takes {n} arguments in 0.5.0");
            }
        }
        assert!(rows > 100 && rows < Cmd::ALL.len());
    }

    #[test]
    fn served_commands_have_an_arity_and_keys_where_routed() {
        for &c in Cmd::ALL {
            if !c.supported() {
                assert_eq!((c.arity(), c.keys()), (0, Keys::None), "{c:?}");
                continue;
            }
            assert_ne!(c.arity(), 0, "{c:?}");
            let mut scan = KeyScan::default();
            scan.numkeys = 1;
            let first = (1..=3).find(|&i| c.keys().role(i, &scan) == Role::Key);
            let min = u32::from(c.arity().unsigned_abs());
            match (c.keys(), first) {
                (Keys::None, None) => {}
                (Keys::Streams, None) => {} // after a keyword (XREAD)
                // channels and patterns to leave are optional
                (_, Some(1)) if matches!(c, Cmd::Unsubscribe | Cmd::Punsubscribe) => {}
                (Keys::Numkeys { at, .. }, Some(i)) => assert!(i <= u32::from(at) + 1),
                (_, Some(i)) if c.keys() == SUB => assert!(i <= min, "{c:?}"),
                (_, Some(i)) => assert!(i < min, "{c:?} key beyond its arity"),
                _ => panic!("{c:?}: keys {:?} but no first key", c.keys()),
            }
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_total() {
        for &c in Cmd::ALL {
            assert_eq!(Cmd::lookup(c.name().as_bytes()), Some(c));
            assert_eq!(
                Cmd::lookup(c.name().to_ascii_lowercase().as_bytes()),
                Some(c)
            );
            assert!(c.name().len() <= NAME_MAX);
        }
        assert_eq!(Cmd::lookup(b"gEt"), Some(Cmd::Get));
        for name in [
            &b""[..],
            b"GETT",
            b"GE",
            b"G\xc3\xa9T",
            b"GEORADIUSBYMEMBERX",
            &[b'A'; 300],
        ] {
            assert_eq!(Cmd::lookup(name), None);
        }
    }

    #[test]
    fn arity_per_command() {
        let cases: &[(Cmd, &[u32], &[u32])] = &[
            (Cmd::Ping, &[1, 2], &[0, 3]),
            (Cmd::Quit, &[1], &[0, 2]),
            (Cmd::Get, &[2], &[1, 3]),
            (Cmd::Append, &[3], &[2, 4]),
            (Cmd::Lrange, &[4], &[3, 5]),
            (Cmd::Lmove, &[5], &[4, 6]),
            (Cmd::Set, &[3, 9], &[0, 1, 2]),
            (Cmd::Expire, &[3, 4], &[2]),
            (Cmd::Xadd, &[5, 7], &[4]),
            (Cmd::Mget, &[2, 3, 1000], &[1]),
            (Cmd::Mset, &[3, 5, 7], &[1, 2, 4, 6]),
            (Cmd::Eval, &[3, 4, 5], &[1, 2]),
            (Cmd::Zunion, &[3, 4], &[1, 2]),
            (Cmd::Rename, &[3], &[2, 4]),
            (Cmd::Lolwut, &[1, 2, 3], &[0]),
            (Cmd::Move, &[], &[2, 3]),
            (Cmd::Select, &[2], &[1, 3]),
            (Cmd::Hello, &[1, 2, 7], &[0]),
            (Cmd::Client, &[2, 5], &[1]),
            (Cmd::Echo, &[2], &[1, 3]),
            (Cmd::Reset, &[1], &[2]),
            (Cmd::Auth, &[2, 3, 4], &[0, 1]),
        ];
        for &(cmd, ok, bad) in cases {
            for &n in ok {
                assert!(cmd.arity_ok(n), "{cmd:?} {n}");
            }
            for &n in bad {
                assert!(!cmd.arity_ok(n), "{cmd:?} {n}");
            }
        }
    }
}
