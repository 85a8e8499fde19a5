//! The redis command table (twemproxy: the `MSG_REQ_REDIS_*` X-macro in
//! nc_message.h and the nine `redis_arg*()` switches of nc_redis.c).
//!
//! Every command twemproxy 0.5.0 knows is one row of `redis_commands!`: its
//! wire name, whether the proxy serves it, its key class (which arguments are
//! keys, how many arguments it takes) and whether a multi-key request is
//! split per server. The rows equal `shared/spec/redis-commands.tsv`, with
//! two deliberate changes from 0.5.0 (issue 5), marked in the table:
//! - EXISTS is `Argx` and fragmented: split per server, integer replies summed;
//! - ZUNION, ZINTER, ZDIFF are `NumkeysFirst`: they route on their first key,
//!   not on the numkeys argument.
//!
//! # Invariants
//! - names are upper-case ASCII, unique, at most `NAME_MAX` bytes;
//! - `Cmd::lookup(c.name()) == Some(c)` for every `c` in `Cmd::ALL`.

/// Which arguments of a command are keys, and how many arguments it takes
/// (tsv column `key_class`; `argc` counts the command name, §REDIS.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyClass {
    /// No key, argc = 1 (PING, QUIT, COMMAND). PING also takes one message.
    Argz,
    /// A key, argc = 2.
    Arg0,
    /// A key and 1 argument, argc = 3.
    Arg1,
    /// A key and 2 arguments, argc = 4.
    Arg2,
    /// A key and 3 arguments, argc = 5.
    Arg3,
    /// A key then any opaque arguments, argc >= 2; routed on the first key.
    Argn,
    /// Every argument is a key, argc >= 2 (MGET, DEL, ...).
    Argx,
    /// `key value` pairs, argc odd and >= 3 (MSET).
    ArgKvx,
    /// `script numkeys key [key|arg ...]`, argc >= 4, numkeys >= 1; routed
    /// on the first key (EVAL, EVALSHA).
    Eval,
    /// `numkeys key [key|arg ...]`, argc >= 3, numkeys >= 1; routed on the
    /// first key (ZUNION, ZINTER, ZDIFF; 0.5.0 routed them on numkeys).
    NumkeysFirst,
    /// No key, any arguments, argc >= 1 (LOLWUT).
    Nokey,
    /// Every argument is recorded (`ReqMeta::vals`); `conn::dedicated`
    /// finds the keys (MULTI, WATCH, BLPOP, XREAD, ...; issue 15).
    Args,
    /// tsv `none`: not known to 0.5.0's parser, never served.
    None,
}

impl KeyClass {
    /// The spelling of the tsv column (`NumkeysFirst` has none in 0.5.0).
    pub fn tsv_name(self) -> &'static str {
        match self {
            KeyClass::Argz => "argz",
            KeyClass::Arg0 => "arg0",
            KeyClass::Arg1 => "arg1",
            KeyClass::Arg2 => "arg2",
            KeyClass::Arg3 => "arg3",
            KeyClass::Argn => "argn",
            KeyClass::Argx => "argx",
            KeyClass::ArgKvx => "argkvx",
            KeyClass::Eval => "eval",
            KeyClass::NumkeysFirst => "numkeys_first",
            KeyClass::Nokey => "nokey",
            KeyClass::Args => "args",
            KeyClass::None => "none",
        }
    }

    /// Whether `narg` arguments (command name included) fit the class.
    pub fn arity_ok(self, narg: u32) -> bool {
        match self {
            KeyClass::Argz => narg == 1,
            KeyClass::Arg0 => narg == 2,
            KeyClass::Arg1 => narg == 3,
            KeyClass::Arg2 => narg == 4,
            KeyClass::Arg3 => narg == 5,
            KeyClass::Argn | KeyClass::Argx => narg >= 2,
            KeyClass::ArgKvx => narg >= 3 && narg % 2 == 1,
            KeyClass::Eval => narg >= 4,
            KeyClass::NumkeysFirst => narg >= 3,
            KeyClass::Nokey | KeyClass::Args => narg >= 1,
            KeyClass::None => false,
        }
    }
}

macro_rules! redis_commands {
    ($( $var:ident $name:literal, $sup:ident, $class:ident, $frag:ident; )*) => {
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

            /// Which arguments are keys, and the allowed argument count.
            pub fn key_class(self) -> KeyClass {
                match self { $( Cmd::$var => KeyClass::$class, )* }
            }

            /// Whether a request with >= 2 keys is split per server (§REDIS.5).
            pub fn fragmented(self) -> bool {
                match self { $( Cmd::$var => redis_commands!(@flag $frag), )* }
            }

            /// Whether `narg` arguments (name included) fit the command: its
            /// class's rule, except that PING also takes one message (redis
            /// answers `PING msg` with the message).
            pub fn arity_ok(self, narg: u32) -> bool {
                match self {
                    Cmd::Ping => narg == 1 || narg == 2,
                    Cmd::Multi | Cmd::Exec | Cmd::Discard | Cmd::Unwatch => narg == 1,
                    Cmd::Echo => narg == 2,
                    Cmd::Watch => narg >= 2,
                    Cmd::Blpop | Cmd::Brpop | Cmd::Bzpopmin | Cmd::Bzpopmax => narg >= 3,
                    Cmd::Brpoplpush => narg == 4,
                    Cmd::Wait => narg == 3,
                    Cmd::Blmove => narg == 6,
                    Cmd::Xread => narg >= 4,
                    _ => self.key_class().arity_ok(narg),
                }
            }

            /// The command named `name`, ASCII case-insensitive; no allocation.
            pub fn lookup(name: &[u8]) -> Option<Cmd> {
                let mut buf = [0u8; NAME_MAX];
                let upper = buf.get_mut(..name.len())?;
                for (u, b) in upper.iter_mut().zip(name) {
                    *u = b.to_ascii_uppercase();
                }
                match std::str::from_utf8(upper).ok()? {
                    $( $name => Some(Cmd::$var), )*
                    _ => None,
                }
            }
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
//  variant            wire name            serve key class     split
    Append             "APPEND",            yes, Arg1,         whole;
    Auth               "AUTH",              yes, Arg0,         whole;
    Bitcount           "BITCOUNT",          yes, Argn,         whole;
    Bitfield           "BITFIELD",          yes, Argn,         whole;
    Bitpos             "BITPOS",            yes, Argn,         whole;
    Command            "COMMAND",           yes, Argz,         whole;
    Copy               "COPY",              yes, Argn,         whole;
    Decr               "DECR",              yes, Arg0,         whole;
    Decrby             "DECRBY",            yes, Arg1,         whole;
    Del                "DEL",               yes, Argx,         frag;
    Dump               "DUMP",              yes, Arg0,         whole;
    Eval               "EVAL",              yes, Eval,         whole;
    Evalsha            "EVALSHA",           yes, Eval,         whole;
    Exists             "EXISTS",            yes, Argx,         frag; // issue 5: split per server, counts summed (0.5.0: argn)
    Expire             "EXPIRE",            yes, Arg1,         whole;
    Expireat           "EXPIREAT",          yes, Arg1,         whole;
    Geoadd             "GEOADD",            yes, Argn,         whole;
    Geodist            "GEODIST",           yes, Argn,         whole;
    Geohash            "GEOHASH",           yes, Argn,         whole;
    Geopos             "GEOPOS",            yes, Argn,         whole;
    Georadius          "GEORADIUS",         yes, Argn,         whole;
    Georadiusbymember  "GEORADIUSBYMEMBER", yes, Argn,         whole;
    Geosearch          "GEOSEARCH",         yes, Argn,         whole;
    Geosearchstore     "GEOSEARCHSTORE",    yes, Argn,         whole;
    Get                "GET",               yes, Arg0,         whole;
    Getbit             "GETBIT",            yes, Arg1,         whole;
    Getdel             "GETDEL",            yes, Arg0,         whole;
    Getex              "GETEX",             yes, Argn,         whole;
    Getrange           "GETRANGE",          yes, Arg2,         whole;
    Getset             "GETSET",            yes, Arg1,         whole;
    Hdel               "HDEL",              yes, Argn,         whole;
    Hexists            "HEXISTS",           yes, Arg1,         whole;
    Hget               "HGET",              yes, Arg1,         whole;
    Hgetall            "HGETALL",           yes, Arg0,         whole;
    Hincrby            "HINCRBY",           yes, Arg2,         whole;
    Hincrbyfloat       "HINCRBYFLOAT",      yes, Arg2,         whole;
    Hkeys              "HKEYS",             yes, Arg0,         whole;
    Hlen               "HLEN",              yes, Arg0,         whole;
    Hmget              "HMGET",             yes, Argn,         whole;
    Hmset              "HMSET",             yes, Argn,         whole;
    Hrandfield         "HRANDFIELD",        yes, Argn,         whole;
    Hscan              "HSCAN",             yes, Argn,         whole;
    Hset               "HSET",              yes, Argn,         whole;
    Hsetnx             "HSETNX",            yes, Arg2,         whole;
    Hstrlen            "HSTRLEN",           yes, Arg1,         whole;
    Hvals              "HVALS",             yes, Arg0,         whole;
    Incr               "INCR",              yes, Arg0,         whole;
    Incrby             "INCRBY",            yes, Arg1,         whole;
    Incrbyfloat        "INCRBYFLOAT",       yes, Arg1,         whole;
    Lindex             "LINDEX",            yes, Arg1,         whole;
    Linsert            "LINSERT",           yes, Arg3,         whole;
    Llen               "LLEN",              yes, Arg0,         whole;
    Lmove              "LMOVE",             yes, Arg3,         whole;
    Lolwut             "LOLWUT",            yes, Nokey,        whole;
    Lpop               "LPOP",              yes, Argn,         whole;
    Lpos               "LPOS",              yes, Argn,         whole;
    Lpush              "LPUSH",             yes, Argn,         whole;
    Lpushx             "LPUSHX",            yes, Argn,         whole;
    Lrange             "LRANGE",            yes, Arg2,         whole;
    Lrem               "LREM",              yes, Arg2,         whole;
    Lset               "LSET",              yes, Arg2,         whole;
    Ltrim              "LTRIM",             yes, Arg2,         whole;
    Mget               "MGET",              yes, Argx,         frag;
    Move               "MOVE",              no,  Arg1,         whole;
    Mset               "MSET",              yes, ArgKvx,       frag;
    Persist            "PERSIST",           yes, Arg0,         whole;
    Pexpire            "PEXPIRE",           yes, Arg1,         whole;
    Pexpireat          "PEXPIREAT",         yes, Arg1,         whole;
    Pfadd              "PFADD",             yes, Argn,         whole;
    Pfcount            "PFCOUNT",           yes, Argn,         whole;
    Pfmerge            "PFMERGE",           yes, Argn,         whole;
    Ping               "PING",              yes, Argz,         whole;
    Psetex             "PSETEX",            yes, Arg2,         whole;
    Pttl               "PTTL",              yes, Arg0,         whole;
    Quit               "QUIT",              yes, Argz,         whole;
    Restore            "RESTORE",           yes, Argn,         whole;
    Rpop               "RPOP",              yes, Argn,         whole;
    Rpoplpush          "RPOPLPUSH",         yes, Arg1,         whole;
    Rpush              "RPUSH",             yes, Argn,         whole;
    Rpushx             "RPUSHX",            yes, Argn,         whole;
    Sadd               "SADD",              yes, Argn,         whole;
    Scard              "SCARD",             yes, Arg0,         whole;
    Sdiff              "SDIFF",             yes, Argn,         whole;
    Sdiffstore         "SDIFFSTORE",        yes, Argn,         whole;
    Set                "SET",               yes, Argn,         whole;
    Setbit             "SETBIT",            yes, Arg2,         whole;
    Setex              "SETEX",             yes, Arg2,         whole;
    Setnx              "SETNX",             yes, Arg1,         whole;
    Setrange           "SETRANGE",          yes, Arg2,         whole;
    Sinter             "SINTER",            yes, Argn,         whole;
    Sinterstore        "SINTERSTORE",       yes, Argn,         whole;
    Sismember          "SISMEMBER",         yes, Arg1,         whole;
    Smembers           "SMEMBERS",          yes, Arg0,         whole;
    Smismember         "SMISMEMBER",        yes, Argn,         whole;
    Smove              "SMOVE",             yes, Arg2,         whole;
    Sort               "SORT",              yes, Argn,         whole;
    Spop               "SPOP",              yes, Argn,         whole;
    Srandmember        "SRANDMEMBER",       yes, Argn,         whole;
    Srem               "SREM",              yes, Argn,         whole;
    Sscan              "SSCAN",             yes, Argn,         whole;
    Strlen             "STRLEN",            yes, Arg0,         whole;
    Sunion             "SUNION",            yes, Argn,         whole;
    Sunionstore        "SUNIONSTORE",       yes, Argn,         whole;
    Touch              "TOUCH",             yes, Argx,         frag;
    Ttl                "TTL",               yes, Arg0,         whole;
    Type               "TYPE",              yes, Arg0,         whole;
    Unlink             "UNLINK",            yes, Argx,         frag;
    Zadd               "ZADD",              yes, Argn,         whole;
    Zcard              "ZCARD",             yes, Arg0,         whole;
    Zcount             "ZCOUNT",            yes, Arg2,         whole;
    Zdiff              "ZDIFF",             yes, NumkeysFirst, whole; // issue 5: route on the first key (0.5.0: argn, on numkeys)
    Zdiffstore         "ZDIFFSTORE",        yes, Argn,         whole;
    Zincrby            "ZINCRBY",           yes, Arg2,         whole;
    Zinter             "ZINTER",            yes, NumkeysFirst, whole; // issue 5: route on the first key (0.5.0: argn, on numkeys)
    Zinterstore        "ZINTERSTORE",       yes, Argn,         whole;
    Zlexcount          "ZLEXCOUNT",         yes, Arg2,         whole;
    Zmscore            "ZMSCORE",           yes, Argn,         whole;
    Zpopmax            "ZPOPMAX",           yes, Argn,         whole;
    Zpopmin            "ZPOPMIN",           yes, Argn,         whole;
    Zrandmember        "ZRANDMEMBER",       yes, Argn,         whole;
    Zrange             "ZRANGE",            yes, Argn,         whole;
    Zrangebylex        "ZRANGEBYLEX",       yes, Argn,         whole;
    Zrangebyscore      "ZRANGEBYSCORE",     yes, Argn,         whole;
    Zrangestore        "ZRANGESTORE",       yes, Argn,         whole;
    Zrank              "ZRANK",             yes, Arg1,         whole;
    Zrem               "ZREM",              yes, Argn,         whole;
    Zremrangebylex     "ZREMRANGEBYLEX",    yes, Arg2,         whole;
    Zremrangebyrank    "ZREMRANGEBYRANK",   yes, Arg2,         whole;
    Zremrangebyscore   "ZREMRANGEBYSCORE",  yes, Arg2,         whole;
    Zrevrange          "ZREVRANGE",         yes, Argn,         whole;
    Zrevrangebylex     "ZREVRANGEBYLEX",    yes, Argn,         whole;
    Zrevrangebyscore   "ZREVRANGEBYSCORE",  yes, Argn,         whole;
    Zrevrank           "ZREVRANK",          yes, Arg1,         whole;
    Zscan              "ZSCAN",             yes, Argn,         whole;
    Zscore             "ZSCORE",            yes, Arg1,         whole;
    Zunion             "ZUNION",            yes, NumkeysFirst, whole; // issue 5: route on the first key (0.5.0: argn, on numkeys)
    Zunionstore        "ZUNIONSTORE",       yes, Argn,         whole;
    Bgrewriteaof       "BGREWRITEAOF",      no,  None,         whole;
    Bgsave             "BGSAVE",            no,  None,         whole;
    Bitop              "BITOP",             no,  None,         whole;
    Blmove             "BLMOVE",            yes, Args,         whole; // issue 15
    Blpop              "BLPOP",             yes, Args,         whole; // issue 15
    Brpop              "BRPOP",             yes, Args,         whole; // issue 15
    Brpoplpush         "BRPOPLPUSH",        yes, Args,         whole; // issue 15
    Bzpopmax           "BZPOPMAX",          yes, Args,         whole; // issue 15
    Bzpopmin           "BZPOPMIN",          yes, Args,         whole; // issue 15
    Client             "CLIENT",            no,  None,         whole;
    Cluster            "CLUSTER",           no,  None,         whole;
    Config             "CONFIG",            no,  None,         whole;
    Dbsize             "DBSIZE",            no,  None,         whole;
    Debug              "DEBUG",             no,  None,         whole;
    Discard            "DISCARD",           yes, Args,         whole; // issue 15
    Echo               "ECHO",              yes, Args,         whole; // issue 15
    Exec               "EXEC",              yes, Args,         whole; // issue 15
    Fcall              "FCALL",             no,  None,         whole;
    Flushall           "FLUSHALL",          no,  None,         whole;
    Flushdb            "FLUSHDB",           no,  None,         whole;
    Hello              "HELLO",             no,  None,         whole;
    Info               "INFO",              no,  None,         whole;
    Keys               "KEYS",              no,  None,         whole;
    Lastsave           "LASTSAVE",          no,  None,         whole;
    Migrate            "MIGRATE",           no,  None,         whole;
    Monitor            "MONITOR",           no,  None,         whole;
    Msetnx             "MSETNX",            no,  None,         whole;
    Multi              "MULTI",             yes, Args,         whole; // issue 15
    Object             "OBJECT",            no,  None,         whole;
    Psubscribe         "PSUBSCRIBE",        no,  None,         whole;
    Publish            "PUBLISH",           yes, Arg1,         whole; // issue 15
    Pubsub             "PUBSUB",            no,  None,         whole;
    Punsubscribe       "PUNSUBSCRIBE",      no,  None,         whole;
    Randomkey          "RANDOMKEY",         no,  None,         whole;
    Readonly           "READONLY",          no,  None,         whole;
    Rename             "RENAME",            no,  None,         whole;
    Renamenx           "RENAMENX",          no,  None,         whole;
    Replicaof          "REPLICAOF",         no,  None,         whole;
    Save               "SAVE",              no,  None,         whole;
    Scan               "SCAN",              no,  None,         whole;
    Script             "SCRIPT",            no,  None,         whole;
    Select             "SELECT",            no,  None,         whole;
    Shutdown           "SHUTDOWN",          no,  None,         whole;
    Slaveof            "SLAVEOF",           no,  None,         whole;
    Slowlog            "SLOWLOG",           no,  None,         whole;
    Stralgo            "STRALGO",           no,  None,         whole;
    Subscribe          "SUBSCRIBE",         no,  None,         whole;
    Swapdb             "SWAPDB",            no,  None,         whole;
    Sync               "SYNC",              no,  None,         whole;
    Time               "TIME",              no,  None,         whole;
    Unsubscribe        "UNSUBSCRIBE",       no,  None,         whole;
    Unwatch            "UNWATCH",           yes, Args,         whole; // issue 15
    Wait               "WAIT",              yes, Args,         whole; // issue 15
    Watch              "WATCH",             yes, Args,         whole; // issue 15
    Xadd               "XADD",              no,  None,         whole;
    Xrange             "XRANGE",            no,  None,         whole;
    Xread              "XREAD",             yes, Args,         whole; // issue 15
}

#[cfg(test)]
mod tests {
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

    /// The rows issues 5 and 15 change on purpose: (name, key class,
    /// fragmented); those of issue 15 are served (0.5.0: not).
    const BEYOND_0_5_0: &[(&str, &str, bool)] = &[
        ("EXISTS", "argx", true),
        ("ZUNION", "numkeys_first", false),
        ("ZINTER", "numkeys_first", false),
        ("ZDIFF", "numkeys_first", false),
        ("PUBLISH", "arg1", false),
    ];

    #[test]
    fn table_equals_the_spec_tsv() {
        let Some(text) = TSV.iter().find_map(|p| std::fs::read_to_string(p).ok()) else {
            eprintln!("skipped: redis-commands.tsv not found at {TSV:?}");
            return;
        };
        let mut rows = 0;
        for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split('\t').collect();
            let (name, sup, mut class, mut frag) = (f[0], f[1] == "yes", f[2], f[3] == "yes");
            let mut sup = sup;
            if let Some(&(_, c, fr)) = BEYOND_0_5_0.iter().find(|r| r.0 == name) {
                (class, frag) = (c, fr);
                sup = true;
            }
            let cmd0 = Cmd::lookup(name.as_bytes());
            if cmd0.is_some_and(|c| c.key_class() == KeyClass::Args) {
                (class, sup) = ("args", true); // issue 15: conn::dedicated
            }
            let cmd = Cmd::lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(cmd.name(), name);
            assert_eq!(cmd.supported(), sup, "{name} supported");
            assert_eq!(cmd.key_class().tsv_name(), class, "{name} key class");
            assert_eq!(cmd.fragmented(), frag, "{name} fragmented");
            rows += 1;
        }
        assert_eq!(rows, Cmd::ALL.len(), "the table has rows the tsv lacks");
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
    fn arity_per_class() {
        let cases: &[(Cmd, &[u32], &[u32])] = &[
            (Cmd::Ping, &[1, 2], &[0, 3]),
            (Cmd::Quit, &[1], &[0, 2]),
            (Cmd::Get, &[2], &[1, 3]),
            (Cmd::Append, &[3], &[2, 4]),
            (Cmd::Lrange, &[4], &[3, 5]),
            (Cmd::Lmove, &[5], &[4, 6]),
            (Cmd::Set, &[2, 3, 9], &[0, 1]),
            (Cmd::Mget, &[2, 3, 1000], &[1]),
            (Cmd::Mset, &[3, 5, 7], &[1, 2, 4, 6]),
            (Cmd::Eval, &[4, 5], &[2, 3]),
            (Cmd::Zunion, &[3, 4], &[1, 2]),
            (Cmd::Lolwut, &[1, 2, 3], &[0]),
            (Cmd::Move, &[3], &[2]),
            (Cmd::Select, &[], &[1, 2]),
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
