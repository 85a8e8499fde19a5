//! Redis response parser (twemproxy: `redis_parse_rsp()` in nc_redis.c).
//!
//! Finds the end of one RESP2 reply from a backend: `+status`, `-error`,
//! `:integer`, `$bulk` (`$-1` null), `*array` (`*-1` null, `*0` empty) with
//! elements of any type nested up to `max_depth` arrays. RESP3 types and any
//! other byte are framing errors (§REDIS.8). The meta records the top-level
//! shape: kind (an error whose first word is exactly OOM, BUSY or LOADING is
//! `RspKind::Failure`), the integer value, null, and with `want_elems` the
//! span of each top-level array element (what MGET coalescing copies).
//!
//! # Invariants
//! - resumable at any byte: nesting lives in a fixed stack inside the state
//!   (no recursion), bulk data is skipped, never scanned;
//! - array counts are bounded by `max_narg`, bulk lengths and the reply size
//!   by `max_msg`, status and error lines by `max_line`, depth by
//!   `min(max_depth, DEPTH_CAP)`;
//! - the only allocation is pushing element spans onto `meta.elems`.

use crate::proto::{Limits, ParseError, Progress, RspKind, RspMeta, Span};

/// Arrays nested deeper than this are refused whatever `max_depth` says.
pub const DEPTH_CAP: usize = 128;

/// Digits accepted in one number (leading zeros included).
const MAX_DIGITS: u32 = 20;

/// Bytes of an error's first word kept to classify it (`LOADING` is 7).
const WORD_MAX: usize = 8;

/// Where the parser stands in the reply grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,  // first byte of the reply: clears the meta, then as Type
    Type,   // the type byte of the next value
    Line,   // status or error text, up to CR
    LineLf, // LF after the text
    Num,    // sign and digits after `:`, `$` or `*`, up to CR
    NumLf,  // LF after the number
    Data,   // `rem` bytes of bulk data
    DataCr, // CR after the data
    DataLf, // LF after the data
}

/// Resumable state of one reply's parse.
#[derive(Clone, Debug)]
pub struct RspState {
    phase: Phase,
    want_elems: bool,        // record top-level element spans in meta.elems
    base: u64,               // message offset of the current chunk's first byte
    stack: [u32; DEPTH_CAP], // elements still owed by each open array
    depth: usize,            // open arrays
    elem_start: u64,         // message offset of the current top-level element
    ty: u8,                  // type byte of the value being read
    line_start: u64,         // message offset of the current line's text
    num: u64,                // magnitude of the number being read
    neg: bool,               // it had a leading `-`
    ndigit: u32,             // its digits so far
    rem: u64,                // bulk data bytes still to read
    word: [u8; WORD_MAX],    // first word of a top-level error
    wlen: usize,             // its bytes (WORD_MAX + 1: too long to matter)
    word_done: bool,         // a space ended the first word
}

impl RspState {
    /// A state for a new reply; `want_elems` fills `meta.elems`.
    pub fn new(want_elems: bool) -> RspState {
        RspState {
            phase: Phase::Start,
            want_elems,
            base: 0,
            stack: [0; DEPTH_CAP],
            depth: 0,
            elem_start: 0,
            ty: 0,
            line_start: 0,
            num: 0,
            neg: false,
            ndigit: 0,
            rem: 0,
            word: [0; WORD_MAX],
            wlen: 0,
            word_done: false,
        }
    }

    /// Ready for the first byte of a new reply (keeps `want_elems`).
    pub fn reset(&mut self) {
        self.restart(self.want_elems);
    }

    /// Ready for a new reply, without rewriting the stack and word
    /// buffers: only entries below `depth` / `wlen` are ever read.
    pub fn restart(&mut self, want_elems: bool) {
        self.phase = Phase::Start;
        self.want_elems = want_elems;
        self.base = 0;
        self.depth = 0;
        self.elem_start = 0;
        self.ty = 0;
        self.line_start = 0;
        self.num = 0;
        self.neg = false;
        self.ndigit = 0;
        self.rem = 0;
        self.wlen = 0;
        self.word_done = false;
    }

    fn off(&self, i: usize) -> u64 {
        self.base + i as u64
    }

    /// Reads the type byte at message offset `off`.
    fn value_start(
        &mut self,
        b: u8,
        off: u64,
        lim: &Limits,
        meta: &mut RspMeta,
    ) -> Result<(), ParseError> {
        if off > u64::from(lim.max_msg) {
            return Err(ParseError::TooLarge {
                what: "response",
                max: lim.max_msg,
            });
        }
        let kind = match b {
            b'+' => RspKind::Status,
            b'-' => RspKind::Error,
            b':' => RspKind::Integer,
            b'$' => RspKind::Bulk,
            b'*' => RspKind::Array,
            _ => return Err(ParseError::Unexpected { what: "reply type" }),
        };
        if self.depth == 0 {
            meta.kind = kind;
        } else if self.depth == 1 {
            self.elem_start = off;
        }
        self.ty = b;
        (self.num, self.neg, self.ndigit) = (0, false, 0);
        self.line_start = off + 1;
        self.phase = if matches!(b, b'+' | b'-') {
            Phase::Line
        } else {
            Phase::Num
        };
        Ok(())
    }

    /// Keeps the first word of a top-level error.
    fn feed_word(&mut self, text: &[u8]) {
        if self.depth != 0 || self.ty != b'-' || self.word_done {
            return;
        }
        for &b in text {
            if b == b' ' {
                self.word_done = true;
                return;
            }
            if let Some(slot) = self.word.get_mut(self.wlen) {
                *slot = b;
            }
            self.wlen = (self.wlen + 1).min(WORD_MAX + 1);
        }
    }

    /// A sign or digit of a number.
    fn num_byte(&mut self, b: u8, lim: &Limits) -> Result<(), ParseError> {
        let what = match self.ty {
            b':' => "integer reply",
            b'$' => "bulk length",
            _ => "array length",
        };
        if b == b'-' && self.ndigit == 0 && !self.neg {
            self.neg = true;
            return Ok(());
        }
        if b == b'\r' && self.ndigit > 0 {
            self.phase = Phase::NumLf;
            return Ok(());
        }
        if !b.is_ascii_digit() {
            return Err(ParseError::BadNumber { what });
        }
        self.ndigit += 1;
        self.num = self
            .num
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .filter(|_| self.ndigit <= MAX_DIGITS)
            .ok_or(ParseError::BadNumber { what })?;
        let max = match self.ty {
            b'$' => lim.max_msg,
            b'*' => lim.max_narg,
            _ => return Ok(()),
        };
        if self.neg && self.num > 1 {
            return Err(ParseError::BadNumber { what });
        }
        if self.num > u64::from(max) {
            return Err(ParseError::TooLarge { what, max });
        }
        Ok(())
    }

    /// The number line of `ty` ended; the next byte is at message offset `off`.
    fn num_done(&mut self, off: u64, lim: &Limits, meta: &mut RspMeta) -> Result<bool, ParseError> {
        let null = self.neg; // `$-1` / `*-1`: num_byte allowed only 1 after `-`
        match self.ty {
            b':' => {
                let v = if self.neg {
                    -i128::from(self.num)
                } else {
                    i128::from(self.num)
                };
                let v = i64::try_from(v).map_err(|_| ParseError::BadNumber {
                    what: "integer reply",
                })?;
                if self.depth == 0 {
                    meta.int = v;
                }
                Ok(self.value_done(off, meta))
            }
            b'$' if null => {
                meta.null |= self.depth == 0;
                Ok(self.value_done(off, meta))
            }
            b'$' => {
                self.rem = self.num;
                if off.saturating_add(self.rem).saturating_add(2) > u64::from(lim.max_msg) {
                    return Err(ParseError::TooLarge {
                        what: "response",
                        max: lim.max_msg,
                    });
                }
                self.phase = if self.rem == 0 {
                    Phase::DataCr
                } else {
                    Phase::Data
                };
                Ok(false)
            }
            _ if null => {
                meta.null |= self.depth == 0;
                Ok(self.value_done(off, meta))
            }
            _ if self.num == 0 => Ok(self.value_done(off, meta)),
            _ => {
                let max = usize::try_from(lim.max_depth).map_or(DEPTH_CAP, |m| m.min(DEPTH_CAP));
                let slot = self.stack.get_mut(self.depth).filter(|_| self.depth < max);
                let slot = slot.ok_or(ParseError::TooDeep { max: max as u32 })?;
                *slot = u32::try_from(self.num).map_err(|_| ParseError::BadNumber {
                    what: "array length",
                })?;
                self.depth += 1;
                self.phase = Phase::Type;
                Ok(false)
            }
        }
    }

    /// A value ended just before message offset `end`; true when it was the
    /// whole reply.
    fn value_done(&mut self, end: u64, meta: &mut RspMeta) -> bool {
        self.phase = Phase::Type;
        while let Some(top) = self.depth.checked_sub(1) {
            if top == 0 && self.want_elems {
                let start = u32::try_from(self.elem_start).unwrap_or(u32::MAX);
                let len = u32::try_from(end - self.elem_start).unwrap_or(0);
                meta.elems.push(Span::new(start, len));
            }
            self.stack[top] -= 1;
            if self.stack[top] > 0 {
                return false;
            }
            self.depth = top;
        }
        true
    }

    /// The top-level error line ended: classify it.
    fn line_done(&self, meta: &mut RspMeta) {
        if self.depth == 0 && self.ty == b'-' {
            let word = self.word.get(..self.wlen).unwrap_or(&[]);
            if matches!(word, b"OOM" | b"BUSY" | b"LOADING") {
                meta.kind = RspKind::Failure;
            }
        }
    }
}

/// Parses the next `chunk` of a reply (see the contract in `proto`).
/// `meta` is cleared at the first byte of each reply; on `Complete` the
/// state is ready for the next reply.
pub fn parse_rsp(
    st: &mut RspState,
    chunk: &[u8],
    lim: &Limits,
    meta: &mut RspMeta,
) -> Result<Progress, ParseError> {
    let mut i = 0;
    while i < chunk.len() {
        let b = chunk[i];
        let done = match st.phase {
            Phase::Start => {
                meta.clear();
                st.phase = Phase::Type;
                continue;
            }
            Phase::Type => {
                st.value_start(b, st.off(i), lim, meta)?;
                false
            }
            Phase::Line => {
                i += line_text(st, chunk, i, lim)?;
                continue;
            }
            Phase::LineLf | Phase::NumLf | Phase::DataLf if b != b'\n' => {
                return Err(ParseError::Unexpected { what: "line end" })
            }
            Phase::LineLf => {
                st.line_done(meta);
                st.value_done(st.off(i + 1), meta)
            }
            Phase::Num => {
                st.num_byte(b, lim)?;
                false
            }
            Phase::NumLf => st.num_done(st.off(i + 1), lim, meta)?,
            Phase::Data => {
                let take =
                    usize::try_from(st.rem).map_or(chunk.len() - i, |r| r.min(chunk.len() - i));
                st.rem -= take as u64;
                if st.rem == 0 {
                    st.phase = Phase::DataCr;
                }
                i += take;
                continue;
            }
            Phase::DataCr if b == b'\r' => {
                st.phase = Phase::DataLf;
                false
            }
            Phase::DataCr => {
                return Err(ParseError::Unexpected {
                    what: "bulk data end",
                })
            }
            Phase::DataLf => st.value_done(st.off(i + 1), meta),
        };
        i += 1;
        if done {
            st.reset();
            return Ok(Progress::Complete { end: i });
        }
    }
    st.base += chunk.len() as u64;
    Ok(Progress::Incomplete)
}

/// Status or error text from `chunk[at..]` (the Line phase); returns the
/// bytes used. The text before CR is at most `max_line` bytes.
fn line_text(
    st: &mut RspState,
    chunk: &[u8],
    at: usize,
    lim: &Limits,
) -> Result<usize, ParseError> {
    let rest = &chunk[at..];
    // Offsets line_start ..= line_start + max_line may hold text or the CR.
    let room = (st.line_start + u64::from(lim.max_line) + 1).saturating_sub(st.off(at));
    let window = usize::try_from(room).map_or(rest, |r| &rest[..r.min(rest.len())]);
    match window.iter().position(|&c| c == b'\r') {
        Some(cr) => {
            st.feed_word(&window[..cr]);
            st.phase = Phase::LineLf;
            Ok(cr + 1)
        }
        None if window.len() as u64 >= room => Err(ParseError::LineTooLong { max: lim.max_line }),
        None => {
            st.feed_word(window);
            Ok(window.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{all_splits as agree, feed_fns as drive, span_vec as bytes, Ev, Rng};

    /// What a complete reply looked like, in bytes.
    #[derive(Debug, PartialEq, Eq)]
    struct Got {
        len: usize,
        kind: RspKind,
        int: i64,
        null: bool,
        elems: Vec<Vec<u8>>,
    }

    fn snap(m: &RspMeta, msg: &[u8]) -> Got {
        let elems = m.elems.iter().map(|&e| bytes(msg, e)).collect();
        Got {
            len: msg.len(),
            kind: m.kind,
            int: m.int,
            null: m.null,
            elems,
        }
    }

    fn run(input: &[u8], cuts: &[usize], lim: &Limits) -> Vec<Ev<Got>> {
        let mut meta = RspMeta::default();
        drive(
            input,
            cuts,
            || RspState::new(true),
            &mut meta,
            |s, c, m| parse_rsp(s, c, lim, m),
            snap,
        )
    }

    fn first(input: &[u8], lim: &Limits) -> Ev<Got> {
        agree(input, |cuts| run(input, cuts, lim))
            .into_iter()
            .next()
            .unwrap_or(Ev::Partial)
    }

    fn small() -> Limits {
        Limits {
            max_msg: 64,
            max_narg: 8,
            max_key: 5,
            max_line: 8,
            max_depth: 3,
        }
    }

    /// `rsp!{ test, input, Kind [, int = n] [, null] [, elems = [..]] }`:
    /// a complete reply; `rsp!{ test, input, err Error }`: framing lost.
    /// Each is checked whole, byte by byte and at every 2-way split.
    macro_rules! rsp {
        ($t:ident, $in:expr, err $err:expr $(, lim = $lim:expr)?) => {
            #[test]
            fn $t() {
                #[allow(unused_variables)]
                let lim = Limits::default();
                $( let lim = $lim; )?
                assert_eq!(first($in, &lim), Ev::Err($err));
            }
        };
        ($t:ident, $in:expr, $kind:ident $(, int = $int:expr)? $(, null = $null:expr)? $(, elems = [$($e:expr),*])?) => {
            #[test]
            fn $t() {
                let Ev::Done(got) = first($in, &Limits::default()) else { panic!("not complete") };
                assert_eq!((got.len, got.kind), ($in.len(), RspKind::$kind));
                $( assert_eq!(got.int, $int); )?
                $( assert_eq!(got.null, $null); )?
                $( let elems: &[&[u8]] = &[$($e),*]; assert_eq!(got.elems, elems); )?
            }
        };
    }

    rsp! { status, b"+OK\r\n", Status, null = false }
    rsp! { error, b"-ERR unknown\r\n", Error }
    rsp! { error_wrongtype, b"-WRONGTYPE Operation\r\n", Error }
    rsp! { failure_oom, b"-OOM command not allowed\r\n", Failure }
    rsp! { failure_busy, b"-BUSY running a script\r\n", Failure }
    rsp! { failure_loading, b"-LOADING dataset\r\n", Failure }
    rsp! { failure_bare_word, b"-LOADING\r\n", Failure }
    rsp! { error_word_prefix, b"-OOMX no\r\n", Error }
    rsp! { error_word_longer, b"-LOADINGS x\r\n", Error }
    rsp! { empty_error, b"-\r\n", Error }
    rsp! { integer, b":42\r\n", Integer, int = 42 }
    rsp! { integer_negative, b":-7\r\n", Integer, int = -7 }
    rsp! { integer_min, b":-9223372036854775808\r\n", Integer, int = i64::MIN }
    rsp! { bulk, b"$3\r\nfoo\r\n", Bulk, null = false }
    rsp! { bulk_binary, b"$4\r\n\r\n\r\n\r\n", Bulk }
    rsp! { bulk_empty, b"$0\r\n\r\n", Bulk }
    rsp! { bulk_null, b"$-1\r\n", Bulk, null = true }
    rsp! { array_null, b"*-1\r\n", Array, null = true, elems = [] }
    rsp! { array_empty, b"*0\r\n", Array, null = false, elems = [] }
    rsp! { array_mget, b"*3\r\n$1\r\na\r\n$-1\r\n$2\r\nbc\r\n", Array, elems = [b"$1\r\na\r\n", b"$-1\r\n", b"$2\r\nbc\r\n"] }
    rsp! { array_mixed, b"*4\r\n+OK\r\n-ERR x\r\n:1\r\n*0\r\n", Array, elems = [b"+OK\r\n", b"-ERR x\r\n", b":1\r\n", b"*0\r\n"] }
    rsp! { array_nested, b"*2\r\n*2\r\n:1\r\n*1\r\n$1\r\nx\r\n*-1\r\n", Array, elems = [b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n", b"*-1\r\n"] }
    rsp! { nested_error_is_not_failure, b"*1\r\n-OOM x\r\n", Array, elems = [b"-OOM x\r\n"] }
    rsp! { nested_int_not_recorded, b"*1\r\n:5\r\n", Array, int = 0 }

    rsp! { resp3_map, b"%1\r\n", err ParseError::Unexpected { what: "reply type" } }
    rsp! { resp3_null, b"_\r\n", err ParseError::Unexpected { what: "reply type" } }
    rsp! { resp3_in_array, b"*1\r\n#t\r\n", err ParseError::Unexpected { what: "reply type" } }
    rsp! { bulk_short, b"$3\r\nfoobar\r\n", err ParseError::Unexpected { what: "bulk data end" } }
    rsp! { bulk_minus_two, b"$-2\r\n", err ParseError::BadNumber { what: "bulk length" } }
    rsp! { bulk_no_digits, b"$\r\n", err ParseError::BadNumber { what: "bulk length" } }
    rsp! { int_text, b":1x\r\n", err ParseError::BadNumber { what: "integer reply" } }
    rsp! { int_overflow, b":9223372036854775808\r\n", err ParseError::BadNumber { what: "integer reply" } }
    rsp! { cr_without_lf, b"+OK\rX", err ParseError::Unexpected { what: "line end" } }
    rsp! { huge_bulk, b"$1073741824\r\n", err ParseError::TooLarge { what: "bulk length", max: 512 << 20 } }
    rsp! { huge_array, b"*2000000\r\n", err ParseError::TooLarge { what: "array length", max: 1 << 20 } }
    rsp! { too_deep, b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", err ParseError::TooDeep { max: 3 }, lim = small() }
    rsp! { line_too_long, b"+123456789\r\n", err ParseError::LineTooLong { max: 8 }, lim = small() }
    rsp! { reply_too_large, b"*2\r\n$40\r\n0123456789012345678901234567890123456789\r\n$20\r\n", err ParseError::TooLarge { what: "response", max: 64 }, lim = small() }

    #[test]
    fn depth_and_line_at_the_limit() {
        let lim = small();
        assert!(matches!(
            first(b"*1\r\n*1\r\n*1\r\n:1\r\n", &lim),
            Ev::Done(_)
        ));
        assert!(matches!(first(b"+12345678\r\n", &lim), Ev::Done(_)));
    }

    #[test]
    fn pipelined_replies() {
        let input = b"+OK\r\n:3\r\n*2\r\n$1\r\na\r\n$-1\r\n-BUSY x\r\n$2\r\nh";
        let evs = agree(input, |cuts| run(input, cuts, &Limits::default()));
        let kinds: Vec<_> = evs
            .iter()
            .map(|e| match e {
                Ev::Done(g) => Some((g.kind, g.int, g.elems.len())),
                _ => None,
            })
            .collect();
        let want = vec![
            Some((RspKind::Status, 0, 0)),
            Some((RspKind::Integer, 3, 0)),
            Some((RspKind::Array, 0, 2)),
            Some((RspKind::Failure, 0, 0)),
            None,
        ];
        assert_eq!(kinds, want);
    }

    #[test]
    fn without_want_elems_no_spans() {
        let mut st = RspState::new(false);
        let mut meta = RspMeta::default();
        let r = parse_rsp(
            &mut st,
            b"*2\r\n:1\r\n:2\r\n",
            &Limits::default(),
            &mut meta,
        );
        assert_eq!(r, Ok(Progress::Complete { end: 12 }));
        assert!(meta.elems.is_empty());
    }

    #[test]
    fn garbage_never_panics_and_splits_agree() {
        const ATOMS: &[&[u8]] = &[
            b"*", b"$", b":", b"+", b"-", b"\r\n", b"\r", b"\n", b"0", b"1", b"2", b"3", b"9",
            b"OOM", b" ", b"x", b"%", b"\0",
        ];
        let lim = small();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..10_000 {
            let mut input = Vec::new();
            for _ in 0..rng.below(24) {
                input.extend_from_slice(ATOMS[rng.below(ATOMS.len())]);
            }
            let whole = run(&input, &[], &lim);
            let cut = rng.below(input.len() + 1);
            let cuts: Vec<usize> = if cut == 0 || cut == input.len() {
                vec![]
            } else {
                vec![cut]
            };
            assert_eq!(
                run(&input, &cuts, &lim),
                whole,
                "{:?}",
                String::from_utf8_lossy(&input)
            );
            for ev in &whole {
                if let Ev::Done(g) = ev {
                    assert!(g.len <= (lim.max_msg + lim.max_line) as usize + 32);
                    assert!(g.elems.len() <= lim.max_narg as usize);
                }
            }
        }
    }
}
