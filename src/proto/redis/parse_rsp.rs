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
        *self = RspState::new(self.want_elems);
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
