//! Redis Sentinel client, the pure half (issue 13; twemproxy: none, PR #324's `nc_sentinel.c`
//! never merged).
//!
//! A pool with `sentinels:` keeps one connection to one of its sentinels. On every
//! (re)connection a [`Session`] sends, in one write: `AUTH` (with `sentinel_auth`),
//! `SENTINEL get-master-addr-by-name <name>` for every server of the pool, and
//! `SUBSCRIBE +switch-master`. It then turns the bytes the sentinel sends into [`Event`]s:
//! the answers (the address the server must use), the subscription confirmation (the
//! session is ready), and every `+switch-master` announcement for one of its names. A
//! ready session can `ping` (a subscribed connection answers `pong`), so a sentinel that
//! went silent is noticed.
//! [`Rotation`] picks the sentinel to try next (round robin) and how long to wait first.
//!
//! No I/O and no clock here: `conn::sentinel` owns the socket and the timers.
//!
//! # Invariants
//! - `Session::feed` never panics and holds at most `MAX_BUFFER` unparsed bytes: any reply
//!   that is not what the session expects next is a [`SessionError`] and the caller
//!   drops the connection (replies are matched to requests by order, so there is no
//!   resynchronising);
//! - replies are parsed by the proxy's own redis reply parser (`parse_rsp`), with limits
//!   sized for Sentinel's small replies;
//! - the queue of expected replies holds exactly one entry per request sent and not yet
//!   answered, then `Pushed` forever.

use crate::proto::redis::parse_rsp::{parse_rsp, RspState};
use crate::proto::{Limits, ParseError, Progress, RspKind, RspMeta};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// Bytes of one sentinel reply, at most (an address pair or a short announcement).
pub const MAX_BUFFER: usize = 16 * 1024;

/// Reply bounds: Sentinel's replies are flat arrays of a few short strings.
const LIMITS: Limits = Limits {
    max_msg: MAX_BUFFER as u32,
    max_narg: 8,
    max_key: 512,
    max_line: 1024,
    max_depth: 2,
};

/// The channel Sentinel announces a completed failover on.
const SWITCH_CHANNEL: &[u8] = b"+switch-master";

/// A master's address as Sentinel reports it (an IP address and a port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub host: String, // as sent: an IPv4 or IPv6 literal, or a hostname (`announce-hostnames`)
    pub port: u16,    // never 0
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::conf::write_host_port(f, &self.host, self.port)
    }
}

/// What a sentinel told the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The answer to `get-master-addr-by-name`: the server named `name` lives at `addr`.
    Master { name: String, addr: Addr },
    /// The sentinel does not know `name` (null answer) or refused the query: keep the
    /// address in use.
    NoMaster { name: String, why: String },
    /// Every query answered and `+switch-master` subscribed: the session is ready.
    Subscribed,
    /// A failover of `name` completed: its master moved from `old` to `new`.
    Switch { name: String, old: Addr, new: Addr },
}

/// Why a session cannot go on (the caller closes the connection and tries the next sentinel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    Protocol(ParseError),     // not RESP2 framing, or over a limit
    Auth(String),             // the sentinel refused AUTH (its error text)
    Unexpected(&'static str), // well framed but not the reply expected next (names it)
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Protocol(e) => write!(f, "protocol error: {}", e.reason()),
            SessionError::Auth(text) => write!(f, "AUTH refused: {text}"),
            SessionError::Unexpected(what) => write!(f, "unexpected reply: {what}"),
        }
    }
}

/// The reply a session waits for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Auth,        // +OK to AUTH
    Addr(usize), // the address of `names[i]`
    Subscribe,   // subscribe confirmation
    Pushed,      // announcements, forever
}

/// One conversation with one sentinel, from the first byte sent to the connection's end.
#[derive(Debug)]
pub struct Session {
    names: Vec<String>,       // master names = server names of the pool
    expect: VecDeque<Expect>, // replies owed, in request order
    buf: Vec<u8>,             // bytes of replies not yet complete (<= MAX_BUFFER)
    fed: usize,               // bytes of `buf` the parser has already seen
    st: RspState,             // resumable reply parser
    meta: RspMeta,            // shape of the reply being parsed
    pings: u32,               // PINGs sent and not yet answered
}

impl Session {
    /// A session asking for every name in `names`; also returns the bytes to send first.
    pub fn new(auth: Option<&str>, names: Vec<String>) -> (Session, Vec<u8>) {
        let mut out = Vec::new();
        let mut expect = VecDeque::with_capacity(names.len() + 2);
        if let Some(pw) = auth {
            command(&mut out, &[b"AUTH", pw.as_bytes()]);
            expect.push_back(Expect::Auth);
        }
        for (i, name) in names.iter().enumerate() {
            command(
                &mut out,
                &[b"SENTINEL", b"get-master-addr-by-name", name.as_bytes()],
            );
            expect.push_back(Expect::Addr(i));
        }
        command(&mut out, &[b"SUBSCRIBE", SWITCH_CHANNEL]);
        expect.push_back(Expect::Subscribe);
        let session = Session {
            names,
            expect,
            buf: Vec::new(),
            fed: 0,
            st: RspState::new(true),
            meta: RspMeta::default(),
            pings: 0,
        };
        (session, out)
    }

    /// Bytes received and not yet part of a complete reply (at most `MAX_BUFFER`).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The bytes of a keep-alive PING (only once `ready`: a subscribed connection answers
    /// it among the announcements).
    pub fn ping(&mut self) -> &'static [u8] {
        self.pings += 1;
        b"*1\r\n$4\r\nPING\r\n"
    }

    /// Whether a PING is still unanswered.
    pub fn ping_owed(&self) -> bool {
        self.pings > 0
    }

    /// Whether every query was answered and the subscription confirmed.
    pub fn ready(&self) -> bool {
        self.expect.front() == Some(&Expect::Pushed)
    }

    /// Takes bytes read from the sentinel and appends what they say to `out`. An error
    /// ends the session; events pushed before it stand.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Event>) -> Result<(), SessionError> {
        let mut data = data;
        while !data.is_empty() {
            // COPY: sentinel replies only (tens of bytes, bounded by MAX_BUFFER).
            let room = MAX_BUFFER.saturating_sub(self.buf.len());
            let take = data.len().min(room.max(1));
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            while let Some(end) = self.next_reply()? {
                self.reply(end, out)?;
                self.buf.drain(..end);
                self.fed = 0;
            }
        }
        Ok(())
    }

    /// Parses what is new in `buf`: the end of the first complete reply, if any.
    fn next_reply(&mut self) -> Result<Option<usize>, SessionError> {
        if self.fed == self.buf.len() {
            return Ok(None);
        }
        let chunk = &self.buf[self.fed..];
        match parse_rsp(&mut self.st, chunk, &LIMITS, &mut self.meta) {
            Ok(Progress::Complete { end }) => Ok(Some(self.fed + end)),
            Ok(Progress::Incomplete) => {
                self.fed = self.buf.len();
                if self.fed >= MAX_BUFFER {
                    let e = ParseError::TooLarge {
                        what: "sentinel reply",
                        max: LIMITS.max_msg,
                    };
                    return Err(SessionError::Protocol(e));
                }
                Ok(None)
            }
            Err(e) => Err(SessionError::Protocol(e)),
        }
    }

    /// Interprets the complete reply `buf[..end]` against what is expected next.
    fn reply(&mut self, end: usize, out: &mut Vec<Event>) -> Result<(), SessionError> {
        let msg = &self.buf[..end];
        let expect = self.expect.front().copied().unwrap_or(Expect::Pushed);
        let elems: Vec<&[u8]> = self
            .meta
            .elems
            .iter()
            .map(|s| msg.get(s.start as usize..s.end() as usize).unwrap_or(&[]))
            .collect();
        let kind = self.meta.kind;
        match expect {
            Expect::Auth => match kind {
                RspKind::Status => {}
                RspKind::Error | RspKind::Failure => {
                    return Err(SessionError::Auth(line_text(msg)));
                }
                _ => return Err(SessionError::Unexpected("AUTH reply")),
            },
            Expect::Addr(i) => {
                let name = self.names.get(i).cloned().unwrap_or_default();
                out.push(addr_reply(kind, self.meta.null, msg, &elems, name)?);
            }
            Expect::Subscribe => {
                let ok = kind == RspKind::Array
                    && elems.len() == 3
                    && bulk(elems[0]).is_some_and(|k| k.eq_ignore_ascii_case(b"subscribe"))
                    && bulk(elems[1]) == Some(SWITCH_CHANNEL);
                if !ok {
                    return Err(SessionError::Unexpected("SUBSCRIBE confirmation"));
                }
                out.push(Event::Subscribed);
            }
            Expect::Pushed => {
                if let Some(ev) = Session::pushed(&self.names, &mut self.pings, kind, &elems)? {
                    out.push(ev);
                }
            }
        }
        if expect != Expect::Pushed {
            self.expect.pop_front();
            if self.expect.is_empty() {
                self.expect.push_back(Expect::Pushed);
            }
        }
        Ok(())
    }

    /// A message on the subscribed channel: a Switch for a name of ours, else nothing.
    /// (`names` and `pings` are the session's: the reply still borrows its buffer.)
    fn pushed(
        names: &[String],
        pings: &mut u32,
        kind: RspKind,
        elems: &[&[u8]],
    ) -> Result<Option<Event>, SessionError> {
        if let [k, _] = elems {
            if kind == RspKind::Array && bulk(k) == Some(b"pong") && *pings > 0 {
                *pings -= 1;
                return Ok(None);
            }
        }
        let [k, channel, payload] = elems else {
            return Err(SessionError::Unexpected("pushed message shape"));
        };
        if kind != RspKind::Array
            || bulk(k) != Some(b"message")
            || bulk(channel) != Some(SWITCH_CHANNEL)
        {
            return Err(SessionError::Unexpected("pushed message shape"));
        }
        let Some(payload) = bulk(payload) else {
            return Err(SessionError::Unexpected("+switch-master payload"));
        };
        let Some((name, old, new)) = parse_switch(payload) else {
            return Err(SessionError::Unexpected("+switch-master payload"));
        };
        if !names.contains(&name) {
            return Ok(None); // a master of another pool (or another proxy)
        }
        Ok(Some(Event::Switch { name, old, new }))
    }
}

/// The answer to `get-master-addr-by-name`: `*2 ip port`, null for an unknown name, or an
/// error (IDONTKNOW, NOAUTH...).
fn addr_reply(
    kind: RspKind,
    null: bool,
    msg: &[u8],
    elems: &[&[u8]],
    name: String,
) -> Result<Event, SessionError> {
    match kind {
        RspKind::Array if null => Ok(Event::NoMaster {
            name,
            why: "unknown master name".to_owned(),
        }),
        RspKind::Bulk if null => Ok(Event::NoMaster {
            name,
            why: "unknown master name".to_owned(),
        }),
        RspKind::Error | RspKind::Failure => Ok(Event::NoMaster {
            name,
            why: line_text(msg),
        }),
        RspKind::Array => match elems {
            [host, port] => match (bulk(host), bulk(port)) {
                (Some(host), Some(port)) => match addr(host, port) {
                    Some(addr) => Ok(Event::Master { name, addr }),
                    None => Err(SessionError::Unexpected("master address")),
                },
                _ => Err(SessionError::Unexpected("master address")),
            },
            _ => Err(SessionError::Unexpected("master address")),
        },
        _ => Err(SessionError::Unexpected("master address")),
    }
}

/// `<name> <old-ip> <old-port> <new-ip> <new-port>`.
fn parse_switch(payload: &[u8]) -> Option<(String, Addr, Addr)> {
    let mut words = payload.split(|&b| b == b' ');
    let name = words.next().filter(|n| !n.is_empty())?;
    let old = addr(words.next()?, words.next()?)?;
    let new = addr(words.next()?, words.next()?)?;
    if words.next().is_some() {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?.to_owned();
    Some((name, old, new))
}

/// A host (printable, no space, at most 255 bytes) and a port (1..=65535).
fn addr(host: &[u8], port: &[u8]) -> Option<Addr> {
    let host = std::str::from_utf8(host).ok()?;
    let ok = !host.is_empty() && host.len() <= 255 && host.bytes().all(|b| b.is_ascii_graphic());
    if !ok || port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let port = std::str::from_utf8(port).ok()?.parse::<u16>().ok()?;
    (port > 0).then(|| Addr {
        host: host.to_owned(),
        port,
    })
}

/// The data of a bulk string element (`$n\r\n<data>\r\n`); None for anything else.
fn bulk(elem: &[u8]) -> Option<&[u8]> {
    let rest = elem.strip_prefix(b"$")?;
    let crlf = rest.windows(2).position(|w| w == b"\r\n")?;
    let n: usize = std::str::from_utf8(&rest[..crlf]).ok()?.parse().ok()?;
    rest.get(crlf + 2..crlf + 2 + n)
}

/// The text of a `+status` or `-error` line, for logs (lossy, without the type byte).
fn line_text(msg: &[u8]) -> String {
    let body = msg.get(1..).unwrap_or(&[]);
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    String::from_utf8_lossy(body).into_owned()
}

/// Appends a RESP multibulk command.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// First wait after a whole round of sentinels failed; it doubles per further failure.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// Which sentinel to try next: round robin over the list, no wait while some sentinel of
/// the current round is still untried, then a doubling backoff capped at `max`
/// (`server_retry_timeout`).
#[derive(Clone, Debug)]
pub struct Rotation {
    n: usize,      // sentinels in the list (>= 1)
    next: usize,   // index of the one to try next
    fails: u32,    // failed attempts since the last ready session
    max: Duration, // longest wait
}

impl Rotation {
    pub fn new(n: usize, max: Duration) -> Rotation {
        Rotation {
            n: n.max(1),
            next: 0,
            fails: 0,
            max,
        }
    }

    /// The sentinel to try now and how long to wait before connecting to it.
    pub fn pick(&mut self) -> (usize, Duration) {
        let i = self.next;
        self.next = (self.next + 1) % self.n;
        let over = self.fails.saturating_sub(self.n as u32 - 1);
        let wait = match over {
            0 => Duration::ZERO,
            k => BACKOFF_BASE
                .saturating_mul(1u32 << (k - 1).min(16))
                .min(self.max),
        };
        (i, wait)
    }

    /// The attempt (or the session) failed.
    pub fn failed(&mut self) {
        self.fails = self.fails.saturating_add(1);
    }

    /// A session became ready: the next failure starts a fresh round.
    pub fn ready(&mut self) {
        self.fails = 0;
    }
}

#[cfg(test)]
mod tests;
