//! Protocol seam (twemproxy: proto/nc_proto.h).
//!
//! Two protocols, one closed set: `Proto::{Redis, Memcache}`, dispatched by
//! `match`. Every parser here is a pure, resumable function over bytes:
//! no I/O, no logging, no allocation except pushing onto the bounded span
//! vectors of its output.
//!
//! # The parser contract
//! A message arrives as a sequence of chunks (the bytes of successive reads,
//! possibly split anywhere). The caller feeds each new chunk exactly once:
//! `parse_req(&mut state, chunk, &limits, &mut meta)`. The state remembers
//! everything it needs from earlier chunks (partial numbers, the command
//! name, nesting), so no byte is ever scanned twice.
//! * `Ok(Progress::Incomplete)`: every byte of `chunk` belongs to the
//!   message; feed the next chunk.
//! * `Ok(Progress::Complete { end })`: the message ends after `chunk[..end]`;
//!   `chunk[end..]` starts the next message (reset the state first).
//! * `Err(e)`: framing is lost; the connection cannot continue.
//!
//! # Invariants
//! - every `Span` in a meta lies inside the message: `start + len <= mlen`,
//!   where offsets count from the message's first byte;
//! - `Complete { end }` has `end <= chunk.len()`, and `end >= 1` unless the
//!   message began in an earlier chunk;
//! - a parser never panics, whatever the bytes.

pub mod memcache;
pub mod redis;

/// Where a token lies in a message: offsets from the message's first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32, // offset of the first byte
    pub len: u32,   // bytes
}

impl Span {
    pub const fn new(start: u32, len: u32) -> Span {
        Span { start, len }
    }

    /// Offset one past the last byte.
    pub const fn end(self) -> u32 {
        self.start + self.len
    }
}

/// The wire protocol of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Redis,
    Memcache,
}

/// What a parser did with one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// All of the chunk belongs to the message; feed more.
    Incomplete,
    /// The message ends after `chunk[..end]`.
    Complete { end: usize },
}

/// Bounds every length read from the wire is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_msg: u32,   // bytes in one request or response (redis: proto-max-bulk-len)
    pub max_narg: u32,  // elements of one multibulk request / keys of a memcache get
    pub max_key: u32,   // bytes of one key (memcache: 250, fixed by the protocol)
    pub max_line: u32,  // bytes buffered before a CRLF (inline command, memcache line)
    pub max_depth: u32, // nesting of redis aggregates in a response
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_msg: 512 * 1024 * 1024,
            max_narg: 1024 * 1024,
            max_key: 512 * 1024 * 1024,
            max_line: 64 * 1024,
            max_depth: 64,
        }
    }
}

/// Framing lost: the stream cannot be resynchronised, the connection closes.
/// Redis clients get `-ERR Protocol error: <reason>` first, memcache clients
/// `CLIENT_ERROR <reason>`; `reason()` is that text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A byte that cannot appear where it stands (`what` names the place).
    Unexpected { what: &'static str },
    /// A number that is not a number, or overflows.
    BadNumber { what: &'static str },
    /// A length from the wire over its limit.
    TooLarge { what: &'static str, max: u32 },
    /// An argument count over `max_narg` (a request's multibulk count or
    /// inline arguments).
    TooManyArgs { what: &'static str, max: u32 },
    /// A line (or inline command) longer than `max_line` before its CRLF.
    LineTooLong { max: u32 },
    /// Arrays nested deeper than `max_depth` (responses).
    TooDeep { max: u32 },
}

impl ParseError {
    /// Human-readable reason, for the client's error reply and the log.
    pub fn reason(&self) -> String {
        match *self {
            ParseError::Unexpected { what } => format!("unexpected byte in {what}"),
            ParseError::BadNumber { what } => format!("invalid {what}"),
            ParseError::TooLarge { what, max } | ParseError::TooManyArgs { what, max } => {
                format!("{what} larger than {max}")
            }
            ParseError::LineTooLong { max } => format!("line longer than {max} bytes"),
            ParseError::TooDeep { max } => format!("arrays nested deeper than {max}"),
        }
    }
}

impl ParseError {
    /// Which request limit of the pool (issue 8.4) the error exceeded.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            ParseError::TooManyArgs { .. } => Some(Limit::Args),
            ParseError::TooLarge { .. } | ParseError::LineTooLong { .. } => Some(Limit::Bytes),
            _ => None,
        }
    }

    /// `TooLarge` as an argument count (`map_err` of a count parse).
    pub fn args(self) -> ParseError {
        match self {
            ParseError::TooLarge { what, max } => ParseError::TooManyArgs { what, max },
            e => e,
        }
    }
}

/// A request limit of a pool (issue 8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Bytes, // max_request_bytes (and the line bound derived from it)
    Args,  // max_request_args
}

/// A complete, well-framed request that the proxy answers with an error
/// instead of forwarding; the connection stays usable (0.5.0 closes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// redis: `-ERR unsupported command '<name>'`; memcache: `ERROR`.
    UnknownCommand,
    /// redis: `-ERR wrong number of arguments for '<name>' command`.
    WrongArity,
    /// A key that breaks a protocol rule (memcache: empty, > 250 bytes).
    BadKey,
    /// A malformed field inside a well-framed line (memcache: bad number,
    /// unexpected token); memcache: `CLIENT_ERROR bad command line format`.
    BadFormat,
    /// A limit hit inside a well-framed request (too many keys, too long).
    TooLarge,
    /// memcache: the whole error line memcached gives to this request
    /// (`CLIENT_ERROR invalid exptime argument` for gat, ...).
    Reply(&'static [u8]),
}

/// Everything the core needs to know about one parsed request. Reused
/// across requests (`clear()` keeps the vectors' capacity).
#[derive(Clone, Debug, Default)]
pub struct ReqMeta {
    pub cmd: Cmd,               // which command (protocol table entry)
    pub name: Span,             // the command word as written (for error replies)
    pub keys: Vec<Span>,        // routing keys in request order
    pub vals: Vec<Span>,        // redis MSET: the value of keys[i] (bulk payload)
    pub narg: u32,              // redis: multibulk count; memcache: tokens on the line
    pub noreply: bool,          // memcache `noreply`: no reply slot, no timeout
    pub inline: bool,           // redis inline command (`PING\r\n`)
    pub reject: Option<Reject>, // answer with an error, do not forward
    pub exptime: Span,          // memcache gat/gats: the `<exptime>` token
    pub key_b64: bool,          // memcache meta `b` flag: route by the base64-decoded key
    pub quiet: Option<Span>, // memcache meta `q` flag token: forwarded without it (see memcache::meta)
}

impl ReqMeta {
    /// Ready for the next request, in place (parsers call it at a
    /// request's first byte): every field back to its default, the span
    /// vectors emptied with their capacity kept.
    pub fn clear(&mut self) {
        self.reset(usize::MAX);
    }

    /// `clear`, also dropping the span vectors once their capacity passed
    /// `cap` (a recycled message gives back what one huge request grew).
    /// Field by field in place, not a rebuilt value: this runs for every
    /// request, and the destructuring below stops the build when a new
    /// field is not reset here.
    pub fn reset(&mut self, cap: usize) {
        let ReqMeta {
            cmd,
            name,
            keys,
            vals,
            narg,
            noreply,
            inline,
            reject,
            exptime,
            key_b64,
            quiet,
        } = self;
        *cmd = Cmd::None;
        *name = Span::default();
        keys.clear();
        vals.clear();
        if keys.capacity() > cap || vals.capacity() > cap {
            (*keys, *vals) = (Vec::new(), Vec::new());
        }
        *narg = 0;
        *noreply = false;
        *inline = false;
        *reject = None;
        *exptime = Span::default();
        *key_b64 = false;
        *quiet = None;
    }
}

/// A request's command, per protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cmd {
    #[default]
    None,
    Redis(redis::Cmd),
    Memcache(memcache::Cmd),
}

/// The shape of one response, as far as the proxy cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RspKind {
    #[default]
    Unknown,
    // redis
    Status,  // +...
    Error,   // -... (relayed)
    Failure, // -OOM / -BUSY / -LOADING: a server failure (§REDIS.8)
    Integer, // :n
    Bulk,    // $n / $-1
    Array,   // *n / *-1
    // redis RESP3 (a blob error `!n` is an `Error`)
    Map,       // %n
    Set,       // ~n
    Push,      // >n: out-of-band, never the reply to a request
    Null,      // _
    Double,    // ,1.5
    Boolean,   // #t / #f
    BigNumber, // (123...
    Verbatim,  // =n txt:...
    // memcache
    Values, // VALUE blocks (zero or more) then END
    Stored,
    NotStored,
    Exists,
    NotFound,
    Deleted,
    Touched,
    Number,  // incr/decr result
    McError, // ERROR
    ClientError,
    ServerError,
    Version,
    // memcache meta
    Va, // VA <size> <flags>* then a data block
    Hd, // HD <flags>*: success without a value
    En, // EN: miss
    Mn, // MN: meta no-op
    Me, // ME <key> <k>=<v>*: meta debug
}

/// Everything the core needs to know about one parsed response.
#[derive(Clone, Debug, Default)]
pub struct RspMeta {
    pub kind: RspKind,
    pub int: i64,   // redis `:n` value (for DEL/EXISTS/... sums)
    pub null: bool, // redis `$-1` / `*-1` / `_`
    /// Only when the state was created with `want_elems`: redis, the spans of
    /// the top-level aggregate's elements (each a whole element, nested or
    /// not; a map's keys and values alternate);
    /// memcache, each VALUE block (`VALUE ...\r\n<data>\r\n`), without END.
    pub elems: Vec<Span>,
}

impl RspMeta {
    /// Ready for the next response, in place (see `ReqMeta::clear`).
    pub fn clear(&mut self) {
        self.reset(usize::MAX);
    }

    /// `clear`, also dropping the element vector once its capacity passed
    /// `cap`; in place, every field named (see `ReqMeta::reset`).
    pub fn reset(&mut self, cap: usize) {
        let RspMeta {
            kind,
            int,
            null,
            elems,
        } = self;
        *kind = RspKind::Unknown;
        *int = 0;
        *null = false;
        elems.clear();
        if elems.capacity() > cap {
            *elems = Vec::new();
        }
    }
}

/// The bytes of `span` in a message stored as a chain of chunks. Borrowed
/// when the span lies in one chunk; otherwise copied into `scratch`.
// COPY: only when a key straddles two chunks; bounded by the key limit.
pub fn span_bytes<'a>(chain: &'a [bytes::Bytes], span: Span, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    ChainCursor::new(chain).bytes(span, scratch)
}

/// Reads spans of a chain of chunks in increasing order: each lookup
/// starts at the chunk of the previous one instead of the chain's first
/// (the keys of a 1,000-key MGET cost one chunk walk, not 1,000).
#[derive(Clone, Copy, Debug)]
pub struct ChainCursor<'a> {
    chain: &'a [bytes::Bytes], // the message
    i: usize,                  // chunk the last lookup ended in
    base: usize,               // message offset of chunk `i`
}

impl<'a> ChainCursor<'a> {
    pub fn new(chain: &'a [bytes::Bytes]) -> ChainCursor<'a> {
        ChainCursor {
            chain,
            i: 0,
            base: 0,
        }
    }

    /// `span_bytes` from where the last lookup stood (from the start again
    /// when `span` begins before that chunk).
    #[inline]
    pub fn bytes<'s>(&mut self, span: Span, scratch: &'s mut Vec<u8>) -> &'s [u8]
    where
        'a: 's,
    {
        // most spans lie in the chunk of the previous one
        let (start, end) = (span.start as usize, span.end() as usize);
        let here = self.chain.get(self.i).and_then(|c| {
            let from = start.checked_sub(self.base)?;
            c.get(from..end - self.base)
        });
        match here {
            Some(b) => b,
            None => self.seek(start, end, scratch),
        }
    }

    /// `bytes` for a span outside the current chunk.
    // COPY: only when a span straddles two chunks (see `span_bytes`).
    #[inline(never)]
    fn seek<'s>(&mut self, start: usize, end: usize, scratch: &'s mut Vec<u8>) -> &'s [u8]
    where
        'a: 's,
    {
        if start < self.base {
            (self.i, self.base) = (0, 0);
        }
        while let Some(c) = self.chain.get(self.i) {
            let cend = self.base + c.len();
            if start < cend {
                if end <= cend {
                    return &c[start - self.base..end - self.base];
                }
                scratch.clear();
                copy_from(
                    &self.chain[self.i..],
                    start - self.base,
                    end - start,
                    scratch,
                );
                return scratch;
            }
            self.base = cend;
            self.i += 1;
        }
        &[]
    }
}

/// Appends `len` bytes of `chain`, starting `skip` bytes in, to `out`.
pub fn copy_from(chain: &[bytes::Bytes], mut skip: usize, mut len: usize, out: &mut Vec<u8>) {
    for c in chain {
        if len == 0 {
            break;
        }
        if skip >= c.len() {
            skip -= c.len();
            continue;
        }
        let take = (c.len() - skip).min(len);
        out.extend_from_slice(&c[skip..skip + take]);
        skip = 0;
        len -= take;
    }
}

/// Removes the bytes of `span` from a message stored as a chain of chunks,
/// zero-copy: each chunk it touches is sliced around it.
pub fn cut_span(chain: &mut Vec<bytes::Bytes>, span: Span) {
    let (start, end) = (span.start as usize, span.end() as usize);
    let (mut base, mut i) = (0usize, 0usize);
    while i < chain.len() {
        let len = chain[i].len();
        let (cs, ce) = (base, base + len);
        base = ce;
        if ce <= start || cs >= end {
            i += 1;
            continue;
        }
        let head = chain[i].slice(..start.saturating_sub(cs).min(len));
        let tail = chain[i].slice(end.saturating_sub(cs).min(len)..);
        match (head.is_empty(), tail.is_empty()) {
            (true, true) => {
                chain.remove(i);
            }
            (false, true) => {
                chain[i] = head;
                i += 1;
            }
            (true, false) => {
                chain[i] = tail;
                i += 1;
            }
            (false, false) => {
                chain[i] = head;
                chain.insert(i + 1, tail);
                i += 2;
            }
        }
    }
}

/// Appends the bytes of `span` to `out`.
pub fn copy_span(chain: &[bytes::Bytes], span: Span, out: &mut Vec<u8>) {
    copy_from(chain, span.start as usize, span.len as usize, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn span_bytes_within_and_across_chunks() {
        let chain = [
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"defg"),
            Bytes::from_static(b"h"),
        ];
        let mut s = Vec::new();
        assert_eq!(span_bytes(&chain, Span::new(1, 2), &mut s), b"bc");
        assert_eq!(span_bytes(&chain, Span::new(2, 6), &mut s), b"cdefgh");
        assert_eq!(span_bytes(&chain, Span::new(3, 4), &mut s), b"defg");
        assert_eq!(span_bytes(&chain, Span::new(9, 1), &mut s), b"");
    }

    /// A cursor reads every span as `span_bytes` does, in increasing
    /// order, backwards (a rescan) and with empty chunks in the chain.
    #[test]
    fn cursor_agrees_with_span_bytes() {
        let text = b"abcdefgh";
        for cut in 0..=8 {
            let chain = [
                Bytes::from_static(&text[..cut]),
                Bytes::new(),
                Bytes::from_static(&text[cut..]),
            ];
            let spans: Vec<Span> = (0..=8u32)
                .flat_map(|s| (0..=9 - s).map(move |l| Span::new(s, l)))
                .collect();
            let mut cur = ChainCursor::new(&chain);
            let (mut s1, mut s2) = (Vec::new(), Vec::new());
            for &sp in spans.iter().chain(spans.iter().rev()) {
                let want = span_bytes(&chain, sp, &mut s1).to_vec();
                let end = (sp.end() as usize).min(8);
                let start = (sp.start as usize).min(end);
                if sp.start < 8 {
                    assert_eq!(want, &text[start..end], "{sp:?}");
                }
                assert_eq!(cur.bytes(sp, &mut s2), want, "cut {cut}, {sp:?}");
            }
        }
    }

    #[test]
    fn cut_span_within_and_across_chunks() {
        let text = b"abcdefgh";
        for cut in 0..=8 {
            for start in 0..8u32 {
                for len in 1..=(8 - start) {
                    let mut chain = vec![
                        Bytes::from_static(&text[..cut]),
                        Bytes::from_static(&text[cut..]),
                    ];
                    chain.retain(|c| !c.is_empty());
                    cut_span(&mut chain, Span::new(start, len));
                    let got: Vec<u8> = chain.iter().flat_map(|c| c.iter().copied()).collect();
                    let mut want = text.to_vec();
                    want.drain(start as usize..(start + len) as usize);
                    assert_eq!(got, want, "cut at {cut}, span {start}+{len}");
                    assert!(chain.iter().all(|c| !c.is_empty()));
                }
            }
        }
    }
}

/// A request parser of either protocol (one per client connection).
#[derive(Debug)]
pub enum ReqParser {
    Redis(redis::ReqState),
    Memcache(memcache::ReqState),
}

impl ReqParser {
    pub fn new(p: Proto) -> ReqParser {
        match p {
            Proto::Redis => ReqParser::Redis(redis::ReqState::default()),
            Proto::Memcache => ReqParser::Memcache(memcache::ReqState::default()),
        }
    }

    pub fn reset(&mut self) {
        match self {
            ReqParser::Redis(s) => s.reset(),
            ReqParser::Memcache(s) => s.reset(),
        }
    }

    pub fn parse(
        &mut self,
        chunk: &[u8],
        lim: &Limits,
        meta: &mut ReqMeta,
    ) -> Result<Progress, ParseError> {
        match self {
            ReqParser::Redis(s) => redis::parse_req(s, chunk, lim, meta),
            ReqParser::Memcache(s) => memcache::parse_req(s, chunk, lim, meta),
        }
    }
}

/// A response parser of either protocol (one per server connection).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per server connection; boxing would add a hop per byte
pub enum RspParser {
    Redis(redis::RspState),
    Memcache(memcache::RspState),
}

impl RspParser {
    /// `want_elems`: record element spans (fragment replies).
    pub fn new(p: Proto, want_elems: bool) -> RspParser {
        match p {
            Proto::Redis => RspParser::Redis(redis::RspState::new(want_elems)),
            Proto::Memcache => RspParser::Memcache(memcache::RspState::new(want_elems)),
        }
    }

    /// Ready for a new response, in place (no 600-byte move per reply).
    pub fn restart(&mut self, want_elems: bool) {
        match self {
            RspParser::Redis(s) => s.restart(want_elems),
            RspParser::Memcache(s) => *s = memcache::RspState::new(want_elems),
        }
    }

    pub fn parse(
        &mut self,
        chunk: &[u8],
        lim: &Limits,
        meta: &mut RspMeta,
    ) -> Result<Progress, ParseError> {
        match self {
            RspParser::Redis(s) => redis::parse_rsp(s, chunk, lim, meta),
            RspParser::Memcache(s) => memcache::parse_rsp(s, chunk, lim, meta),
        }
    }
}

/// The reply written before closing a client whose stream lost framing:
/// `-ERR Protocol error: <reason>` (as redis-server) or
/// `CLIENT_ERROR <reason>` (as memcached).
pub fn protocol_error_reply(p: Proto, e: &ParseError) -> bytes::Bytes {
    let mut out = Vec::new();
    match p {
        Proto::Redis => redis::reply::err_protocol(&e.reason(), &mut out),
        Proto::Memcache => memcache::reply::client_error(&e.reason(), &mut out),
    }
    bytes::Bytes::from(out)
}
