//! What the memcache parser tests share: a `Feed` that logs each message,
//! adapted to the one split-feeding driver (`testing::feed_split`), the
//! test limits and a garbage generator.

use crate::proto::{Limits, ParseError, Progress};
use crate::testing::{self, feed_split, Ev, Rng, Split};

/// A parser under test plus what it has recorded so far.
pub(crate) trait Feed: Default {
    /// Parses one chunk of the current message.
    fn feed(&mut self, chunk: &[u8]) -> Result<Progress, ParseError>;
    /// The current message (`msg`, all its bytes) is complete: record its
    /// meta, check its span invariants, and reset the state.
    fn done(&mut self, msg: &[u8]);
    /// Everything recorded, one line per message.
    fn log(&mut self) -> &mut Vec<String>;
}

/// A `Feed` as `testing::feed_split` drives it, counting the bytes of the
/// complete messages.
struct Logged<'a, F>(&'a mut F, usize);

impl<F: Feed> Split for Logged<'_, F> {
    type Snap = ();
    fn feed(&mut self, chunk: &[u8]) -> Result<Progress, ParseError> {
        self.0.feed(chunk)
    }
    fn done(&mut self, msg: &[u8]) {
        self.1 += msg.len();
        self.0.done(msg);
    }
}

/// Parses `stream` cut at `cuts` (sorted offsets) with the one driver,
/// `testing::feed_split`; the log ends with `incomplete <n>` or
/// `error <e>` when the stream does not end cleanly.
pub(crate) fn drive<F: Feed>(stream: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut f = F::default();
    let mut logged = Logged(&mut f, 0);
    let evs = feed_split(&mut logged, stream, cuts);
    let consumed = logged.1;
    match evs.last() {
        Some(Ev::Err(e)) => f.log().push(format!("error {e:?}")),
        Some(Ev::Partial) => f
            .log()
            .push(format!("incomplete {}", stream.len() - consumed)),
        _ => {}
    }
    std::mem::take(f.log())
}

/// Parses `stream` whole, one byte at a time and at every 2-way split;
/// all must agree. Returns the whole-stream log.
pub(crate) fn all_splits<F: Feed>(stream: &[u8]) -> Vec<String> {
    testing::all_splits(stream, |cuts| drive::<F>(stream, cuts))
}

pub(crate) fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Limits of the tests: memcache-sized, or small enough to hit.
pub(crate) fn lim(small: bool) -> Limits {
    match small {
        false => Limits {
            max_msg: 2 << 20,
            max_narg: 1024,
            max_key: 250,
            max_line: 4096,
            max_depth: 8,
        },
        true => Limits {
            max_msg: 64,
            max_narg: 3,
            max_key: 250,
            max_line: 32,
            max_depth: 8,
        },
    }
}

/// 10,000 deterministic inputs made of `pieces` and random bytes, each
/// parsed whole and cut at up to 3 random places: no panic (the `Feed`
/// checks span invariants), and the same result.
pub(crate) fn garbage<F: Feed>(seed: u64, pieces: &[&[u8]]) {
    let mut rng = Rng(seed);
    let mut parsed = 0;
    for _ in 0..10_000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(24) {
            match rng.below(8) {
                0 => input.push(rng.next() as u8),
                _ => input.extend_from_slice(pieces[rng.below(pieces.len())]),
            }
        }
        let whole = drive::<F>(&input, &[]);
        let mut cuts: Vec<usize> = (0..rng.below(4))
            .map(|_| rng.below(input.len() + 1))
            .collect();
        cuts.sort_unstable();
        assert_eq!(
            drive::<F>(&input, &cuts),
            whole,
            "{:?} cut at {cuts:?}",
            show(&input)
        );
        let ok = |l: &&String| !l.starts_with("error") && !l.starts_with("incomplete");
        parsed += whole.iter().filter(ok).count();
    }
    eprintln!("garbage: {parsed} messages parsed");
    assert!(
        parsed >= 500,
        "the pieces should make some valid messages: {parsed}"
    );
}
