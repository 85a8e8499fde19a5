//! Fuzz invariants (twemproxy has no counterpart: it is not fuzzed; the
//! shape follows pelikan's and httparse's fuzz targets).
//!
//! Each `check_*` takes arbitrary bytes, runs them through the same pure
//! functions the core uses, and asserts what must hold whatever the bytes.
//! A violated invariant panics (through `assert!`): that panic is what the
//! fuzzer reports. The fuzz targets in `fuzz/` are one call each into this
//! module, and `tests/fuzz_corpus.rs` replays the committed corpora through
//! the same functions on stable `cargo test`.
//!
//! # Invariants checked
//! - parser contract (`proto`): `end <= chunk.len()`, `end >= 1` unless the
//!   message began in an earlier chunk, at most one message per input byte;
//! - every span (name, keys, values, elements) lies inside its message;
//! - redis requests: a recognised name reads as its command, the keys are
//!   exactly what `redis::key_positions` finds in the arguments (split here
//!   independently of the parser), a rejected request has no keys, bulk
//!   keys are framed by CRLF;
//! - memcache requests: keys are 1..=250 bytes with no SP or CR, no more
//!   keys than tokens, the name spells the command;
//! - responses: the kind matches the first byte or word, elements tile the
//!   reply, integers read back;
//! - split invariance: any chunking, any limits, the same messages;
//! - fragment/coalesce: the coalesced reply equals the unfragmented one,
//!   for RESP2 and RESP3 clients.
//! - sentinel sessions: split invariance, bounded buffer, answers in order.
//!
//! Not part of the proxy's API (`#[doc(hidden)]`); allocation here is free.

use crate::conf::Naming;
use crate::msg::{coalesce, fragment, Frag, Msg, MsgArena, Owner, State};
use crate::proto::{
    memcache, redis, Cmd, Limits, ParseError, Progress, Reject, ReqMeta, RspKind, RspMeta, Span,
};
use crate::sentinel::{self, Event as SentinelEvent, Session};
use crate::token::MsgId;
use bytes::Bytes;
use std::fmt::Debug;

/// Limits small enough for fuzz inputs to hit every one of them.
pub const SMALL: Limits = Limits {
    max_msg: 64,
    max_narg: 3,
    max_key: 16,
    max_line: 32,
    max_depth: 3,
};

/// One outcome of feeding a stream to a parser.
#[derive(Debug, PartialEq, Eq)]
pub enum Ev<T> {
    Done(T),         // a complete message, snapshotted
    Err(ParseError), // framing lost; nothing follows
    Partial,         // the input ended inside a message
}

/// What a complete request looked like (spans are message offsets, so two
/// parses of the same bytes compare equal whatever the chunking).
#[derive(Debug, PartialEq, Eq)]
pub struct ReqSnap {
    pub len: usize,
    pub cmd: Cmd,
    pub name: Span,
    pub keys: Vec<Span>,
    pub vals: Vec<Span>,
    pub narg: u32,
    pub noreply: bool,
    pub inline: bool,
    pub reject: Option<Reject>,
}

/// What a complete response looked like.
#[derive(Debug, PartialEq, Eq)]
pub struct RspSnap {
    pub len: usize,
    pub kind: RspKind,
    pub int: i64,
    pub null: bool,
    pub elems: Vec<Span>,
}

/// A parser under a split-feeding test. `feed_split` is the one driver
/// every parser test and fuzz check uses; each adapts its parser to this.
pub trait Split {
    type Snap;
    /// Parses one chunk of the current message.
    fn feed(&mut self, chunk: &[u8]) -> Result<Progress, ParseError>;
    /// The current message, all of `msg`, is complete: check and snapshot
    /// it, and reset the parser for the next one.
    fn done(&mut self, msg: &[u8]) -> Self::Snap;
}

/// Feeds `input` cut at `cuts` (ascending offsets) as the core does: after
/// `Complete` the parser is reset and fed the chunk's tail. Checks the
/// parser contract of `proto` on the way.
pub fn feed_split<S: Split>(p: &mut S, input: &[u8], cuts: &[usize]) -> Vec<Ev<S::Snap>> {
    let mut evs = Vec::new();
    let (mut msg_start, mut pos) = (0, 0);
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(pos, input.len());
        let (mut chunk, mut at) = (&input[pos..cut], pos);
        while !chunk.is_empty() {
            match p.feed(chunk) {
                Ok(Progress::Incomplete) => break,
                Ok(Progress::Complete { end }) => {
                    assert!(end <= chunk.len(), "end {end} past chunk {}", chunk.len());
                    assert!(end >= 1 || at > msg_start, "no progress at {at}");
                    evs.push(Ev::Done(p.done(&input[msg_start..at + end])));
                    assert!(evs.len() <= input.len(), "more messages than bytes");
                    (msg_start, at) = (at + end, at + end);
                    chunk = &chunk[end..];
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

/// Runs `run` over `input` whole, one byte at a time and split in two at
/// every offset; all must agree. Returns the whole-input result.
pub fn all_splits<G: PartialEq + Debug>(input: &[u8], mut run: impl FnMut(&[usize]) -> G) -> G {
    let whole = run(&[]);
    let bytewise: Vec<usize> = (1..input.len()).collect();
    let show = || String::from_utf8_lossy(input).into_owned();
    assert_eq!(run(&bytewise), whole, "byte at a time: {:?}", show());
    for k in 0..=input.len() {
        assert_eq!(run(&[k]), whole, "split at {k}: {:?}", show());
    }
    whole
}

/// A parser given as a state constructor, a parse function and a snapshot
/// function (the redis parser tests), driven by `feed_split`.
pub fn feed_fns<S, M, G>(
    input: &[u8],
    cuts: &[usize],
    new_state: impl Fn() -> S,
    meta: &mut M,
    parse: impl FnMut(&mut S, &[u8], &mut M) -> Result<Progress, ParseError>,
    snap: impl Fn(&M, &[u8]) -> G,
) -> Vec<Ev<G>> {
    struct Fns<'m, S, M, N, P, F> {
        st: S,
        new_state: N,
        meta: &'m mut M,
        parse: P,
        snap: F,
    }
    impl<S, M, G, N, P, F> Split for Fns<'_, S, M, N, P, F>
    where
        N: Fn() -> S,
        P: FnMut(&mut S, &[u8], &mut M) -> Result<Progress, ParseError>,
        F: Fn(&M, &[u8]) -> G,
    {
        type Snap = G;
        fn feed(&mut self, chunk: &[u8]) -> Result<Progress, ParseError> {
            (self.parse)(&mut self.st, chunk, self.meta)
        }
        fn done(&mut self, msg: &[u8]) -> G {
            self.st = (self.new_state)();
            (self.snap)(self.meta, msg)
        }
    }
    let mut f = Fns {
        st: new_state(),
        new_state,
        meta,
        parse,
        snap,
    };
    feed_split(&mut f, input, cuts)
}

/// Deterministic pseudo-random numbers (xorshift64*), for garbage inputs.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    #[allow(clippy::should_implement_trait)] // the tests' name for it; never an iterator
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The bytes of `span`, which must lie inside `msg` (parser tests).
pub fn span_vec(msg: &[u8], span: Span) -> Vec<u8> {
    at(msg, span, "span").to_vec()
}

/// A parser under test: feed chunks, then check and snapshot a message.
trait Feed {
    type Snap: PartialEq + Debug;
    fn feed(&mut self, chunk: &[u8], lim: &Limits) -> Result<Progress, ParseError>;
    fn reset(&mut self);
    /// Asserts the invariants of the message `msg` just completed.
    fn done(&self, msg: &[u8], lim: &Limits) -> Self::Snap;
}

/// A `Feed` with its limits, as `feed_split` drives it.
struct Fed<'a, F>(&'a mut F, &'a Limits);

impl<F: Feed> Split for Fed<'_, F> {
    type Snap = F::Snap;
    fn feed(&mut self, chunk: &[u8]) -> Result<Progress, ParseError> {
        self.0.feed(chunk, self.1)
    }
    fn done(&mut self, msg: &[u8]) -> F::Snap {
        let snap = self.0.done(msg, self.1);
        self.0.reset();
        snap
    }
}

/// `feed_split` over a fresh `p` with limits `lim`.
fn drive<F: Feed>(p: &mut F, input: &[u8], cuts: &[usize], lim: &Limits) -> Vec<Ev<F::Snap>> {
    p.reset();
    feed_split(&mut Fed(p, lim), input, cuts)
}

/// The bytes of `span`, asserting it lies inside `msg`.
fn at<'a>(msg: &'a [u8], span: Span, what: &str) -> &'a [u8] {
    let end = span.start.checked_add(span.len).map(|e| e as usize);
    assert!(
        end.is_some_and(|e| e <= msg.len()),
        "{what} {span:?} outside a {}-byte message",
        msg.len()
    );
    &msg[span.start as usize..span.start as usize + span.len as usize]
}

/// Parses one line `<tag><decimal>\r\n` at the start of `msg`.
fn head_num(msg: &[u8]) -> Option<(i128, usize)> {
    let cr = msg.iter().position(|&b| b == b'\r')?;
    let txt = std::str::from_utf8(msg.get(1..cr)?).ok()?;
    Some((txt.parse().ok()?, cr + 2))
}

/// The spans of a complete redis request's arguments (name first).
fn redis_args(msg: &[u8], inline: bool) -> Vec<Span> {
    let mut out = Vec::new();
    if inline {
        let mut start = None;
        for (i, &b) in msg.iter().enumerate() {
            let sep = matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c);
            match (sep, start) {
                (true, Some(s)) => {
                    out.push(Span::new(s as u32, (i - s) as u32));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        return out;
    }
    let Some((n, mut pos)) = head_num(msg) else {
        return out;
    };
    for _ in 0..n {
        let Some((len, data)) = msg.get(pos..).and_then(head_num) else {
            break;
        };
        let start = pos + data;
        out.push(Span::new(start as u32, len as u32));
        pos = start + len as usize + 2;
    }
    out
}

struct RedisReq {
    st: redis::ReqState,
    meta: ReqMeta,
}

impl Feed for RedisReq {
    type Snap = ReqSnap;
    fn feed(&mut self, chunk: &[u8], lim: &Limits) -> Result<Progress, ParseError> {
        redis::parse_req(&mut self.st, chunk, lim, &mut self.meta)
    }
    fn reset(&mut self) {
        self.st.reset();
    }
    fn done(&self, msg: &[u8], lim: &Limits) -> ReqSnap {
        let m = &self.meta;
        assert!(msg.ends_with(b"\n"), "request does not end with LF");
        assert_eq!(m.inline, msg.first() != Some(&b'*'), "inline flag");
        if m.narg == 0 {
            assert_eq!(m.cmd, Cmd::None, "empty request with a command");
            assert!(m.keys.is_empty() && m.vals.is_empty() && m.reject.is_none());
            return snap_req(m, msg);
        }
        let name = at(msg, m.name, "name");
        let want = redis::Cmd::lookup(name).map_or(Cmd::None, Cmd::Redis);
        assert_eq!(m.cmd, want, "command of name {name:?}");
        if m.reject.is_some() {
            assert!(m.keys.is_empty() && m.vals.is_empty(), "rejected with keys");
        }
        assert!(
            m.keys.len() + m.vals.len() < m.narg as usize,
            "more args than narg"
        );
        assert!(m.keys.len() <= lim.max_narg as usize);
        for &k in m.keys.iter().chain(&m.vals) {
            let b = at(msg, k, "key");
            if m.inline {
                assert!(!b.is_empty(), "empty inline token");
                assert!(!b.iter().any(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n')));
            } else {
                let before = k.start.checked_sub(1).and_then(|i| msg.get(i as usize));
                assert_eq!(before, Some(&b'\n'), "bulk start");
                let tail = msg.get(k.end() as usize..k.end() as usize + 2);
                assert_eq!(tail, Some(&b"\r\n"[..]), "bulk end");
            }
        }
        for &k in &m.keys {
            assert!(k.len <= lim.max_key, "key over max_key");
        }
        if let (None, Cmd::Redis(c)) = (m.reject, m.cmd) {
            assert!(c.supported() && c.arity_ok(m.narg), "accepted bad arity");
            // The keys are what the key-spec scan finds in the arguments,
            // split here independently of the parser.
            let args = redis_args(msg, m.inline);
            assert_eq!(args.len(), m.narg as usize, "arguments");
            let bytes: Vec<&[u8]> = args.iter().map(|&a| at(msg, a, "arg")).collect();
            let want: Vec<Span> = redis::key_positions(c.keys(), &bytes)
                .into_iter()
                .map(|i| args[i])
                .collect();
            assert_eq!(m.keys, want, "keys of {c:?}");
            if c.keys() == redis::commands::PAIRS {
                assert_eq!(m.vals.len(), m.keys.len(), "a value per key");
            }
            if matches!(c.keys(), redis::Keys::Numkeys { .. }) {
                assert!(!m.keys.is_empty(), "numkeys command without a key");
            }
            if c.local() {
                assert!(m.keys.is_empty(), "local command with keys");
                assert_eq!(m.vals.len(), args.len() - 1, "local command arguments");
            }
        }
        if !m.inline {
            let n = head_num(msg).map(|(n, _)| n);
            assert_eq!(n, Some(i128::from(m.narg)), "narg differs from *<n>");
        }
        snap_req(m, msg)
    }
}

struct McReq {
    st: memcache::ReqState,
    meta: ReqMeta,
}

impl Feed for McReq {
    type Snap = ReqSnap;
    fn feed(&mut self, chunk: &[u8], lim: &Limits) -> Result<Progress, ParseError> {
        memcache::parse_req(&mut self.st, chunk, lim, &mut self.meta)
    }
    fn reset(&mut self) {
        self.st.reset();
    }
    fn done(&self, msg: &[u8], lim: &Limits) -> ReqSnap {
        let m = &self.meta;
        // an ms data block ends where its length says: memcached checks it
        let raw = m.cmd == Cmd::Memcache(memcache::Cmd::Ms);
        assert!(
            raw || msg.ends_with(b"\r\n"),
            "request does not end with CRLF"
        );
        assert!(!m.inline && m.vals.is_empty());
        assert!(
            m.keys.len() <= lim.max_narg as usize,
            "more keys than max_narg"
        );
        assert!(
            m.keys.len() < m.narg.max(1) as usize,
            "more keys than tokens"
        );
        let line = msg.iter().position(|&b| b == b'\r').map_or(0, |p| p + 2);
        for &k in &m.keys {
            let b = at(msg, k, "key");
            assert!((1..=250).contains(&b.len()), "key of {} bytes", b.len());
            assert!(b.len() as u32 <= lim.max_key, "key over max_key");
            assert!(!b.contains(&b' ') && !b.contains(&b'\r'), "key {b:?}");
            assert!(k.end() as usize <= line, "key outside the line");
        }
        if let Some(q) = m.quiet {
            let b = at(msg, q, "quiet flag");
            assert!(b.len() >= 2 && b[0] == b' ' && b[1] == b'q', "quiet {b:?}");
            assert!(q.end() as usize <= line, "quiet flag outside the line");
        }
        if m.exptime.len > 0 {
            assert_eq!(
                at(msg, m.exptime, "exptime").first(),
                msg.get(m.exptime.start as usize)
            );
        }
        if m.narg > 0 {
            let name = at(msg, m.name, "name");
            let want = memcache::Cmd::lookup(name).map_or(Cmd::None, Cmd::Memcache);
            assert_eq!(m.cmd, want, "command of name {name:?}");
        } else {
            assert!(m.reject.is_some(), "empty line accepted");
        }
        if let (None, Cmd::Memcache(c)) = (m.reject, m.cmd) {
            let nk = m.keys.len() as u32;
            match c.key_class() {
                memcache::KeyClass::Multi => {
                    let args = match c.syntax() {
                        memcache::Syntax::Gat => m.narg - 2,
                        _ => m.narg - 1,
                    };
                    assert_eq!(nk, args, "get keys");
                }
                memcache::KeyClass::One => assert_eq!(nk, 1, "one key"),
                _ => assert_eq!(nk, 0, "keyless command with keys"),
            }
            assert!(!m.noreply || c.allows_noreply(), "noreply on {c:?}");
        }
        snap_req(m, msg)
    }
}

fn snap_req(m: &ReqMeta, msg: &[u8]) -> ReqSnap {
    ReqSnap {
        len: msg.len(),
        cmd: m.cmd,
        name: m.name,
        keys: m.keys.clone(),
        vals: m.vals.clone(),
        narg: m.narg,
        noreply: m.noreply,
        inline: m.inline,
        reject: m.reject,
    }
}

struct RedisRsp {
    st: redis::RspState,
    meta: RspMeta,
    want: bool, // the state records element spans
}

impl Feed for RedisRsp {
    type Snap = RspSnap;
    fn feed(&mut self, chunk: &[u8], lim: &Limits) -> Result<Progress, ParseError> {
        redis::parse_rsp(&mut self.st, chunk, lim, &mut self.meta)
    }
    fn reset(&mut self) {
        self.st.reset();
    }
    fn done(&self, msg: &[u8], lim: &Limits) -> RspSnap {
        let m = &self.meta;
        assert!(msg.ends_with(b"\r\n"), "reply does not end with CRLF");
        // the last value starts by max_msg and is a line or a bounded bulk
        let most = lim.max_msg as usize + lim.max_line.max(24) as usize + 3;
        assert!(msg.len() <= most, "reply of {} bytes", msg.len());
        let r = ref_reply(msg);
        assert!(
            r.is_some(),
            "the reference reader refuses a reply the parser took"
        );
        let Some(r) = r else { return snap_rsp(m, msg) };
        assert_eq!(r.len, msg.len(), "reply length");
        assert_eq!(m.kind, r.kind, "kind");
        assert_eq!(m.null, r.null, "null");
        if m.kind == RspKind::Integer {
            assert_eq!(Some(m.int), r.int, "integer");
        }
        assert!(self.want || m.elems.is_empty(), "elements not asked for");
        if self.want {
            assert_eq!(m.elems, r.elems, "element spans");
        }
        snap_rsp(m, msg)
    }
}

/// What the reference reader makes of one complete redis reply.
struct RefReply {
    len: usize,       // bytes of the reply
    kind: RspKind,    // of the value after any attributes
    null: bool,       // `$-1`, `*-1`, `_`
    int: Option<i64>, // `:n`
    elems: Vec<Span>, // the top-level aggregate's elements
}

/// A plain recursive reader of RESP2/RESP3, written independently of the
/// resumable parser (which it checks): one complete reply at the start of
/// `msg`, limits ignored. `None` when the bytes are not a reply.
fn ref_reply(msg: &[u8]) -> Option<RefReply> {
    let mut at = 0;
    while msg.get(at) == Some(&b'|') {
        at = ref_aggregate(msg, at, 0)?;
    }
    let ty = *msg.get(at)?;
    let (text, next) = ref_line(msg, at)?;
    let word = text.split(|&b| b == b' ').next();
    let failure = ty == b'-' && matches!(word, Some(b"OOM" | b"BUSY" | b"LOADING"));
    let null = ty == b'_' || (matches!(ty, b'$' | b'*') && text.first() == Some(&b'-'));
    let kind = match ty {
        b'+' => RspKind::Status,
        b'-' if failure => RspKind::Failure,
        b'-' | b'!' => RspKind::Error,
        b':' => RspKind::Integer,
        b'$' => RspKind::Bulk,
        b'*' => RspKind::Array,
        b'%' => RspKind::Map,
        b'~' => RspKind::Set,
        b'>' => RspKind::Push,
        b'_' => RspKind::Null,
        b',' => RspKind::Double,
        b'#' => RspKind::Boolean,
        b'(' => RspKind::BigNumber,
        b'=' => RspKind::Verbatim,
        _ => return None,
    };
    let mut elems = Vec::new();
    let len = match ty {
        b'*' | b'~' | b'>' | b'%' if !null => {
            let mut p = next;
            for _ in 0..ref_count(ty, text)? {
                let e = ref_value(msg, p, 1)?;
                elems.push(Span::new(p as u32, (e - p) as u32));
                p = e;
            }
            p
        }
        _ => ref_value(msg, at, 0)?,
    };
    let int = (ty == b':').then(|| ref_int(text)).flatten();
    Some(RefReply {
        len,
        kind,
        null,
        int,
        elems,
    })
}

/// `msg[at]` is a type byte: its line's text (up to the first CR) and the
/// offset after its LF.
fn ref_line(msg: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = msg.get(at + 1..)?;
    let cr = rest.iter().position(|&b| b == b'\r')?;
    (rest.get(cr + 1) == Some(&b'\n')).then(|| (&rest[..cr], at + 1 + cr + 2))
}

/// `-?digits` (at most 20 digits) as an i64.
fn ref_int(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let ok = (1..=20).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit);
    ok.then(|| std::str::from_utf8(text).ok()?.parse().ok())
        .flatten()
}

/// Elements an aggregate's count line announces (a map's pairs count twice).
fn ref_count(ty: u8, text: &[u8]) -> Option<usize> {
    let n = usize::try_from(ref_int(text).filter(|&n| n >= 0)?).ok()?;
    Some(if matches!(ty, b'%' | b'|') { n * 2 } else { n })
}

/// The end of the value at `msg[at]` (an attribute includes the value it
/// annotates).
fn ref_value(msg: &[u8], at: usize, depth: u32) -> Option<usize> {
    if depth > DEPTH_REF {
        return None;
    }
    let ty = *msg.get(at)?;
    let (text, next) = ref_line(msg, at)?;
    let null =
        matches!(ty, b'$' | b'*') && matches!(ref_int(text), Some(-1 | 0)) && text[0] == b'-';
    match ty {
        _ if null => Some(next),
        b'+' | b'-' | b',' | b'(' => Some(next),
        b':' => ref_int(text).map(|_| next),
        b'#' => matches!(text, b"t" | b"f").then_some(next),
        b'_' => text.is_empty().then_some(next),
        b'$' | b'=' | b'!' => {
            let n = usize::try_from(ref_int(text).filter(|&n| n >= 0)?).ok()?;
            let end = next.checked_add(n)?;
            (msg.get(end..end + 2)? == b"\r\n").then_some(end + 2)
        }
        b'|' => {
            let p = ref_aggregate(msg, at, depth)?;
            ref_value(msg, p, depth)
        }
        b'*' | b'~' | b'>' | b'%' => ref_aggregate(msg, at, depth),
        _ => None,
    }
}

/// Nesting the reference reader follows (beyond any parser's limit).
const DEPTH_REF: u32 = 200;

/// The end of the aggregate (or attribute, alone) at `msg[at]`.
fn ref_aggregate(msg: &[u8], at: usize, depth: u32) -> Option<usize> {
    let ty = *msg.get(at)?;
    let (text, mut p) = ref_line(msg, at)?;
    for _ in 0..ref_count(ty, text)? {
        p = ref_value(msg, p, depth + 1)?;
    }
    Some(p)
}

struct McRsp {
    st: memcache::RspState,
    meta: RspMeta,
    want: bool, // the state records VALUE block spans
}

impl Feed for McRsp {
    type Snap = RspSnap;
    fn feed(&mut self, chunk: &[u8], lim: &Limits) -> Result<Progress, ParseError> {
        memcache::parse_rsp(&mut self.st, chunk, lim, &mut self.meta)
    }
    fn reset(&mut self) {
        self.st.reset();
    }
    fn done(&self, msg: &[u8], lim: &Limits) -> RspSnap {
        let m = &self.meta;
        assert!(msg.ends_with(b"\r\n"), "reply does not end with CRLF");
        let word = msg
            .split(|&b| b == b' ' || b == b'\r')
            .next()
            .unwrap_or(b"");
        let want = match word {
            b"VALUE" | b"END" => RspKind::Values,
            b"STORED" => RspKind::Stored,
            b"NOT_STORED" => RspKind::NotStored,
            b"EXISTS" => RspKind::Exists,
            b"NOT_FOUND" => RspKind::NotFound,
            b"DELETED" => RspKind::Deleted,
            b"TOUCHED" => RspKind::Touched,
            b"ERROR" => RspKind::McError,
            b"CLIENT_ERROR" => RspKind::ClientError,
            b"SERVER_ERROR" => RspKind::ServerError,
            b"VERSION" => RspKind::Version,
            b"VA" => RspKind::Va,
            b"HD" => RspKind::Hd,
            b"EN" => RspKind::En,
            b"NS" => RspKind::NotStored,
            b"EX" => RspKind::Exists,
            b"NF" => RspKind::NotFound,
            b"MN" => RspKind::Mn,
            b"ME" => RspKind::Me,
            w if !w.is_empty() && w.iter().all(u8::is_ascii_digit) => RspKind::Number,
            _ => RspKind::Unknown,
        };
        assert_eq!(m.kind, want, "kind of word {word:?}");
        if m.kind == RspKind::Number {
            let n: Option<i64> = std::str::from_utf8(word).ok().and_then(|s| s.parse().ok());
            assert_eq!(m.int, n.unwrap_or(0), "number reply");
        }
        if m.kind == RspKind::Values {
            assert!(msg.ends_with(b"END\r\n"), "values without END");
        }
        assert!(m.elems.len() <= lim.max_narg as usize);
        assert!(self.want || m.elems.is_empty(), "elements not asked for");
        if self.want && m.kind == RspKind::Values {
            let mut next = 0;
            for &e in &m.elems {
                let b = at(msg, e, "VALUE block");
                assert_eq!(e.start, next, "VALUE blocks not contiguous");
                assert!(
                    b.starts_with(b"VALUE ") && b.ends_with(b"\r\n"),
                    "block framing"
                );
                next = e.end();
            }
            assert_eq!(next as usize + 5, msg.len(), "blocks do not reach END");
        }
        snap_rsp(m, msg)
    }
}

fn snap_rsp(m: &RspMeta, msg: &[u8]) -> RspSnap {
    RspSnap {
        len: msg.len(),
        kind: m.kind,
        int: m.int,
        null: m.null,
        elems: m.elems.clone(),
    }
}

fn redis_req() -> RedisReq {
    RedisReq {
        st: redis::ReqState::default(),
        meta: ReqMeta::default(),
    }
}

fn mc_req() -> McReq {
    McReq {
        st: memcache::ReqState::default(),
        meta: ReqMeta::default(),
    }
}

fn redis_rsp(want_elems: bool) -> RedisRsp {
    RedisRsp {
        st: redis::RspState::new(want_elems),
        meta: RspMeta::default(),
        want: want_elems,
    }
}

fn mc_rsp(want_elems: bool) -> McRsp {
    McRsp {
        st: memcache::RspState::new(want_elems),
        meta: RspMeta::default(),
        want: want_elems,
    }
}

/// One-shot parses with the default and the small limits.
fn check_whole<F: Feed>(mut p: F, data: &[u8]) {
    drive(&mut p, data, &[], &Limits::default());
    drive(&mut p, data, &[], &SMALL);
}

/// Redis requests: `data` is a client byte stream.
pub fn check_redis_req(data: &[u8]) {
    check_whole(redis_req(), data);
}

/// Memcache requests: `data` is a client byte stream.
pub fn check_memcache_req(data: &[u8]) {
    check_whole(mc_req(), data);
}

/// Redis replies, with and without element spans (which must not change
/// where replies end).
pub fn check_redis_rsp(data: &[u8]) {
    check_rsp(redis_rsp, data);
}

/// Memcache replies, with and without VALUE block spans.
pub fn check_memcache_rsp(data: &[u8]) {
    check_rsp(mc_rsp, data);
}

fn check_rsp<F: Feed<Snap = RspSnap>>(new: impl Fn(bool) -> F, data: &[u8]) {
    let lim = Limits::default();
    let with = drive(&mut new(true), data, &[], &lim);
    let without = drive(&mut new(false), data, &[], &lim);
    assert_eq!(ends(&with), ends(&without), "want_elems changed framing");
    drive(&mut new(true), data, &[], &SMALL);
}

/// Message lengths (and the final error) of a run, ignoring element spans.
fn ends(evs: &[Ev<RspSnap>]) -> Vec<Result<(usize, RspKind), Option<ParseError>>> {
    evs.iter()
        .map(|e| match e {
            Ev::Done(s) => Ok((s.len, s.kind)),
            Ev::Err(e) => Err(Some(*e)),
            Ev::Partial => Err(None),
        })
        .collect()
}

/// Configuration text: `conf::parse` never panics, and a configuration it
/// accepts keeps the promises of `Conf`.
pub fn check_conf(text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    if needs_dns(&text) {
        return;
    }
    let Ok(conf) = crate::conf::parse(&text, "fuzz.yml") else {
        return;
    };
    assert!(
        !conf.pools.is_empty(),
        "accepted a configuration without pools"
    );
    for (i, p) in conf.pools.iter().enumerate() {
        assert!(!p.servers.is_empty(), "pool '{}' without servers", p.name);
        assert!(p.server_connections >= 1);
        for (j, s) in p.servers.iter().enumerate() {
            assert!(s.weight >= 1, "zero weight");
            let dup = p.servers[..j].iter().any(|o| o.name == s.name);
            assert!(!dup, "duplicate server name {}", s.name);
        }
        let dup = conf.pools[..i]
            .iter()
            .any(|o| o.name == p.name || o.listen_str == p.listen_str);
        assert!(!dup, "duplicate pool {}", p.name);
        if !p.sentinels.is_empty() {
            assert!(p.redis, "sentinels on a memcache pool");
            let named = p.servers.iter().all(|s| s.naming == Naming::Given);
            assert!(named, "an unnamed server in a pool with sentinels");
        }
        assert!(p.sentinel_auth.is_none() || !p.sentinels.is_empty());
    }
}

/// Sentinel sessions (issue 13): `data[0]` picks AUTH (bit 0) and one to
/// three master names (bits 1-2), `data[1]` a split point; the rest is what
/// the sentinel sends. Whole or split in two or byte by byte, the session
/// says the same things; it holds at most `MAX_BUFFER` unparsed bytes; its
/// answers come in request order (AUTH, then one per name), `Subscribed`
/// at most once and after them, switches only for its own names and only
/// once subscribed; after an error it is not fed again.
pub fn check_sentinel(data: &[u8]) {
    let (Some(&mode), Some(&cut)) = (data.first(), data.get(1)) else {
        return;
    };
    let bytes = &data[2..];
    let names: Vec<String> = ["m1", "m2", "master-3"][..1 + usize::from((mode >> 1) % 3)]
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let auth = (mode & 1 == 1).then_some("pw");
    let run = |pieces: &[&[u8]]| {
        let (mut s, _) = Session::new(auth, names.clone());
        let mut out = Vec::new();
        let mut r = Ok(());
        for p in pieces {
            r = s.feed(p, &mut out);
            assert!(
                s.buffered() <= sentinel::MAX_BUFFER,
                "buffer over its bound"
            );
            if r.is_err() {
                break;
            }
        }
        (out, r)
    };
    let whole = run(&[bytes]);
    let at = usize::from(cut).min(bytes.len());
    assert_eq!(run(&[&bytes[..at], &bytes[at..]]), whole, "split at {at}");
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run(&bytewise), whole, "byte by byte");
    let mut answered = 0;
    let mut subscribed = false;
    for ev in &whole.0 {
        match ev {
            SentinelEvent::Master { name, .. } | SentinelEvent::NoMaster { name, .. } => {
                assert!(!subscribed, "an answer after the subscription");
                assert_eq!(Some(name), names.get(answered), "answers out of order");
                answered += 1;
            }
            SentinelEvent::Subscribed => {
                assert!(!subscribed && answered == names.len(), "early subscription");
                subscribed = true;
            }
            SentinelEvent::Switch { name, new, old } => {
                assert!(subscribed, "a switch before the subscription");
                assert!(names.contains(name), "a switch for another master");
                assert!(new.port > 0 && old.port > 0 && !new.host.is_empty());
            }
        }
    }
}

/// Whether a `listen:` line names a host to resolve: `conf::parse` would
/// ask DNS, which a fuzzer must not do millions of times (numeric
/// addresses, `localhost` and unix paths stay in).
fn needs_dns(text: &str) -> bool {
    text.lines().any(|l| {
        let Some(at) = l.find("listen") else {
            return false;
        };
        let v = l[at + 6..].trim_start_matches([':', ' ', '"', '\'']);
        !v.starts_with('/') && v.replace("localhost", "").chars().any(char::is_alphabetic)
    })
}

/// Split invariance: `data[0]` picks the parser (bits 0-1) and whether
/// replies record elements (bit 2); `data[1] % 8` chunk sizes follow, each
/// `1 + byte`. The rest is fed whole, in those chunk sizes (cycled), one
/// byte at a time, with default and small limits; every way gives the same
/// messages, ends, metas and error.
pub fn check_split(data: &[u8]) {
    let (Some(&sel), Some(&n)) = (data.first(), data.get(1)) else {
        return;
    };
    let n = usize::from(n % 8);
    let Some(sizes) = data.get(2..2 + n) else {
        return;
    };
    let input = &data[2 + n..];
    let mut cuts = Vec::new();
    let mut pos = 0;
    for &s in sizes
        .iter()
        .cycle()
        .take(if n == 0 { 0 } else { input.len() })
    {
        pos += 1 + usize::from(s);
        if pos >= input.len() {
            break;
        }
        cuts.push(pos);
    }
    let bytewise: Vec<usize> = (1..input.len()).collect();
    let want = sel & 4 != 0;
    match sel % 4 {
        0 => agree(redis_req, input, &cuts, &bytewise),
        1 => agree(mc_req, input, &cuts, &bytewise),
        2 => agree(|| redis_rsp(want), input, &cuts, &bytewise),
        _ => agree(|| mc_rsp(want), input, &cuts, &bytewise),
    }
}

fn agree<F: Feed>(new: impl Fn() -> F, input: &[u8], cuts: &[usize], bytewise: &[usize]) {
    for lim in [Limits::default(), SMALL] {
        let whole = drive(&mut new(), input, &[], &lim);
        let split = drive(&mut new(), input, cuts, &lim);
        assert_eq!(split, whole, "chunks {cuts:?} differ from one shot");
        let bytes = drive(&mut new(), input, bytewise, &lim);
        assert_eq!(bytes, whole, "byte at a time differs from one shot");
    }
}

/// FNV-1a, the fuzz harness's stand-in for a pool's hash.
fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The commands `check_fragment` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FragCmd {
    Redis(redis::Cmd),
    Memcache(memcache::Cmd),
}

/// A model backend: the reply a server holding the model data gives to
/// `cmd` over `keys` (and `vals`, MSET), on a connection in `resp` (a MGET
/// miss is `$-1` in RESP2, `_` in RESP3). A key is a hit unless its hash is
/// a multiple of 3; its value derives from its hash.
fn model_reply(cmd: FragCmd, resp: redis::Resp, keys: &[&[u8]], out: &mut Vec<u8>) {
    let hit = |k: &[u8]| !fnv(k).is_multiple_of(3);
    match cmd {
        FragCmd::Redis(redis::Cmd::Mget) => {
            redis::fragment::mget_header(keys.len(), out);
            for k in keys {
                match hit(k) {
                    true => redis::fragment::push_bulk(&model_value(k), out),
                    false => redis::local::push_null(resp, out),
                }
            }
        }
        FragCmd::Redis(redis::Cmd::Mset) => out.extend_from_slice(redis::reply::OK),
        FragCmd::Redis(redis::Cmd::Exists) => {
            let n = keys.iter().filter(|k| hit(k)).count();
            redis::fragment::integer_reply(n as i64, out);
        }
        FragCmd::Redis(_) => {
            // DEL and the like: each distinct existing key counts once
            let n = keys
                .iter()
                .enumerate()
                .filter(|&(i, k)| hit(k) && !keys[..i].contains(k))
                .count();
            redis::fragment::integer_reply(n as i64, out);
        }
        FragCmd::Memcache(c) => {
            for k in keys.iter().filter(|k| hit(k)) {
                let v = model_value(k);
                let h = fnv(k);
                out.extend_from_slice(b"VALUE ");
                out.extend_from_slice(k);
                let flags = format!(" {} {}", h % 65536, v.len());
                out.extend_from_slice(flags.as_bytes());
                if matches!(c, memcache::Cmd::Gets | memcache::Cmd::Gats) {
                    out.extend_from_slice(format!(" {}", h >> 16).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&v);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(memcache::fragment::END);
        }
    }
}

fn model_value(k: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = k.iter().rev().copied().collect();
    v.extend_from_slice(format!("\r\n{}", fnv(k) % 1000).as_bytes());
    v
}

/// Builds a request from fuzz bytes: `data[0]` picks the command (and, odd
/// `data[0] / 6`, a RESP3 client), `data[1]` the number of servers (1..=4)
/// and where reply chunks are cut, the rest splits on 0xff into keys (MSET:
/// key, value, key, value ...).
fn build_request(data: &[u8]) -> Option<(FragCmd, redis::Resp, Vec<u8>, usize, u8)> {
    let (&sel, &srv) = (data.first()?, data.get(1)?);
    let cmds = [
        FragCmd::Redis(redis::Cmd::Mget),
        FragCmd::Redis(redis::Cmd::Del),
        FragCmd::Redis(redis::Cmd::Mset),
        FragCmd::Redis(redis::Cmd::Exists),
        FragCmd::Memcache(memcache::Cmd::Get),
        FragCmd::Memcache(memcache::Cmd::Gets),
        FragCmd::Memcache(memcache::Cmd::Gat),
        FragCmd::Memcache(memcache::Cmd::Gats),
    ];
    let cmd = cmds[usize::from(sel) % cmds.len()];
    let resp = match (usize::from(sel) / cmds.len()) % 2 {
        0 => redis::Resp::Resp2,
        _ => redis::Resp::Resp3,
    };
    let mut args: Vec<&[u8]> = data[2..].split(|&b| b == 0xff).collect();
    args.truncate(64);
    let mut req = Vec::new();
    match cmd {
        FragCmd::Redis(c) => {
            if c == redis::Cmd::Mset && args.len() % 2 == 1 {
                args.push(b"v");
            }
            let name = c.name().as_bytes();
            req.push(b'*');
            redis::fragment::push_u64(args.len() as u64 + 1, &mut req);
            req.extend_from_slice(b"\r\n");
            redis::fragment::push_bulk(name, &mut req);
            for a in &args {
                redis::fragment::push_bulk(a, &mut req);
            }
        }
        FragCmd::Memcache(c) => {
            req.extend_from_slice(c.name().as_bytes());
            if c.syntax() == memcache::Syntax::Gat {
                req.extend_from_slice(b" -1");
            }
            for a in &args {
                // a memcache key: 1..=250 bytes, no SP, CR, LF or NUL
                let k: Vec<u8> = a
                    .iter()
                    .take(250)
                    .map(|&b| {
                        if matches!(b, b' ' | b'\r' | b'\n' | 0) {
                            b'_'
                        } else {
                            b
                        }
                    })
                    .collect();
                req.push(b' ');
                req.extend_from_slice(if k.is_empty() { b"k" } else { &k });
            }
            req.extend_from_slice(b"\r\n");
        }
    }
    Some((cmd, resp, req, 1 + usize::from(srv % 4), srv / 4))
}

/// Fragment/coalesce: a multi-key request built from `data` is parsed,
/// split over N servers exactly as the core splits it (the core's own
/// `fragment::fragments`), each fragment is
/// answered by the model backend and parsed with element spans, and the
/// core's coalescing must rebuild the reply the model gives to the whole
/// request.
pub fn check_fragment(data: &[u8]) {
    let Some((cmd, resp, req, nsrv, cut)) = build_request(data) else {
        return;
    };
    let lim = Limits::default();
    let mut p = ReqMeta::default();
    let parsed = match cmd {
        FragCmd::Redis(_) => redis::parse_req(&mut redis::ReqState::default(), &req, &lim, &mut p),
        FragCmd::Memcache(_) => {
            memcache::parse_req(&mut memcache::ReqState::default(), &req, &lim, &mut p)
        }
    };
    assert_eq!(
        parsed,
        Ok(Progress::Complete { end: req.len() }),
        "request framing"
    );
    assert_eq!(p.reject, None, "built request rejected");
    let keys: Vec<&[u8]> = p.keys.iter().map(|&k| at(&req, k, "key")).collect();
    // the model's answer to the whole request
    let mut whole = Vec::new();
    model_reply(cmd, resp, &keys, &mut whole);
    // route: the pool's hash is stood in for by FNV-1a
    let key_srv: Vec<usize> = keys
        .iter()
        .map(|k| (fnv(k) % nsrv as u64) as usize)
        .collect();
    let mut parent = Msg {
        data: vec![Bytes::from(req.clone())],
        mlen: req.len() as u32,
        meta: p,
        ..Msg::default()
    };
    let mut msgs = MsgArena::default();
    let mut children = Vec::new();
    let mut key_child = Vec::new();
    let mut bufs = fragment::FragBufs::default();
    bufs.key_target.extend_from_slice(&key_srv);
    fragment::fragments(&parent, &mut key_child, &mut bufs);
    let parts = &bufs.frags;
    assert_eq!(key_child.len(), keys.len(), "a fragment for every key");
    for (f, part) in parts.iter().enumerate() {
        let (s, sub) = (part.target, &part.bytes);
        let sub_keys = fragment_keys(cmd, sub, &lim);
        let idx: Vec<usize> = (0..keys.len())
            .filter(|&i| usize::from(key_child[i]) == f)
            .collect();
        assert!(
            idx.iter().all(|&i| key_srv[i] == s),
            "key sent to another server"
        );
        assert_eq!(part.nkeys as usize, idx.len(), "key count of fragment {f}");
        let want: Vec<&[u8]> = idx.iter().map(|&i| keys[i]).collect();
        assert_eq!(sub_keys, want, "fragment for server {s} carries other keys");
        let mut reply = Vec::new();
        model_reply(cmd, resp, &want, &mut reply);
        let id = msgs.alloc(Owner::Child(MsgId::default()));
        let Some(c) = msgs.get_mut(id) else {
            return;
        };
        c.meta.narg = idx.len() as u32;
        c.rsp_meta = parse_reply(cmd, &reply, &lim);
        // the reply arrives in two reads, cut where data[1] says
        let cut = usize::from(cut).min(reply.len());
        let reply = Bytes::from(reply);
        c.rsp = vec![reply.slice(..cut), reply.slice(cut..)];
        c.state = State::Done;
        children.push(id);
    }
    parent.frag = Some(Box::new(Frag {
        children,
        key_child,
        ndone: parts.len() as u32,
    }));
    let mut out = Vec::new();
    let failed = match cmd {
        FragCmd::Redis(c) => coalesce::coalesce_redis(&msgs, &parent, c, &mut out, &mut bufs.out),
        FragCmd::Memcache(_) => coalesce::coalesce_memcache(&msgs, &parent, &mut out),
    };
    assert!(!failed, "coalescing failed");
    let got: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
    assert!(
        got == whole,
        "coalesced {:?} != whole {:?}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&whole)
    );
}

/// Parses a sub-request the core would send and returns its keys.
fn fragment_keys<'a>(cmd: FragCmd, sub: &'a [u8], lim: &Limits) -> Vec<&'a [u8]> {
    let mut m = ReqMeta::default();
    let r = match cmd {
        FragCmd::Redis(_) => redis::parse_req(&mut redis::ReqState::default(), sub, lim, &mut m),
        FragCmd::Memcache(_) => {
            memcache::parse_req(&mut memcache::ReqState::default(), sub, lim, &mut m)
        }
    };
    assert_eq!(
        r,
        Ok(Progress::Complete { end: sub.len() }),
        "fragment framing"
    );
    assert_eq!(m.reject, None, "fragment rejected");
    m.keys.iter().map(|&k| at(sub, k, "fragment key")).collect()
}

/// Parses a model reply whole, with element spans, as a fragment's reply.
fn parse_reply(cmd: FragCmd, reply: &[u8], lim: &Limits) -> RspMeta {
    let mut m = RspMeta::default();
    let r = match cmd {
        FragCmd::Redis(_) => redis::parse_rsp(&mut redis::RspState::new(true), reply, lim, &mut m),
        FragCmd::Memcache(_) => {
            memcache::parse_rsp(&mut memcache::RspState::new(true), reply, lim, &mut m)
        }
    };
    assert_eq!(
        r,
        Ok(Progress::Complete { end: reply.len() }),
        "reply framing"
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_accept_real_messages() {
        check_redis_req(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\nPING\r\nGET  k\n*0\r\n");
        check_memcache_req(b"get a b c\r\nset k 0 0 2 noreply\r\nhi\r\ndelete k\r\n");
        check_redis_rsp(b"+OK\r\n-ERR x\r\n:-5\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n");
        check_redis_rsp(RESP3_REPLIES);
        check_memcache_rsp(b"VALUE a 0 1\r\nx\r\nVALUE b 1 0 7\r\n\r\nEND\r\nSTORED\r\n42\r\n");
        check_conf(b"alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:6379:1\n");
    }

    /// One reply of every RESP3 type, nested and annotated.
    const RESP3_REPLIES: &[u8] = b"_\r\n#t\r\n,1.5\r\n(12345678901234567890123\r\n=9\r\ntxt:hello\r\n!3\r\nERR\r\n%2\r\n+a\r\n~1\r\n#f\r\n$1\r\nb\r\n>0\r\n|1\r\n+k\r\n:1\r\n*2\r\n|0\r\n_\r\n,inf\r\n";

    #[test]
    fn a_bad_reply_is_refused_by_the_reference_reader() {
        for bad in [
            &b"#x\r\n"[..],
            b"*2\r\n:1\r\n",
            b"$3\r\nab\r\n",
            b"%1\r\n:1\r\n",
            b"?\r\n",
        ] {
            assert!(ref_reply(bad).is_none_or(|r| r.len != bad.len()), "{bad:?}");
        }
        let r = ref_reply(b"|1\r\n+a\r\n+b\r\n*1\r\n_\r\n");
        assert!(r.is_some_and(|r| r.kind == RspKind::Array && r.elems == [Span::new(16, 3)]));
    }

    #[test]
    fn split_agrees_on_every_parser() {
        for sel in [2u8, 6] {
            let mut d = vec![sel, 2, 3, 0];
            d.extend_from_slice(RESP3_REPLIES);
            check_split(&d);
        }
        for sel in 0..8u8 {
            let mut d = vec![sel, 3, 0, 4, 1];
            d.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nget a\r\n+OK\r\nEND\r\n");
            check_split(&d);
        }
    }

    #[test]
    fn fragments_coalesce_to_the_whole_reply() {
        for sel in 0..12u8 {
            for srv in [0u8, 1, 3, 7, 250] {
                let mut d = vec![sel, srv];
                d.extend_from_slice(b"a\xffbb\xffccc\xffa\xff\xffdd dd\xffe\r\nf");
                check_fragment(&d);
            }
        }
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn a_span_outside_its_message_is_caught() {
        at(b"abc", Span::new(2, 2), "key");
    }
}
