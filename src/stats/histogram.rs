//! Latency histogram (no twemproxy counterpart: issue 7.6).
//!
//! A fixed log-linear histogram of microseconds: values below 16 have a
//! bucket each; every power-of-two range above is cut into 16 equal buckets,
//! so a reported percentile is at most 1/16 (6.25%) above the true value.
//! Values at or above 2^32 µs (about 71 minutes) share the last bucket.
//! Recording is an index computation and three additions: no allocation.
//!
//! # Invariants
//! - `count` equals the sum of `buckets`;
//! - `max` is the largest value recorded (exact, not bucketed);
//! - a percentile is the inclusive upper bound of the bucket holding its
//!   rank, capped at `max`, so it never under-reports.

/// Linear sub-buckets per power of two, as a bit count.
const SUB_BITS: u32 = 4;
/// Linear sub-buckets per power of two.
const SUB: usize = 1 << SUB_BITS;
/// Largest power of two tracked: values from 2^(TOP_BIT+1) on are clamped.
const TOP_BIT: u32 = 31;
/// Number of buckets: `SUB` exact ones, then `SUB` per power 2^SUB_BITS..=2^TOP_BIT.
pub(crate) const NBUCKETS: usize = SUB + (TOP_BIT - SUB_BITS + 1) as usize * SUB;

/// Request→response latencies of one server (or, merged, one pool), in µs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    buckets: [u64; NBUCKETS], // log-linear counts, see bucket_of()
    count: u64,               // values recorded
    sum: u64,                 // µs, saturating (Prometheus `_sum`)
    max: u64,                 // largest value recorded, exact
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: [0; NBUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }
}

/// The bucket a value falls in.
fn bucket_of(micros: u64) -> usize {
    let v = micros.min((1u64 << (TOP_BIT + 1)) - 1);
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // SUB_BITS..=TOP_BIT
    let sub = (v >> (msb - SUB_BITS)) as usize - SUB; // 0..SUB
    SUB + (msb - SUB_BITS) as usize * SUB + sub
}

/// The largest value that falls in bucket `i`.
fn upper_bound(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let shift = ((i - SUB) / SUB) as u32; // msb - SUB_BITS
    let sub = ((i - SUB) % SUB) as u64;
    let lower = (SUB as u64 + sub) << shift;
    lower + (1u64 << shift) - 1
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, micros: u64) {
        if let Some(b) = self.buckets.get_mut(bucket_of(micros)) {
            *b += 1;
        }
        self.count += 1;
        self.sum = self.sum.saturating_add(micros);
        self.max = self.max.max(micros);
    }

    /// Adds every value of `other` into `self`.
    pub fn merge(&mut self, other: &Histogram) {
        for (b, o) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *b += o;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        *self = Histogram::default();
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the values recorded, in µs.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Largest value recorded, in µs (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at `per10k`/10000 (5000 = median, 9990 = p99.9); 0 when empty.
    pub fn percentile(&self, per10k: u64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let want = u128::from(self.count) * u128::from(per10k.min(10_000));
        let rank = want.div_ceil(10_000).max(1);
        let mut seen = 0u128;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u128::from(n);
            if seen >= rank {
                return upper_bound(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        assert_eq!(NBUCKETS, 464);
        let mut prev = 0;
        for i in 0..NBUCKETS {
            let hi = upper_bound(i);
            assert_eq!(bucket_of(hi), i, "upper bound of {i}");
            if i > 0 {
                assert_eq!(bucket_of(prev + 1), i, "lower bound of {i}");
                assert!(hi > prev);
            }
            prev = hi;
        }
        assert_eq!(prev, (1u64 << 32) - 1);
        assert_eq!(bucket_of(u64::MAX), NBUCKETS - 1);
    }

    #[test]
    fn relative_error_is_bounded() {
        for v in (1..2_000_000u64).step_by(7) {
            let hi = upper_bound(bucket_of(v));
            assert!(hi >= v && (hi - v) * 16 <= v, "{v} -> {hi}");
        }
    }

    #[test]
    fn percentiles_on_known_data() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(5000), 0);
        for v in 1..=16 {
            h.record(v); // 1..=15 exact buckets, 16 the first bucket of [16,32)
        }
        assert_eq!(h.percentile(5000), 8);
        assert_eq!(h.percentile(10_000), 16);
        assert_eq!(h.max(), 16);

        let mut h = Histogram::default();
        for _ in 0..900 {
            h.record(100); // bucket [100, 103]
        }
        for _ in 0..90 {
            h.record(1_000); // bucket [992, 1023]
        }
        for _ in 0..9 {
            h.record(10_000); // bucket [9728, 10239]
        }
        h.record(123_456); // the max, exact
        assert_eq!(h.count(), 1000);
        assert_eq!(h.sum(), 900 * 100 + 90 * 1_000 + 9 * 10_000 + 123_456);
        assert_eq!(h.percentile(5000), 103);
        assert_eq!(h.percentile(9000), 103);
        assert_eq!(h.percentile(9900), 1023);
        assert_eq!(h.percentile(9990), 10239);
        assert_eq!(h.percentile(10_000), 123_456);
        assert_eq!(h.max(), 123_456);
    }

    #[test]
    fn single_value_reports_itself() {
        let mut h = Histogram::default();
        h.record(777);
        for q in [5000, 9000, 9900, 9990] {
            assert_eq!(h.percentile(q), 777);
        }
    }

    #[test]
    fn merge_and_reset() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(5);
        b.record(50);
        b.record(500);
        a.merge(&b);
        assert_eq!((a.count(), a.sum(), a.max()), (3, 555, 500));
        assert_eq!(a.percentile(5000), 51);
        a.reset();
        assert_eq!(a, Histogram::default());
    }
}
