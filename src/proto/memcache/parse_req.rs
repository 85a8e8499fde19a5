//! Memcache request parser (twemproxy: `memcache_parse_req` in
//! proto/nc_memcache.c), byte-exact to §MEMCACHE.1.
//!
//! A request is one line of SP-separated tokens ended by `\r\n`, then for
//! storage commands a data block of exactly `<bytes>` bytes and `\r\n`.
//! Only SP and CR delimit tokens: LF, tabs and control bytes belong to the
//! token (so `get a\n` waits for more bytes, as in 0.5.0).
//!
//! Unlike 0.5.0, a malformed request whose framing is still known is
//! consumed whole and returned `Complete` with `meta.reject` set, so the
//! connection keeps working (§ERR.3 lists what 0.5.0 closes on):
//! - unknown command word (any case but lowercase, empty line): `UnknownCommand`;
//! - too few tokens, or too many for set/add/replace/append/prepend/cas/
//!   incr/decr/touch: `WrongArity` (memcached answers `ERROR` to both,
//!   since it dispatches on the token count first);
//! - key over 250 bytes: `BadKey`;
//! - bad number, misspelt `noreply`, a delete time other than `0`, a
//!   trailing token after delete,
//!   version or quit: `BadFormat`;
//! - more than `max_narg` keys in a get: `TooLarge`;
//! - an LF or a NUL byte inside the line: `BadFormat`. memcached ends a
//!   line at its first LF and reads a line only up to a NUL, so it would
//!   answer such a line as two commands or a truncated one: never forwarded
//!   (the whole line, up to CRLF, is one request here, as in 0.5.0).
//!
//! `meta.noreply` stays set on a rejected request whose `noreply` token was
//! read; memcached 1.6 then answers nothing (it reads noreply first).
//!
//! gat/gats (`gat <exptime> <key>*`) parse like get with a signed
//! `<exptime>` first (memcached: `CLIENT_ERROR invalid exptime argument`).
//! Retrieval lines (get, gets, gat, gats) may be as long as `max_msg`
//! (`max_request_bytes`; 0.5.0 and memcached serve gets of any length,
//! issue 17.1): they are scanned chunk by chunk like any other, never held
//! whole. Other lines stay under `max_line`, meta lines under
//! `META_MAX_LINE` (memcached closes a connection whose non-get line
//! passes 2048 bytes).
//!
//! Meta commands (mg, ms, md, ma, mn, me) are checked only as far as
//! routing and framing need and as far as memcached answers without
//! reading the data block; every flag is passed through untouched and
//! memcached answers the rest (see `super::meta` for `b` and `q`):
//! - no key: `WrongArity` (`ERROR`; me: `BadFormat`);
//! - key over 250 bytes: `BadKey`;
//! - ms without `<datalen>`, or with a malformed one: `BadFormat` and no
//!   data block (memcached does not read one either);
//! - ms with 20 tokens or more: `CLIENT_ERROR options flags too long`;
//! - an ms data block is `<datalen>` bytes and two more, skipped without
//!   looking: memcached checks the trailing `\r\n` itself (`CLIENT_ERROR
//!   bad data chunk`) and stays in sync.
//!
//! A storage line locates its data block only through `<bytes>`: when that
//! field parsed (≤ `max_msg`), the block and its CRLF are skipped even if
//! the line is otherwise rejected; when it is missing or malformed, framing
//! is lost and the parser returns `Err`. So is a data block not followed by
//! `\r\n`, a CR not followed by LF, and a line over `max_line` bytes.
//!
//! # Invariants
//! - each byte is looked at once; state carries partial tokens across chunks;
//! - `meta.keys` spans are non-empty, at most 250 bytes and lie in the line;
//! - the only allocation is pushing a key span, at most `max_narg` of them.

use super::commands::{Cmd, Syntax, MAX_WORD};
use super::{bump, skip_data};
use crate::proto::{self, Limits, ParseError, Progress, Reject, ReqMeta, Span};

/// Longest key the memcache protocol allows (memcached KEY_MAX_LENGTH).
pub const MAX_KEY: u32 = 250;

/// Longest meta command line: memcached closes a connection that sends more
/// than 2048 bytes without a newline, unless the line is a get.
pub const META_MAX_LINE: u32 = 2048;

/// Tokens from which memcached refuses a meta line (MFLAG_MAX_OPT_LENGTH,
/// counting its terminal token).
const META_MAX_TOKENS: u32 = 20;

/// memcached's replies to requests the proxy refuses for it.
const INVALID_EXPTIME: &[u8] = b"CLIENT_ERROR invalid exptime argument\r\n";
const MS_TOO_LONG: &[u8] = b"CLIENT_ERROR options flags too long\r\n";

const NOREPLY: &[u8] = b"noreply";

/// Where the parser stands in a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Line, // in the request line, before its CR
    LineLf, // after the line's CR
    Data,   // inside the data block
    DataCr, // after the data block
    DataLf, // after the data block's CR
    Done,   // the request is complete
}

/// A numeric field: may it carry a leading `-`, and its largest magnitude.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Num {
    signed: bool, // a leading `-` is allowed (incr/decr delta, exptime)
    max: Max,     // largest magnitude memcached accepts
}

/// The largest magnitude of a numeric field (a byte, not a `u64`: every
/// client connection's parser state holds one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Max {
    U32,
    I32,
    U64,
}

impl Max {
    fn get(self) -> u64 {
        match self {
            Max::U32 => u64::from(u32::MAX),
            Max::I32 => i32::MAX.unsigned_abs().into(),
            Max::U64 => u64::MAX,
        }
    }
}

const FLAGS: Num = Num {
    signed: false,
    max: Max::U32,
};
/// Exptime of storage commands, touch and gat: memcached takes a negative
/// one as "expired at once" (protocol.txt), so it is forwarded (0.5.0
/// closed the connection on a negative storage exptime).
const EXPTIME: Num = Num {
    signed: true,
    max: Max::I32,
};
const CAS_UNIQUE: Num = Num {
    signed: false,
    max: Max::U64,
};
const DELTA: Num = Num {
    signed: true,
    max: Max::U64,
};
const BYTES: Num = Num {
    signed: false,
    max: Max::U64,
};

/// What a token of the request line holds, by its position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Field {
    #[default]
    Word, // the command word
    Key,
    Num(Num),
    Bytes, // `<bytes>` of a storage command
    Noreply,
    DelTime, // delete's legacy `<time>`: only `0` (or `noreply` in its place)
    Exptime, // gat/gats `<exptime>`
    Flag,    // a meta flag: only its first byte matters here
    Ignored, // after an unknown word, or past the command's last field
}

/// The token being scanned.
#[derive(Clone, Copy, Debug, Default)]
struct Token {
    field: Field,
    start: u32,           // message offset of its first byte
    len: u32,             // bytes so far
    num: u64,             // value of a numeric field so far
    neg: bool,            // a numeric field began with `-`
    bad: bool,            // a byte or an overflow made it invalid
    word: [u8; MAX_WORD], // the command word's bytes
}

impl Token {
    fn feed(&mut self, run: &[u8]) {
        match self.field {
            Field::Key | Field::Ignored => {}
            Field::Flag => {
                if let (0, Some(&b)) = (self.len, run.first()) {
                    self.word[0] = b;
                }
            }
            Field::Word | Field::DelTime => {
                for (at, &b) in (self.len as usize..).zip(run) {
                    match self.word.get_mut(at) {
                        Some(w) => *w = b,
                        None => self.bad = true,
                    }
                }
            }
            Field::Noreply => {
                for (at, &b) in (self.len as usize..).zip(run) {
                    self.bad |= NOREPLY.get(at) != Some(&b);
                }
            }
            Field::Num(Num { signed, .. }) => {
                for (at, &b) in (self.len as usize..).zip(run) {
                    self.digit(at == 0 && signed, b);
                }
            }
            Field::Exptime => {
                for (at, &b) in (self.len as usize..).zip(run) {
                    self.digit(at == 0, b);
                }
            }
            Field::Bytes => {
                for &b in run {
                    self.digit(false, b);
                }
            }
        }
        self.len = self
            .len
            .saturating_add(u32::try_from(run.len()).unwrap_or(u32::MAX));
    }

    fn digit(&mut self, sign_ok: bool, b: u8) {
        if sign_ok && b == b'-' {
            self.neg = true;
            return;
        }
        let next = match b {
            b'0'..=b'9' => self
                .num
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0'))),
            _ => None,
        };
        match next {
            Some(n) => self.num = n,
            None => self.bad = true,
        }
    }

    /// The magnitude of a complete numeric token, if well-formed.
    fn value(&self, num: Num) -> Option<u64> {
        let digits = self.len - u32::from(self.neg);
        (!self.bad && digits > 0 && self.num <= num.max.get()).then_some(self.num)
    }

    fn is_noreply(&self) -> bool {
        !self.bad && self.len as usize == NOREPLY.len()
    }
}

/// The field at token `idx` (0 is the command word) of a `cmd` line.
fn field(cmd: Option<Cmd>, idx: u32) -> Field {
    let Some(cmd) = cmd else {
        return if idx == 0 {
            Field::Word
        } else {
            Field::Ignored
        };
    };
    match (cmd.syntax(), idx) {
        (Syntax::Bare | Syntax::MetaNoop, _) => Field::Ignored,
        (Syntax::Gat, 1) => Field::Exptime,
        (Syntax::Gat, _) => Field::Key,
        (Syntax::MetaSet, 2) => Field::Bytes,
        (Syntax::Meta | Syntax::MetaDebug, 2..) | (Syntax::MetaSet, 3..) => Field::Flag,
        (Syntax::Retrieval, _) | (_, 1) => Field::Key,
        (Syntax::Storage | Syntax::Cas, 2) => Field::Num(FLAGS),
        (Syntax::Storage | Syntax::Cas, 3) => Field::Num(EXPTIME),
        (Syntax::Storage | Syntax::Cas, 4) => Field::Bytes,
        (Syntax::Cas, 5) => Field::Num(CAS_UNIQUE),
        (Syntax::Arith, 2) => Field::Num(DELTA),
        (Syntax::Touch, 2) => Field::Num(EXPTIME),
        (Syntax::Storage, 5) | (Syntax::Cas, 6) => Field::Noreply,
        (Syntax::Delete, 2) => Field::DelTime,
        (Syntax::Arith | Syntax::Touch, 3) | (Syntax::Delete, 3) => Field::Noreply,
        _ => Field::Ignored,
    }
}

/// Tokens a line of this syntax may hold (command word included), and the
/// rejection for too many.
fn arity(syntax: Syntax) -> (u32, u32, Reject) {
    match syntax {
        Syntax::Retrieval | Syntax::Gat => (2, u32::MAX, Reject::WrongArity),
        Syntax::Meta | Syntax::MetaSet | Syntax::MetaDebug | Syntax::MetaNoop => {
            (1, u32::MAX, Reject::WrongArity)
        }
        Syntax::Storage => (5, 6, Reject::WrongArity),
        Syntax::Cas => (6, 7, Reject::WrongArity),
        Syntax::Arith | Syntax::Touch => (3, 4, Reject::WrongArity),
        Syntax::Delete => (2, 4, Reject::BadFormat),
        Syntax::Bare => (1, 1, Reject::BadFormat),
    }
}

/// The `<bytes>` field of a storage line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum DataLen {
    #[default]
    Missing,
    Bad,
    Len(u32),
    Huge, // over u32::MAX: larger than any max_msg
}

/// Resumable state of one request being parsed.
#[derive(Clone, Debug, Default)]
pub struct ReqState {
    phase: Phase,
    pos: u32,          // message bytes consumed before the current chunk
    cmd: Option<Cmd>,  // the command word, once recognised
    ntok: u32,         // tokens begun on the line
    in_tok: bool,      // `tok` is open
    tok: Token,        // the token being scanned
    data_len: DataLen, // `<bytes>` of a storage line
    rest: u32,         // data bytes still to skip
    raw: bool,         // the data block's CRLF is skipped unchecked (ms)
    cut_byte: bool,    // the line holds an LF or a NUL (memcached ends the line there)
    nquiet: u32,       // meta `q` flags seen
    quiet: Span,       // the last `q` flag token
}

impl ReqState {
    /// Ready for the first byte of a new request.
    pub fn reset(&mut self) {
        *self = ReqState::default();
    }

    fn tok_begin(&mut self, start: u32) {
        self.ntok = self.ntok.saturating_add(1);
        let field = field(self.cmd, self.ntok - 1);
        self.tok = Token {
            field,
            start,
            ..Token::default()
        };
        self.in_tok = true;
    }

    fn tok_end(&mut self, lim: &Limits, meta: &mut ReqMeta) {
        self.in_tok = false;
        let t = &self.tok;
        match t.field {
            Field::Word => {
                meta.name = Span::new(t.start, t.len);
                let word = t.word.get(..t.len as usize).filter(|_| !t.bad);
                self.cmd = word.and_then(Cmd::lookup);
                match self.cmd {
                    Some(c) => meta.cmd = proto::Cmd::Memcache(c),
                    None => reject(meta, Reject::UnknownCommand),
                }
            }
            Field::Key => key_end(Span::new(t.start, t.len), lim, meta),
            Field::Exptime => {
                meta.exptime = Span::new(t.start, t.len);
                if t.value(EXPTIME).is_none() {
                    reject(meta, Reject::Reply(INVALID_EXPTIME));
                }
            }
            Field::Flag => self.flag_end(meta),
            Field::Num(num) if t.value(num).is_none() => reject(meta, Reject::BadFormat),
            Field::Bytes => {
                self.data_len = t.value(BYTES).map_or(DataLen::Bad, |n| {
                    u32::try_from(n).map_or(DataLen::Huge, DataLen::Len)
                });
            }
            Field::Noreply if t.is_noreply() => meta.noreply = true,
            Field::Noreply => reject(meta, Reject::BadFormat),
            // memcached 1.6 accepts `delete <key> 0 [noreply]` (any other
            // time is an error there too): forward it as memcached answers.
            Field::DelTime => match t.word.get(..t.len as usize).filter(|_| !t.bad) {
                Some(b"0") => {}
                Some(w) if w == NOREPLY => meta.noreply = true,
                _ => reject(meta, Reject::BadFormat),
            },
            Field::Num(_) | Field::Ignored => {}
        }
    }

    /// A meta flag token ended: note `b` (route by the decoded key) and `q`.
    fn flag_end(&mut self, meta: &mut ReqMeta) {
        let t = &self.tok;
        match (self.cmd, t.word[0]) {
            // me takes `b` only as its first flag, spelt alone
            (Some(Cmd::Me), b'b') => meta.key_b64 |= self.ntok == 3 && t.len == 1,
            (Some(Cmd::Me), _) => {}
            (_, b'b') => meta.key_b64 = true,
            (_, b'q') => {
                self.nquiet += 1;
                self.quiet = Span::new(t.start, t.len);
            }
            _ => {}
        }
    }

    /// Bytes the current line may hold before its CR.
    fn line_max(&self, lim: &Limits) -> u32 {
        match self.cmd {
            Some(c) if c.is_retrieval() => lim.max_msg.max(lim.max_line),
            Some(c) if c.is_meta() => lim.max_line.min(META_MAX_LINE),
            _ => lim.max_line,
        }
    }

    /// Scans the request line up to and including its CR.
    fn line(
        &mut self,
        bytes: &[u8],
        lim: &Limits,
        meta: &mut ReqMeta,
    ) -> Result<usize, ParseError> {
        // the line's bytes before CR may not exceed line_max (which the
        // command word sets: the window is cut again once it is known)
        let max = self.line_max(lim);
        let room = (max.saturating_sub(self.pos) as usize).saturating_add(1);
        let win = &bytes[..bytes.len().min(room)];
        let mut j = 0;
        while let Some(&b) = win.get(j) {
            if b == b'\r' || b == b' ' {
                if self.in_tok {
                    self.tok_end(lim, meta);
                }
                j += 1;
                if b == b'\r' {
                    self.phase = Phase::LineLf;
                    return Ok(j);
                }
                if self.line_max(lim) != max {
                    return Ok(j);
                }
                continue;
            }
            if !self.in_tok {
                self.tok_begin(bump(self.pos, j, "request")?);
            }
            let k = if b == b'\n' || b == 0 {
                self.cut_byte = true;
                j + 1
            } else {
                win[j..]
                    .iter()
                    .position(|&c| matches!(c, b' ' | b'\r' | b'\n' | 0))
                    .map_or(win.len(), |p| j + p)
            };
            self.tok.feed(&win[j..k]);
            j = k;
        }
        if bump(self.pos, j, "request")? > max {
            return Err(ParseError::LineTooLong { max });
        }
        Ok(j)
    }

    /// The line ended (LF seen): settle arity, then find the data block.
    fn line_done(&mut self, lim: &Limits, meta: &mut ReqMeta) -> Result<Phase, ParseError> {
        meta.narg = self.ntok;
        if self.cut_byte {
            // memcached would read two commands (or a truncated one) and
            // answer in a way that pairs with no single request
            reject(meta, Reject::BadFormat);
        }
        let Some(cmd) = self.cmd else {
            reject(meta, Reject::UnknownCommand); // empty line
            return Ok(Phase::Done);
        };
        let (min, max, too_many) = arity(cmd.syntax());
        if self.ntok < min {
            meta.reject = Some(Reject::WrongArity);
        } else if self.ntok > max {
            meta.reject = Some(too_many);
        }
        if cmd.is_meta() {
            return self.meta_done(cmd, lim, meta);
        }
        if !cmd.is_storage() {
            return Ok(Phase::Done);
        }
        self.data_block(lim)
    }

    /// The end of a meta command line (see the module doc).
    fn meta_done(
        &mut self,
        cmd: Cmd,
        lim: &Limits,
        meta: &mut ReqMeta,
    ) -> Result<Phase, ParseError> {
        let keyless = match cmd {
            Cmd::Me => Reject::BadFormat,
            _ => Reject::WrongArity,
        };
        if self.ntok < 2 && cmd != Cmd::Mn {
            reject(meta, keyless);
        }
        let quiet_ok = matches!(cmd, Cmd::Mg | Cmd::Ms | Cmd::Md | Cmd::Ma);
        if quiet_ok && self.nquiet == 1 && self.ntok < META_MAX_TOKENS {
            // with the SP before it: the line reads as if it was never sent
            let q = self.quiet;
            meta.quiet = Some(Span::new(q.start - 1, q.len + 1));
        }
        if cmd != Cmd::Ms || self.ntok < 2 {
            return Ok(Phase::Done);
        }
        if self.ntok == 2 {
            reject(meta, Reject::BadFormat);
            return Ok(Phase::Done);
        }
        let len_ok = matches!(self.data_len, DataLen::Len(n) if n <= i32::MAX.unsigned_abs() - 2);
        if self.ntok >= META_MAX_TOKENS {
            reject(meta, Reject::Reply(MS_TOO_LONG));
        } else if !len_ok {
            reject(meta, Reject::BadFormat);
        }
        if !len_ok {
            return Ok(Phase::Done);
        }
        self.raw = true;
        self.data_block(lim)
    }

    /// Sizes the data block announced by `<bytes>` (`<datalen>` for ms,
    /// whose CRLF is skipped with it).
    fn data_block(&mut self, lim: &Limits) -> Result<Phase, ParseError> {
        let too_large = ParseError::TooLarge {
            what: "data block",
            max: lim.max_msg,
        };
        let len = match self.data_len {
            DataLen::Len(n) => n,
            DataLen::Huge => return Err(too_large),
            DataLen::Bad => {
                return Err(ParseError::BadNumber {
                    what: "data length",
                })
            }
            DataLen::Missing => {
                return Err(ParseError::Unexpected {
                    what: "storage command line",
                })
            }
        };
        let crlf = if self.raw { 2 } else { 0 };
        if len > lim.max_msg {
            return Err(too_large);
        }
        self.rest = len.saturating_add(crlf);
        Ok(match (self.rest, self.raw) {
            (0, false) => Phase::DataCr,
            _ => Phase::Data,
        })
    }
}

/// Parses (part of) one memcache request; see the contract in `proto`.
/// `meta` is cleared when the request's first byte arrives; calling again
/// after `Complete` starts a new request (`reset()` is then implied).
pub fn parse_req(
    st: &mut ReqState,
    chunk: &[u8],
    lim: &Limits,
    meta: &mut ReqMeta,
) -> Result<Progress, ParseError> {
    if st.phase == Phase::Done {
        st.reset();
    }
    if st.pos == 0 && st.phase == Phase::Line && !chunk.is_empty() {
        meta.clear();
    }
    let mut i = 0;
    while let Some(&b) = chunk.get(i) {
        let n = match st.phase {
            Phase::Line => st.line(&chunk[i..], lim, meta)?,
            Phase::LineLf => {
                expect(b, b'\n', "request line end")?;
                st.phase = st.line_done(lim, meta)?;
                1
            }
            Phase::Data => {
                let n = skip_data(&mut st.rest, chunk.len() - i);
                if st.rest == 0 {
                    st.phase = match st.raw {
                        true => Phase::Done,
                        false => Phase::DataCr,
                    };
                }
                n
            }
            Phase::DataCr => {
                expect(b, b'\r', "data block end")?;
                st.phase = Phase::DataLf;
                1
            }
            Phase::DataLf => {
                expect(b, b'\n', "data block end")?;
                st.phase = Phase::Done;
                1
            }
            Phase::Done => 0,
        };
        st.pos = bump(st.pos, n, "request")?;
        i += n;
        if st.phase == Phase::Done {
            return Ok(Progress::Complete { end: i });
        }
    }
    Ok(Progress::Incomplete)
}

/// Records the first reason to reject the request.
fn reject(meta: &mut ReqMeta, r: Reject) {
    meta.reject.get_or_insert(r);
}

fn key_end(span: Span, lim: &Limits, meta: &mut ReqMeta) {
    if span.len > MAX_KEY.min(lim.max_key) {
        reject(meta, Reject::BadKey);
    } else if meta.keys.len() >= lim.max_narg as usize {
        reject(meta, Reject::TooLarge);
    } else {
        meta.keys.push(span);
    }
}

fn expect(b: u8, want: u8, what: &'static str) -> Result<(), ParseError> {
    if b == want {
        Ok(())
    } else {
        Err(ParseError::Unexpected { what })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{all_splits, drive, garbage, lim, show, Feed};
    use super::*;

    /// The request parser under test; `SMALL` picks the small limits.
    #[derive(Default)]
    struct Req<const SMALL: bool> {
        st: ReqState,
        meta: ReqMeta,
        log: Vec<String>,
    }

    impl<const SMALL: bool> Feed for Req<SMALL> {
        fn feed(&mut self, chunk: &[u8]) -> Result<Progress, ParseError> {
            parse_req(&mut self.st, chunk, &lim(SMALL), &mut self.meta)
        }

        fn done(&mut self, msg: &[u8]) {
            let m = &self.meta;
            let bytes = |s: Span| {
                assert!(
                    s.end() as usize <= msg.len(),
                    "span {s:?} outside {:?}",
                    show(msg)
                );
                &msg[s.start as usize..s.end() as usize]
            };
            let mut keys = Vec::new();
            for &k in &m.keys {
                let key = bytes(k);
                assert!(!key.is_empty() && key.len() <= MAX_KEY as usize);
                assert!(!key.contains(&b' ') && !key.contains(&b'\r'));
                keys.push(show(key));
            }
            assert!(m.keys.len() <= lim(SMALL).max_narg as usize);
            assert!(m.keys.len() as u32 <= m.narg);
            let mut line = match m.cmd {
                proto::Cmd::Memcache(c) => {
                    assert_eq!(bytes(m.name), c.name().as_bytes());
                    if m.reject.is_none() && c.syntax() == Syntax::Retrieval {
                        assert_eq!(m.keys.len() as u32, m.narg - 1);
                    }
                    c.name().to_string()
                }
                _ => format!("?{}", show(bytes(m.name))),
            };
            line += &format!(" [{}] {}", keys.join(" "), m.narg);
            if m.noreply {
                line += " noreply";
            }
            if m.key_b64 {
                line += " b64";
            }
            if let Some(q) = m.quiet {
                let q = bytes(q);
                assert_eq!(q[0], b' ');
                line += &format!(" quiet={}", show(&q[1..]));
            }
            match m.reject {
                Some(Reject::Reply(text)) => line += &format!(" Reply({})", show(text).trim_end()),
                Some(r) => line += &format!(" {r:?}"),
                None => {}
            }
            line += &format!(" {}B", msg.len());
            self.log.push(line);
            self.st.reset();
        }

        fn log(&mut self) -> &mut Vec<String> {
            &mut self.log
        }
    }

    /// `req! { test_name, input, "message 1", "message 2", ... }`: parses
    /// the input whole, byte by byte and at every 2-way split; each message
    /// reads `<cmd> [<keys>] <narg>[ noreply][ <Reject>] <length>B`.
    macro_rules! req {
        ($name:ident, $input:expr, $($want:expr),+ $(,)?) => {
            #[test]
            fn $name() {
                let got = all_splits::<Req<false>>($input);
                assert_eq!(got, [$($want),+], "{:?}", show($input));
            }
        };
    }

    req! { get_one, b"get a\r\n", "get [a] 2 7B" }
    req! { get_many_spaces, b"get  a   b \r\n", "get [a b] 3 13B" }
    req! { get_leading_spaces, b"  get a\r\n", "get [a] 2 9B" }
    req! { get_noreply_is_a_key, b"get a noreply\r\n", "get [a noreply] 3 15B" }
    req! { gets_three, b"gets x y z\r\n", "gets [x y z] 4 12B" }
    req! { get_duplicates, b"get a a\r\n", "get [a a] 3 9B" }
    req! { get_control_bytes_in_key, b"get a\x01\x7f\tb\r\n", "get [a\x01\x7f\tb] 2 11B" }
    req! { get_lf_in_key, b"get a\nb\r\n", "get [a\nb] 2 BadFormat 9B" }
    req! { get_nul_in_key, b"get a\0b\r\nset k\0 0 0 1\r\nx\r\nms k\0 1\r\nx\r\n",
    "get [a\0b] 2 BadFormat 9B", "set [k\0] 5 BadFormat 17B", "ms [k\0] 3 BadFormat 12B" }
    req! { get_lf_waits, b"get a\n", "incomplete 6" }
    req! { set, b"set k 0 0 5\r\nhello\r\n", "set [k] 5 20B" }
    req! { set_noreply, b"set k 1 2 5 noreply\r\nhello\r\n", "set [k] 6 noreply 28B" }
    req! { set_binary_data, b"set k 0 0 4\r\n\r\n\r\n\r\n", "set [k] 5 19B" }
    req! { set_empty_data, b"set k 0 0 0\r\n\r\n", "set [k] 5 15B" }
    req! { set_trailing_spaces, b"set k 0 0 1 noreply  \r\nx\r\n", "set [k] 6 noreply 26B" }
    req! { add, b"add k 0 0 1\r\nx\r\n", "add [k] 5 16B" }
    req! { add_noreply, b"add k 0 0 1 noreply\r\nx\r\n", "add [k] 6 noreply 24B" }
    req! { replace, b"replace k 0 0 1\r\nx\r\n", "replace [k] 5 20B" }
    req! { replace_noreply, b"replace k 0 0 1 noreply\r\nx\r\n", "replace [k] 6 noreply 28B" }
    req! { append, b"append k 0 0 1\r\nx\r\n", "append [k] 5 19B" }
    req! { append_noreply, b"append k 0 0 1 noreply\r\nx\r\n", "append [k] 6 noreply 27B" }
    req! { prepend, b"prepend k 0 0 1\r\nx\r\n", "prepend [k] 5 20B" }
    req! { prepend_noreply, b"prepend k 0 0 1 noreply\r\nx\r\n", "prepend [k] 6 noreply 28B" }
    req! { cas, b"cas k 0 0 1 99\r\nx\r\n", "cas [k] 6 19B" }
    req! { cas_noreply, b"cas k 0 0 1 18446744073709551615 noreply\r\nx\r\n", "cas [k] 7 noreply 45B" }
    req! { incr, b"incr k 1\r\n", "incr [k] 3 10B" }
    req! { incr_noreply, b"incr k 18446744073709551615 noreply\r\n", "incr [k] 4 noreply 37B" }
    req! { incr_sign_passes, b"incr n -1\r\n", "incr [n] 3 11B" }
    req! { decr, b"decr k 1\r\n", "decr [k] 3 10B" }
    req! { decr_noreply, b"decr k 1 noreply\r\n", "decr [k] 4 noreply 18B" }
    req! { touch, b"touch k -1\r\n", "touch [k] 3 12B" }
    req! { touch_noreply, b"touch k 10 noreply\r\n", "touch [k] 4 noreply 20B" }
    req! { delete, b"delete k\r\n", "delete [k] 2 10B" }
    req! { delete_noreply, b"delete k noreply \r\n", "delete [k] 3 noreply 19B" }
    req! { version, b"version\r\n", "version [] 1 9B" }
    req! { version_spaces, b" version  \r\n", "version [] 1 12B" }
    req! { quit, b"quit\r\n", "quit [] 1 6B" }
    req! {
        pipeline,
        b"set x 0 0 1 noreply\r\n1\r\nget x\r\nincr x 5 noreply\r\ndelete x\r\nquit\r\n",
        "set [x] 6 noreply 24B", "get [x] 2 7B", "incr [x] 4 noreply 18B", "delete [x] 2 10B",
        "quit [] 1 6B",
    }

    // get and touch
    req! { gat, b"gat 10 a b\r\n", "gat [a b] 4 12B" }
    req! { gats_negative, b"gats -1 a\r\n", "gats [a] 3 11B" }
    req! { gat_no_key, b"gat 10\r\n", "gat [] 2 8B" }
    req! { gat_nothing, b"gat\r\n", "gat [] 1 WrongArity 5B" }
    req! { gat_bad_exptime, b"gat x a\r\ngat 99999999999 a\r\n",
    "gat [a] 3 Reply(CLIENT_ERROR invalid exptime argument) 9B",
    "gat [a] 3 Reply(CLIENT_ERROR invalid exptime argument) 19B" }

    // meta commands
    req! { mg, b"mg foo v f t c k O123\r\n", "mg [foo] 8 23B" }
    req! { mg_no_flags, b"mg foo\r\n", "mg [foo] 2 8B" }
    req! { mg_quiet, b"mg foo v q\r\n", "mg [foo] 4 quiet=q 12B" }
    req! { mg_quiet_long_token, b"mg foo qx v\r\n", "mg [foo] 4 quiet=qx 13B" }
    req! { mg_two_quiet_kept, b"mg foo q v q\r\n", "mg [foo] 5 14B" }
    req! { mg_b64, b"mg Zm9v b v\r\n", "mg [Zm9v] 4 b64 13B" }
    req! { mg_b_token, b"mg Zm9v bogus\r\n", "mg [Zm9v] 3 b64 15B" }
    req! { mg_no_key, b"mg\r\nmd \r\n", "mg [] 1 WrongArity 4B", "md [] 1 WrongArity 5B" }
    req! { md_quiet, b"md k q I T30\r\n", "md [k] 5 quiet=q 14B" }
    req! { ma_quiet, b"ma k q N0 J13 D2 MI v\r\n", "ma [k] 8 quiet=q 23B" }
    req! { ms, b"ms k 2 T0 F5\r\nhi\r\n", "ms [k] 5 18B" }
    req! { ms_quiet_b64, b"ms Zm9v 2 b q\r\nhi\r\n", "ms [Zm9v] 5 b64 quiet=q 19B" }
    req! { ms_empty, b"ms k 0\r\n\r\n", "ms [k] 3 10B" }
    req! { ms_bad_chunk_is_memcacheds, b"ms k 2\r\nhiXYmn\r\n", "ms [k] 3 12B", "mn [] 1 4B" }
    req! { ms_data_like_a_line, b"ms k 4\r\nmn\r\n\r\nmn\r\n", "ms [k] 3 14B", "mn [] 1 4B" }
    req! { ms_no_len, b"ms k\r\nmn\r\n", "ms [k] 2 BadFormat 6B", "mn [] 1 4B" }
    req! { ms_bad_len, b"ms k x\r\nms k -1\r\nms k 2147483646\r\n", "ms [k] 3 BadFormat 8B", "ms [k] 3 BadFormat 9B", "ms [k] 3 BadFormat 17B" }
    req! { ms_no_key, b"ms\r\n", "ms [] 1 WrongArity 4B" }
    req! { ms_twenty_tokens, b"ms k 2 a b c d e f g h i j k l m n o p r\r\nhi\r\nmn\r\n",
    "ms [k] 20 b64 Reply(CLIENT_ERROR options flags too long) 46B", "mn [] 1 4B" }
    req! { ms_long_key_skips_data, b"ms kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk 1\r\nx\r\nmn\r\n", "ms [] 3 BadKey 261B", "mn [] 1 4B" }
    req! { mn, b"mn\r\nmn x y\r\n", "mn [] 1 4B", "mn [] 3 8B" }
    req! { me, b"me foo\r\nme Zm9v b\r\nme Zm9v v b\r\nme foo bar\r\n", "me [foo] 2 8B", "me [Zm9v] 3 b64 11B", "me [Zm9v] 4 13B", "me [foo] 3 12B" }
    req! { me_no_key, b"me\r\n", "me [] 1 BadFormat 4B" }
    req! { meta_unknown, b"mx foo\r\nMG foo\r\n", "?mx [] 2 UnknownCommand 8B", "?MG [] 2 UnknownCommand 8B" }

    // rejected, the stream goes on
    req! { unknown_word, b"stats\r\nget a\r\n", "?stats [] 1 UnknownCommand 7B", "get [a] 2 7B" }
    req! { uppercase_word, b"GET a\r\nget b\r\n", "?GET [] 2 UnknownCommand 7B", "get [b] 2 7B" }
    req! { long_word, b"getsgetsgets a\r\n", "?getsgetsgets [] 2 UnknownCommand 16B" }
    req! { tab_is_not_space, b"get\ta\r\n", "?get\ta [] 1 UnknownCommand 7B" }
    req! { empty_line, b"\r\n  \r\nget a\r\n", "? [] 0 UnknownCommand 2B", "? [] 0 UnknownCommand 4B", "get [a] 2 7B" }
    req! { binary_protocol_byte, b"\x80\x01\r\n", "?\u{fffd}\x01 [] 1 UnknownCommand 4B" }
    req! { get_no_key, b"get\r\nget \r\nget a\r\n", "get [] 1 WrongArity 5B", "get [] 1 WrongArity 6B", "get [a] 2 7B" }
    req! { delete_legacy_time, b"delete n 0\r\n", "delete [n] 3 12B" }
    req! { delete_legacy_time_noreply, b"delete n 0 noreply\r\n", "delete [n] 4 noreply 20B" }
    req! { delete_nonzero_time, b"delete n 1\r\n", "delete [n] 3 BadFormat 12B" }
    req! { delete_three_extra, b"delete n 0 noreply x\r\n", "delete [n] 5 noreply BadFormat 22B" }
    req! { delete_extra, b"delete n noreply x\r\n", "delete [n] 4 noreply BadFormat 20B" }
    req! { delete_no_key, b"delete\r\n", "delete [] 1 WrongArity 8B" }
    req! { version_extra, b"version x\r\nquit y\r\n", "version [] 2 BadFormat 11B", "quit [] 2 BadFormat 8B" }
    req! { touch_no_exptime, b"touch n\r\n", "touch [n] 2 WrongArity 9B" }
    req! { touch_bad_exptime, b"touch n 1x\r\n", "touch [n] 3 BadFormat 12B" }
    req! { incr_extra, b"incr n 1 noreply x\r\n", "incr [n] 5 noreply WrongArity 20B" }
    req! { incr_bad, b"incr k abc\r\nincr k -\r\nincr k 1-\r\n",
    "incr [k] 3 BadFormat 12B", "incr [k] 3 BadFormat 10B", "incr [k] 3 BadFormat 11B" }
    req! { incr_overflow, b"incr k 18446744073709551616\r\n", "incr [k] 3 BadFormat 29B" }
    req! { decr_misspelt_noreply, b"decr k 1 noreplyy\r\n", "decr [k] 4 BadFormat 19B" }
    req! { set_negative_exptime, b"set y 0 -1 1\r\n1\r\nget y\r\n", "set [y] 5 17B", "get [y] 2 7B" }
    req! { set_flags_overflow, b"set y 4294967296 0 1\r\n1\r\nset y 4294967295 0 1\r\n1\r\n",
    "set [y] 5 BadFormat 25B", "set [y] 5 25B" }
    req! { set_exptime_overflow, b"set y 0 2147483648 1\r\n1\r\n", "set [y] 5 BadFormat 25B" }
    req! { cas_missing_unique, b"cas x 0 0 1\r\n9\r\nget x\r\n", "cas [x] 5 WrongArity 16B", "get [x] 2 7B" }
    req! { set_misspelt_noreply, b"set k 0 0 1 noreplx\r\nx\r\n", "set [k] 6 BadFormat 24B" }
    req! { set_short_noreply, b"set k 0 0 1 norepl\r\nx\r\n", "set [k] 6 BadFormat 23B" }
    req! { set_extra_token, b"set k 0 0 1 noreply extra\r\nx\r\n", "set [k] 7 noreply WrongArity 30B" }

    // framing lost
    req! { data_too_long, b"get a\r\nset k 0 0 1\r\nxx\r\n", "get [a] 2 7B",
    "error Unexpected { what: \"data block end\" }" }
    req! { data_without_lf, b"set k 0 0 1\r\nx\rX", "error Unexpected { what: \"data block end\" }" }
    req! { data_len_bad, b"set k 0 0 abc\r\nabc\r\n", "error BadNumber { what: \"data length\" }" }
    req! { data_len_negative, b"set k 0 0 -1\r\n", "error BadNumber { what: \"data length\" }" }
    req! { data_len_missing, b"set k 0 0\r\n\r\n", "error Unexpected { what: \"storage command line\" }" }
    req! { set_no_key, b"set\r\n", "error Unexpected { what: \"storage command line\" }" }
    req! { data_len_huge, b"set k 0 0 99999999999\r\n", "error TooLarge { what: \"data block\", max: 2097152 }" }
    req! { cr_without_lf, b"get a\rb\r\n", "error Unexpected { what: \"request line end\" }" }
    req! { incomplete_data, b"set k 0 0 5\r\nhel", "incomplete 16" }

    #[test]
    fn key_of_250_bytes_passes_251_is_rejected() {
        let k250 = "k".repeat(250);
        let k251 = "k".repeat(251);
        let input = format!("get {k250}\r\nget a {k251} b\r\nset {k251} 0 0 1\r\nx\r\nget z\r\n");
        let got = all_splits::<Req<false>>(input.as_bytes());
        assert_eq!(
            got,
            [
                format!("get [{k250}] 2 256B"),
                "get [a b] 4 BadKey 261B".into(),
                "set [] 5 BadKey 266B".into(),
                "get [z] 2 7B".into()
            ]
        );
    }

    #[test]
    fn small_limits() {
        // retrieval lines are bounded by max_msg (64), others by max_line (32)
        let long = b"get aaaaaaaaaa bbbbbbbbbb cccccccccc\r\n";
        assert_eq!(
            all_splits::<Req<true>>(long),
            ["get [aaaaaaaaaa bbbbbbbbbb cccccccccc] 4 38B"]
        );
        let longer = [b"gat 1 ".as_slice(), &[b'k'; 60], b"\r\n"].concat();
        assert_eq!(
            all_splits::<Req<true>>(&longer),
            ["error LineTooLong { max: 64 }"]
        );
        let fits = [b"gets ".as_slice(), &[b'k'; 59], b"\r\n"].concat();
        assert_eq!(
            all_splits::<Req<true>>(&fits),
            ["gets [".to_string() + &"k".repeat(59) + "] 2 66B"]
        );
        let touch = b"touch aaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\r\n";
        assert_eq!(
            all_splits::<Req<true>>(touch),
            ["error LineTooLong { max: 32 }"]
        );
        let many = b"get a b c d e\r\nget f\r\n";
        assert_eq!(
            all_splits::<Req<true>>(many),
            ["get [a b c] 6 TooLarge 15B", "get [f] 2 7B"]
        );
        let lf_key = [b"get a\n".as_slice(), &[b'x'; 70]].concat();
        assert_eq!(
            all_splits::<Req<true>>(&lf_key),
            ["error LineTooLong { max: 64 }"]
        );
        let big = b"set k 0 0 65\r\n";
        assert_eq!(
            all_splits::<Req<true>>(big),
            ["error TooLarge { what: \"data block\", max: 64 }"]
        );
        let ms_big = b"ms k 65\r\n";
        assert_eq!(
            all_splits::<Req<true>>(ms_big),
            ["error TooLarge { what: \"data block\", max: 64 }"]
        );
    }

    #[test]
    fn retrieval_line_longer_than_max_line() {
        let keys: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
        let line = format!("gets {}\r\n", keys.join(" "));
        assert!(line.len() > lim(false).max_line as usize);
        for step in [1000, 4096, 16384] {
            let cuts: Vec<usize> = (step..line.len()).step_by(step).collect();
            let mut got = drive::<Req<false>>(line.as_bytes(), &cuts);
            assert_eq!(got.len(), 1);
            let want = format!("gets [{}] 1001 {}B", keys.join(" "), line.len());
            assert_eq!(got.pop().unwrap(), want);
        }
    }

    #[test]
    fn one_mib_value_in_many_chunks() {
        let n = 1 << 20;
        let mut input = format!("set big 0 0 {n}\r\n").into_bytes();
        input.extend((0..n).map(|i| (i % 251) as u8));
        input.extend_from_slice(b"\r\nget big\r\n");
        let want = [format!("set [big] 5 {}B", n + 23), "get [big] 2 9B".into()];
        for step in [1, 7, 512, 4096, 65536] {
            let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
            assert_eq!(drive::<Req<false>>(&input, &cuts), want, "chunks of {step}");
        }
    }

    #[test]
    fn garbage_never_panics_and_splits_agree() {
        const PIECES: &[&[u8]] = &[
            b"get",
            b"gets",
            b"set",
            b"cas",
            b"incr",
            b"touch",
            b"delete",
            b"version",
            b"quit",
            b"GET",
            b" ",
            b"  ",
            b"\r\n",
            b"\r",
            b"\n",
            b"noreply",
            b"0",
            b"1",
            b"-1",
            b"2",
            b"99999999999999999999",
            b"k",
            b"key",
            b"\x00",
            b"\xff",
            b"\t",
        ];
        garbage::<Req<true>>(0x9e37_79b9_7f4a_7c15, PIECES);
    }

    #[test]
    fn empty_chunk_is_incomplete() {
        let (mut st, mut meta) = (ReqState::default(), ReqMeta::default());
        assert_eq!(
            parse_req(&mut st, b"", &lim(false), &mut meta),
            Ok(Progress::Incomplete)
        );
        assert_eq!(
            parse_req(&mut st, b"get a\r\nget b", &lim(false), &mut meta),
            Ok(Progress::Complete { end: 7 })
        );
        // without reset(): the next call starts a new request
        assert_eq!(
            parse_req(&mut st, b"get b\r\n", &lim(false), &mut meta),
            Ok(Progress::Complete { end: 7 })
        );
        assert_eq!(meta.keys, [Span::new(4, 1)]);
    }
}
