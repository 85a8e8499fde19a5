//! Test driver shared by the parser tests: feeds an input through a parser
//! in chunks cut at given offsets, following the parser contract of `proto`
//! (restart on the tail after `Complete`), and checks the contract itself.

use crate::proto::{ParseError, Progress, Span};

/// One outcome of feeding a stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ev<G> {
    Done(G),         // a complete message, snapshotted
    Err(ParseError), // framing lost; nothing follows
    Partial,         // the input ended inside a message
}

/// Feeds `input` cut at `cuts` (sorted offsets) to `parse`; `snap` turns
/// the meta of each complete message (and the message bytes) into a value.
pub(crate) fn drive<S, M, G>(
    input: &[u8],
    cuts: &[usize],
    new_state: impl Fn() -> S,
    meta: &mut M,
    mut parse: impl FnMut(&mut S, &[u8], &mut M) -> Result<Progress, ParseError>,
    snap: impl Fn(&M, &[u8]) -> G,
) -> Vec<Ev<G>> {
    let mut evs = Vec::new();
    let mut st = new_state();
    let (mut msg_start, mut pos) = (0, 0);
    for &cut in cuts.iter().chain([input.len()].iter()) {
        let (mut chunk, mut at) = (&input[pos..cut], pos);
        while !chunk.is_empty() {
            match parse(&mut st, chunk, meta) {
                Ok(Progress::Incomplete) => break,
                Ok(Progress::Complete { end }) => {
                    assert!(end <= chunk.len() && (end >= 1 || at > msg_start));
                    evs.push(Ev::Done(snap(meta, &input[msg_start..at + end])));
                    (msg_start, at) = (at + end, at + end);
                    chunk = &chunk[end..];
                    st = new_state();
                }
                Err(e) => {
                    evs.push(Ev::Err(e));
                    return evs;
                }
            }
        }
        pos = cut;
    }
    if msg_start < input.len() {
        evs.push(Ev::Partial);
    }
    evs
}

/// The bytes of `span`, which must lie inside `msg`.
pub(crate) fn bytes(msg: &[u8], span: Span) -> Vec<u8> {
    assert!(
        span.end() as usize <= msg.len(),
        "span {span:?} outside {} bytes",
        msg.len()
    );
    msg[span.start as usize..span.end() as usize].to_vec()
}

/// Feeds `input` whole, one byte at a time and at every 2-way split; all
/// must agree. Returns the whole-input outcome.
pub(crate) fn agree<G: PartialEq + std::fmt::Debug>(
    input: &[u8],
    mut run: impl FnMut(&[usize]) -> Vec<Ev<G>>,
) -> Vec<Ev<G>> {
    let whole = run(&[]);
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run(&bytewise), whole, "byte at a time");
    for k in 1..input.len() {
        assert_eq!(run(&[k]), whole, "split at {k}");
    }
    whole
}

/// A deterministic pseudo-random generator (xorshift64*).
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
