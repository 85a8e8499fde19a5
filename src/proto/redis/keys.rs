//! Which arguments of a redis request are keys (no twemproxy counterpart:
//! its nine `redis_arg*()` switches route on the first key only).
//!
//! A command's `Keys` is Redis 7's key specs (redis/redis
//! `src/commands/*.json`, also `COMMAND INFO`) folded into one small enum;
//! the table in `commands` gives each command its `Keys`. The scan is
//! streaming, as the request parser is: `role()` says what argument `idx`
//! is before its bytes are read, `arg_done()` updates the scan once the
//! argument is complete. Only SORT, GEORADIUS(BYMEMBER) and
//! XREAD(GROUP) look at the bytes of an argument (the `word`: its first
//! `WORD_MAX` bytes); BLPOP and the like record their timeout as a key,
//! which `finish()` drops.
//!
//! `key_positions()` runs the same two functions over a whole argument
//! list: the table-driven tests, and tests/ against `COMMAND GETKEYS`.
//!
//! # Invariants
//! - pure: no I/O, no allocation (`key_positions` excepted);
//! - at most one STORE key per request (the last one counts, as redis
//!   executes SORT and GEORADIUS).

/// Where a command's keys are, from Redis's key specs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keys {
    /// No key (PING, COMMAND, LOLWUT).
    #[default]
    None,
    /// Arguments `first, first + step, ...` up to `last` (0: to the end)
    /// are keys; with `step` 2 the arguments between are values (MSET).
    /// Key spec: `index` + `range`.
    Range { first: u8, last: u8, step: u8 },
    /// A key count at argument `at`, then that many keys; `dest` (0: none)
    /// is one more key before it (ZUNIONSTORE). Key spec: `keynum`.
    Numkeys { dest: u8, at: u8 },
    /// The key at 1, then the argument after the last `STORE` or
    /// `STOREDIST` at or after `from` (GEORADIUS 6, GEORADIUSBYMEMBER 5).
    /// Key spec: `keyword`; redis's `georadiusGetKeys`.
    GeoStore { from: u8 },
    /// The key at 1, then the argument after the last `STORE`, skipping
    /// the arguments of `BY`, `GET` and `LIMIT` (redis's `sortGetKeys`).
    Sort,
    /// Every argument but the last, a timeout (BLPOP, BZPOPMIN). Key
    /// spec: `index` 1 + `range` lastkey -2. The scan records the timeout
    /// too; `finish` drops it.
    AllButTimeout,
    /// After the `STREAMS` keyword, the first half of the arguments (the
    /// other half are ids) (XREAD, XREADGROUP). Key spec: `keyword`
    /// STREAMS + `range` limit 2; `finish` drops the ids. The argument of
    /// `BLOCK` before it is recorded as a value (`Role::Val`), so a
    /// blocking read is told apart.
    Streams,
}

const fn range(first: u8, last: u8, step: u8) -> Keys {
    Keys::Range { first, last, step }
}

/// The key at argument 1 (GET, SET, ...).
pub const ONE: Keys = range(1, 1, 1);
/// The key after a subcommand (OBJECT ENCODING key, XINFO STREAM key).
pub const SUB: Keys = range(2, 2, 1);
/// Two keys, source and destination (RENAME, SMOVE, LMOVE, COPY).
pub const TWO: Keys = range(1, 2, 1);
/// Every argument is a key (DEL, MGET, SINTER, SUNIONSTORE).
pub const ALL: Keys = range(1, 0, 1);
/// `key value` pairs (MSET, MSETNX).
pub const PAIRS: Keys = range(1, 0, 2);
/// Every argument after the first (BITOP op dest key...).
pub const ALL_BUT_FIRST: Keys = range(2, 0, 1);
/// `numkeys key...` (ZUNION, LMPOP, SINTERCARD).
pub const NUMKEYS: Keys = Keys::Numkeys { dest: 0, at: 1 };
/// `script numkeys key...` (EVAL, FCALL).
pub const SCRIPT: Keys = Keys::Numkeys { dest: 0, at: 2 };
/// `dest numkeys key...` (ZUNIONSTORE, ZDIFFSTORE).
pub const DEST_NUMKEYS: Keys = Keys::Numkeys { dest: 1, at: 2 };
/// Bytes of an argument kept for keyword matching (`STOREDIST`).
pub const WORD_MAX: usize = 9;

/// What an argument (index >= 1) is to the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Key,      // a routing key
    StoreKey, // a STORE key: replaces the previous STORE key, if any
    Val,      // the value of the key before it (MSET)
    Numkeys,  // the key count
    Opaque,   // anything else
}

/// The scan's state within one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyScan {
    pub numkeys: u64, // the key count, once its argument is read
    skip: u8,         // SORT: arguments of BY / GET / LIMIT still to skip
    store_next: bool, // the next argument is a STORE key
    pub stored: bool, // a STORE key was recorded
}

impl Keys {
    /// Whether `arg_done` needs the argument's first bytes (the word).
    pub fn wants_words(self) -> bool {
        matches!(self, Keys::GeoStore { .. } | Keys::Sort | Keys::Streams)
    }

    /// The request is complete: drops what the scan recorded that is not
    /// a key (the timeout of `AllButTimeout`, the ids of `Streams`).
    pub fn finish<T>(self, keys: &mut Vec<T>) {
        match self {
            Keys::AllButTimeout => {
                keys.pop();
            }
            Keys::Streams => keys.truncate(keys.len() / 2),
            _ => {}
        }
    }

    /// Whether a request can name more than one key.
    pub fn several(self) -> bool {
        match self {
            Keys::None => false,
            Keys::Range { first, last, .. } => last == 0 || last > first,
            Keys::Numkeys { .. } | Keys::GeoStore { .. } | Keys::Sort => true,
            Keys::AllButTimeout | Keys::Streams => true,
        }
    }

    /// What argument `idx` (>= 1) is.
    pub fn role(self, idx: u32, scan: &KeyScan) -> Role {
        match self {
            Keys::None => Role::Opaque,
            Keys::Range { first, last, step } => {
                let (first, last, step) = (u32::from(first), u32::from(last), u32::from(step));
                if idx < first || (last != 0 && idx > last) {
                    Role::Opaque
                } else if (idx - first).is_multiple_of(step.max(1)) {
                    Role::Key
                } else if step == 2 {
                    Role::Val
                } else {
                    Role::Opaque
                }
            }
            Keys::Numkeys { dest, at } => {
                let (dest, at) = (u32::from(dest), u32::from(at));
                if idx == dest {
                    Role::Key
                } else if idx == at {
                    Role::Numkeys
                } else if idx > at && u64::from(idx - at) <= scan.numkeys {
                    Role::Key
                } else {
                    Role::Opaque
                }
            }
            Keys::GeoStore { .. } | Keys::Sort if idx == 1 => Role::Key,
            Keys::GeoStore { .. } | Keys::Sort if scan.store_next => Role::StoreKey,
            Keys::GeoStore { .. } | Keys::Sort => Role::Opaque,
            Keys::AllButTimeout => Role::Key,
            Keys::Streams if scan.stored => Role::Key, // after STREAMS
            Keys::Streams if scan.store_next => Role::Val, // BLOCK's argument
            Keys::Streams => Role::Opaque,
        }
    }

    /// Argument `idx` is complete; `word` is its first `WORD_MAX` bytes
    /// and `len` its length (only read when `wants_words`).
    pub fn arg_done(self, idx: u32, word: &[u8], len: u64, scan: &mut KeyScan) {
        let is = |kw: &[u8]| len == kw.len() as u64 && word.eq_ignore_ascii_case(kw);
        match self {
            Keys::GeoStore { from } => {
                if scan.store_next {
                    scan.store_next = false; // the key itself is not a keyword
                } else if idx >= u32::from(from) && (is(b"STORE") || is(b"STOREDIST")) {
                    scan.store_next = true;
                }
            }
            Keys::Streams if scan.store_next => scan.store_next = false, // BLOCK's value
            Keys::Streams if !scan.stored => {
                scan.store_next = is(b"BLOCK");
                scan.stored = is(b"STREAMS");
            }
            Keys::Sort if idx >= 2 => {
                // As sortGetKeys: the STORE key is itself read as a keyword.
                scan.store_next = false;
                if scan.skip > 0 {
                    scan.skip -= 1;
                } else if is(b"LIMIT") {
                    scan.skip = 2;
                } else if is(b"GET") || is(b"BY") {
                    scan.skip = 1;
                } else if is(b"STORE") {
                    scan.store_next = true;
                }
            }
            _ => {}
        }
    }
}

/// The indexes of the keys in `args` (`args[0]` is the command name), by
/// the same scan as the parser; numkeys is read as the parser reads it
/// (digits only, else 0). Tests and tools only: it allocates.
pub fn key_positions(keys: Keys, args: &[&[u8]]) -> Vec<usize> {
    let mut scan = KeyScan::default();
    let mut out: Vec<usize> = Vec::new();
    for (i, arg) in args.iter().enumerate().skip(1) {
        let idx = i as u32;
        match keys.role(idx, &scan) {
            Role::Key => out.push(i),
            Role::StoreKey => {
                if scan.stored {
                    out.pop();
                }
                scan.stored = true;
                out.push(i);
            }
            Role::Numkeys => scan.numkeys = numkeys_value(arg).unwrap_or(0),
            Role::Val | Role::Opaque => {}
        }
        let word = &arg[..arg.len().min(WORD_MAX)];
        keys.arg_done(idx, word, arg.len() as u64, &mut scan);
    }
    keys.finish(&mut out);
    out
}

/// A numkeys argument's value: decimal digits only, no overflow.
pub fn numkeys_value(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() {
        return None;
    }
    arg.iter().try_fold(0u64, |n, &b| {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    /// (keys, request, key positions): one row per shape of key spec.
    const CASES: &[(Keys, &str, &[usize])] = &[
        (Keys::None, "PING hi", &[]),
        (ONE, "GET k", &[1]),
        (ONE, "SET k v EX 10 GET", &[1]),
        (SUB, "OBJECT ENCODING k", &[2]),
        (SUB, "XINFO HELP", &[]),
        (TWO, "RENAME a b", &[1, 2]),
        (TWO, "COPY a b DB 0 REPLACE", &[1, 2]),
        (TWO, "LMOVE a b LEFT RIGHT", &[1, 2]),
        (ALL, "SINTER a b c", &[1, 2, 3]),
        (ALL, "PFMERGE d", &[1]),
        (PAIRS, "MSETNX a 1 b 2", &[1, 3]),
        (ALL_BUT_FIRST, "BITOP AND d a b", &[2, 3, 4]),
        (NUMKEYS, "ZUNION 2 a b WEIGHTS 1 2", &[2, 3]),
        (NUMKEYS, "LMPOP 1 a LEFT COUNT 2", &[2]),
        (NUMKEYS, "SINTERCARD 3 a b", &[2, 3]),
        (NUMKEYS, "ZINTERCARD x a b", &[]),
        (SCRIPT, "EVAL s 2 a b x y", &[3, 4]),
        (SCRIPT, "FCALL f 1 a b", &[3]),
        (
            DEST_NUMKEYS,
            "ZUNIONSTORE d 2 a b AGGREGATE MIN",
            &[1, 3, 4],
        ),
        (DEST_NUMKEYS, "ZDIFFSTORE d 1 a b", &[1, 3]),
        (Keys::GeoStore { from: 6 }, "GEORADIUS g 1 2 3 km", &[1]),
        (
            Keys::GeoStore { from: 6 },
            "GEORADIUS g 1 2 3 km STORE d",
            &[1, 7],
        ),
        (
            Keys::GeoStore { from: 6 },
            "GEORADIUS g 1 2 3 km ASC storedist d COUNT 1",
            &[1, 8],
        ),
        (
            Keys::GeoStore { from: 6 },
            "GEORADIUS g 1 2 3 km STORE d STOREDIST e",
            &[1, 9],
        ),
        (Keys::GeoStore { from: 6 }, "GEORADIUS g STORE 2 3 km", &[1]),
        (
            Keys::GeoStore { from: 6 },
            "GEORADIUS g 1 2 3 km STORE",
            &[1],
        ),
        (
            Keys::GeoStore { from: 6 },
            "GEORADIUS g 1 2 3 km STORE STORE",
            &[1, 7],
        ),
        (
            Keys::GeoStore { from: 5 },
            "GEORADIUSBYMEMBER g m 3 km STORE d",
            &[1, 6],
        ),
        (
            Keys::GeoStore { from: 5 },
            "GEORADIUSBYMEMBER g STORE 3 km",
            &[1],
        ),
        (Keys::Sort, "SORT k", &[1]),
        (Keys::Sort, "SORT k STORE d", &[1, 3]),
        (
            Keys::Sort,
            "SORT k BY w_* LIMIT 0 10 GET # ALPHA STORE d",
            &[1, 11],
        ),
        (Keys::Sort, "SORT k GET STORE", &[1]),
        (Keys::Sort, "SORT k BY STORE STORE d", &[1, 5]),
        (Keys::Sort, "SORT k LIMIT STORE STORE STORE d", &[1, 6]),
        (Keys::Sort, "SORT k STORE a STORE b", &[1, 5]),
        (Keys::Sort, "SORT k store STORE d", &[1, 4]),
        (Keys::Sort, "SORT k STORE", &[1]),
        (Keys::Sort, "SORT STORE d", &[1]),
        (Keys::AllButTimeout, "BLPOP a b 0", &[1, 2]),
        (Keys::AllButTimeout, "BZPOPMIN a 0.5", &[1]),
        (Keys::Streams, "XREAD STREAMS a b 0 0", &[2, 3]),
        (Keys::Streams, "XREAD COUNT 2 BLOCK 10 STREAMS a $", &[6]),
        (Keys::Streams, "XREAD BLOCK STREAMS STREAMS a $", &[4]),
        (
            Keys::Streams,
            "XREADGROUP GROUP g c NOACK STREAMS a b > >",
            &[6, 7],
        ),
        (Keys::Streams, "XREAD COUNT 1", &[]),
    ];

    #[test]
    fn key_positions_per_spec_shape() {
        for &(keys, line, want) in CASES {
            assert_eq!(key_positions(keys, &args(line)), want, "{line}");
        }
    }

    #[test]
    fn numkeys_bounds_the_keys() {
        // more numkeys than arguments: the keys that are there
        assert_eq!(key_positions(SCRIPT, &args("EVAL s 5 a b")), [3, 4]);
        // 0 and overflow give no key (the parser rejects the request)
        assert_eq!(key_positions(SCRIPT, &args("EVAL s 0 a")), [0usize; 0]);
        let huge = "EVAL s 99999999999999999999999 a";
        assert_eq!(key_positions(SCRIPT, &args(huge)), [0usize; 0]);
    }

    #[test]
    fn numkeys_value_is_digits_only() {
        assert_eq!(numkeys_value(b"12"), Some(12));
        assert_eq!(numkeys_value(b"007"), Some(7));
        for bad in [&b""[..], b"-1", b"1a", b" 1", b"99999999999999999999"] {
            assert_eq!(numkeys_value(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn words_are_compared_whole() {
        assert_eq!(key_positions(Keys::Sort, &args("SORT k STOREX d")), [1]);
        assert_eq!(key_positions(Keys::Sort, &args("SORT k STOR d")), [1]);
        let long = "GEORADIUS g 1 2 3 km STOREDISTX d";
        assert_eq!(key_positions(Keys::GeoStore { from: 6 }, &args(long)), [1]);
    }
}
