//! Memcache response parser (twemproxy: `memcache_parse_rsp` in
//! proto/nc_memcache.c), the reply forms of §MEMCACHE.6:
//!
//! ```text
//! <digits>[ SP*]\r\n                              Number (incr/decr)
//! STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|ERROR[ SP*]\r\n
//! CLIENT_ERROR|SERVER_ERROR|VERSION[ <text>]\r\n
//! (VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n)* END\r\n   Values
//! VA <size>[ <flags>]\r\n<data>\r\n                    Va (meta)
//! HD|EN|NS|EX|NF|ME[ <flags>]\r\n                       meta status
//! MN[ SP*]\r\n                                          Mn
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
use super::{bump, skip_data};
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
    VaSize, // the `<size>` of a VA line
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
    va: bool,             // the reply is a meta VA: complete after its data
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
            Phase::VaSize => self.va_byte(b, lim),
            _ => self.value_byte(b, lim),
        }
    }

    /// A byte of the `<size>` after `VA `, or the SP or CR ending it.
    fn va_byte(&mut self, b: u8, lim: &Limits) -> Result<(), ParseError> {
        if let Some(d) = b.checked_sub(b'0').filter(|d| *d <= 9) {
            self.tok_len = self.tok_len.saturating_add(1);
            self.num = self
                .num
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or(ParseError::BadNumber { what: "VA size" })?;
            return Ok(());
        }
        if self.tok_len == 0 || (b != b' ' && b != b'\r') {
            return Err(BAD);
        }
        self.rest = match u32::try_from(self.num) {
            Ok(n) if n <= lim.max_msg => n,
            _ => {
                return Err(ParseError::TooLarge {
                    what: "value",
                    max: lim.max_msg,
                })
            }
        };
        self.phase = if b == b'\r' { Phase::Lf } else { Phase::Text };
        Ok(())
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
            b"VA" if !cr => {
                (self.value_line, self.va) = (true, true);
                (self.tok_len, self.num) = (0, 0);
                (RspKind::Va, Phase::VaSize)
            }
            b"HD" => (RspKind::Hd, Phase::Text),
            b"EN" => (RspKind::En, Phase::Text),
            b"NS" => (RspKind::NotStored, Phase::Text),
            b"EX" => (RspKind::Exists, Phase::Text),
            b"NF" => (RspKind::NotFound, Phase::Text),
            b"ME" => (RspKind::Me, Phase::Text),
            b"MN" => (RspKind::Mn, Phase::Trail),
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
        self.line = bump(self.line, win.len(), "response")?;
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
            let end = bump(last, 1, "response")?;
            meta.elems
                .push(Span::new(self.line_start, end - self.line_start));
        }
        self.values = true;
        self.next_line(last)
    }

    fn next_line(&mut self, last: u32) -> Result<(), ParseError> {
        self.line_start = bump(last, 1, "response")?;
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
        let at = bump(st.pos, i, "response")?; // message offset of `b`
        let n = match st.phase {
            Phase::Word | Phase::Trail | Phase::Value | Phase::VaSize => {
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
                let n = skip_data(&mut st.rest, chunk.len() - i);
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
                match st.va {
                    true => st.phase = Phase::Done,
                    false => st.value_done(at, lim, meta)?,
                }
                1
            }
            Phase::Done => 0,
        };
        i += n;
        if st.phase == Phase::Done {
            st.pos = bump(st.pos, i, "response")?;
            return Ok(Progress::Complete { end: i });
        }
    }
    st.pos = bump(st.pos, i, "response")?;
    Ok(Progress::Incomplete)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{all_splits, drive, garbage, lim, show, Feed};
    use super::*;

    /// The response parser under test: `ELEMS` is `want_elems`, `SMALL`
    /// picks the small limits.
    struct Rsp<const ELEMS: bool, const SMALL: bool> {
        st: RspState,
        meta: RspMeta,
        log: Vec<String>,
    }

    impl<const ELEMS: bool, const SMALL: bool> Default for Rsp<ELEMS, SMALL> {
        fn default() -> Self {
            Rsp {
                st: RspState::new(ELEMS),
                meta: RspMeta::default(),
                log: Vec::new(),
            }
        }
    }

    impl<const ELEMS: bool, const SMALL: bool> Feed for Rsp<ELEMS, SMALL> {
        fn feed(&mut self, chunk: &[u8]) -> Result<Progress, ParseError> {
            parse_rsp(&mut self.st, chunk, &lim(SMALL), &mut self.meta)
        }

        fn done(&mut self, msg: &[u8]) {
            let m = &self.meta;
            let mut line = format!("{:?}", m.kind);
            let mut next = 0;
            for e in &m.elems {
                assert!(ELEMS && m.kind == RspKind::Values);
                assert_eq!(e.start, next, "VALUE blocks are contiguous");
                let block = &msg[e.start as usize..e.end() as usize];
                assert!(block.starts_with(b"VALUE ") && block.ends_with(b"\r\n"));
                line += &format!(" <{}>", show(block).replace("\r\n", "|").replace(' ', "_"));
                next = e.end();
            }
            if ELEMS && m.kind == RspKind::Values {
                assert_eq!(&msg[next as usize..], b"END\r\n");
            }
            if m.kind == RspKind::Number {
                line += &format!(" ={}", m.int);
            }
            line += &format!(" {}B", msg.len());
            self.log.push(line);
            self.st.reset();
        }

        fn log(&mut self) -> &mut Vec<String> {
            &mut self.log
        }
    }

    /// `rsp! { test_name, input, "message 1", ... }`: parsed with and
    /// without `want_elems`, whole, byte by byte and at every 2-way split;
    /// each message reads `<kind>[ <VALUE block>...][ =<int>] <length>B` (SP shown as `_`, CRLF as `|`),
    /// the blocks listed only with `want_elems`.
    macro_rules! rsp {
        ($name:ident, $input:expr, $($want:expr),+ $(,)?) => {
            #[test]
            fn $name() {
                let got = all_splits::<Rsp<true, false>>($input);
                assert_eq!(got, [$($want),+], "{:?}", show($input));
                let plain: Vec<String> = got.iter().map(|l| strip_elems(l)).collect();
                assert_eq!(all_splits::<Rsp<false, false>>($input), plain);
            }
        };
    }

    fn strip_elems(line: &str) -> String {
        line.split(' ')
            .filter(|w| !w.starts_with('<'))
            .collect::<Vec<_>>()
            .join(" ")
    }

    rsp! { stored, b"STORED\r\n", "Stored 8B" }
    rsp! { not_stored, b"NOT_STORED\r\n", "NotStored 12B" }
    rsp! { exists, b"EXISTS\r\n", "Exists 8B" }
    rsp! { not_found, b"NOT_FOUND\r\n", "NotFound 11B" }
    rsp! { deleted, b"DELETED\r\n", "Deleted 9B" }
    rsp! { touched, b"TOUCHED  \r\n", "Touched 11B" }
    rsp! { error, b"ERROR\r\n", "McError 7B" }
    rsp! { number, b"42\r\n0 \r\n", "Number =42 4B", "Number =0 4B" }
    rsp! { number_u64, b"18446744073709551615\r\n", "Number =0 22B" }
    rsp! { client_error, b"CLIENT_ERROR bad command line format\r\n", "ClientError 38B" }
    rsp! { server_error, b"SERVER_ERROR out of memory storing object\r\n", "ServerError 43B" }
    rsp! { server_error_bare, b"SERVER_ERROR\r\n", "ServerError 14B" }
    rsp! { version, b"VERSION 1.6.18\r\n", "Version 16B" }
    rsp! { end_alone, b"END\r\n", "Values 5B" }
    rsp! { value_one, b"VALUE a 0 1\r\n1\r\nEND\r\n", "Values <VALUE_a_0_1|1|> 21B" }
    rsp! {
        values_with_cas,
        b"VALUE a 0 1 10\r\n1\r\nVALUE bb 5 2 18446744073709551615\r\nxy\r\nEND\r\n",
        "Values <VALUE_a_0_1_10|1|> <VALUE_bb_5_2_18446744073709551615|xy|> 63B",
    }
    rsp! { value_data_looks_like_end, b"VALUE a 0 7\r\n\r\nEND\r\n\r\nEND\r\n", "Values <VALUE_a_0_7||END||> 27B" }
    rsp! { value_empty_data, b"VALUE a 0 0\r\n\r\nEND\r\n", "Values <VALUE_a_0_0||> 20B" }
    rsp! {
        pipeline,
        b"STORED\r\nVALUE k 1 1\r\nx\r\nEND\r\nEND\r\n7\r\nSERVER_ERROR busy\r\nDELETED\r\n",
        "Stored 8B", "Values <VALUE_k_1_1|x|> 21B", "Values 5B", "Number =7 3B", "ServerError 19B", "Deleted 9B",
    }

    const BAD_RSP: &str = "error Unexpected { what: \"memcache response\" }";
    const BAD_DATA: &str = "error Unexpected { what: \"VALUE data end\" }";
    rsp! { unknown_word, b"OK\r\n", BAD_RSP }
    rsp! { stat, b"STAT pid 1\r\n", BAD_RSP }
    rsp! { lowercase, b"stored\r\n", BAD_RSP }
    rsp! { leading_space, b" STORED\r\n", BAD_RSP }
    rsp! { empty_line, b"\r\n", BAD_RSP }
    rsp! { end_then_space, b"END \r\n", BAD_RSP }
    rsp! { stored_then_text, b"STORED x\r\n", BAD_RSP }
    rsp! { cr_without_lf, b"STORED\rX", BAD_RSP }
    rsp! { number_overflow, b"18446744073709551616\r\n", BAD_RSP }
    rsp! { value_then_other, b"VALUE a 0 1\r\n1\r\nSTORED\r\n", BAD_RSP }
    rsp! { value_too_few_fields, b"VALUE a 0\r\n", BAD_RSP }
    rsp! { value_too_many_fields, b"VALUE a 0 1 2 3\r\n", BAD_RSP }
    rsp! { value_no_fields, b"VALUE\r\n", BAD_RSP }
    rsp! { value_bad_flags, b"VALUE a x 1\r\n", "error BadNumber { what: \"VALUE field\" }" }
    rsp! { value_flags_overflow, b"VALUE a 4294967296 1\r\n", "error BadNumber { what: \"flags\" }" }
    rsp! { value_too_large, b"VALUE a 0 2097153\r\n", "error TooLarge { what: \"value\", max: 2097152 }" }
    rsp! { value_data_too_long, b"VALUE a 0 1\r\n12\r\nEND\r\n", BAD_DATA }
    rsp! { value_data_no_lf, b"VALUE a 0 1\r\n1\r\r", BAD_DATA }
    rsp! { value_incomplete, b"VALUE a 0 1\r\n1\r\n", "incomplete 16" }
    rsp! { good_then_bad, b"END\r\nNOPE\r\n", "Values 5B", BAD_RSP }

    // meta
    rsp! { meta_hd, b"HD\r\nHD c12 Oab kfoo b\r\n", "Hd 4B", "Hd 19B" }
    rsp! { meta_en, b"EN\r\nEN O1\r\n", "En 4B", "En 7B" }
    rsp! { meta_codes, b"NS\r\nEX O9\r\nNF kx\r\nMN\r\n", "NotStored 4B", "Exists 7B", "NotFound 7B", "Mn 4B" }
    rsp! { meta_va, b"VA 2 f0 s2\r\nhi\r\nVA 0\r\n\r\n", "Va 16B", "Va 8B" }
    rsp! { meta_va_data_looks_like_reply, b"VA 4\r\nEN\r\n\r\nHD\r\n", "Va 12B", "Hd 4B" }
    rsp! { meta_me, b"ME foo exp=-1 la=3 cas=2 fetch=no cls=1 size=63\r\n", "Me 49B" }
    rsp! { meta_va_no_size, b"VA\r\n", BAD_RSP }
    rsp! { meta_va_bad_size, b"VA x\r\n", BAD_RSP }
    rsp! { meta_va_too_large, b"VA 2097153 \r\n", "error TooLarge { what: \"value\", max: 2097152 }" }
    rsp! { meta_va_short_data, b"VA 3\r\nab\r\nEN\r\n", BAD_DATA }
    rsp! { meta_mn_text, b"MN x\r\n", BAD_RSP }
    rsp! { meta_after_value, b"VALUE a 0 1\r\n1\r\nHD\r\n", BAD_RSP }

    #[test]
    fn value_key_limit() {
        let ok = format!("VALUE {} 0 1\r\nx\r\nEND\r\n", "k".repeat(250));
        assert_eq!(
            all_splits::<Rsp<false, false>>(ok.as_bytes()),
            ["Values 270B"]
        );
        let long = format!("VALUE {} 0 1\r\nx\r\nEND\r\n", "k".repeat(251));
        assert_eq!(
            all_splits::<Rsp<false, false>>(long.as_bytes()),
            ["error TooLarge { what: \"key\", max: 250 }"]
        );
    }

    #[test]
    fn small_limits() {
        let long = b"SERVER_ERROR 0123456789012345678\r\n";
        assert_eq!(
            all_splits::<Rsp<false, true>>(&long[..]),
            ["ServerError 34B"]
        );
        let longer = b"SERVER_ERROR 01234567890123456789\r\n";
        assert_eq!(
            all_splits::<Rsp<false, true>>(&longer[..]),
            ["error LineTooLong { max: 32 }"]
        );
        let spaces = b"STORED                             \r\n";
        assert_eq!(
            all_splits::<Rsp<false, true>>(&spaces[..]),
            ["error LineTooLong { max: 32 }"]
        );
        let four =
            b"VALUE a 0 0\r\n\r\nVALUE a 0 0\r\n\r\nVALUE a 0 0\r\n\r\nVALUE a 0 0\r\n\r\nEND\r\n";
        assert_eq!(all_splits::<Rsp<false, true>>(&four[..]), ["Values 65B"]);
        assert_eq!(
            all_splits::<Rsp<true, true>>(&four[..]),
            ["error TooLarge { what: \"VALUE blocks\", max: 3 }"]
        );
    }

    #[test]
    fn one_mib_value_in_many_chunks() {
        let n = 1 << 20;
        let mut input = format!("VALUE big 0 {n}\r\n").into_bytes();
        input.extend((0..n).map(|i| (i % 251) as u8));
        input.extend_from_slice(b"\r\nEND\r\nSTORED\r\n");
        let head = format!("VALUE big 0 {n}\r\n").len();
        for step in [1, 7, 512, 4096, 65536] {
            let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
            let mut f = Rsp::<true, false>::default();
            let mut rest = &input[..];
            let mut base = 0;
            // first message by hand, to see its one element span
            for &c in cuts.iter().chain([input.len()].iter()) {
                match f.feed(&rest[..c - base]).unwrap() {
                    Progress::Incomplete => {}
                    Progress::Complete { end } => {
                        assert_eq!(base + end, head + n + 7);
                        break;
                    }
                }
                rest = &input[c..];
                base = c;
            }
            assert_eq!(
                f.meta.elems,
                [Span::new(0, (head + n + 2) as u32)],
                "chunks of {step}"
            );
            assert_eq!(
                drive::<Rsp<false, false>>(&input, &cuts),
                [format!("Values {}B", head + n + 7), "Stored 8B".into()]
            );
        }
    }

    #[test]
    fn garbage_never_panics_and_splits_agree() {
        const PIECES: &[&[u8]] = &[
            b"STORED\r\n",
            b"END\r\n",
            b"VALUE k 0 1\r\nx\r\n",
            b"VALUE k 0 2 9\r\n\r\n\r\n",
            b"42\r\n",
            b"SERVER_ERROR x\r\n",
            b"VA 2 f1\r\nab\r\n",
            b"HD c1\r\n",
            b"EN\r\n",
            b"MN\r\n",
            b"VA",
            b"HD",
            b"NF",
            b"VALUE",
            b"END",
            b"STORED",
            b"NOT_FOUND",
            b"ERROR",
            b"SERVER_ERROR",
            b"VERSION",
            b"CLIENT_ERROR",
            b" ",
            b"\r\n",
            b"\r",
            b"\n",
            b"0",
            b"1",
            b"2",
            b"12",
            b"-1",
            b"k",
            b"99999999999999999999",
            b"\x00",
        ];
        garbage::<Rsp<true, true>>(0x2545_f491_4f6c_dd1d, PIECES);
    }
}
