//! Test driver shared by the memcache parser tests: feeds a stream of
//! pipelined messages through a parser cut into chunks at given offsets,
//! and checks that every way of cutting gives the same result.

use crate::proto::{Limits, ParseError, Progress};

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

/// Parses `stream` cut at `cuts` (sorted offsets); the log ends with
/// `incomplete <n>` or `error <e>` when the stream does not end cleanly.
pub(crate) fn drive<F: Feed>(stream: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut f = F::default();
    let mut msg_start = 0;
    let mut bounds: Vec<usize> = cuts.to_vec();
    bounds.push(stream.len());
    let mut from = 0;
    for &to in &bounds {
        let mut chunk = &stream[from..to];
        let mut base = from;
        from = to;
        loop {
            match f.feed(chunk) {
                Ok(Progress::Incomplete) => break,
                Ok(Progress::Complete { end }) => {
                    assert!(end <= chunk.len());
                    assert!(end >= 1 || base > msg_start, "empty message");
                    f.done(&stream[msg_start..base + end]);
                    msg_start = base + end;
                    base += end;
                    chunk = &chunk[end..];
                    if chunk.is_empty() {
                        break;
                    }
                }
                Err(e) => {
                    f.log().push(format!("error {e:?}"));
                    return std::mem::take(f.log());
                }
            }
        }
    }
    if msg_start < stream.len() {
        f.log()
            .push(format!("incomplete {}", stream.len() - msg_start));
    }
    std::mem::take(f.log())
}

/// Parses `stream` whole, one byte at a time and at every 2-way split;
/// all must agree. Returns the whole-stream log.
pub(crate) fn all_splits<F: Feed>(stream: &[u8]) -> Vec<String> {
    let whole = drive::<F>(stream, &[]);
    let bytes: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(
        drive::<F>(stream, &bytes),
        whole,
        "byte at a time: {:?}",
        show(stream)
    );
    for cut in 0..=stream.len() {
        assert_eq!(
            drive::<F>(stream, &[cut]),
            whole,
            "split at {cut}: {:?}",
            show(stream)
        );
    }
    whole
}

pub(crate) fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Deterministic pseudo-random numbers (xorshift64*), for garbage inputs.
#[derive(Debug)]
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
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
