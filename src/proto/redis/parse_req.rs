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
//! argument count and every key, found by the command's key spec (`Keys`,
//! scanned by `keys`) as the arguments stream by. A well-framed request the
//! proxy must not forward carries a `Reject` and is still consumed to its
//! end, so the stream stays usable:
//! - unknown or unsupported command → `UnknownCommand`;
//! - argument count wrong for the command's arity → `WrongArity`; also a
//!   numkeys command (EVAL, FCALL, ZUNION, LMPOP, ...) whose numkeys is
//!   empty, non-numeric, zero or overflowing, or that has no key argument
//!   (a key-less request has nowhere to go);
//! - a key longer than `max_key` → `TooLarge`.
//!
//! An empty request (`*0\r\n` or a blank inline line) completes with
//! `narg == 0` and `Cmd::None`: redis ignores it, the core drops it unanswered.
//!
//! # Invariants
//! - resumable at any byte: the state carries partial numbers, the command
//!   name (in a fixed buffer), numkeys and the key scan, so no byte is read
//!   twice; bulk data is skipped, never scanned (SORT and GEORADIUS keep
//!   the first `WORD_MAX` bytes of each argument to spot `STORE`);
//! - every wire number is bounded before use: count by `max_narg`, bulk
//!   length and message size by `max_msg`, inline line by `max_line`;
//! - `reject.is_some()` implies `keys` and `vals` are empty;
//! - the only allocation is pushing spans onto `meta.keys` / `meta.vals`.

use super::commands::{Cmd, NAME_MAX};
use super::keys::{KeyScan, Keys, Role as KeyRole, WORD_MAX};
use crate::proto::{self, Limits, ParseError, Progress, Reject, ReqMeta, Span};

/// Digits accepted in one count or length (leading zeros included).
const MAX_DIGITS: u8 = 20;

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

/// What an argument is to the proxy: the command word, or what the key
/// scan makes of it (keys onto meta.keys, MSET values and the PING message
/// onto meta.vals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Name,
    Arg(KeyRole),
}

/// Resumable state of one request's parse (twemproxy: the `state`, `token`,
/// `rnarg`, `rlen` fields of `struct msg`).
///
/// Every client connection holds one, so it is kept small: offsets and
/// lengths are `u32` (a request is at most `max_msg`, a `u32`, plus a bulk
/// header: `base` saturates, and a saturated offset fails the `max_msg`
/// and `max_line` checks).
#[derive(Clone, Debug, Default)]
pub struct ReqState {
    phase: Phase,
    ndigit: u8,           // digits of `num` so far (at most MAX_DIGITS + 1)
    base: u32,            // message offset of the current chunk's first byte
    num: u32,             // count or length being read (bounded by its limit)
    narg: u32,            // declared bulks (multibulk) or tokens so far (inline)
    idx: u32,             // argument being read; 0 is the command name
    rem: u32,             // bulk data bytes still to read
    arg_start: u32,       // message offset of the current argument
    nlen: u32,            // bytes of the command name (saturating)
    wlen: u32,            // bytes of the current argument (saturating)
    name: [u8; NAME_MAX], // command name bytes as written (first NAME_MAX)
    word: [u8; WORD_MAX], // first bytes of the argument (keys.wants_words())
    cmd: Option<Cmd>,     // known once the name is complete
    all_vals: bool,       // a local command: every argument is a value
    numkeys_bad: bool,    // numkeys empty, non-numeric, zero or overflowing
    key_too_long: bool,   // a key over max_key was seen
    quoted: bool,         // inline token starting with a quote
    keys: Keys,           // the served command's key spec (None until then)
    scan: KeyScan,        // the key scan: numkeys, STORE state
}

impl ReqState {
    /// Ready for the first byte of a new request.
    pub fn reset(&mut self) {
        *self = ReqState::default();
    }

    fn off(&self, i: usize) -> u64 {
        u64::from(self.base) + i as u64
    }

    #[inline]
    fn role(&self) -> Role {
        if self.idx == 0 {
            return Role::Name;
        }
        if self.idx == 1 && matches!(self.cmd, Some(Cmd::Ping | Cmd::Echo)) {
            return Role::Arg(KeyRole::Val);
        }
        if self.all_vals {
            return Role::Arg(KeyRole::Val); // answered by the proxy: every argument
        }
        Role::Arg(self.keys.role(self.idx, &self.scan))
    }

    /// Remembers the bytes of the arguments the parser must read.
    fn feed(&mut self, role: Role, bytes: &[u8]) {
        match role {
            Role::Name => append_capped(&mut self.name, &mut self.nlen, bytes),
            Role::Arg(KeyRole::Numkeys) => {
                for &b in bytes {
                    let digit = b.wrapping_sub(b'0');
                    let next = self
                        .scan
                        .numkeys
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(digit)));
                    match next {
                        Some(n) if digit <= 9 => self.scan.numkeys = n,
                        _ => self.numkeys_bad = true,
                    }
                }
            }
            Role::Arg(_) => {}
        }
        if self.keys.wants_words() {
            append_capped(&mut self.word, &mut self.wlen, bytes);
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
                self.all_vals = self.cmd.is_some_and(Cmd::local);
                self.keys = self
                    .cmd
                    .filter(|c| c.supported())
                    .map_or(Keys::None, Cmd::keys);
                meta.cmd = self.cmd.map_or(proto::Cmd::None, proto::Cmd::Redis);
            }
            Role::Arg(KeyRole::Key | KeyRole::StoreKey) if span.len > lim.max_key => {
                self.key_too_long = true
            }
            Role::Arg(KeyRole::Key) => meta.keys.push(span),
            Role::Arg(KeyRole::StoreKey) => {
                if self.scan.stored {
                    meta.keys.pop(); // the last STORE counts
                }
                self.scan.stored = true;
                meta.keys.push(span);
            }
            Role::Arg(KeyRole::Val) => meta.vals.push(span),
            Role::Arg(KeyRole::Numkeys) => {
                self.numkeys_bad |= span.len == 0 || self.scan.numkeys == 0
            }
            Role::Arg(KeyRole::Opaque) => {}
        }
        if self.keys.wants_words() && self.idx > 0 {
            let n = usize::try_from(self.wlen).map_or(WORD_MAX, |n| n.min(WORD_MAX));
            let word = &self.word[..n];
            self.keys
                .arg_done(self.idx, word, u64::from(self.wlen), &mut self.scan);
        }
        self.wlen = 0;
        self.idx += 1;
        Ok(())
    }

    /// The request is complete: decide whether it is rejected.
    fn finish(&mut self, meta: &mut ReqMeta) {
        meta.narg = self.narg;
        if self.narg == 0 {
            return;
        }
        self.keys.finish(&mut meta.keys);
        meta.reject = match self.cmd {
            _ if self.quoted => Some(Reject::BadFormat),
            Some(c) if c.supported() => {
                let keyless = matches!(self.keys, Keys::Numkeys { .. })
                    && meta.keys.is_empty()
                    && !self.key_too_long;
                if !c.arity_ok(self.narg) || self.numkeys_bad || keyless {
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

    /// The fast path of a request's arguments (a 1,000-key MGET has a
    /// thousand): a bulk `$<len>\r\n<data>\r\n` at `chunk[at..]` whose
    /// bytes the parser need not see (a key or a value, not the command
    /// name, numkeys or a word the key scan reads), lying whole in the
    /// chunk within every limit, is skipped in one go: `arg_start` and
    /// `num` are set as the phases would set them, and its bytes are
    /// returned. Anything else is `None` and left to the byte-at-a-time
    /// phases, which give the same result or error.
    #[inline]
    fn whole_arg(&mut self, chunk: &[u8], at: usize, lim: &Limits) -> Option<usize> {
        if self.idx == 0 || self.keys.wants_words() || self.role() == Role::Arg(KeyRole::Numkeys) {
            return None;
        }
        let max = u64::from(lim.max_msg);
        let (data, num) = super::whole_bulk(chunk.get(at..)?, max)?;
        let start = self.off(at + data);
        if start.saturating_add(num + 2) > max {
            return None;
        }
        self.arg_start = u32::try_from(start).ok()?;
        self.num = u32::try_from(num).ok()?;
        Some(data + num as usize + 2)
    }

    /// The bulk length is read: start the argument's data.
    fn bulk_start(&mut self, i: usize, lim: &Limits) -> Result<(), ParseError> {
        let too_large = ParseError::TooLarge {
            what: "request",
            max: lim.max_msg,
        };
        let start = self.off(i);
        let end = start + u64::from(self.num) + 2;
        if end > u64::from(lim.max_msg) {
            return Err(too_large);
        }
        self.arg_start = u32::try_from(start).map_err(|_| too_large)?;
        self.rem = self.num;
        self.phase = if self.rem == 0 {
            Phase::DataCr
        } else {
            Phase::Data
        };
        Ok(())
    }
}

/// Appends `bytes` to `buf` after its first `len` bytes, as far as `buf`
/// holds them; `len` counts every byte (saturating).
fn append_capped(buf: &mut [u8], len: &mut u32, bytes: &[u8]) {
    let at = usize::try_from(*len).map_or(buf.len(), |n| n.min(buf.len()));
    let take = bytes.len().min(buf.len() - at);
    buf[at..at + take].copy_from_slice(&bytes[..take]);
    *len = len.saturating_add(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
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
    let num = u64::from(st.num) * 10 + u64::from(b - b'0');
    st.num = u32::try_from(num)
        .ok()
        .filter(|&n| n <= max)
        .ok_or(ParseError::TooLarge { what, max })?;
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
                push_digit(st, b, lim.max_narg, "multibulk count").map_err(ParseError::args)?
            }
            Phase::Count => number_cr(st, b, "multibulk count", Phase::CountLf)?,
            Phase::CountLf | Phase::BulkLenLf | Phase::DataLf if b != b'\n' => {
                return Err(ParseError::Unexpected { what: "line end" })
            }
            Phase::CountLf => {
                st.narg = st.num;
                meta.narg = st.narg;
                if st.narg == 0 {
                    return Ok(complete(st, meta, i + 1));
                }
                st.phase = Phase::Dollar;
            }
            Phase::Dollar if b == b'$' => {
                if let Some(n) = st.whole_arg(chunk, i, lim) {
                    i += n;
                    let start = u64::from(st.arg_start);
                    st.arg_done(start, start + u64::from(st.num), lim, meta)?;
                    if st.idx == st.narg {
                        return Ok(complete(st, meta, i));
                    }
                    continue;
                }
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
                st.rem -= u32::try_from(take).unwrap_or(st.rem); // take <= rem
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
                let start = u64::from(st.arg_start);
                st.arg_done(start, start + u64::from(st.num), lim, meta)?;
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
    let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
    st.base = st.base.saturating_add(len);
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
                return Err(ParseError::TooManyArgs {
                    what: "inline arguments",
                    max: lim.max_narg,
                });
            }
            st.quoted |= b == b'"' || b == b'\'';
            // below max_line (the window), so a u32
            st.arg_start = u32::try_from(st.off(at + i)).unwrap_or(u32::MAX);
            st.phase = Phase::InlineToken;
        }
        // InlineToken: take every byte up to the next separator at once.
        let sep = window[i..]
            .iter()
            .position(|&c| c == b'\n' || is_inline_space(c));
        let end = sep.map_or(window.len(), |t| i + t);
        st.feed(st.role(), &window[i..end]);
        if sep.is_some() {
            st.arg_done(u64::from(st.arg_start), st.off(at + end), lim, meta)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{all_splits as agree, feed_fns as drive, span_vec as bytes, Ev, Rng};

    /// What a complete request looked like, in bytes.
    #[derive(Debug, PartialEq, Eq)]
    struct Got {
        len: usize,
        cmd: proto::Cmd,
        name: Vec<u8>,
        keys: Vec<Vec<u8>>,
        vals: Vec<Vec<u8>>,
        narg: u32,
        inline: bool,
        reject: Option<Reject>,
    }

    fn snap(m: &ReqMeta, msg: &[u8]) -> Got {
        Got {
            len: msg.len(),
            cmd: m.cmd,
            name: bytes(msg, m.name),
            keys: m.keys.iter().map(|&k| bytes(msg, k)).collect(),
            vals: m.vals.iter().map(|&v| bytes(msg, v)).collect(),
            narg: m.narg,
            inline: m.inline,
            reject: m.reject,
        }
    }

    fn run(input: &[u8], cuts: &[usize], lim: &Limits) -> Vec<Ev<Got>> {
        let mut meta = ReqMeta::default();
        drive(
            input,
            cuts,
            ReqState::default,
            &mut meta,
            |s, c, m| parse_req(s, c, lim, m),
            snap,
        )
    }

    /// Parses `input` whole, byte by byte and at every split; all agree.
    fn parse_all(input: &[u8], lim: &Limits) -> Vec<Ev<Got>> {
        agree(input, |cuts| run(input, cuts, lim))
    }

    fn first(input: &[u8], lim: &Limits) -> Ev<Got> {
        parse_all(input, lim)
            .into_iter()
            .next()
            .unwrap_or(Ev::Partial)
    }

    fn small() -> Limits {
        Limits {
            max_msg: 64,
            max_narg: 8,
            max_key: 5,
            max_line: 24,
            max_depth: 4,
        }
    }

    /// Every limit at its largest: the state's own `u32`s bound the request.
    fn widest() -> Limits {
        Limits {
            max_msg: u32::MAX,
            max_narg: u32::MAX,
            max_key: u32::MAX,
            max_line: u32::MAX,
            max_depth: u32::MAX,
        }
    }

    /// `req!{ test, input, Cmd, keys = [..] [, vals = [..]] }`: accepted;
    /// `req!{ test, input, Cmd?, reject Kind }`: consumed and rejected;
    /// `req!{ test, input, err Error }`: framing lost. Each is checked whole,
    /// byte by byte and at every 2-way split.
    macro_rules! req {
        ($t:ident, $in:expr, $cmd:ident, keys = [$($k:expr),*] $(, vals = [$($v:expr),*])?) => {
            #[test]
            fn $t() {
                let Ev::Done(got) = first($in, &Limits::default()) else { panic!("not complete") };
                assert_eq!(got.len, $in.len());
                assert_eq!(got.cmd, proto::Cmd::Redis(Cmd::$cmd));
                assert_eq!(got.reject, None);
                let keys: &[&[u8]] = &[$($k),*];
                assert_eq!(got.keys, keys);
                $( let vals: &[&[u8]] = &[$($v),*]; assert_eq!(got.vals, vals); )?
            }
        };
        ($t:ident, $in:expr, reject $rej:ident $(, lim = $lim:expr)?) => {
            #[test]
            fn $t() {
                #[allow(unused_variables)]
                let lim = Limits::default();
                $( let lim = $lim; )?
                let Ev::Done(got) = first($in, &lim) else { panic!("not complete") };
                assert_eq!(got.len, $in.len());
                assert_eq!(got.reject, Some(Reject::$rej));
                assert!(got.keys.is_empty() && got.vals.is_empty());
            }
        };
        ($t:ident, $in:expr, err $err:expr $(, lim = $lim:expr)?) => {
            #[test]
            fn $t() {
                #[allow(unused_variables)]
                let lim = Limits::default();
                $( let lim = $lim; )?
                assert_eq!(first($in, &lim), Ev::Err($err));
            }
        };
    }

    // every key class
    req! { argz_ping, b"*1\r\n$4\r\nPING\r\n", Ping, keys = [], vals = [] }
    req! { argz_ping_msg, b"*2\r\n$4\r\nping\r\n$2\r\nhi\r\n", Ping, keys = [], vals = [b"hi"] }
    req! { argz_quit, b"*1\r\n$4\r\nquit\r\n", Quit, keys = [] }
    req! { echo_msg, b"ECHO hi\r\n", Echo, keys = [], vals = [b"hi"] }
    req! { blpop_timeout_dropped, b"BLPOP a b 0\r\n", Blpop, keys = [b"a", b"b"] }
    req! { xread_block_is_a_value, b"XREAD BLOCK 10 STREAMS s $\r\n", Xread, keys = [b"s"], vals = [b"10"] }
    req! { xread_no_block, b"XREAD COUNT 1 STREAMS s t 0 0\r\n", Xread, keys = [b"s", b"t"], vals = [] }
    req! { arg0_get, b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n", Get, keys = [b"foo"] }
    req! { auth_password_is_a_value, b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n", Auth, keys = [], vals = [b"secret"] }
    req! { auth_user_pass, b"AUTH default secret\r\n", Auth, keys = [], vals = [b"default", b"secret"] }
    req! { arity_auth_none, b"*1\r\n$4\r\nAUTH\r\n", reject WrongArity }
    req! { arg1_expire, b"*3\r\n$6\r\nexpire\r\n$1\r\nk\r\n$2\r\n10\r\n", Expire, keys = [b"k"] }
    req! { arg2_lrange, b"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n", Lrange, keys = [b"l"] }
    req! { arg3_linsert, b"*5\r\n$7\r\nLINSERT\r\n$1\r\nl\r\n$6\r\nBEFORE\r\n$1\r\na\r\n$1\r\nb\r\n", Linsert, keys = [b"l"] }
    req! { argn_set, b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$2\r\n10\r\n", Set, keys = [b"k"] }
    req! { all_sinter, b"*3\r\n$6\r\nSINTER\r\n$1\r\na\r\n$1\r\nb\r\n", Sinter, keys = [b"a", b"b"] }
    req! { two_rename, b"*3\r\n$6\r\nRENAME\r\n$1\r\na\r\n$1\r\nb\r\n", Rename, keys = [b"a", b"b"] }
    req! { two_lmove, b"*5\r\n$5\r\nLMOVE\r\n$1\r\na\r\n$1\r\nb\r\n$4\r\nLEFT\r\n$5\r\nRIGHT\r\n", Lmove, keys = [b"a", b"b"] }
    req! { pairs_msetnx, b"MSETNX a 1 b 2\r\n", Msetnx, keys = [b"a", b"b"], vals = [b"1", b"2"] }
    req! { all_but_first_bitop, b"BITOP AND d a b\r\n", Bitop, keys = [b"d", b"a", b"b"] }
    req! { sub_object, b"OBJECT ENCODING k\r\n", Object, keys = [b"k"] }
    req! { sub_xinfo_help_no_key, b"XINFO HELP\r\n", Xinfo, keys = [] }
    req! { sub_xgroup_create, b"XGROUP CREATE s g $ MKSTREAM\r\n", Xgroup, keys = [b"s"] }
    req! { one_xadd, b"XADD s * f v\r\n", Xadd, keys = [b"s"] }
    req! { one_expire_nx, b"EXPIRE k 10 NX\r\n", Expire, keys = [b"k"] }
    req! { numkeys_lmpop, b"LMPOP 2 a b LEFT COUNT 1\r\n", Lmpop, keys = [b"a", b"b"] }
    req! { numkeys_sintercard_limit, b"SINTERCARD 2 a b LIMIT 1\r\n", Sintercard, keys = [b"a", b"b"] }
    req! { dest_numkeys_zunionstore, b"ZUNIONSTORE d 2 a b WEIGHTS 1 2\r\n", Zunionstore, keys = [b"d", b"a", b"b"] }
    req! { script_fcall_ro, b"FCALL_RO f 2 a b x\r\n", FcallRo, keys = [b"a", b"b"] }
    req! { sort_store, b"*6\r\n$4\r\nSORT\r\n$1\r\nk\r\n$2\r\nBY\r\n$5\r\nstore\r\n$5\r\nstore\r\n$1\r\nd\r\n", Sort, keys = [b"k", b"d"] }
    req! { sort_last_store_counts, b"SORT k STORE a LIMIT 0 1 STORE b\r\n", Sort, keys = [b"k", b"b"] }
    req! { sort_ro_one_key, b"SORT_RO k BY x STORE d\r\n", SortRo, keys = [b"k"] }
    req! { georadius_storedist, b"GEORADIUS g 15 37 200 km STOREDIST d\r\n", Georadius, keys = [b"g", b"d"] }
    req! { georadiusbymember_store, b"GEORADIUSBYMEMBER g STORE 200 km store d\r\n", Georadiusbymember, keys = [b"g", b"d"] }
    req! { lcs_two, b"LCS a b IDX\r\n", Lcs, keys = [b"a", b"b"] }
    req! { argx_mget, b"*3\r\n$4\r\nmget\r\n$1\r\na\r\n$1\r\nb\r\n", Mget, keys = [b"a", b"b"] }
    req! { argx_exists_split, b"*3\r\n$6\r\nEXISTS\r\n$1\r\na\r\n$2\r\nbc\r\n", Exists, keys = [b"a", b"bc"] }
    req! { argkvx_mset, b"*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n22\r\n", Mset, keys = [b"a", b"b"], vals = [b"1", b"22"] }
    req! { eval_keys, b"*5\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n2\r\n$2\r\nk1\r\n$2\r\nk2\r\n", Eval, keys = [b"k1", b"k2"] }
    req! { eval_numkeys_over_args, b"EVAL s 3 k1 k2\r\n", Eval, keys = [b"k1", b"k2"] }
    req! { evalsha_numkeys_10, b"*4\r\n$7\r\nEVALSHA\r\n$1\r\nx\r\n$2\r\n10\r\n$1\r\nk\r\n", Evalsha, keys = [b"k"] }
    req! { numkeys_first_zunion, b"*4\r\n$6\r\nZUNION\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\nb\r\n", Zunion, keys = [b"a", b"b"] }
    req! { numkeys_first_zdiff, b"*3\r\n$5\r\nzdiff\r\n$1\r\n1\r\n$2\r\nza\r\n", Zdiff, keys = [b"za"] }
    req! { nokey_lolwut, b"*3\r\n$6\r\nLOLWUT\r\n$7\r\nVERSION\r\n$1\r\n5\r\n", Lolwut, keys = [] }
    req! { argz_command, b"*1\r\n$7\r\nCOMMAND\r\n", Command, keys = [] }

    // keys: binary, empty, leading zeros in lengths
    req! { binary_key, b"*2\r\n$3\r\nGET\r\n$4\r\n\r\n\0*\r\n", Get, keys = [b"\r\n\0*"] }
    req! { empty_key, b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n", Get, keys = [b""] }
    req! { leading_zeros, b"*02\r\n$003\r\nGET\r\n$01\r\nk\r\n", Get, keys = [b"k"] }

    // inline commands
    req! { inline_ping, b"PING\r\n", Ping, keys = [] }
    req! { inline_get, b"get  foo\r\n", Get, keys = [b"foo"] }
    req! { inline_lf_only, b"GET foo\n", Get, keys = [b"foo"] }
    req! { inline_mset, b"MSET a 1 b 2 \r\n", Mset, keys = [b"a", b"b"], vals = [b"1", b"2"] }
    req! { inline_eval, b"EVAL s 1 key\r\n", Eval, keys = [b"key"] }

    // rejected, consumed to the end
    req! { unknown_command, b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n", reject UnknownCommand }
    req! { unsupported_move, b"*3\r\n$4\r\nMOVE\r\n$1\r\nk\r\n$1\r\n1\r\n", reject UnknownCommand }
    req! { name_too_long, b"*1\r\n$30\r\nGEORADIUSBYMEMBERGEORADIUSBYME\r\n", reject UnknownCommand }
    req! { empty_name, b"*1\r\n$0\r\n\r\n", reject UnknownCommand }
    req! { inline_unknown, b"FLUSHALL\r\n", reject UnknownCommand }
    req! { inline_quoted, b"GET \"a b\"\r\n", reject BadFormat }
    req! { arity_get, b"*1\r\n$3\r\nGET\r\n", reject WrongArity }
    req! { arity_ping_two_args, b"*3\r\n$4\r\nPING\r\n$1\r\na\r\n$1\r\nb\r\n", reject WrongArity }
    req! { arity_quit_arg, b"*2\r\n$4\r\nQUIT\r\n$1\r\na\r\n", reject WrongArity }
    req! { arity_mset_even, b"*4\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n", reject WrongArity }
    req! { arity_mget_no_key, b"*1\r\n$4\r\nMGET\r\n", reject WrongArity }
    req! { eval_numkeys_zero, b"*4\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n0\r\n$1\r\nk\r\n", reject WrongArity }
    req! { eval_numkeys_text, b"*4\r\n$4\r\nEVAL\r\n$1\r\nx\r\n$2\r\n1a\r\n$1\r\nk\r\n", reject WrongArity }
    req! { eval_numkeys_empty, b"*4\r\n$4\r\nEVAL\r\n$1\r\nx\r\n$0\r\n\r\n$1\r\nk\r\n", reject WrongArity }
    req! { eval_numkeys_overflow, b"*4\r\n$4\r\nEVAL\r\n$1\r\nx\r\n$21\r\n999999999999999999999\r\n$1\r\nk\r\n", reject WrongArity }
    req! { eval_too_few, b"*3\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n0\r\n", reject WrongArity }
    req! { eval_no_key_arg, b"EVAL s 1\r\n", reject WrongArity }
    req! { lmpop_numkeys_zero, b"LMPOP 0 a LEFT\r\n", reject WrongArity }
    req! { arity_set_no_value, b"SET k\r\n", reject WrongArity }
    req! { arity_rename_one_key, b"RENAME a\r\n", reject WrongArity }
    req! { arity_msetnx_odd, b"MSETNX a 1 b\r\n", reject WrongArity }
    req! { store_key_over_max_key, b"SORT k STORE abcdef\r\n", reject TooLarge, lim = small() }
    req! { zinter_numkeys_zero, b"*3\r\n$6\r\nZINTER\r\n$1\r\n0\r\n$1\r\na\r\n", reject WrongArity }
    req! { key_over_max_key, b"*2\r\n$3\r\nGET\r\n$6\r\nabcdef\r\n", reject TooLarge, lim = small() }

    // framing errors
    req! { huge_bulk, b"*2\r\n$3\r\nGET\r\n$1073741824\r\n", err ParseError::TooLarge { what: "bulk length", max: 512 << 20 } }
    req! { huge_count, b"*99999999\r\n", err ParseError::TooManyArgs { what: "multibulk count", max: 1 << 20 } }
    req! { many_digits, b"*000000000000000000001\r\n", err ParseError::BadNumber { what: "multibulk count" } }
    req! { bulk_21_digits, b"*2\r\n$3\r\nGET\r\n$000000000000000000001\r\nk\r\n", err ParseError::BadNumber { what: "bulk length" } }
    req! { bulk_over_max_msg_whole, b"*2\r\n$3\r\nGET\r\n$50\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", err ParseError::TooLarge { what: "request", max: 64 }, lim = small() }
    req! { bulk_lf_missing, b"*2\r\n$3\r\nGET\r\n$1\r\nk\rx", err ParseError::Unexpected { what: "line end" } }
    req! { negative_count, b"*-1\r\n", err ParseError::BadNumber { what: "multibulk count" } }
    req! { negative_bulk, b"*2\r\n$3\r\nGET\r\n$-1\r\n", err ParseError::BadNumber { what: "bulk length" } }
    req! { bulk_without_digits, b"*2\r\n$3\r\nGET\r\n$\r\n\r\n", err ParseError::BadNumber { what: "bulk length" } }
    req! { not_a_bulk, b"*2\r\n$3\r\nGET\r\n:1\r\n", err ParseError::Unexpected { what: "bulk header" } }
    req! { data_not_crlf, b"*2\r\n$3\r\nGET\r\n$1\r\nab\r\n", err ParseError::Unexpected { what: "bulk data end" } }
    req! { cr_without_lf, b"*1\r\r", err ParseError::Unexpected { what: "line end" } }
    req! { over_max_msg, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$60\r\n", err ParseError::TooLarge { what: "request", max: 64 }, lim = small() }
    req! { inline_too_long, b"GET aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", err ParseError::LineTooLong { max: 24 }, lim = small() }
    req! { inline_too_many, b"DEL a b c d e f g h i\r\n", err ParseError::TooManyArgs { what: "inline arguments", max: 8 }, lim = small() }
    // the u32 edges of the state (max_msg at its largest)
    req! { bulk_over_u32, b"*2\r\n$3\r\nGET\r\n$4294967296\r\n", err ParseError::TooLarge { what: "bulk length", max: u32::MAX }, lim = widest() }
    req! { bulk_at_u32, b"*2\r\n$3\r\nGET\r\n$4294967295\r\n", err ParseError::TooLarge { what: "request", max: u32::MAX }, lim = widest() }
    req! { count_over_u32, b"*4294967296\r\n", err ParseError::TooManyArgs { what: "multibulk count", max: u32::MAX }, lim = widest() }

    #[test]
    fn empty_requests_complete_without_command() {
        for input in [&b"*0\r\n"[..], b"\r\n", b"  \n"] {
            let Ev::Done(got) = first(input, &Limits::default()) else {
                panic!("not complete")
            };
            assert_eq!(
                (got.len, got.narg, got.cmd, got.reject),
                (input.len(), 0, proto::Cmd::None, None)
            );
        }
    }

    #[test]
    fn inline_line_at_the_limit() {
        let lim = small();
        let fits = b"GET aaaaaaaaaaaaaaaaaa\r\n"; // 24 bytes
        assert!(matches!(first(fits, &lim), Ev::Done(_)));
        let over = b"GET aaaaaaaaaaaaaaaaaaa\r\n";
        assert_eq!(
            first(over, &lim),
            Ev::Err(ParseError::LineTooLong { max: 24 })
        );
    }

    #[test]
    fn pipelined_requests_and_rejects_keep_the_stream() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\nPING\r\n*3\r\n$3\r\nDEL\r\n$1\r\nx\r\n$0\r\n\r\n*1\r\n$3\r\nGET\r\n*1\r\n$4\r\nPI";
        let evs = parse_all(input, &Limits::default());
        let summary: Vec<_> = evs
            .iter()
            .map(|e| match e {
                Ev::Done(g) => Some((g.cmd, g.keys.clone(), g.reject, g.inline)),
                _ => None,
            })
            .collect();
        let redis = |c| proto::Cmd::Redis(c);
        assert_eq!(
            summary,
            vec![
                Some((redis(Cmd::Get), vec![b"a".to_vec()], None, false)),
                Some((
                    redis(Cmd::Keys),
                    vec![],
                    Some(Reject::UnknownCommand),
                    false
                )),
                Some((redis(Cmd::Ping), vec![], None, true)),
                Some((redis(Cmd::Del), vec![b"x".to_vec(), vec![]], None, false)),
                Some((redis(Cmd::Get), vec![], Some(Reject::WrongArity), false)),
                None,
            ]
        );
        assert_eq!(evs.last(), Some(&Ev::Partial));
    }

    #[test]
    fn eval_numkeys_split_across_chunks() {
        let input = b"*4\r\n$4\r\nEVAL\r\n$1\r\ns\r\n$3\r\n120\r\n$3\r\nkey\r\n";
        let at = input.windows(3).position(|w| w == b"120").unwrap_or(0);
        for cuts in [vec![at + 1], vec![at + 1, at + 2], vec![at, at + 3]] {
            let evs = run(input, &cuts, &Limits::default());
            let Some(Ev::Done(got)) = evs.first() else {
                panic!("not complete")
            };
            assert_eq!(
                (got.keys.clone(), got.reject),
                (vec![b"key".to_vec()], None)
            );
        }
    }

    #[test]
    fn big_bulk_is_skipped_without_scanning() {
        let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'\r', 100_000));
        input.extend_from_slice(b"\r\n");
        let evs = run(&input, &[20, 30, 50_000], &Limits::default());
        let Some(Ev::Done(got)) = evs.first() else {
            panic!("not complete")
        };
        assert_eq!(
            (got.len, got.keys.clone()),
            (input.len(), vec![b"k".to_vec()])
        );
    }

    #[test]
    fn garbage_never_panics_and_splits_agree() {
        const ATOMS: &[&[u8]] = &[
            b"*", b"$", b"\r\n", b"\r", b"\n", b"0", b"1", b"2", b"3", b"9", b"-", b" ", b"\"",
            b"GET", b"MSET", b"EVAL", b"PING", b"mget", b"ZUNION", b"x", b"\0", b"SORT", b"STORE",
            b"LIMIT", b"BY", b"LMPOP", b"MSETNX",
        ];
        let lim = small();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
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
                    assert!(g.len <= lim.max_msg as usize + 32);
                    assert!(g.reject.is_none() || g.keys.is_empty());
                    assert!(g.keys.len() <= g.narg as usize);
                }
            }
        }
    }
}
