//! Redis request parser (twemproxy: `redis_parse_req()` in nc_redis.c).
//!
//! Two framings, chosen by the first byte of a request:
//! - RESP multibulk: `*<n>\r\n` then n bulks `$<len>\r\n<len bytes>\r\n`;
//! - inline (`PING\r\n`, `GET foo\r\n`), as redis accepts and 0.5.0 did not:
//!   tokens separated by spaces, tabs or CR, ended by LF, at most
//!   `max_line` bytes. A token that starts with a quote is rejected
//!   (`Reject::BadFormat`): redis would unquote it, and a span cannot.
//!
//! The parser fills `ReqMeta`: the command, the span of its name, the
//! argument count and the routing keys chosen by the command's key class
//! (`KeyClass`). A well-framed request the proxy must not forward carries a
//! `Reject` and is still consumed to its end, so the stream stays usable:
//! - unknown or unsupported command → `UnknownCommand`;
//! - argument count wrong for the class → `WrongArity`; also EVAL/EVALSHA,
//!   ZUNION/ZINTER/ZDIFF whose numkeys is empty, non-numeric, zero or
//!   overflowing (a key-less request has nowhere to go);
//! - a key longer than `max_key` → `TooLarge`.
//!
//! An empty request (`*0\r\n` or a blank inline line) completes with
//! `narg == 0` and `Cmd::None`: redis ignores it, the core drops it unanswered.
//!
//! # Invariants
//! - resumable at any byte: the state carries partial numbers, the command
//!   name (in a fixed buffer) and numkeys, so no byte is read twice; bulk
//!   data is skipped, never scanned;
//! - every wire number is bounded before use: count by `max_narg`, bulk
//!   length and message size by `max_msg`, inline line by `max_line`;
//! - `reject.is_some()` implies `keys` and `vals` are empty;
//! - the only allocation is pushing spans onto `meta.keys` / `meta.vals`.

use super::commands::{Cmd, KeyClass, NAME_MAX};
use crate::proto::{self, Limits, ParseError, Progress, Reject, ReqMeta, Span};

/// Digits accepted in one count or length (leading zeros included).
const MAX_DIGITS: u32 = 20;

/// Where the parser stands in the request grammar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Start, // first byte: `*` multibulk, anything else inline
    Count,       // digits of `*<n>`, up to CR
    CountLf,     // LF after the count
    Dollar,      // `$` opening the next bulk
    BulkLen,     // digits of `$<len>`, up to CR
    BulkLenLf,   // LF after the length
    Data,        // `rem` bytes of bulk data
    DataCr,      // CR after the data
    DataLf,      // LF after the data
    InlineGap,   // whitespace between inline tokens
    InlineToken, // inside an inline token
}

/// What an argument is to the proxy, from the key class and its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Name,    // the command word
    Key,     // a routing key: pushed onto meta.keys
    Val,     // MSET value, PING message: pushed onto meta.vals
    Numkeys, // EVAL / ZUNION key count
    Opaque,  // forwarded, never looked at
}

/// Resumable state of one request's parse (twemproxy: the `state`, `token`,
/// `rnarg`, `rlen` fields of `struct msg`).
#[derive(Clone, Debug, Default)]
pub struct ReqState {
    phase: Phase,
    base: u64,            // message offset of the current chunk's first byte
    num: u64,             // count or length being read
    ndigit: u32,          // its digits so far
    narg: u32,            // declared bulks (multibulk) or tokens so far (inline)
    idx: u32,             // argument being read; 0 is the command name
    rem: u64,             // bulk data bytes still to read
    arg_start: u64,       // message offset of the current argument
    name: [u8; NAME_MAX], // command name bytes as written (first NAME_MAX)
    nlen: u64,            // bytes of the command name
    cmd: Option<Cmd>,     // known once the name is complete
    numkeys: u64,         // value of the numkeys argument so far
    numkeys_bad: bool,    // numkeys empty, non-numeric, zero or overflowing
    key_too_long: bool,   // a key over max_key was seen
    quoted: bool,         // inline token starting with a quote
}

impl ReqState {
    /// Ready for the first byte of a new request.
    pub fn reset(&mut self) {
        *self = ReqState::default();
    }

    fn off(&self, i: usize) -> u64 {
        self.base + i as u64
    }

    fn role(&self) -> Role {
        if self.idx == 0 {
            return Role::Name;
        }
        let Some(cmd) = self.cmd.filter(|c| c.supported()) else {
            return Role::Opaque;
        };
        match (cmd.key_class(), self.idx) {
            (KeyClass::Argz, 1) if cmd == Cmd::Ping => Role::Val,
            (KeyClass::Arg0 | KeyClass::Arg1 | KeyClass::Arg2, 1) => Role::Key,
            (KeyClass::Arg3 | KeyClass::Argn, 1) => Role::Key,
            (KeyClass::Argx, _) => Role::Key,
            (KeyClass::ArgKvx, i) if i % 2 == 1 => Role::Key,
            (KeyClass::ArgKvx, _) => Role::Val,
            (KeyClass::Eval, 2) | (KeyClass::NumkeysFirst, 1) => Role::Numkeys,
            (KeyClass::Eval, 3) | (KeyClass::NumkeysFirst, 2) => Role::Key,
            _ => Role::Opaque,
        }
    }

    /// Remembers the bytes of the arguments the parser must read.
    fn feed(&mut self, role: Role, bytes: &[u8]) {
        match role {
            Role::Name => {
                for (i, &b) in bytes.iter().enumerate() {
                    if let Some(slot) = usize::try_from(self.nlen)
                        .ok()
                        .and_then(|n| n.checked_add(i))
                        .and_then(|n| self.name.get_mut(n))
                    {
                        *slot = b;
                    }
                }
                self.nlen = self.nlen.saturating_add(bytes.len() as u64);
            }
            Role::Numkeys => {
                for &b in bytes {
                    let digit = b.wrapping_sub(b'0');
                    let next = self
                        .numkeys
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(digit)));
                    match next {
                        Some(n) if digit <= 9 => self.numkeys = n,
                        _ => self.numkeys_bad = true,
                    }
                }
            }
            Role::Key | Role::Val | Role::Opaque => {}
        }
    }

    /// The argument `[start, end)` is complete.
    fn arg_done(
        &mut self,
        start: u64,
        end: u64,
        lim: &Limits,
        meta: &mut ReqMeta,
    ) -> Result<(), ParseError> {
        let span = span(start, end)?;
        match self.role() {
            Role::Name => {
                meta.name = span;
                let name = usize::try_from(self.nlen)
                    .ok()
                    .and_then(|n| self.name.get(..n));
                self.cmd = name.and_then(Cmd::lookup);
                meta.cmd = self.cmd.map_or(proto::Cmd::None, proto::Cmd::Redis);
            }
            Role::Key if span.len > lim.max_key => self.key_too_long = true,
            Role::Key => meta.keys.push(span),
            Role::Val => meta.vals.push(span),
            Role::Numkeys => self.numkeys_bad |= span.len == 0 || self.numkeys == 0,
            Role::Opaque => {}
        }
        self.idx += 1;
        Ok(())
    }

    /// The request is complete: decide whether it is rejected.
    fn finish(&mut self, meta: &mut ReqMeta) {
        meta.narg = self.narg;
        if self.narg == 0 {
            return;
        }
        meta.reject = match self.cmd {
            _ if self.quoted => Some(Reject::BadFormat),
            Some(c) if c.supported() => {
                if !c.arity_ok(self.narg) || self.numkeys_bad {
                    Some(Reject::WrongArity)
                } else if self.key_too_long {
                    Some(Reject::TooLarge)
                } else {
                    None
                }
            }
            _ => Some(Reject::UnknownCommand),
        };
        if meta.reject.is_some() {
            meta.keys.clear();
            meta.vals.clear();
        }
    }

    /// The bulk length is read: start the argument's data.
    fn bulk_start(&mut self, i: usize, lim: &Limits) -> Result<(), ParseError> {
        self.arg_start = self.off(i);
        self.rem = self.num;
        let end = self.arg_start.saturating_add(self.rem).saturating_add(2);
        if end > u64::from(lim.max_msg) {
            return Err(ParseError::TooLarge {
                what: "request",
                max: lim.max_msg,
            });
        }
        self.phase = if self.rem == 0 {
            Phase::DataCr
        } else {
            Phase::Data
        };
        Ok(())
    }
}

/// A span from message offsets.
fn span(start: u64, end: u64) -> Result<Span, ParseError> {
    let too_large = ParseError::TooLarge {
        what: "request",
        max: u32::MAX,
    };
    let s = u32::try_from(start).map_err(|_| too_large)?;
    let len = end
        .checked_sub(start)
        .and_then(|l| u32::try_from(l).ok())
        .ok_or(too_large)?;
    Ok(Span::new(s, len))
}

/// Adds a decimal digit to `st.num`, bounded by `max`.
fn push_digit(st: &mut ReqState, b: u8, max: u32, what: &'static str) -> Result<(), ParseError> {
    st.ndigit += 1;
    if st.ndigit > MAX_DIGITS {
        return Err(ParseError::BadNumber { what });
    }
    st.num = st.num * 10 + u64::from(b - b'0');
    if st.num > u64::from(max) {
        return Err(ParseError::TooLarge { what, max });
    }
    Ok(())
}

/// The end of a count or length: CR, after at least one digit.
fn number_cr(st: &mut ReqState, b: u8, what: &'static str, next: Phase) -> Result<(), ParseError> {
    if b != b'\r' || st.ndigit == 0 {
        return Err(ParseError::BadNumber { what });
    }
    st.phase = next;
    Ok(())
}

fn is_inline_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// Parses the next `chunk` of a request (see the contract in `proto`).
/// `meta` is cleared at the first byte of each request; on `Complete` the
/// state is ready for the next request.
pub fn parse_req(
    st: &mut ReqState,
    chunk: &[u8],
    lim: &Limits,
    meta: &mut ReqMeta,
) -> Result<Progress, ParseError> {
    let mut i = 0;
    while i < chunk.len() {
        let b = chunk[i];
        match st.phase {
            Phase::Start => {
                meta.clear();
                if b == b'*' {
                    st.phase = Phase::Count;
                    i += 1;
                } else {
                    meta.inline = true;
                    st.phase = Phase::InlineGap;
                }
                continue;
            }
            Phase::Count if b.is_ascii_digit() => {
                push_digit(st, b, lim.max_narg, "multibulk count")?
            }
            Phase::Count => number_cr(st, b, "multibulk count", Phase::CountLf)?,
            Phase::CountLf | Phase::BulkLenLf | Phase::DataLf if b != b'\n' => {
                return Err(ParseError::Unexpected { what: "line end" })
            }
            Phase::CountLf => {
                st.narg = u32::try_from(st.num).map_err(|_| ParseError::BadNumber {
                    what: "multibulk count",
                })?;
                meta.narg = st.narg;
                if st.narg == 0 {
                    return Ok(complete(st, meta, i + 1));
                }
                st.phase = Phase::Dollar;
            }
            Phase::Dollar if b == b'$' => {
                (st.num, st.ndigit) = (0, 0);
                st.phase = Phase::BulkLen;
            }
            Phase::Dollar => {
                return Err(ParseError::Unexpected {
                    what: "bulk header",
                })
            }
            Phase::BulkLen if b.is_ascii_digit() => push_digit(st, b, lim.max_msg, "bulk length")?,
            Phase::BulkLen => number_cr(st, b, "bulk length", Phase::BulkLenLf)?,
            Phase::BulkLenLf => st.bulk_start(i + 1, lim)?,
            Phase::Data => {
                let take =
                    usize::try_from(st.rem).map_or(chunk.len() - i, |r| r.min(chunk.len() - i));
                st.feed(st.role(), &chunk[i..i + take]);
                st.rem -= take as u64;
                if st.rem == 0 {
                    st.phase = Phase::DataCr;
                }
                i += take;
                continue;
            }
            Phase::DataCr if b == b'\r' => st.phase = Phase::DataLf,
            Phase::DataCr => {
                return Err(ParseError::Unexpected {
                    what: "bulk data end",
                })
            }
            Phase::DataLf => {
                st.arg_done(st.arg_start, st.arg_start + st.num, lim, meta)?;
                if st.idx == st.narg {
                    return Ok(complete(st, meta, i + 1));
                }
                st.phase = Phase::Dollar;
            }
            Phase::InlineGap | Phase::InlineToken => match parse_inline(st, chunk, i, lim, meta)? {
                Some(n) => return Ok(complete(st, meta, i + n)),
                None => break,
            },
        }
        i += 1;
    }
    st.base += chunk.len() as u64;
    Ok(Progress::Incomplete)
}

/// Inline phases over `chunk[at..]`; `Some(n)` when the line ends after
/// `chunk[at..at + n]`.
fn parse_inline(
    st: &mut ReqState,
    chunk: &[u8],
    at: usize,
    lim: &Limits,
    meta: &mut ReqMeta,
) -> Result<Option<usize>, ParseError> {
    let rest = &chunk[at..];
    // A byte at message offset >= max_line makes the line too long.
    let room = u64::from(lim.max_line).saturating_sub(st.off(at));
    let window = usize::try_from(room).map_or(rest, |r| &rest[..r.min(rest.len())]);
    let mut i = 0;
    while i < window.len() {
        if st.phase == Phase::InlineGap {
            let b = window[i];
            if b == b'\n' {
                return Ok(Some(i + 1));
            }
            if is_inline_space(b) {
                i += 1;
                continue;
            }
            st.narg += 1;
            if st.narg > lim.max_narg {
                return Err(ParseError::TooLarge {
                    what: "inline arguments",
                    max: lim.max_narg,
                });
            }
            st.quoted |= b == b'"' || b == b'\'';
            st.arg_start = st.off(at + i);
            st.phase = Phase::InlineToken;
        }
        // InlineToken: take every byte up to the next separator at once.
        let sep = window[i..]
            .iter()
            .position(|&c| c == b'\n' || is_inline_space(c));
        let end = sep.map_or(window.len(), |t| i + t);
        st.feed(st.role(), &window[i..end]);
        if sep.is_some() {
            st.arg_done(st.arg_start, st.off(at + end), lim, meta)?;
            st.phase = Phase::InlineGap;
        }
        i = end;
    }
    if window.len() as u64 >= room {
        return Err(ParseError::LineTooLong { max: lim.max_line });
    }
    Ok(None)
}

/// Ends the request at `end` and readies the state for the next one.
fn complete(st: &mut ReqState, meta: &mut ReqMeta, end: usize) -> Progress {
    st.finish(meta);
    st.reset();
    Progress::Complete { end }
}
