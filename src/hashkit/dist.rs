//! Key distribution over the live servers (twemproxy: hashkit/nc_ketama.c,
//! nc_modula.c, nc_random.c).
//!
//! A [`Continuum`] is built from the live servers of a pool and maps a key
//! hash to a server index:
//! - `ketama`: 160 points per server scaled by weight share (single-precision
//!   arithmetic, §DIST.2), sorted by value; a hash goes to the first point
//!   ≥ it, wrapping to the first point.
//! - `modula`: `weight` consecutive slots per server; `hash mod total`.
//! - `random`: one slot per server, picked by a xorshift generator.
//!
//! # Invariants
//! - Only live servers own points or slots; indexes refer to the full server
//!   list (length-first order), so they stay valid across rebuilds.
//! - `points` is sorted by (value, index); `slots` ends strictly increase;
//! - `jump[k]` is the first point whose value is at least `k << shift`
//!   (`jump` ends with `points.len()`), so a lookup searches one bucket of
//!   the ring, with the same answer as a search of the whole ring.
//! - `dispatch` does not allocate; a rebuild reuses the vectors.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use super::md5::ketama_hashes;
use super::Distribution;

/// Continuum points per server at equal weights (twemproxy: KETAMA_POINTS_PER_SERVER).
const KETAMA_POINTS_PER_SERVER: f32 = 160.0;
/// Points produced by one host string (one MD5 digest).
const KETAMA_POINTS_PER_HASH: u32 = 4;
/// Longest ketama host string `<name>-<j>`; longer ones are truncated (§DIST.2).
const KETAMA_MAX_HOSTLEN: usize = 272;

/// One server as seen by a continuum build.
#[derive(Clone, Copy, Debug)]
pub struct ServerPoint<'a> {
    pub name: &'a [u8], // §CONF.6 rule 5 name (ketama hashes it)
    pub weight: u32,    // config weight, > 0
    pub live: bool,     // false while ejected
}

/// One ketama continuum point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Point {
    pub value: u32, // position on the ring (ketama_hash of the host string)
    pub index: u32, // owning server index
}

/// One modula/random slot range: hashes `[prev.end, end)` go to `index`.
#[derive(Clone, Copy, Debug)]
struct Slot {
    end: u64,   // cumulative live weight up to and including this server
    index: u32, // owning server index
}

/// The distribution structure of a pool (twemproxy: `pool->continuum`).
#[derive(Debug)]
pub struct Continuum {
    dist: Distribution, // which lookup applies
    points: Vec<Point>, // ketama: sorted ring
    jump: Vec<u32>,     // ketama: first point of each bucket of hashes (see invariants)
    shift: u32,         // ketama: a hash's bucket is hash >> shift
    slots: Vec<Slot>,   // modula (weighted) and random (weight 1): index order
    rng: Cell<u32>,     // random: xorshift32 state, never 0
}

impl Default for Continuum {
    fn default() -> Self {
        Continuum {
            dist: Distribution::default(),
            points: Vec::new(),
            jump: Vec::new(),
            shift: 31,
            slots: Vec::new(),
            rng: Cell::new(random_seed()),
        }
    }
}

impl Continuum {
    /// Builds the continuum of `servers` (slice index = server index).
    pub fn build(dist: Distribution, servers: &[ServerPoint<'_>]) -> Continuum {
        let mut c = Continuum::default();
        c.rebuild(dist, servers);
        c
    }

    /// Rebuilds in place, reusing the allocation (after an eject or readmit).
    pub fn rebuild(&mut self, dist: Distribution, servers: &[ServerPoint<'_>]) {
        self.rebuild_from(dist, servers.iter().copied());
    }

    /// Rebuilds from any re-iterable sequence of servers in index order.
    pub(crate) fn rebuild_from<'s, I>(&mut self, dist: Distribution, servers: I)
    where
        I: Iterator<Item = ServerPoint<'s>> + Clone,
    {
        self.dist = dist;
        self.points.clear();
        self.jump.clear();
        self.slots.clear();
        let live = servers.enumerate().filter(|(_, s)| s.live);
        match dist {
            Distribution::Ketama => self.ketama_update(live),
            Distribution::Modula => self.slots_update(live.map(|(i, s)| (i, s.weight))),
            Distribution::Random => self.slots_update(live.map(|(i, _)| (i, 1))),
        }
    }

    /// The server index for `hash`, or `None` when no server is live.
    /// `random` ignores `hash`.
    pub fn dispatch(&self, hash: u32) -> Option<u32> {
        match self.dist {
            Distribution::Ketama => self.ketama_dispatch(hash),
            Distribution::Modula => self.slot_dispatch(u64::from(hash)),
            Distribution::Random => self.slot_dispatch(u64::from(self.next_random())),
        }
    }

    /// The ketama ring, sorted by value (empty for other distributions).
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Number of ketama points or modula/random slots.
    pub fn len(&self) -> usize {
        match self.dist {
            Distribution::Ketama => self.points.len(),
            Distribution::Modula | Distribution::Random => {
                self.slots.last().map_or(0, |s| s.end as usize)
            }
        }
    }

    /// True when no server is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// twemproxy: ketama_update() — adds every live server's points.
    fn ketama_update<'s>(&mut self, live: impl Iterator<Item = (usize, ServerPoint<'s>)> + Clone) {
        let (nlive, total) = live.clone().fold((0u32, 0u64), |(n, w), (_, s)| {
            (n + 1, w + u64::from(s.weight))
        });
        let mut host = [0u8; KETAMA_MAX_HOSTLEN];
        for (index, s) in live {
            let npoints = ketama_points(s.weight, total, nlive);
            for j in 0..npoints / KETAMA_POINTS_PER_HASH {
                let values = ketama_hashes(ketama_host(&mut host, s.name, j));
                self.points.extend(values.map(|value| Point {
                    value,
                    index: index as u32,
                }));
            }
        }
        self.points.sort_unstable();
        self.jump_update();
    }

    /// Indexes the ring by the top bits of a hash: about one point per
    /// bucket (at most 2^16 buckets), so a lookup is a few comparisons
    /// instead of a binary search over every point.
    fn jump_update(&mut self) {
        let n = self.points.len();
        let bits = (usize::BITS - n.saturating_sub(1).leading_zeros()).clamp(1, 16);
        self.shift = 32 - bits;
        let mut at = 0;
        for k in 0..1u32 << bits {
            let lo = k << self.shift;
            while self.points.get(at).is_some_and(|p| p.value < lo) {
                at += 1;
            }
            self.jump.push(at as u32);
        }
        self.jump.push(n as u32);
    }

    /// twemproxy: modula_update()/random_update() — cumulative slot ranges.
    fn slots_update(&mut self, live: impl Iterator<Item = (usize, u32)>) {
        let mut end = 0u64;
        for (index, weight) in live {
            end += u64::from(weight);
            self.slots.push(Slot {
                end,
                index: index as u32,
            });
        }
    }

    /// twemproxy: ketama_dispatch() — first point ≥ `hash`, wrapping around.
    fn ketama_dispatch(&self, hash: u32) -> Option<u32> {
        let k = (hash >> self.shift) as usize;
        let (lo, hi) = match (self.jump.get(k), self.jump.get(k + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => (0, self.points.len()),
        };
        let bucket = self.points.get(lo..hi).unwrap_or(&[]);
        let at = lo + bucket.partition_point(|p| p.value < hash);
        let p = self.points.get(at).or_else(|| self.points.first())?;
        Some(p.index)
    }

    /// twemproxy: modula_dispatch() — slot `r mod total`.
    fn slot_dispatch(&self, r: u64) -> Option<u32> {
        let total = self.slots.last()?.end;
        let slot = r.checked_rem(total)?; // total 0 only if every weight is 0
        let at = self.slots.partition_point(|s| s.end <= slot);
        self.slots.get(at).map(|s| s.index)
    }

    /// xorshift32 step (random distribution only).
    fn next_random(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }
}

/// Ketama points of one server: 160 × weight share × live servers, computed
/// in single precision and rounded down to a multiple of 4 (§DIST.2).
fn ketama_points(weight: u32, total_weight: u64, nlive: u32) -> u32 {
    let pct = weight as f32 / total_weight as f32;
    let x = pct * KETAMA_POINTS_PER_SERVER;
    let x = x / KETAMA_POINTS_PER_HASH as f32;
    let x = x * nlive as f32;
    x.floor() as u32 * KETAMA_POINTS_PER_HASH
}

/// Writes the ketama host string `<name>-<j>` into `buf`, truncated to
/// `KETAMA_MAX_HOSTLEN` bytes, and returns it.
fn ketama_host<'b>(buf: &'b mut [u8; KETAMA_MAX_HOSTLEN], name: &[u8], j: u32) -> &'b [u8] {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut n = j;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut len = 0;
    for part in [name, b"-", &digits[at..]] {
        let take = part.len().min(buf.len() - len);
        buf[len..len + take].copy_from_slice(&part[..take]);
        len += take;
    }
    &buf[..len]
}

/// A nonzero xorshift seed from the clock (twemproxy: `srandom(time(NULL))`).
fn random_seed() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u32 ^ (nanos >> 32) as u32) | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashkit::{HashKind, Router};
    use crate::testing::Rng;

    /// The bucketed lookup gives what a search of the whole ring gives
    /// (twemproxy's ketama_dispatch), for rings of 1 to 400 servers, at
    /// every point's value, either side of it and at random hashes.
    #[test]
    fn jump_table_agrees_with_a_full_search() {
        let names: Vec<String> = (0..400).map(|i| format!("10.0.0.{i}:11211")).collect();
        let mut rng = Rng(0x5eed);
        for n in [1usize, 2, 3, 4, 7, 50, 400] {
            let servers: Vec<ServerPoint<'_>> = names[..n]
                .iter()
                .enumerate()
                .map(|(i, name)| ServerPoint {
                    name: name.as_bytes(),
                    weight: 1 + (i as u32 % 3),
                    live: i % 5 != 4 || n == 1,
                })
                .collect();
            let c = Continuum::build(Distribution::Ketama, &servers);
            let full = |h: u32| {
                let at = c.points.partition_point(|p| p.value < h);
                c.points.get(at).or(c.points.first()).map(|p| p.index)
            };
            let mut hashes = vec![0, 1, u32::MAX, u32::MAX - 1];
            for p in &c.points {
                hashes.extend([p.value.wrapping_sub(1), p.value, p.value.wrapping_add(1)]);
            }
            hashes.extend((0..10_000).map(|_| rng.below(u32::MAX as usize) as u32));
            for h in hashes {
                assert_eq!(c.dispatch(h), full(h), "{n} servers, hash {h:#x}");
            }
        }
    }

    /// Routes `keys` and returns the owning server names.
    fn route<'n>(r: &Router, names: &[&'n str], keys: &[&str]) -> Vec<&'n str> {
        keys.iter()
            .map(|k| names[r.server_index(k.as_bytes()).unwrap()])
            .collect()
    }

    fn router(hash: HashKind, dist: Distribution, servers: &[(&str, u32)]) -> Router {
        let s: Vec<(&[u8], u32)> = servers.iter().map(|&(n, w)| (n.as_bytes(), w)).collect();
        Router::new(hash, None, dist, &s)
    }

    fn points_of(weights: &[u32]) -> Vec<u32> {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let n = weights.len() as u32;
        weights
            .iter()
            .map(|&w| ketama_points(w, total, n))
            .collect()
    }

    #[test]
    fn ketama_point_counts_single_precision() {
        assert_eq!(points_of(&[1, 2]), [104, 212]);
        assert_eq!(points_of(&[3, 5, 7]), [96, 160, 224]);
        assert_eq!(points_of(&[1, 2, 3, 4]), [64, 128, 192, 256]);
        assert_eq!(points_of(&[1, 1, 1]), [160, 160, 160]);
        assert_eq!(points_of(&[100, 1]), [316, 0]);
        // compat README oddity 3: f32 lands one step low for wf5 and e25
        assert_eq!(points_of(&[6, 1, 8, 2, 8]), [188, 28, 252, 60, 252]);
        assert_eq!(points_of(&[1; 25]), [156; 25]);
    }

    #[test]
    fn ketama_host_truncates() {
        let mut buf = [0u8; KETAMA_MAX_HOSTLEN];
        assert_eq!(ketama_host(&mut buf, b"server1", 8), b"server1-8");
        assert_eq!(ketama_host(&mut buf, b"a", 4294967295), b"a-4294967295");
        let long = [b'x'; 300];
        assert_eq!(ketama_host(&mut buf, &long, 7), &long[..272]);
        let edge = [b'y'; 270];
        assert_eq!(&ketama_host(&mut buf, &edge, 12)[268..], b"yy-1");
    }

    /// The keys routed by §DIST.6 A, B and C.
    const DIST6_KEYS: [&str; 15] = [
        "foo",
        "bar",
        "baz",
        "apple",
        "user:1000",
        "user:1001",
        "session:42",
        "a",
        "b",
        "c",
        "key1",
        "key2",
        "key3",
        "key4",
        "key5",
    ];

    /// §DIST.6 A.
    #[test]
    fn vector_a_ketama_fnv1a_64_unnamed() {
        let names = ["127.0.0.1", "127.0.0.1:11212", "127.0.0.1:11213"];
        let servers = [(names[0], 1), (names[1], 1), (names[2], 1)];
        let r = router(HashKind::Fnv1a_64, Distribution::Ketama, &servers);
        let p: Vec<(u32, u32)> = r
            .continuum()
            .points()
            .iter()
            .map(|p| (p.value, p.index))
            .collect();
        assert_eq!(p.len(), 480);
        #[rustfmt::skip]
        let first = [(15946801, 1), (16590639, 0), (24051458, 1), (32225788, 1), (57888703, 1), (60569942, 2)];
        assert_eq!(p[..6], first);
        assert_eq!(
            p[477..],
            [(4254139926, 0), (4289954118, 1), (4292932786, 0)]
        );
        // foo bar baz apple user:1000 user:1001 session:42, then a b c key1..key5
        let want = [1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0].map(|i| names[i]);
        assert_eq!(route(&r, &names, &DIST6_KEYS), want);
    }

    /// §DIST.6 B: index order is beta, alpha, gamma (length first).
    #[test]
    fn vector_b_ketama_md5_named_weighted() {
        let names = ["beta", "alpha", "gamma"];
        let servers = [("beta", 2), ("alpha", 1), ("gamma", 3)];
        let r = router(HashKind::Md5, Distribution::Ketama, &servers);
        let p = r.continuum().points();
        assert_eq!(p.len(), 480);
        let count = |i: u32| p.iter().filter(|p| p.index == i).count();
        assert_eq!((count(1), count(0), count(2)), (80, 160, 240));
        let (a, b, g) = ("alpha", "beta", "gamma");
        let want = [g, g, a, g, b, a, b, a, g, g, g, g, g, a, b];
        assert_eq!(route(&r, &names, &DIST6_KEYS), want);
    }

    /// §DIST.6 C.
    #[test]
    fn vector_c_modula_murmur_weighted() {
        let names = ["s1", "s2", "s3"];
        let r = router(
            HashKind::Murmur,
            Distribution::Modula,
            &[("s1", 1), ("s2", 2), ("s3", 3)],
        );
        assert_eq!(r.continuum().len(), 6);
        #[rustfmt::skip]
        let hashes = [
            3303027599, 516654467, 1247684457, 4142305122, 2384768711, 1285847563, 1360044695,
            1262581116, 1647211699, 651168840, 1050118838, 2111865733, 3572671757, 4173704140,
            3173902951,
        ];
        let want = [3, 3, 3, 1, 3, 2, 3, 1, 2, 1, 2, 2, 3, 3, 2].map(|i| names[i - 1]);
        for ((key, hash), server) in DIST6_KEYS.into_iter().zip(hashes).zip(want) {
            assert_eq!(r.key_hash(key.as_bytes()), hash, "{key}");
            assert_eq!(route(&r, &names, &[key]), [server], "{key}");
        }
    }

    /// §DIST.6 D.
    #[test]
    fn vector_d_ketama_two_named() {
        let names = ["one", "two"];
        let r = router(
            HashKind::Fnv1a_64,
            Distribution::Ketama,
            &[("one", 1), ("two", 1)],
        );
        for i in 0..30 {
            let want = if i < 10 { "one" } else { "two" };
            assert_eq!(route(&r, &names, &[&format!("k{i}")]), [want], "k{i}");
        }
    }

    /// §DIST.6 E: slots [aa, aa, bbb].
    #[test]
    fn vector_e_modula_length_first_slots() {
        let r = router(
            HashKind::Fnv1a_64,
            Distribution::Modula,
            &[("aa", 2), ("bbb", 1)],
        );
        assert_eq!(r.continuum().len(), 3);
        for key in ["foo", "bar", "baz", "k1", "k2", "k3", "apple"] {
            let want = if HashKind::Fnv1a_64.hash(key.as_bytes()) % 3 < 2 {
                0
            } else {
                1
            };
            assert_eq!(r.server_index(key.as_bytes()), Some(want), "{key}");
        }
    }

    /// §DIST.6 F: hash tag with modula over unnamed servers listed out of order.
    #[test]
    fn vector_f_modula_crc32a_hash_tag() {
        let mut names = [&b"127.0.0.1:16380"[..], b"127.0.0.1:16379"];
        names.sort_by(|a, b| crate::hashkit::length_first(a, b));
        assert_eq!(names[0], b"127.0.0.1:16379");
        let servers: Vec<(&[u8], u32)> = names.iter().map(|&n| (n, 1)).collect();
        let r = Router::new(
            HashKind::Crc32a,
            Some(*b"{}"),
            Distribution::Modula,
            &servers,
        );
        let want = (HashKind::Crc32a.hash(b"tag3") % 2) as usize;
        assert_eq!(r.server_index(b"x{tag3}y"), Some(want));
        assert_eq!(r.server_index(b"tag3"), Some(want));
    }

    #[test]
    fn ejected_servers_leave_the_continuum() {
        let names = ["a", "b", "c"];
        for dist in [
            Distribution::Ketama,
            Distribution::Modula,
            Distribution::Random,
        ] {
            let mut r = router(HashKind::Md5, dist, &[("a", 1), ("b", 2), ("c", 1)]);
            r.set_live(&[true, false, true]);
            for i in 0..200 {
                let got = route(&r, &names, &[&format!("key{i}")]);
                assert_ne!(got, ["b"], "{dist:?}");
            }
            r.set_live(&[false, false, false]);
            assert_eq!(r.server_index(b"foo"), None);
            assert!(r.continuum().is_empty());
            r.set_live(&[true, true, true]);
            assert!(r.server_index(b"foo").is_some());
        }
    }

    #[test]
    fn modula_matches_weight_slots() {
        let weights = [3u32, 1, 100_000, 2];
        let servers: Vec<ServerPoint<'_>> = weights
            .iter()
            .map(|&weight| ServerPoint {
                name: b"x",
                weight,
                live: true,
            })
            .collect();
        let c = Continuum::build(Distribution::Modula, &servers);
        let slots: Vec<u32> = weights
            .iter()
            .enumerate()
            .flat_map(|(i, &w)| std::iter::repeat_n(i as u32, w as usize))
            .collect();
        for h in (0..u32::MAX).step_by(9973).chain([0, 1, 2, 3, 4, u32::MAX]) {
            assert_eq!(c.dispatch(h), Some(slots[h as usize % slots.len()]), "{h}");
        }
    }

    #[test]
    fn zero_weights_route_nowhere() {
        let servers = [ServerPoint {
            name: b"a",
            weight: 0,
            live: true,
        }; 3];
        for dist in [Distribution::Ketama, Distribution::Modula] {
            assert_eq!(
                Continuum::build(dist, &servers).dispatch(7),
                None,
                "{dist:?}"
            );
        }
    }

    #[test]
    fn random_spreads_over_live_servers() {
        let servers: Vec<ServerPoint<'_>> = (0..4)
            .map(|i| ServerPoint {
                name: b"x",
                weight: 1 + i,
                live: i != 2,
            })
            .collect();
        let mut c = Continuum::build(Distribution::Random, &servers);
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            seen[c.dispatch(0).unwrap() as usize] += 1;
        }
        assert_eq!(seen[2], 0);
        assert!(
            seen.iter().enumerate().all(|(i, &n)| i == 2 || n > 800),
            "{seen:?}"
        );
        let cap = c.slots.capacity();
        c.rebuild(Distribution::Random, &servers);
        assert_eq!(c.slots.capacity(), cap, "rebuild reuses the allocation");
    }
}
