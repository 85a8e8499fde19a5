//! Key hashing and routing (twemproxy: hashkit/nc_hashkit.h, `server_pool_hash`
//! and `server_pool_idx` in nc_server.c).
//!
//! Twelve hash functions, one small module each, bit-exact with twemproxy
//! 0.5.0 on x86-64 (§HASH), and a [`Router`] that maps a routing key to a
//! server index through the pool's distribution (§DIST, in `dist`).
//!
//! # Invariants
//! - Every hash reads key bytes exactly as the C code does, including the
//!   sign extension of bytes ≥ 0x80 where C reads through `char` (§HASH.2).
//! - Server indexes are positions in length-first name order (§CONF.9); the
//!   router never reorders servers, callers sort with [`length_first`].
//! - Routing a key never allocates.

mod crc16;
mod crc32;
pub mod dist;
mod fnv;
mod hsieh;
mod jenkins;
mod md5;
mod murmur;
mod one_at_a_time;

use std::cmp::Ordering;

pub use dist::{Continuum, Point, ServerPoint};
pub use md5::ketama_hashes;

/// The 12 hash functions of §HASH.1.
#[allow(non_camel_case_types)] // variants spell the config names (`fnv1a_64`)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashKind {
    OneAtATime,
    Md5,
    Crc16,
    Crc32,
    Crc32a,
    Fnv1_64,
    #[default]
    Fnv1a_64,
    Fnv1_32,
    Fnv1a_32,
    Hsieh,
    Murmur,
    Jenkins,
}

/// Every hash with its config name, in the canonical order of §HASH.1.
const HASH_NAMES: [(HashKind, &str); 12] = [
    (HashKind::OneAtATime, "one_at_a_time"),
    (HashKind::Md5, "md5"),
    (HashKind::Crc16, "crc16"),
    (HashKind::Crc32, "crc32"),
    (HashKind::Crc32a, "crc32a"),
    (HashKind::Fnv1_64, "fnv1_64"),
    (HashKind::Fnv1a_64, "fnv1a_64"),
    (HashKind::Fnv1_32, "fnv1_32"),
    (HashKind::Fnv1a_32, "fnv1a_32"),
    (HashKind::Hsieh, "hsieh"),
    (HashKind::Murmur, "murmur"),
    (HashKind::Jenkins, "jenkins"),
];

impl HashKind {
    /// Every hash, in the canonical order of §HASH.1.
    pub const ALL: [HashKind; 12] = {
        let mut all = [HashKind::OneAtATime; 12];
        let mut i = 0;
        while i < all.len() {
            all[i] = HASH_NAMES[i].0;
            i += 1;
        }
        all
    };

    /// Parses a `hash:` config value (exact, case-sensitive).
    pub fn from_name(s: &str) -> Option<HashKind> {
        HASH_NAMES.iter().find(|(_, n)| *n == s).map(|(k, _)| *k)
    }

    /// The config name of this hash.
    pub fn name(self) -> &'static str {
        // HASH_NAMES is in declaration order (checked by a unit test)
        HASH_NAMES[self as usize].1
    }

    /// Hashes `key` (twemproxy: the `hash` function pointer of a pool).
    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            HashKind::OneAtATime => one_at_a_time::hash_one_at_a_time(key),
            HashKind::Md5 => md5::hash_md5(key),
            HashKind::Crc16 => crc16::hash_crc16(key),
            HashKind::Crc32 => crc32::hash_crc32(key),
            HashKind::Crc32a => crc32::hash_crc32a(key),
            HashKind::Fnv1_64 => fnv::hash_fnv1_64(key),
            HashKind::Fnv1a_64 => fnv::hash_fnv1a_64(key),
            HashKind::Fnv1_32 => fnv::hash_fnv1_32(key),
            HashKind::Fnv1a_32 => fnv::hash_fnv1a_32(key),
            HashKind::Hsieh => hsieh::hash_hsieh(key),
            HashKind::Murmur => murmur::hash_murmur(key),
            HashKind::Jenkins => jenkins::hash_jenkins(key),
        }
    }
}

/// Key distribution (§DIST).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Distribution {
    #[default]
    Ketama,
    Modula,
    Random,
}

/// Every distribution with its config name.
const DIST_NAMES: [(Distribution, &str); 3] = [
    (Distribution::Ketama, "ketama"),
    (Distribution::Modula, "modula"),
    (Distribution::Random, "random"),
];

impl Distribution {
    /// Parses a `distribution:` config value (exact, case-sensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        DIST_NAMES.iter().find(|(_, n)| *n == s).map(|(d, _)| *d)
    }

    /// The config name of this distribution.
    pub fn name(self) -> &'static str {
        DIST_NAMES[self as usize].1
    }
}

/// Sign-extends a key byte to 32 bits, as x86-64 C `char` does (§HASH.2).
fn sx32(b: u8) -> u32 {
    b as i8 as u32
}

/// Sign-extends a key byte to 64 bits, as x86-64 C `char` does (§HASH.2).
fn sx64(b: u8) -> u64 {
    b as i8 as u64
}

/// Length-first order of byte strings (§0.4): shorter first, then bytewise.
/// Used to sort pools and servers (§CONF.9).
pub fn length_first(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The part of `key` that is hashed under `hash_tag` (§HASH.4 rule 2): the
/// bytes between the first `L` and the first `R` after it when there is at
/// least one; otherwise the whole key.
pub fn hash_tag_key(key: &[u8], tag: Option<[u8; 2]>) -> &[u8] {
    let Some([l, r]) = tag else { return key };
    let Some(start) = key.iter().position(|&b| b == l) else {
        return key;
    };
    let rest = &key[start + 1..];
    match rest.iter().position(|&b| b == r) {
        Some(end) if end > 0 => &rest[..end],
        _ => key,
    }
}

/// One server as the router keeps it.
#[derive(Clone, Debug)]
struct RouterServer {
    name: Box<[u8]>, // §CONF.6 rule 5 name, hashed by ketama
    weight: u32,     // config weight, > 0
    live: bool,      // false while ejected (§FAIL.2)
}

/// Maps routing keys to server indexes for one pool (twemproxy:
/// `server_pool_idx`). Servers are in length-first name order.
#[derive(Debug)]
pub struct Router {
    hash: HashKind,             // pool `hash:`
    hash_tag: Option<[u8; 2]>,  // pool `hash_tag:` (L, R)
    dist: Distribution,         // pool `distribution:`
    servers: Vec<RouterServer>, // index = server index
    continuum: Continuum,       // built from the live servers
}

impl Router {
    /// A router over `servers` (name, weight) in length-first name order,
    /// all live.
    pub fn new(
        hash: HashKind,
        hash_tag: Option<[u8; 2]>,
        dist: Distribution,
        servers: &[(&[u8], u32)],
    ) -> Router {
        let servers: Vec<RouterServer> = servers
            .iter()
            .map(|&(name, weight)| RouterServer {
                name: name.into(),
                weight,
                live: true,
            })
            .collect();
        let mut router = Router {
            hash,
            hash_tag,
            dist,
            servers,
            continuum: Continuum::default(),
        };
        router.rebuild();
        router
    }

    /// Marks servers live or ejected (`live[i]` for server `i`; servers past
    /// the end of `live` stay as they were) and rebuilds the continuum
    /// (twemproxy: `server_pool_run` after an eject or a readmit).
    pub fn set_live(&mut self, live: &[bool]) {
        debug_assert_eq!(live.len(), self.servers.len(), "one flag per server");
        for (s, &l) in self.servers.iter_mut().zip(live) {
            s.live = l;
        }
        self.rebuild();
    }

    /// The index of the server that owns `key`, or `None` when no server is
    /// live (§HASH.4, §DIST.5).
    pub fn server_index(&self, key: &[u8]) -> Option<usize> {
        if let [only] = self.servers.as_slice() {
            return only.live.then_some(0);
        }
        let hash = match self.dist {
            Distribution::Random => 0, // random ignores the key
            Distribution::Ketama | Distribution::Modula => self.key_hash(key),
        };
        self.continuum.dispatch(hash).map(|i| i as usize)
    }

    /// The hash of a routing key after hash-tag extraction; an empty key
    /// hashes to 0 (twemproxy: `server_pool_hash`).
    pub fn key_hash(&self, key: &[u8]) -> u32 {
        let key = hash_tag_key(key, self.hash_tag);
        if key.is_empty() {
            0
        } else {
            self.hash.hash(key)
        }
    }

    /// The continuum built from the live servers.
    pub fn continuum(&self) -> &Continuum {
        &self.continuum
    }

    /// Rebuilds the continuum from the current live set.
    fn rebuild(&mut self) {
        let points = self.servers.iter().map(|s| ServerPoint {
            name: &s.name,
            weight: s.weight,
            live: s.live,
        });
        self.continuum.rebuild_from(self.dist, points);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A §HASH.5 input row: the key bytes and the expected value of every hash
    /// in `HashKind::ALL` order.
    type Row = (&'static [u8], [u32; 12]);

    /// §HASH.5, every row.
    #[rustfmt::skip]
    const VECTORS: [Row; 10] = [
        (b"", [0, 3649838548, 0, 0, 0, 2216829733, 2216829733, 2166136261, 2166136261, 0, 0, 3735928572]),
        (b"a", [3392050242, 3111502092, 31879, 26807, 3904355907, 2248259518, 2248273036, 84696446, 3826002220, 2472816263, 1262581116, 3768813200]),
        (b"apple", [2297466611, 3195025439, 3662830516, 10542, 2838417488, 473199127, 1488911807, 67176023, 280767167, 3738850110, 4142305122, 1442444624]),
        (b"123456789", [3328923845, 2498230565, 2257596867, 19444, 3421780262, 737744598, 600231420, 605325334, 3146166556, 3841726064, 3077965456, 427260662]),
        (b"hello world", [1045060183, 3141252702, 4060494820, 3402, 222957957, 2979073647, 37540583, 1418570095, 3582672807, 1333368947, 1578702139, 355681275]),
        (b"key:1234567890abcdef", [2089804712, 624261882, 722613267, 19720, 3439883129, 1599188678, 2897901588, 3971019302, 295469780, 1086314264, 1992317367, 2122096083]),
        (b"foobar", [4182965735, 586569784, 2667556901, 7926, 2666930069, 2765990338, 4147734504, 837857890, 3214735720, 128288300, 2884435735, 266177376]),
        (b"\xc3\xa9t\xc3\xa9", [2144029493, 510308318, 3861292903, 17617, 1154575572, 3995086359, 3933641815, 3199958167, 200187927, 3432339831, 3664841419, 2303093779]),
        (b"\xff\x80abc", [3926978745, 2817180164, 2818841153, 11130, 729423482, 3049255424, 3424020126, 3953484544, 2901654910, 906646907, 4153569428, 3871644480]),
        (b"ab\xff", [100913432, 2192293236, 2088034275, 19613, 3432881837, 2488291927, 4206756399, 3160658135, 3283607919, 1977393110, 3968893618, 3920586603]),
    ];

    #[test]
    fn hash_vectors() {
        for (key, expect) in VECTORS {
            for (kind, want) in HashKind::ALL.into_iter().zip(expect) {
                assert_eq!(kind.hash(key), want, "{}({key:x?})", kind.name());
            }
        }
    }

    #[test]
    fn unsigned_byte_values_do_not_match() {
        let wrong: [(HashKind, &[u8], u32); 5] = [
            (HashKind::OneAtATime, b"\xc3\xa9t\xc3\xa9", 1191034661),
            (HashKind::Fnv1a_64, b"\xff\x80abc", 125548702),
            (HashKind::Fnv1_32, b"ab\xff", 1134309335),
            (HashKind::Hsieh, b"ab\xff", 3485144093),
            (HashKind::Fnv1_64, b"\xff\x80abc", 1198665728),
        ];
        for (kind, key, bad) in wrong {
            assert_ne!(kind.hash(key), bad, "{} reads bytes unsigned", kind.name());
        }
    }

    #[test]
    fn ketama_hash_vectors() {
        let s1 = ketama_hashes(b"server1-8");
        assert_eq!(s1[0], 3853726576);
        assert_eq!(s1[3], 2667054752);
        assert_eq!(
            ketama_hashes(b"127.0.0.1-0"),
            [3187647615, 2893990766, 813702075, 4292932786]
        );
    }

    #[test]
    fn hash_names_round_trip() {
        let names = [
            "one_at_a_time",
            "md5",
            "crc16",
            "crc32",
            "crc32a",
            "fnv1_64",
            "fnv1a_64",
            "fnv1_32",
            "fnv1a_32",
            "hsieh",
            "murmur",
            "jenkins",
        ];
        for (kind, name) in HashKind::ALL.into_iter().zip(names) {
            assert_eq!(kind.name(), name);
            assert_eq!(HashKind::from_name(name), Some(kind));
        }
        assert_eq!(HashKind::default().name(), "fnv1a_64");
        for bad in ["MD5", "murmur3", "", "fnv1a_64 ", "Ketama"] {
            assert_eq!(HashKind::from_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn distribution_names_round_trip() {
        for (d, name) in [
            (Distribution::Ketama, "ketama"),
            (Distribution::Modula, "modula"),
            (Distribution::Random, "random"),
        ] {
            assert_eq!(d.name(), name);
            assert_eq!(Distribution::from_name(name), Some(d));
        }
        assert_eq!(Distribution::default(), Distribution::Ketama);
        assert_eq!(Distribution::from_name("Ketama"), None);
        assert_eq!(Distribution::from_name("consistent"), None);
    }

    #[test]
    fn hash_tag_extraction() {
        let curly = Some(*b"{}");
        let dollar = Some(*b"$$");
        type Case = (&'static [u8], Option<[u8; 2]>, &'static [u8]);
        let cases: [Case; 17] = [
            (b"a{}b", curly, b"a{}b"),
            (b"a{b", curly, b"a{b"),
            (b"x{ab}y{cd}", curly, b"ab"),
            (b"}x{y}", curly, b"y"),
            (b"{{z}}", curly, b"{z"),
            (b"a{}b{c}", curly, b"a{}b{c}"),
            (b"a}b{c}d", curly, b"c"),
            (b"{a}{b}", curly, b"a"),
            (b"abc{", curly, b"abc{"),
            (b"{$a$}", curly, b"$a$"),
            (b"{$a$}", dollar, b"a"),
            (b"$a$$b$", dollar, b"a"),
            (b"$$a$", dollar, b"$$a$"),
            (b"$$$", dollar, b"$$$"),
            (b"a$b", dollar, b"a$b"),
            (b"user{1}", None, b"user{1}"),
            (b"", curly, b""),
        ];
        for (key, tag, want) in cases {
            assert_eq!(hash_tag_key(key, tag), want, "{key:x?}");
        }
    }

    #[test]
    fn length_first_order() {
        let mut names: Vec<&[u8]> = vec![
            b"cache-b",
            b"alpha",
            b"zz",
            b"127.0.0.1:11312",
            b"127.0.0.1",
        ];
        names.sort_by(|a, b| length_first(a, b));
        let want: Vec<&[u8]> = vec![
            b"zz",
            b"alpha",
            b"cache-b",
            b"127.0.0.1",
            b"127.0.0.1:11312",
        ];
        assert_eq!(names, want);
    }

    #[test]
    fn single_server_is_never_hashed() {
        let mut r = Router::new(
            HashKind::Md5,
            Some(*b"{}"),
            Distribution::Modula,
            &[(b"only", 5)],
        );
        assert_eq!(r.server_index(b""), Some(0));
        assert_eq!(r.server_index(b"a{}b"), Some(0));
        r.set_live(&[false]);
        assert_eq!(r.server_index(b"foo"), None);
    }

    #[test]
    fn empty_key_hashes_to_zero() {
        let r = Router::new(
            HashKind::Md5,
            None,
            Distribution::Modula,
            &[(b"a", 1), (b"b", 1), (b"c", 1)],
        );
        assert_eq!(r.key_hash(b""), 0);
        assert_eq!(r.server_index(b""), Some(0));
        // {} is an empty tag: the whole key is hashed, not the empty string
        let t = Router::new(
            HashKind::Md5,
            Some(*b"{}"),
            Distribution::Modula,
            &[(b"a", 1), (b"b", 1)],
        );
        assert_eq!(t.key_hash(b"{}"), HashKind::Md5.hash(b"{}"));
    }
}
