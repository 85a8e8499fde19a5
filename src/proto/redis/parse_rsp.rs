//! Redis response parser (twemproxy: `redis_parse_rsp()` in nc_redis.c).
//!
//! Finds the end of one reply from a backend, in RESP2 or RESP3:
//!
//! | byte | type | framing |
//! |---|---|---|
//! | `+` `-` | status, error | a line |
//! | `,` `(` | RESP3 double, big number | a line (relayed, not read) |
//! | `:` | integer | a signed 64-bit number |
//! | `#` | RESP3 boolean | `t` or `f` |
//! | `_` | RESP3 null | nothing |
//! | `$` `=` `!` | bulk (`$-1` null), RESP3 verbatim string, blob error | length then data |
//! | `*` `~` `>` | array (`*-1` null), RESP3 set, push | count then elements |
//! | `%` `\|` | RESP3 map, attribute | count then 2 × count elements |
//!
//! An attribute is not a value: it precedes the value it annotates (the
//! reply itself at top level, or an element), which then follows. Streamed
//! strings and aggregates (`$?`, `*?`, ...) are framing errors: redis-server
//! never sends them (§REDIS.8, like any unknown type byte).
//!
//! The meta records the top-level shape: kind (an error whose first word is
//! exactly OOM, BUSY or LOADING is `RspKind::Failure`; a blob error is an
//! `Error`), the integer value, null (`$-1`, `*-1`, `_`), and with
//! `want_elems` the span of each top-level element of an aggregate (a map
//! has 2 × count; an element's span includes any attribute before it),
//! which is what MGET coalescing copies.
//!
//! # Invariants
//! - resumable at any byte: nesting lives in a fixed stack inside the state
//!   (no recursion), bulk data is skipped, never scanned;
//! - element counts are bounded by `max_narg`, bulk lengths and the reply
//!   size by `max_msg`, lines by `max_line`, depth (attributes included) by
//!   `min(max_depth, DEPTH_CAP)`;
//! - the only allocation is pushing element spans onto `meta.elems`.

use crate::proto::{Limits, ParseError, Progress, RspKind, RspMeta, Span};

/// Aggregates nested deeper than this are refused whatever `max_depth` says
/// (one bit of `RspState::attr` per level).
pub const DEPTH_CAP: usize = 128;

use super::MAX_DIGITS;

/// Bytes of an error's first word kept to classify it (`LOADING` is 7).
const WORD_MAX: usize = 8;

/// Where the parser stands in the reply grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,  // first byte of the reply: clears the meta, then as Type
    Type,   // the type byte of the next value
    Line,   // status, error, double or big number text, up to CR
    LineLf, // LF that ends a line (also after `_` and a boolean)
    Num,    // sign and digits of a number, length or count, up to CR
    NumLf,  // LF after the number
    Data,   // `rem` bytes of bulk data
    DataCr, // CR after the data
    DataLf, // LF after the data
    Bool,   // `t` or `f` after `#`
    Cr,     // CR right after `_` or the boolean
}

/// Resumable state of one reply's parse.
#[derive(Clone, Debug)]
pub struct RspState {
    phase: Phase,
    want_elems: bool,        // record top-level element spans in meta.elems
    base: u64,               // message offset of the current chunk's first byte
    stack: [u32; DEPTH_CAP], // elements still owed by each open aggregate
    attr: u128,              // bit d: the aggregate at depth d is an attribute
    depth: usize,            // open aggregates
    after_attr: bool,        // an attribute just ended: its value follows
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
            attr: 0,
            depth: 0,
            after_attr: false,
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
        self.attr = 0;
        self.depth = 0;
        self.after_attr = false;
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

    /// Whether the aggregate at depth `d` is an attribute.
    fn is_attr(&self, d: usize) -> bool {
        d < DEPTH_CAP && self.attr & (1u128 << d) != 0
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
        let (kind, phase) = match b {
            b'+' => (RspKind::Status, Phase::Line),
            b'-' => (RspKind::Error, Phase::Line),
            b',' => (RspKind::Double, Phase::Line),
            b'(' => (RspKind::BigNumber, Phase::Line),
            b':' => (RspKind::Integer, Phase::Num),
            b'$' => (RspKind::Bulk, Phase::Num),
            b'=' => (RspKind::Verbatim, Phase::Num),
            b'!' => (RspKind::Error, Phase::Num),
            b'*' => (RspKind::Array, Phase::Num),
            b'~' => (RspKind::Set, Phase::Num),
            b'>' => (RspKind::Push, Phase::Num),
            b'%' => (RspKind::Map, Phase::Num),
            b'|' => (RspKind::Unknown, Phase::Num), // attribute: the value follows
            b'#' => (RspKind::Boolean, Phase::Bool),
            b'_' => (RspKind::Null, Phase::Cr),
            _ => return Err(ParseError::Unexpected { what: "reply type" }),
        };
        if self.depth == 0 && b != b'|' {
            meta.kind = kind;
            meta.null = b == b'_';
        } else if self.depth == 1 && !self.after_attr {
            self.elem_start = off;
        }
        self.after_attr = false;
        self.ty = b;
        (self.num, self.neg, self.ndigit) = (0, false, 0);
        self.line_start = off + 1;
        self.phase = phase;
        Ok(())
    }

    /// The fast path of bulk replies and of an aggregate's elements (an
    /// MGET reply is a thousand of them): a bulk `$<len>\r\n<data>\r\n`
    /// that lies whole in `chunk[at..]`, within every limit, is read in one
    /// go; returns its bytes. Anything else (a partial or
    /// malformed bulk, a null, a limit crossed) is `None` and left to the
    /// byte-at-a-time phases, which give the same result or error.
    #[inline]
    fn whole_bulk(
        &mut self,
        chunk: &[u8],
        at: usize,
        lim: &Limits,
        meta: &mut RspMeta,
    ) -> Option<usize> {
        let max = u64::from(lim.max_msg);
        let off = self.off(at);
        if off > max {
            return None;
        }
        let (data, num) = super::whole_bulk(chunk.get(at..)?, max)?;
        if (off + data as u64).saturating_add(num + 2) > max {
            return None;
        }
        if self.depth == 0 {
            (meta.kind, meta.null) = (RspKind::Bulk, false);
        } else if self.depth == 1 && !self.after_attr {
            self.elem_start = off;
        }
        self.after_attr = false;
        self.ty = b'$';
        Some(data + num as usize + 2)
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

    /// What the number after the type byte is, for errors.
    fn num_what(&self) -> &'static str {
        match self.ty {
            b':' => "integer reply",
            b'$' | b'=' | b'!' => "bulk length",
            b'%' | b'|' => "map length",
            _ => "array length",
        }
    }

    /// A sign or digit of a number (digits first: they are most bytes).
    fn num_byte(&mut self, b: u8, lim: &Limits) -> Result<(), ParseError> {
        if b.is_ascii_digit() {
            self.ndigit += 1;
            self.num = self
                .num
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .filter(|_| self.ndigit <= MAX_DIGITS)
                .ok_or_else(|| ParseError::BadNumber {
                    what: self.num_what(),
                })?;
            return self.num_bound(lim);
        }
        if b == b'\r' && self.ndigit > 0 {
            self.phase = Phase::NumLf;
            return Ok(());
        }
        // `:` takes any sign; only `$-1` and `*-1` (RESP2 nulls) elsewhere
        if b == b'-' && self.ndigit == 0 && !self.neg && matches!(self.ty, b':' | b'$' | b'*') {
            self.neg = true;
            return Ok(());
        }
        Err(ParseError::BadNumber {
            what: self.num_what(),
        })
    }

    /// The number read so far is within its limit (and a negative one is -1).
    fn num_bound(&self, lim: &Limits) -> Result<(), ParseError> {
        let (max, per) = match self.ty {
            b':' => return Ok(()),
            b'$' | b'=' | b'!' => (lim.max_msg, 1),
            b'%' | b'|' => (lim.max_narg, 2),
            _ => (lim.max_narg, 1),
        };
        if self.neg && self.num > 1 {
            return Err(ParseError::BadNumber {
                what: self.num_what(),
            });
        }
        if self.num.saturating_mul(per) > u64::from(max) {
            return Err(ParseError::TooLarge {
                what: self.num_what(),
                max,
            });
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
            b'$' | b'*' if null => {
                meta.null |= self.depth == 0;
                Ok(self.value_done(off, meta))
            }
            b'$' | b'=' | b'!' => {
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
            _ => {
                let attr = self.ty == b'|';
                let n = if matches!(self.ty, b'%' | b'|') {
                    self.num.saturating_mul(2)
                } else {
                    self.num
                };
                if n == 0 && attr {
                    self.after_attr = true;
                    self.phase = Phase::Type;
                    return Ok(false);
                }
                if n == 0 {
                    return Ok(self.value_done(off, meta));
                }
                let max = usize::try_from(lim.max_depth).map_or(DEPTH_CAP, |m| m.min(DEPTH_CAP));
                let slot = self.stack.get_mut(self.depth).filter(|_| self.depth < max);
                let slot = slot.ok_or(ParseError::TooDeep { max: max as u32 })?;
                *slot = u32::try_from(n).map_err(|_| ParseError::BadNumber {
                    what: "array length",
                })?;
                let bit = 1u128 << self.depth;
                self.attr = if attr {
                    self.attr | bit
                } else {
                    self.attr & !bit
                };
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
            if top == 0 && self.want_elems && !self.is_attr(0) {
                let start = u32::try_from(self.elem_start).unwrap_or(u32::MAX);
                let len = u32::try_from(end - self.elem_start).unwrap_or(0);
                meta.elems.push(Span::new(start, len));
            }
            self.stack[top] -= 1;
            if self.stack[top] > 0 {
                return false;
            }
            self.depth = top;
            if self.is_attr(top) {
                // an attribute is no value of its own: the annotated one follows
                self.after_attr = true;
                return false;
            }
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
            Phase::Type => match st.whole_bulk(chunk, i, lim, meta) {
                Some(n) => {
                    i += n;
                    if st.value_done(st.off(i), meta) {
                        st.reset();
                        return Ok(Progress::Complete { end: i });
                    }
                    continue;
                }
                None => {
                    st.value_start(b, st.off(i), lim, meta)?;
                    false
                }
            },
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
            Phase::Bool if b == b't' || b == b'f' => {
                st.phase = Phase::Cr;
                false
            }
            Phase::Bool => return Err(ParseError::Unexpected { what: "boolean" }),
            Phase::Cr if b == b'\r' => {
                st.phase = Phase::LineLf;
                false
            }
            Phase::Cr => return Err(ParseError::Unexpected { what: "line end" }),
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

/// Line text from `chunk[at..]` (the Line phase); returns the bytes used.
/// The text before CR is at most `max_line` bytes.
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

    // RESP3
    rsp! { r3_null, b"_\r\n", Null, null = true }
    rsp! { r3_true, b"#t\r\n", Boolean, null = false }
    rsp! { r3_false, b"#f\r\n", Boolean }
    rsp! { r3_double, b",3.14\r\n", Double }
    rsp! { r3_double_inf, b",-inf\r\n", Double }
    rsp! { r3_big_number, b"(3492890328409238509324850943850943825024385\r\n", BigNumber }
    rsp! { r3_verbatim, b"=15\r\ntxt:Some string\r\n", Verbatim }
    rsp! { r3_blob_error, b"!21\r\nSYNTAX invalid syntax\r\n", Error }
    rsp! { r3_map, b"%2\r\n+first\r\n:1\r\n+second\r\n_\r\n", Map, null = false, elems = [b"+first\r\n", b":1\r\n", b"+second\r\n", b"_\r\n"] }
    rsp! { r3_map_empty, b"%0\r\n", Map, elems = [] }
    rsp! { r3_set, b"~2\r\n$1\r\na\r\n,1.5\r\n", Set, elems = [b"$1\r\na\r\n", b",1.5\r\n"] }
    rsp! { r3_push, b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n", Push, elems = [b"$7\r\nmessage\r\n", b"$1\r\nx\r\n"] }
    rsp! { r3_mget_nulls, b"*3\r\n$1\r\na\r\n_\r\n$2\r\nbc\r\n", Array, elems = [b"$1\r\na\r\n", b"_\r\n", b"$2\r\nbc\r\n"] }
    rsp! { r3_nested, b"*2\r\n%1\r\n~1\r\n#t\r\n>1\r\n(1\r\n=5\r\ntxt:x\r\n", Array, elems = [b"%1\r\n~1\r\n#t\r\n>1\r\n(1\r\n", b"=5\r\ntxt:x\r\n"] }
    rsp! { r3_attribute_top, b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n", Array, elems = [b":2\r\n"] }
    rsp! { r3_attribute_before_int, b"|0\r\n:7\r\n", Integer, int = 7 }
    rsp! { r3_attribute_on_element, b"*2\r\n:1\r\n|1\r\n+ttl\r\n:3\r\n:2\r\n", Array, elems = [b":1\r\n", b"|1\r\n+ttl\r\n:3\r\n:2\r\n"] }
    rsp! { r3_attribute_in_attribute, b"|1\r\n|0\r\n+k\r\n+v\r\n_\r\n", Null, null = true }
    // elements read whole (`whole_bulk`) agree with the byte-at-a-time phases
    rsp! { mget_elems, b"*4\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n$002\r\nbc\r\n", Array, elems = [b"$1\r\na\r\n", b"$-1\r\n", b"$0\r\n\r\n", b"$002\r\nbc\r\n"] }
    rsp! { elem_bulk_21_digits, b"*1\r\n$000000000000000000001\r\na\r\n", err ParseError::BadNumber { what: "bulk length" } }
    rsp! { elem_bulk_over_max_msg, b"*1\r\n$60\r\n", err ParseError::TooLarge { what: "response", max: 64 }, lim = small() }
    rsp! { elem_bulk_len_over_max_msg, b"*1\r\n$65\r\n", err ParseError::TooLarge { what: "bulk length", max: 64 }, lim = small() }
    rsp! { elem_bulk_data_too_long, b"*1\r\n$1\r\nab\r\n", err ParseError::Unexpected { what: "bulk data end" } }
    rsp! { elem_bulk_lf_missing, b"*1\r\n$1\r\na\rb", err ParseError::Unexpected { what: "line end" } }
    rsp! { r3_bool_other, b"#x\r\n", err ParseError::Unexpected { what: "boolean" } }
    rsp! { r3_bool_long, b"#tt\r\n", err ParseError::Unexpected { what: "line end" } }
    rsp! { r3_null_text, b"_x\r\n", err ParseError::Unexpected { what: "line end" } }
    rsp! { r3_map_null, b"%-1\r\n", err ParseError::BadNumber { what: "map length" } }
    rsp! { r3_set_null, b"~-1\r\n", err ParseError::BadNumber { what: "array length" } }
    rsp! { r3_verbatim_null, b"=-1\r\n", err ParseError::BadNumber { what: "bulk length" } }
    rsp! { r3_streamed_string, b"$?\r\n;4\r\nHell\r\n;0\r\n", err ParseError::BadNumber { what: "bulk length" } }
    rsp! { r3_streamed_array, b"*?\r\n:1\r\n.\r\n", err ParseError::BadNumber { what: "array length" } }
    rsp! { r3_stream_end_alone, b".\r\n", err ParseError::Unexpected { what: "reply type" } }
    rsp! { r3_huge_map, b"%600000\r\n", err ParseError::TooLarge { what: "map length", max: 1 << 20 } }
    rsp! { r3_attribute_too_deep, b"*1\r\n*1\r\n*1\r\n|1\r\n:1\r\n:1\r\n:1\r\n", err ParseError::TooDeep { max: 3 }, lim = small() }
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
            b"OOM", b" ", b"x", b"%", b"\0", b"_", b"#", b"t", b",", b"(", b"=", b"!", b"~", b">",
            b"|",
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
