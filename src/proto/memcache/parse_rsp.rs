//! Memcache response parser (twemproxy: `memcache_parse_rsp` in
//! proto/nc_memcache.c), the reply forms of §MEMCACHE.6:
//!
//! ```text
//! <digits>[ SP*]\r\n                              Number (incr/decr)
//! STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|ERROR[ SP*]\r\n
//! CLIENT_ERROR|SERVER_ERROR|VERSION[ <text>]\r\n
//! (VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n)* END\r\n   Values
//! ```
//! Anything else is a backend protocol error (`Err`): the server
//! connection closes.
//!
//! # Invariants
//! - each byte is looked at once; the state carries partial words and
//!   numbers across chunks;
//! - with `want_elems`, `meta.elems` holds one span per VALUE block, from
//!   `V` through the data's `\r\n`, in wire order; END is in none of them;
//! - every line is at most `max_line` bytes before its CR, every `<bytes>`
//!   at most `max_msg`; the only allocation is pushing at most `max_narg`
//!   element spans.

use super::parse_req::MAX_KEY;
use crate::proto::{Limits, ParseError, Progress, RspKind, RspMeta, Span};

/// Longest first word of a reply line: `CLIENT_ERROR`, or a u64 in digits.
const MAX_WORD: usize = 20;

const BAD: ParseError = ParseError::Unexpected {
    what: "memcache response",
};

/// Where the parser stands in a response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Word, // the first token of a line
    Trail,  // only SPs may come before CR
    Text,   // error or version text, up to CR
    Value,  // the fields of a VALUE line
    Lf,     // after a line's CR
    Data,   // inside a VALUE data block
    DataCr, // after the data block
    DataLf, // after the data block's CR
    Done,   // the response is complete
}

/// Resumable state of one response being parsed.
#[derive(Clone, Debug, Default)]
pub struct RspState {
    want_elems: bool,     // record a span per VALUE block in meta.elems
    phase: Phase,         // where we stand
    pos: u32,             // message bytes consumed before the current chunk
    line: u32,            // bytes of the current line before its CR
    line_start: u32,      // message offset of the current line
    word: [u8; MAX_WORD], // the line's first token so far
    wlen: usize,          // bytes in `word`
    values: bool,         // a VALUE block was seen: only VALUE or END follow
    value_line: bool,     // the current line is a VALUE line
    ntok: u32,            // fields begun on the VALUE line (key is 1)
    in_tok: bool,         // a VALUE field is open
    tok_len: u32,         // bytes of the open field
    num: u64,             // value of the open numeric field
    rest: u32,            // data bytes of the VALUE block still to skip
}

impl RspState {
    /// A parser; `want_elems` asks for the VALUE block spans (fragmented
    /// get/gets, whose sub-replies are re-assembled).
    pub fn new(want_elems: bool) -> RspState {
        RspState {
            want_elems,
            ..RspState::default()
        }
    }

    /// Ready for the first byte of a new response (keeps `want_elems`).
    pub fn reset(&mut self) {
        *self = RspState::new(self.want_elems);
    }

    /// One byte of a line before its CR, or the CR.
    fn line_byte(&mut self, b: u8, lim: &Limits, meta: &mut RspMeta) -> Result<(), ParseError> {
        if b != b'\r' {
            self.line = self.line.saturating_add(1);
            if self.line > lim.max_line {
                return Err(ParseError::LineTooLong { max: lim.max_line });
            }
        }
        match self.phase {
            Phase::Word => self.word_byte(b, meta),
            Phase::Trail => match b {
                b' ' => Ok(()),
                b'\r' => {
                    self.phase = Phase::Lf;
                    Ok(())
                }
                _ => Err(BAD),
            },
            _ => self.value_byte(b, lim),
        }
    }

    fn word_byte(&mut self, b: u8, meta: &mut RspMeta) -> Result<(), ParseError> {
        if b != b' ' && b != b'\r' {
            let w = self.word.get_mut(self.wlen).ok_or(BAD)?;
            *w = b;
            self.wlen += 1;
            return Ok(());
        }
        let cr = b == b'\r';
        let word = &self.word[..self.wlen];
        if self.values && word != b"VALUE" && word != b"END" {
            return Err(BAD);
        }
        let (kind, next) = match word {
            b"VALUE" if !cr => {
                self.value_line = true;
                self.ntok = 0;
                (RspKind::Values, Phase::Value)
            }
            b"END" if cr => (RspKind::Values, Phase::Lf),
            b"CLIENT_ERROR" => (RspKind::ClientError, Phase::Text),
            b"SERVER_ERROR" => (RspKind::ServerError, Phase::Text),
            b"VERSION" => (RspKind::Version, Phase::Text),
            _ => (simple(word, meta).ok_or(BAD)?, Phase::Trail),
        };
        meta.kind = kind;
        self.phase = if cr { Phase::Lf } else { next };
        Ok(())
    }

    /// A byte of the fields after `VALUE `.
    fn value_byte(&mut self, b: u8, lim: &Limits) -> Result<(), ParseError> {
        if b == b' ' || b == b'\r' {
            if self.in_tok {
                self.field_end(lim)?;
            }
            if b == b'\r' {
                if !(3..=4).contains(&self.ntok) {
                    return Err(BAD);
                }
                self.phase = Phase::Lf;
            }
            return Ok(());
        }
        if !self.in_tok {
            self.ntok += 1;
            if self.ntok > 4 {
                return Err(BAD);
            }
            (self.in_tok, self.tok_len, self.num) = (true, 0, 0);
        }
        self.tok_len = self.tok_len.saturating_add(1);
        if self.ntok == 1 {
            return match self.tok_len > MAX_KEY {
                true => Err(ParseError::TooLarge {
                    what: "key",
                    max: MAX_KEY,
                }),
                false => Ok(()),
            };
        }
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9);
        self.num = digit
            .and_then(|d| self.num.checked_mul(10)?.checked_add(u64::from(d)))
            .ok_or(ParseError::BadNumber {
                what: "VALUE field",
            })?;
        Ok(())
    }

    fn field_end(&mut self, lim: &Limits) -> Result<(), ParseError> {
        self.in_tok = false;
        match self.ntok {
            2 if self.num > u64::from(u32::MAX) => Err(ParseError::BadNumber { what: "flags" }),
            3 => match u32::try_from(self.num) {
                Ok(n) if n <= lim.max_msg => {
                    self.rest = n;
                    Ok(())
                }
                _ => Err(ParseError::TooLarge {
                    what: "value",
                    max: lim.max_msg,
                }),
            },
            _ => Ok(()),
        }
    }

    /// Error or version text, up to and including its CR.
    fn text(&mut self, bytes: &[u8], lim: &Limits) -> Result<usize, ParseError> {
        let room = (lim.max_line.saturating_sub(self.line) as usize).saturating_add(1);
        let win = &bytes[..bytes.len().min(room)];
        if let Some(p) = win.iter().position(|&c| c == b'\r') {
            self.phase = Phase::Lf;
            return Ok(p + 1);
        }
        self.line = bump(self.line, win.len())?;
        if self.line > lim.max_line {
            return Err(ParseError::LineTooLong { max: lim.max_line });
        }
        Ok(win.len())
    }

    /// A VALUE block ended after the byte at message offset `last`.
    fn value_done(
        &mut self,
        last: u32,
        lim: &Limits,
        meta: &mut RspMeta,
    ) -> Result<(), ParseError> {
        if self.want_elems {
            if meta.elems.len() >= lim.max_narg as usize {
                return Err(ParseError::TooLarge {
                    what: "VALUE blocks",
                    max: lim.max_narg,
                });
            }
            let end = bump(last, 1)?;
            meta.elems
                .push(Span::new(self.line_start, end - self.line_start));
        }
        self.values = true;
        self.next_line(last)
    }

    fn next_line(&mut self, last: u32) -> Result<(), ParseError> {
        self.line_start = bump(last, 1)?;
        (self.line, self.wlen, self.phase) = (0, 0, Phase::Word);
        Ok(())
    }
}

/// A one-word status reply (or a number), setting `meta.int` for numbers
/// that fit an i64.
fn simple(word: &[u8], meta: &mut RspMeta) -> Option<RspKind> {
    let kind = match word {
        b"STORED" => RspKind::Stored,
        b"NOT_STORED" => RspKind::NotStored,
        b"EXISTS" => RspKind::Exists,
        b"NOT_FOUND" => RspKind::NotFound,
        b"DELETED" => RspKind::Deleted,
        b"TOUCHED" => RspKind::Touched,
        b"ERROR" => RspKind::McError,
        _ => {
            let n = number(word)?;
            meta.int = i64::try_from(n).unwrap_or(0);
            RspKind::Number
        }
    };
    Some(kind)
}

/// A non-empty decimal u64.
fn number(word: &[u8]) -> Option<u64> {
    if word.is_empty() {
        return None;
    }
    word.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Parses (part of) one memcache response; see the contract in `proto`.
/// `meta` is cleared when the response's first byte arrives; calling again
/// after `Complete` starts a new response (`reset()` is then implied).
pub fn parse_rsp(
    st: &mut RspState,
    chunk: &[u8],
    lim: &Limits,
    meta: &mut RspMeta,
) -> Result<Progress, ParseError> {
    if st.phase == Phase::Done {
        st.reset();
    }
    if st.pos == 0 && st.phase == Phase::Word && st.wlen == 0 && !chunk.is_empty() {
        meta.clear();
    }
    let mut i = 0;
    while let Some(&b) = chunk.get(i) {
        let at = bump(st.pos, i)?; // message offset of `b`
        let n = match st.phase {
            Phase::Word | Phase::Trail | Phase::Value => {
                st.line_byte(b, lim, meta)?;
                1
            }
            Phase::Text => st.text(&chunk[i..], lim)?,
            Phase::Lf => {
                if b != b'\n' {
                    return Err(BAD);
                }
                if st.value_line {
                    st.value_line = false;
                    st.phase = if st.rest == 0 {
                        Phase::DataCr
                    } else {
                        Phase::Data
                    };
                } else {
                    st.phase = Phase::Done;
                }
                1
            }
            Phase::Data => {
                let n = chunk.len().saturating_sub(i).min(st.rest as usize);
                st.rest -= n as u32; // n <= rest
                if st.rest == 0 {
                    st.phase = Phase::DataCr;
                }
                n
            }
            Phase::DataCr => {
                if b != b'\r' {
                    return Err(ParseError::Unexpected {
                        what: "VALUE data end",
                    });
                }
                st.phase = Phase::DataLf;
                1
            }
            Phase::DataLf => {
                if b != b'\n' {
                    return Err(ParseError::Unexpected {
                        what: "VALUE data end",
                    });
                }
                st.value_done(at, lim, meta)?;
                1
            }
            Phase::Done => 0,
        };
        i += n;
        if st.phase == Phase::Done {
            st.pos = bump(st.pos, i)?;
            return Ok(Progress::Complete { end: i });
        }
    }
    st.pos = bump(st.pos, i)?;
    Ok(Progress::Incomplete)
}

/// `pos + n` as a message offset; a message cannot outgrow `u32`.
fn bump(pos: u32, n: usize) -> Result<u32, ParseError> {
    u32::try_from(n)
        .ok()
        .and_then(|n| pos.checked_add(n))
        .ok_or(ParseError::TooLarge {
            what: "response",
            max: u32::MAX,
        })
}
